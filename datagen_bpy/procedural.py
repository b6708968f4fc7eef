"""Random scenes built in Blender: the embedded default source of images with exact depth.

A scene is a large back wall and a floor, with several boxes, spheres, cylinders, cones and
tori at depths of 0.8-8 m, each textured with a photo (when `--images` gives some) or one of
Blender's procedural textures, and shaded by how squarely it faces the camera. The camera sits
at the origin looking down +z (OpenCV axes), so the render is the source view directly.
"""
from __future__ import annotations

import math
from pathlib import Path

import bmesh
import bpy
import mathutils
import numpy as np

from stereo_geometry import Intrinsics, to_uint8
from stereo_geometry.blender_camera import blender_points

from .renderer import Renderer, unlit_emission_material

PROCEDURAL_TEXTURES = ("ShaderNodeTexNoise", "ShaderNodeTexVoronoi", "ShaderNodeTexChecker",
                       "ShaderNodeTexWave", "ShaderNodeTexBrick", "ShaderNodeTexMagic",
                       "ShaderNodeTexGradient")
SHAPES = ("cube", "sphere", "cylinder", "cone", "torus")


def texture_colour(nodes, links, rng: np.random.Generator, photos: list[Path], as_data: bool = True):
    """A material's colour output: a photo (70 % where photos are given; with `as_data`, its
    bytes as they are) or one of Blender's procedural textures through a random colour ramp,
    mapped at a random scale and turn."""
    coords = nodes.new("ShaderNodeTexCoord")
    mapping = nodes.new("ShaderNodeMapping")
    mapping.inputs["Scale"].default_value = [float(s) for s in rng.uniform(0.5, 4.0, 3)]
    mapping.inputs["Rotation"].default_value = (0.0, 0.0, float(rng.uniform(0, math.pi)))
    if photos and rng.random() < 0.7:
        links.new(coords.outputs["UV"], mapping.inputs["Vector"])
        tex = nodes.new("ShaderNodeTexImage")
        path = photos[int(rng.integers(len(photos)))]
        tex.image = bpy.data.images.load(str(path), check_existing=True)
        if as_data:
            tex.image.colorspace_settings.name = "Non-Color"  # keep the photo's bytes as they are
        tex.extension = "MIRROR"
        links.new(mapping.outputs["Vector"], tex.inputs["Vector"])
        return tex.outputs["Color"]
    links.new(coords.outputs["Object"], mapping.inputs["Vector"])
    tex = nodes.new(PROCEDURAL_TEXTURES[int(rng.integers(len(PROCEDURAL_TEXTURES)))])
    if "Scale" in tex.inputs:
        tex.inputs["Scale"].default_value = float(rng.uniform(1.0, 12.0))
    links.new(mapping.outputs["Vector"], tex.inputs["Vector"])
    ramp = nodes.new("ShaderNodeValToRGB")
    stops = ramp.color_ramp.elements
    for i in range(int(rng.integers(0, 3))):
        stops.new(float(rng.uniform(0.1, 0.9)))
    for stop in stops:
        stop.color = (*(float(c) for c in rng.uniform(0, 1, 3)), 1.0)
    value = next(o for o in tex.outputs if o.type == "VALUE")  # Fac, Distance, ...
    links.new(value, ramp.inputs["Fac"])
    return ramp.outputs["Color"]


def _material(rng: np.random.Generator, photos: list[Path]) -> bpy.types.Material:
    mat = unlit_emission_material("surface")
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    colour = texture_colour(nodes, links, rng, photos)
    # Fake lighting: faces seen at a grazing angle are darker (emission strength < 1).
    facing = nodes.new("ShaderNodeLayerWeight")
    darken = nodes.new("ShaderNodeMath")
    darken.operation = "MULTIPLY_ADD"
    darken.inputs[1].default_value = -float(rng.uniform(0.3, 0.7))
    darken.inputs[2].default_value = 1.0
    links.new(facing.outputs["Facing"], darken.inputs[0])
    emission = nodes.new("ShaderNodeEmission")
    links.new(colour, emission.inputs["Color"])
    links.new(darken.outputs["Value"], emission.inputs["Strength"])
    out = nodes.new("ShaderNodeOutputMaterial")
    links.new(emission.outputs["Emission"], out.inputs["Surface"])
    return mat


