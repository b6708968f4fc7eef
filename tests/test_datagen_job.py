"""`python -m datagen_bpy` end to end, at a small resolution."""
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import REPO, SHARED_DATA, box_depth, small_disk, textured
from stereo_geometry import SAMPLE_ARRAYS

pytestmark = [pytest.mark.blender, pytest.mark.slow]
SMALL = ["--resolution", "96x64", "--no-progress"]


def datagen(*args, check=None):
    result = subprocess.run([sys.executable, "-m", "datagen_bpy", *args], cwd=REPO,
                            capture_output=True, text=True, timeout=600)
    if check is not None:
        assert result.returncode == check, result.stderr
    return result


def digests(out: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((out / "samples").glob("*.npz"))}


@pytest.fixture(scope="module")
def procedural_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("proc")
    datagen("--procedural", "3", "--out", str(out), "--seed", "11", *SMALL, check=0)
    return out


def test_procedural_run_writes_complete_samples_and_a_manifest(procedural_run):
    records = [json.loads(line) for line in (procedural_run / "manifest.jsonl").read_text().splitlines()]
    assert [r["name"] for r in records] == [f"procedural_{i:06d}_00" for i in range(3)]
    for record in records:
        with np.load(procedural_run / record["file"]) as sample:
            assert set(SAMPLE_ARRAYS) <= set(sample.files)
            assert sample["image_generated_left"].shape == (64, 96, 3)
            assert sample["hole_mask"].dtype == np.uint8
            assert 0 < sample["hole_mask"].mean() < 0.5
            assert json.loads(sample["meta"].item())["seed"] == record["seed"]
        assert abs(record["baseline"]) in (0.063,) or 0.0315 <= abs(record["baseline"]) <= 0.035
        assert record["swap"] == (record["baseline"] < 0)
        assert record["hole_rule"] == "far_reach"  # by default the shipped models' rule
    assert (procedural_run / "failures.jsonl").read_text() == ""


def test_samples_load_as_network_inputs(procedural_run):
    from training.dataset import SampleDataset

    x, target = SampleDataset(procedural_run)[0]
    assert x.shape == (8, 64, 96) and target.shape == (3 + 1, 64, 96)  # RGB and the loss mask
    hole = x[3] == 1
    assert hole.any() and ((x[3] == 0) | hole).all()
    assert (x[4:7][:, ~hole] == 0).all() and (x[7][hole] == 0).all() and (x[7][~hole] > 0).all()


def test_same_seed_same_bytes_with_two_workers_too(procedural_run, tmp_path):
    datagen("--procedural", "3", "--out", str(tmp_path), "--seed", "11", "--workers", "2",
            *SMALL, check=0)
    assert digests(tmp_path) == digests(procedural_run)


def test_shards_make_disjoint_parts_that_add_up_to_the_whole_run(procedural_run, tmp_path):
    for i in range(2):
        datagen("--procedural", "3", "--out", str(tmp_path), "--seed", "11", "--shard", f"{i}/2",
                *SMALL, check=0)
    shard_names = [json.loads(line)["name"] for i in range(2)
                   for line in (tmp_path / f"manifest.shard{i}of2.jsonl").read_text().splitlines()]
    assert sorted(shard_names) == [name[:-4] for name in digests(procedural_run)]
    assert digests(tmp_path) == digests(procedural_run)


def test_a_killed_run_leaves_no_partial_sample_and_resumes(tmp_path):
    cmd = [sys.executable, "-m", "datagen_bpy", "--procedural", "12", "--out", str(tmp_path), *SMALL]
    proc = subprocess.Popen(cmd, cwd=REPO, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not list((tmp_path / "samples").glob("*.npz")) and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = sorted((tmp_path / "samples").glob("*.npz"))
    assert 1 <= len(finished) < 12
    for path in finished:  # every finished file is whole
        with np.load(path) as sample:
            sample["org_left_image"]
    # The manifest grows while the job runs; what it lists is on disk.
    from stereo_geometry.writer import read_manifests

    listed = {r["name"] for r in read_manifests(tmp_path)}
    assert listed <= {p.stem for p in finished}
    result = datagen("--procedural", "12", "--out", str(tmp_path), *SMALL, check=0)
    assert f"{12 - len(finished)} made, {len(finished)} already there" in result.stderr
    assert not list((tmp_path / "samples").glob("*.partial"))
    assert len((tmp_path / "manifest.jsonl").read_text().splitlines()) == 12


def process_state(stat: Path) -> tuple[str, int] | None:
    """(state, parent pid) from a /proc/PID/stat file; None once the process is gone."""
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return fields[0], int(fields[1])


def children(pid: int) -> list[int]:
    """Live processes whose parent is `pid`."""
    return [int(stat.parent.name) for stat in Path("/proc").glob("[0-9]*/stat")
            if (state := process_state(stat)) and state[0] != "Z" and state[1] == pid]


def alive(pid: int) -> bool:
    state = process_state(Path(f"/proc/{pid}/stat"))
    return state is not None and state[0] != "Z"


def started_job_with_workers(out: Path, samples: int, stderr=subprocess.DEVNULL) -> tuple[subprocess.Popen, list[int]]:
    """A two-worker job started into `out`, once its first sample is written, and its workers' pids."""
    cmd = [sys.executable, "-m", "datagen_bpy", "--procedural", str(samples), "--out", str(out), "--workers", "2",
           *SMALL]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=stderr, text=True)
    deadline = time.time() + 300
    while not list((out / "samples").glob("*.npz")) and time.time() < deadline:
        time.sleep(0.05)
    workers = [pid for pid in children(proc.pid) if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text()]
    assert workers
    return proc, workers


