"""Textured 3D scenes from files (glTF), lit and rendered for both eyes from random cameras:
real 3D content with exact truth, beside the random lit scenes (`lit_scene`).

A scene folder holds glTF files. `LAYOUTS` knows the folders of ../shared/data/train/scenes
(which files, where they stand, how a person would look at them); any other folder is its
`.gltf`/`.glb` files at the origin, seen from around. Each sample places a camera at random
(`camera_pose`: inside a room, at street level, or around an object), keeps it only where
ray casts through its frame say it looks at content at several depths from outside any
object, lights the scene anew (sun, an area light beside the camera, a sky; lamps under a
ceiling) and renders both eyes (`lit_scene.both_eyes_sample`, exposed from the source eye).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import bpy
import mathutils
import numpy as np

from stereo_geometry import HoleRule, Intrinsics
from stereo_geometry.blender_camera import blender_matrix_world, blender_points
from stereo_geometry.camera import unproject_pixels
from stereo_geometry.mesh import SHIPPED_HOLE_RULE
from stereo_geometry.readers import InputError

from .lit_scene import _lights, both_eyes_sample
from .renderer import Renderer

#: Custom property marking the objects imported for a scene folder (its name).
SCENE_PROPERTY = "scene_folder"
ATTEMPTS = 60


@dataclass(frozen=True)
class Layout:
    """How to set a scene folder up: its files placed by (x, y, z, yaw in degrees) (None: as
    imported), `placements` (a JSON file of instances: `gltf` and `blender_matrix_world`),
    and the cameras: "inside" (a room: eye height, anywhere within it), "street" (eye height
    above the ground, 4-25 m from one of the smaller objects, towards it) or "around" (an
    object seen from 0.6-2.5 times its size)."""

    files: tuple[tuple[str, tuple[float, float, float, float] | None], ...] = ()  # (file, (x, y, z, yaw deg))
    placements: str | None = None
    cameras: str = "around"


LAYOUTS = {
    "drake_living_room": Layout(files=(  # poses from the folder's SOURCE.txt (Drake's layout)
        ("assets/living_room.no_missing_normal.gltf", None), ("assets/curtain_open.gltf", None),
        ("assets/painted_wooden_cabinet_1k.gltf", (-1.7753, 2.5818, 0.0, 0.0)),
        ("assets/wooden_bookshelf_worn_1k.gltf", (2.716, -1.0716, 0.0, -90.0)),
        ("assets/painted_wooden_cabinet_02_1k.gltf", (0.0235, 2.6566, 0.0, 0.0)),
        ("assets/sofa_03_1k.gltf", (0.0, -2.4117, 0.0, 180.0)),
        ("assets/painted_wooden_stool_1k.gltf", (1.7744, 1.6287, 0.0, 30.0)),
        ("assets/wooden_table_02_1k.gltf", (-0.6, -0.9, 0.0, 15.0))), cameras="inside"),
    "dutch_ship": Layout(files=(("dutch_ship_medium_1k.gltf", None),), cameras="around"),
    "truck_town": Layout(files=(("model/town_model.gltf", None),), placements="placements.json",
                         cameras="street"),
}


def layout_of(folder: Path) -> Layout:
    """The folder's layout: a known one, else its glTF files at the origin seen from around."""
    if folder.name in LAYOUTS:
        return LAYOUTS[folder.name]
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".gltf", ".glb"))
    if not files:
        raise InputError(f"{folder}: no .gltf or .glb file in the scene folder")
    return Layout(files=tuple((p.name, None) for p in files))


def load_scene(renderer: Renderer, folder: Path) -> Layout:
    """Import the scene folder's files into the renderer's scene, placed by its layout (kept
    between samples: nothing is imported again while the scene is there); returns the layout."""
    scene = renderer.scene
    layout = layout_of(folder)
    if any(obj.get(SCENE_PROPERTY) == folder.name for obj in scene.objects):
        return layout
    renderer.clear_objects()
    parts = [(name, _matrix(pose)) for name, pose in layout.files]
    if layout.placements:
        instances = json.loads((folder / layout.placements).read_text())["instances"]
        parts += [(i["gltf"], mathutils.Matrix(i["blender_matrix_world"])) for i in instances]
    for name, matrix in parts:
        path = folder / name
        if not path.is_file():
            raise InputError(f"{path}: missing from the scene folder")
        before = set(scene.objects)
        bpy.ops.import_scene.gltf(filepath=str(path))
        added = [obj for obj in scene.objects if obj not in before]
        for obj in added:
            obj[SCENE_PROPERTY] = folder.name
            if obj.type == "LIGHT" or obj.type == "CAMERA":
                bpy.data.objects.remove(obj, do_unlink=True)
            elif matrix is not None and obj.parent is None:
                obj.matrix_world = matrix @ obj.matrix_world
    return layout


