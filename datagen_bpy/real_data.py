"""Real training data from ../shared/data/train: `python -m datagen_bpy.real_data --root
../shared/data/train --out data/real` (see README, "Real data").

Three folders, each a data folder of the usual format (samples/, manifest*.jsonl):
- `OUT/disocclusions/`: real disocclusions. Each stereo pair's view is reprojected into the
  other camera with its ground-truth disparity (both directions where the pair has both
  disparity maps), at several sizes; the target is the other camera's photograph, and
  `loss_mask` (uint8, 1 = trust the target) is 0 where its disparity is unknown. Pure numpy.
- `OUT/motion/`: real disocclusions from camera motion. In each real sequence (frames, depths,
  poses), a frame reprojected into the camera of a frame 1-3 later (`motion_jobs`), the later
  photograph the target. Pure numpy.
- `OUT/rendered/`: the RGB-D frames and the stereo views (depth from disparity, with the
  scene's calibration where SOURCE.txt gives it) through the Blender pipeline: real textures
  and real depth edges, the holes made by the project's own geometry.

Every record has `split`: "train" or "val". Validation is a fixed fifth of the scene groups
(names without their trailing numbers, so cloth1..cloth4 stay together; a sequence's blocks
of 30 frames), per kind of source, chosen by a hash of the group name: the same on every
machine, whatever else is added.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import io
import json
import math
import re
import sys
from functools import partial
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from stereo_geometry.camera import world_to_camera
from stereo_geometry.mesh import SHIPPED_HOLE_RULE, HoleRule
from stereo_geometry.readers import InputError
from stereo_geometry.sample import masked_inputs
from stereo_geometry.stereo_pairs import find_scenes, load_scene, reprojected_pair, view_depth
from stereo_geometry.warp import reproject
from stereo_geometry.writer import (atomic_write_bytes, stale_temporary, temporary_files, read_meta, writable_folder, write_image, write_jsonl,
                     write_sample, write_text)

DEFAULT_SCALES = (1.0, 0.8, 0.6, 0.45)
VAL_FRACTION = 0.2


def scene_group(name: str) -> str:
    """The scene a name belongs to: the name without trailing numbers (cloth3 -> cloth,
    sunrgbd_is_train_0004 -> sunrgbd_is_train)."""
    return re.sub(r"[_-]*\d+$", "", name) or name


def validation_groups(groups: list[str], fraction: float = VAL_FRACTION) -> set[str]:
    """A fixed `fraction` of the groups (at least one of two or more), the ones whose name
    hashes lowest."""
    unique = sorted(set(groups), key=lambda g: hashlib.sha256(g.encode()).hexdigest())
    n = max(1, round(len(unique) * fraction)) if len(unique) > 1 else 0
    return set(unique[:n])


#: One sample to make: its name, the file or folder named when it fails, and what makes its
#: arrays, the mask of where its target is right and its record (InputError: not made).
PairJob = tuple[str, str, Callable[[], tuple[dict[str, np.ndarray], np.ndarray, dict]]]


def write_pair_samples(out: Path, jobs: Iterable[PairJob], progress: bool = True) -> tuple[int, list[dict]]:
    """Make and write the samples of `jobs` into `out` (samples/, manifest.jsonl,
    failures.jsonl), skipping finished ones; a job that raises InputError, or whose scored
    holes exceed `MAX_SCORED_HOLES`, is a failure; a full disk stops the job. Returns (samples
    made, failures)."""
    from tqdm import tqdm

    samples = out / "samples"
    samples.mkdir(parents=True, exist_ok=True)
    for stale in filter(stale_temporary, temporary_files(samples)):
        stale.unlink(missing_ok=True)  # a killed run's, never a running one's
    made, failures, names = 0, [], []
    for name, source, make in tqdm(jobs, disable=not progress, unit="sample"):  # lazily: one source read at a time
        names.append(name)
        path = samples / f"{name}.npz"
        if path.exists():
            continue
        try:
            arrays, known, meta = make()
        except InputError as exc:
            failures.append({"name": name, "source": source, "error": str(exc)})
            continue
        hole = arrays["hole_mask"].astype(bool)
        if (hole & known).mean() > MAX_SCORED_HOLES:
            failures.append({"name": name, "source": source, "error":
                             f"{source}: {(hole & known).mean():.0%} of the view would be hole (is the disparity "
                             "scaled right? see disp_divisor in scene.json; or the views too far apart); skipped"})
            continue
        meta = {"name": name, "file": f"samples/{name}.npz", **meta, "hole_fraction": round(float(hole.mean()), 6),
                "scored_hole_fraction": round(float((hole & known).mean()), 6)}
        try:
            write_sample(path, arrays | {"loss_mask": known.astype(np.uint8)}, meta)
        except OSError as exc:  # a full or read-only disk: no later sample can be written
            failures.append({"name": name, "source": source, "error": f"the job stopped: {exc}"})
            return made, failures + _write_records(out, samples, names, failures)
        made += 1
    return made, failures + _write_records(out, samples, names, failures)


def make_disocclusions(stereo_root: Path, out: Path, scales: tuple[float, ...] = DEFAULT_SCALES,
                       progress: bool = True, rule: HoleRule = SHIPPED_HOLE_RULE) -> tuple[int, list[dict]]:
    """Write the real-disocclusion samples of every scene under `stereo_root` into `out`
    (`disocclusion_jobs`). Returns (samples made, failures)."""
    return write_pair_samples(out, disocclusion_jobs(stereo_root, scales, rule), progress)


def disocclusion_jobs(stereo_root: Path, scales: tuple[float, ...] = DEFAULT_SCALES,
                      rule: HoleRule = SHIPPED_HOLE_RULE) -> Iterator[PairJob]:
    """The real-disocclusion samples of every scene under `stereo_root`: each view reprojected
    into the other camera (both directions where the pair has both disparities) at each scale,
    holes as `rule` says. A scene that cannot be read is one failing job."""
    folders = find_scenes(stereo_root)
    val = validation_groups([scene_group(f.name) for f in folders])
    for folder in folders:
        try:
            full = load_scene(folder)
        except InputError as exc:
            yield folder.name, str(folder), partial(_raise, exc)
            continue
        for scale in scales:
            scene = full.resized(scale)
            for eye in ["left"] + (["right"] if full.disp_right is not None else []):
                name = f"{full.name}_{'lr' if eye == 'left' else 'rl'}_s{round(scale * 100):03d}"
                yield name, str(folder), partial(_disocclusion_sample, full, scene, scale, eye, rule,
                                                 "val" if scene_group(full.name) in val else "train")


def _raise(exc: Exception):
    raise exc


def _disocclusion_sample(full, scene, scale: float, eye: str, rule: HoleRule, split: str):
    arrays, known = reprojected_pair(scene, eye, rule)
    h, w = known.shape
    return arrays, known, {"source": full.name, "kind": "real_disocclusion", "source_eye": eye, "scale": scale,
                           "split": split, "calibrated": full.calibrated, "baseline": scene.rig.baseline,
                           "intrinsics": scene.rig.intrinsics("right" if eye == "left" else "left", w, h).to_dict(),
                           "hole_rule": rule.name}


#: Frames apart of the motion pairs of a real sequence, the most the camera may turn between
#: them (degrees: beyond, most of the view leaves the frame), and how many frames make one
#: validation group (neighbouring frames see the same things).
MOTION_STEPS = (1, 2, 3)
MAX_MOTION_TURN = 25.0
MOTION_GROUP_FRAMES = 30


def camera_rotation(image_path: Path) -> np.ndarray | None:
    """The rotation of a frame's camera (its NNNN.json pose), or None where it cannot be read
    (making a pair with the frame then names the problem)."""
    try:
        return np.array(json.loads(image_path.with_suffix(".json").read_text())["camera_to_world"], float)[:3, :3]
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None


def camera_turn(a: np.ndarray | None, b: np.ndarray | None) -> float:
    """Degrees a camera turns from rotation `a` to `b` (`camera_rotation`); 0 where one is unknown."""
    if a is None or b is None:
        return 0.0
    return math.degrees(math.acos(float(np.clip((np.trace(a.T @ b) - 1) / 2, -1, 1))))


def motion_jobs(sequences_root: Path, steps: tuple[int, ...] = MOTION_STEPS,
                rule: HoleRule = SHIPPED_HOLE_RULE) -> Iterator[PairJob]:
    """Real disocclusions from camera motion: in every sequence folder under `sequences_root`
    (frames, depths and poses: `stereo_geometry.sequence`), frame t reprojected into the camera
    of frame t + k for each k of `steps` where the camera turns at most `MAX_MOTION_TURN`, the
    photograph of frame t + k the target (its valid depth as the target depth). Validation: a
    fixed fifth of the blocks of `MOTION_GROUP_FRAMES` frames."""
    from stereo_geometry.sequence import frame_images

    folders = sorted(f for f in sequences_root.iterdir() if f.is_dir())
    frames = {}
    for folder in folders:
        try:
            frames[folder] = list(frame_images(folder).values())
        except (OSError, ValueError) as exc:
            yield folder.name, str(folder), partial(_raise, InputError(str(exc)))
    groups = {(f, t): f"{f.name}/{t // MOTION_GROUP_FRAMES}" for f, paths in frames.items() for t in range(len(paths))}
    val = validation_groups(list(groups.values()))
    for folder, paths in frames.items():
        rotations = [camera_rotation(path) for path in paths]
        for t in range(len(paths)):
            for k in steps:
                if t + k < len(paths) and camera_turn(rotations[t], rotations[t + k]) <= MAX_MOTION_TURN:
                    split = "val" if groups[folder, t] in val else "train"
                    yield (f"{folder.name}_{paths[t].stem}_{paths[t + k].stem}", str(paths[t]),
                           partial(_motion_sample, paths[t], paths[t + k], rule, split, folder.name))


def _motion_sample(source: Path, target: Path, rule: HoleRule, split: str, sequence: str):
    from stereo_geometry.readers import read_depth
    from stereo_geometry.sequence import depth_file, read_frame

    try:
        view, seen = read_frame(source), read_frame(target)
        target_depth = read_depth(depth_file(target))  # as stored: 0 or NaN where unknown
    except ValueError as exc:
        raise InputError(str(exc)) from None
    if view.K != seen.K:
        raise InputError(f"{target}: its intrinsics differ from {source}'s")
    warp = reproject(view.image, view.depth, view.K, seen.K, world_to_camera(seen.pose) @ view.pose, rule,
                     interpolate=True)
    known = np.ones(warp.hole_mask.shape, bool)
    arrays = {"image_generated_left": warp.image, "hole_mask": warp.hole_mask, "depth_generated_left": warp.depth,
              **masked_inputs(warp.hole_mask, warp.depth, seen.K), "org_left_image": seen.image,
              "org_left_depth": np.where(np.isfinite(target_depth) & (target_depth > 0), target_depth, 0).astype(np.float32)}
    return arrays, known, {"source": sequence, "kind": "real_motion", "split": split, "intrinsics": seen.K.to_dict(),
                           "hole_rule": rule.name}


def _write_records(out: Path, samples: Path, names: list[str], failures: list[dict]) -> list[dict]:
    """Write the manifest of the finished samples among `names` and the failures; a failure
    to write them (a full disk) comes back as one more failure."""
    try:
        write_jsonl(out / "manifest.jsonl", [read_meta(samples / f"{n}.npz") for n in names
                                             if (samples / f"{n}.npz").exists()])
        write_jsonl(out / "failures.jsonl", failures)
    except OSError as exc:
        return [{"name": "manifest", "source": str(out), "error": f"the job stopped: {exc}"}]
    return []


def stage_stereo_views(stereo_root: Path, staging: Path) -> list[Path]:
    """Each stereo view with known disparity as an RGB-D folder (`rgb.png`, `depth_m.npy`
    metres, `intrinsics.json`) under `staging`, for the Blender pipeline. Returns them."""
    views = []
    for folder in find_scenes(stereo_root):
        try:
            scene = load_scene(folder)
        except InputError as exc:
            print(f"skipped: {exc}", file=sys.stderr)
            continue
        for eye in ("left", "right"):
            image, disparity = scene.view(eye)
            if disparity is None:
                continue
            view = staging / f"{scene.name}_{eye}"
            view.mkdir(parents=True, exist_ok=True)
            h, w = disparity.shape
            K = scene.rig.intrinsics(eye, w, h)
            depth = np.where(disparity > 0, view_depth(disparity, scene.rig), 0).astype(np.float32)
            write_image(view / "rgb.png", image)
            buffer = io.BytesIO()
            np.save(buffer, depth)
            atomic_write_bytes(view / "depth_m.npy", buffer.getvalue())
            write_text(view / "intrinsics.json", json.dumps(
                K.to_dict() | {"note": "calibrated" if scene.calibrated else "default rig"}))
            views.append(view)
    return views


def render_real_views(roots: dict[str, Path], out: Path, count: int, width: int, height: int,
                      workers: int, seed: int, progress: bool = True,
                      rule: HoleRule = SHIPPED_HOLE_RULE) -> list[dict]:
    """Run the Blender pipeline on RGB-D folders: `roots` maps a kind ("stereo", "rgbd") to a
    folder of RGB-D sub-folders; one manifest per kind in `out`. Returns the failures."""
    from .runner import Options, run
    from .sources import make_tasks

    failures = []
    for kind, root in roots.items():
        tasks = make_tasks(seed, count, root, root)
        groups = {t.name: scene_group(t.image.parent.name.removesuffix("_left").removesuffix("_right"))
                  for t in tasks}
        val = validation_groups(list(groups.values()))
        tasks = [dataclasses.replace(t, split="val" if groups[t.name] in val else "train") for t in tasks]
        options = Options(out=out, width=width, height=height, hole_rule=rule)
        result = run(tasks, options, workers, f"manifest.{kind}.jsonl", f"failures.{kind}.jsonl",
                     progress=progress)
        failures += result.failures
        if result.stopped:
            failures.append({"name": kind, "source": str(root), "error": f"the job stopped: {result.fatal}"})
            break
        print(f"{kind}: {result.made} made, {result.skipped} already there, "
              f"{len(result.failures)} failed -> {out}", file=sys.stderr)
    return failures


def _scales(text: str) -> tuple[float, ...]:
    try:
        scales = tuple(float(s) for s in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"scales must be numbers like 1,0.8,0.6, got '{text}'") from None
    if not scales or any(not (0.05 <= s <= 4) or not math.isfinite(s) for s in scales):
        raise argparse.ArgumentTypeError(f"scales must lie in [0.05, 4], got '{text}'")
    return scales


#: A real disocclusion with more of its frame in holes is refused: a disparity read at the wrong
#: scale, not a stereo pair (real pairs here: 2-25 %).
MAX_SCORED_HOLES = 0.6


def main(argv: list[str] | None = None) -> int:
    from stereo_geometry.arguments import add_hole_rule_option, resolution

    p = argparse.ArgumentParser(prog="python -m datagen_bpy.real_data", description=__doc__.split("\n\n")[0])
    p.add_argument("--root", type=Path, required=True,
                   help="folder with stereo/ (scene folders), rgbd/ (RGB-D folders) and/or sequences/ "
                        "(sequence folders: frames, depths, poses)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--scales", type=_scales, default=DEFAULT_SCALES,
                   help="sizes of the real disocclusions (default 1,0.8,0.6,0.45)")
    p.add_argument("--count", type=int, default=2, help="rendered samples per view (default 2)")
    p.add_argument("--resolution", type=resolution, default=(384, 288), metavar="WxH",
                   help="size of the rendered samples (default 384x288)")
    p.add_argument("--workers", type=int, default=1, help="Blender processes (default 1)")
    p.add_argument("--seed", type=int, default=0, help="run seed (default 0)")
    p.add_argument("--skip-rendered", action="store_true", help="make only the real disocclusions (stereo and motion)")
    add_hole_rule_option(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    stereo, rgbd, sequences = args.root / "stereo", args.root / "rgbd", args.root / "sequences"
    if not any(folder.is_dir() for folder in (stereo, rgbd, sequences)):
        p.error(f"--root {args.root}: has none of stereo/, rgbd/, sequences/")
    if (not (stereo.is_dir() and find_scenes(stereo)) and not (rgbd.is_dir() and any(rgbd.iterdir()))
            and not (sequences.is_dir() and any(sequences.iterdir()))):
        p.exit(2, f"error: --root {args.root}: nothing to do (no scene folder with scene.json in stereo/, "
                  "nothing in rgbd/ or sequences/)\n")
    if args.count < 1 or args.workers < 1:
        p.error("--count and --workers must be >= 1")
    problem = writable_folder(args.out)
    if problem:
        p.exit(2, f"error: --out {args.out}: {problem}\n")
    failures = []
    if stereo.is_dir():
        made, failed = make_disocclusions(stereo, args.out / "disocclusions", args.scales,
                                          not args.no_progress, args.hole_rule)
        failures += failed
        print(f"disocclusions: {made} made, {len(failed)} failed -> {args.out / 'disocclusions'}",
              file=sys.stderr)
    if sequences.is_dir():
        made, failed = write_pair_samples(args.out / "motion", motion_jobs(sequences, rule=args.hole_rule),
                                          not args.no_progress)
        failures += failed
        print(f"motion: {made} made, {len(failed)} failed -> {args.out / 'motion'}", file=sys.stderr)
    if not args.skip_rendered:
        roots = {}
        if stereo.is_dir():
            staging = args.out / "staging"
            stage_stereo_views(stereo, staging)
            roots["stereo"] = staging
        if rgbd.is_dir():
            roots["rgbd"] = rgbd
        failures += render_real_views(roots, args.out / "rendered", args.count, *args.resolution,
                                      args.workers, args.seed, not args.no_progress, args.hole_rule)
    for failure in failures:
        print(f"failed: {failure['name']}: {failure['error']}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
