"""Running a data-generation job: worker processes (each its own bpy), progress, resume,
failures. The main process never imports bpy."""
from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import math
import os
import queue
import random
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Iterator

import numpy as np

from stereo_geometry import HoleRule, Intrinsics
from stereo_geometry.mesh import SHIPPED_HOLE_RULE

from .prepare import DEFAULT_MAX_DEPTH, DEFAULT_MIN_VALID, prepare_view
from stereo_geometry.readers import DEFAULT_PNG_DEPTH_SCALE, InputError, read_depth, read_image, read_intrinsics
from .sources import BaselineSpec, Task
from . import timing
from stereo_geometry.writer import (read_meta, sample_is_whole, stale_temporary, temporary_files, write_jsonl,
                                    write_sample)

PROCEDURAL_FOV_DEG = (50.0, 75.0)
log = logging.getLogger(__name__)


@dataclass
class Options:
    """Everything a worker needs to turn a task into a sample file."""

    out: Path
    width: int = 512
    height: int = 384
    baseline: BaselineSpec = field(default_factory=lambda: BaselineSpec.parse("0.063,0.0315:0.035"))
    swap_prob: float = 0.5
    toe_in_prob: float = 0.0
    hole_rule: HoleRule = SHIPPED_HOLE_RULE
    fov_deg: float = 60.0
    png_depth_scale: float = DEFAULT_PNG_DEPTH_SCALE
    max_depth: float = DEFAULT_MAX_DEPTH
    min_valid: float = DEFAULT_MIN_VALID
    photos: tuple[Path, ...] = ()
    depth_model: str | None = None
    depth_model_path: Path | None = None
    threads: int = 0
    quiet_blender: bool = True

    @property
    def samples_dir(self) -> Path:
        return self.out / "samples"


_state: dict = {}


def _exit_with(parent: int) -> None:
    """Stop this worker once its job process is gone (killed or crashed), instead of
    rendering on as an orphan."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def cpu_slices(workers: int, threads: int) -> list[set[int]]:
    """The CPUs each of `workers` keeps to: `threads` of this process's own CPUs each, in turn
    (wrapping round when there are too few)."""
    cpus = sorted(os.sched_getaffinity(0))
    return [{cpus[(i * threads + k) % len(cpus)] for k in range(threads)} for i in range(workers)]


def init_worker(options: Options, slices=None) -> None:
    """Start a worker: keep to the next CPU slice of the `slices` queue (before bpy starts:
    Blender's thread pool sizes itself to the CPUs it may use, and its idle threads spin,
    taking a core's time from the other workers), stop with the job process, silence
    Blender's console output and set up its renderer."""
    if slices is not None:
        with contextlib.suppress(queue.Empty):
            os.sched_setaffinity(0, slices.get_nowait())
    threading.Thread(target=_exit_with, args=(os.getppid(),), daemon=True).start()
    if options.quiet_blender:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
    from .renderer import Renderer

    _state["options"] = options
    _state["renderer"] = Renderer(options.width, options.height, options.threads)


def _depth_model():
    if "depth_model" not in _state:
        from .depth_models import load_depth_model

        options = _state["options"]
        _state["depth_model"] = load_depth_model(options.depth_model, options.depth_model_path)
    return _state["depth_model"]


def _load_view(task: Task, options: Options) -> tuple[np.ndarray, np.ndarray, Intrinsics]:
    """Image, depth and intrinsics of a photo task, ready for the pipeline. Depth comes
    from the map beside the photo or, without one, from --depth-model; intrinsics from the
    sidecar JSON, else the depth model, else --fov."""
    image = read_image(task.image)
    h, w = image.shape[:2]
    K = read_intrinsics(task.intrinsics, w, h) if task.intrinsics else None
    if task.depth is not None:
        depth = read_depth(task.depth, options.png_depth_scale)
    elif options.depth_model:
        estimate = _depth_model()(image)
        depth, K = estimate.depth, K or estimate.K
    else:
        raise InputError(f"{task.image}: no depth map found beside it (see --depth-dir)")
    K = K or Intrinsics.from_fov(w, h, options.fov_deg)
    return prepare_view(image, depth, K, options.width, options.height,
                        str(task.depth or task.image), options.min_valid, options.max_depth)


def make_task(task: Task) -> tuple[str, dict | None, str | None]:
    """Make one sample file. Returns (name, metadata, None) or (name, None, error message)."""
    from stereo_geometry import disocclusion_sample

    from .lit_scene import lit_sample
    from .scene_files import scene_sample
    from .pipeline import CyclesWarp
    from .procedural import render_scene

    options, renderer = _state["options"], _state["renderer"]
    rng = random.Random(task.seed)
    try:
        started = time.perf_counter()
        timing.seconds.clear()
        toe_in = 0.0
        if task.kind in ("lit", "scene"):  # both eyes rendered: the target is the other eye's true render
            K = Intrinsics.from_fov(options.width, options.height, rng.uniform(*PROCEDURAL_FOV_DEG))
            baseline = options.baseline.sample(rng)
            swap = rng.random() < options.swap_prob
            signed_baseline = -baseline if swap else baseline
            scene_rng = np.random.default_rng(task.seed)
            with timing.stage(f"{task.kind} scene"):
                if task.kind == "scene":
                    arrays = scene_sample(renderer, task.scene, K, signed_baseline, scene_rng, options.hole_rule)
                else:
                    arrays = lit_sample(renderer, K, signed_baseline, scene_rng, list(options.photos),
                                        options.hole_rule)
        else:
            if task.kind == "procedural":
                K = Intrinsics.from_fov(options.width, options.height, rng.uniform(*PROCEDURAL_FOV_DEG))
                with timing.stage("source scene"):
                    image, depth = render_scene(renderer, K, np.random.default_rng(task.seed),
                                                list(options.photos))
            else:
                with timing.stage("source load"):
                    image, depth, K = _load_view(task, options)
            baseline = options.baseline.sample(rng)
            swap = rng.random() < options.swap_prob
            if rng.random() < options.toe_in_prob:
                toe_in = math.degrees(math.atan(baseline / float(np.mean(depth))))
            signed_baseline = -baseline if swap else baseline
            arrays = disocclusion_sample(image, depth, K, signed_baseline, toe_in, options.hole_rule,
                                         warp=CyclesWarp(renderer))
        if arrays["hole_mask"].all():
            raise InputError(f"{task.image or task.name}: every pixel of the sample is a hole "
                             "(depth far too small for the baseline?)")
        meta = {
            "name": task.name, "file": f"samples/{task.name}.npz", "source": task.source,
            "depth_source": (str(task.depth) if task.depth else task.kind if task.image is None
                             else f"model:{options.depth_model}"),
            "seed": task.seed, "baseline": signed_baseline, "swap": swap, "toe_in_deg": toe_in,
            "intrinsics": K.to_dict(), "hole_rule": options.hole_rule.name,
            "hole_fraction": round(float(arrays["hole_mask"].mean()), 6),
        }
        if task.split is not None:
            meta["split"] = task.split
        with timing.stage("write"):
            write_sample(options.samples_dir / f"{task.name}.npz", arrays, meta)
        meta["seconds"] = round(time.perf_counter() - started, 3)
        meta["stages"] = dict(timing.seconds)  # not in the file: timings differ run to run
        return task.name, meta, None
    except OSError as exc:
        if exc.errno in _DISK_ERRORS:
            return task.name, None, f"{DiskError.__name__}: cannot write {options.out}: {exc.strerror}"
        return task.name, None, f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # one bad input must not stop the job
        message = str(exc) if isinstance(exc, InputError) else f"{type(exc).__name__}: {exc}"
        return task.name, None, message


@dataclass
class RunResult:
    made: int
    skipped: int
    failures: list[dict]
    stage_seconds: dict[str, float] = field(default_factory=dict)  # summed over made samples
    fatal: str | None = None  # why the job stopped early (a full disk), if it did

    @property
    def stopped(self) -> bool:
        return self.fatal is not None


#: Errors of the output disk: no later sample can be written either, so the job stops.
_DISK_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)
CORRUPT_SUFFIX = ".corrupt"


