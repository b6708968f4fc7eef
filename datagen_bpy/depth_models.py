"""Metric depth from monocular models (optional): Depth Anything 3 and UniK3D.

Weights are never downloaded here: pass a local folder (`--depth-model-path`). Installing:

- `da3`: `pip install -e ".[da3]" && pip install --no-deps depth-anything-3==0.1.1` (the
  package's own requirements pull CUDA-only builds; its network needs only the light ones in
  the extra). Weights: a Hugging Face snapshot folder (`config.json` naming the preset, e.g.
  `da3nested-giant-large`, and `model.safetensors`).
- `unik3d`: install UniK3D from its repository; weights: a folder `UniK3D.from_pretrained`
  accepts.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from stereo_geometry import Intrinsics

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


class DepthModelError(RuntimeError):
    """A depth model that cannot be loaded; the message says what to install or pass."""


@dataclass
class DepthEstimate:
    """Planar metric depth (H, W) of an image, and the intrinsics the model inferred."""

    depth: np.ndarray
    K: Intrinsics | None


def da3_input(image: np.ndarray, process_res: int = 504, patch: int = 14) -> np.ndarray:
    """DA3 pre-processing: scale so the long side is at most `process_res`, round both sides
    to a multiple of the ViT patch, normalise with ImageNet statistics -> (1, 1, 3, h, w)."""
    h, w = image.shape[:2]
    scale = process_res / max(h, w)
    new_w = max(patch, round(w * scale / patch) * patch)
    new_h = max(patch, round(h * scale / patch) * patch)
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    x = (resized.astype(np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
    return x.transpose(2, 0, 1)[None, None]


def resize_depth_and_intrinsics(depth: np.ndarray, K_model: np.ndarray | None, height: int,
                                width: int) -> DepthEstimate:
    """Bring a model's depth (h, w) and 3x3 intrinsics back to the image size."""
    h, w = depth.shape
    depth = cv2.resize(depth.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
    K = None
    if K_model is not None:
        K = Intrinsics(float(K_model[0, 0]), float(K_model[1, 1]), float(K_model[0, 2]),
                       float(K_model[1, 2]), w, h).scaled(width / w, height / h, width, height)
    return DepthEstimate(depth, K)


def intrinsics_from_points(points: np.ndarray) -> Intrinsics:
    """Pinhole intrinsics (principal point at the centre) that best explain camera-space
    points (H, W, 3) seen at each pixel: least squares of u - cx = fx x / z (and for v)."""
    h, w = points.shape[:2]
    u, v = np.meshgrid(np.arange(w) - (w - 1) / 2, np.arange(h) - (h - 1) / 2)
    z = points[..., 2]
    ok = np.isfinite(points).all(-1) & (z > 0)
    a, b = points[..., 0][ok] / z[ok], points[..., 1][ok] / z[ok]
    fx = float(np.sum(u[ok] * a) / np.sum(a * a))
    fy = float(np.sum(v[ok] * b) / np.sum(b * b))
    return Intrinsics(fx, fy, (w - 1) / 2, (h - 1) / 2, w, h)


class DA3:
    """Depth Anything 3: the package's network with our pre- and post-processing."""

    def __init__(self, net, preset: str, process_res: int = 504) -> None:
        self.net, self.preset, self.process_res = net, preset, process_res

    def __call__(self, image: np.ndarray) -> DepthEstimate:
        import torch

        x = torch.from_numpy(da3_input(image, self.process_res))
        with torch.inference_mode():
            out = self.net(x, None, None, [], False, False, "first")
        depth = out["depth"][0, 0].float().numpy()
        K_model = out["intrinsics"][0, 0].float().numpy() if out.get("intrinsics") is not None else None
        estimate = resize_depth_and_intrinsics(depth, K_model, *image.shape[:2])
        if self.preset == "da3metric-large" and estimate.K is not None:
            # That model predicts depth for a focal length of 300 px (DA3's documentation).
            estimate.depth *= (estimate.K.fx + estimate.K.fy) / 2 / 300.0
        return estimate


def _require_da3_package() -> None:
    """Raise DepthModelError unless the DA3 package imports."""
    try:
        import depth_anything_3.cfg  # noqa: F401
    except ImportError as exc:
        raise DepthModelError(
            "--depth-model da3 needs the optional extra: pip install -e '.[da3]' && "
            f"pip install --no-deps depth-anything-3==0.1.1 ({exc})") from exc


def build_da3(preset: str):
    """The DA3 network of a preset ('da3-small', 'da3nested-giant-large', ...), randomly
    initialised."""
    _require_da3_package()
    from depth_anything_3.cfg import create_object, load_config
    from depth_anything_3.registry import MODEL_REGISTRY

    if preset not in MODEL_REGISTRY:
        raise DepthModelError(f"unknown DA3 preset '{preset}', known: {', '.join(MODEL_REGISTRY)}")
    return create_object(load_config(MODEL_REGISTRY[preset])).eval()


def _da3_preset(weights: Path | None) -> str:
    """Check that DA3 can be loaded from `weights`; the preset named in its config."""
    _require_da3_package()
    if weights is None or not (Path(weights) / "model.safetensors").is_file():
        where = ("no Depth Anything 3 weights (no --depth-model-path given)" if weights is None
                 else f"no Depth Anything 3 weights at {weights}")
        raise DepthModelError(
            f"{where}: download a snapshot (for example "
            "depth-anything/DA3NESTED-GIANT-LARGE) on a machine with internet and pass its "
            "folder (config.json + model.safetensors) as --depth-model-path")
    config = Path(weights) / "config.json"
    try:
        return json.loads(config.read_text())["model_name"]
    except (OSError, KeyError, ValueError) as exc:
        raise DepthModelError(f"{config}: cannot read the DA3 preset name ({exc})") from exc


def load_da3(weights: Path | None) -> DA3:
    preset = _da3_preset(weights)
    net = build_da3(preset)
    from safetensors.torch import load_file

    path = Path(weights) / "model.safetensors"
    state = {k.removeprefix("model."): v for k, v in load_file(path).items()}
    missing, unexpected = net.load_state_dict(state, strict=False)
    # Tensors tied to a loaded one are stored once in safetensors files: not missing.
    own = net.state_dict()
    loaded_ptrs = {own[k].data_ptr() for k in state if k in own}
    missing = [k for k in missing if own[k].data_ptr() not in loaded_ptrs]
    if missing or unexpected:
        raise DepthModelError(f"{path} does not fit DA3 preset '{preset}': missing {missing[:3]}, "
                              f"unexpected {unexpected[:3]}")
    return DA3(net, preset)


class UniK3D:
    """UniK3D: camera-space points per pixel; planar depth is their z."""

    def __init__(self, model) -> None:
        self.model = model

    def __call__(self, image: np.ndarray) -> DepthEstimate:
        import torch

        rgb = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)
        with torch.inference_mode():
            points = self.model.infer(rgb)["points"][0].permute(1, 2, 0).float().numpy()
        return DepthEstimate(points[..., 2].astype(np.float32), intrinsics_from_points(points))


