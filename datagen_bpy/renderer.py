"""A thin Cycles renderer for pixel-grid meshes (all of the bpy calls of the pipeline but the
procedural scenes). One `Renderer` per process: it owns Blender's single global state."""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

import numpy as np

import bpy
import mathutils

from stereo_geometry import Intrinsics

from stereo_geometry.blender_camera import blender_camera, blender_matrix_world, blender_points
from stereo_geometry.exr import read_multilayer_exr
from .timing import stage

UV = "texel_uv"                # per vertex: where in the texture (a shader asking for "uv" gets the UV map)
TAG = "tag"                    # 1 where the nearest surface is a tagged face
TAGGED_RGB = "tagged_rgb"      # that face's texel
TAGGED_DEPTH = "tagged_depth"  # and its planar depth
AOVS = ((TAG, "VALUE"), (TAGGED_RGB, "COLOR"), (TAGGED_DEPTH, "VALUE"))
#: Tagged faces a camera ray may pass through on its way to a real face (Cycles' default of 8
#: would end some rays at the folds of a wide disocclusion).
SEE_THROUGH_LAYERS = 1024


@dataclass
class Render:
    """One rendered view: linear RGB as stored in the texture, alpha (coverage by opaque
    faces), planar depth (Blender's huge value where no opaque face is hit), and where the
    nearest face is a tagged one, the `tag` (1) with that face's texel and depth."""

    rgb: np.ndarray
    alpha: np.ndarray
    depth: np.ndarray
    tag: np.ndarray
    tagged_rgb: np.ndarray
    tagged_depth: np.ndarray

    @property
    def covered(self) -> np.ndarray:
        return self.alpha > 0.5


def configure_camera(scene: bpy.types.Scene, camera: bpy.types.Object, K: Intrinsics,
                     pose: np.ndarray) -> None:
    """Give a Blender camera (and the render's size) the pinhole intrinsics K and the
    camera-to-world `pose` in OpenCV axes (`stereo_geometry.blender_camera`). Non-square
    pixels (fx != fy) are refused: Blender 5.0.1 writes no multilayer EXR (the renderer's
    output) at a pixel aspect other than 1 ("Conflicting attributes ... pixelAspectRatio");
    `pipeline.CyclesWarp` renders them through a scene stretched in y instead."""
    settings = blender_camera(K)
    if settings.pixel_aspect_x != 1 or settings.pixel_aspect_y != 1:
        raise ValueError(f"fx={K.fx:g} and fy={K.fy:g} differ: Blender 5.0.1 cannot write the multilayer EXR "
                         "of a render with non-square pixels (pipeline.CyclesWarp renders them through "
                         "a scene stretched in y)")
    data = camera.data
    data.sensor_fit, data.sensor_width, data.sensor_height = (settings.sensor_fit, settings.sensor_width,
                                                              settings.sensor_height)
    data.lens, data.shift_x, data.shift_y = settings.lens, settings.shift_x, settings.shift_y
    data.clip_start, data.clip_end = 1e-3, 1e4
    render = scene.render
    render.resolution_x, render.resolution_y = settings.resolution_x, settings.resolution_y
    render.pixel_aspect_x, render.pixel_aspect_y = settings.pixel_aspect_x, settings.pixel_aspect_y
    camera.matrix_world = mathutils.Matrix(blender_matrix_world(pose).tolist())


def unlit_emission_material(name: str) -> bpy.types.Material:
    """An empty node material whose emission is seen by the camera but lights nothing.

    Cycles otherwise treats every emissive triangle as a light and builds its light-sampling
    structures over all of them on every render (a 391k-triangle grid: 1.6-1.9 s of a 0.25 s
    render). Nothing bounces here (`max_bounces = 0`), so no pixel changes."""
    mat = bpy.data.materials.new(name)
    mat.cycles.emission_sampling = "NONE"
    mat.node_tree.nodes.clear()
    return mat


