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
