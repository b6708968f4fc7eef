"""Regenerate the quality tables in docs/benchmarks.md and the contact sheets in docs/examples/.

    python benchmarks/quality_report.py --model quality=models/quality.pt fast=models/fast.pt \
        [--real ../shared/data/realstereo] [--val data/real/disocclusions] [--synthetic data/heldout]

Every method (the named models, the first guess alone, Telea, Navier-Stokes, the background
fill) on three sets: the real-stereo evaluation scenes (per scene), the validation scenes of
the real training data (`datagen_bpy.real_data`'s disocclusions, split `val`, per scene) and
the synthetic held-out set. Columns: hole PSNR, SSIM, L1, gradient error and the
foreground bleed, and the hole PSNR apart in the disocclusions proper and in the strip past
the frame's edges (`training.metrics.past_the_edges`). Written between the markers of
docs/benchmarks.md, a summary table (mean hole PSNR in all three regions, SSIM and bleed per
set) between those of README.md, and docs/quality.json; one
contact sheet per real scene, per validation scene (left-to-right, full size) and for the
first synthetic samples.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from stereo_geometry.stereo_pairs import find_scenes, load_scene  # noqa: E402
from stereo_geometry.writer import read_manifests, write_image, write_text  # noqa: E402
from training.baselines import classical_methods, methods_hole_rule, network_fill  # noqa: E402
from training.benchmark import benchmark_scenes, scene_sample  # noqa: E402
from training.evaluate import evaluate, format_table, mean_over_scenes  # noqa: E402
from training.metrics import psnr  # noqa: E402

START, END = "<!-- quality:start -->", "<!-- quality:end -->"
SUMMARY_START, SUMMARY_END = "<!-- quality-summary:start -->", "<!-- quality-summary:end -->"
COLUMNS = ("hole_psnr", "proper_psnr", "strip_psnr", "hole_ssim", "hole_l1", "hole_grad", "bleed")
TILE_WIDTH = 360


def labelled(image: np.ndarray, text: str) -> np.ndarray:
    """An RGB uint8 tile with a caption strip below."""
    import cv2

    strip = np.full((18, image.shape[1], 3), 255, np.uint8)
    cv2.putText(strip, text, (3, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([image, strip], 0)


def contact_sheet(sample: dict, target: np.ndarray, scored: np.ndarray, methods: dict, path: Path) -> None:
    """Warped input (holes in magenta), hole mask, each method's fill with its hole PSNR and
    the truth, tiles at most TILE_WIDTH wide, as a JPEG (small enough to keep in the repository)."""
    import cv2

    hole = sample["hole_mask"].astype(bool)
    warped = sample["image_generated_left"].copy()
    warped[hole] = (255, 0, 255)
    images = [(warped, "warped input"),
              (np.repeat(hole[..., None] * 255, 3, -1).astype(np.uint8), f"holes {hole.mean():.1%}")]
    for name, method in methods.items():
        out = method(sample)
        images.append(((out * 255).round().astype(np.uint8), f"{name} {psnr(out, target / 255.0, scored):.2f} dB"))
    images.append((target, "ground truth"))
    h, w = target.shape[:2]
    size = (min(w, TILE_WIDTH), round(h * min(w, TILE_WIDTH) / w))
    tiles = [labelled(cv2.resize(image, size, interpolation=cv2.INTER_AREA), text) for image, text in images]
    columns = 4
    while len(tiles) % columns:
        tiles.append(np.full_like(tiles[0], 255))
    rows = [np.concatenate(tiles[i:i + columns], 1) for i in range(0, len(tiles), columns)]
    write_image(path, np.concatenate(rows, 0))


def summary_table(results: dict[str, dict[str, dict[str, float]]]) -> str:
    """Methods x sets: mean hole PSNR in all holes / the disocclusions proper / the strip past
    the frame's edges, SSIM and bleed."""
    sets = list(results)
    lines = ["| method | " + " | ".join(f"{s}: PSNR dB all / proper / strip, SSIM, bleed" for s in sets) + " |",
             "|---" * (len(sets) + 1) + "|"]

    def known(value: float, form: str) -> str:
        return "n/a" if math.isnan(value) else format(value, form)
    for method in next(iter(results.values())):
        cells = []
        for s in sets:
            m = results[s][method]
            cells.append(f"{m['hole_psnr']:.2f} / {known(m['proper_psnr'], '.2f')} / {known(m['strip_psnr'], '.2f')}, "
                         f"{m['hole_ssim']:.3f}, {known(m['bleed'], '.1%')}")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def between(doc: str, start: str, end: str, text: str, heading: str) -> str:
    block = f"{start}\n\n{text}\n\n{end}"
    if start in doc:
        return doc[:doc.index(start)] + block + doc[doc.index(end) + len(end):]
    return doc + f"\n{heading}\n\n{block}\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", nargs="*", default=[], metavar="NAME=CHECKPOINT",
                        help="trained networks (.pt), shown under NAME")
    parser.add_argument("--real", default=str(REPO.parent / "shared" / "data" / "realstereo"))
    parser.add_argument("--val", help="real training data with a val split (datagen_bpy.real_data disocclusions)")
    parser.add_argument("--synthetic", help="synthetic held-out data folder")
    parser.add_argument("--examples", type=int, default=3, help="synthetic contact sheets")
    args = parser.parse_args()
    methods = {}
    for entry in args.model:
        name, _, checkpoint = entry.partition("=")
        methods[name] = network_fill(checkpoint)
    methods |= classical_methods()
    examples = REPO / "docs" / "examples"
    sections, means, results = [], {}, {}

    if Path(args.real).is_dir():
        real = benchmark_scenes(Path(args.real), methods)
        results["real"] = real
        means["real stereo (evaluation scenes)"] = real["overall"]
        sections += [(f"Real stereo: {scene}", table) for scene, table in real.items()]
        rule = methods_hole_rule(methods)
        for folder in find_scenes(Path(args.real)):
            scene = load_scene(folder)
            sample, scored = scene_sample(scene, rule)
            contact_sheet(sample, scene.right, scored, methods, examples / f"real_{scene.name}.jpg")
    if args.val:
        records = [r for r in read_manifests(Path(args.val)) if r.get("split") == "val"]
        per_scene = {source: evaluate(args.val, methods, progress=False, split="val", source=source)
                     for source in sorted({r["source"] for r in records})}
        per_scene["overall"] = mean_over_scenes(per_scene)
        results["val"] = per_scene
        means["validation scenes of train/"] = per_scene["overall"]
        sections += [(f"Validation scene of train/: {scene}", table) for scene, table in per_scene.items()]
        for record in records:
            if record.get("source_eye") == "left" and record.get("scale") == 1.0:
                with np.load(Path(args.val) / record["file"]) as s:
                    sample = {k: s[k] for k in s.files if k != "meta"}
                scored = sample["hole_mask"].astype(bool) & sample["loss_mask"].astype(bool)
                contact_sheet(sample, sample["org_left_image"], scored, methods, examples / f"val_{record['source']}.jpg")
    if args.synthetic:
        synthetic = evaluate(args.synthetic, methods, progress=False)
        results["synthetic"] = synthetic
        means["synthetic held-out"] = synthetic
        sections.append(("Synthetic held-out set", synthetic))
        for record in read_manifests(Path(args.synthetic))[:args.examples]:
            with np.load(Path(args.synthetic) / record["file"]) as s:
                sample = {k: s[k] for k in s.files if k != "meta"}
            contact_sheet(sample, sample["org_left_image"], sample["hole_mask"].astype(bool), methods,
                          examples / f"synthetic_{record['name']}.jpg")

    write_text(REPO / "docs" / "quality.json", json.dumps(results, indent=2, sort_keys=True, default=str))
    command = "python benchmarks/quality_report.py " + " ".join(sys.argv[1:])
    summary = (f"Mean hole PSNR (all holes / the disocclusions proper / the strip past the frame's edges, which "
               f"no view recorded), SSIM and foreground bleed, from `{command}`:\n\n" + summary_table(means))
    tables = (f"Generated by `{command}`.\n\n" + summary_table(means) + "\n\n"
              + "\n\n".join(f"#### {title}\n\n{format_table(table, COLUMNS)}" for title, table in sections))
    bench = REPO / "docs" / "benchmarks.md"
    write_text(bench, between(bench.read_text(), START, END, tables,
                              "## Quality: every method on real and synthetic holes"))
    readme = REPO / "README.md"
    write_text(readme, between(readme.read_text(), SUMMARY_START, SUMMARY_END, summary, "## Quality"))
    print(summary)


if __name__ == "__main__":
    main()