def _check_unik3d(weights: Path | None) -> None:
    try:
        import unik3d.models  # noqa: F401
    except ImportError as exc:
        raise DepthModelError("--depth-model unik3d needs the UniK3D package (install it from "
                              f"its repository; it is not on PyPI) ({exc})") from exc
    if weights is None or not Path(weights).is_dir():
        raise DepthModelError(f"no UniK3D weights at {weights}: pass a local folder with "
                              "--depth-model-path")


def load_unik3d(weights: Path | None) -> UniK3D:
    _check_unik3d(weights)
    from unik3d.models import UniK3D as UniK3DNet

    return UniK3D(UniK3DNet.from_pretrained(str(weights)).eval())


LOADERS = {"da3": load_da3, "unik3d": load_unik3d}
_CHECKS = {"da3": _da3_preset, "unik3d": _check_unik3d}


#: The Depth Anything 3 snapshot used when photos come without depth and no weights are given.
DEFAULT_DA3_REPO = "depth-anything/DA3METRIC-LARGE"
WAYS_FORWARD = (
    "ways forward: pass --depth-dir DIR with metric depth maps beside the photos; or download a "
    f"Depth Anything 3 snapshot (e.g. {DEFAULT_DA3_REPO}) on a machine with internet and pass its "
    "folder as --depth-model-path; or run once where the Hugging Face hub is reachable (the "
    "snapshot is kept in its cache, HF_HOME); or make scenes with --procedural N")


def hub_da3_weights(repo: str = DEFAULT_DA3_REPO) -> Path:
    """The folder of a DA3 snapshot from the Hugging Face cache, fetched from the hub on first
    use (unless HF_HUB_OFFLINE is set); DepthModelError naming the ways forward otherwise."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise DepthModelError('Depth Anything 3 needs the optional extra: pip install -e ".[da3]" '
                              "&& pip install --no-deps depth-anything-3==0.1.1; " + WAYS_FORWARD) from None
    patterns = ["config.json", "model.safetensors"]
    try:
        return Path(snapshot_download(repo, allow_patterns=patterns, local_files_only=True))
    except Exception:  # not in the cache yet
        pass
    import os

    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        raise DepthModelError(f"photos without depth: {repo} is not in the Hugging Face cache and "
                              f"HF_HUB_OFFLINE is set; {WAYS_FORWARD}")
    try:
        return Path(snapshot_download(repo, allow_patterns=patterns, etag_timeout=10))
    except Exception as exc:
        raise DepthModelError(f"photos without depth: cannot fetch {repo} from the Hugging Face hub "
                              f"({type(exc).__name__}); {WAYS_FORWARD}") from None


def check_depth_model(name: str, weights: Path | None) -> None:
    """Raise DepthModelError (saying what to install or pass) unless `name` can load."""
    if name not in LOADERS:
        raise DepthModelError(f"unknown depth model '{name}' (choose {', '.join(LOADERS)})")
    _CHECKS[name](weights)


def load_depth_model(name: str, weights: Path | None):
    """A callable image (H, W, 3) uint8 -> DepthEstimate, or DepthModelError."""
    check_depth_model(name, weights)
    return LOADERS[name](weights)