def test_workers_stop_when_the_job_process_is_killed(tmp_path):
    proc, workers = started_job_with_workers(tmp_path, 12)
    proc.kill()  # only the job process, as a scheduler's kill would
    proc.wait()
    deadline = time.time() + 30
    while any(alive(pid) for pid in workers) and time.time() < deadline:
        time.sleep(0.2)
    orphans = [pid for pid in workers if alive(pid)]
    for pid in orphans:
        os.kill(pid, signal.SIGKILL)
    assert not orphans


def test_bad_inputs_are_listed_and_the_job_goes_on(tmp_path):
    images, depths = tmp_path / "images", tmp_path / "depth"
    images.mkdir()
    depths.mkdir()
    depth = box_depth(96, 128, 3.0, 1.2, (30, 70, 50, 80))
    Image.fromarray(textured(96, 128)).save(images / "good.png")
    np.save(depths / "good.npy", depth)
    Image.fromarray(textured(96, 128)).save(images / "cut.jpg")
    (images / "cut.jpg").write_bytes((images / "cut.jpg").read_bytes()[:300])
    np.save(depths / "cut.npy", depth)
    Image.fromarray(textured(96, 128)).save(images / "nodepth.png")
    Image.fromarray(textured(96, 128)).save(images / "empty.png")
    np.save(depths / "empty.npy", np.zeros((96, 128)))
    Image.fromarray(textured(96, 128)).save(images / "mismatch.png")
    np.save(depths / "mismatch.npy", np.ones((96, 96)))
    Image.fromarray(textured(96, 128)).save(images / "nan.png")
    noisy = depth.copy()
    noisy[::3] = np.nan
    noisy[1::7] = -1
    np.save(depths / "nan.npy", noisy)

    result = datagen("--images", str(images), "--depth-dir", str(depths), "--out",
                     str(tmp_path / "out"), *SMALL, check=1)
    failures = {json.loads(line)["name"]: json.loads(line)["error"]
                for line in (tmp_path / "out" / "failures.jsonl").read_text().splitlines()}
    assert set(failures) == {"cut_00", "nodepth_00", "empty_00", "mismatch_00"}
    assert "cut.jpg" in failures["cut_00"]
    assert "no depth map" in failures["nodepth_00"]
    assert "valid" in failures["empty_00"]
    assert "aspect ratios differ" in failures["mismatch_00"]
    assert sorted(digests(tmp_path / "out")) == ["good_00.npz", "nan_00.npz"]
    assert "2 made" in result.stderr and "4 failed" in result.stderr


def test_images_without_a_depth_source_give_one_clear_error(tmp_path):
    result = datagen("--images", str(tmp_path), "--out", str(tmp_path / "o"), check=2)
    assert "--depth-dir" in result.stderr and "--procedural" in result.stderr


@pytest.mark.skipif(not (SHARED_DATA / "rgbd").is_dir(), reason="shared RGB-D data not present")
def test_real_rgbd_photos_make_samples_with_holes_at_depth_edges(tmp_path):
    datagen("--images", str(SHARED_DATA / "rgbd"), "--depth-dir", str(SHARED_DATA / "rgbd"),
            "--out", str(tmp_path), "--resolution", "256x192", "--no-progress", check=0)
    records = [json.loads(line) for line in (tmp_path / "manifest.jsonl").read_text().splitlines()]
    assert len(records) == 2
    for record in records:
        with np.load(tmp_path / record["file"]) as sample:
            hole = sample["hole_mask"].astype(bool)
            valid = ~hole
            # Real depth edges make holes, but most of the view re-renders unchanged.
            assert 0.01 < hole.mean() < 0.2, hole.mean()
            same = (sample["image_generated_left"] == sample["org_left_image"]).all(-1)
            assert same[valid].mean() > 0.9


