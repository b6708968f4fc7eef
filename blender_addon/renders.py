"""Source views from Blender: the last render, a frame rendered here (wider than the frame
where its eyes see past its edges), or two images of the artist's. Colour is display-referred
8-bit, as Blender shows and saves the render with the scene's view transform
(`display_referred` for linear colour); depth is planar metres."""
from __future__ import annotations

import os
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass

import bpy
import numpy as np

from .errors import InfillError
from .scene_camera import blender_camera, metres_per_unit, render_size, scene_camera
from .stereo_geometry.blender_camera import blender_camera as settings_for
from .stereo_geometry.camera import Intrinsics
from .stereo_geometry.colour import finite_depth
from .stereo_geometry.exr import read_multilayer_exr
from .stereo_geometry.overrides import overridden
from .stereo_geometry.sample import to_uint8


@dataclass
class View:
    """A rendered view: (H, W, 3) uint8 display-referred colour, (H, W) float32 planar depth in
    metres, the render's intrinsics, and the columns it holds beyond the frame's left and
    right edges."""

    image: np.ndarray
    depth: np.ndarray
    K: Intrinsics
    margins: tuple[int, int] = (0, 0)


def source_layer(scene: bpy.types.Scene, name: str = "") -> str:
    """The view layer whose passes are used: the one named, else the active one."""
    if name:
        if name not in scene.view_layers:
            raise InfillError(f"No view layer '{name}' in scene '{scene.name}'")
        return name
    window = bpy.context.window
    active = window.view_layer if window is not None and window.scene == scene else None
    return (active or scene.view_layers[0]).name


def byte_image_pixels(path: str) -> np.ndarray:
    """An 8-bit image file's pixels as (H, W, 3) uint8, read by Blender (row 0 at the top)."""
    image = bpy.data.images.load(path)
    try:
        w, h = image.size
        pixels = np.empty(w * h * 4, np.float32)
        image.pixels.foreach_get(pixels)
    finally:
        bpy.data.images.remove(image)
    return np.round(pixels.reshape(h, w, 4)[::-1, :, :3] * 255).astype(np.uint8)


def last_render(scene: bpy.types.Scene, layer: str, eye: str | None = None, K: Intrinsics | None = None,
                margins: tuple[int, int] = (0, 0)) -> View:
    """The last render's colour (as Blender saves it: 8-bit, the scene's view transform) and
    Depth pass of view layer `layer`; of a stereo render, the view of `eye` ("LEFT" or
    "RIGHT"; None: a stereo render is refused). K: the render's intrinsics (default: the
    scene camera's at the render's size)."""
    if not scene.view_layers[layer].use_pass_z:
        raise InfillError(f"No Depth pass in view layer '{layer}': enable View Layer > Passes > Data > Z "
                          "and render again")
    result = bpy.data.images.get("Render Result")
    if result is None:
        raise InfillError("Nothing rendered yet: render a frame first (F12)")
    settings = scene.render.image_settings
    with tempfile.TemporaryDirectory(prefix="disocclusion_") as folder:  # removed whatever happens
        png, exr = os.path.join(folder, "render.png"), os.path.join(folder, "render.exr")
        try:
            with overridden(settings, media_type="IMAGE", file_format="PNG", color_mode="RGB", color_depth="8",
                            views_format="INDIVIDUAL"):
                result.save_render(filepath=png, scene=scene)
            with overridden(settings, media_type="MULTI_LAYER_IMAGE", file_format="OPEN_EXR_MULTILAYER",
                            color_depth="32", views_format="MULTIVIEW"):
                result.save_render(filepath=exr, scene=scene)
        except RuntimeError as exc:
            raise InfillError(f"Cannot read the last render ({exc}): render a frame first") from exc
        view = None
        if not os.path.isfile(png):  # a stereo render: one file per view
            if eye is None:
                raise InfillError("The last render holds both eyes (Output > Stereoscopy was on): the camera's "
                                  "own view is needed for pivot Center; use Source: Render Frame")
            view = "left" if eye == "LEFT" else "right"
            png = os.path.join(folder, f"render{scene.render.views[view].file_suffix}.png")
        if not (os.path.isfile(png) and os.path.isfile(exr)):
            raise InfillError("Nothing rendered yet: render a frame first (F12)")
        passes = read_multilayer_exr(exr, layer, view)
        if "Depth" not in passes:
            raise InfillError(f"The last render has no Depth pass of view layer '{layer}': enable View Layer > "
                              "Passes > Data > Z and render again")
        image = byte_image_pixels(png)
    h, w = image.shape[:2]
    return View(image, finite_depth(passes["Depth"] * metres_per_unit(scene)),
                K or blender_camera(scene, w, h).intrinsics(), margins)


