"""Stereo results handed back the Blender way: an image datablock with a left and a right view
(the Image Editor's stereo display shows it), and files written by Blender's own image writer
with the scene's output settings (file format, views format: individual files, side-by-side,
top-bottom, anaglyph, interlace, multi-view EXR).

The eyes are display-referred 8-bit images (as Blender shows the render); they are written
through the Standard view transform so Blender writes their pixels as they are."""
from __future__ import annotations

import os
import tempfile
from contextlib import ExitStack, contextmanager
from typing import Callable, Iterator

import bpy
import numpy as np

from .errors import InfillError
from .scene_camera import metres_per_unit
from .stereo_geometry.colour import srgb_to_linear
from .stereo_geometry.overrides import overridden
from .stereo_geometry.sequence import FilledFrame, Frame, Write, stereo_pair
from .stereo_geometry.writer import atomic_target

VIEWS = {"LEFT": "left", "RIGHT": "right"}  # eye -> Blender's Stereo 3D view


def byte_image(name: str, srgb: np.ndarray) -> bpy.types.Image:
    """A new 8-bit image datablock holding `srgb` ((H, W, 3) uint8) as it is."""
    h, w = srgb.shape[:2]
    image = bpy.data.images.new(name, w, h, alpha=False)
    rgba = np.ones((h, w, 4), np.float32)
    rgba[..., :3] = srgb[::-1] / np.float32(255)
    image.pixels.foreach_set(rgba.ravel())
    return image


def save_byte_png(path: str, srgb: np.ndarray) -> None:
    """Write `srgb` to `path` as an 8-bit PNG, its pixels as they are."""
    image = byte_image(".disocclusion_png", srgb)
    try:
        image.filepath_raw, image.file_format = path, "PNG"
        image.save()
    finally:
        bpy.data.images.remove(image)


def view_suffixes(scene: bpy.types.Scene) -> dict[str, str]:
    """Eye -> the file suffix of its Stereo 3D view ("_L", "_R" unless the scene changed them)."""
    return {eye: scene.render.views[view].file_suffix for eye, view in VIEWS.items()}


def with_suffix(path: str, suffix: str) -> str:
    """`path` with a view's suffix before its extension (name0001.png -> name0001_L.png)."""
    stem, ext = os.path.splitext(path)
    return stem + suffix + ext


@contextmanager
def stereo_datablock(scene: bpy.types.Scene, eyes: dict[str, np.ndarray]) -> Iterator[bpy.types.Image]:
    """A multi-view image of the two eyes ({"LEFT": ..., "RIGHT": ...}, uint8), read back from
    files in a temporary folder (removed after the block: pack the image to keep it)."""
    with tempfile.TemporaryDirectory(prefix="disocclusion_") as folder, \
            overridden(scene.render, use_multiview=True, views_format="STEREO_3D"):
        suffixes = view_suffixes(scene)
        for eye, srgb in eyes.items():
            save_byte_png(os.path.join(folder, f"stereo{suffixes[eye]}.png"), srgb)
        image = bpy.data.images.load(os.path.join(folder, f"stereo{suffixes['LEFT']}.png"))
        image.use_multiview, image.views_format = True, "INDIVIDUAL"
        image.reload()
        if not image.is_stereo_3d:
            bpy.data.images.remove(image)
            raise InfillError("Blender did not read the two eyes as a stereo image")
        yield image


def store_stereo_image(scene: bpy.types.Scene, name: str, eyes: dict[str, np.ndarray]) -> bpy.types.Image:
    """The image datablock `name` replaced by a stereo image of the two eyes, packed into the
    .blend."""
    old = bpy.data.images.get(name)
    if old is not None:
        bpy.data.images.remove(old)
    with stereo_datablock(scene, eyes) as image:
        image.pack()
        image.name = name
        return image


@contextmanager
def writing_as_is(scene: bpy.types.Scene) -> Iterator[None]:
    """Blender's writer set to write display-referred pixels unchanged: the output's colour
    management overridden with the Standard view on an sRGB display."""
    settings = scene.render.image_settings
    with ExitStack() as stack:
        stack.enter_context(overridden(settings, color_management="OVERRIDE"))
        stack.enter_context(overridden(settings.view_settings, view_transform="Standard", look="None",
                                       exposure=0.0, gamma=1.0, use_curve_mapping=False))
        stack.enter_context(overridden(settings.display_settings, display_device="sRGB"))
        yield


def save_image(image: bpy.types.Image, path: str, save: Callable[[str], None]) -> None:
    """Write `image` (then removed) to `path` by `save(temporary path)`, atomically; a failure
    is an InfillError naming `path`."""
    try:
        with atomic_target(path) as tmp:
            save(str(tmp))
    except (RuntimeError, OSError) as exc:
        raise InfillError(f"Cannot save to {path}: {exc}") from exc
    finally:
        bpy.data.images.remove(image)


