"""Seconds the sequence fill takes for one frame's eye: a synthetic shot (a textured wall 4 m
away, a box 1.5 m away, the camera sliding 1.5 cm a frame), the frame and its neighbours given.

    python benchmarks/sequence_speed.py [--size 1280x960] [--neighbours 8] [--model fast]
        [--repeats 3] [--repo DIR]

`--repo` times another checkout's `stereo_geometry` (an older commit, for a comparison in one
run: `git worktree add /tmp/old COMMIT`).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1280x960", help="WIDTHxHEIGHT")
    parser.add_argument("--neighbours", type=int, default=8)
    parser.add_argument("--model", default="fast")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--repo", type=Path, default=REPO)
    args = parser.parse_args()
    sys.path.insert(0, str(args.repo.resolve()))
    from stereo_geometry import Intrinsics, translation
    from stereo_geometry.camera import Eye
    from stereo_geometry.infill import SHIPPED_MODELS, load_onnx_network
    from stereo_geometry.sequence import Frame, SequenceInfill

    width, height = map(int, args.size.split("x"))
    K = Intrinsics.from_fov(width, height, 60)
    rows, cols = np.mgrid[:height, :width].astype(float)
    ray_x, ray_y = (cols - K.cx) / K.fx, (rows - K.cy) / K.fy

    def view(x: float) -> Frame:
        wall_x, wall_y = x + 4 * ray_x, 4 * ray_y
        image = np.stack([128 + 40 * np.sin(wall_x * 30 + k) * np.cos(wall_y * 25 - k) for k in range(3)], -1)
        box = (np.abs(x + 1.5 * ray_x) < 0.3) & (np.abs(1.5 * ray_y) < 0.3)
        image[box] = (200, 30, 30)
        return Frame(np.rint(image).astype(np.uint8), np.where(box, 1.5, 4.0).astype(np.float32), K, translation(x))

    half = args.neighbours // 2
    own = view(0.0)
    neighbours = [view(0.015 * k) for k in range(-half, args.neighbours - half + 1) if k != 0]
    infill = SequenceInfill(load_onnx_network(str(SHIPPED_MODELS[args.model])))
    eye = Eye.shifted(K, 0.063)
    infill.step(own, neighbours, eye)  # compiled kernels and the network warmed up
    seconds = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        infill.step(own, neighbours, eye)
        seconds.append(time.perf_counter() - start)
    print(f"{args.repo.resolve()}: {width}x{height}, {len(neighbours)} neighbours, {args.model}: "
          + ", ".join(f"{s:.2f}" for s in seconds) + " s a frame")


if __name__ == "__main__":
    main()
