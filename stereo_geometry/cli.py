"""`disocclusion-infill`: one view and its metric depth, or every frame of a sequence folder,
made into the other eye of a stereo pair (ONNX models; `python -m training infill` is the same
command that also takes PyTorch checkpoints)."""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

from .arguments import field_of_view, fraction, nonzero_float, positive_float
from .infill import SHIPPED_MODELS, Network, default_model_name, load_onnx_network

DEFAULT_FOV_DEG = 60.0


def build_parser(prog: str = "disocclusion-infill") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=__doc__)
    add_infill_arguments(p)
    return p


def add_infill_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", choices=sorted(SHIPPED_MODELS), default=default_model_name(),
                   help=f"which shipped model fills the holes (default {default_model_name()})")
    p.add_argument("--checkpoint", help="an exported .onnx model (or, through python -m training, a .pt "
                                        "checkpoint); wins over --model")
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
    p.add_argument("--carry", type=fraction, default=0.0,
                   help="--sequence: weight of the previous frame's fill, reprojected, where no frame saw a hole (default 0)")
    focal = p.add_mutually_exclusive_group()
    focal.add_argument("--focal", type=positive_float, help="--image: focal length in pixels")
    focal.add_argument("--fov", type=field_of_view,
                       help=f"--image: horizontal field of view, degrees (default {DEFAULT_FOV_DEG:g})")
    p.add_argument("--direction", choices=("left", "right"), default="right",
                   help="which eye to make: the input is the left view and the output the right "
                        "eye (default), or the other way round")
    p.add_argument("--overscan", type=int, default=0, metavar="PX",
                   help="the image and depth hold PX more columns than the frame, beyond its edge on the side "
                        "the other eye looks past (right for --direction right): a render with overscan; the "
                        "output is the frame, and --fov / --focal and the principal point are the frame's "
                        "(--sequence: each frame's JSON gives the wider frame's intrinsics)")
    p.add_argument("--depth-png-scale", type=positive_float, default=0.001, help="metres per unit of 16-bit PNG depth")
    p.add_argument("--depth-out", metavar="PATH",
                   help="also write the other eye's planar depth (float32 metres, .npy), each hole pixel given "
                        "the farther of the known depths beside it on its row (--sequence: a folder, one "
                        "NNNN_depth.npy per frame)")
    p.add_argument("--depth-checkpoint", help="fill the depth's holes with this depth-infill model instead (.onnx, "
                                              "e.g. models/depth.onnx)")
    p.add_argument("--save-intermediates", action="store_true",
                   help="also write OUT_warped.png and OUT_hole_mask.png (--sequence: NNNN_warped.png and "
                        "NNNN_hole_mask.png)")


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
    if not os.access(target.parent, os.W_OK | os.X_OK):
        return f"{path}: its folder {target.parent} is not writable"
    return None


def margins(overscan: int, baseline: float) -> tuple[int, int]:
    """(left, right) columns of a render with `overscan` on the side the eye at `baseline`
    looks past: the right for a right eye (positive baseline), else the left."""
    return (0, overscan) if baseline > 0 else (overscan, 0)


def run(args: argparse.Namespace, load_network: Callable[[str], Network] = load_onnx_network) -> int:
    """The command on parsed arguments; `load_network` reads --checkpoint."""
    args.checkpoint = args.checkpoint or str(SHIPPED_MODELS[args.model])
    if not Path(args.checkpoint).is_file():
        return fail(f"no model at {args.checkpoint}; pass --checkpoint (an .onnx file)")
    baseline = args.baseline if args.direction == "right" else -args.baseline
    if args.overscan < 0:
        return fail(f"--overscan {args.overscan}: must be 0 or more")
    if args.depth_out and not args.sequence and Path(args.depth_out).suffix != ".npy":
        return fail(f"--depth-out {args.depth_out}: the depth is written as .npy (float32 metres)")
    depth_model = args.depth_checkpoint if args.depth_out else None
    if depth_model and not Path(depth_model).is_file():
        return fail(f"no depth-infill model at {depth_model}; pass --depth-checkpoint an .onnx file")
    try:
        network = load_network(args.checkpoint)
        depth_network = load_onnx_network(depth_model, channels=1) if depth_model else None
    except ValueError as exc:
        return fail(str(exc))
    if args.sequence:
        return run_sequence(args, network, depth_network, baseline)
    return run_image(args, network, depth_network, baseline)