def _matrix(pose: tuple[float, float, float, float] | None) -> mathutils.Matrix | None:
    if pose is None:
        return None
    x, y, z, yaw = pose
    return mathutils.Matrix.Translation((x, y, z)) @ mathutils.Matrix.Rotation(math.radians(yaw), 4, "Z")


def _bounds(scene: bpy.types.Scene, largest: float = 500.0) -> tuple[np.ndarray, np.ndarray]:
    """Corners of the box around the scene's meshes, leaving out any larger than `largest`
    metres (a ground plane reaching the horizon)."""
    corners = []
    for obj in scene.objects:
        if obj.type == "MESH":
            box = np.array([obj.matrix_world @ mathutils.Vector(c) for c in obj.bound_box])
            if np.ptp(box, axis=0).max() <= largest:
                corners.append(box)
    every = np.concatenate(corners)
    return every.min(0), every.max(0)


def _look(location: np.ndarray, yaw_deg: float, pitch_deg: float) -> mathutils.Matrix:
    """A Blender camera matrix at `location` looking along yaw (about z) and pitch."""
    yaw, pitch = math.radians(yaw_deg), math.radians(pitch_deg)
    forward = mathutils.Vector((math.cos(pitch) * math.cos(yaw), math.cos(pitch) * math.sin(yaw), math.sin(pitch)))
    return mathutils.Matrix.Translation(mathutils.Vector(location.tolist())) @ \
        forward.to_track_quat("-Z", "Y").to_matrix().to_4x4()


def _ground_below(scene: bpy.types.Scene, x: float, y: float, top: float) -> float | None:
    hit, location, *_ = scene.ray_cast(bpy.context.evaluated_depsgraph_get(), (x, y, top + 50.0), (0, 0, -1))
    return location.z if hit else None


def _candidate(scene: bpy.types.Scene, layout: Layout, bounds: tuple[np.ndarray, np.ndarray],
               rng: np.random.Generator) -> mathutils.Matrix | None:
    """A random camera placed as `layout` says within the scene's `bounds` (`_bounds`), or None."""
    low, high = bounds
    if layout.cameras == "inside":
        inset = np.minimum(0.4, (high - low) / 4)
        x, y = rng.uniform(low[:2] + inset[:2], high[:2] - inset[:2])
        location = np.array([x, y, low[2] + rng.uniform(0.8, 1.8)])
        return _look(location, rng.uniform(0, 360), rng.uniform(-20, 5))
    if layout.cameras == "street":  # towards one of the smaller objects (a house, a tree, a lamp)
        small = [obj for obj in scene.objects if obj.type == "MESH" and max(obj.dimensions) < 60.0]
        if not small:
            return None
        chosen = small[int(rng.integers(len(small)))]
        target = np.mean([chosen.matrix_world @ mathutils.Vector(c) for c in chosen.bound_box], axis=0)
        azimuth, distance = rng.uniform(0, 2 * math.pi), rng.uniform(4.0, 25.0)
        x, y = target[0] + distance * math.cos(azimuth), target[1] + distance * math.sin(azimuth)
        ground = _ground_below(scene, x, y, high[2])
        if ground is None:
            return None
        location = np.array([x, y, ground + rng.uniform(1.4, 3.0)])
        to_target = target - location
        yaw = math.degrees(math.atan2(to_target[1], to_target[0])) + rng.uniform(-20, 20)
        pitch = float(np.clip(math.degrees(math.atan2(to_target[2], np.hypot(*to_target[:2]))), -10, 10))
        return _look(location, yaw, pitch + rng.uniform(-5, 5))
    centre, size = (low + high) / 2, float(np.linalg.norm(high - low))
    target = centre + rng.uniform(-0.3, 0.3, 3) * (high - low)
    azimuth, elevation = rng.uniform(0, 2 * math.pi), rng.uniform(0.0, 0.6)
    distance = size * rng.uniform(0.6, 2.5) / 2
    offset = distance * np.array([math.cos(elevation) * math.cos(azimuth), math.cos(elevation) * math.sin(azimuth),
                                  math.sin(elevation)])
    to_target = -offset
    yaw = math.degrees(math.atan2(to_target[1], to_target[0])) + rng.uniform(-10, 10)
    pitch = math.degrees(math.atan2(to_target[2], np.hypot(*to_target[:2]))) + rng.uniform(-5, 5)
    return _look(target + offset, yaw, pitch)


