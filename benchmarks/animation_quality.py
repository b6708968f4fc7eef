"""Animation benchmark: a camera move through a procedural Blender scene, both eyes rendered
with Cycles, so the true other eye of every frame is known.

    python benchmarks/animation_quality.py [--frames 24] [--size 320x240] [--model quality]
        [--window 4] [--seeds 3 5 7] [--samples 16] [--lit | --scene-folder DIR] [--gif docs/examples/animation.gif]
        [--keep DIR]

The scene is `datagen_bpy.procedural.build_scene` (Blender's procedural textures, no photos)
or, with `--lit`, `datagen_bpy.lit_scene.build_lit_scene` (lit and layered: shadows, foliage
cards, wires, railings, sky), or with `--scene-folder`, a textured 3D scene; one sequence per
seed (scene). The camera slides right by 1.5 cm and turns 0.15 degrees per frame; the other
eye is 63 mm to the camera's right. `--samples 16` antialiases as Blender renders by default;
`--samples 1` renders pixel-exact (one ray through each pixel centre: fine texture aliases,
the worst case for any resampling). The left views go into a sequence folder
as `python -m training infill --sequence` reads it (NNNN.png, NNNN_depth.npy, NNNN.json).
Methods, each on every frame:
- per-frame network: the frame's own reprojection, the network fills every hole;
- multi-frame + network: `stereo_geometry.sequence` (frames within the window first, the previous
  result carried, the network for the rest);
- Telea per frame.
Reported per scene and method, and the mean over the scenes: hole PSNR against the true other
eye (mean over frames; the holes of the frame's own reprojection) and the temporal error, the
mean over frames t >= 1 of |(out_t - out_t-1) - (true_t - true_t-1)| inside frame t's holes
(RGB in [0, 1]).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from stereo_geometry.arguments import resolution  # noqa: E402


def camera_path(frames: int) -> list[np.ndarray]:
    """Camera-to-world poses (OpenCV axes): 1.5 cm right and 0.15 degrees of pan per frame."""
    poses = []
    for t in range(frames):
        a = np.radians(0.15 * t)
        pose = np.eye(4)
        pose[:3, :3] = [[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]]
        pose[:3, 3] = (0.015 * t, 0.0, 0.0)
        poses.append(pose)
    return poses


def render_sequence(folder: Path, frames: int, width: int, height: int, baseline: float,
                    seed: int, samples: int = 1, lit: bool = False,
                    scene_folder: Path | None = None) -> list[np.ndarray]:
    """Render the left views into `folder` as a sequence; returns the true other eyes.
    `samples` 1: pixel-exact (one ray through each pixel centre); more: antialiased as
    Blender renders by default (`Renderer.set_samples`). `lit`: the lit, layered scene kind
    (`datagen_bpy.lit_scene`: lights and shadows, foliage cards, wires, railings, sky),
    rendered as Blender renders it (4 bounces, denoised), the sky's depth `SKY_DEPTH`;
    `scene_folder`: a textured 3D scene (`datagen_bpy.scene_files`), lit and rendered the same
    way, the move starting where `staged_view` places a camera, exposed from the first frame."""
    import contextlib

    import bpy  # noqa: F401  (makes bmesh importable)
    import cv2

    from datagen_bpy.lit_scene import SKY_DEPTH, build_lit_scene, display_srgb, exposure
    from datagen_bpy.procedural import build_scene
    from datagen_bpy.renderer import Renderer
    from stereo_geometry import Intrinsics, to_uint8, translation
    from stereo_geometry.overrides import overridden

    K = Intrinsics.from_fov(width, height, 60.0)
    renderer = Renderer(width, height)
    renderer.set_samples(samples)
    start, scale = np.eye(4), None
    if scene_folder is not None:
        from datagen_bpy.scene_files import staged_view

        start, lit = staged_view(renderer, scene_folder, K, np.random.default_rng(seed)), True
    else:
        (build_lit_scene if lit else build_scene)(renderer, K, np.random.default_rng(seed), [])
    colour = display_srgb if lit else (lambda rgb: rgb)
    truths = []
    with contextlib.ExitStack() as settings:
        if lit:
            settings.enter_context(overridden(renderer.scene.cycles, max_bounces=4, use_denoising=True))
            settings.enter_context(overridden(renderer.scene.render, film_transparent=False))
        for t, pose in enumerate(start @ move for move in camera_path(frames)):
            renderer.set_camera(K, pose)
            left = renderer.render()
            renderer.set_camera(K, pose @ translation(baseline))
            right = renderer.render()
            if scene_folder is not None:
                scale = exposure(left.rgb) if scale is None else scale
                left.rgb, right.rgb = scale * left.rgb, scale * right.rgb
            if not (left.covered.all() and right.covered.all()):
                raise SystemExit(f"frame {t}: the scene does not fill the frame; try another --seed")
            stem = folder / f"{t:04d}"
            cv2.imwrite(f"{stem}.png", to_uint8(colour(left.rgb))[..., ::-1])
            np.save(f"{stem}_depth.npy", np.minimum(left.depth, SKY_DEPTH).astype(np.float32))
            Path(f"{stem}.json").write_text(json.dumps(
                {"fx": K.fx, "fy": K.fy, "cx": K.cx, "cy": K.cy, "camera_to_world": pose.tolist()}))
            truths.append(to_uint8(colour(right.rgb)))
    return truths


def scores(outputs: list[np.ndarray], truths: list[np.ndarray], holes: list[np.ndarray]) -> tuple[float, float]:
    """(mean hole PSNR dB, temporal error) of a method's outputs."""
    from training.metrics import psnr

    out = [o.astype(np.float32) / 255 for o in outputs]
    true = [t.astype(np.float32) / 255 for t in truths]
    psnrs = [psnr(o, t, h) for o, t, h in zip(out, true, holes) if h.any()]
    temporal = [np.abs((out[t] - out[t - 1]) - (true[t] - true[t - 1]))[holes[t]].mean()
                for t in range(1, len(out)) if holes[t].any()]
    return float(np.mean(psnrs)), float(np.mean(temporal))


