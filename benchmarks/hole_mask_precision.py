"""How well the hole mask finds what is really disoccluded, and what the fill makes of it, on
renders where both eyes are known (the lit scenes of `python -m datagen_bpy --lit` or
`--scenes`, which keep the source eye's render and depth).

    python benchmarks/hole_mask_precision.py DATA [--limit N] [--model NAME=MODEL.onnx ...]

True disocclusions: pixels of the other eye's true render whose surface point (its true
planar depth) the source eye did not see: outside its frame (beyond its outermost pixels'
footprints), or behind what the source's depth shows there by more than 2 % (of the 2x2
source pixels around where it lands, the farthest). Per hole rule
(`stereo_geometry.HOLE_RULES`), on the same source views: precision (the share of the mask's
pixels within 1 px of a true disocclusion), recall (the share of true disocclusions the mask
covers), both pooled over the pixels of every view (and per scene for the views of scene
folders, `datagen_bpy --scenes`), the mask's share of the frame and the PSNR of the pixels it keeps (the warp outside
the mask) against the true other eye. Per model (default: the shipped ones), with the holes
of the rule it was trained on: PSNR of the whole frame, of its own holes and of the true
disocclusions (the same pixels for every model), and its gain over the best classical fill
of the view (per view the best of OpenCV Telea, Navier-Stokes and the background fill,
`training.baselines`, on the same holes) in all its holes and in the disocclusions proper
(the holes that do not run in from the frame's edge: `training.metrics.past_the_edges`): the
mean over views and the worst view. The network fills as every runtime does: the strips past
the frame's edges by `infill.fill_past_the_edges`.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from stereo_geometry import HOLE_RULES, Intrinsics, network_input, reproject, stereo_pose, warped_inputs, world_to_camera  # noqa: E402,E501
from stereo_geometry.camera import project, unproject  # noqa: E402
from stereo_geometry.infill import SHIPPED_MODELS, fill_past_the_edges, load_onnx_network  # noqa: E402
from stereo_geometry.sample import to_uint8  # noqa: E402
from stereo_geometry.writer import read_manifests, read_sample  # noqa: E402
from training.baselines import classical_methods  # noqa: E402
from training.metrics import past_the_edges, region_psnr  # noqa: E402

CLASSICAL = {name: classical_methods()[name] for name in ("telea", "navier_stokes", "background")}

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


def psnr(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> float:
    """`training.metrics.region_psnr` of 8-bit images."""
    return region_psnr(a / 255.0, b / 255.0, where)


def counts(mask: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(mask pixels, those within 1 px of a true disocclusion, true disocclusions, those the
    mask covers): precision and recall pooled over samples, so that a view with a handful of
    true disocclusions weighs by its pixels, not as much as any other."""
    near_truth = cv2.dilate(truth.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    return np.array([mask.sum(), (mask & near_truth).sum(), truth.sum(), (truth & mask).sum()], np.float64)


def precision_recall(pooled: np.ndarray) -> tuple[float, float]:
    return pooled[1] / max(pooled[0], 1), pooled[3] / max(pooled[2], 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--limit", type=int, default=40)
    parser.add_argument("--model", nargs="*", metavar="NAME=MODEL.onnx",
                        default=[f"{name}={path}" for name, path in SHIPPED_MODELS.items()])
    args = parser.parse_args()
    networks = {name: load_onnx_network(path) for name, path in (entry.split("=", 1) for entry in args.model)}
    rules: dict[str, list] = {name: [] for name in HOLE_RULES}
    by_scene: dict[tuple[str, str], list[np.ndarray]] = {}
    models: dict[str, list] = {name: [] for name in networks}
    shares = []
    for record in read_manifests(args.data):
        sample = read_sample(args.data / record["file"])
        if "source_depth" not in sample:
            continue
        K = Intrinsics(**record["intrinsics"])
        baseline = record["baseline"]
        image, depth, truth_image = sample["source_image"], sample["source_depth"], sample["org_left_image"]
        truth = true_disocclusions(sample["org_left_depth"].astype(np.float64), depth, K, baseline)
        warps = {name: reproject(image, depth, K, K, world_to_camera(stereo_pose(baseline)), rule, interpolate=True)
                 for name, rule in HOLE_RULES.items()}
        for name, warp in warps.items():
            mask = warp.hole_mask.astype(bool)
            rules[name].append((counts(mask, truth), float(mask.mean()), psnr(warp.image, truth_image, ~mask)))
            by_scene.setdefault((name, record["source"]), []).append(counts(mask, truth))
        for name, network in networks.items():
            warp = warps[network.hole_rule.name]
            mask = warp.hole_mask.astype(bool)
            inputs = warped_inputs(warp, K)
            fill = np.clip(network(network_input(**inputs)[None])[0].transpose(1, 2, 0), 0, 1)
            out = np.where(mask[..., None], to_uint8(fill_past_the_edges(fill, warp.hole_mask)), warp.image)
            proper = mask & ~past_the_edges(mask)
            classical = [to_uint8(method(inputs)) for method in CLASSICAL.values()]
            gains = [psnr(out, truth_image, where) - max(psnr(c, truth_image, where) for c in classical)
                     for where in (mask, proper)]
            models[name].append((psnr(out, truth_image, np.ones_like(mask)), psnr(out, truth_image, mask),
                                 psnr(out, truth_image, truth), *gains))
        shares.append(truth.mean())
        if len(shares) >= args.limit:
            break
    print(f"{len(shares)} lit samples of {args.data}; true disocclusions {np.mean(shares):.2%} of the frame\n")
    print("| rule | precision (within 1 px) | recall | mask, share of the frame | kept pixels PSNR |")
    print("|---|---|---|---|---|")
    for name, values in rules.items():
        p, r = precision_recall(sum(v[0] for v in values))
        m, kept = np.nanmean([v[1:] for v in values], axis=0)
        print(f"| {name} | {p:.3f} | {r:.3f} | {m:.2%} | {kept:.2f} dB |")
    scenes = sorted({source for _, source in by_scene})
    if len(scenes) < len(shares):  # several views of one scene (`datagen_bpy --scenes`): per scene too
        print("\n| scene | " + " | ".join(f"{name} precision / recall" for name in HOLE_RULES) + " |")
        print("|---|" + "---|" * len(HOLE_RULES))
        for source in scenes:
            cells = [precision_recall(sum(by_scene[name, source])) for name in HOLE_RULES]
            print(f"| {source} | " + " | ".join(f"{p:.3f} / {r:.3f}" for p, r in cells) + " |")
    print("\n| model (its rule) | whole frame PSNR | its holes PSNR | true disocclusions PSNR "
          "| gain over the best classical fill, its holes / the disocclusions proper: mean (worst view) |")
    print("|---|---|---|---|---|")
    for name, values in models.items():
        whole, holes, disoccluded, gain, gain_proper = np.nanmean(values, axis=0)
        worst, worst_proper = np.nanmin(np.array(values)[:, 3:], axis=0)
        print(f"| {name} ({networks[name].hole_rule.name}) | {whole:.2f} dB | {holes:.2f} dB | {disoccluded:.2f} dB "
              f"| {gain:+.2f} ({worst:+.2f}) / {gain_proper:+.2f} ({worst_proper:+.2f}) dB |")


if __name__ == "__main__":
    main()
