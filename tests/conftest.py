"""Shared helpers: synthetic views with known geometry."""
from __future__ import annotations

import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from stereo_geometry import SAMPLE_ARRAYS, Intrinsics

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def textured(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A random colour per pixel: any misplaced pixel shows."""
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def box_depth(height: int, width: int, z_far: float, z_near: float,
              box: tuple[int, int, int, int]) -> np.ndarray:
    """A wall at z_far with a box face at z_near over rows r0:r1, columns c0:c1."""
    depth = np.full((height, width), z_far, dtype=np.float64)
    r0, r1, c0, c1 = box
    depth[r0:r1, c0:c1] = z_near
    return depth


def near_source_border(depth: np.ndarray, K_src: Intrinsics, K_dst: Intrinsics,
                       src_to_dst: np.ndarray) -> np.ndarray:
    """Where an interpolated reprojection blends in a texel of the source's outermost rows
    or columns: the mesh's border vertices lie BORDER_PAD_PX outside the grid, so up to 1 %
    of the next texel blends in there, and integer shifts are exact everywhere else."""
    from stereo_geometry import reproject

    border = np.zeros(depth.shape, np.float32)
    border[[0, -1]], border[:, [0, -1]] = 1, 1
    return reproject(border, depth, K_src, K_dst, src_to_dst, interpolate=True).image > 0


def assert_interpolated_copy(warped: np.ndarray, truth: np.ndarray, copied: np.ndarray,
                             near_border: np.ndarray) -> None:
    """`warped` equals `truth` on `copied`, up to 1 % of the levels where `near_border`."""
    exact = copied & ~near_border
    assert exact.sum() > 0.8 * copied.sum()
    np.testing.assert_array_equal(warped[exact], truth[exact])
    assert np.abs(warped[copied & near_border].astype(int) - truth[copied & near_border]).max(initial=0) <= 3


@pytest.fixture
def K_small() -> Intrinsics:
    return Intrinsics(200.0, 200.0, 95.5, 71.5, 192, 144)


def write_numpy_dataset(out: Path, count: int, height: int = 64, width: int = 96,
                        seed: int = 0, rule=None) -> Path:
    """A data folder like datagen_bpy's, made with the numpy reference pipeline: a wall with
    a few boxes, smooth colour ramps (learnable), random baselines and sides; holes by
    `rule` (recorded; none given: the default, unrecorded as in older folders)."""
    from stereo_geometry.writer import write_jsonl, write_sample
    from stereo_geometry import disocclusion_sample

    rng = np.random.default_rng(seed)
    K = Intrinsics.from_fov(width, height, 60.0)
    (out / "samples").mkdir(parents=True, exist_ok=True)
    records = []
    for i in range(count):
        depth = np.full((height, width), rng.uniform(3, 6))
        u, v = np.meshgrid(np.linspace(0, 1, width), np.linspace(0, 1, height))
        image = np.stack([u, v, 0.5 + 0.5 * np.sin(6 * u + rng.uniform(0, 6))], -1)
        for _ in range(3):
            r0, c0 = rng.integers(0, height - 16), rng.integers(0, width - 24)
            r1, c1 = r0 + rng.integers(8, 16), c0 + rng.integers(8, 24)
            depth[r0:r1, c0:c1] = rng.uniform(0.8, 2.0)
            image[r0:r1, c0:c1] = rng.uniform(0, 1, 3)
        image = (image * 255).astype(np.uint8)
        baseline = 0.063 * (1 if rng.random() < 0.5 else -1)
        arrays = disocclusion_sample(image, depth, K, baseline, **({} if rule is None else {"rule": rule}))
        arrays = {k: arrays[k] for k in SAMPLE_ARRAYS}
        meta = {"name": f"s{i:03d}", "file": f"samples/s{i:03d}.npz", "source": f"img{i // 2}",
                "baseline": baseline, "intrinsics": K.to_dict(), **({} if rule is None else {"hole_rule": rule.name})}
        write_sample(out / "samples" / f"s{i:03d}.npz", arrays, meta)
        records.append(meta)
    write_jsonl(out / "manifest.jsonl", records)
    return out


@contextmanager
def small_disk(folder: Path, size: str) -> Iterator[Path]:
    """`folder` as a tmpfs of `size` (e.g. "200k"): a disk that fills up; the test is skipped
    where mounting is not allowed. Unmounted afterwards."""
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)
