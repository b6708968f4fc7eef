"""The infill networks (shipped models, loaded through ONNX Runtime: no torch) and what the
eye-making code (`sequence`) needs of them: the depth fill and the strips seen past the
frame's edges."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from .mesh import DEFAULT_HOLE_RULE, HoleRule
from .sample import inverse_depth_scale

#: The models folder beside this package: the repository's models/, or the extension's own.
MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
#: The shipped models (ONNX, so the add-on and torch-free callers run them too): `fast`
#: within 2x Telea's time at 1280x720 on a 2-core CPU, `quality` as large as 0.5 s a frame allows.
SHIPPED_MODELS = {"fast": MODELS_DIR / "fast.onnx", "quality": MODELS_DIR / "quality.onnx"}
#: The shipped depth-infill model: the other eye's depth, holes filled (`--depth-out`).
SHIPPED_DEPTH_MODEL = MODELS_DIR / "depth.onnx"


def default_model_name() -> str:
    """`quality` where it is shipped, else `fast`."""
    return "quality" if SHIPPED_MODELS["quality"].is_file() else "fast"


DEFAULT_MODEL = SHIPPED_MODELS[default_model_name()]

Network = Callable[[np.ndarray], np.ndarray]  # (1, 8, H, W) -> (1, 3, H, W), both float32


def hole_rule_of(network: Network) -> HoleRule:
    """The hole rule a network was trained on (`OnnxInfill.hole_rule`; a plain callable:
    the default), which the holes made for it follow."""
    return getattr(network, "hole_rule", DEFAULT_HOLE_RULE)


def refuse_depth_model(path: str, channels: int) -> None:
    if channels != 3:
        raise ValueError(f"{path}: a depth-infill model ({channels} output channel); the other eye's "
                         "image needs an RGB model")


def edge_strips(hole_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row, how many hole pixels run in from the frame's left and from its right edge
    ((H,) int each): the strips an eye sees past the frame (or past an overscan too narrow
    for it)."""
    hole = hole_mask.astype(bool)

    def run_in(rows: np.ndarray) -> np.ndarray:
        return np.where(rows.all(axis=1), rows.shape[1], np.argmin(rows, axis=1))
    return run_in(hole), run_in(hole[:, ::-1])


#: The diffusion's reach into the strip: known pixels up to this far (px) from a strip pixel,
#: on the frame's side of it, count.
DIFFUSION_RADIUS = 3
_DX, _DY = (np.array(a) for a in zip(*[(dx, dy) for dx in range(1, DIFFUSION_RADIUS + 1)
                                        for dy in range(-DIFFUSION_RADIUS, DIFFUSION_RADIUS + 1)
                                        if dx * dx + dy * dy <= DIFFUSION_RADIUS ** 2]))
_COSINES = (_DX / np.hypot(_DX, _DY)).astype(np.float32)


