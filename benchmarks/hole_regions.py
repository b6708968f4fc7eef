"""Where the hole error is: every method's hole PSNR on real stereo scenes, split by the kind
of hole.

    python benchmarks/hole_regions.py [--real ../shared/data/realstereo] [--stereo ../shared/data/train/stereo
        --scenes adirondack bowling2 piano playtablep poster] [--model quality=models/quality.pt ...]

Each scene's left view is reprojected to the right eye (`training.benchmark.scene_sample`, as the
benchmark does; scenes wider than 800 px at half size) and its scored hole pixels are split by
their hole (4-connected component of the hole mask):
- border: a hole that touches the left or right edge of the frame (mostly what lies beyond the
  source's field of view: the frame's right strip, as wide as the disparity there);
- thin: any other hole no more than 1.5 px from its rim (stretched slopes, thin gaps);
- wide: the rest (disocclusions beside foreground objects).
Per scene and method: PSNR over each kind and the kind's share of the scored pixels; then the
mean over scenes. A last row per scene bounds what better fills of the disocclusions proper
could gain: the first model's fill in the border strips with the truth itself in every thin
and wide hole.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from stereo_geometry.stereo_pairs import find_scenes, load_scene  # noqa: E402
from training.baselines import classical_methods, network_fill  # noqa: E402
from training.benchmark import scene_sample  # noqa: E402
from training.evaluate import format_table, mean_over_scenes  # noqa: E402
from training.metrics import psnr  # noqa: E402

KINDS = ("border", "thin", "wide")
MAX_WIDTH = 800


def hole_kinds(hole_mask: np.ndarray) -> dict[str, np.ndarray]:
    """The hole mask's pixels split into border, thin and wide holes (see the module doc)."""
    count, label = cv2.connectedComponents(hole_mask.astype(np.uint8), connectivity=4)
    at_border = np.isin(label, np.union1d(label[:, 0], label[:, -1])) & (label > 0)
    inside = cv2.distanceTransform(hole_mask.astype(np.uint8), cv2.DIST_L2, 3)
    deepest = np.zeros(count, np.float32)
    np.maximum.at(deepest, label.ravel(), inside.ravel())
    thin = (deepest[label] <= 1.5) & (label > 0) & ~at_border
    return {"border": at_border, "thin": thin, "wide": (label > 0) & ~at_border & ~thin}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", default=str(REPO.parent / "shared" / "data" / "realstereo"))
    parser.add_argument("--stereo", help="a folder of stereo scenes, of which --scenes are also scored")
    parser.add_argument("--scenes", nargs="*", default=[])
    parser.add_argument("--model", nargs="*", default=["quality=models/quality.pt", "fast=models/fast.pt"],
                        metavar="NAME=CHECKPOINT")
    args = parser.parse_args()
    methods = {name: network_fill(REPO / path if not Path(path).is_absolute() else path)
               for name, path in (m.split("=", 1) for m in args.model)}
    methods |= classical_methods()
    folders = find_scenes(Path(args.real))
    if args.stereo:
        folders += [p for p in find_scenes(Path(args.stereo)) if p.name in args.scenes]
    per_scene: dict[str, dict[str, dict[str, float]]] = {}
    print("| scene | method | all | " + " | ".join(KINDS) + " |")
    print("|---|---|---|" + "---|" * len(KINDS))
    for folder in folders:
        scene = load_scene(folder)
        if scene.left.shape[1] > MAX_WIDTH:
            scene = scene.resized(0.5)
        sample, scored = scene_sample(scene)
        kinds = {k: m & scored for k, m in hole_kinds(sample["hole_mask"].astype(bool)).items()}
        target = scene.right.astype(np.float32) / 255
        shares = " | ".join(f"{kinds[k].sum() / max(scored.sum(), 1):.0%}" for k in KINDS)
        print(f"| {scene.name} | (share of the hole pixels) | 100% | {shares} |")
        regions = {"all": scored} | kinds
        per_scene[scene.name] = {}
        outputs = {name: method(sample) for name, method in methods.items()}
        first = next(iter(outputs))
        inner = kinds["thin"] | kinds["wide"]
        outputs[f"{first}, truth in thin and wide"] = np.where(inner[..., None], target, outputs[first])
        for name, output in outputs.items():
            row = {k: psnr(output, target, m) if m.any() else math.nan for k, m in regions.items()}
            per_scene[scene.name][name] = row
            print(f"| {scene.name} | {name} | " + " | ".join(f"{row[k]:.2f}" for k in regions) + " |")
    print("\nMean over scenes:\n")
    print(format_table(mean_over_scenes(per_scene), ("all", *KINDS)))


if __name__ == "__main__":
    main()
