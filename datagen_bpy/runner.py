"""Running a data-generation job: worker processes (each its own bpy), progress, resume,
failures. The main process never imports bpy."""
from __future__ import annotations

import json
import math
import os
import random
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from stereo_geometry import DEFAULT_MAX_ANGLE_DEG, DEFAULT_MIN_GROWTH_PX, Intrinsics

from .prepare import DEFAULT_MAX_DEPTH, DEFAULT_MIN_VALID, prepare_view
from .readers import DEFAULT_PNG_DEPTH_SCALE, InputError, read_depth, read_image, read_intrinsics
from .sources import BaselineSpec, Task
from . import timing
from .writer import TMP_SUFFIX, read_meta, write_jsonl, write_sample

PROCEDURAL_FOV_DEG = (50.0, 75.0)


@dataclass
class Options:
    """Everything a worker needs to turn a task into a sample file."""

    out: Path
    width: int = 512
    height: int = 384
    baseline: BaselineSpec = field(default_factory=lambda: BaselineSpec.parse("0.063,0.0315:0.035"))
    swap_prob: float = 0.5
    toe_in_prob: float = 0.0
    max_angle_deg: float = DEFAULT_MAX_ANGLE_DEG
    min_growth_px: float = DEFAULT_MIN_GROWTH_PX
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


def init_worker(options: Options) -> None:
    """Start a worker: stop with the job process, silence Blender's console output and set
    up its renderer."""
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
    from .pipeline import make_sample
    from .procedural import render_scene

    options, renderer = _state["options"], _state["renderer"]
    rng = random.Random(task.seed)
    try:
        started = time.perf_counter()
        timing.seconds.clear()
        if task.image is None:
            K = Intrinsics.from_fov(options.width, options.height, rng.uniform(*PROCEDURAL_FOV_DEG))
            with timing.stage("source scene"):
                image, depth = render_scene(renderer, K, np.random.default_rng(task.seed),
                                            list(options.photos))
        else:
            with timing.stage("source load"):
                image, depth, K = _load_view(task, options)
        baseline = options.baseline.sample(rng)
        swap = rng.random() < options.swap_prob
        toe_in = (math.degrees(math.atan(baseline / float(np.mean(depth))))
                  if rng.random() < options.toe_in_prob else 0.0)
        signed_baseline = -baseline if swap else baseline
        arrays = make_sample(renderer, image, depth, K, signed_baseline, toe_in,
                             options.max_angle_deg, options.min_growth_px)
        meta = {
            "name": task.name, "file": f"samples/{task.name}.npz", "source": task.source,
            "depth_source": (str(task.depth) if task.depth else "procedural" if task.image is None
                             else f"model:{options.depth_model}"),
            "seed": task.seed, "baseline": signed_baseline, "swap": swap, "toe_in_deg": toe_in,
            "intrinsics": K.to_dict(), "max_angle_deg": options.max_angle_deg,
            "min_growth_px": options.min_growth_px,
            "hole_fraction": round(float(arrays["hole_mask"].mean()), 6),
        }
        if task.split is not None:
            meta["split"] = task.split
        with timing.stage("write"):
            write_sample(options.samples_dir / f"{task.name}.npz", arrays, meta)
        meta["seconds"] = round(time.perf_counter() - started, 3)
        meta["stages"] = dict(timing.seconds)  # not in the file: timings differ run to run
        return task.name, meta, None
    except Exception as exc:  # one bad input must not stop the job
        message = str(exc) if isinstance(exc, InputError) else f"{type(exc).__name__}: {exc}"
        return task.name, None, message


@dataclass
class RunResult:
    made: int
    skipped: int
    failures: list[dict]
    stage_seconds: dict[str, float] = field(default_factory=dict)  # summed over made samples


def run(tasks: list[Task], options: Options, workers: int = 1, manifest_name: str = "manifest.jsonl",
        failures_name: str = "failures.jsonl", progress: bool = True) -> RunResult:
    """Make every task's sample that is not on disk yet, with `workers` Blender processes.

    Writes `manifest_name` (one JSON line per finished sample of `tasks`: rewritten from the
    files at the start, appended to as samples finish, so a running job's data is usable,
    and rewritten sorted by name at the end) and `failures_name` (one line per task that
    failed in this run) in `options.out`.
    """
    from tqdm import tqdm

    options.samples_dir.mkdir(parents=True, exist_ok=True)
    for stale in options.samples_dir.glob("*" + TMP_SUFFIX):
        stale.unlink()  # left by a killed run: never a finished sample
    todo = [t for t in tasks if not (options.samples_dir / f"{t.name}.npz").exists()]
    by_name = {t.name: t for t in tasks}
    failures: list[dict] = []
    stage_seconds: dict[str, float] = {}
    made = 0
    if options.threads == 0:
        options.threads = max(1, (os.cpu_count() or 1) // max(workers, 1))
    manifest = options.out / manifest_name
    _write_manifest(manifest, tasks, options.samples_dir)
    with open(manifest, "a") as manifest_log, tqdm(total=len(tasks), initial=len(tasks) - len(todo), unit="sample",
              disable=not progress, dynamic_ncols=True) as bar:
        try:
            with ProcessPoolExecutor(max_workers=max(workers, 1), mp_context=get_context("spawn"),
                                     initializer=init_worker, initargs=(options,)) as pool:
                futures = [pool.submit(make_task, t) for t in todo]
                for future in as_completed(futures):
                    name, meta, error = future.result()
                    if error is None:
                        made += 1
                        in_file = {k: v for k, v in meta.items() if k not in ("seconds", "stages")}
                        manifest_log.write(json.dumps(in_file, sort_keys=True) + "\n")
                        manifest_log.flush()
                        for key, value in meta["stages"].items():
                            stage_seconds[key] = stage_seconds.get(key, 0.0) + value
                    else:
                        failures.append({"name": name, "source": by_name[name].source, "error": error})
                        bar.write(f"failed: {name}: {error}")
                    bar.update(1)
                    bar.set_postfix(failed=len(failures))
        except BrokenProcessPool as exc:
            failures.append({"name": None, "source": None,
                             "error": f"a Blender worker died ({exc}); re-run to resume"})
    _write_manifest(manifest, tasks, options.samples_dir)
    write_jsonl(options.out / failures_name, failures)
    return RunResult(made=made, skipped=len(tasks) - len(todo), failures=failures,
                     stage_seconds=stage_seconds)


def _write_manifest(path: Path, tasks: list[Task], samples_dir: Path) -> None:
    finished = [samples_dir / f"{t.name}.npz" for t in tasks]
    write_jsonl(path, [read_meta(p) for p in finished if p.exists()])

