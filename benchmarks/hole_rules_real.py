"""Models trained on different hole rules, compared on real stereo pairs: each model gets the
holes of the rule it was trained on (`stereo_geometry.stereo_pairs.reprojected_pair(...,
rule)`), and is scored against the real right photograph where its disparity is known.

    python benchmarks/hole_rules_real.py --model fast=models/fast.onnx NAME=OTHER.onnx \
        [--scenes ../shared/data/realstereo ../shared/data/train/stereo] [--val-only]

Hole PSNR of one model's own mask is not comparable with another's, so the table gives, per
scene and model: the whole frame and the union of every rule's holes (the same pixels for
all models). `--val-only` keeps the scenes of `datagen_bpy.real_data`'s validation split
(those under `../shared/data/train/stereo` the training never saw); the evaluation scenes
under `../shared/data/realstereo` are never trained on.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from datagen_bpy.real_data import scene_group, validation_groups  # noqa: E402
from stereo_geometry import HOLE_RULES, network_input  # noqa: E402
from stereo_geometry.infill import load_onnx_network  # noqa: E402
from stereo_geometry.sample import to_uint8  # noqa: E402
from stereo_geometry.stereo_pairs import find_scenes, load_scene, reprojected_pair  # noqa: E402

from hole_mask_precision import psnr  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", nargs="+", required=True, metavar="NAME=MODEL.onnx")
    parser.add_argument("--scenes", nargs="+", type=Path,
                        default=[REPO.parent / "shared" / "data" / "realstereo", REPO.parent / "shared" / "data" / "train" / "stereo"])
    parser.add_argument("--val-only", action="store_true", help="of training folders, only the validation scenes")
    args = parser.parse_args()
    networks = {name: load_onnx_network(path) for name, path in (entry.split("=", 1) for entry in args.model)}
    print("| scene | union of the rules' holes, share | " + " | ".join(
        f"{name} ({net.hole_rule.name}) whole / holes" for name, net in networks.items()) + " |")
    print("|---|---|" + "---|" * len(networks))
    totals = {name: [] for name in networks}
    for root in args.scenes:
        folders = find_scenes(root)
        if args.val_only and root.name != "realstereo":
            val = validation_groups([scene_group(f.name) for f in folders])
            folders = [f for f in folders if scene_group(f.name) in val]
        for folder in folders:
            scene = load_scene(folder)
            samples = {name: reprojected_pair(scene, "left", rule) for name, rule in HOLE_RULES.items()}
            known = next(iter(samples.values()))[1]
            union = np.logical_or.reduce([s["hole_mask"].astype(bool) for s, _ in samples.values()]) & known
            target = scene.right
            cells = []
            for name, network in networks.items():
                sample = samples[network.hole_rule.name][0]
                hole = sample["hole_mask"].astype(bool)
                fill = to_uint8(network(network_input(**{k: sample[k] for k in (
                    "image_generated_left", "hole_mask", "normals_left_masked", "depth_masked")})[None])[0].transpose(1, 2, 0))
                out = np.where(hole[..., None], fill, sample["image_generated_left"])
                scores = (psnr(out, target, known), psnr(out, target, union))
                totals[name].append(scores)
                cells.append(f"{scores[0]:.2f} / {scores[1]:.2f}")
            print(f"| {folder.name} | {union.mean():.1%} | " + " | ".join(cells) + " |")
    print("| **mean** | | " + " | ".join(
        "{:.2f} / {:.2f}".format(*np.mean(values, axis=0)) for values in totals.values()) + " |")


if __name__ == "__main__":
    main()
