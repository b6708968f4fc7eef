"""Command line: `python -m training train|evaluate|infill|export ...` (see README)."""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields

from .losses import LossWeights
from .model import ModelConfig
from .train import RGB_MASK_ONLY, TrainConfig, train


def add_train_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a Gated-UNet on samples from datagen_bpy")
    p.add_argument("--data", required=True, help="folder made by python -m datagen_bpy")
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
            p.add_argument("--" + f.name, type=type(value), default=value, help="model")
    for f in fields(LossWeights):
        p.add_argument(f"--w-{f.name.replace('_', '-')}", type=float,
                       default=getattr(LossWeights(), f.name), help="loss weight")


def run_train(args: argparse.Namespace) -> int:
    model = ModelConfig(width=args.width, unshuffle=args.unshuffle, levels=args.levels,
                        dilations=tuple(args.dilations),
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
    p.add_argument("--no-progress", action="store_true")


def run_evaluate(args: argparse.Namespace) -> int:
    from .baselines import classical_methods, network_fill
    from .evaluate import evaluate, format_table, write_json

    methods = {"gated_unet": network_fill(args.checkpoint)}
    if args.ablation:
        methods["gated_unet_rgb_mask"] = network_fill(args.ablation)
    methods |= classical_methods()
    results = evaluate(args.data, methods, args.limit, progress=not args.no_progress)
    print(format_table(results))
    if args.json:
        write_json(results, args.json)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    add_train_parser(sub)
    add_evaluate_parser(sub)
    args = parser.parse_args(argv)
    return {"train": run_train, "evaluate": run_evaluate}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
