"""Checkpoints: saving atomically, the shipping weights, loading a trained model, starting
from saved weights."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from stereo_geometry.infill import Network, refuse_depth_model
from stereo_geometry.mesh import recorded_hole_rule
from stereo_geometry.sample import flip_averaged, mirroring
from stereo_geometry.writer import atomic_write_bytes

from .config import TrainConfig
from .model import GatedUNet


def atomic_save(obj: dict, path: str | Path) -> None:
    """torch.save, atomically (`stereo_geometry.writer.atomic_write_bytes`)."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def read_checkpoint(path: str | Path, device: str = "cpu") -> dict:
    """A checkpoint's contents, loaded safely (`weights_only`: tensors and plain values, no
    code runs); ValueError naming the file if it is missing, damaged or not a checkpoint of
    this project (a bare state dict, say)."""
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except Exception as exc:  # torch raises many types for damaged or foreign files
        raise ValueError(f"{path}: not a readable PyTorch checkpoint ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    if not isinstance(state, dict) or not {"model", "config"} <= set(state):
        raise ValueError(f"{path}: not a checkpoint of this project (it needs 'model' and 'config'; "
                         "a bare state dict has no config)")
    return state


def save_weights(checkpoint: str | Path, path: str | Path) -> None:
    """Keep only the model and its config (no optimiser state): what ships, and what
    `--init` starts from."""
    state = read_checkpoint(checkpoint)
    atomic_save({"model": state["model"], "config": state["config"], "step": state["step"]}, Path(path))


def load_model(checkpoint: str | Path, device: str = "cpu") -> tuple[GatedUNet, dict]:
    """A trained model (eval mode) and its checkpoint's training config; ValueError naming the
    file if it holds another architecture (e.g. one saved by an older version)."""
    state = read_checkpoint(checkpoint, device)
    try:
        config = TrainConfig.from_dict(state["config"])
        model = GatedUNet(config.model).to(device)
        model.load_state_dict(state["model"])
    except (TypeError, RuntimeError) as exc:
        raise ValueError(f"{checkpoint}: not a checkpoint of this model version ({exc})") from exc
    return model.eval(), state["config"]


def init_from(model: GatedUNet, weights: str | Path) -> list[str]:
    """Start from saved weights: every parameter whose name and shape match is copied (a
    model grown by a layer keeps the rest). Returns the names left at their initialisation."""
    saved = read_checkpoint(weights)["model"]
    own = model.state_dict()
    matching = {k: v for k, v in saved.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(matching, strict=False)
    return sorted(set(own) - set(matching))


def torch_network(path: str | Path, device: str = "cpu") -> Network:
    """The RGB infill network of a .pt checkpoint as a `Network` (numpy in and out; its
    `inputs` setting, test-time flips and hole rule honoured); ValueError naming the file
    for a depth-infill model."""
    from .model import select_inputs

    model, config = load_model(path, device)
    refuse_depth_model(str(path), model.config.out_channels)

    def run(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(select_inputs(torch.from_numpy(x).to(device), config["inputs"])).cpu().numpy()
    network = flip_averaged(mirroring(run), model.config.test_time_flips)
    network.hole_rule = recorded_hole_rule(config)
    return network
