"""How well the hole mask finds what is really disoccluded, on renders where both eyes are
known (the lit scenes of `python -m datagen_bpy --lit`, which keep the source eye's render
and depth).

    python benchmarks/hole_mask_precision.py DATA [--limit N]

True disocclusions: pixels of the other eye's true render whose surface point (its true
planar depth) the source eye did not see: outside its frame, or behind what the source's
depth shows there by more than 2 % (of the 2x2 source pixels around where it lands, the
farthest). Precision: the share of the mask's pixels within 1 px of a true disocclusion;
recall: the share of true disocclusions the mask covers. Rules compared on the same
reprojections: `stretched` (the project's: a stretched face is a hole wherever it is the
nearest face) and `behind_real` (a stretched face only where no other face of the mesh covers
the pixel: stretched faces never hide a real surface).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from stereo_geometry import Intrinsics, stereo_pose, world_to_camera  # noqa: E402
from stereo_geometry.camera import project, transform, unproject  # noqa: E402
from stereo_geometry.mesh import grid_vertices  # noqa: E402
from stereo_geometry.warp import _general_grid_raster, rasterize_projected  # noqa: E402
from stereo_geometry.writer import read_manifests, read_sample  # noqa: E402

MARGIN = 0.02


def true_disocclusions(true_depth: np.ndarray, source_depth: np.ndarray, K: Intrinsics, baseline: float) -> np.ndarray:
    """Pixels of the other eye (at +baseline) whose surface the source eye did not see."""
    points = unproject(true_depth, K) + np.array([baseline, 0.0, 0.0])
    u, v, z = project(points, K)
    h, w = source_depth.shape
    inside = (u >= -0.5) & (u <= w - 0.5) & (v >= -0.5) & (v <= h - 0.5)
    farthest = np.zeros_like(z)
    for du in (0, 1):
        for dv in (0, 1):
            uu = np.clip(np.floor(np.nan_to_num(u)).astype(int) + du, 0, w - 1)
            vv = np.clip(np.floor(np.nan_to_num(v)).astype(int) + dv, 0, h - 1)
            farthest = np.maximum(farthest, source_depth[vv, uu])
    return ~inside | (z > farthest * (1 + MARGIN))


def hole_masks(image: np.ndarray, depth: np.ndarray, K: Intrinsics, baseline: float) -> dict[str, np.ndarray]:
    """The hole mask of each rule for the source view reprojected into the eye at `baseline`."""
    tris, stretched, raster = _general_grid_raster(depth, K, K, world_to_camera(stereo_pose(baseline)), 80.0, 0.5)
    covered = raster.covered
    on_stretched = covered & stretched[np.maximum(raster.face, 0)]
    moved = transform(grid_vertices(depth, K), world_to_camera(stereo_pose(baseline)))
    real = rasterize_projected(*project(moved, K), tris[~stretched], K).covered
    return {"stretched": on_stretched | ~covered, "behind_real": ~real}


def scores(mask: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    near_truth = cv2.dilate(truth.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    precision = float((mask & near_truth).sum() / max(mask.sum(), 1))
    recall = float((truth & mask).sum() / max(truth.sum(), 1))
    return precision, recall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--limit", type=int, default=40)
    args = parser.parse_args()
    rows = {"stretched": [], "behind_real": []}
    shares = []
    for record in read_manifests(args.data):
        sample = read_sample(args.data / record["file"])
        if "source_depth" not in sample:
            continue
        K = Intrinsics(**record["intrinsics"])
        baseline = record["baseline"]
        truth = true_disocclusions(sample["org_left_depth"].astype(np.float64), sample["source_depth"], K, baseline)
        masks = hole_masks(sample["source_image"], sample["source_depth"], K, baseline)
        assert np.array_equal(masks["stretched"], sample["hole_mask"].astype(bool))
        for name, mask in masks.items():
            rows[name].append(scores(mask, truth) + (float(mask.mean()),))
        shares.append(truth.mean())
        if len(shares) >= args.limit:
            break
    print(f"{len(shares)} lit samples of {args.data}; true disocclusions {np.mean(shares):.2%} of the frame\n")
    print("| rule | precision (within 1 px) | recall | mask share of the frame |")
    print("|---|---|---|---|")
    for name, values in rows.items():
        p, r, m = np.mean(values, axis=0)
        print(f"| {name} | {p:.3f} | {r:.3f} | {m:.2%} |")


if __name__ == "__main__":
    main()
