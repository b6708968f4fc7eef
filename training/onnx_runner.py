"""Running an exported infill network with ONNX Runtime: numpy and onnxruntime only (no
torch), so the Blender add-on can bundle it."""
from __future__ import annotations

import json

import numpy as np


def pad_to_multiple(x: np.ndarray, multiple: int) -> np.ndarray:
    """Pad (N, C, H, W) at the bottom and right, repeating the edge, to multiples of `multiple`."""
    h, w = x.shape[-2:]
    pad_h, pad_w = (-h) % multiple, (-w) % multiple
    if not (pad_h or pad_w):
        return x
    return np.pad(x, ((0, 0), (0, 0), (0, pad_h), (0, pad_w)), mode="edge")


class OnnxInfill:
    """An exported Gated-UNet: (N, 8, H, W) float32 input -> infilled (N, C, H, W), any size."""

    def __init__(self, path: str, threads: int = 0) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        meta = self.session.get_modelmeta().custom_metadata_map
        self.multiple = int(meta["multiple"])
        self.config = json.loads(meta.get("train_config", "{}"))
        self.rgb_mask_only = self.config.get("inputs") == "rgb_mask"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        h, w = x.shape[-2:]
        x = x.astype(np.float32)
        if self.rgb_mask_only:
            x = x.copy()
            x[:, 4:] = 0
        out = self.session.run(None, {"input": pad_to_multiple(x, self.multiple)})[0]
        return out[..., :h, :w]
