"""`python -m training export`: a checkpoint to ONNX, checked against PyTorch."""
from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import numpy as np
import torch

from stereo_geometry.writer import atomic_write_bytes

from .checkpoint import load_model
from .model import GatedUNet, fold_detail, pool_inputs, select_inputs
from stereo_geometry.onnx_runner import OnnxInfill

OPSET = 17


class _Core(torch.nn.Module):
    """What is exported: `GatedUNet.core`, half-resolution pooled input (and the folded
    full-resolution detail, where the model takes it) -> (residual, guess)."""

    def __init__(self, model: GatedUNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, pooled: torch.Tensor,
                detail: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.core(pooled, detail)


def check_input(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A plausible network input: random colours, a hole band, unit normals, depth ~1."""
    rng = np.random.default_rng(seed)
    x = rng.random((1, 8, height, width), dtype=np.float32)
    hole = np.zeros((height, width), np.float32)
    hole[:, width // 3: width // 3 + max(2, width // 10)] = 1
    normals = rng.normal(size=(3, height, width)).astype(np.float32)
    normals /= np.linalg.norm(normals, axis=0, keepdims=True)
    x[0, 3] = hole
    x[0, 4:7] = normals * hole
    x[0, 7] = (0.5 + x[0, 7]) * (1 - hole)
    return x


def export_onnx(checkpoint: str | Path, path: str | Path) -> float:
    """Write the ONNX model (atomically) and return the largest absolute difference between
    `OnnxInfill` and PyTorch over three frame sizes (two needing padding)."""
    model, config = load_model(checkpoint)
    x = torch.from_numpy(check_input(128, 192))
    example, names = (pool_inputs(x),), ["pooled"]
    if model.config.detail_channels:
        example, names = example + (fold_detail(x, model.config.detail_channels),), names + ["detail"]
    sides = {0: "batch", 2: "height", 3: "width"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's tracer and deprecation notes
        exported = io.BytesIO()
        torch.onnx.export(_Core(model), example, exported, input_names=names,
                          output_names=["residual", "guess"], opset_version=OPSET, dynamo=False,
                          dynamic_axes={name: sides for name in names + ["residual", "guess"]})
    import onnx

    proto = onnx.load_model_from_string(exported.getvalue())
    entry = proto.metadata_props.add()
    entry.key, entry.value = "train_config", json.dumps(config)
    atomic_write_bytes(path, proto.SerializeToString())

    runner = OnnxInfill(str(path))
    worst = 0.0
    for h, w in ((128, 192), (101, 157), (90, 70)):
        x = check_input(h, w, seed=h)
        with torch.no_grad():
            expected = model(select_inputs(torch.from_numpy(x), config["inputs"])).numpy()
        worst = max(worst, float(np.abs(runner.run_once(x) - expected).max()))
    return worst
