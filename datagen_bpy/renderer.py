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

TAG = "tag"


@dataclass
class Render:
    """One rendered view: linear RGB as stored in the texture, alpha (coverage), planar depth
    (Blender's huge value where nothing is hit) and the per-face tag AOV."""

    rgb: np.ndarray
    alpha: np.ndarray
    depth: np.ndarray
    tag: np.ndarray

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


def _emission_material(name: str, image: bpy.types.Image) -> bpy.types.Material:
    """Flat material: nearest texel of `image` as emission, and the face attribute TAG as AOV."""
    mat = unlit_emission_material(name)
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    tex = nodes.new("ShaderNodeTexImage")
    tex.image, tex.interpolation, tex.extension = image, "Closest", "EXTEND"
    emission = nodes.new("ShaderNodeEmission")
    emission.inputs["Strength"].default_value = 1.0
    out = nodes.new("ShaderNodeOutputMaterial")
    links.new(tex.outputs["Color"], emission.inputs["Color"])
    links.new(emission.outputs["Emission"], out.inputs["Surface"])
    attr = nodes.new("ShaderNodeAttribute")
    attr.attribute_name = TAG
    aov = nodes.new("ShaderNodeOutputAOV")
    aov.aov_name = TAG
    links.new(attr.outputs["Fac"], aov.inputs["Value"])
    return mat


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
        view_layer = scene.view_layers[0]
        view_layer.use_pass_z = True
        aov = view_layer.aovs.add()
        aov.name, aov.type = TAG, "VALUE"
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

    def set_mesh(self, vertices: np.ndarray, tris: np.ndarray, uv: np.ndarray,
                 texture: np.ndarray, face_tag: np.ndarray | None = None) -> None:
        """Replace the scene's mesh by triangles over world-space `vertices` (OpenCV axes),
        textured with `texture` (H, W, 3 float) through per-vertex `uv`, with an optional
        per-face float attribute TAG."""
        with stage("mesh build"):
            self._set_mesh(vertices, tris, uv, texture, face_tag)

    def _set_mesh(self, vertices: np.ndarray, tris: np.ndarray, uv: np.ndarray,
                  texture: np.ndarray, face_tag: np.ndarray | None) -> None:
        self.clear_objects()
        me = bpy.data.meshes.new("grid")
        verts_bl = blender_points(vertices).astype(np.float32)
        me.vertices.add(len(verts_bl))
        me.vertices.foreach_set("co", verts_bl.ravel())
        loops = tris.astype(np.int32).ravel()
        me.loops.add(len(loops))
        me.loops.foreach_set("vertex_index", loops)
        me.polygons.add(len(tris))
        me.polygons.foreach_set("loop_start", np.arange(0, len(loops), 3, dtype=np.int32))
        me.uv_layers.new(name="uv").uv.foreach_set("vector", uv[loops].astype(np.float32).ravel())
        if face_tag is not None:
            me.attributes.new(TAG, "FLOAT", "FACE").data.foreach_set(
                "value", face_tag.astype(np.float32))
        me.update(calc_edges=True)
        obj = bpy.data.objects.new("grid", me)
        obj.data.materials.append(_emission_material("grid", float_image("texture", texture)))
        self.scene.collection.objects.link(obj)

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
        combined = passes["Combined"]
        tag = passes.get(TAG)
        return Render(rgb=combined[..., :3], alpha=combined[..., 3], depth=passes["Depth"],
                      tag=tag if tag is not None else np.zeros_like(passes["Depth"]))
