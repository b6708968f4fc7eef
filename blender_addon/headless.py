"""`disocclusion-render SCENE.blend --out DIR`: a .blend file's frames made into stereo pairs
as the scene camera's Stereoscopy settings say, each frame rendered once (render farms and
scripts use it as they use `blender -b`).

Per frame: the camera's own view is rendered with the scene's settings (engine, samples unless
--samples, resolution, colour management; Stereoscopy off, the Depth pass on; as much wider
as the made eyes see past the frame's edges), the other eye (both, for pivot Center) is made
from it, its holes filled first from the frames of the range that saw them, and
DIR/NNNN_L.png and DIR/NNNN_R.png are written (8-bit PNG through the scene's view transform;
NNNN the frame number). A rerun skips frames whose files are all there (each is written
whole or not at all). A range split across processes (--frames 1-100 here, --frames 101-200
there) gives the same files as one run except in the fill near the split: a frame's window
lacks the frames of the other part (and with --carry, the fill carried from frame to frame
starts afresh at the split; its share fades by --carry a frame). A rerun's frames likewise
lack those done before.
Exit status: 0, 1 (a frame failed: named), 2 (bad command line, unreadable .blend, no camera).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

from .stereo_geometry.arguments import fraction
from .stereo_geometry.infill import SHIPPED_MODELS, default_model_name
from .stereo_geometry.parallax import DISPLAYS

EYE_LETTERS = {"LEFT": "L", "RIGHT": "R"}


def frame_range(text: str) -> tuple[int, int]:
    """"A-B" or "A" -> (A, B), A <= B."""
    match = re.fullmatch(r"(\d+)(?:-(\d+))?", text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"must look like 1-100 or 7, got '{text}'")
    first, last = int(match.group(1)), int(match.group(2) or match.group(1))
    if last < first:
        raise argparse.ArgumentTypeError(f"the range {text} ends before it starts")
    return first, last


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="disocclusion-render", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("blend", type=Path, help="the .blend file (its scene camera's Stereoscopy settings are used)")
    p.add_argument("--out", type=Path, required=True, help="output folder: NNNN_L.png, NNNN_R.png")
    p.add_argument("--frames", type=frame_range, metavar="A-B", help="frames to make (default: the scene's current frame)")
    p.add_argument("--samples", type=positive_int, help="Cycles samples (default: the scene's)")
    p.add_argument("--model", choices=sorted(SHIPPED_MODELS), default=default_model_name(),
                   help=f"the network that fills the holes (default {default_model_name()})")
    p.add_argument("--window", type=int, default=2, help="frames before and after each frame whose pixels fill its "
                                                         "holes first (default 2; 0: each frame alone)")
    p.add_argument("--carry", type=fraction, default=0.0,
                   help="weight of the previous frame's fill, reprojected, where no frame saw a hole (default 0)")
    p.add_argument("--save-holes", action="store_true",
                   help="also write NNNN_L_holes.png / NNNN_R_holes.png for each made eye: 255 where the network "
                        "filled the pixel")
    p.add_argument("--parallax-report", action="store_true",
                   help="also write NNNN_parallax.json: nearest and farthest parallax, on each display preset, "
                        "with the comfort and divergence limits passed")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def outputs(out: Path, number: int, made: tuple[str, ...], save_holes: bool, parallax: bool) -> list[Path]:
    """The files a frame's run writes."""
    files = [out / f"{number:04d}_{letter}.png" for letter in EYE_LETTERS.values()]
    if save_holes:
        files += [out / f"{number:04d}_{EYE_LETTERS[eye]}_holes.png" for eye in made]
    if parallax:
        files.append(out / f"{number:04d}_parallax.json")
    return files


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.window < 0:
        print(f"error: --window must be 0 or more, got {args.window}", file=sys.stderr)
        return 2
    if not args.blend.is_file():
        print(f"error: {args.blend}: no such file", file=sys.stderr)
        return 2
    from .stereo_geometry.writer import writable_folder

    problem = writable_folder(args.out)
    if problem:
        print(f"error: --out {args.out}: {problem}", file=sys.stderr)
        return 2
    import bpy

    from .errors import InfillError

    try:
        bpy.ops.wm.open_mainfile(filepath=str(args.blend))
    except RuntimeError as exc:
        print(f"error: {args.blend}: cannot read it as a .blend file ({str(exc).strip()})", file=sys.stderr)
        return 2
    scene = bpy.context.scene
    try:
        return render(scene, args)
    except InfillError as exc:
        print(f"error: {args.blend}: {exc}", file=sys.stderr)
        return 2


