"""Command line: `python -m training train|evaluate|infill|export ...` (see README)."""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path

import numpy as np

from .infill import DEFAULT_MODEL
from .losses import LossWeights
from .model import ModelConfig
from .train import RGB_MASK_ONLY, TrainConfig, train


def add_train_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a Gated-UNet on samples from datagen_bpy")
    p.add_argument("--data", required=True, nargs="+", metavar="DIR[:WEIGHT]",
                   help="folders made by python -m datagen_bpy (or datagen_bpy.real_data); each "
                        "step's samples are drawn from them in proportion to WEIGHT (default 1)")
    p.add_argument("--out", required=True, help="run folder (checkpoints, TensorBoard logs)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument("--no-progress", action="store_true")
    defaults = TrainConfig(data="", out="")
    for f in fields(TrainConfig):
        if f.name in ("data", "out", "model", "losses"):
            continue
        value = getattr(defaults, f.name)
        kwargs = {"choices": ("rgb", "depth")} if f.name == "target" else {}
        if f.name == "inputs":
            kwargs = {"choices": ("all", RGB_MASK_ONLY), "help": "rgb_mask: the RGB+mask ablation"}
        p.add_argument("--" + f.name.replace("_", "-"), type=type(value), default=value, **kwargs)
    for f in fields(ModelConfig):
        if f.name in ("in_channels", "out_channels"):
            continue
        value = getattr(ModelConfig(), f.name)
        if isinstance(value, tuple):
            p.add_argument("--" + f.name, type=int, nargs="+", default=list(value))
        else:
            help_text = {"detail_channels": "model: the first N input channels also enter at full "
                                            "detail, folded 4x4 (4: RGB + mask)",
                         "ablate": "model: keep the normals or the depth from the UNet (the first "
                                   "guess unchanged): the ablations"}.get(f.name, "model")
            kwargs = {"choices": ("", "normals", "depth")} if f.name == "ablate" else {}
            p.add_argument("--" + f.name.replace("_", "-"), type=type(value), default=value, help=help_text,
                           **kwargs)
    for f in fields(LossWeights):
        p.add_argument(f"--w-{f.name.replace('_', '-')}", type=float,
                       default=getattr(LossWeights(), f.name), help="loss weight")


def run_train(args: argparse.Namespace) -> int:
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


def run_evaluate(args: argparse.Namespace) -> int:
    from .baselines import all_methods
    from .evaluate import evaluate, format_table, write_json

    methods = all_methods(args.checkpoint, args.ablation)
    results = evaluate(args.data, methods, args.limit, progress=not args.no_progress, split=args.split)
    print(format_table(results))
    if args.json:
        write_json(results, args.json)
    return 0


def add_export_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a checkpoint to ONNX (checked against PyTorch)")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--onnx", required=True, help="output .onnx file")
    p.add_argument("--weights", help="also write the PyTorch weights here, without optimiser state "
                                     "(what ships, and what `train --init` starts from)")


def run_export(args: argparse.Namespace) -> int:
    from .export import export_onnx
    from .train import save_weights

    worst = export_onnx(args.checkpoint, args.onnx)
    print(f"wrote {args.onnx}; max abs difference from PyTorch: {worst:.2e}")
    if args.weights:
        save_weights(args.checkpoint, args.weights)
        print(f"wrote {args.weights}")
    return 0 if worst < 1e-3 else 1


def add_infill_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("infill", help="turn one view into the other eye of a stereo pair")
    p.add_argument("--checkpoint", default=str(DEFAULT_MODEL),
                   help=".pt checkpoint or exported .onnx (default: the shipped models/default.onnx)")
    p.add_argument("--image", required=True, help="the source view")
    p.add_argument("--depth", required=True, help="its metric depth (npy, exr, pfm, 16-bit png)")
    p.add_argument("--out", required=True, help="the other eye's image")
    p.add_argument("--baseline", type=float, default=0.063, help="metres (default 0.063)")
    focal = p.add_mutually_exclusive_group()
    focal.add_argument("--focal", type=float, help="focal length in pixels")
    focal.add_argument("--fov", type=float, default=60.0, help="horizontal field of view, degrees (default 60)")
    p.add_argument("--direction", choices=("left", "right"), default="right",
                   help="which eye to make: the input is the left view and the output the right "
                        "eye (default), or the other way round")
    p.add_argument("--depth-png-scale", type=float, default=0.001, help="metres per unit of 16-bit PNG depth")
    p.add_argument("--save-intermediates", action="store_true",
                   help="also write OUT_warped.png and OUT_hole_mask.png")


def run_infill(args: argparse.Namespace) -> int:
    import time

    import cv2

    from datagen_bpy.prepare import fill_invalid_depth
    from datagen_bpy.readers import InputError, read_depth, read_image
    from stereo_geometry import Intrinsics

    from .infill import load_network, other_eye

    if not Path(args.checkpoint).is_file():
        print(f"error: no model at {args.checkpoint}; pass --checkpoint (a .pt or .onnx file)", file=sys.stderr)
        return 2
    try:
        network = load_network(args.checkpoint)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        image = read_image(args.image)
        depth = read_depth(args.depth, args.depth_png_scale)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    h, w = image.shape[:2]
    if depth.shape != (h, w):
        print(f"error: {args.depth} is {depth.shape[1]}x{depth.shape[0]}, the image {w}x{h}", file=sys.stderr)
        return 2
    valid = np.isfinite(depth) & (depth > 0)
    if not valid.any():
        print(f"error: {args.depth} has no valid depth", file=sys.stderr)
        return 2
    K = Intrinsics.from_fov(w, h, args.fov)
    if args.focal:
        K = Intrinsics(args.focal, args.focal, K.cx, K.cy, w, h)
    baseline = args.baseline if args.direction == "right" else -args.baseline
    start = time.perf_counter()
    result = other_eye(image, fill_invalid_depth(depth, valid), K, baseline, network)
    out = Path(args.out)
    cv2.imwrite(str(out), result.image[..., ::-1])
    if args.save_intermediates:
        cv2.imwrite(str(out.with_name(out.stem + "_warped.png")), result.warped[..., ::-1])
        cv2.imwrite(str(out.with_name(out.stem + "_hole_mask.png")), result.hole_mask * 255)
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

    from .baselines import all_methods
    from .benchmark import benchmark_all
    from .evaluate import format_table, write_json

    if not (args.real or args.synthetic):
        print("error: pass --real and/or --synthetic", file=sys.stderr)
        return 2
    results, sections = benchmark_all(all_methods(args.checkpoint, args.ablation), args.real, args.synthetic)
    text = "\n\n".join(f"### {title}\n\n{format_table(table)}" for title, table in sections)
    print(text)
    if args.json:
        write_json(results, args.json)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")
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


if __name__ == "__main__":
    sys.exit(main())
