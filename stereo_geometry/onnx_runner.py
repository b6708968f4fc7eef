"""Running an exported infill network with ONNX Runtime: numpy and onnxruntime only (no
torch), so the Blender add-on can bundle it.

The exported graph is the network's `core` (half and quarter resolution). The two ends at
full resolution are done here in numpy, where they cost least (on a CPU, moving a float32
frame of 8 channels through memory costs more than the network's arithmetic): `prepare`
reads the input once, in bands of rows that stay in the cache, and `assemble` writes the
prediction at the hole's pixels only. Both equal their PyTorch counterparts in `training.model`.
"""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .mesh import recorded_hole_rule
from .sample import flip_averaged, negated_normals

MULTIPLE = 4   # = training.model.MULTIPLE
FOLD = 4       # = training.model.FOLD
BAND_ROWS = 64


def pad_to_multiple(x: np.ndarray, multiple: int = MULTIPLE) -> np.ndarray:
    """Pad (N, C, H, W) at the bottom and right, repeating the edge, to multiples of `multiple`."""
    h, w = x.shape[-2:]
    pad_h, pad_w = (-h) % multiple, (-w) % multiple
    if not (pad_h or pad_w):
        return x
    return np.pad(x, ((0, 0), (0, 0), (0, pad_h), (0, pad_w)), mode="edge")


def average_2x2(src: np.ndarray, out: np.ndarray) -> None:
    """out = the 2x2 block means of (C, H, W) `src` (even H and W)."""
    np.add(src[:, 0::2, 0::2], src[:, 1::2, 0::2], out=out)
    out += src[:, 0::2, 1::2]
    out += src[:, 1::2, 1::2]
    out *= 0.25


