"""Render with overscan: what rendering the frame wider on the side the other eye looks past
gains over filling that strip, on procedural Blender scenes rendered with Cycles.

    python benchmarks/overscan_quality.py [--size 640x480] [--overscan 6] [--seeds 3 5 7 ...]
        [--model quality] [--samples 16]

Per scene (`datagen_bpy.procedural.build_scene`, one per seed; 60 degree field of view), three
Cycles renders: the left view, the left view `--overscan` percent wider on the right (same
focal length and principal point, as the add-on's *Render with Overscan* renders it) and the
true right eye 63 mm to the right. Both left views go through the pipeline
(`stereo_geometry.infill.other_eye`, the second with `overscan`). Scored against the true right
eye over the holes of the plain view's reprojection (the pixels a plain render leaves to the
fill): hole PSNR of the network's fill, of the network with overscan, and of Telea; the share
of the frame left to the fill each way; the two renders' times.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from stereo_geometry.arguments import resolution  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=resolution, default=(640, 480))
    parser.add_argument("--overscan", type=float, default=6.0, help="percent of the frame's width")
    parser.add_argument("--seeds", type=int, nargs="+", default=[3, 5, 7, 11, 13, 17])
    parser.add_argument("--model", default="quality", help="shipped model name or a .onnx/.pt file")
    parser.add_argument("--samples", type=int, default=16, help="Cycles samples per pixel")
    parser.add_argument("--baseline", type=float, default=0.063)
    args = parser.parse_args()
    import bpy  # noqa: F401  (makes bmesh importable)

    from datagen_bpy.procedural import build_scene
    from datagen_bpy.renderer import Renderer
    from stereo_geometry import Intrinsics, to_uint8, translation
    from stereo_geometry.camera import Eye
    from stereo_geometry.infill import SHIPPED_MODELS
    from stereo_geometry.sequence import other_eye
    from training import load_network
    from training.baselines import opencv_fill
    from training.metrics import psnr

    network = load_network(str(SHIPPED_MODELS.get(args.model, args.model)))
    width, height = args.size
    K = Intrinsics.from_fov(width, height, 60.0)
    margin = math.ceil(args.overscan / 100 * width)
    K_wide = Intrinsics(K.fx, K.fy, K.cx, K.cy, width + margin, height)
    print(f"{width}x{height}, overscan {margin} px ({args.overscan:g} %), model {args.model}, "
          f"{args.samples} samples\n")
    print("| seed | holes plain | holes with overscan | network | network + overscan | Telea | "
          "render s | render s with overscan |")
    print("|---|---|---|---|---|---|---|---|")
    rows = []
    for seed in args.seeds:
        renderer = Renderer(width, height)
        renderer.set_samples(args.samples)
        build_scene(renderer, K, np.random.default_rng(seed), [])
        renders, seconds = {}, {}
        for name, camera, pose in (("right", K, translation(args.baseline)),  # first: it also syncs the scene
                                   ("left", K, np.eye(4)), ("wide", K_wide, np.eye(4))):
            renderer.set_camera(camera, pose)
            start = time.perf_counter()
            renders[name] = renderer.render()
            seconds[name] = time.perf_counter() - start
        if not all(r.covered.all() for r in renders.values()):
            print(f"| {seed} | the scene does not fill the frame: skipped |")
            continue
        truth = to_uint8(renders["right"].rgb) / 255.0
        left, wide = renders["left"], renders["wide"]
        eye = Eye.shifted(K, args.baseline)
        plain = other_eye(to_uint8(left.rgb), left.depth.astype(np.float32), K, eye, network)
        over = other_eye(to_uint8(wide.rgb), wide.depth.astype(np.float32), K_wide, eye, network)
        hole = plain.hole_mask.astype(bool)
        telea = opencv_fill(cv2.INPAINT_TELEA)({"image_generated_left": plain.warped, "hole_mask": plain.hole_mask})
        row = [hole.mean(), over.hole_mask.mean(), psnr(plain.image / 255.0, truth, hole),
               psnr(over.image / 255.0, truth, hole), psnr(telea, truth, hole), seconds["left"], seconds["wide"]]
        rows.append(row)
        print(f"| {seed} | {row[0]:.2%} | {row[1]:.2%} | " + " | ".join(f"{v:.2f}" for v in row[2:]) + " |")
    if rows:
        mean = np.mean(rows, axis=0)
        print(f"| mean | {mean[0]:.2%} | {mean[1]:.2%} | " + " | ".join(f"{v:.2f}" for v in mean[2:]) + " |")


if __name__ == "__main__":
    main()