def _shape(kind: str, rng: np.random.Generator) -> bpy.types.Mesh:
    bm = bmesh.new()
    uv = True
    if kind == "cube":
        bmesh.ops.create_cube(bm, size=1.0, calc_uvs=uv)
    elif kind == "sphere":
        bmesh.ops.create_uvsphere(bm, u_segments=32, v_segments=16, radius=0.5, calc_uvs=uv)
    elif kind == "cylinder":
        bmesh.ops.create_cone(bm, cap_ends=True, segments=32, radius1=0.5, radius2=0.5, depth=1.0,
                              calc_uvs=uv)
    elif kind == "cone":
        bmesh.ops.create_cone(bm, cap_ends=True, segments=32, radius1=0.5, radius2=0.0, depth=1.0,
                              calc_uvs=uv)
    else:
        ring = float(rng.uniform(0.1, 0.2))
        bmesh.ops.create_circle(bm, cap_ends=False, segments=32, radius=0.5 - ring)
        geom = bm.verts[:] + bm.edges[:]
        bmesh.ops.spin(bm, geom=geom, axis=(0, 1, 0), cent=(0.5 - ring, 0, 0), steps=16,
                       angle=2 * math.pi, use_duplicate=False)
        bmesh.ops.remove_doubles(bm, verts=bm.verts, dist=1e-5)
        bm.faces.ensure_lookup_table()
        uv_layer = bm.loops.layers.uv.new("UVMap")
        for face in bm.faces:
            for loop in face.loops:
                loop[uv_layer].uv = (loop.vert.co.x + 0.5, loop.vert.co.y + 0.5)
    return mesh_of(bm, kind)


def mesh_of(bm: "bmesh.types.BMesh", name: str) -> bpy.types.Mesh:
    """A mesh datablock `name` holding a bmesh's geometry (the bmesh is freed)."""
    me = bpy.data.meshes.new(name)
    bm.to_mesh(me)
    bm.free()
    return me


def _add(scene: bpy.types.Scene, me: bpy.types.Mesh, mat: bpy.types.Material,
         location_cv: np.ndarray, scale: np.ndarray, rotation: np.ndarray) -> None:
    obj = bpy.data.objects.new(me.name, me)
    obj.data.materials.append(mat)
    obj.location = [float(c) for c in blender_points(np.asarray(location_cv, dtype=np.float64))]
    obj.scale = [float(s) for s in scale]
    obj.rotation_euler = mathutils.Euler([float(r) for r in rotation])
    scene.collection.objects.link(obj)


def build_scene(renderer: Renderer, K: Intrinsics, rng: np.random.Generator,
                photos: list[Path]) -> None:
    """Fill the renderer's scene with a random scene seen by a camera with intrinsics K."""
    renderer.clear_objects()
    renderer.set_camera(K, np.eye(4))
    scene = renderer.scene
    half_w = K.width / (2 * K.fx)  # tan of the half field of view
    half_h = K.height / (2 * K.fy)

    wall_z = float(rng.uniform(4.0, 14.0))
    wall = bpy.data.meshes.new("wall")
    wall.from_pydata([(-1, -1, 0), (1, -1, 0), (1, 1, 0), (-1, 1, 0)], [], [(0, 1, 2, 3)])
    wall.uv_layers.new(name="UVMap")
    tilt = rng.uniform(-0.3, 0.3, 2)
    _add(scene, wall, _material(rng, photos), np.array([0, 0, wall_z]),
         np.full(3, 4 * wall_z), np.array([tilt[0], tilt[1], 0.0]))
    if rng.random() < 0.7:
        floor_y = float(rng.uniform(0.6, 1.8))  # below the camera (OpenCV y is down)
        floor = bpy.data.meshes.new("floor")
        floor.from_pydata([(-1, -1, 0), (1, -1, 0), (1, 1, 0), (-1, 1, 0)], [], [(0, 1, 2, 3)])
        floor.uv_layers.new(name="UVMap")
        _add(scene, floor, _material(rng, photos), np.array([0, floor_y, wall_z]),
             np.array([4 * wall_z, wall_z, 1.0]), np.array([math.pi / 2, 0, 0]))

    for _ in range(int(rng.integers(3, 9))):
        z = float(np.exp(rng.uniform(math.log(0.8), math.log(min(8.0, wall_z - 0.5)))))
        x = float(rng.uniform(-1, 1) * half_w * z)
        y = float(rng.uniform(-1, 1) * half_h * z)
        size = float(rng.uniform(0.08, 0.45)) * z * half_w
        kind = SHAPES[int(rng.integers(len(SHAPES)))]
        _add(scene, _shape(kind, rng), _material(rng, photos), np.array([x, y, z]),
             size * rng.uniform(0.5, 1.5, 3), rng.uniform(0, 2 * math.pi, 3))


def render_scene(renderer: Renderer, K: Intrinsics, rng: np.random.Generator,
                 photos: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """A random scene's image (H, W, 3) uint8 and exact planar depth (H, W) float32."""
    build_scene(renderer, K, rng, photos)
    view = renderer.render()
    if not view.covered.all():
        raise RuntimeError("procedural scene left pixels without geometry")
    return to_uint8(view.rgb), view.depth
