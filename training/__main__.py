"""Command line: `python -m training train|evaluate|infill|export ...` (see README)."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import fields
from pathlib import Path

from stereo_geometry.cli import add_infill_arguments, exit_without_teardown, fail, output_problem
from stereo_geometry.cli import run as run_image_or_sequence

from .config import RGB_MASK_ONLY, LossWeights, ModelConfig, TrainConfig, parse_data


TRAIN_HELP = {
    "target": "what the network fills: the image (rgb) or normalised inverse depth (depth)",
    "inputs": "all, or rgb_mask: the RGB+mask ablation (normals and depth zeroed, also in the first guess)",
    "steps": "optimiser steps in all (the learning-rate schedule spans them)",
    "batch_size": "crops per step", "crop": "crop side in pixels (less where samples are smaller)",
    "lr": "peak learning rate (AdamW)", "weight_decay": "AdamW weight decay",
    "warmup": "steps of linear warm-up", "grad_clip": "gradient norm clipping",
    "val_fraction": "share of source images held out for validation (data without a fixed split)",
    "val_every": "validate every N steps", "checkpoint_every": "write OUT/last.pt every N steps",
    "image_every": "TensorBoard image grid every N steps", "seed": "run seed (batches, crops, flips)",
    "colour_augment": "chance per crop (RGB targets) of a random RGB channel order and brightness x0.8-1.2, input and target alike",
    "border_strip": "chance per crop of cutting a strip beyond the field of view at its edge (the target: the photograph the crop cut off)",
    "loader_workers": "data-loading processes", "init": "start from these weights (.pt); layers that do not fit start fresh",
    "max_bad_steps": "stop after this many non-finite losses in a row",
    "width": "model: channels at quarter resolution (multiples of 8 run fastest)",
    "test_time_flips": "model, at inference: average the fills of 1, 2 (+ upside down) or 4 (+ mirrored) copies of the input",
    "levels": "model: UNet levels", "dilations": "model: dilations of the bottleneck's gated convolutions",
    "detail_channels": "model: the first N input channels also enter at full detail, folded 4x4 (4: RGB + mask)",
    "ablate": "model: keep the normals or the depth from the UNet, the first guess unchanged (the ablations)",
}


def add_train_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a Gated-UNet on samples from datagen_bpy",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", required=True, nargs="+", metavar="DIR[:WEIGHT]",
                   help="folders made by python -m datagen_bpy (or datagen_bpy.real_data); each "
                        "step's samples are drawn from them in proportion to WEIGHT (default 1)")
    p.add_argument("--out", required=True, help="run folder (checkpoints, TensorBoard logs)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    defaults = TrainConfig(data="", out="")
    for f in fields(TrainConfig):
        if f.name in ("data", "out", "model", "losses", "hole_rule"):  # the rule is the data's
            continue
        value = getattr(defaults, f.name)
        kwargs = {"choices": ("rgb", "depth")} if f.name == "target" else {}
        if f.name == "inputs":
            kwargs = {"choices": ("all", RGB_MASK_ONLY)}
        p.add_argument("--" + f.name.replace("_", "-"), type=type(value), default=value,
                       help=TRAIN_HELP[f.name], **kwargs)
    for f in fields(ModelConfig):
        if f.name in ("in_channels", "out_channels"):
            continue
        value = getattr(ModelConfig(), f.name)
        if isinstance(value, tuple):
            p.add_argument("--" + f.name, type=int, nargs="+", default=list(value), help=TRAIN_HELP[f.name])
        else:
            kwargs = {"choices": ("", "normals", "depth")} if f.name == "ablate" else {}
            p.add_argument("--" + f.name.replace("_", "-"), type=type(value), default=value,
                           help=TRAIN_HELP[f.name], **kwargs)
    for f in fields(LossWeights):
        p.add_argument(f"--w-{f.name.replace('_', '-')}", type=float,
                       default=getattr(LossWeights(), f.name), help=f"loss weight of {f.name.replace('_', ' ')}")


def settings_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the numbers of a `train` command line, or None."""
    for flag, value in (("--steps", args.steps), ("--batch-size", args.batch_size), ("--crop", args.crop),
                        ("--val-every", args.val_every), ("--checkpoint-every", args.checkpoint_every),
                        ("--image-every", args.image_every)):
        if value < 1:
            return f"{flag} must be 1 or more, got {value}"
    if not 0 <= args.val_fraction < 1:
        return f"--val-fraction must lie in [0, 1), got {args.val_fraction}"
    if not args.lr > 0:
        return f"--lr must be positive, got {args.lr}"
    return None


