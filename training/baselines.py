"""Infill methods behind one interface: classical baselines and the trained network.

A method takes a sample (the arrays of `stereo_geometry.SAMPLE_ARRAYS` that are inputs) and
returns the infilled image, (H, W, 3) float32 in [0, 1], equal to the warped image outside
the hole.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch

from stereo_geometry.infill import fill_past_the_edges
from stereo_geometry.mesh import DEFAULT_HOLE_RULE, HoleRule
from stereo_geometry.sample import nearest_valid_along_rows, network_input

Sample = dict[str, np.ndarray]
Method = Callable[[Sample], np.ndarray]


def _as_float(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float32) / 255.0


def sample_input(sample: Sample) -> torch.Tensor:
    """The network's (1, 8, H, W) input for a sample."""
    x = network_input(sample["image_generated_left"], sample["hole_mask"],
                      sample["normals_left_masked"], sample["depth_masked"])
    return torch.from_numpy(x)[None]


def opencv_fill(flag: int, radius: int = 3) -> Method:
    def fill(sample: Sample) -> np.ndarray:
        return _as_float(cv2.inpaint(sample["image_generated_left"], sample["hole_mask"], radius, flag))
    return fill


def background_fill(sample: Sample) -> np.ndarray:
    """Depth-aware fill: each hole pixel copies the nearer valid pixel on its row's far-depth
    side (the background the foreground uncovered). Rows with no valid pixel fall back to
    Telea."""
    image, hole = sample["image_generated_left"], sample["hole_mask"].astype(bool)
    depth = sample["depth_masked"]
    valid = ~hole & (depth > 0)
    left, right = nearest_valid_along_rows(valid)
    rows = np.broadcast_to(np.arange(hole.shape[0])[:, None], hole.shape)
    depth_left = np.where(left >= 0, depth[rows, np.maximum(left, 0)], -1.0)
    depth_right = np.where(right >= 0, depth[rows, np.maximum(right, 0)], -1.0)
    source = np.where(depth_left >= depth_right, left, right)
    out = image.copy()
    fill = hole & (source >= 0)
    out[fill] = image[rows[fill], source[fill]]
    rest = hole & (source < 0)
    if rest.any():
        out = cv2.inpaint(out, rest.astype(np.uint8), 3, cv2.INPAINT_TELEA)
    return _as_float(out)


def pull_push_fill(sample: Sample) -> np.ndarray:
    """The network's first guess on its own: background-weighted pull-push
    (`training.model.first_guess`), no learned parameters."""
    from .model import first_guess

    with torch.no_grad():
        out = first_guess(sample_input(sample))[0, :3].clamp(0, 1)
    return out.permute(1, 2, 0).numpy()


def network_fill(checkpoint: str | Path, device: str = "cpu") -> Method:
    """The trained Gated-UNet of a checkpoint (`checkpoint.torch_network`: its `inputs`
    setting is honoured, so an RGB+mask ablation checkpoint sees what it was trained on; so
    are its test-time flips; a depth-infill checkpoint is refused), as the runtime fills with
    it: the strips past the frame's edges by `infill.fill_past_the_edges`."""
    from .checkpoint import torch_network

    network = torch_network(checkpoint, device)

    def fill(sample: Sample) -> np.ndarray:
        out = np.clip(network(sample_input(sample).numpy())[0], 0, 1).transpose(1, 2, 0)
        return fill_past_the_edges(out, sample["hole_mask"])
    fill.hole_rule = network.hole_rule
    return fill


def methods_hole_rule(methods: dict[str, Method]) -> HoleRule:
    """The hole rule the methods' samples must be made with: their networks' (a classical
    fill takes any holes; none: the default). ValueError for networks of different rules,
    which cannot be scored on the same holes."""
    rules = {method.hole_rule for method in methods.values() if hasattr(method, "hole_rule")}
    if len(rules) > 1:
        raise ValueError("the models were trained on different hole rules (" + ", ".join(sorted(r.name for r in rules))
                         + "): score each against the classical fills on its own holes")
    return rules.pop() if rules else DEFAULT_HOLE_RULE


def classical_methods() -> dict[str, Method]:
    return {"telea": opencv_fill(cv2.INPAINT_TELEA), "navier_stokes": opencv_fill(cv2.INPAINT_NS),
            "background": background_fill, "pull_push": pull_push_fill}


def all_methods(checkpoint: str | Path | None = None, ablation: str | Path | None = None) -> dict[str, Method]:
    """The network (if given), its RGB+mask ablation (if given) and the classical baselines."""
    methods = {}
    if checkpoint:
        methods["gated_unet"] = network_fill(checkpoint)
    if ablation:
        methods["gated_unet_rgb_mask"] = network_fill(ablation)
    return methods | classical_methods()