def render_frame(scene: bpy.types.Scene, layer: str, margins: tuple[int, int] = (0, 0),
                 samples: int | None = None) -> View:
    """Render the scene camera's own view of the current frame once (Stereoscopy off, the
    Depth pass on), `margins` columns wider on the left and right with the same lens, focal
    length in pixels and principal point (the frame's pixels are those of a plain render); a
    render region is ignored; `samples` overrides the scene's. Every setting is restored."""
    camera = scene_camera(scene)
    width, height = render_size(scene)
    K = blender_camera(scene, width, height).intrinsics()
    K_wide = K.widened(*margins)
    wide = settings_for(K_wide, sensor_width=camera.data.lens * K_wide.width / K.fx)
    lens = {name: getattr(wide, name) for name in ("lens", "sensor_width", "sensor_height", "sensor_fit",
                                                     "shift_x", "shift_y")}
    frame = {name: getattr(wide, name) for name in ("resolution_x", "resolution_y", "pixel_aspect_x",
                                                    "pixel_aspect_y")}
    with ExitStack() as stack:
        stack.enter_context(overridden(camera.data, **lens))
        stack.enter_context(overridden(scene.render, **frame, resolution_percentage=100, use_border=False,
                                       use_multiview=False))
        stack.enter_context(overridden(scene.view_layers[layer], use_pass_z=True))
        if samples is not None and scene.render.engine == "CYCLES":
            stack.enter_context(overridden(scene.cycles, samples=samples))
        if bpy.ops.render.render(layer=layer) != {"FINISHED"}:
            raise InfillError("The render was cancelled")
        return last_render(scene, layer, K=K_wide, margins=margins)


def view_from_images(image: bpy.types.Image | None, depth: bpy.types.Image | None,
                     scene: bpy.types.Scene) -> View:
    """A view from an image and a depth image (planar depth in scene units) of the artist's."""
    if image is None or depth is None:
        raise InfillError("Choose both an image and a depth image")
    rgba, depth_pixels = image_pixels(image), image_pixels(depth)
    if rgba.shape[:2] != depth_pixels.shape[:2]:
        raise InfillError(f"Image is {rgba.shape[1]}x{rgba.shape[0]} but depth is "
                          f"{depth_pixels.shape[1]}x{depth_pixels.shape[0]}: they must match")
    h, w = rgba.shape[:2]
    # float images hold scene-linear colour: shown through the scene's view transform
    rgb = display_referred(scene, rgba[..., :3]) if image.is_float else to_uint8(rgba[..., :3])
    return View(rgb, finite_depth(depth_pixels[..., 0] * metres_per_unit(scene)), blender_camera(scene, w, h).intrinsics())


def image_pixels(image: bpy.types.Image) -> np.ndarray:
    """(H, W, 4) float pixels of an image datablock, row 0 at the top."""
    w, h = image.size
    if w == 0 or h == 0:
        raise InfillError(f"Image '{image.name}' has no pixels (is its file missing?)")
    pixels = np.empty(w * h * 4, dtype=np.float32)
    image.pixels.foreach_get(pixels)
    return pixels.reshape(h, w, 4)[::-1]


def display_referred(scene: bpy.types.Scene, linear: np.ndarray) -> np.ndarray:
    """Linear scene colour (H, W, 3) as Blender shows and saves it: 8-bit through the scene's
    view transform (written by Blender as a PNG and read back)."""
    h, w = linear.shape[:2]
    image = bpy.data.images.new(".disocclusion_linear", w, h, alpha=False, float_buffer=True)
    rgba = np.ones((h, w, 4), np.float32)
    rgba[..., :3] = linear[::-1]
    settings = scene.render.image_settings
    try:
        image.pixels.foreach_set(rgba.ravel())
        with tempfile.TemporaryDirectory(prefix="disocclusion_") as folder:
            path = os.path.join(folder, "view.png")
            with overridden(settings, media_type="IMAGE", file_format="PNG", color_mode="RGB", color_depth="8",
                            views_format="INDIVIDUAL"):
                image.save_render(filepath=path, scene=scene)
            return byte_image_pixels(path)
    finally:
        bpy.data.images.remove(image)
