"""The real-stereo benchmark: rectified pairs with ground-truth disparity.

Any folder laid out as ../shared/data/realstereo works: one sub-folder per scene with
`scene.json` (`left`, `right`, `disp_left`, optional `disp_right` file names, `disp_divisor`:
pixels = stored value / divisor, 0 = unknown; convention x_right = x_left - d_left).

For each scene the left view gets depth from its disparity, Z = f B / d, with B = 0.063 m (the
rig the network trains on) and f = 1.0 x the image width (a 53 deg field of view): any (f, B)
with the same product reproduces the disparity exactly, and these put the scenes at depths
like the training scenes'. Unknown disparity takes its nearest known neighbour's. The left view
is reprojected to the right eye with the project's geometry core (the holes the network trains
on) and each method fills the holes; scores compare with the real right image inside the
holes, where the ground truth is valid (the right disparity is known, where it is given).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from datagen_bpy.prepare import fill_invalid_depth
from datagen_bpy.readers import read_image
from stereo_geometry import (Intrinsics, masked_inputs, reproject, stereo_pose, world_to_camera)

from .baselines import Method
from .metrics import hole_and_ring_metrics

BASELINE_M = 0.063
FOCAL_PER_WIDTH = 1.0


@dataclass
class StereoScene:
    name: str
    left: np.ndarray          # (H, W, 3) uint8
    right: np.ndarray         # (H, W, 3) uint8
    disp_left: np.ndarray     # (H, W) float pixels, 0 = unknown
    disp_right: np.ndarray | None


def read_disparity(path: Path, divisor: float) -> np.ndarray:
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise ValueError(f"{path}: cannot read disparity")
    if raw.ndim == 3:
        raw = raw[..., 0]
    return raw.astype(np.float32) / divisor


def load_scene(folder: Path) -> StereoScene:
    meta = json.loads((folder / "scene.json").read_text())
    divisor = float(meta["disp_divisor"])
    disp_right = meta.get("disp_right")
    return StereoScene(
        name=meta.get("name", folder.name), left=read_image(folder / meta["left"]),
        right=read_image(folder / meta["right"]),
        disp_left=read_disparity(folder / meta["disp_left"], divisor),
        disp_right=read_disparity(folder / disp_right, divisor)
        if disp_right and (folder / disp_right).is_file() else None)


def find_scenes(root: Path) -> list[Path]:
    return sorted(p.parent for p in Path(root).glob("*/scene.json"))


def depth_from_disparity(disparity: np.ndarray, K: Intrinsics) -> np.ndarray:
    """Z = f B / d where d is known; elsewhere the nearest known pixel's depth."""
    valid = disparity > 0
    if not valid.any():
        raise ValueError("no known disparity")
    depth = np.where(valid, K.fx * BASELINE_M / np.maximum(disparity, 1e-6), 0).astype(np.float32)
    return fill_invalid_depth(depth, valid)


def scene_sample(scene: StereoScene) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The warped right view as a sample (the arrays the methods take) and the region scored."""
    h, w = scene.disp_left.shape
    f = FOCAL_PER_WIDTH * w
    K = Intrinsics(f, f, (w - 1) / 2, (h - 1) / 2, w, h)
    depth = depth_from_disparity(scene.disp_left, K)
    warp = reproject(scene.left, depth, K, K, world_to_camera(stereo_pose(BASELINE_M)))
    hole = warp.hole_mask
    sample = {"image_generated_left": warp.image, "hole_mask": hole,
              "depth_generated_left": warp.depth, **masked_inputs(hole, warp.depth, K)}
    scored = hole.astype(bool)
    if scene.disp_right is not None:
        scored &= scene.disp_right > 0
    return sample, scored


def benchmark_scenes(root: Path, methods: dict[str, Method]) -> dict[str, dict[str, dict[str, float]]]:
    """{scene: {method: metrics}} plus an 'overall' entry (mean over scenes)."""
    results: dict[str, dict[str, dict[str, float]]] = {}
    for folder in find_scenes(root):
        scene = load_scene(folder)
        sample, scored = scene_sample(scene)
        target = scene.right.astype(np.float32) / 255.0
        results[scene.name] = {}
        for name, method in methods.items():
            metrics = hole_and_ring_metrics(method(sample), target, scored)
            metrics["hole_fraction"] = float(scored.mean())
            results[scene.name][name] = metrics
    if results:
        results["overall"] = {name: {k: float(np.mean([results[s][name][k] for s in results]))
                                     for k in next(iter(results.values()))[name]}
                              for name in methods}
    return results


def benchmark_all(methods: dict[str, Method], real: str | Path | None = None,
                  synthetic: str | Path | None = None) -> tuple[dict, list[tuple[str, dict]]]:
    """Results of every method on the synthetic held-out folder and the real-stereo scenes,
    and the same as (title, table) sections for printing."""
    from .evaluate import evaluate

    results, sections = {}, []
    if synthetic:
        results["synthetic"] = evaluate(synthetic, methods, progress=False)
        sections.append(("Synthetic held-out set", results["synthetic"]))
    if real:
        results["real"] = benchmark_scenes(Path(real), methods)
        sections += [(f"Real stereo: {scene}", table) for scene, table in results["real"].items()]
    return results, sections
