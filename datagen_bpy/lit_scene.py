"""Lit, layered random scenes rendered for both eyes: real disocclusions with exact truth.

A scene (`build_lit_scene`) is what Blender users render: a sun, an area light and a sky
light the surfaces (diffuse, glossy and rough Principled materials, textured with a photo or
one of Blender's procedural textures; shadows), and the content is layered: a ground and often
a back wall, solid shapes at 0.8-12 m, foliage-like cards whose alpha is a thresholded noise,
wires and railings (thin cylinders), and some objects just beyond the frame's edge. Sky is
visible where nothing is hit.

`lit_sample` renders the source eye and the other eye with Cycles as Blender renders by
default (antialiased, denoised), reprojects the source into the other eye with the geometry
core (the holes the CLI and the add-on make) and takes the other eye's true render as the
target: the sample arrays of `stereo_geometry.SAMPLE_ARRAYS`, "left" meaning the made eye.
"""
from __future__ import annotations

import math
from pathlib import Path

import bpy
import mathutils
import numpy as np

from stereo_geometry import HoleRule, Intrinsics, stereo_pose, to_uint8, world_to_camera
from stereo_geometry.blender_camera import blender_points
from stereo_geometry.mesh import SHIPPED_HOLE_RULE, normals_from_depth
from stereo_geometry.overrides import overridden
from stereo_geometry.sample import warped_inputs
from stereo_geometry.warp import reproject

from .procedural import SHAPES, _shape, mesh_of, texture_colour
from .renderer import Renderer
from .timing import stage

#: Depth given to sky pixels (no surface hit), metres: far enough to move less than a pixel.
SKY_DEPTH = 1000.0


def _lit_material(rng: np.random.Generator, photos: list[Path], alpha_cutout: bool = False,
                  tint: tuple[float, float, float] | None = None) -> bpy.types.Material:
    """A Principled material: diffuse to glossy (roughness 0.05-0.9, sometimes metallic),
    textured; with `alpha_cutout`, a leaf-like alpha (thresholded noise) for foliage cards."""
    mat = bpy.data.materials.new("lit")
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    nodes.clear()
    coords = nodes.new("ShaderNodeTexCoord")
    bsdf = nodes.new("ShaderNodeBsdfPrincipled")
    if tint is None:
        links.new(texture_colour(nodes, links, rng, photos, as_data=False), bsdf.inputs["Base Color"])
    else:
        noise = nodes.new("ShaderNodeTexNoise")
        noise.inputs["Scale"].default_value = float(rng.uniform(3, 15))
        ramp = nodes.new("ShaderNodeValToRGB")
        ramp.color_ramp.elements[0].color = (*(0.4 * np.array(tint)), 1.0)
        ramp.color_ramp.elements[1].color = (*tint, 1.0)
        links.new(noise.outputs["Fac"], ramp.inputs["Fac"])
        links.new(ramp.outputs["Color"], bsdf.inputs["Base Color"])
    bsdf.inputs["Roughness"].default_value = float(rng.uniform(0.05, 0.9))
    bsdf.inputs["Metallic"].default_value = float(rng.random() < 0.15)
    out = nodes.new("ShaderNodeOutputMaterial")
    links.new(bsdf.outputs["BSDF"], out.inputs["Surface"])
    if alpha_cutout:
        leaves = nodes.new("ShaderNodeTexVoronoi" if rng.random() < 0.5 else "ShaderNodeTexNoise")
        leaves.inputs["Scale"].default_value = float(rng.uniform(4, 14))
        links.new(coords.outputs["UV"], leaves.inputs["Vector"])
        cut = nodes.new("ShaderNodeMath")
        cut.operation = "GREATER_THAN" if rng.random() < 0.5 else "LESS_THAN"  # holes in leaves, or leaves
        cut.inputs[1].default_value = float(rng.uniform(0.35, 0.6))
        links.new(next(o for o in leaves.outputs if o.type == "VALUE"), cut.inputs[0])
        links.new(cut.outputs["Value"], bsdf.inputs["Alpha"])
    return mat


def _place(scene, me: bpy.types.Mesh, mat: bpy.types.Material, location_cv, scale, rotation) -> None:
    obj = bpy.data.objects.new(me.name, me)
    obj.data.materials.append(mat)
    obj.location = [float(c) for c in blender_points(np.asarray(location_cv, dtype=np.float64))]
    obj.scale = [float(s) for s in scale]
    obj.rotation_euler = mathutils.Euler([float(r) for r in rotation])
    scene.collection.objects.link(obj)


def _quad(name: str) -> bpy.types.Mesh:
    me = bpy.data.meshes.new(name)
    me.from_pydata([(-1, -1, 0), (1, -1, 0), (1, 1, 0), (-1, 1, 0)], [], [(0, 1, 2, 3)])
    me.uv_layers.new(name="UVMap")
    return me