def busiest_window(holes: list[np.ndarray], height: int, width: int) -> tuple[slice, slice]:
    """The `height` x `width` window holding the most hole pixels over all frames."""
    total = np.sum(holes, axis=0).astype(np.int64)
    integral = np.pad(total.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    sums = (integral[height:, width:] - integral[:-height, width:] - integral[height:, :-width]
            + integral[:-height, :-width])
    y, x = np.unravel_index(np.argmax(sums), sums.shape)
    return slice(y, y + height), slice(x, x + width)


def write_gif(path: Path, panels: list[list[np.ndarray]], window: tuple[slice, slice],
              frame_ms: int = 150) -> None:
    """Side-by-side panels (each a list of frames), cut to `window`, as an animated GIF."""
    from PIL import Image

    frames = []
    for row in zip(*panels):
        joined = np.concatenate([p[window] for p in row], axis=1)
        frames.append(Image.fromarray(joined).quantize(colors=255, method=Image.Quantize.MEDIANCUT))
    path.parent.mkdir(parents=True, exist_ok=True)
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=frame_ms, loop=0, optimize=True)


def fill_scene(frames: list, network, baseline: float, window: int) -> tuple[dict[str, list[np.ndarray]],
                                                                           list[np.ndarray], list[np.ndarray]]:
    """Every method's outputs over one rendered sequence, the holes of the frames' own
    reprojections and the hole pixels that other frames filled."""
    import cv2

    from stereo_geometry.camera import Eye
    from stereo_geometry.sequence import SequenceDriver

    for frame in frames:
        frame.eyes = {"right": Eye.shifted(frame.K, baseline)}
    methods = {"per-frame network": SequenceDriver(frames.__getitem__, len(frames), network, 0, carry=0.0),
               "multi-frame + network": SequenceDriver(frames.__getitem__, len(frames), network, window),
               "multi-frame, no carry": SequenceDriver(frames.__getitem__, len(frames), network, window, carry=0.0)}
    outputs: dict[str, list[np.ndarray]] = {name: [] for name in [*methods, "Telea per frame"]}
    holes, from_frames = [], []
    for t in range(len(frames)):
        for name, driver in methods.items():
            made = {}
            assert driver.fill(t, lambda index, frame, results: made.update(results)) is None
            result = made["right"]
            outputs[name].append(result.image)
            if name == "multi-frame + network":
                holes.append(result.hole_mask.astype(bool))
                from_frames.append(result.from_frames.astype(bool))
        warped = outputs["per-frame network"][-1].copy()
        warped[holes[-1]] = 0
        outputs["Telea per frame"].append(cv2.inpaint(warped, holes[-1].astype(np.uint8), 3, cv2.INPAINT_TELEA))
    return outputs, holes, from_frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--size", type=resolution, default=(320, 240), help="WIDTHxHEIGHT")
    parser.add_argument("--model", default="quality", help="shipped model name or a .onnx/.pt file")
    parser.add_argument("--window", type=int, default=4, help="frames before and after that fill holes")
    parser.add_argument("--seeds", type=int, nargs="+", default=[3, 5, 7], help="procedural scenes")
    parser.add_argument("--samples", type=int, default=16,
                        help="rays per pixel: more than 1 antialiases as Blender renders by default (1.5 px "
                             "Blackman-Harris filter); 1 renders pixel-exact")
    parser.add_argument("--lit", action="store_true", help="lit, layered scenes (datagen_bpy.lit_scene: "
                        "lights, foliage cards, wires, railings, sky) rendered with 4 bounces, denoised")
    parser.add_argument("--scene-folder", type=Path, help="a textured 3D scene folder (glTF, as "
                        "`datagen_bpy --scenes` takes them): each seed a camera move from a view of it, lit")
    parser.add_argument("--gif", type=Path, help="write a side-by-side GIF (per-frame network | multi-frame + "
                        "network | truth) of the quarter of the first scene's frame with the most holes")
    parser.add_argument("--keep", type=Path, help="render the sequences into this folder (one folder per "
                        "seed) and keep them, the true other eyes as truths.npy; sequences kept there "
                        "already are read instead of rendered (--frames, --size, --samples must match)")
    args = parser.parse_args()
    from stereo_geometry.infill import SHIPPED_MODELS
    from stereo_geometry.sequence import frame_images, read_frame
    from training import load_network

    baseline = 0.063
    network = load_network(str(SHIPPED_MODELS.get(args.model, args.model)))
    table: dict[str, list[tuple[float, float]]] = {}
    print(f"{args.frames} frames {args.size[0]}x{args.size[1]}, {args.samples} samples a pixel, "
          f"model {args.model}, window {args.window}")
    rows = ["| scene | method | hole PSNR dB | temporal error |", "|---|---|---|---|"]
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as tmp:
            folder = args.keep / f"seed_{seed}" if args.keep else Path(tmp)
            folder.mkdir(parents=True, exist_ok=True)
            if args.keep and (folder / "truths.npy").exists():  # kept from an earlier run: compare on the same renders
                truths = list(np.load(folder / "truths.npy"))
            else:
                truths = render_sequence(folder, args.frames, *args.size, baseline, seed, args.samples, args.lit,
                                     args.scene_folder)
            frames = [read_frame(path) for path in frame_images(folder).values()]
            if args.keep:
                np.save(folder / "truths.npy", np.stack(truths))
        outputs, holes, from_frames = fill_scene(frames, network, baseline, args.window)
        seen = np.mean([f.sum() / max(h.sum(), 1) for f, h in zip(from_frames, holes)])
        print(f"seed {seed}: holes {np.mean([h.mean() for h in holes]):.1%} of the frame, {seen:.0%} of "
              "their pixels filled from other frames")
        for name, outs in outputs.items():
            p, e = scores(outs, truths, holes)
            table.setdefault(name, []).append((p, e))
            rows.append(f"| seed {seed} | {name} | {p:.2f} | {e:.4f} |")
        if args.gif and seed == args.seeds[0]:
            h, w = holes[0].shape
            write_gif(args.gif, [outputs["per-frame network"], outputs["multi-frame + network"], truths],
                      busiest_window(holes, h // 2, w // 2))
            print(f"wrote {args.gif}")
    per_frame = np.mean([e for _, e in table["per-frame network"]])
    for name, results in table.items():
        p, e = np.mean(results, axis=0)
        rows.append(f"| mean | {name} | {p:.2f} | {e:.4f} ({e / per_frame:.2f}x per-frame) |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
