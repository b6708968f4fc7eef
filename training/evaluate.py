"""`python -m training evaluate`: every method on every sample of a data folder, one table."""
from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path

import numpy as np

from .baselines import Method
from stereo_geometry.writer import read_manifests, read_sample
from .metrics import hole_and_ring_metrics

log = logging.getLogger(__name__)

COLUMNS = ("hole_psnr", "proper_psnr", "strip_psnr", "hole_ssim", "hole_l1", "hole_grad", "bleed", "ring_grad")
# ring_psnr is left out: outside the hole every method returns the warped input, which on
# synthetic samples is the target exactly (inf); ring_grad shows the seams


def evaluate(data: str | Path, methods: dict[str, Method], limit: int | None = None,
             progress: bool = True, split: str | None = None,
             source: str | None = None) -> dict[str, dict[str, float]]:
    """Mean of each metric over the samples (with holes) of `data` (only those of `split`
    and of `source`, if given), per method, plus 'seconds' (mean time per sample). Scored
    inside the hole, where the sample's `loss_mask` (if any) says the target is known. A
    sample file that cannot be read is named in a warning and left out."""
    from tqdm import tqdm

    records = read_manifests(Path(data))
    if split is not None:
        records = [r for r in records if r.get("split") == split]
    if source is not None:
        records = [r for r in records if r.get("source") == source]
    records = records[:limit]
    sums: dict[str, dict[str, list[float]]] = {name: {} for name in methods}
    for record in tqdm(records, disable=not progress, unit="sample"):
        try:
            sample = read_sample(Path(data) / record["file"])
        except ValueError as exc:
            log.warning("skipped: %s", exc)
            continue
        hole = sample["hole_mask"].astype(bool)
        if "loss_mask" in sample:
            hole &= sample["loss_mask"].astype(bool)
        if not hole.any():
            continue
        target = sample["org_left_image"].astype(np.float32) / 255.0
        for name, method in methods.items():
            start = time.perf_counter()
            output = method(sample)
            seconds = time.perf_counter() - start
            for key, value in (hole_and_ring_metrics(output, target, hole, sample) | {"seconds": seconds}).items():
                sums[name].setdefault(key, []).append(value)
    return {name: {k: mean_of_known(v) for k, v in values.items()} for name, values in sums.items()}


def mean_of_known(values: list[float]) -> float:
    """Mean over the values that are not NaN (a sample without a depth edge has no bleed)."""
    known = [v for v in values if not math.isnan(v)]
    return float(np.mean(known)) if known else math.nan


def mean_over_scenes(per_scene: dict[str, dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """{method: metrics} averaged over the scenes of {scene: {method: metrics}} (an
    'overall' entry, if there is one, left out)."""
    scenes = [table for name, table in per_scene.items() if name != "overall"]
    return {method: {k: mean_of_known([t[method][k] for t in scenes]) for k in scenes[0][method]}
            for method in scenes[0]}


def format_table(results: dict[str, dict[str, float]], columns: tuple[str, ...] = COLUMNS) -> str:
    """A Markdown table: one row per method, one column per metric."""
    lines = ["| method | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for name, values in results.items():
        cells = []
        for c in columns:
            v = values.get(c, math.nan)
            cells.append("inf" if math.isinf(v) else f"{v:.4f}" if abs(v) < 1 else f"{v:.2f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_json(results: dict, path: str | Path) -> None:
    """Write results as JSON, atomically (OSError naming the path)."""
    from stereo_geometry.writer import write_text

    write_text(path, json.dumps(results, indent=2, sort_keys=True))