def _cylinder(name: str, radius: float, length: float) -> bpy.types.Mesh:
    """A capped cylinder along its local z axis."""
    import bmesh

    bm = bmesh.new()
    bmesh.ops.create_cone(bm, cap_ends=True, segments=12, radius1=radius, radius2=radius, depth=length,
                          calc_uvs=True)
    return mesh_of(bm, name)


def _lights(scene, rng: np.random.Generator, camera: mathutils.Matrix | None = None) -> None:
    """A sun (random elevation and azimuth), an area light near the camera (at the origin, or
    at the Blender `camera` matrix) and a sky world."""
    sun = bpy.data.lights.new("sun", "SUN")
    sun.energy = float(rng.uniform(1.5, 5.0))
    sun.angle = math.radians(float(rng.uniform(0.5, 8.0)))  # soft to hard shadows
    sun_obj = bpy.data.objects.new("sun", sun)
    sun_obj.rotation_euler = (float(rng.uniform(0.2, 1.2)), 0.0, float(rng.uniform(0, 2 * math.pi)))
    scene.collection.objects.link(sun_obj)
    area = bpy.data.lights.new("area", "AREA")
    area.energy, area.size = float(rng.uniform(50, 400)), float(rng.uniform(0.5, 3.0))
    area_obj = bpy.data.objects.new("area", area)
    area_obj.location = (float(rng.uniform(-3, 3)), float(rng.uniform(0.5, 3)), float(rng.uniform(-1, 1)))
    area_obj.rotation_euler = (math.radians(float(rng.uniform(-20, 20))), 0.0, 0.0)
    if camera is not None:
        area_obj.matrix_world = camera @ area_obj.matrix_basis
    scene.collection.objects.link(area_obj)
    world = bpy.data.worlds.new("sky")
    nodes, links = world.node_tree.nodes, world.node_tree.links
    background = nodes.get("Background") or nodes.new("ShaderNodeBackground")
    gradient, ramp = nodes.new("ShaderNodeTexGradient"), nodes.new("ShaderNodeValToRGB")
    coords = nodes.new("ShaderNodeTexCoord")
    mapping = nodes.new("ShaderNodeMapping")
    mapping.inputs["Rotation"].default_value = (0.0, math.pi / 2, 0.0)  # the gradient runs up the sky
    links.new(coords.outputs["Generated"], mapping.inputs["Vector"])
    links.new(mapping.outputs["Vector"], gradient.inputs["Vector"])
    horizon = rng.uniform(0.5, 1.0, 3)
    ramp.color_ramp.elements[0].color = (*horizon, 1.0)
    ramp.color_ramp.elements[1].color = (*(horizon * rng.uniform(0.3, 0.8, 3)), 1.0)
    links.new(gradient.outputs["Fac"], ramp.inputs["Fac"])
    links.new(ramp.outputs["Color"], background.inputs["Color"])
    background.inputs["Strength"].default_value = float(rng.uniform(0.3, 1.2))
    scene.world = world


def build_lit_scene(renderer: Renderer, K: Intrinsics, rng: np.random.Generator, photos: list[Path]) -> None:
    """Fill the renderer's scene with a random lit, layered scene seen by a camera with
    intrinsics K at the origin (OpenCV axes)."""
    renderer.clear_objects()
    renderer.set_camera(K, np.eye(4))
    scene = renderer.scene
    half_w, half_h = K.width / (2 * K.fx), K.height / (2 * K.fy)  # tangents of the half fields of view
    far = float(rng.uniform(6.0, 25.0))
    ground_y = float(rng.uniform(0.8, 1.8))  # below the camera (OpenCV y is down)
    _place(scene, _quad("ground"), _lit_material(rng, photos), (0, ground_y, far / 2), (4 * far, 4 * far, 1),
           (math.pi / 2, 0, 0))
    if rng.random() < 0.6:  # a back wall; else sky shows above the horizon
        _place(scene, _quad("wall"), _lit_material(rng, photos), (0, 0, far), (3 * far, 3 * far, 1),
               (float(rng.uniform(-0.2, 0.2)), float(rng.uniform(-0.3, 0.3)), 0))

    def depth_between(near: float, far_: float) -> float:
        return float(np.exp(rng.uniform(math.log(near), math.log(far_))))

    for _ in range(int(rng.integers(3, 10))):  # solid shapes, some just beyond the frame's edge
        z = depth_between(0.8, min(12.0, far - 0.5))
        beyond = rng.random() < 0.2
        x = float((rng.choice([-1, 1]) * rng.uniform(1.0, 1.3) if beyond else rng.uniform(-1, 1)) * half_w * z)
        y = float(rng.uniform(-1, 1) * half_h * z)
        size = float(rng.uniform(0.08, 0.4)) * z * half_w
        kind = SHAPES[int(rng.integers(len(SHAPES)))]
        _place(scene, _shape(kind, rng), _lit_material(rng, photos), (x, min(y, ground_y - size / 2), z),
               size * rng.uniform(0.5, 1.5, 3), rng.uniform(0, 2 * math.pi, 3))
    for _ in range(int(rng.integers(0, 6))):  # foliage-like cards with alpha
        z = depth_between(0.7, min(10.0, far - 0.5))
        size = float(rng.uniform(0.1, 0.5)) * z * half_w
        green = tuple(float(c) for c in (rng.uniform(0.05, 0.3), rng.uniform(0.2, 0.6), rng.uniform(0.02, 0.2)))
        _place(scene, _quad("card"), _lit_material(rng, photos, alpha_cutout=True, tint=green),
               (float(rng.uniform(-1.1, 1.1) * half_w * z), float(rng.uniform(-1, 0.8) * half_h * z), z),
               (size, size, 1), (float(rng.uniform(-0.4, 0.4)), float(rng.uniform(-0.6, 0.6)), float(rng.uniform(0, 6.3))))
    for _ in range(int(rng.integers(0, 4))):  # wires: long thin horizontal cylinders across the view
        z = depth_between(1.0, min(15.0, far - 0.5))
        _place(scene, _cylinder("wire", float(rng.uniform(0.003, 0.015)), 4 * half_w * z),
               _lit_material(rng, []), (0, float(rng.uniform(-1, 0.3) * half_h * z), z), (1, 1, 1),
               (float(rng.uniform(-0.1, 0.1)), math.pi / 2, float(rng.uniform(-0.15, 0.15))))
    if rng.random() < 0.4:  # a railing: posts and a bar at one depth
        z = depth_between(1.0, min(8.0, far - 0.5))
        material, height = _lit_material(rng, photos), float(rng.uniform(0.6, 1.1))
        radius, spacing = float(rng.uniform(0.01, 0.04)), float(rng.uniform(0.1, 0.4))
        for x in np.arange(-1.5 * half_w * z, 1.5 * half_w * z, spacing):
            _place(scene, _cylinder("post", radius, height), material, (float(x), ground_y - height / 2, z),
                   (1, 1, 1), (math.pi / 2, 0, 0))
        _place(scene, _cylinder("bar", 1.5 * radius, 3 * half_w * z), material, (0, ground_y - height, z), (1, 1, 1),
               (0, math.pi / 2, 0))
    _lights(scene, rng)