def diffused_into_left_strip(image: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """(H, W, C) float32 `image` with the strip running in from its left edge (`widths[y]`
    pixels of row y) filled column by column outwards from its known end: each strip pixel
    the mean of the pixels already known or filled within `DIFFUSION_RADIUS` px on the
    frame's side of it, weighted by the cosine of their direction from the row (dx / r).
    Detail fades with the distance from the known pixels, as in an inpainting by diffusion."""
    out = image.copy()
    h, w = widths.shape[0], image.shape[1]
    for d in range(1, int(widths.max(initial=0)) + 1):
        ys = np.flatnonzero(widths >= d)
        xs = widths[ys] - d
        y2, x2 = ys[:, None] + _DY, xs[:, None] + _DX
        at = np.clip(y2, 0, h - 1)
        known = (y2 >= 0) & (y2 < h) & (x2 < w) & (x2 >= widths[at] - (d - 1))  # known, or filled before
        weights = known * _COSINES
        total = np.einsum("nk,nkc->nc", weights, out[at, np.minimum(x2, w - 1)])
        weight = weights.sum(axis=1)
        filled = weight > 0
        out[ys[filled], xs[filled]] = total[filled] / weight[filled, None]
    return out


def _strips(hole_mask: np.ndarray) -> tuple[tuple[np.ndarray, bool], ...]:
    """(per-row widths, mirrored) of the strips at the frame's left and right edge
    (`edge_strips`; a row with no known pixel has none: nothing to continue)."""
    left, right = edge_strips(hole_mask)
    width = hole_mask.shape[1]
    left[left >= width], right[right >= width] = 0, 0
    return (left, False), (right, True)


def _left_strip_guesses(band: np.ndarray, widths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Of the strip running in from float32 `band`'s left edge (`widths[y]` pixels of row y):
    its pixels (H, W) bool, `band` with each strip row continued (the first pixel past the
    strip repeated) and `band` with the strip diffused into (`diffused_into_left_strip`)."""
    strip = np.arange(band.shape[1])[None, :] < widths[:, None]
    continued = band.copy()
    first_past = band[np.arange(len(widths)), widths]
    continued[strip] = np.broadcast_to(first_past[:, None], band.shape)[strip]
    return strip, continued, diffused_into_left_strip(band, widths)


def strip_guesses(image: np.ndarray, hole_mask: np.ndarray) -> dict[str, np.ndarray]:
    """The two guesses `fill_past_the_edges` adds to the network's in the strips past the
    frame's edges, each as a whole float32 image (`image` elsewhere): 'continuation' and
    'diffusion'."""
    whole = image.astype(np.float32)
    out = {"continuation": whole.copy(), "diffusion": whole.copy()}
    for widths, mirrored in _strips(hole_mask):
        if widths.any():
            view = (lambda a: a[:, ::-1]) if mirrored else (lambda a: a)
            strip, continued, diffused = _left_strip_guesses(view(whole), widths)
            view(out["continuation"])[strip] = continued[strip]
            view(out["diffusion"])[strip] = diffused[strip]
    return out


def fill_past_the_edges(image: np.ndarray, hole_mask: np.ndarray) -> np.ndarray:
    """`image` (H, W, 3; uint8 or float) filled by the network, with its strips past the
    frame's edges (`edge_strips` of `hole_mask`), which no view recorded, replaced by the mean
    of three guesses: the network's fill there, each row's continuation (the first pixel past
    the strip, repeated) and a diffusion of the pixels beside the strip into it
    (`diffused_into_left_strip`). Each alone is far behind the best on some scenes (the network
    where a surface continues flat, the continuation across texture); their mean falls far
    less behind (docs/benchmarks.md, "The strip past the frame's edge"). A row with no known
    pixel keeps the network's fill. Computed on a band of columns at each edge only."""
    out = image.copy()
    width = image.shape[1]
    for widths, mirrored in _strips(hole_mask):
        if not widths.any():
            continue
        band_width = min(width, int(widths.max()) + DIFFUSION_RADIUS + 1)  # the strip and what the diffusion reads
        columns = slice(width - band_width, None) if mirrored else slice(0, band_width)
        band = out[:, columns].astype(np.float32)
        band = band[:, ::-1] if mirrored else band
        strip, continued, diffused = _left_strip_guesses(band, widths)
        band[strip] = ((band + continued + diffused) / np.float32(3))[strip]
        band = band[:, ::-1] if mirrored else band
        out[:, columns] = np.clip(np.round(band), 0, 255) if image.dtype == np.uint8 else band
    return out


def fill_depth(depth_network: Network, x: np.ndarray, inputs: dict[str, np.ndarray]) -> np.ndarray:
    """Planar depth (H, W) float32 of a warped view (`warped_inputs`, its network input `x`):
    the known depth outside the holes, inside them the depth network's normalised inverse
    depth brought back to metres (`sample.inverse_depth_scale`), kept within the range of the
    known depths (a disocclusion shows surfaces behind the edge, not beyond all else)."""
    hole = inputs["hole_mask"].astype(bool)
    depth = inputs["depth_masked"].copy()
    known = depth[~hole & (depth > 0)]
    if hole.any() and known.size:
        inverse = depth_network(x)[0, 0][hole] * inverse_depth_scale(depth, ~hole)
        depth[hole] = np.clip(1.0 / np.maximum(inverse, 1e-12), known.min(), known.max())
    return depth


def load_onnx_network(path: str, channels: int = 3) -> Network:
    """An exported .onnx model run by ONNX Runtime that fills RGB (`channels` 3) or depth (1);
    ValueError naming the file for anything else (the other kind of model, a damaged file)."""
    from .onnx_runner import OnnxInfill

    network = OnnxInfill(path)
    if channels == 3:
        refuse_depth_model(path, network.channels)
    elif network.channels != 1:
        raise ValueError(f"{path}: an RGB model ({network.channels} output channels); the other eye's "
                         "depth needs a depth-infill model (python -m training train --target depth)")
    return network
