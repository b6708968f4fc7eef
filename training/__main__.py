"""Command line: `python -m training train|evaluate|infill|export ...` (see README)."""
from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import fields
from pathlib import Path

import numpy as np

from stereo_geometry.arguments import field_of_view, fraction, nonzero_float, positive_float

from .config import RGB_MASK_ONLY, LossWeights, ModelConfig, TrainConfig, parse_data
from stereo_geometry.infill import SHIPPED_MODELS, default_model_name


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
        if f.name in ("data", "out", "model", "losses"):
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


def run_train(args: argparse.Namespace) -> int:
    from .train import train

    for entry in args.data:
        try:
            folder, _ = parse_data(entry)
        except ValueError as exc:
            return fail(str(exc))
        problem = data_problem(folder)
        if problem:
            return fail(problem)
    model = ModelConfig(width=args.width, levels=args.levels,
                        dilations=tuple(args.dilations), detail_channels=args.detail_channels,
                        ablate=args.ablate,
                        out_channels=3 if args.target == "rgb" else 1)
    losses = LossWeights(**{f.name: getattr(args, "w_" + f.name) for f in fields(LossWeights)})
    config = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)
                            if f.name not in ("model", "losses")}, model=model, losses=losses)
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


def fail(message: str) -> int:
    """Print one error line; the command's exit code (2)."""
    print(f"error: {message}", file=sys.stderr)
    return 2


def output_problem(path: str | None) -> str | None:
    """What stops writing a file at `path` (its folder made if missing), checked before the work."""
    if not path:
        return None
    target = Path(path)
    if target.is_dir():
        return f"{path}: is a folder"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"{path}: cannot create its folder ({exc.strerror})"
    return None


def data_problem(folder: str, split: str | None = None) -> str | None:
    """Why `folder` is not a data folder with samples (of `split`), or None."""
    from stereo_geometry.writer import read_manifests

    if not Path(folder).is_dir():
        return f"{folder}: no such folder"
    records = read_manifests(Path(folder))
    if split is not None:
        records = [r for r in records if r.get("split") == split]
    if not records:
        return f"{folder}: no samples{f' of split {split}' if split else ''} (no manifest*.jsonl lines)"
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

    methods, status = scored_methods(args, data_problem(args.data, args.split) or output_problem(args.json))
    if methods is None:
        return status
    results = evaluate(args.data, methods, args.limit, progress=not args.no_progress, split=args.split)
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

    worst = export_onnx(args.checkpoint, args.onnx)
    print(f"wrote {args.onnx}; max abs difference from PyTorch: {worst:.2e}")
    if args.weights:
        save_weights(args.checkpoint, args.weights)
        print(f"wrote {args.weights}")
    return 0 if worst < 1e-3 else 1


def add_infill_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("infill", help="turn one view into the other eye of a stereo pair")
    p.add_argument("--model", choices=sorted(SHIPPED_MODELS), default=default_model_name(),
                   help=f"which shipped model fills the holes (default {default_model_name()})")
    p.add_argument("--checkpoint", help=".pt checkpoint or exported .onnx; wins over --model")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--image", help="the source view (with --depth)")
    source.add_argument("--sequence", metavar="DIR",
                        help="a folder of frames: NNNN.png, NNNN_depth.npy (or .exr; metres), NNNN.json "
                             "({fx, fy, cx, cy, camera_to_world}: 4x4 row-major, OpenCV axes); writes "
                             "OUT/NNNN.png, filling each frame's holes first from the frames that saw them")
    p.add_argument("--depth", help="the source view's metric depth (npy, exr, pfm, 16-bit png)")
    p.add_argument("--out", required=True, help="the other eye's image (with --sequence: a folder)")
    p.add_argument("--baseline", type=nonzero_float, default=0.063,
                   help="metres to the other eye along the camera's x axis; negative: the left eye (default 0.063)")
    p.add_argument("--window", type=int, default=4,
                   help="--sequence: frames before and after each frame that fill its holes (default 4; 0: none)")
    p.add_argument("--no-progress", action="store_true", help="--sequence: no progress bar")
    p.add_argument("--carry", type=fraction, default=0.75,
                   help="--sequence: weight of the previous frame's fill, reprojected, where no frame saw a hole (default 0.75)")
    focal = p.add_mutually_exclusive_group()
    focal.add_argument("--focal", type=positive_float, help="focal length in pixels")
    focal.add_argument("--fov", type=field_of_view, default=60.0, help="horizontal field of view, degrees (default 60)")
    p.add_argument("--direction", choices=("left", "right"), default="right",
                   help="which eye to make: the input is the left view and the output the right "
                        "eye (default), or the other way round")
    p.add_argument("--overscan", type=int, default=0, metavar="PX",
                   help="the image and depth hold PX more columns than the frame, beyond its edge on the side "
                        "the other eye looks past (right for --direction right): a render with overscan; the "
                        "output is the frame, and --fov / --focal and the principal point are the frame's "
                        "(--sequence: each frame's JSON gives the wider frame's intrinsics)")
    p.add_argument("--depth-png-scale", type=positive_float, default=0.001, help="metres per unit of 16-bit PNG depth")
    p.add_argument("--depth-out", metavar="PATH.npy",
                   help="also write the other eye's planar depth (float32 metres), holes filled by the depth-infill model")
    p.add_argument("--depth-checkpoint", help="the depth-infill model (.onnx; default models/depth.onnx)")
    p.add_argument("--save-intermediates", action="store_true",
                   help="also write OUT_warped.png and OUT_hole_mask.png")