def save_as_is(scene: bpy.types.Scene, image: bpy.types.Image, path: str, multiview: bool) -> None:
    """Save `image` (then removed) to `path` with Blender's writer and the scene's output
    settings (`writing_as_is`), atomically; a `multiview` image as the views format says."""
    def save(tmp: str) -> None:
        with writing_as_is(scene), overridden(scene.render, use_multiview=multiview):
            image.save_render(filepath=tmp, scene=scene)
    save_image(image, path, save)


def save_view(scene: bpy.types.Scene, path: str, srgb: np.ndarray) -> None:
    """Write one view to `path` in the scene's output file format, atomically."""
    save_as_is(scene, byte_image(".disocclusion_view", srgb), path, multiview=False)


def save_stereo(scene: bpy.types.Scene, path: str, eyes: dict[str, np.ndarray]) -> list[str]:
    """Write the two eyes as Blender writes a stereo render to `path` with the scene's output
    settings: individual files (`path` with each view's suffix), one Stereo 3D image
    (side-by-side, top-bottom, anaglyph, interlace) or, for OpenEXR, one multi-view file.
    Returns the files written."""
    if os.path.isdir(path):
        raise InfillError(f"Cannot save to {path}: it is a folder; give a file name (e.g. stereo.png)")
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    except OSError as exc:
        raise InfillError(f"Cannot save to {path}: {exc.strerror} (its folder cannot be made)") from exc
    views_format = scene.render.image_settings.views_format
    if views_format == "INDIVIDUAL":
        suffixes = view_suffixes(scene)
        written = [with_suffix(path, suffixes[eye]) for eye in eyes]
        for eye, target in zip(eyes, written):
            save_view(scene, target, eyes[eye])
        return written
    if views_format == "MULTIVIEW":
        return [save_multiview_exr(path, eyes)]
    with stereo_datablock(scene, eyes) as image:
        save_as_is(scene, image, path, multiview=True)
    return [path]


def save_multiview_exr(path: str, eyes: dict[str, np.ndarray]) -> str:
    """The two eyes as one multi-view OpenEXR as Blender writes it (a part per view, named
    and tagged "left" and "right", linear RGBA: the display-referred pixels through the inverse
    of the Standard view)."""
    import OpenEXR

    parts = []
    for eye, view in VIEWS.items():
        h, w = eyes[eye].shape[:2]
        rgba = np.ones((h, w, 4), np.float32)
        rgba[..., :3] = srgb_to_linear(eyes[eye] / 255.0)
        parts.append(OpenEXR.Part({"view": view, "compression": OpenEXR.ZIP_COMPRESSION}, {"RGBA": rgba}, view))
    try:
        with atomic_target(path) as tmp:
            with OpenEXR.File(parts) as exr:
                exr.write(str(tmp))
    except (RuntimeError, OSError) as exc:
        raise InfillError(f"Cannot save to {path}: {exc}") from exc
    return path


def write_depth_exr(path: str, depth: np.ndarray) -> None:
    """Planar depth (H, W) as a 32-bit float OpenEXR (in R, G and B, as data), atomically."""
    h, w = depth.shape
    rgba = np.ones((h, w, 4), np.float32)
    rgba[..., :3] = depth[::-1, :, None]
    image = bpy.data.images.new(".disocclusion_depth", w, h, alpha=False, float_buffer=True, is_data=True)
    image.pixels.foreach_set(rgba.ravel())
    image.file_format, image.use_half_precision = "OPEN_EXR", False

    def save(tmp: str) -> None:
        image.filepath_raw = tmp
        image.save()
    save_image(image, path, save)


def pair_writer(scene: bpy.types.Scene, path_of: Callable[[int], str], rendered: str | None, write_depth: bool,
                written: list[str] | None = None) -> Write:
    """The sequence driver's write (`stereo_geometry.sequence.Write`) for stereo frames: each
    frame's pair saved at `path_of(index)` with the scene's output settings (`save_stereo`,
    the rendered eye `rendered` included) and, with `write_depth`, each made eye's depth
    beside its image (NAME_R_depth.exr, scene units). `written` collects the files."""
    def write(index: int, frame: Frame, results: dict[str, FilledFrame]) -> None:
        path = path_of(index)
        files = save_stereo(scene, path, stereo_pair(frame, results, rendered))
        if write_depth:
            suffixes = view_suffixes(scene)
            for eye, result in results.items():
                target = os.path.splitext(with_suffix(path, suffixes[eye]))[0] + "_depth.exr"
                write_depth_exr(target, np.ascontiguousarray(result.depth) / metres_per_unit(scene))
                files.append(target)
        if written is not None:
            written.extend(files)
    return write