def lit_sample(renderer: Renderer, K: Intrinsics, baseline: float, rng: np.random.Generator,
               photos: list[Path], rule: HoleRule = SHIPPED_HOLE_RULE, samples: int = 32) -> dict[str, np.ndarray]:
    """The sample arrays (`both_eyes_sample`) of a random lit scene seen from the origin."""
    build_lit_scene(renderer, K, rng, photos)
    return both_eyes_sample(renderer, K, np.eye(4), baseline, rule, samples)


def both_eyes_sample(renderer: Renderer, K: Intrinsics, pose: np.ndarray, baseline: float,
                     rule: HoleRule = SHIPPED_HOLE_RULE, samples: int = 32,
                     exposed: bool = False) -> dict[str, np.ndarray]:
    """The sample arrays of the renderer's lit scene: the source eye (camera-to-world `pose`,
    OpenCV axes) reprojected into the eye at `baseline` (metres along its x; negative: the
    left eye; holes as `rule` says) as the network input, that eye's true render and depth as
    the target, and the source eye's own render and depth (`source_image`, `source_depth`:
    what the hole mask is measured against). `exposed`: both eyes scaled alike by the
    source's `exposure` (scenes whose light levels are not known)."""
    scene = renderer.scene
    views = {}
    with overridden(scene.cycles, max_bounces=4, use_denoising=True), overridden(scene.render, film_transparent=False):
        renderer.set_samples(samples)
        try:
            for name, eye in (("source", pose), ("other", pose @ stereo_pose(baseline))):
                renderer.set_camera(K, eye)
                views[name] = renderer.render()
        finally:
            renderer.set_samples(1)
            scene.world = None
    scale = exposure(views["source"].rgb) if exposed else 1.0
    (image, depth), (true_image, true_depth) = ((to_uint8(display_srgb(scale * view.rgb)),
                                                 np.where(view.depth < SKY_DEPTH, view.depth, SKY_DEPTH).astype(np.float32))
                                                for view in (views["source"], views["other"]))
    with stage("reprojection"):
        warp = reproject(image, depth, K, K, world_to_camera(stereo_pose(baseline)), rule, interpolate=True)
        inputs = warped_inputs(warp, K)
    return {**inputs, "depth_generated_left": warp.depth,
            "normals_generated_left": normals_from_depth(warp.depth, K).astype(np.float16),
            "org_left_image": true_image, "org_left_depth": true_depth,
            "source_image": image, "source_depth": depth}  # to measure the holes against the true visibility


def exposure(linear: np.ndarray) -> float:
    """The scale that makes a linear render's brightest tenth start at 0.8 (within 1/4-8x)."""
    brightest = float(np.percentile(linear.mean(-1), 90))
    return float(np.clip(0.8 / max(brightest, 1e-6), 0.25, 8.0))


def display_srgb(linear: np.ndarray) -> np.ndarray:
    """Linear scene values as Blender's Standard view shows them (the sRGB curve, clipped)."""
    x = np.clip(linear, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)
