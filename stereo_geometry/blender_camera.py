"""Pinhole intrinsics and poses <-> Blender camera settings (no bpy: numbers only).

The one place where the project's cameras (OpenCV axes and conventions: pixel centres at
integers, `Intrinsics`) meet Blender's (lens and sensor in mm, sensor fit, shifts in units of
the fitted sensor side, pixel aspect, -z forward and y up). fx != fy is a non-square pixel:
Blender's `pixel_aspect_x / pixel_aspect_y` (render settings), as BlenderProc does it. Also
Blender's stereo cameras (`BlenderStereo`, `stereo_eye`): the eyes its multiview render uses
for a camera's Stereoscopy settings. Used by data generation (`datagen_bpy.renderer`), the
add-on and its headless command (the scene camera and its eyes) and the benchmarks.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from .camera import Eye, Intrinsics

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


def blender_points(points: np.ndarray) -> np.ndarray:
    """Points (..., 3) in OpenCV axes as Blender's (and back: its own inverse)."""
    return points * CV_TO_BLENDER[:3, :3].diagonal()


STEREO_MODES = ("OFFAXIS", "PARALLEL", "TOE")
PIVOTS = ("LEFT", "RIGHT", "CENTER")
EYES = ("LEFT", "RIGHT")


@dataclass(frozen=True)
class BlenderStereo:
    """A camera's Stereoscopy settings (`camera.data.stereo`), distances in metres; Blender's
    defaults."""

    convergence_mode: str = "OFFAXIS"
    convergence_distance: float = 1.95
    interocular_distance: float = 0.065
    pivot: str = "LEFT"

    def __post_init__(self) -> None:
        if self.convergence_mode not in STEREO_MODES or self.pivot not in PIVOTS:
            raise ValueError(f"unknown stereo settings {self.convergence_mode} / {self.pivot}")
        if not (self.interocular_distance > 0 and self.convergence_distance > 0):
            raise ValueError("the interocular and convergence distances must be positive")

    @property
    def rendered_eye(self) -> str | None:
        """The eye that is the camera itself ("LEFT", "RIGHT"), None for pivot Center (both
        eyes are made from the camera's own view)."""
        return None if self.pivot == "CENTER" else self.pivot

    @property
    def made_eyes(self) -> tuple[str, ...]:
        """The eyes made from the camera's render."""
        return tuple(eye for eye in EYES if eye != self.rendered_eye)


def stereo_eye(camera: BlenderCamera, stereo: BlenderStereo, eye: str) -> Eye:
    """The camera that Blender's multiview render of `camera` uses for `eye` ("LEFT" or
    "RIGHT"), as its intrinsics and its pose in the camera's frame (OpenCV axes, metres).

    Blender's conventions (source/blender/blenkernel/intern/camera.cc, `camera_stereo3d_*`),
    with B the interocular distance, Zc the convergence distance, s = 1 (s = 1/2 for pivot
    Center), + for the left eye and - for the right: the pivot's eye is the camera itself;
    Off-Axis and Parallel move the eye by -/+ s B along x, and Off-Axis adds
    +/- s (B / sensor_width) (lens / Zc) to shift_x (the sensor's width whatever the fit);
    Toe-in turns the eye about y by the angle a = atan(B / (2 Zc)): for pivot Center each eye
    sits at -/+ B / 2 turned by a towards the middle, for pivot Left or Right the other eye is
    turned by a, moved by B along its turned x axis and turned by a again."""
    if eye not in EYES:
        raise ValueError(f"unknown eye {eye}")
    if eye == stereo.rendered_eye:
        return Eye(camera.intrinsics(), np.eye(4))
    B, Zc = stereo.interocular_distance, stereo.convergence_distance
    fac = 0.5 if stereo.pivot == "CENTER" else 1.0
    sign = 1.0 if eye == "LEFT" else -1.0
    local = np.eye(4)  # the eye's pose in the camera's frame, Blender axes
    if stereo.convergence_mode == "TOE":
        angle = sign * math.atan(B / (2 * Zc))  # towards the middle
        c, s = math.cos(angle), math.sin(angle)
        turn = np.array([[c, 0, -s, 0], [0, 1, 0, 0], [s, 0, c, 0], [0, 0, 0, 1]])
        if stereo.pivot == "CENTER":
            local = turn.copy()
            local[0, 3] = -sign * fac * B
        else:
            moved = np.eye(4)
            moved[0, 3] = -sign * B
            local = turn @ moved @ turn
    else:
        local[0, 3] = -sign * fac * B
    shift_x = camera.shift_x
    if stereo.convergence_mode == "OFFAXIS":
        shift_x += sign * fac * (B / camera.sensor_width) * (camera.lens / Zc)
    return Eye(replace(camera, shift_x=shift_x).intrinsics(), blender_matrix_world(local))
