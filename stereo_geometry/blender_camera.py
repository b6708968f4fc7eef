"""Pinhole intrinsics and poses <-> Blender camera settings (no bpy: numbers only).

The one place where the project's cameras (OpenCV axes and conventions: pixel centres at
integers, `Intrinsics`) meet Blender's (lens and sensor in mm, sensor fit, shifts in units of
the fitted sensor side, pixel aspect, -z forward and y up). fx != fy is a non-square pixel:
Blender's `pixel_aspect_x / pixel_aspect_y` (render settings), as BlenderProc does it. Used by
data generation (`datagen_bpy.renderer`), the add-on (the scene camera's intrinsics) and the
benchmarks.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .camera import Intrinsics

#: OpenCV camera/world axes (x right, y down, z forward) to Blender's (x right, y up, -z forward).
CV_TO_BLENDER = np.diag([1.0, -1.0, -1.0, 1.0])
SENSOR_WIDTH_MM = 36.0


@dataclass(frozen=True)
class BlenderCamera:
    """The settings of a Blender camera (`camera.data`) and of the render (`scene.render`) that
    make one pinhole camera."""

    lens: float                   # mm
    sensor_width: float           # mm
    sensor_height: float          # mm
    sensor_fit: str               # "AUTO", "HORIZONTAL" or "VERTICAL"
    shift_x: float
    shift_y: float
    resolution_x: int
    resolution_y: int
    pixel_aspect_x: float = 1.0
    pixel_aspect_y: float = 1.0

    def _fit(self) -> tuple[str, float, float]:
        """(fitted side, its sensor size in mm, its size in pixels) as Blender computes it:
        AUTO fits the side that is longer once pixel aspect is applied."""
        fit = self.sensor_fit
        if fit == "AUTO":
            wide = self.pixel_aspect_x * self.resolution_x >= self.pixel_aspect_y * self.resolution_y
            fit, sensor = ("HORIZONTAL" if wide else "VERTICAL"), self.sensor_width
        else:
            sensor = self.sensor_width if fit == "HORIZONTAL" else self.sensor_height
        aspect = self.pixel_aspect_y / self.pixel_aspect_x
        pixels = self.resolution_x if fit == "HORIZONTAL" else aspect * self.resolution_y
        return fit, sensor, pixels

    def intrinsics(self) -> Intrinsics:
        """The pinhole intrinsics this camera renders with."""
        _, sensor, pixels = self._fit()
        aspect = self.pixel_aspect_y / self.pixel_aspect_x
        fx = self.lens / sensor * pixels
        cx = (self.resolution_x - 1) / 2 - self.shift_x * pixels
        cy = (self.resolution_y - 1) / 2 + self.shift_y * pixels / aspect
        return Intrinsics(fx, fx * aspect, cx, cy, self.resolution_x, self.resolution_y)


def blender_camera(K: Intrinsics, sensor_width: float = SENSOR_WIDTH_MM) -> BlenderCamera:
    """Blender settings that render with the intrinsics K: horizontal sensor fit, the
    principal point by shifts, fy / fx as the pixel aspect."""
    aspect = K.fy / K.fx
    pixel_aspect_x, pixel_aspect_y = (1.0, aspect) if aspect >= 1 else (1.0 / aspect, 1.0)
    return BlenderCamera(
        lens=K.fx * sensor_width / K.width, sensor_width=sensor_width,
        sensor_height=sensor_width * K.height / K.width, sensor_fit="HORIZONTAL",
        shift_x=((K.width - 1) / 2 - K.cx) / K.width,
        shift_y=(K.cy - (K.height - 1) / 2) * aspect / K.width,
        resolution_x=K.width, resolution_y=K.height,
        pixel_aspect_x=pixel_aspect_x, pixel_aspect_y=pixel_aspect_y)


def blender_matrix_world(pose: np.ndarray) -> np.ndarray:
    """A camera-to-world pose in OpenCV axes as Blender's `matrix_world` (and back: the
    conversion is its own inverse)."""
    return CV_TO_BLENDER @ pose @ CV_TO_BLENDER