def run_image(args: argparse.Namespace, network: Network, depth_network: Network | None, baseline: float) -> int:
    import cv2

    from .camera import Eye, Intrinsics
    from .readers import InputError, fill_invalid_depth, read_depth, read_image
    from .sequence import other_eye
    from .writer import encode_image, npy_bytes, write_together

    if not args.depth:
        return fail("--image needs --depth")
    if not cv2.haveImageWriter(str(args.out)):
        return fail(f"--out {args.out}: cannot write images of type '{Path(args.out).suffix}' (use .png, .jpg, .tif, ...)")
    problem = output_problem(args.out) or output_problem(args.depth_out)
    if problem:
        return fail(problem)
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
    frame = Intrinsics.from_fov(w - args.overscan, h, args.fov or DEFAULT_FOV_DEG)
    if args.focal:
        frame = Intrinsics(args.focal, args.focal, frame.cx, frame.cy, frame.width, h)
    start = time.perf_counter()
    K = frame.widened(*margins(args.overscan, baseline))
    result = other_eye(image, fill_invalid_depth(depth, valid), K, Eye.shifted(frame, baseline), network,
                       depth_network)
    out = Path(args.out)
    files = {out: encode_image(out, result.image)}
    if args.depth_out:
        files[Path(args.depth_out)] = npy_bytes(result.depth)
    if args.save_intermediates:
        files[out.with_name(out.stem + "_warped.png")] = encode_image("warped.png", result.warped)
        files[out.with_name(out.stem + "_hole_mask.png")] = encode_image("mask.png", result.hole_mask * 255)
    try:
        write_together(files)
    except OSError as exc:
        return fail(str(exc))
    print(f"wrote {out} ({result.hole_mask.mean():.1%} holes filled, {time.perf_counter() - start:.2f} s)")
    return 0


def run_sequence(args: argparse.Namespace, network: Network, depth_network: Network | None,
                 baseline: float) -> int:
    """Every frame of --sequence made into the other eye, OUT/NNNN.png (with --depth-out DIR,
    DIR/NNNN_depth.npy; with --save-intermediates, OUT/NNNN_warped.png and _hole_mask.png);
    a frame that cannot be read or written is named and skipped (exit 1)."""
    from dataclasses import replace

    from tqdm import tqdm

    from .camera import Eye
    from .sequence import SequenceDriver, frame_images, read_frame
    from .writer import encode_image, npy_bytes, writable_folder, write_together

    ignored = [flag for flag, value in (("--depth", args.depth), ("--focal", args.focal), ("--fov", args.fov))
               if value is not None]
    if ignored:
        return fail(f"--sequence takes each frame's intrinsics from its JSON: drop {', '.join(ignored)}")
    if args.window < 0:
        return fail(f"--window must be 0 or more, got {args.window}")
    source = Path(args.sequence)
    if not source.is_dir():
        return fail(f"--sequence {args.sequence}: no such folder")
    outputs = [Path(args.out)] + ([Path(args.depth_out)] if args.depth_out else [])
    for folder in outputs:
        if folder.resolve() == source.resolve():
            return fail(f"{folder}: is the --sequence folder; its frames would be overwritten (choose another folder)")
        problem = writable_folder(folder)
        if problem:
            return fail(f"{folder}: {problem}")
    try:
        images = frame_images(source)
    except (OSError, ValueError) as exc:
        return fail(str(exc))
    if not images:
        return fail(f"{source}: no frames (NNNN.png with NNNN_depth.npy and NNNN.json)")
    paths = list(images.values())
    frame_margins = margins(args.overscan, baseline)

    def read(index: int):
        frame = read_frame(paths[index])
        if args.overscan >= frame.image.shape[1]:
            raise ValueError(f"{paths[index]}: --overscan {args.overscan} is not less than its width "
                             f"({frame.image.shape[1]})")
        frame = replace(frame, margins=frame_margins)
        return replace(frame, eyes={"other": Eye.shifted(frame.frame_K, baseline)})

    def write(index: int, frame, results) -> None:
        result, name = results["other"], paths[index].stem
        out = Path(args.out)
        files = {out / f"{name}.png": encode_image("eye.png", result.image)}
        if args.depth_out:
            files[Path(args.depth_out) / f"{name}_depth.npy"] = npy_bytes(result.depth)
        if args.save_intermediates:
            files[out / f"{name}_warped.png"] = encode_image("warped.png", result.warped)
            files[out / f"{name}_hole_mask.png"] = encode_image("mask.png", result.hole_mask * 255)
        write_together(files)

    driver = SequenceDriver(read, len(paths), network, args.window, args.carry, depth_network,
                            errors=(ValueError, OSError))
    problems = driver.run(tqdm(range(len(paths)), unit="frame", disable=args.no_progress), write)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    written = len(paths) - len(problems)
    print(f"wrote {written} frames to {args.out}" + (f"; {len(problems)} failed" if problems else ""))
    return 1 if problems else 0


def exit_without_teardown(code: int) -> None:
    """End the process at once: its outputs are written, closed and renamed into place, and
    the interpreter's teardown (freeing numba's and ONNX Runtime's objects) takes about 0.2 s,
    a fifth of a 1280x720 frame's whole process."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


def console() -> None:
    """The `disocclusion-infill` console command."""
    exit_without_teardown(main())


if __name__ == "__main__":
    console()