def run_sequence(args: argparse.Namespace, network, baseline: float) -> int:
    from stereo_geometry.sequence import fill_sequence

    if args.window < 0:
        return fail(f"--window must be 0 or more, got {args.window}")
    if not Path(args.sequence).is_dir():
        return fail(f"--sequence {args.sequence}: no such folder")
    try:
        problems, written = fill_sequence(args.sequence, args.out, network, baseline, args.window,
                                          args.carry, progress=not args.no_progress, overscan=args.overscan)
    except (OSError, ValueError) as exc:
        return fail(str(exc))
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    print(f"wrote {written} frames to {args.out}" + (f"; {len(problems)} could not be read" if problems else ""))
    return 1 if problems else 0


def run_infill(args: argparse.Namespace) -> int:
    import time

    import cv2

    from stereo_geometry import Intrinsics
    from stereo_geometry.infill import SHIPPED_DEPTH_MODEL, load_onnx_network, other_eye, overscan_side
    from stereo_geometry.readers import InputError, fill_invalid_depth, read_depth, read_image
    from stereo_geometry.writer import write_image, write_npy

    from . import load_network

    args.checkpoint = args.checkpoint or str(SHIPPED_MODELS[args.model])
    if not Path(args.checkpoint).is_file():
        return fail(f"no model at {args.checkpoint}; pass --checkpoint (a .pt or .onnx file)")
    baseline = args.baseline if args.direction == "right" else -args.baseline
    if args.overscan < 0:
        return fail(f"--overscan {args.overscan}: must be 0 or more")
    if args.sequence:
        try:
            return run_sequence(args, load_network(args.checkpoint), baseline)
        except ValueError as exc:
            return fail(str(exc))
    if not args.depth:
        return fail("--image needs --depth")
    if not cv2.haveImageWriter(str(args.out)):
        return fail(f"--out {args.out}: cannot write images of type '{Path(args.out).suffix}' (use .png, .jpg, .tif, ...)")
    problem = output_problem(args.out) or (output_problem(args.depth_out) if args.depth_out else None)
    if problem:
        return fail(problem)
    if args.depth_out and Path(args.depth_out).suffix != ".npy":
        return fail(f"--depth-out {args.depth_out}: the depth is written as .npy (float32 metres)")
    depth_model = args.depth_checkpoint or str(SHIPPED_DEPTH_MODEL)
    if args.depth_out and not Path(depth_model).is_file():
        return fail(f"no depth-infill model at {depth_model}; pass --depth-checkpoint (an .onnx file)")
    try:
        network = load_network(args.checkpoint)
        depth_network = load_onnx_network(depth_model, channels=1) if args.depth_out else None
    except ValueError as exc:
        return fail(str(exc))
    try:
        image = read_image(args.image)
        depth = read_depth(args.depth, args.depth_png_scale)
    except InputError as exc:
        return fail(str(exc))
    h, w = image.shape[:2]
    if depth.shape != (h, w):
        return fail(f"{args.depth} is {depth.shape[1]}x{depth.shape[0]}, the image {w}x{h}")
    valid = np.isfinite(depth) & (depth > 0)
    if not valid.any():
        return fail(f"{args.depth} has no valid depth")
    if args.overscan >= w:
        return fail(f"--overscan {args.overscan}: must be less than the image's width ({w})")
    frame = Intrinsics.from_fov(w - args.overscan, h, args.fov)
    if args.focal:
        frame = Intrinsics(args.focal, args.focal, frame.cx, frame.cy, frame.width, h)
    left_margin = args.overscan if overscan_side(baseline) == "left" else 0
    K = Intrinsics(frame.fx, frame.fy, frame.cx + left_margin, frame.cy, w, h)
    start = time.perf_counter()
    result = other_eye(image, fill_invalid_depth(depth, valid), K, baseline, network, depth_network,
                       overscan=args.overscan)
    out = Path(args.out)
    try:
        write_image(out, result.image)
        if args.depth_out:
            write_npy(args.depth_out, result.depth)
        if args.save_intermediates:
            write_image(out.with_name(out.stem + "_warped.png"), result.warped)
            write_image(out.with_name(out.stem + "_hole_mask.png"), result.hole_mask * 255)
    except (OSError, ValueError) as exc:
        return fail(str(exc))
    print(f"wrote {out} ({result.hole_mask.mean():.1%} holes filled, {time.perf_counter() - start:.2f} s)")
    return 0


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
    results, sections = benchmark_all(methods, args.real, args.synthetic)
    text = "\n\n".join(f"### {title}\n\n{format_table(table)}" for title, table in sections)
    print(text)
    try:
        if args.json:
            write_json(results, args.json)
        if args.markdown:
            write_text(args.markdown, text + "\n")
    except OSError as exc:
        return fail(str(exc))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    add_train_parser(sub)
    add_evaluate_parser(sub)
    add_export_parser(sub)
    add_infill_parser(sub)
    add_benchmark_parser(sub)
    args = parser.parse_args(argv)
    commands = {"train": run_train, "evaluate": run_evaluate, "export": run_export,
                "infill": run_infill, "benchmark": run_benchmark}
    return commands[args.command](args)


def exit_without_teardown(code: int) -> None:
    """End an `infill` process at once: its outputs are written, closed and renamed into place,
    and the interpreter's teardown (freeing numba's and ONNX Runtime's objects) takes about
    0.2 s, a fifth of a 1280x720 frame's whole process."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    code = main()
    if sys.argv[1:2] == ["infill"]:
        exit_without_teardown(code)
    sys.exit(code)