class DiskError(OSError):
    """The output cannot be written (disk full, read-only): the job stops."""


def _fatal(error: str) -> str | None:
    """The message of a worker error that must stop the job (its text starts with 'DiskError:')."""
    return error if error.startswith(DiskError.__name__ + ":") else None


def run(tasks: list[Task], options: Options, workers: int = 1, manifest_name: str = "manifest.jsonl",
        failures_name: str = "failures.jsonl", progress: bool = True) -> RunResult:
    """Make every task's sample that is not on disk yet, with `workers` Blender processes.

    Writes `manifest_name` in `options.out`: one JSON line per finished sample in the
    folder, this run's and earlier runs' alike (rewritten from the files at the start and the
    end, appended to as samples finish, all under a lock so that runs at once lose no line),
    and `failures_name`: one line per task that failed in this run. A sample file that cannot
    be read is moved aside to NAME.npz.corrupt, named, and made again. A worker that dies (a
    Blender crash, the OOM killer) is replaced; the tasks it may have held are retried one at a
    time, and one that kills a worker again is recorded as failed by name. A full or read-only
    disk stops the job with one error, leaving no partial file.
    """
    from tqdm import tqdm

    options.samples_dir.mkdir(parents=True, exist_ok=True)
    for stale in filter(stale_temporary, temporary_files(options.samples_dir)):
        stale.unlink(missing_ok=True)  # left by a killed run, never a running one's
    manifest = options.out / manifest_name
    failures: list[dict] = []
    names = [t.name for t in tasks]
    for _, message in _write_manifest(manifest, options.samples_dir, names):
        log.warning(message)
    todo = [t for t in tasks if not (options.samples_dir / f"{t.name}.npz").exists()]
    by_name = {t.name: t for t in tasks}
    stage_seconds: dict[str, float] = {}
    made, fatal = 0, None
    if options.threads == 0:
        options.threads = max(1, (os.cpu_count() or 1) // max(workers, 1))

    with tqdm(total=len(tasks), initial=len(tasks) - len(todo), unit="sample",
              disable=not progress, dynamic_ncols=True) as bar:

        def finished(name: str, meta: dict | None, error: str | None) -> None:
            nonlocal made, fatal
            if error is None:
                made += 1
                in_file = {k: v for k, v in meta.items() if k not in ("seconds", "stages")}
                _append_manifest(manifest, in_file)
                for key, value in meta["stages"].items():
                    stage_seconds[key] = stage_seconds.get(key, 0.0) + value
            elif _fatal(error):
                fatal = fatal or error.split(":", 1)[1].strip()
                return
            else:
                failures.append({"name": name, "source": by_name[name].source, "error": error})
                bar.write(f"failed: {name}: {error}")
            bar.update(1)
            bar.set_postfix(failed=len(failures))

        suspects = _run_pool(todo, options, workers, finished, lambda: fatal is not None)
        for task in suspects:  # each alone: the one that kills a worker again fails by name
            if fatal is not None:
                break
            if _run_pool([task], options, 1, finished, lambda: fatal is not None):
                finished(task.name, None, "a Blender worker died twice on this task (crash or out of "
                                          "memory); it was skipped")
    try:
        _write_manifest(manifest, options.samples_dir, names)
        write_jsonl(options.out / failures_name, failures)
    except OSError as exc:
        fatal = fatal or str(exc)
    return RunResult(made=made, skipped=len(tasks) - len(todo), failures=failures,
                     stage_seconds=stage_seconds, fatal=fatal)


def _run_pool(tasks: list[Task], options: Options, workers: int, finished, stop) -> list[Task]:
    """Run `tasks` in a pool of `workers` Blender processes, reporting each to `finished`;
    a worker that dies is replaced and the pool goes on with the tasks not yet begun. Returns
    the tasks that were running when a worker died (the suspects), not yet retried."""
    suspects: list[Task] = []
    remaining = list(tasks)
    context = get_context("spawn")
    pinned = hasattr(os, "sched_setaffinity")  # Linux
    while remaining and not stop():
        slices = context.Queue() if pinned else None
        for cpus in cpu_slices(max(workers, 1), options.threads) if pinned else ():
            slices.put(cpus)
        with ProcessPoolExecutor(max_workers=max(workers, 1), mp_context=context,
                                 initializer=init_worker, initargs=(options, slices)) as pool:
            futures = {pool.submit(make_task, t): t for t in remaining}
            done: set[str] = set()
            try:
                for future in as_completed(futures):
                    name, meta, error = future.result()
                    done.add(name)
                    finished(name, meta, error)
                    if stop():
                        for other in futures:
                            other.cancel()
                        break
            except BrokenProcessPool:
                # Which task killed it is not known: those running become suspects (at most
                # one per worker); those not begun run in a new pool.
                # Workers take tasks in submission order, so the earliest unfinished ones
                # were running; a wrong guess dies again and becomes a suspect then.
                unfinished = [t for t in futures.values() if t.name not in done]
                suspects += unfinished[:max(workers, 1)]
                remaining = unfinished[max(workers, 1):]
                continue
        remaining = []
    return suspects


@contextlib.contextmanager
def _manifest_lock(manifest: Path) -> Iterator[None]:
    """An exclusive lock on `manifest` (a `.lock` file beside it) for rewrites and appends."""
    with open(manifest.with_name(manifest.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _append_manifest(manifest: Path, record: dict) -> None:
    with _manifest_lock(manifest), open(manifest, "a") as f:
        f.write(json.dumps(record, sort_keys=True) + "\n")


def _write_manifest(manifest: Path, samples_dir: Path, names: list[str]) -> list[tuple[str, str]]:
    """Rewrite `manifest` with every finished sample it lists already (earlier runs into the
    folder) and every finished sample of `names` (this run's tasks, read from their files).
    A file that cannot be read is moved aside to NAME.npz.corrupt; returns (name, message)
    for each."""
    problems = []
    with _manifest_lock(manifest):
        records = {}
        if manifest.exists():
            for line in manifest.read_text().splitlines():
                try:
                    record = json.loads(line)
                    if sample_is_whole(samples_dir.parent / record["file"]):
                        records[record["name"]] = record
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue  # a line cut short by a killed run: its file is read below
        for name in names:
            path = samples_dir / f"{name}.npz"
            if name in records or not path.is_file():
                continue
            try:
                records[name] = read_meta(path)
            except Exception as exc:  # zip, JSON or numpy errors: a damaged file
                path.replace(path.with_name(path.name + CORRUPT_SUFFIX))
                problems.append((name, f"{path}: unreadable sample ({type(exc).__name__}: {exc}); "
                                       f"moved aside to {path.name + CORRUPT_SUFFIX}, it is made again"))
        write_jsonl(manifest, [records[n] for n in sorted(records)])
    return problems