def run_train(args: argparse.Namespace) -> int:
    from .checkpoint import read_checkpoint
    from .dataset import split_by_source
    from stereo_geometry.writer import read_manifests, writable_folder

    from .train import train

    problem = settings_problem(args)
    if problem:
        return fail(problem)
    for entry in args.data:
        try:
            folder, _ = parse_data(entry)
            problem = data_problem(folder)
            if not problem:
                split_by_source(read_manifests(Path(folder)), args.val_fraction)
        except ValueError as exc:
            return fail(f"{entry}: {exc}")
        if problem:
            return fail(problem)
    problem = writable_folder(Path(args.out))
    if problem:
        return fail(f"--out {args.out}: {problem}")
    checked = [args.init] if args.init and not args.resume else []
    if args.resume and (Path(args.out) / "last.pt").exists():
        checked.append(str(Path(args.out) / "last.pt"))
    for path in checked:
        try:
            read_checkpoint(path)
        except ValueError as exc:
            return fail(str(exc) + (" (--resume: move it aside to start afresh)" if path.endswith("last.pt") else ""))
    model = ModelConfig(**{f.name: getattr(args, f.name) for f in fields(ModelConfig)
                           if f.name not in ("in_channels", "out_channels", "dilations")},
                        dilations=tuple(args.dilations), out_channels=3 if args.target == "rgb" else 1)
    losses = LossWeights(**{f.name: getattr(args, "w_" + f.name) for f in fields(LossWeights)})
    config = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)
                            if f.name not in ("model", "losses", "hole_rule")}, model=model, losses=losses)
    metrics = train(config, resume=args.resume, progress=not args.no_progress)
    print(json.dumps(metrics))
    return 0


def add_evaluate_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="compare the network with the baselines on a data folder")
    p.add_argument("--checkpoint", required=True, help="trained network (best.pt or last.pt)")
    p.add_argument("--ablation", help="checkpoint of the RGB+mask-only network, added as a row")
    p.add_argument("--data", required=True, help="folder made by python -m datagen_bpy")
    p.add_argument("--json", help="write the table as JSON here")
    p.add_argument("--limit", type=int, help="only the first N samples")
    p.add_argument("--split", choices=("train", "val"),
                   help="only the samples of this split (data with a fixed split, e.g. datagen_bpy.real_data)")
    p.add_argument("--no-progress", action="store_true")


def data_problem(folder: str, split: str | None = None) -> str | None:
    """Why `folder` is not a data folder with samples (of `split`), or None."""
    from stereo_geometry.writer import read_manifests

    if not Path(folder).is_dir():
        return f"{folder}: no such folder"
    records = read_manifests(Path(folder))
    if not records:
        return f"{folder}: no samples (no manifest*.jsonl lines)"
    if split is not None:
        if not any("split" in r for r in records):
            return f"{folder}: no record has a split (its maker fixed none); drop --split"
        if not any(r.get("split") == split for r in records):
            return f"{folder}: no samples of split {split}"
    return None


def scored_methods(args: argparse.Namespace, problem: str | None) -> tuple[list | None, int]:
    """(the methods `evaluate` and `benchmark` score: network, ablation, baselines; 0), or
    (None, the exit status) after reporting `problem` or a model that cannot be loaded."""
    from .baselines import all_methods

    if problem:
        return None, fail(problem)
    try:
        return all_methods(args.checkpoint, args.ablation), 0
    except ValueError as exc:
        return None, fail(str(exc))


