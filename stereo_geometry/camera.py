"""Pinhole cameras and stereo rigs.

Conventions used everywhere in the project:
- camera space is OpenCV's: x right, y down, z forward (metres);
- pixel (u, v) = (column, row) has its centre at integer coordinates, so u = fx * x / z + cx;
- depth is planar depth z (distance along the optical axis), as Blender's Depth pass;
- world space is the source (left) camera's space; a pose is a 4x4 camera-to-world matrix.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels for an image of `width` x `height`."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    @classmethod
    def from_fov(cls, width: int, height: int, fov_deg: float) -> "Intrinsics":
        """Square pixels, principal point at the image centre, `fov_deg` across the width."""
        f = 0.5 * width / math.tan(math.radians(fov_deg) / 2)
        return cls(f, f, (width - 1) / 2, (height - 1) / 2, width, height)

    def scaled(self, sx: float, sy: float, width: int, height: int) -> "Intrinsics":
        """Intrinsics after resizing the image by (sx, sy) to `width` x `height` (pixel-centre exact)."""
        return Intrinsics(self.fx * sx, self.fy * sy, (self.cx + 0.5) * sx - 0.5,
                          (self.cy + 0.5) * sy - 0.5, width, height)

    def cropped(self, x0: int, y0: int, width: int, height: int) -> "Intrinsics":
        """Intrinsics of the window starting at column x0, row y0."""
        return Intrinsics(self.fx, self.fy, self.cx - x0, self.cy - y0, width, height)

    def widened(self, left: int, right: int) -> "Intrinsics":
        """The same camera rendering `left` more columns on the left and `right` more on the
        right (a render with overscan)."""
        return Intrinsics(self.fx, self.fy, self.cx + left, self.cy, self.width + left + right, self.height)

    def matrix(self) -> np.ndarray:
        return np.array([[self.fx, 0, self.cx], [0, self.fy, self.cy], [0, 0, 1]], dtype=np.float64)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True, eq=False)
class Eye:
    """A camera to make from a source view: its intrinsics and its pose in the source camera's
    frame (4x4 camera-to-source, OpenCV axes, metres)."""

    K: Intrinsics
    pose: np.ndarray

    @classmethod
    def shifted(cls, K: Intrinsics, baseline: float, toe_in_deg: float = 0.0) -> "Eye":
        """The eye of intrinsics K at `stereo_pose(baseline, toe_in_deg)`."""
        return cls(K, stereo_pose(baseline, toe_in_deg))

    @property
    def baseline(self) -> float:
        """Its signed offset along the source camera's x axis (metres; negative: a left eye)."""
        return float(self.pose[0, 3])


def translation(x: float, y: float = 0.0, z: float = 0.0) -> np.ndarray:
    """Camera-to-world pose of a camera moved by (x, y, z) without rotation."""
    pose = np.eye(4)
    pose[:3, 3] = (x, y, z)
    return pose


def stereo_pose(baseline: float, toe_in_deg: float = 0.0) -> np.ndarray:
    """Pose of the other eye: shifted by `baseline` along +x (negative: to the left), turned
    inwards by `toe_in_deg` about the y axis (converged cameras; 0 = parallel rig)."""
    pose = translation(baseline)
    a = math.radians(toe_in_deg) * (1 if baseline > 0 else -1)
    # Turning towards the source camera's optical axis: a right eye (baseline > 0) looks to -x.
    c, s = math.cos(a), math.sin(a)
    pose[:3, :3] = np.array([[c, 0, -s], [0, 1, 0], [s, 0, c]])
    return pose


def pixel_grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Column and row coordinates of every pixel centre, each (H, W) float64."""
    return np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64))


def unproject(depth: np.ndarray, K: Intrinsics) -> np.ndarray:
    """Camera-space points (H, W, 3) of every pixel centre at its planar depth."""
    return unproject_pixels(*pixel_grid(*depth.shape), depth.astype(np.float64), K)


def unproject_pixels(u: np.ndarray, v: np.ndarray, z: np.ndarray, K: Intrinsics) -> np.ndarray:
    """Camera-space points (..., 3) at pixel coordinates (`u`, `v`) and planar depths `z`."""
    return np.stack([(u - K.cx) / K.fx * z, (v - K.cy) / K.fy * z, z], axis=-1)


def project(points: np.ndarray, K: Intrinsics) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixel coordinates (u, v) and depth z of camera-space points (..., 3)."""
    z = points[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        u = K.fx * points[..., 0] / z + K.cx
        v = K.fy * points[..., 1] / z + K.cy
    return u, v, z


def transform(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 4x4 rigid transform to points (..., 3), each coordinate summed left to right
    (the arithmetic of `compiled.grid_moved_projection`, bit for bit)."""
    x, y, z = points[..., 0], points[..., 1], points[..., 2]
    m = np.asarray(matrix, dtype=np.float64)
    return np.stack([x * m[i, 0] + y * m[i, 1] + z * m[i, 2] + m[i, 3] for i in range(3)], axis=-1)


def world_to_camera(pose: np.ndarray) -> np.ndarray:
    """Inverse of a rigid camera-to-world pose."""
    inv = np.eye(4)
    inv[:3, :3] = pose[:3, :3].T
    inv[:3, 3] = -pose[:3, :3].T @ pose[:3, 3]
    return inv
