"""Shared helpers: synthetic views with known geometry."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stereo_geometry import Intrinsics

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


@pytest.fixture
def K_small() -> Intrinsics:
    return Intrinsics(200.0, 200.0, 95.5, 71.5, 192, 144)
