"""Turning one view into the other eye: reproject with the geometry core, then infill.

`other_eye` is torch-free (the infill network comes in as a callable), so the Blender add-on
runs the same code with ONNX Runtime.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .camera import Intrinsics, stereo_pose, world_to_camera
from .sample import inverse_depth_scale, network_input, to_uint8, warped_inputs
from .warp import reproject

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


def refuse_depth_model(path: str, channels: int) -> None:
    if channels != 3:
        raise ValueError(f"{path}: a depth-infill model ({channels} output channel); the other eye's "
                         "image needs an RGB model")


@dataclass
class OtherEye:
    image: np.ndarray      # (H, W, 3) uint8, infilled
    warped: np.ndarray     # (H, W, 3) uint8, before infill
    hole_mask: np.ndarray  # (H, W) uint8, 1 = hole
    depth: np.ndarray | None = None  # (H, W) float32 metres, holes filled (with a depth network)


def overscan_side(baseline: float) -> str:
    """The side of the frame beyond which the eye shifted by `baseline` sees: "right" for a
    positive baseline (the right eye), else "left"."""
    return "right" if baseline > 0 else "left"


def without_overscan(array: np.ndarray, overscan: int, baseline: float) -> np.ndarray:
    """An (H, W, ...) array without the `overscan` columns on the side the eye shifted by
    `baseline` looks beyond (`overscan_side`)."""
    if overscan <= 0:
        return array
    return array[:, :-overscan] if overscan_side(baseline) == "right" else array[:, overscan:]


def edge_strip(hole_mask: np.ndarray, baseline: float) -> np.ndarray:
    """Per row, how many hole pixels run in from the frame's edge on the side the eye shifted
    by `baseline` looks beyond (`overscan_side`): the strip it sees past the frame (or past
    an overscan too narrow for it), (H,) int."""
    hole = hole_mask.astype(bool)
    hole = hole[:, ::-1] if overscan_side(baseline) == "right" else hole
    return np.where(hole.all(axis=1), hole.shape[1], np.argmin(hole, axis=1))


def other_eye(image: np.ndarray, depth: np.ndarray, K: Intrinsics, baseline: float,
              network: Network, depth_network: Network | None = None, overscan: int = 0) -> OtherEye:
    """The view from the camera shifted by `baseline` metres along x (negative: to the left),
    holes filled by `network`, and with `depth_network` (a depth-infill model) also that
    view's planar depth, holes filled. What the view sees of the surfaces is interpolated
    between the source's pixels (`reproject(..., interpolate=True)`). `depth` must be finite
    and positive (see `readers.fill_invalid_depth`).

    With `overscan`, the source (image, depth and K) holds that many more columns than the
    frame, on the side the new eye looks beyond (`overscan_side`: a render with overscan);
    the result is the frame without them, and where the new eye sees beyond the frame's edge
    it sees the source's extra columns instead of a hole."""
    warp = reproject(image, depth, K, K, world_to_camera(stereo_pose(baseline)), interpolate=True)
    inputs = {name: without_overscan(value, overscan, baseline)
              for name, value in warped_inputs(warp, K).items()}
    warped, hole_mask = inputs["image_generated_left"], inputs["hole_mask"]
    x = network_input(**inputs)[None]
    if depth_network is None:  # the normals and depths in `inputs` need not stay while the network runs
        inputs = None
    out = network(x)[0]
    hole = hole_mask.astype(bool)
    filled = warped.copy()
    filled[hole] = to_uint8(out[:, hole].T)
    filled_depth = None if depth_network is None else fill_depth(depth_network, x, inputs)
    return OtherEye(filled, warped, hole_mask, filled_depth)


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