def manifest_names(out: Path, name: str = "manifest.jsonl") -> list[str]:
    return [json.loads(line)["name"] for line in (out / name).read_text().splitlines()]


def test_a_second_run_into_the_folder_keeps_the_first_runs_samples_listed(tmp_path):
    datagen("--procedural", "2", "--out", str(tmp_path), *SMALL, check=0)
    datagen("--procedural", "1", "--count", "2", "--out", str(tmp_path), *SMALL, check=0)
    assert manifest_names(tmp_path) == ["procedural_000000_00", "procedural_000000_01", "procedural_000001_00"]


def test_a_corrupt_sample_is_named_moved_aside_and_made_again(tmp_path):
    datagen("--procedural", "2", "--out", str(tmp_path), *SMALL, check=0)
    before = digests(tmp_path)
    damaged = tmp_path / "samples" / "procedural_000001_00.npz"
    damaged.write_bytes(b"")  # zero bytes, as a full disk or a bad copy leaves
    (tmp_path / "manifest.jsonl").write_text("")  # so the rebuild must read the file
    result = datagen("--procedural", "2", "--out", str(tmp_path), *SMALL, check=0)
    assert "procedural_000001_00.npz" in result.stderr and "moved aside" in result.stderr
    assert (tmp_path / "samples" / "procedural_000001_00.npz.corrupt").is_file()
    assert digests(tmp_path) == before and len(manifest_names(tmp_path)) == 2


def test_a_killed_blender_worker_is_replaced_and_the_job_finishes(tmp_path):
    proc, workers = started_job_with_workers(tmp_path, 8, stderr=subprocess.PIPE)
    os.kill(workers[0], signal.SIGKILL)  # as the OOM killer would
    _, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr
    assert "8 made" in stderr and len(manifest_names(tmp_path)) == 8


def test_a_full_disk_stops_the_job_with_one_error_and_leaves_nothing_partial(tmp_path):
    with small_disk(tmp_path / "disk", "400k") as disk:
        result = datagen("--procedural", "40", "--out", str(disk / "out"), *SMALL)
        finished = sorted((disk / "out" / "samples").glob("*.npz"))
        assert result.returncode == 1 and "the job stopped" in result.stderr
        assert "Traceback" not in result.stderr and 0 < len(finished) < 40
        assert not list(disk.rglob("*.partial"))
        for path in finished:  # every finished file is whole
            with np.load(path) as sample:
                sample["org_left_image"]


def test_a_starting_run_removes_only_the_temporary_files_of_runs_that_ended(tmp_path):
    """Runs into one folder at once (shards) write temporary files named by their process: a
    run starting leaves a live run's alone and clears those of a killed one."""
    samples = tmp_path / "samples"
    samples.mkdir()
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    live = samples / f"procedural_000005_00.npz.{os.getpid()}.partial"  # this process runs on
    stale = samples / f"procedural_000006_00.npz.{int(ended.stdout)}.partial"
    live.write_bytes(b"half a sample")
    stale.write_bytes(b"half a sample")
    datagen("--procedural", "1", "--out", str(tmp_path), *SMALL, check=0)
    assert live.exists() and not stale.exists()


def test_each_worker_keeps_to_its_own_cpus():
    """Workers split the job's CPUs between them (Blender sizes its thread pool to the CPUs a
    process may use; its idle threads would otherwise spin on every core), wrapping round when
    there are fewer CPUs than workers times threads."""
    from datagen_bpy.runner import cpu_slices

    cpus = sorted(os.sched_getaffinity(0))
    slices = cpu_slices(len(cpus), 1)
    assert slices == [{c} for c in cpus]
    assert cpu_slices(1, len(cpus)) == [set(cpus)]
    assert cpu_slices(len(cpus) + 1, 1)[-1] == {cpus[0]}


def test_a_started_worker_runs_on_its_slice(tmp_path):
    """A worker started as the job starts them keeps to the CPUs its slice names (in a fresh
    process: the job's own process never imports bpy, and a spawned worker inherits the path
    that an imported bpy leaves)."""
    cpu = max(os.sched_getaffinity(0))
    code = f"""
import os
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from datagen_bpy.runner import Options, init_worker

context = get_context("spawn")
slices = context.Queue()
slices.put({{{cpu}}})
with ProcessPoolExecutor(1, mp_context=context, initializer=init_worker,
                         initargs=(Options(out=Path({str(tmp_path)!r}), width=32, height=24), slices)) as pool:
    print(sorted(pool.submit(os.sched_getaffinity, 0).result()))
"""
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == f"[{cpu}]"