def looks_at_content(scene: bpy.types.Scene, camera: mathutils.Matrix, K: Intrinsics, min_hits: float) -> bool:
    """Whether rays through a 16 x 12 grid of the frame hit something (at least `min_hits` of
    them), none closer than 0.6 m, nearly none a face's back (the camera is inside nothing),
    and at depths that differ: the 90th percentile at least 1.3 times the 10th, and at least
    three depth edges (neighbouring rays whose distances differ by a fifth), where the
    disocclusions are."""
    depsgraph = bpy.context.evaluated_depsgraph_get()
    origin = camera.translation
    rotation = camera.to_3x3()
    u, v = np.meshgrid(np.linspace(0.05, 0.95, 16) * K.width, np.linspace(0.05, 0.95, 12) * K.height)
    directions = blender_points(unproject_pixels(u, v, np.ones_like(u), K))  # in the camera's Blender axes
    grid = np.full(u.shape, np.inf)  # distance along each ray; inf: no hit
    backs = 0
    for index in np.ndindex(grid.shape):
        ray = rotation @ mathutils.Vector(directions[index].tolist()).normalized()
        hit, location, normal, *_ = scene.ray_cast(depsgraph, origin, ray)
        if hit:
            grid[index] = (location - origin).length
            backs += normal.dot(ray) > 0
    distances = grid[np.isfinite(grid)]
    if distances.size < min_hits * grid.size:
        return False
    edges = (np.maximum(grid[:, 1:], grid[:, :-1]) > 1.2 * np.minimum(grid[:, 1:], grid[:, :-1])).sum()
    return bool(distances.min() >= 0.6 and backs <= 0.05 * distances.size and edges >= 3
                and np.percentile(distances, 90) >= 1.3 * np.percentile(distances, 10))


def camera_pose(scene: bpy.types.Scene, layout: Layout, K: Intrinsics, rng: np.random.Generator) -> np.ndarray:
    """A camera-to-world pose (OpenCV axes) that looks at the scene's content, as its layout
    places cameras; InputError after `ATTEMPTS` tries."""
    min_hits = 0.3 if layout.cameras == "around" else 0.7
    bounds = _bounds(scene)
    for _ in range(ATTEMPTS):
        camera = _candidate(scene, layout, bounds, rng)
        if camera is not None and looks_at_content(scene, camera, K, min_hits):
            return blender_matrix_world(np.array(camera))
    raise InputError(f"no camera of {ATTEMPTS} tried looks at content at several depths")


def _ceiling_lamps(scene: bpy.types.Scene, rng: np.random.Generator) -> None:
    """One or two area lights under a room's ceiling, facing down."""
    low, high = _bounds(scene)
    for _ in range(int(rng.integers(1, 3))):
        lamp = bpy.data.lights.new("lamp", "AREA")
        lamp.energy, lamp.size = float(rng.uniform(150, 600)), float(rng.uniform(0.5, 1.5))
        obj = bpy.data.objects.new("lamp", lamp)
        obj.location = (*(float(c) for c in rng.uniform(low[:2] * 0.6, high[:2] * 0.6)), float(high[2] - 0.3))
        scene.collection.objects.link(obj)


def scene_sample(renderer: Renderer, folder: Path, K: Intrinsics, baseline: float, rng: np.random.Generator,
                 rule: HoleRule = SHIPPED_HOLE_RULE, samples: int = 16) -> dict[str, np.ndarray]:
    """The sample arrays (`lit_scene.both_eyes_sample`) of the scene folder seen from a
    random camera under random light (16 samples a pixel, denoised: half the random lit
    scenes' 32, as these scenes take twice as long a sample)."""
    pose = staged_view(renderer, folder, K, rng)
    return both_eyes_sample(renderer, K, pose, baseline, rule, samples, exposed=True)


def staged_view(renderer: Renderer, folder: Path, K: Intrinsics, rng: np.random.Generator) -> np.ndarray:
    """Load the scene folder, light it anew and return a camera-to-world pose (OpenCV axes)
    that looks at it (`camera_pose`)."""
    layout = load_scene(renderer, folder)
    scene = renderer.scene
    for obj in [o for o in scene.objects if o.type == "LIGHT"]:
        bpy.data.objects.remove(obj, do_unlink=True)
    pose = camera_pose(scene, layout, K, rng)
    _lights(scene, rng, mathutils.Matrix(blender_matrix_world(pose).tolist()))
    if layout.cameras == "inside":
        _ceiling_lamps(scene, rng)
    return pose
