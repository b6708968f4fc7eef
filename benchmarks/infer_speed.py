"""Inference time on this CPU: the Gated-UNet (PyTorch, dense; ONNX Runtime as the add-on and
the CLI run it: numpy `prepare`, the exported core, numpy `assemble` at the hole's pixels;
its first guess alone in PyTorch) next to OpenCV Telea on the same frame and hole mask.

    python benchmarks/infer_speed.py [--width 8 --levels 4 --detail-channels 4] [--repeats 10] [--profile]
        [--hole-rule stretched|visible|bridged|far_reach] [--wires N] [--eye parallel|off-axis]

The frame is a synthetic scene (a wall with boxes, and with `--wires` that many cables one or
two pixels thick before it, which `bridged` warps a second layer for) warped to the other eye with the project's
geometry, so the holes are typical disocclusions; the reprojection (`stereo_geometry.reproject`
of that frame, holes by `--hole-rule`, into the eye of a parallel rig or, with `--eye off-axis`, Blender's
default Off-Axis eye: principal point moved for zero parallax at 1.95 m) is timed too. Weights are random:
speed does not depend on them.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stereo_geometry import (DEFAULT_HOLE_RULE, Intrinsics, hole_rule, network_input, reproject, stereo_pose, warped_inputs,  # noqa: E402
                             world_to_camera)
from training.model import GatedUNet, ModelConfig, conv_flops, count_parameters, first_guess  # noqa: E402


def typical_view(width: int, height: int, seed: int = 0, wires: int = 0):
    """Image, depth and intrinsics of a wall with a dozen boxes and `wires` straight cables
    (horizontal and vertical in turn, one or two pixels thick, 2 m away)."""
    rng = np.random.default_rng(seed)
    K = Intrinsics.from_fov(width, height, 60.0)
    depth = np.full((height, width), 6.0)
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    for _ in range(12):
        x, y = rng.integers(0, width - width // 8), rng.integers(0, height - height // 6)
        w, h = rng.integers(width // 25, width // 5), rng.integers(height // 15, height // 3)
        depth[y:y + h, x:x + w] = rng.uniform(0.8, 4.0)
    for i in range(wires):
        thickness = 1 + i % 2
        if i % 2:
            x = rng.integers(0, width - thickness)
            depth[:, x:x + thickness] = 2.0
        else:
            y = rng.integers(0, height - thickness)
            depth[y:y + thickness, :] = 2.0
    return image, depth, K


BASELINE, CONVERGENCE = 0.063, 1.95  # metres: Blender's default stereo camera (65 mm is its interocular)


def eye_camera(K: Intrinsics, eye: str) -> Intrinsics:
    """The other eye's intrinsics: K (a parallel rig), or K with the principal point moved so
    that the convergence distance has zero parallax (Off-Axis)."""
    return K if eye == "parallel" else replace(K, cx=K.cx + K.fx * BASELINE / CONVERGENCE)


def warp_view(image, depth, K, rule=DEFAULT_HOLE_RULE, eye="parallel"):
    return reproject(image, depth, K, eye_camera(K, eye), world_to_camera(stereo_pose(BASELINE)), rule,
                     interpolate=True)  # as other_eye


def typical_frame(width: int, height: int, seed: int = 0, rule=DEFAULT_HOLE_RULE, wires: int = 0,
                  eye: str = "parallel"):
    """Warped image, hole mask and network input of `typical_view`."""
    image, depth, K = typical_view(width, height, seed, wires)
    inputs = warped_inputs(warp_view(image, depth, K, rule, eye), eye_camera(K, eye))
    return inputs["image_generated_left"], inputs["hole_mask"], network_input(**inputs)[None]


def best_of(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def profile_onnx(path: Path, feeds: dict[str, np.ndarray], runs: int) -> None:
    """ONNX Runtime's own profile: milliseconds per operator type, per run."""
    import json
    from collections import Counter

    import onnxruntime as ort

    options = ort.SessionOptions()
    options.enable_profiling = True
    options.profile_file_prefix = str(path.with_suffix(""))
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    for _ in range(runs):
        session.run(None, feeds)
    per_op: Counter = Counter()
    for event in json.loads(Path(session.end_profiling()).read_text()):
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            per_op[event["args"]["op_name"]] += event["dur"] / 1e3 / runs
    x = feeds["pooled"]
    print(f"ONNX Runtime profile at {x.shape[-1] * 2}x{x.shape[-2] * 2}: {sum(per_op.values()):.1f} ms per run")
    for op, ms in per_op.most_common(10):
        print(f"  {op:<16} {ms:7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=ModelConfig.width)
    parser.add_argument("--levels", type=int, default=ModelConfig.levels)
    parser.add_argument("--detail-channels", type=int, default=ModelConfig.detail_channels)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--hole-rule", type=hole_rule, default=DEFAULT_HOLE_RULE)
    parser.add_argument("--wires", type=int, default=0, help="cables before the wall (`typical_view`)")
    parser.add_argument("--eye", choices=("parallel", "off-axis"), default="parallel",
                        help="the other eye: a parallel rig's or Blender's Off-Axis one")
    parser.add_argument("--profile", action="store_true",
                        help="also print ONNX Runtime's time per operator type at 1280x720")
    args = parser.parse_args()
    config = ModelConfig(width=args.width, levels=args.levels, detail_channels=args.detail_channels)
    model = GatedUNet(config).eval()
    print(f"{os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads); "
          f"model {config}: {count_parameters(model):,} parameters")

    from training.export import export_onnx
    from stereo_geometry.onnx_runner import OnnxInfill
    from training.checkpoint import atomic_save
    from training.config import TrainConfig
    from dataclasses import asdict

    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(tmp) / "m.pt"
        atomic_save({"model": model.state_dict(),
                     "config": asdict(TrainConfig(data="", out="", model=config))}, ckpt)
        export_onnx(ckpt, Path(tmp) / "m.onnx")
        onnx = OnnxInfill(str(Path(tmp) / "m.onnx"))
        print(f"{'frame':>9} {'holes':>6} {'GFLOPs':>7} {'guess ms':>9} {'torch ms':>9} {'onnx ms':>8} "
              f"{'telea ms':>9} {'onnx/telea':>10} {'reproject ms':>12} {'reproj/telea':>12}")
        for width, height in ((512, 512), (1280, 720)):
            view = typical_view(width, height, wires=args.wires)
            t_warp = best_of(lambda: warp_view(*view, args.hole_rule, args.eye), max(1, args.repeats // 3))
            warped, hole, x = typical_frame(width, height, rule=args.hole_rule, wires=args.wires, eye=args.eye)
            xt = torch.from_numpy(x)
            with torch.no_grad():
                t_guess = best_of(lambda: first_guess(xt), args.repeats)
                t_torch = best_of(lambda: model(xt), args.repeats)
            t_onnx = best_of(lambda: onnx(x), args.repeats)
            t_telea = best_of(lambda: cv2.inpaint(warped, hole, 3, cv2.INPAINT_TELEA), args.repeats)
            gflops = conv_flops(model, height, width) / 1e9
            print(f"{width}x{height:<4} {hole.mean():6.1%} {gflops:7.1f} {t_guess * 1e3:9.1f} {t_torch * 1e3:9.1f} "
                  f"{t_onnx * 1e3:8.1f} {t_telea * 1e3:9.1f} {t_onnx / t_telea:10.1f} "
                  f"{t_warp * 1e3:12.1f} {t_warp / t_telea:12.1f}")
        if args.profile:
            from stereo_geometry.onnx_runner import fold_detail, pad_to_multiple, prepare

            padded = pad_to_multiple(x)
            feeds = {"pooled": prepare(padded)[0]}
            if config.detail_channels:
                feeds["detail"] = fold_detail(padded, config.detail_channels)
            profile_onnx(Path(tmp) / "m.onnx", feeds, args.repeats)


if __name__ == "__main__":
    main()