def render(scene, args: argparse.Namespace) -> int:
    """Make and write the frames of `args` (the command's work, once the .blend is open)."""
    from contextlib import ExitStack

    from tqdm import tqdm

    from . import models
    from .errors import InfillError
    from .frames import frame_parallax, rendered_frames
    from .scene_camera import camera_stereo
    from .stereo_geometry.overrides import overridden
    from .stereo_geometry.parallax import parallax_report
    from .stereo_geometry.sequence import SequenceDriver
    from .stereo_geometry.writer import write_text
    from .stereo_images import pair_writer, save_view

    stereo = camera_stereo(scene)  # no camera, another kind of camera, Multi-View: exit 2
    first, last = args.frames or (scene.frame_current, scene.frame_current)
    todo = [n for n in range(first, last + 1)
            if not all(p.is_file() for p in outputs(args.out, n, stereo.made_eyes, args.save_holes, args.parallax_report))]
    done = last - first + 1 - len(todo)
    if not todo:
        print(f"all {done} frames are already in {args.out}")
        return 0
    layer = next((layer.name for layer in scene.view_layers if layer.use), scene.view_layers[0].name)
    net = models.network(SHIPPED_MODELS[args.model])
    driver = SequenceDriver(rendered_frames(scene, layer, todo, samples=args.samples), len(todo), net, args.window,
                            args.carry, errors=(InfillError, OSError))
    write_pair = pair_writer(scene, lambda index: str(args.out / f"{todo[index]:04d}.png"), stereo.rendered_eye,
                             write_depth=False)

    def write(index: int, frame, results) -> None:
        number = todo[index]
        write_pair(index, frame, results)
        if args.save_holes:
            for eye, result in results.items():
                filled = ((result.hole_mask > 0) & (result.from_frames == 0)).astype("uint8") * 255
                with overridden(scene.render.image_settings, color_mode="BW"):
                    save_view(scene, str(args.out / f"{number:04d}_{EYE_LETTERS[eye]}_holes.png"), filled[..., None].repeat(3, -1))
        if args.parallax_report:
            parallax = frame_parallax(scene, frame)
            reports = {key: parallax_report(parallax, display).to_dict() for key, display in DISPLAYS.items()}
            write_text(args.out / f"{number:04d}_parallax.json",
                       json.dumps({"frame": number, "displays": reports}, indent=2) + "\n")
            for line in reports["TV"]["warnings"]:
                tqdm.write(f"frame {number}: {line}")

    settings = scene.render.image_settings
    with ExitStack() as stack:  # 8-bit RGB PNGs, one file per eye named _L and _R
        stack.enter_context(overridden(settings, media_type="IMAGE", file_format="PNG", color_mode="RGB",
                                       color_depth="8", views_format="INDIVIDUAL"))
        for view, suffix in (("left", "_L"), ("right", "_R")):
            stack.enter_context(overridden(scene.render.views[view], file_suffix=suffix))
        problems = driver.run(tqdm(range(len(todo)), unit="frame", disable=args.no_progress), write)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    print(f"{len(todo) - len(problems)} frames made, {done} already there, {len(problems)} failed -> {args.out}")
    return 1 if problems else 0


def console() -> None:
    """The `disocclusion-render` console command."""
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # Blender's teardown adds seconds and prints nothing the job needs


if __name__ == "__main__":
    console()
