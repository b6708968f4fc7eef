"""The strip past the frame's edge on real stereo pairs: the runtime's fill there against the
network alone, each of its other two guesses and the classical fills.

    python benchmarks/strip_fill.py [--real ../shared/data/realstereo] [--stereo ../shared/data/train/stereo \
        --scenes adirondack bowling2 piano playtablep poster | --scenes all] [--model models/quality.onnx]

Each scene's left view is reprojected to the right eye (`training.benchmark.scene_sample`;
scenes wider than 800 px at half size). Scored: the hole pixels that run in from the frame's
left or right edge (`training.metrics.past_the_edges`) where the right photograph's disparity is known.
Per scene, PSNR of: the network alone; the row continuation and the diffusion
(`infill.strip_guesses`: `fill_past_the_edges`' other two, from the network-filled frame); the
runtime's fill, their mean; Telea and the background fill over the whole sample, and the
better of those two. Then the mean over scenes, the runtime's worst margin over the better
classical fill and on how many scenes it is behind it.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from stereo_geometry.infill import DEFAULT_MODEL, fill_past_the_edges, load_onnx_network, strip_guesses  # noqa: E402
from stereo_geometry.sample import network_input  # noqa: E402
from stereo_geometry.stereo_pairs import InputError, find_scenes, load_scene  # noqa: E402
from training.baselines import background_fill, opencv_fill  # noqa: E402
from training.benchmark import scene_sample  # noqa: E402
from training.metrics import past_the_edges, psnr  # noqa: E402

MAX_WIDTH = 800
COLUMNS = ("network", "continuation", "diffusion", "runtime", "telea", "background", "better classical")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", default=str(REPO.parent / "shared" / "data" / "realstereo"))
    parser.add_argument("--stereo", help="a folder of stereo scenes, of which --scenes are also scored")
    parser.add_argument("--scenes", nargs="*", default=[], help="scene names, or 'all'")
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    args = parser.parse_args()
    network = load_onnx_network(args.model)
    telea = opencv_fill(cv2.INPAINT_TELEA)
    folders = find_scenes(Path(args.real))
    if args.stereo:
        folders += [p for p in find_scenes(Path(args.stereo)) if p.name in args.scenes or args.scenes == ["all"]]
    rows: dict[str, dict[str, float]] = {}
    print("| scene | strip pixels | " + " | ".join(COLUMNS) + " |")
    print("|---|---|" + "---|" * len(COLUMNS))
    for folder in folders:
        try:
            scene = load_scene(folder)
        except InputError as exc:
            print(f"left out: {exc}", file=sys.stderr)
            continue
        if scene.left.shape[1] > MAX_WIDTH:
            scene = scene.resized(0.5)
        sample, scored = scene_sample(scene, network.hole_rule)
        hole = sample["hole_mask"].astype(bool)
        strip = scored & past_the_edges(hole)
        if strip.sum() < 100:
            continue
        x = network_input(sample["image_generated_left"], sample["hole_mask"], sample["normals_left_masked"],
                          sample["depth_masked"])[None]
        alone = np.clip(network(x)[0], 0, 1).transpose(1, 2, 0)
        outputs = {"network": alone, **strip_guesses(alone, hole), "runtime": fill_past_the_edges(alone, hole),
                   "telea": telea(sample), "background": background_fill(sample)}
        target = scene.right.astype(np.float32) / 255
        row = {name: psnr(output, target, strip) for name, output in outputs.items()}
        row["better classical"] = max(row["telea"], row["background"])
        rows[scene.name] = row
        print(f"| {scene.name} | {strip.sum()} | " + " | ".join(f"{row[c]:.2f}" for c in COLUMNS) + " |", flush=True)
    if not rows:
        sys.exit("no scene with a strip past the frame's edge of 100 scored pixels or more")
    print(f"| mean over {len(rows)} | | " + " | ".join(f"{np.mean([r[c] for r in rows.values()]):.2f}" for c in COLUMNS) + " |")
    for name in ("network", "runtime"):
        margins = {scene: r[name] - r["better classical"] for scene, r in rows.items()}
        worst = min(margins, key=margins.get)
        behind = [scene for scene, m in margins.items() if m < 0]
        print(f"{name}: against the better classical fill mean {np.mean(list(margins.values())):+.2f} dB, worst "
              f"{margins[worst]:+.2f} ({worst}), behind on {len(behind)} of {len(rows)}: {', '.join(behind) or 'none'}")


if __name__ == "__main__":
    main()
