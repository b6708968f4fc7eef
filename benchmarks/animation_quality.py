"""Animation benchmark: a camera move through a procedural Blender scene, both eyes rendered
with Cycles, so the true other eye of every frame is known.

    python benchmarks/animation_quality.py [--frames 24] [--size 320x240] [--model quality]
        [--window 4] [--seeds 3 5 7] [--samples 16] [--lit | --scene-folder DIR] [--step 0.015] [--pan 0.15]
        [--gif docs/examples/animation.gif] [--keep DIR]
    python benchmarks/animation_quality.py --sequence-folder ../shared/data/train/sequences/tum_fr1_desk_clip
        [--offset 1] [--frames 9]

The scene is `datagen_bpy.procedural.build_scene` (Blender's procedural textures, no photos)
or, with `--lit`, `datagen_bpy.lit_scene.build_lit_scene` (lit and layered: shadows, foliage
cards, wires, railings, sky), or with `--scene-folder`, a textured 3D scene; one sequence per
seed (scene). The camera slides right by 1.5 cm (`--step`) and turns 0.15 degrees (`--pan`)
per frame; the other eye is 63 mm to the camera's right. `--samples 16` antialiases as Blender
renders by default;
`--samples 1` renders pixel-exact (one ray through each pixel centre: fine texture aliases,
the worst case for any resampling). The left views go into a sequence folder
as `python -m training infill --sequence` reads it (NNNN.png, NNNN_depth.npy, NNNN.json).
With `--sequence-folder`, a real sequence in that format (frames, depths and poses of a real
camera) is the scene instead: each frame is made into the camera of the frame `--offset` later,
whose photograph is the truth and which is left out of the frame's window.
Methods, each on every frame:
- per-frame network: the frame's own reprojection, the network fills every hole;
- multi-frame + network: `stereo_geometry.sequence` as `infill --sequence` runs it (the frames
  of the window first, the network for the rest); and with the previous result carried
  (`--carry 0.75`);
- Telea per frame.
Reported per scene and method, and the mean over the scenes: hole PSNR against the true other
eye (mean over frames; the holes of the frame's own reprojection), whole-frame PSNR and the
temporal error, the mean over frames t >= 1 of |(out_t - out_t-1) - (true_t - true_t-1)|
over the pixels that are holes in both frames (RGB in [0, 1]; a pixel that the warp showed in
frame t-1 would measure the warp there as much as the fill). Per scene also: the share of hole
pixels that some frame in the window truly saw (its reprojected surface within
`TRUE_DEPTH_TOLERANCE` of the true other eye's depth) and, on those pixels, what the mean of
the truly seeing frames' colours reaches (a fill with the true visibility) against the
multi-frame fill; and the temporal error by where the multi-frame fill came from in both
frames (other frames, the network, one each), against the per-frame network's there.
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


def camera_path(frames: int, step: float = 0.015, pan: float = 0.15) -> list[np.ndarray]:
    """Camera-to-world poses (OpenCV axes): `step` metres right and `pan` degrees of pan per frame."""
    poses = []
    for t in range(frames):
        a = np.radians(pan * t)
        pose = np.eye(4)
        pose[:3, :3] = [[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]]
        pose[:3, 3] = (step * t, 0.0, 0.0)
        poses.append(pose)
    return poses


#: A neighbour's reprojected surface is the one the other eye truly sees where its depth is
#: within this fraction of the other eye's rendered depth.
TRUE_DEPTH_TOLERANCE = 0.02


def render_sequence(folder: Path, frames: int, width: int, height: int, baseline: float,
                    seed: int, samples: int = 1, lit: bool = False, scene_folder: Path | None = None,
                    step: float = 0.015, pan: float = 0.15) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Render the left views into `folder` as a sequence; returns the true other eyes and their
    planar depths.
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
    truths, truth_depths = [], []
    with contextlib.ExitStack() as settings:
        if lit:
            settings.enter_context(overridden(renderer.scene.cycles, max_bounces=4, use_denoising=True))
            settings.enter_context(overridden(renderer.scene.render, film_transparent=False))
        for t, pose in enumerate(start @ move for move in camera_path(frames, step, pan)):
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
            truth_depths.append(np.minimum(right.depth, SKY_DEPTH).astype(np.float32))
    return truths, truth_depths


def temporal_error(outputs: list[np.ndarray], truths: list[np.ndarray], pairs: list[np.ndarray]) -> float:
    """The mean over frames t >= 1 of |(out_t - out_t-1) - (true_t - true_t-1)| (RGB in [0, 1])
    over the pixels of `pairs[t - 1]` (frames without any left out); NaN if none has any."""
    def change(frames: list[np.ndarray], t: int, where: np.ndarray) -> np.ndarray:
        return (frames[t][where].astype(np.float32) - frames[t - 1][where]) / 255

    errors = [np.abs(change(outputs, t, pairs[t - 1]) - change(truths, t, pairs[t - 1])).mean()
              for t in range(1, len(outputs)) if pairs[t - 1].any()]
    return float(np.mean(errors)) if errors else float("nan")


def in_both(masks: list[np.ndarray]) -> list[np.ndarray]:
    """Per frame t >= 1, the pixels of `masks` in frames t - 1 and t."""
    return [now & before for before, now in zip(masks, masks[1:])]


def scores(outputs: list[np.ndarray], truths: list[np.ndarray], holes: list[np.ndarray]) -> tuple[float, float, float]:
    """(mean hole PSNR dB, mean whole-frame PSNR dB, temporal error over the holes) of a method's outputs."""
    from training.metrics import psnr

    out = [o.astype(np.float32) / 255 for o in outputs]
    true = [t.astype(np.float32) / 255 for t in truths]
    psnrs = [psnr(o, t, h) for o, t, h in zip(out, true, holes) if h.any()]
    whole = [psnr(o, t, np.ones(h.shape, bool)) for o, t, h in zip(out, true, holes)]
    return float(np.mean(psnrs)), float(np.mean(whole)), temporal_error(outputs, truths, in_both(holes))