def prepare(x: np.ndarray, channels: int = 3) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """One pass over (N, 8, H, W) with even sides, in bands of rows that stay in the CPU's
    cache (two threads): the network's half-resolution input (N, 9, H/2, W/2) as
    `training.model.pool_inputs` (2x2 averages of (RGB, inverse depth) x weight, weight, hole
    fraction, normals), each image's hole pixels (flat indices) and the output (N, channels,
    H, W) holding the input's RGB (or, for 1 channel, its depth) for `assemble` to complete."""
    n, _, h, w = x.shape
    pooled = np.empty((n, 9, h // 2, w // 2), np.float32)
    out = np.empty((n, channels, h, w), np.float32)
    known = slice(0, 3) if channels == 3 else slice(7, 8)

    def band(i: int, top: int) -> np.ndarray:
        rows = x[i, :, top:top + BAND_ROWS]
        out[i, :, top:top + BAND_ROWS] = rows[known]
        weighted = np.empty((5,) + rows.shape[1:], np.float32)  # (RGB, inverse depth) x weight, weight
        np.clip(rows[7], 0.05, 20.0, out=weighted[4])
        np.divide(1 - rows[3], weighted[4], out=weighted[4])
        np.multiply(rows[0:3], weighted[4], out=weighted[0:3])
        np.multiply(rows[7], weighted[4], out=weighted[3])
        half = pooled[i, :, top // 2:(top + rows.shape[1]) // 2]
        average_2x2(weighted, half[:5])
        average_2x2(rows[3:7], half[5:])
        return np.flatnonzero(rows[3] > 0.5) + top * w

    tops = range(0, h, BAND_ROWS)
    with ThreadPoolExecutor(2) as pool:
        holes = [np.concatenate(list(pool.map(band, [i] * len(tops), tops))) for i in range(n)]
    return pooled, holes, out


def fold_detail(x: np.ndarray, channels: int) -> np.ndarray:
    """(N, C, H, W) with sides multiples of FOLD -> its first `channels` channels folded
    FOLD x FOLD, (N, channels * FOLD**2, H/FOLD, W/FOLD), in the order of torch's
    `pixel_unshuffle` (`training.model.fold_detail`)."""
    n, _, h, w = x.shape
    folded = x[:, :channels].reshape(n, channels, h // FOLD, FOLD, w // FOLD, FOLD)
    return np.ascontiguousarray(folded.transpose(0, 1, 3, 5, 2, 4)).reshape(
        n, channels * FOLD ** 2, h // FOLD, w // FOLD)


def enlarged_at(half: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """(C, h, w) enlarged bilinearly 2x (as `training.model.enlarge`), at pixels (ys, xs) only.
    Pixel y sits at y / 2 - 1/4 on the half grid: between rows (y - 1) // 2 and that + 1, with
    weights 1/4 and 3/4 or 3/4 and 1/4 (edge rows clamped)."""
    c, h, w = half.shape
    y0, x0 = np.maximum((ys - 1) // 2, 0), np.maximum((xs - 1) // 2, 0)
    y1, x1 = np.minimum((ys + 1) // 2, h - 1), np.minimum((xs + 1) // 2, w - 1)
    ay = np.where(ys % 2, np.float32(0.25), np.float32(0.75))   # weight of row y1
    ax = np.where(xs % 2, np.float32(0.25), np.float32(0.75))
    ay[(ys == 0) | (ys == 2 * h - 1)] = 0                         # clamped: one row only
    ax[(xs == 0) | (xs == 2 * w - 1)] = 0
    flat = half.reshape(-1)
    channel = (np.arange(c) * (h * w))[:, None]
    out = np.take(flat, channel + (y0 * w + x0)) * ((1 - ay) * (1 - ax))
    out += np.take(flat, channel + (y0 * w + x1)) * ((1 - ay) * ax)
    out += np.take(flat, channel + (y1 * w + x0)) * (ay * (1 - ax))
    out += np.take(flat, channel + (y1 * w + x1)) * (ay * ax)
    return out


def assemble(out: np.ndarray, holes: list[np.ndarray], residual: np.ndarray,
             guess: np.ndarray) -> np.ndarray:
    """Complete `prepare`'s output in place at the hole's pixels: the first guess enlarged
    plus the unfolded residual (`training.model.expand`), computed there only."""
    channels, width = out.shape[1], out.shape[3]
    base = slice(0, 3) if channels == 3 else slice(3, 4)
    for i, index in enumerate(holes):
        ys, xs = np.divmod(index, width)
        folded = (np.arange(channels)[:, None] * FOLD ** 2 + (ys % FOLD) * FOLD + xs % FOLD) * residual.shape[2]
        unfolded = residual[i].reshape(-1)[(folded + ys // FOLD) * residual.shape[3] + xs // FOLD]
        out[i].reshape(channels, -1)[:, index] = enlarged_at(guess[i, base], ys, xs) + unfolded
    return out


class OnnxInfill:
    """An exported Gated-UNet: (N, 8, H, W) float32 input -> infilled (N, C, H, W), any size."""

    def __init__(self, path: str, threads: int = 0) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        # ORT's threads would otherwise spin after each run, taking the cores from numpy's part
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.enable_cpu_mem_arena = False
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime's InvalidProtobuf, Fail, NoSuchFile ...
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ValueError(f"{path}: not a readable ONNX model ({message})") from None
        inputs = [i.name for i in self.session.get_inputs()]
        if inputs not in (["pooled"], ["pooled", "detail"]):
            raise ValueError(f"{path}: inputs {inputs}, not ['pooled'(, 'detail')]: exported by an older "
                             "version; export its checkpoint again (python -m training export)")
        meta = self.session.get_modelmeta().custom_metadata_map
        self.config = json.loads(meta.get("train_config", "{}"))
        self.rgb_mask_only = self.config.get("inputs") == "rgb_mask"
        model = self.config.get("model", {})
        self.channels = model.get("out_channels", 3)
        self.detail_channels = model.get("detail_channels", 0) if "detail" in inputs else 0
        self.run = flip_averaged(self.run_once, model.get("test_time_flips", 1))
        self.hole_rule = recorded_hole_rule(self.config)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """The fill, averaged over the model's test-time flips."""
        return self.run(x)

    def run_once(self, x: np.ndarray, vertical: bool = False, horizontal: bool = False) -> np.ndarray:
        """One pass over `x`, or over `x` seen in a mirror (`sample.mirror_input`; output in the
        mirror's coordinates): the mirror is read in place, its normals' signs applied to the
        pooled and folded channels, so no mirrored copy of the frame is made."""
        h, w = x.shape[-2:]
        x = np.asarray(x, dtype=np.float32)
        x = x[..., ::-1, :] if vertical else x
        x = x[..., ::-1] if horizontal else x
        if self.rgb_mask_only:
            x = x.copy()
            x[:, 4:] = 0
        x = pad_to_multiple(x)
        pooled, holes, out = prepare(x, self.channels)
        feeds = {"pooled": pooled}
        if self.detail_channels:
            feeds["detail"] = fold_detail(x, self.detail_channels)
        for channel in negated_normals(vertical, horizontal):
            pooled[:, channel + 2] *= -1  # pooled: weighted RGB, depth, weight, hole, normals
            if self.detail_channels > channel:
                feeds["detail"][:, channel * FOLD ** 2:(channel + 1) * FOLD ** 2] *= -1
        residual, guess = self.session.run(None, feeds)
        return assemble(out, holes, residual, guess)[..., :h, :w]
