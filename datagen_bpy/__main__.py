"""Command line: `python -m datagen_bpy --procedural 8 --out samples/` (see README)."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from stereo_geometry.arguments import add_hole_rule_option, field_of_view, fraction, positive_float, resolution
from stereo_geometry.readers import DEFAULT_PNG_DEPTH_SCALE
from .prepare import DEFAULT_MAX_DEPTH, DEFAULT_MIN_VALID


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m datagen_bpy",
        description="Make stereo-disocclusion training samples with headless Blender.")
    src = p.add_argument_group("inputs (give --procedural, --lit or --scenes, or --images with --depth-dir "
                               "and/or --depth-model)")
    src.add_argument("--images", type=Path, help="folder of photos (searched recursively)")
    src.add_argument("--depth-dir", type=Path,
                     help="folder of metric depth maps beside the photos (same relative path and stem)")
    src.add_argument("--depth-model", choices=("da3", "unik3d"),
                     help="estimate metric depth for photos without a depth map (optional extra)")
    src.add_argument("--depth-model-path", type=Path,
                     help="local folder with the --depth-model weights (never downloaded)")
    src.add_argument("--procedural", type=int, default=0, metavar="N",
                     help="make N random Blender scenes (textured with --images photos if given)")
    src.add_argument("--lit", type=int, default=0, metavar="N",
                     help="make N random lit, layered Blender scenes, both eyes rendered (the target is "
                          "the other eye's true render; textured with --images photos if given)")
    src.add_argument("--scenes", type=Path, metavar="DIR",
                     help="folder of 3D scene folders (glTF, e.g. ../shared/data/train/scenes): each lit "
                          "and rendered for both eyes from --count random cameras")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--count", type=int, default=1, help="samples per photo or scene (default 1)")
    p.add_argument("--resolution", type=resolution, default=(512, 384), metavar="WxH",
                   help="sample size; photos are scaled (aspect kept) and centre-cropped (default 512x384)")
    p.add_argument("--baseline", default="0.063,0.0315:0.035",
                   help="metres; comma-separated values or low:high ranges, one picked per sample "
                        "(default 0.063,0.0315:0.035: eye-to-eye or centre-to-eye)")
    p.add_argument("--swap-prob", type=fraction, default=0.5,
                   help="probability that the other eye is on the left (default 0.5)")
    p.add_argument("--toe-in-prob", type=fraction, default=0.0,
                   help="probability of a converged (toed-in) other eye (default 0)")
    add_hole_rule_option(p)
    p.add_argument("--fov", type=field_of_view, default=60.0,
                   help="horizontal field of view in degrees for photos without intrinsics (default 60)")
    p.add_argument("--depth-png-scale", type=positive_float, default=DEFAULT_PNG_DEPTH_SCALE,
                   help=f"metres per unit of 16-bit depth PNGs (default {DEFAULT_PNG_DEPTH_SCALE:g}: millimetres)")
    p.add_argument("--max-depth", type=positive_float, default=DEFAULT_MAX_DEPTH,
                   help=f"clamp depth beyond this (metres, default {DEFAULT_MAX_DEPTH:g})")
    p.add_argument("--min-valid-depth", type=fraction, default=DEFAULT_MIN_VALID,
                   help=f"refuse depth maps with a smaller valid fraction (default {DEFAULT_MIN_VALID:g})")
    p.add_argument("--seed", type=int, default=0, help="run seed (default 0)")
    p.add_argument("--workers", type=int, default=1, help="Blender processes (default 1)")
    p.add_argument("--shard", default="0/1", metavar="i/N",
                   help="make only the i-th of N parts of the input list (e.g. a SLURM array task)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def data_folder_problem(out: Path) -> str | None:
    """What in an existing output folder stands where a data folder's parts go, or None."""
    if (out / "samples").exists() and not (out / "samples").is_dir():
        return f"{out / 'samples'} is a file, where the samples folder goes"
    for manifest in out.glob("manifest*.jsonl"):
        if manifest.is_dir():
            return f"{manifest} is a folder, where a manifest file goes"
    return None


def main(argv: list[str] | None = None) -> int:
    from .runner import Options, run
    from .sources import BaselineSpec, find_images, make_tasks, parse_shard, shard

    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    try:
        baseline = BaselineSpec.parse(args.baseline)
        shard_index, shard_total = parse_shard(args.shard)
    except ValueError as exc:
        parser.error(str(exc))
    if args.procedural < 0 or args.lit < 0 or args.count < 1 or args.workers < 1:
        parser.error("--procedural and --lit must be >= 0, --count and --workers >= 1")
    if args.scenes is not None and not args.scenes.is_dir():
        parser.error(f"--scenes {args.scenes}: not a folder")
    scenes = args.procedural + args.lit + (args.scenes is not None)
    if args.images is not None and not args.images.is_dir():
        parser.error(f"--images {args.images}: not a folder")
    if not scenes:
        if args.images is None:
            parser.error("nothing to do: pass --procedural N, --lit N, --scenes DIR, or --images DIR "
                         "with --depth-dir DIR or --depth-model")
        if args.depth_model is not None or args.depth_dir is None:
            from .depth_models import DEFAULT_DA3_REPO, DepthModelError, check_depth_model, hub_da3_weights

            try:
                if args.depth_model is None:  # photos alone: Depth Anything 3 from the hub's cache
                    print(f"no --depth-dir: estimating depth with Depth Anything 3 ({DEFAULT_DA3_REPO})",
                          file=sys.stderr)
                    args.depth_model, args.depth_model_path = "da3", hub_da3_weights()
                check_depth_model(args.depth_model, args.depth_model_path)
            except DepthModelError as exc:
                parser.exit(2, f"error: {exc}\n")
    if args.depth_dir is not None and not args.depth_dir.is_dir():
        parser.error(f"--depth-dir {args.depth_dir}: not a folder")
    from stereo_geometry.writer import writable_folder

    problem = writable_folder(args.out) or data_folder_problem(args.out)
    if problem:
        parser.exit(2, f"error: --out {args.out}: {problem}\n")

    photos = tuple(find_images(args.images)) if (scenes and args.images) else ()
    options = Options(out=args.out, width=args.resolution[0], height=args.resolution[1],
                      baseline=baseline, swap_prob=args.swap_prob, toe_in_prob=args.toe_in_prob,
                      hole_rule=args.hole_rule, fov_deg=args.fov,
                      png_depth_scale=args.depth_png_scale, max_depth=args.max_depth,
                      min_valid=args.min_valid_depth, photos=photos, depth_model=args.depth_model,
                      depth_model_path=args.depth_model_path)
    tasks = make_tasks(args.seed, args.count, None if scenes else args.images,
                       args.depth_dir, args.procedural, args.lit, args.scenes)
    suffix = "" if shard_total == 1 else f".shard{shard_index}of{shard_total}"
    tasks = shard(tasks, shard_index, shard_total)
    result = run(tasks, options, args.workers, f"manifest{suffix}.jsonl", f"failures{suffix}.jsonl",
                 progress=not args.no_progress)
    print(f"{result.made} made, {result.skipped} already there, {len(result.failures)} failed "
          f"-> {args.out}", file=sys.stderr)
    if result.stopped:
        print(f"error: the job stopped: {result.fatal}; finished samples are whole, re-run to resume",
              file=sys.stderr)
    return 1 if result.failures or result.stopped else 0


if __name__ == "__main__":
    sys.exit(main())