def truly_seen(frames: list, t: int, eye, window: int, target: int | None, hole: np.ndarray,
               true_depth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The hole pixels of frame t's `eye` that a frame of its window (`neighbour_indices`)
    truly saw (its reprojected surface, as the sequence fill reprojects it, within
    `TRUE_DEPTH_TOLERANCE` of `true_depth`; 0: unknown), and the mean of those frames'
    colours there (P, 3) in [0, 1]."""
    from stereo_geometry.camera import world_to_camera
    from stereo_geometry.sequence import NEIGHBOUR_RULE
    from stereo_geometry.warp import reproject

    to_eye = world_to_camera(frames[t].pose @ eye.pose)
    total, count = np.zeros(hole.shape + (3,)), np.zeros(hole.shape)
    for s in neighbour_indices(frames, eye, t, window, target):
        other = frames[s]
        seen = reproject(other.image, other.depth, other.K, eye.K, to_eye @ other.pose, NEIGHBOUR_RULE,
                         interpolate=True)
        true = (seen.covered & ~seen.stretched & hole
                & (np.abs(seen.depth - true_depth) <= TRUE_DEPTH_TOLERANCE * true_depth))
        total[true] += seen.image[true]
        count[true] += 1
    saw = count > 0
    return saw, total[saw] / count[saw, None] / 255


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


def neighbour_indices(frames: list, eye, t: int, window: int, leave_out: int | None = None) -> list[int]:
    """Frame t's window for `eye` as the sequence driver takes it (`SequenceDriver.fill`),
    without `leave_out` (a real sequence's frame whose view is the truth)."""
    from stereo_geometry.sequence import nearest_cameras, pool_reach, window_frames

    pool = [s for s in window_frames(t, len(frames), pool_reach(window)) if s != leave_out]
    nearest = nearest_cameras([frames[s].pose for s in pool], (frames[t].pose @ eye.pose)[:3, 3], 2 * window)
    return [pool[i] for i in nearest]


def fill_scene(frames: list, eyes: list, network, window: int, targets: list[int | None]
               ) -> tuple[dict[str, list[np.ndarray]], list[np.ndarray], list[np.ndarray]]:
    """Every method's outputs over one sequence (frame t made into `eyes[t]`, its window
    without frame `targets[t]`), the holes of the frames' own reprojections and the hole
    pixels that other frames filled."""
    import cv2

    from stereo_geometry.sequence import SequenceInfill

    methods = {"per-frame network": (SequenceInfill(network), 0),
               "multi-frame + network": (SequenceInfill(network), window),
               "multi-frame, carry 0.75": (SequenceInfill(network, carry=0.75), window)}
    outputs: dict[str, list[np.ndarray]] = {name: [] for name in [*methods, "Telea per frame"]}
    holes, from_frames = [], []
    for t, (eye, target) in enumerate(zip(eyes, targets)):
        for name, (infill, reach) in methods.items():
            neighbours = [frames[s] for s in neighbour_indices(frames, eye, t, reach, target)]
            result = infill.step(frames[t], neighbours, eye)
            outputs[name].append(result.image)
            if name == "multi-frame + network":
                holes.append(result.hole_mask.astype(bool))
                from_frames.append(result.from_frames.astype(bool))
        warped = outputs["per-frame network"][-1].copy()
        warped[holes[-1]] = 0
        outputs["Telea per frame"].append(cv2.inpaint(warped, holes[-1].astype(np.uint8), 3, cv2.INPAINT_TELEA))
    return outputs, holes, from_frames


def rendered_scenes(args, baseline: float):
    """Per seed: (name, frames, eyes, truth frame of each (None), true other eyes, their depths),
    rendered (or read back from `--keep`)."""
    from stereo_geometry.camera import Eye
    from stereo_geometry.sequence import frame_images, read_frame

    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as tmp:
            folder = args.keep / f"seed_{seed}" if args.keep else Path(tmp)
            folder.mkdir(parents=True, exist_ok=True)
            kept = [folder / "truths.npy", folder / "truth_depths.npy"]
            if args.keep and all(p.exists() for p in kept):  # kept from an earlier run: compare on the same renders
                truths, truth_depths = (list(np.load(p)) for p in kept)
            else:
                truths, truth_depths = render_sequence(folder, args.frames, *args.size, baseline, seed, args.samples,
                                                       args.lit, args.scene_folder, args.step, args.pan)
            frames = [read_frame(path) for path in frame_images(folder).values()]
            if args.keep:
                for path, arrays in zip(kept, (truths, truth_depths)):
                    np.save(path, np.stack(arrays))
        yield (f"seed {seed}", frames, [Eye.shifted(frame.K, baseline) for frame in frames], [None] * len(frames),
               truths, truth_depths)


def real_sequence(folder: Path, offset: int, count: int | None):
    """A real sequence (`--sequence-folder`) as one scene: frame t made into the camera of frame
    t + `offset`, whose photograph and depth (0: unknown) are the truth and which is left out of
    frame t's window; the first `count` frames (all: None)."""
    from stereo_geometry.camera import Eye, world_to_camera
    from stereo_geometry.readers import read_depth
    from stereo_geometry.sequence import depth_file, frame_images, read_frame

    paths = list(frame_images(folder).values())[:count]
    frames = [read_frame(path) for path in paths]
    made = range(len(frames) - offset)
    eyes = [Eye(frames[t].K, world_to_camera(frames[t].pose) @ frames[t + offset].pose) for t in made]
    truths = [frames[t + offset].image for t in made]
    truth_depths = [read_depth(depth_file(paths[t + offset])) for t in made]  # as stored: 0 where unknown
    yield folder.name, frames, eyes, [t + offset for t in made], truths, truth_depths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--size", type=resolution, default=(320, 240), help="WIDTHxHEIGHT")
    parser.add_argument("--model", default="quality", help="shipped model name or a .onnx/.pt file")
    parser.add_argument("--window", type=int, default=4, help="frames before and after that fill holes")
    parser.add_argument("--seeds", type=int, nargs="+", default=[3, 5, 7], help="procedural scenes")
    parser.add_argument("--step", type=float, default=0.015, help="metres the camera moves right a frame")
    parser.add_argument("--pan", type=float, default=0.15, help="degrees the camera turns right a frame")
    parser.add_argument("--samples", type=int, default=16,
                        help="rays per pixel: more than 1 antialiases as Blender renders by default (1.5 px "
                             "Blackman-Harris filter); 1 renders pixel-exact")
    parser.add_argument("--lit", action="store_true", help="lit, layered scenes (datagen_bpy.lit_scene: "
                        "lights, foliage cards, wires, railings, sky) rendered with 4 bounces, denoised")
    parser.add_argument("--scene-folder", type=Path, help="a textured 3D scene folder (glTF, as "
                        "`datagen_bpy --scenes` takes them): each seed a camera move from a view of it, lit")
    parser.add_argument("--sequence-folder", type=Path, help="a real sequence (frames, depths, poses: the "
                        "`--sequence` format): each frame made into the camera of the frame --offset later, "
                        "whose photograph is the truth and which is left out of its window; --frames of them")
    parser.add_argument("--offset", type=int, default=1, help="with --sequence-folder: frames ahead of the truth")
    parser.add_argument("--gif", type=Path, help="write a side-by-side GIF (per-frame network | multi-frame + "
                        "network | truth) of the quarter of the first scene's frame with the most holes")
    parser.add_argument("--keep", type=Path, help="render the sequences into this folder (one folder per "
                        "seed) and keep them, the true other eyes as truths.npy and their depths as "
                        "truth_depths.npy; sequences kept there already are read instead of rendered "
                        "(--frames, --size, --samples, --step, --pan must match)")
    args = parser.parse_args()
    for folder in (args.scene_folder, args.sequence_folder):
        if folder is not None and not folder.is_dir():
            parser.error(f"{folder}: no such folder")
    from stereo_geometry.infill import SHIPPED_MODELS
    from training import load_network
    from training.metrics import psnr

    baseline = 0.063
    network = load_network(str(SHIPPED_MODELS.get(args.model, args.model)))
    table: dict[str, list[tuple[float, float, float]]] = {}
    if args.sequence_folder:
        scenes = real_sequence(args.sequence_folder, args.offset, args.frames)
        print(f"{args.sequence_folder}: each frame made into the camera {args.offset} frame(s) later, "
              f"model {args.model}, window {args.window}")
    else:
        scenes = rendered_scenes(args, baseline)
        print(f"{args.frames} frames {args.size[0]}x{args.size[1]}, {args.samples} samples a pixel, "
              f"model {args.model}, window {args.window}")
    rows = ["| scene | method | hole PSNR dB | whole frame dB | temporal error |", "|---|---|---|---|---|"]
    for number, (name, frames, eyes, targets, truths, truth_depths) in enumerate(scenes):
        outputs, holes, from_frames = fill_scene(frames, eyes, network, args.window, targets)
        seen = np.mean([f.sum() / max(h.sum(), 1) for f, h in zip(from_frames, holes)])
        oracle = [truly_seen(frames, t, eyes[t], args.window, targets[t], h, d)
                  for t, (h, d) in enumerate(zip(holes, truth_depths))]
        true_seen = np.mean([saw.sum() / max(h.sum(), 1) for (saw, _), h in zip(oracle, holes)])
        depth_known = np.mean([(h & (d > 0)).sum() / max(h.sum(), 1) for h, d in zip(holes, truth_depths)])
        truth_there = np.concatenate([truth[saw] for (saw, _), truth in zip(oracle, truths)]) / 255
        made_there = np.concatenate([made[saw] for (saw, _), made in zip(oracle, outputs["multi-frame + network"])]) / 255
        oracle_there = np.concatenate([colours for _, colours in oracle])
        print(f"{name}: holes {np.mean([h.mean() for h in holes]):.1%} of the frame, {seen:.0%} of their pixels "
              f"filled from other frames, {true_seen:.0%} truly seen by one (the true depth is known at "
              f"{depth_known:.0%}); there, pooled: multi-frame "
              f"{psnr(made_there, truth_there, ...):.2f} dB, the true visibility's mean "
              f"{psnr(oracle_there, truth_there, ...):.2f} dB")
        holes_both, frames_both = in_both(holes), in_both(from_frames)
        network_both = in_both([h & ~f for h, f in zip(holes, from_frames)])
        parts = {"frames": frames_both, "network": network_both,
                 "one each": [h & ~f & ~n for h, f, n in zip(holes_both, frames_both, network_both)]}
        print(f"{name}: temporal error by where the multi-frame fill came from in both frames (share of the "
              "pixels that are holes in both; error there, the per-frame network's there): " + "; ".join(
                  f"{part} {np.sum(p) / max(np.sum(holes_both), 1):.0%}, "
                  f"{temporal_error(outputs['multi-frame + network'], truths, p):.4f} "
                  f"({temporal_error(outputs['per-frame network'], truths, p):.4f})" if np.any(p) else f"{part} none"
                  for part, p in parts.items()))
        for method, outs in outputs.items():
            p, w, e = scores(outs, truths, holes)
            table.setdefault(method, []).append((p, w, e))
            rows.append(f"| {name} | {method} | {p:.2f} | {w:.2f} | {e:.4f} |")
        if args.gif and number == 0:
            h, w = holes[0].shape
            write_gif(args.gif, [outputs["per-frame network"], outputs["multi-frame + network"], truths],
                      busiest_window(holes, h // 2, w // 2))
            print(f"wrote {args.gif}")
    per_frame = np.mean([e for *_, e in table["per-frame network"]])
    for method, results in table.items():
        p, w, e = np.mean(results, axis=0)
        rows.append(f"| mean | {method} | {p:.2f} | {w:.2f} | {e:.4f} ({e / per_frame:.2f}x per-frame) |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
