"""Hole PSNR on the add-on test scene (tests/addon_session.py: a checker box before a checker
wall, rendered with Cycles) against a true render from the other eye, by render size.

    python benchmarks/addon_scene_quality.py [--model models/quality.onnx] [--sizes 96x64 320x240]

Runs the repository's pipeline (geometry core + network), OpenCV Telea and Navier-Stokes and
the network's first guess alone on the same holes.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

import addon_session as scene_setup  # noqa: E402
from training.baselines import opencv_fill, pull_push_fill  # noqa: E402
from stereo_geometry.infill import DEFAULT_MODEL  # noqa: E402
from training.metrics import psnr  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    parser.add_argument("--sizes", nargs="+", default=["96x64", "192x128", "320x240", "640x480"])
    args = parser.parse_args()
    import bpy

    from stereo_geometry import reproject, stereo_pose, warped_inputs, world_to_camera
    from stereo_geometry.camera import Eye
    from stereo_geometry.colour import finite_depth

    print(f"{'size':>8} {'holes':>6} {'network':>8} {'telea':>6} {'ns':>6} {'guess':>6}  (hole PSNR, dB)")
    for size in args.sizes:
        scene_setup.WIDTH, scene_setup.HEIGHT = map(int, size.split("x"))
        work = tempfile.mkdtemp()
        scene = scene_setup.build_scene(bpy)
        source = scene_setup.render_png(bpy, scene, os.path.join(work, "left.png"))
        _, depth = scene_setup.render_passes(bpy, scene, os.path.join(work, "left.exr"))
        truth = scene_setup.blender_stereo(bpy, scene, os.path.join(work, "truth.png"))["RIGHT"] / 255.0
        K, depth = scene_setup.camera_K(scene), finite_depth(depth)
        result = scene_setup.expected_eye(source, depth, K, Eye.shifted(K, scene_setup.BASELINE), args.model)
        hole = result.hole_mask.astype(bool)
        warp = reproject(source, depth, K, K, world_to_camera(stereo_pose(scene_setup.BASELINE)), interpolate=True)
        assert np.array_equal(warp.hole_mask, result.hole_mask)
        sample = warped_inputs(warp, K)
        assert np.array_equal(sample["image_generated_left"], result.warped)
        scores = [psnr(result.image / 255.0, truth, hole),
                  psnr(opencv_fill(cv2.INPAINT_TELEA)(sample), truth, hole),
                  psnr(opencv_fill(cv2.INPAINT_NS)(sample), truth, hole),
                  psnr(pull_push_fill(sample), truth, hole)]
        print(f"{size:>8} {int(hole.sum()):6d} " + " ".join(f"{s:6.2f}" for s in scores))


if __name__ == "__main__":
    main()
