"""`python -m training export`: a checkpoint to ONNX, checked against PyTorch."""
from __future__ import annotations

import copy
import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from .model import PRIOR_CHANNELS, GatedUNet, composite
from .onnx_runner import OnnxInfill
from .train import load_model, select_inputs

OPSET = 17


class _SpaceToDepth(torch.autograd.Function):
    """Space-to-depth in ONNX's channel order (block offset major: channel (i*r + j)*C + c),
    exported as ONNX's SpaceToDepth, which ONNX Runtime runs ~3x faster than the
    reshape-transpose-reshape that `pixel_unshuffle` exports to."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, block: int) -> torch.Tensor:
        b, c, h, w = x.shape
        x = x.reshape(b, c, h // block, block, w // block, block).permute(0, 3, 5, 1, 2, 4)
        return x.reshape(b, block * block * c, h // block, w // block)

    @staticmethod
    def symbolic(g, x, block: int):
        return g.op("SpaceToDepth", x, blocksize_i=block)


def onnx_ordered(model: GatedUNet) -> GatedUNet:
    """A copy that folds with ONNX's SpaceToDepth, its stem's input channels permuted to
    match (PyTorch's channel c*r*r + k becomes k*C + c): the same outputs."""
    model = copy.deepcopy(model)
    block = model.config.unshuffle
    channels = model.config.in_channels + PRIOR_CHANNELS
    order = [c * block * block + k for k in range(block * block) for c in range(channels)]
    model.stem.conv.weight.data = model.stem.conv.weight.data[:, order].contiguous()
    model.fold = lambda x: _SpaceToDepth.apply(x, block)
    return model


class _Padded(torch.nn.Module):
    """The network for input sides that are already multiples of `multiple` (ONNX Runtime
    callers pad; see `onnx_runner.pad_to_multiple`)."""

    def __init__(self, model: GatedUNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return composite(self.model.raw(x), x)


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
    """Write the ONNX model (atomically) and return the largest absolute difference from
    PyTorch over two frame sizes (one needing padding)."""
    model, config = load_model(checkpoint)
    path = Path(path)
    tmp = path.with_name(path.name + ".partial")
    m = model.multiple
    example = torch.from_numpy(check_input(4 * m, 6 * m))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's tracer and deprecation notes
        torch.onnx.export(_Padded(onnx_ordered(model)), (example,), str(tmp), input_names=["input"],
                          output_names=["output"], opset_version=OPSET, dynamo=False,
                          dynamic_axes={"input": {0: "batch", 2: "height", 3: "width"},
                                        "output": {0: "batch", 2: "height", 3: "width"}})
    import onnx

    proto = onnx.load(str(tmp))
    for key, value in {"multiple": str(m), "train_config": json.dumps(config)}.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(tmp))
    os.replace(tmp, path)

    runner = OnnxInfill(str(path))
    worst = 0.0
    for h, w in ((4 * m, 6 * m), (3 * m + 5, 5 * m + 3)):
        x = check_input(h, w, seed=h)
        with torch.no_grad():
            expected = model(select_inputs(torch.from_numpy(x), config["inputs"])).numpy()
        worst = max(worst, float(np.abs(runner(x) - expected).max()))
    return worst