def _grid_materials(image: bpy.types.Image, see_through: bool) -> tuple[bpy.types.Material, bpy.types.Material]:
    """The grid's two materials, both the nearest texel of `image` (through the point
    attribute UV) as emission: real faces', and tagged faces', which write their texel, depth
    and TAG as AOVs where they are the nearest face and, `see_through`, let camera rays pass on
    to any real face behind them (their emission then reaches no pass)."""
    materials = []
    for tagged in (False, True):
        mat = unlit_emission_material("tagged" if tagged else "real")
        nodes, links = mat.node_tree.nodes, mat.node_tree.links
        uv = nodes.new("ShaderNodeAttribute")
        uv.attribute_type, uv.attribute_name = "GEOMETRY", UV
        tex = nodes.new("ShaderNodeTexImage")
        tex.image, tex.interpolation, tex.extension = image, "Closest", "EXTEND"
        links.new(uv.outputs["Vector"], tex.inputs["Vector"])
        emission = nodes.new("ShaderNodeEmission")
        emission.inputs["Strength"].default_value = 1.0
        links.new(tex.outputs["Color"], emission.inputs["Color"])
        out = nodes.new("ShaderNodeOutputMaterial")
        materials.append(mat)
        if not tagged:
            links.new(emission.outputs["Emission"], out.inputs["Surface"])
            continue
        surface = nodes.new("ShaderNodeMixShader")
        surface.inputs["Fac"].default_value = 1.0 if see_through else 0.0
        links.new(emission.outputs["Emission"], surface.inputs[1])
        links.new(nodes.new("ShaderNodeBsdfTransparent").outputs["BSDF"], surface.inputs[2])
        links.new(surface.outputs["Shader"], out.inputs["Surface"])
        nearest = nodes.new("ShaderNodeMath")  # 1 on the first surface a camera ray meets
        nearest.operation = "LESS_THAN"
        nearest.inputs[1].default_value = 0.5
        links.new(nodes.new("ShaderNodeLightPath").outputs["Transparent Depth"], nearest.inputs[0])
        colour = nodes.new("ShaderNodeVectorMath")
        colour.operation = "SCALE"
        links.new(tex.outputs["Color"], colour.inputs[0])
        links.new(nearest.outputs["Value"], colour.inputs["Scale"])
        depth = nodes.new("ShaderNodeMath")
        depth.operation = "MULTIPLY"
        links.new(nodes.new("ShaderNodeCameraData").outputs["View Z Depth"], depth.inputs[0])
        links.new(nearest.outputs["Value"], depth.inputs[1])
        for name, value in ((TAG, nearest.outputs["Value"]), (TAGGED_RGB, colour.outputs["Vector"]),
                            (TAGGED_DEPTH, depth.outputs["Value"])):
            aov = nodes.new("ShaderNodeOutputAOV")
            aov.aov_name = name
            links.new(value, aov.inputs["Color" if name == TAGGED_RGB else "Value"])
    return materials[0], materials[1]


def float_image(name: str, rgb: np.ndarray) -> bpy.types.Image:
    """A Blender float image holding `rgb` (H, W, 3) in [0, 1] unchanged (no colour management)."""
    h, w = rgb.shape[:2]
    image = bpy.data.images.new(name, w, h, alpha=False, float_buffer=True)
    image.colorspace_settings.name = "Non-Color"
    rgba = np.ones((h, w, 4), dtype=np.float32)
    rgba[..., :3] = rgb
    image.pixels.foreach_set(rgba[::-1].ravel())  # Blender's row 0 is the bottom
    image.pack()
    return image


