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
from .sample import network_input, to_uint8, warped_inputs
from .warp import reproject

#: The models folder beside this package: the repository's models/, or the extension's own.
MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
#: The shipped models (ONNX, so the add-on and torch-free callers run them too): `fast`
#: within 2x Telea's time at 1280x720 on a 2-core CPU, `quality` as large as 0.5 s a frame allows.
SHIPPED_MODELS = {"fast": MODELS_DIR / "fast.onnx", "quality": MODELS_DIR / "quality.onnx"}


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


def other_eye(image: np.ndarray, depth: np.ndarray, K: Intrinsics, baseline: float,
              network: Network) -> OtherEye:
    """The view from the camera shifted by `baseline` metres along x (negative: to the left),
    holes filled by `network`. `depth` must be finite and positive (see
    `readers.fill_invalid_depth`)."""
    warp = reproject(image, depth, K, K, world_to_camera(stereo_pose(baseline)))
    inputs = warped_inputs(warp, K)
    out = network(network_input(**inputs)[None])[0]
    hole = inputs["hole_mask"].astype(bool)
    filled = warp.image.copy()
    filled[hole] = to_uint8(out[:, hole].T)
    return OtherEye(filled, warp.image, inputs["hole_mask"])


def load_onnx_network(path: str) -> Network:
    """An exported .onnx model that fills RGB, run by ONNX Runtime; ValueError naming the file
    for anything else (a depth-infill model, a damaged file)."""
    from .onnx_runner import OnnxInfill

    network = OnnxInfill(path)
    refuse_depth_model(path, network.channels)
    return network
