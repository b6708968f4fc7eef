"""The other eye's depth in the holes: the depth-infill network against classical depth fills.

    python benchmarks/depth_quality.py [--model models/depth.onnx]
        [--data data/proc_heldout data/real/rendered:val]

For each sample of each data folder (`FOLDER:val` keeps its validation records only), the
warped depth with its holes is filled by:
- network: the depth-infill model (`stereo_geometry.infill.fill_depth`);
- far side: each hole pixel takes the farther of the nearest known depths left and right on
  its row (`stereo_geometry.sequence.far_side_depth`; a disocclusion shows what lies behind);
- nearest: each hole pixel takes its nearest known pixel's depth (`readers.fill_invalid_depth`).
Scored inside the holes where the true depth is known: mean absolute relative error
|d - d*| / d*, RMSE of inverse depth (1/m), and the share of pixels within 5 % (delta < 1.05).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from stereo_geometry import network_input  # noqa: E402
from stereo_geometry.infill import SHIPPED_DEPTH_MODEL, fill_depth, load_onnx_network  # noqa: E402
from stereo_geometry.readers import fill_invalid_depth  # noqa: E402
from stereo_geometry.sequence import far_side_depth  # noqa: E402
from stereo_geometry.writer import read_manifests  # noqa: E402


def scores(filled: np.ndarray, truth: np.ndarray, region: np.ndarray) -> dict[str, float]:
    d, t = filled[region].astype(np.float64), truth[region].astype(np.float64)
    ratio = np.maximum(d / t, t / d)
    return {"abs_rel": float(np.mean(np.abs(d - t) / t)),
            "inv_rmse": float(np.sqrt(np.mean((1 / d - 1 / t) ** 2))),
            "delta_1.05": float(np.mean(ratio < 1.05))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(SHIPPED_DEPTH_MODEL))
    parser.add_argument("--data", nargs="+", default=["data/proc_heldout", "data/real/rendered:val"])
    args = parser.parse_args()
    network = load_onnx_network(args.model, channels=1)
    print("| data | samples | method | abs rel | inverse-depth RMSE (1/m) | within 5 % |")
    print("|---|---|---|---|---|---|")
    for entry in args.data:
        folder, _, split = entry.partition(":")
        records = [r for r in read_manifests(Path(folder)) if not split or r.get("split") == split]
        results: dict[str, list[dict[str, float]]] = {"network": [], "far side": [], "nearest": []}
        for record in records:
            with np.load(Path(folder) / record["file"], allow_pickle=False) as s:
                sample = {k: s[k] for k in s.files if k != "meta"}
            hole = sample["hole_mask"].astype(bool)
            truth = sample["org_left_depth"]
            region = hole & (truth > 0) & np.isfinite(truth)
            if "loss_mask" in sample:
                region &= sample["loss_mask"].astype(bool)
            known = ~hole & (sample["depth_masked"] > 0)
            if region.sum() < 10 or not known.any():
                continue
            inputs = {k: sample[k] for k in ("image_generated_left", "hole_mask", "normals_left_masked",
                                             "depth_masked")}
            x = network_input(**inputs)[None]
            results["network"].append(scores(fill_depth(network, x, inputs), truth, region))
            results["far side"].append(scores(far_side_depth(sample["depth_masked"], ~known), truth, region))
            results["nearest"].append(scores(fill_invalid_depth(sample["depth_masked"], known), truth, region))
        for method, rows in results.items():
            mean = {k: np.mean([r[k] for r in rows]) for k in rows[0]} if rows else {}
            if mean:
                print(f"| {entry} | {len(rows)} | {method} | {mean['abs_rel']:.4f} | {mean['inv_rmse']:.4f} | "
                      f"{mean['delta_1.05']:.1%} |")


if __name__ == "__main__":
    main()
