"""The scene's frames as the sequence driver takes them (`stereo_geometry.sequence.Frame`): a
rendered view, the camera's pose, and the eyes its Stereoscopy settings make from it; how
much wider to render so that those eyes see nothing beyond the frame's edges (rays cast into
the scene); and the parallax between the eyes."""
from __future__ import annotations

import math
import os
from typing import Callable

import bpy
import numpy as np
from mathutils import Vector

from .errors import InfillError
from .renders import View, display_referred, render_frame
from .scene_camera import (blender_camera, camera_pose, camera_stereo, metres_per_unit, render_size, scene_camera,
                           stereo_eyes)
from .stereo_geometry.blender_camera import blender_points
from .stereo_geometry.camera import Eye
from .stereo_geometry.colour import finite_depth
from .stereo_geometry.exr import read_multilayer_exr
from .stereo_geometry.overrides import at_frame
from .stereo_geometry.overscan import RayCaster, eye_rays, needed_margins
from .stereo_geometry.parallax import parallax_px
from .stereo_geometry.sequence import Frame


def made_eyes(scene: bpy.types.Scene, width: int, height: int) -> dict[str, Eye]:
    """The eyes ("LEFT", "RIGHT") that the camera's Stereoscopy settings make from its own
    view of `width` x `height` pixels: the one not at the pivot, or both for pivot Center."""
    eyes = stereo_eyes(scene, width, height)
    return {name: eyes[name] for name in camera_stereo(scene).made_eyes}


def frame_from_view(scene: bpy.types.Scene, view: View, pose: np.ndarray | None = None) -> Frame:
    """A view of the current frame with the camera's pose (`pose`, else the scene camera's:
    `camera_pose`) and the eyes to make from it."""
    left, right = view.margins
    h, w = view.image.shape[:2]
    return Frame(view.image, view.depth, view.K, camera_pose(scene) if pose is None else pose,
                 made_eyes(scene, w - left - right, h), view.margins)


def frame_parallax(scene: bpy.types.Scene, frame: Frame) -> np.ndarray:
    """Each pixel's parallax (`stereo_geometry.parallax.parallax_px`) between the camera's two
    eyes at the current frame, over the frame's own view."""
    K = frame.frame_K
    eyes = stereo_eyes(scene, K.width, K.height)
    return parallax_px(frame.in_frame(frame.depth), K, eyes["LEFT"], eyes["RIGHT"])


def overscan_margins(scene: bpy.types.Scene, automatic: bool, percent: float) -> tuple[int, int]:
    """The columns to render beyond the frame's left and right edges at the current frame:
    automatic (`stereo_geometry.overscan.needed_margins`: what the made eyes see there, found
    by casting rays into the scene) or `percent` of the width on each side an eye can look
    past (a parallel eye's own side; both sides for converged eyes)."""
    width, height = render_size(scene)
    eyes = made_eyes(scene, width, height)
    if automatic:
        return needed_margins(scene_caster(scene), list(eyes.values()), blender_camera(scene, width, height).intrinsics())
    columns = max(1, math.ceil(percent / 100 * width))
    converged = camera_stereo(scene).convergence_mode != "PARALLEL"
    left = converged or any(eye.baseline < 0 for eye in eyes.values())
    right = converged or any(eye.baseline > 0 for eye in eyes.values())
    return (columns if left else 0, columns if right else 0)


def rendered_frames(scene: bpy.types.Scene, layer: str, frames: list[int], automatic: bool = True,
                    percent: float = 0.0, samples: int | None = None) -> Callable[[int], Frame]:
    """A reader for the sequence driver: frame `frames[index]` rendered here (`render_frame`)
    with the margins it needs (`overscan_margins`), whatever the other frames need, so a frame
    is rendered the same in any range."""
    def read(index: int) -> Frame:
        with at_frame(scene, frames[index]):
            margins = overscan_margins(scene, automatic, percent)
            return frame_from_view(scene, render_frame(scene, layer, margins, samples))
    return read


def frame_files(scene: bpy.types.Scene, layer: str, files: list[tuple[int, str]]) -> Callable[[int], Frame]:
    """A reader for the sequence driver: frame `files[index]` = (frame, multilayer EXR path)."""
    def read(index: int) -> Frame:
        frame, path = files[index]
        if not os.path.isfile(path):
            raise InfillError(f"frame {frame}: {path} not found (render the animation as multilayer EXR with "
                              "the Depth pass first)")
        with at_frame(scene, frame):
            return frame_from_view(scene, view_from_exr(path, scene, layer))
    return read


def view_from_exr(path: str, scene: bpy.types.Scene, layer: str | None = None, image_pass: str = "Combined") -> View:
    """A rendered frame saved as a multilayer EXR (the colour pass and Depth of `layer`)."""
    try:
        passes = read_multilayer_exr(path, layer)
    except Exception as exc:
        raise InfillError(f"Cannot read {path}: {exc}") from exc
    where = f" of view layer '{layer}'" if layer else ""
    for name in ("Depth", image_pass):
        if name not in passes:
            raise InfillError(f"{os.path.basename(path)} has no {name} pass{where}" +
                              (": enable View Layer > Passes > Data > Z and render again" if name == "Depth" else ""))
    rgb = passes[image_pass][..., :3]
    h, w = rgb.shape[:2]
    return View(display_referred(scene, rgb), finite_depth(passes["Depth"] * metres_per_unit(scene)),
                blender_camera(scene, w, h).intrinsics())


def scene_caster(scene: bpy.types.Scene) -> RayCaster:
    """A `stereo_geometry.overscan.RayCaster` into the evaluated scene at the current frame
    (surfaces it does not hold as geometry, such as shader displacement and volumes, are not
    seen)."""
    depsgraph = bpy.context.evaluated_depsgraph_get()
    to_world = scene_camera(scene).matrix_world.normalized()
    to_camera, metres = to_world.inverted(), metres_per_unit(scene)

    def cast(eye: Eye, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        origins, directions = eye_rays(eye, u, v)
        origins, directions = blender_points(origins) / metres, blender_points(directions)
        hits = np.full((len(u), 3), np.nan)
        rotation = to_world.to_3x3()
        for i in range(len(u)):
            hit, location, *_ = scene.ray_cast(depsgraph, to_world @ Vector(origins[i]),
                                               rotation @ Vector(directions[i]))
            if hit:
                hits[i] = blender_points(np.array(to_camera @ location)) * metres
        return hits
    return cast