class Renderer:
    """Renders textured grid meshes with Cycles: pixel-exact, one sample, emission only."""

    def __init__(self, width: int, height: int, threads: int = 0) -> None:
        bpy.ops.wm.read_factory_settings(use_empty=True)
        scene = bpy.context.scene
        render = scene.render
        render.engine = "CYCLES"
        render.resolution_x, render.resolution_y = width, height
        render.resolution_percentage = 100
        render.film_transparent = True
        render.threads_mode = "FIXED" if threads else "AUTO"
        if threads:
            render.threads = threads
        cycles = scene.cycles
        cycles.device = "CPU"
        cycles.use_adaptive_sampling = False
        cycles.use_denoising = False
        cycles.max_bounces = 0
        cycles.seed = 0
        scene.view_settings.view_transform = "Standard"
        settings = render.image_settings
        settings.media_type = "MULTI_LAYER_IMAGE"
        settings.file_format = "OPEN_EXR_MULTILAYER"
        settings.color_depth = "32"
        settings.exr_codec = "NONE"
        cycles.transparent_max_bounces = SEE_THROUGH_LAYERS
        view_layer = scene.view_layers[0]
        view_layer.use_pass_z = True
        for name, kind in AOVS:
            aov = view_layer.aovs.add()
            aov.name, aov.type = name, kind
        camera = bpy.data.objects.new("camera", bpy.data.cameras.new("camera"))
        scene.collection.objects.link(camera)
        scene.camera = camera
        self.scene, self.camera = scene, camera
        self.set_samples(1)
        self._tmpdir = tempfile.mkdtemp(prefix="datagen_bpy_")

    def set_camera(self, K: Intrinsics, pose: np.ndarray) -> None:
        configure_camera(self.scene, self.camera, K, pose)

    def set_samples(self, samples: int) -> None:
        """1: pixel-exact renders (one ray through each pixel centre, the default). More:
        render as Blender does by default, `samples` rays a pixel through its 1.5 px
        Blackman-Harris filter (edges and fine texture antialiased; the depth pass still
        takes one sample a pixel, as Blender's does)."""
        cycles = self.scene.cycles
        cycles.samples = samples
        cycles.pixel_filter_type = "BOX" if samples == 1 else "BLACKMAN_HARRIS"
        cycles.filter_width = 0.01 if samples == 1 else 1.5  # 0.01: Cycles' minimum

    def set_mesh(self, vertices: np.ndarray, tris: np.ndarray, uv: np.ndarray, texture: np.ndarray,
                 tagged: np.ndarray | None = None, see_through_tagged: bool = False) -> None:
        """Replace the scene's mesh by triangles over world-space `vertices` (OpenCV axes),
        textured with `texture` (H, W, 3 float) through per-vertex `uv` (a point
        attribute, not a UV map: a sixth of the values to set); the faces where
        `tagged` (bool per face) get the tagged material (`_grid_materials`)."""
        with stage("mesh build"):
            self._set_mesh(vertices, tris, uv, texture, tagged, see_through_tagged)

    def _set_mesh(self, vertices: np.ndarray, tris: np.ndarray, uv: np.ndarray, texture: np.ndarray,
                  tagged: np.ndarray | None, see_through_tagged: bool) -> None:
        self.clear_objects()
        me = bpy.data.meshes.new("grid")  # the attributes' own foreach_set: several times faster
        me.vertices.add(len(vertices))
        me.attributes["position"].data.foreach_set("vector", blender_points(vertices).astype(np.float32).ravel())
        me.attributes.new(UV, "FLOAT2", "POINT").data.foreach_set("vector", uv.astype(np.float32).ravel())
        me.loops.add(3 * len(tris))
        me.attributes[".corner_vert"].data.foreach_set("value", tris.astype(np.int32).ravel())
        me.polygons.add(len(tris))
        me.polygons.foreach_set("loop_start", np.arange(0, 3 * len(tris), 3, dtype=np.int32))
        if tagged is not None:
            me.attributes.new("material_index", "INT", "FACE").data.foreach_set("value", tagged.astype(np.int32))
        me.update(calc_edges=True)
        for material in _grid_materials(float_image("texture", texture), see_through_tagged):
            me.materials.append(material)
        self.scene.collection.objects.link(bpy.data.objects.new("grid", me))

    def clear_objects(self) -> None:
        """Remove every object but the camera, and the data they used."""
        for obj in list(self.scene.collection.all_objects):
            if obj is not self.camera:
                bpy.data.objects.remove(obj, do_unlink=True)
        for collection in (bpy.data.meshes, bpy.data.materials, bpy.data.images, bpy.data.textures,
                           bpy.data.node_groups, bpy.data.lights, bpy.data.worlds):
            for block in list(collection):
                if block.users == 0:
                    collection.remove(block)

    def render(self) -> Render:
        """Render the current scene and read back its passes."""
        path = os.path.join(self._tmpdir, "render.exr")
        self.scene.render.filepath = path
        with stage("render"):
            bpy.ops.render.render(write_still=True)
        with stage("readback"):
            passes = read_multilayer_exr(path)
            os.remove(path)
        combined, depth = passes["Combined"], passes["Depth"]
        missing = np.zeros_like(depth)
        return Render(rgb=combined[..., :3], alpha=combined[..., 3], depth=depth, tag=passes.get(TAG, missing),
                      tagged_rgb=passes.get(TAGGED_RGB, combined * 0)[..., :3],  # a colour AOV is RGBA
                      tagged_depth=passes.get(TAGGED_DEPTH, missing))
