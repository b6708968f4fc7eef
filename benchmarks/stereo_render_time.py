"""The time `disocclusion-render` saves: Blender's own two-eye stereo render of a lit scene
against one render per frame and the made eye, whole processes, and how close the made eye
comes to Blender's.

    python benchmarks/stereo_render_time.py [--size 1280x720] [--samples 64 256] [--frames 8]

The scene is a lit, layered random scene of `datagen_bpy.lit_scene` (sun, area light, sky;
diffuse, glossy and metallic materials; foliage cards, wires, many depth layers), the camera
dollying 3 cm a frame with Blender's default stereo settings (Off-Axis, 65 mm, converging at
1.95 m, pivot Left) and the scene's own render settings (Cycles, denoised, AgX). For each
sample count: `python -c "... bpy.ops.render.render(animation=True)"` with Output >
Stereoscopy on (Stereo 3D, individual PNGs) against `disocclusion-render SCENE.blend --frames
1-N --samples S`, each timed from start to exit; then the right eye's PSNR against Blender's,
over the whole frame and inside the holes the network filled.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]

SCENE = r'''
import sys, math
sys.path.insert(0, {repo!r})
import bpy, numpy as np
from datagen_bpy.renderer import Renderer
from datagen_bpy.lit_scene import build_lit_scene
from stereo_geometry import Intrinsics
width, height = {width}, {height}
renderer = Renderer(width, height)
K = Intrinsics.from_fov(width, height, 60.0)
build_lit_scene(renderer, K, np.random.default_rng({seed}), [])
scene = renderer.scene
r, cycles = scene.render, scene.cycles
r.film_transparent, r.use_persistent_data = False, False
cycles.max_bounces, cycles.use_denoising, cycles.use_adaptive_sampling = 12, True, True
cycles.pixel_filter_type, cycles.filter_width = "BLACKMAN_HARRIS", 1.5
scene.view_settings.view_transform = "AgX"
r.image_settings.media_type, r.image_settings.file_format = "IMAGE", "PNG"
camera = scene.camera
stereo = camera.data.stereo
stereo.convergence_mode, stereo.convergence_distance, stereo.interocular_distance, stereo.pivot = "OFFAXIS", 1.95, 0.065, "LEFT"
scene.frame_start, scene.frame_end = 1, {frames}
start = camera.location.copy()
for frame in range(1, {frames} + 1):
    camera.location = start + camera.matrix_world.to_3x3() @ __import__("mathutils").Vector((0.0, 0.0, -0.03 * (frame - 1)))
    camera.keyframe_insert("location", frame=frame)
bpy.ops.wm.save_as_mainfile(filepath={path!r})
'''

BLENDER_STEREO = r'''
import bpy
bpy.ops.wm.open_mainfile(filepath={path!r})
scene = bpy.context.scene
scene.cycles.samples = {samples}
scene.render.use_multiview, scene.render.views_format = True, "STEREO_3D"
scene.render.image_settings.views_format = "INDIVIDUAL"
scene.render.filepath = {out!r}
bpy.ops.render.render(animation=True)
'''


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    run = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(run.stdout[-2000:] + run.stderr[-3000:])
    return time.perf_counter() - start


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255 ** 2 / max(((a.astype(float) - b) ** 2).mean(), 1e-12)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1280x720", help="WIDTHxHEIGHT")
    parser.add_argument("--samples", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--seed", type=int, default=3, help="the lit scene")
    parser.add_argument("--model", default="quality", choices=("fast", "quality"))
    parser.add_argument("--figure", type=Path, help="also write frame 1 of the first sample count as a JPEG: the "
                        "rendered left eye | the made right eye, the filled holes outlined | Blender's right eye")
    args = parser.parse_args()
    from PIL import Image

    width, height = map(int, args.size.split("x"))
    command = shutil.which("disocclusion-render", path=str(Path(sys.executable).parent))
    with tempfile.TemporaryDirectory() as work:
        blend = Path(work) / "scene.blend"
        code = SCENE.format(repo=str(REPO), width=width, height=height, seed=args.seed, frames=args.frames,
                            path=str(blend))
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        print(f"{width}x{height}, {args.frames} frames, lit scene seed {args.seed}, model {args.model}, "
              f"whole processes on this machine\n")
        print("| samples | Blender stereo (two renders a frame) s | disocclusion-render s | ratio | "
              "right eye PSNR dB, whole frame | in the filled holes | holes |")
        print("|---|---|---|---|---|---|---|")
        for samples in args.samples:
            blender_out, ours = Path(work) / f"blender{samples}", Path(work) / f"ours{samples}"
            blender = timed([sys.executable, "-c", BLENDER_STEREO.format(path=str(blend), samples=samples,
                                                                         out=str(blender_out / "f"))])
            made = timed([command, str(blend), "--out", str(ours), "--frames", f"1-{args.frames}", "--samples",
                          str(samples), "--model", args.model, "--save-holes", "--no-progress"])
            whole, filled, holes = [], [], []
            for frame in range(1, args.frames + 1):
                truth = np.asarray(Image.open(blender_out / f"f{frame:04d}_R.png").convert("RGB")).astype(float)
                got = np.asarray(Image.open(ours / f"{frame:04d}_R.png").convert("RGB")).astype(float)
                hole = np.asarray(Image.open(ours / f"{frame:04d}_R_holes.png").convert("L")) > 0
                whole.append(psnr(got, truth))
                filled.append(psnr(got[hole], truth[hole]) if hole.any() else float("nan"))
                holes.append(hole.mean())
            print(f"| {samples} | {blender:.1f} | {made:.1f} | {made / blender:.2f} | {np.mean(whole):.2f} | "
                  f"{np.nanmean(filled):.2f} | {np.mean(holes):.2%} |", flush=True)
            if args.figure and samples == args.samples[0]:
                write_figure(args.figure, ours / "0001_L.png", ours / "0001_R.png", ours / "0001_R_holes.png",
                             blender_out / "f0001_R.png")


def write_figure(path: Path, left: Path, right: Path, holes: Path, truth: Path, width: int = 640) -> None:
    """Three panels side by side, each `width` wide: the rendered eye, the made eye with the
    holes the network filled outlined in magenta, and Blender's own render of it."""
    import cv2
    from PIL import Image

    panels = [np.asarray(Image.open(p).convert("RGB")) for p in (left, right, truth)]
    hole = np.asarray(Image.open(holes).convert("L")) > 0
    edge = hole & ~cv2.erode(hole.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    outlined = panels[1].copy()
    outlined[cv2.dilate(edge.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)] = (255, 0, 255)
    panels[1] = outlined
    height = round(panels[0].shape[0] * width / panels[0].shape[1])
    row = np.concatenate([cv2.resize(p, (width, height), interpolation=cv2.INTER_AREA) for p in panels], 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(row).save(path, quality=88)


if __name__ == "__main__":
    main()
