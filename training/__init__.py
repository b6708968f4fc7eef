"""Training, evaluation and export of the disocclusion infill network (PyTorch), above the
runtime (`stereo_geometry`: geometry, network input, ONNX runner, readers). `config` and this
module import no torch; nothing here imports bpy or `datagen_bpy`.
"""
from __future__ import annotations

from pathlib import Path


def load_network(path: str | Path):
    """The infill network of a .pt checkpoint (PyTorch) or of an exported .onnx model (ONNX
    Runtime: no torch imported), as `stereo_geometry.infill.Network`; ValueError naming the
    file for anything else (a depth-infill model, a damaged file)."""
    if str(path).endswith(".onnx"):
        from stereo_geometry.infill import load_onnx_network

        return load_onnx_network(str(path))
    from .checkpoint import torch_network

    return torch_network(path)