def run_evaluate(args: argparse.Namespace) -> int:
    from .evaluate import evaluate, format_table, write_json

    if args.limit is not None and args.limit < 1:
        return fail(f"--limit must be 1 or more, got {args.limit}")
    methods, status = scored_methods(args, data_problem(args.data, args.split) or output_problem(args.json))
    if methods is None:
        return status
    results = evaluate(args.data, methods, args.limit, progress=not args.no_progress, split=args.split)
    if not any(results.values()):
        return fail(f"{args.data}: nothing scored (no sample read has holes where its target is known)")
    print(format_table(results))
    if args.json:
        try:
            write_json(results, args.json)
        except OSError as exc:
            return fail(str(exc))
    return 0


def add_export_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a checkpoint to ONNX (checked against PyTorch)")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--onnx", required=True, help="output .onnx file")
    p.add_argument("--weights", help="also write the PyTorch weights here, without optimiser state "
                                     "(what ships, and what `train --init` starts from)")


def run_export(args: argparse.Namespace) -> int:
    from .export import export_onnx
    from .checkpoint import save_weights

    problem = output_problem(args.onnx) or output_problem(args.weights)
    if problem:
        return fail(problem)
    try:
        worst = export_onnx(args.checkpoint, args.onnx)
        print(f"wrote {args.onnx}; max abs difference from PyTorch: {worst:.2e}")
        if args.weights:
            save_weights(args.checkpoint, args.weights)
            print(f"wrote {args.weights}")
    except (ValueError, OSError) as exc:
        return fail(str(exc))
    return 0 if worst < 1e-3 else 1


def add_infill_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("infill", help="turn one view into the other eye of a stereo pair (as disocclusion-infill, "
                                      "and with .pt checkpoints)")
    add_infill_arguments(p)


def run_infill(args: argparse.Namespace) -> int:
    from . import load_network

    return run_image_or_sequence(args, load_network)


def add_benchmark_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("benchmark", help="real-stereo (and synthetic held-out) benchmark, all methods")
    p.add_argument("--real", help="folder of stereo scenes (scene.json, left, right, disparity)")
    p.add_argument("--synthetic", help="held-out data folder made by python -m datagen_bpy")
    p.add_argument("--checkpoint", help="the network (.pt); without it only the baselines run")
    p.add_argument("--ablation", help="the RGB+mask-only network (.pt)")
    p.add_argument("--json", help="write all results here")
    p.add_argument("--markdown", help="write the tables here")


def run_benchmark(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .benchmark import benchmark_all
    from .evaluate import format_table, write_json

    from stereo_geometry.stereo_pairs import find_scenes
    from stereo_geometry.writer import write_text

    if not (args.real or args.synthetic):
        return fail("pass --real and/or --synthetic")
    if args.real and not find_scenes(Path(args.real)):
        return fail(f"{args.real}: no stereo scenes (sub-folders with scene.json)")
    methods, status = scored_methods(args, (data_problem(args.synthetic) if args.synthetic else None)
                                     or output_problem(args.json) or output_problem(args.markdown))
    if methods is None:
        return status
    from .baselines import methods_hole_rule
    try:
        methods_hole_rule(methods)
    except ValueError as exc:
        return fail(str(exc))
    problems: list[str] = []
    results, sections = benchmark_all(methods, args.real, args.synthetic, problems)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    text = "\n\n".join(f"### {title}\n\n{format_table(table)}" for title, table in sections)
    print(text)
    try:
        if args.json:
            write_json(results, args.json)
        if args.markdown:
            write_text(args.markdown, text + "\n")
    except OSError as exc:
        return fail(str(exc))
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    add_train_parser(sub)
    add_evaluate_parser(sub)
    add_export_parser(sub)
    add_infill_parser(sub)
    add_benchmark_parser(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    commands = {"train": run_train, "evaluate": run_evaluate, "export": run_export,
                "infill": run_infill, "benchmark": run_benchmark}
    return commands[args.command](args)


if __name__ == "__main__":
    code = main()
    if sys.argv[1:2] == ["infill"]:
        exit_without_teardown(code)
    sys.exit(code)
