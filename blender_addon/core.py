"""What the operators, the compositor node and the panels share: settings, inputs from
Blender, the network, and writing results."""
from __future__ import annotations

import os
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import bpy
import numpy as np
from mathutils import Vector

from . import processing
from .stereo_geometry import Intrinsics, to_uint8
from .stereo_geometry.blender_camera import BlenderCamera, blender_camera, blender_matrix_world
from .stereo_geometry.exr import read_multilayer_exr
from .stereo_geometry.infill import edge_strip, other_eye, overscan_side, without_overscan
from .stereo_geometry.warp import warm_up
from .stereo_geometry.onnx_runner import OnnxInfill
from .stereo_geometry.sequence import FilledFrame, Frame

BUNDLED_DEPTH_MODEL = Path(__file__).parent / "models" / "depth.onnx"
BUNDLED_MODELS = {"QUALITY": Path(__file__).parent / "models" / "quality.onnx",
                  "FAST": Path(__file__).parent / "models" / "fast.onnx"}
MODEL_CHOICES = [("QUALITY", "Quality", "The bundled quality model (the larger network)"),
                 ("FAST", "Fast", "The bundled fast model (about 2x Telea's time on a CPU)")]


class InfillError(Exception):
    """A problem the artist can fix; reported, never raised into Blender."""


@dataclass
class View:
    """A source view: linear RGB (H, W, 3), planar depth in metres (H, W), intrinsics."""

    rgb: np.ndarray
    depth: np.ndarray
    K: Intrinsics


@dataclass
class Result:
    source_srgb: np.ndarray  # (H, W, 3) uint8
    other_srgb: np.ndarray   # (H, W, 3) uint8
    hole_fraction: float
    reproject_seconds: float
    infer_seconds: float
    edge_strip: np.ndarray  # (H,) per row, the hole pixels from the frame's edge the other eye looks past


_networks: dict[str, OnnxInfill] = {}


def bundled_model(choice: str) -> Path | None:
    """The bundled model of a choice ("QUALITY" or "FAST"), else the other bundled one."""
    for name in [choice] + [n for n in BUNDLED_MODELS if n != choice]:
        if BUNDLED_MODELS[name].is_file():
            return BUNDLED_MODELS[name]
    return None


def model_path(settings) -> Path:
    """The model file of the settings: a chosen .onnx file wins over the bundled choice."""
    path = Path(bpy.path.abspath(settings.model_path)) if settings.model_path else bundled_model(settings.model)
    if path is None or not path.is_file():
        raise InfillError(f"Model not found: {path}" if settings.model_path else
                          "No bundled model in this build: choose a model file (.onnx from "
                          "'python -m training export')")
    return path


def depth_network() -> OnnxInfill:
    """The bundled depth-infill model (the other eye's depth)."""
    if not BUNDLED_DEPTH_MODEL.is_file():
        raise InfillError("No bundled depth model in this build: turn Write Depth off")
    net = network(BUNDLED_DEPTH_MODEL)
    if net.channels != 1:
        raise InfillError(f"{BUNDLED_DEPTH_MODEL} is not a depth-infill model")
    return net


def network(path: Path) -> OnnxInfill:
    key = str(path)
    if key not in _networks:
        try:
            _networks[key] = OnnxInfill(key)
        except Exception as exc:  # onnxruntime raises its own types
            raise InfillError(f"Cannot load model {path}: {exc}") from exc
    return _networks[key]


def scene_intrinsics(scene: bpy.types.Scene, width: int, height: int) -> Intrinsics:
    camera = scene.camera
    if camera is None or camera.type != "CAMERA":
        raise InfillError("The scene has no camera: the reprojection needs its lens")
    data = camera.data
    if data.type != "PERSP":
        raise InfillError(f"Camera '{camera.name}' is {data.type.lower()}: only perspective cameras")
    r = scene.render
    return BlenderCamera(data.lens, data.sensor_width, data.sensor_height, data.sensor_fit, data.shift_x,
                         data.shift_y, width, height, r.pixel_aspect_x, r.pixel_aspect_y).intrinsics()


def metres_per_unit(scene: bpy.types.Scene) -> float:
    """What one Blender unit is in metres (Scene > Units > Unit Scale): the Depth pass, the
    camera's interocular distance and the baseline setting are in Blender units."""
    return float(scene.unit_settings.scale_length) or 1.0


def baseline(settings, scene: bpy.types.Scene) -> float:
    """Metres; signed: positive makes the right eye."""
    value = settings.baseline
    if settings.use_camera_baseline and scene.camera is not None and scene.camera.type == "CAMERA":
        value = scene.camera.data.stereo.interocular_distance
    if value <= 0:
        raise InfillError("The baseline must be positive")
    value *= metres_per_unit(scene)
    return value if settings.eye == "RIGHT" else -value


def source_layer(settings, scene: bpy.types.Scene) -> str:
    """The view layer whose passes are used: the one named in the settings, else the active one."""
    if settings.view_layer:
        if settings.view_layer not in scene.view_layers:
            raise InfillError(f"No view layer '{settings.view_layer}' in scene '{scene.name}'")
        return settings.view_layer
    window = bpy.context.window
    active = window.view_layer if window is not None and window.scene == scene else None
    return (active or scene.view_layers[0]).name


def view_from_passes(path: str, scene: bpy.types.Scene, image_pass: str = "Combined",
                     layer: str | None = None) -> View:
    """A view from a multilayer EXR holding the colour pass and Depth (of `layer`, in a
    render of several view layers)."""
    try:
        passes = read_multilayer_exr(path, layer)
    except Exception as exc:
        raise InfillError(f"Cannot read {path}: {exc}") from exc
    where = f" of view layer '{layer}'" if layer else ""
    if "Depth" not in passes:
        raise InfillError(f"{os.path.basename(path)} has no Depth pass{where}: enable View Layer > "
                          "Passes > Data > Z and render again")
    if image_pass not in passes:
        raise InfillError(f"{os.path.basename(path)} has no {image_pass} pass{where}")
    rgb = passes[image_pass][..., :3]
    h, w = rgb.shape[:2]
    return View(rgb, passes["Depth"] * metres_per_unit(scene), scene_intrinsics(scene, w, h))


def view_from_last_render(scene: bpy.types.Scene, layer: str) -> View:
    """The last render's Combined and Depth passes of view layer `layer` (saved to a
    temporary multilayer EXR)."""
    if not scene.view_layers[layer].use_pass_z:
        raise InfillError(f"No Depth pass in view layer '{layer}': enable View Layer > Passes > "
                          "Data > Z and render again")
    result = bpy.data.images.get("Render Result")
    if result is None:
        raise InfillError("Nothing rendered yet: render a frame first (F12)")
    settings = scene.render.image_settings
    saved = (settings.media_type, settings.file_format, settings.color_depth)
    with tempfile.TemporaryDirectory(prefix="disocclusion_") as folder:  # removed whatever happens
        path = os.path.join(folder, "render.exr")
        try:
            settings.media_type = "MULTI_LAYER_IMAGE"
            settings.file_format = "OPEN_EXR_MULTILAYER"
            settings.color_depth = "32"
            result.save_render(filepath=path, scene=scene)
        except RuntimeError as exc:
            raise InfillError(f"Cannot read the last render ({exc}): render a frame first") from exc
        finally:
            settings.media_type, settings.file_format, settings.color_depth = saved
        if not os.path.isfile(path):
            raise InfillError("Nothing rendered yet: render a frame first (F12)")
        return view_from_passes(path, scene, layer=layer)


def render_size(scene: bpy.types.Scene) -> tuple[int, int]:
    """The size in pixels that the scene renders at (resolution times its percentage)."""
    r = scene.render
    return (int(r.resolution_x * r.resolution_percentage / 100),
            int(r.resolution_y * r.resolution_percentage / 100))


#: Columns added to the automatic overscan: the render's pixel filter and the reprojection's
#: interpolation reach a pixel or two beyond the surfaces the rays find.
AUTO_OVERSCAN_SLACK = 2


def needed_overscan(scene: bpy.types.Scene, signed_baseline: float, rows: int = 48) -> int:
    """How many columns beyond the frame's edge the eye shifted by `signed_baseline` (metres)
    sees at the current frame (an upper bound): scene rays through `rows` rows, at the edge it
    looks past and beyond it, find the nearest surfaces; the largest disparity f B / Z among
    them is the width to render, widened until the rays across that width find nothing
    nearer. 0 where they hit nothing. Surfaces the evaluated scene does not hold as geometry
    (shader displacement, volumes) are not seen."""
    width, height = render_size(scene)
    K = scene_intrinsics(scene, width, height)
    depsgraph = bpy.context.evaluated_depsgraph_get()
    to_world = scene.camera.matrix_world.normalized()
    to_camera, origin, rotation = to_world.inverted(), to_world.translation, to_world.to_3x3()
    step = 1 if overscan_side(signed_baseline) == "right" else -1
    edge = width - 1 if step == 1 else 0
    metres, margin, disparity = metres_per_unit(scene), 0, 0.0
    checked: set[int] = set()
    for _ in range(8):
        for k in range(0, margin + 1, max(1, margin // 16)):
            if k in checked:
                continue
            checked.add(k)
            u = edge + step * k
            for v in np.linspace(0, height - 1, rows):
                ray = rotation @ Vector(((u - K.cx) / K.fx, -(v - K.cy) / K.fy, -1.0))
                hit, location, *_ = scene.ray_cast(depsgraph, origin, ray.normalized())
                z = -(to_camera @ location).z * metres if hit else 0.0
                if z > 0:
                    disparity = max(disparity, K.fx * abs(signed_baseline) / z)
        needed = int(np.ceil(disparity - 0.01))  # the hits are float32
        if needed <= margin:
            break
        margin = needed
    return margin


def overscan_columns(settings, scene: bpy.types.Scene, signed_baseline: float) -> int:
    """The extra columns a render with overscan adds at the current frame: automatic
    (`needed_overscan` + `AUTO_OVERSCAN_SLACK`) or the settings' percentage of the width."""
    if settings.overscan_auto:
        return needed_overscan(scene, signed_baseline) + AUTO_OVERSCAN_SLACK
    return max(1, int(np.ceil(settings.overscan / 100 * render_size(scene)[0])))


def view_rendered_with_overscan(scene: bpy.types.Scene, layer: str, margin: int,
                                signed_baseline: float) -> View:
    """Render the current frame `margin` columns wider on the side the other eye looks
    beyond (`infill.overscan_side`), the camera's pinhole otherwise unchanged (same lens, focal
    length in pixels and principal point; the frame's pixels are those of a plain render). A
    render region is ignored (the whole frame is rendered); the scene's settings are restored
    whatever happens."""
    camera, r = scene.camera, scene.render
    width, height = render_size(scene)
    K = scene_intrinsics(scene, width, height)
    left = margin if overscan_side(signed_baseline) == "left" else 0
    K_wide = Intrinsics(K.fx, K.fy, K.cx + left, K.cy, width + margin, height)
    wide = blender_camera(K_wide, sensor_width=camera.data.lens * K_wide.width / K.fx)
    overrides = [(camera.data, {name: getattr(wide, name) for name in
                                ("lens", "sensor_width", "sensor_height", "sensor_fit", "shift_x", "shift_y")}),
                 (r, {name: getattr(wide, name) for name in
                      ("resolution_x", "resolution_y", "pixel_aspect_x", "pixel_aspect_y")}
                  | {"resolution_percentage": 100, "use_border": False})]
    saved = [(owner, {name: getattr(owner, name) for name in values}) for owner, values in overrides]
    try:
        for owner, values in overrides:
            for name, value in values.items():
                setattr(owner, name, value)
        if bpy.ops.render.render(layer=layer) != {"FINISHED"}:
            raise InfillError("The render with overscan was cancelled")
        return view_from_last_render(scene, layer)
    finally:
        for owner, values in saved:
            for name, value in values.items():
                setattr(owner, name, value)


def image_pixels(image: bpy.types.Image) -> np.ndarray:
    """(H, W, 4) float pixels of an image datablock, row 0 at the top."""
    w, h = image.size
    if w == 0 or h == 0:
        raise InfillError(f"Image '{image.name}' has no pixels (is its file missing?)")
    pixels = np.empty(w * h * 4, dtype=np.float32)
    image.pixels.foreach_get(pixels)
    return pixels.reshape(h, w, 4)[::-1]


def view_from_images(image: bpy.types.Image | None, depth: bpy.types.Image | None,
                     scene: bpy.types.Scene) -> View:
    if image is None or depth is None:
        raise InfillError("Choose both an image and a depth image")
    rgba, depth_px = image_pixels(image), image_pixels(depth)
    if rgba.shape[:2] != depth_px.shape[:2]:
        raise InfillError(f"Image is {rgba.shape[1]}x{rgba.shape[0]} but depth is "
                          f"{depth_px.shape[1]}x{depth_px.shape[0]}: they must match")
    rgb = rgba[..., :3]
    if not image.is_float:  # byte images are stored display-referred: back to linear
        rgb = processing.srgb_to_linear(rgb)
    h, w = rgb.shape[:2]
    return View(rgb, depth_px[..., 0] * metres_per_unit(scene), scene_intrinsics(scene, w, h))


#: The thread that compiles (or loads from numba's cache) the geometry kernels once the
#: extension is enabled: about 25 s the first time after installing, which a press made
#: before it ends waits for.
KERNELS_THREAD = "disocclusion-infill kernels"


def start_kernels_warm_up() -> None:
    """Compile the geometry kernels on a thread (`stereo_geometry.warp.warm_up`)."""
    threading.Thread(target=warm_up, name=KERNELS_THREAD, daemon=True).start()


def kernels_warming_up() -> bool:
    """Whether the kernels' thread is still compiling."""
    return any(thread.name == KERNELS_THREAD and thread.is_alive() for thread in threading.enumerate())


def pipeline_view(view: View) -> tuple[np.ndarray, np.ndarray]:
    """A view's image as the network was trained on it (sRGB uint8) and its cleaned depth."""
    return to_uint8(processing.linear_to_srgb(view.rgb)), processing.clean_depth(view.depth)


def infill(view: View, signed_baseline: float, net: OnnxInfill, overscan: int = 0) -> Result:
    """Reproject to the other eye with the geometry core and fill its holes; with `overscan`,
    the view holds that many extra columns beyond the frame (`view_rendered_with_overscan`)
    and both eyes are the frame without them."""
    source, depth = pipeline_view(view)
    timings = {}

    def timed_network(x: np.ndarray) -> np.ndarray:
        start = time.perf_counter()
        out = net(x)
        timings["infer"] = time.perf_counter() - start
        return out

    start = time.perf_counter()
    eye = other_eye(source, depth, view.K, signed_baseline, timed_network, overscan=overscan)
    total = time.perf_counter() - start
    return Result(without_overscan(source, overscan, signed_baseline), eye.image,
                  float(eye.hole_mask.mean()), total - timings["infer"], timings["infer"],
                  edge_strip(eye.hole_mask, signed_baseline))


def camera_pose(scene: bpy.types.Scene) -> np.ndarray:
    """The scene camera's camera-to-world pose (OpenCV axes, metres) at the current frame."""
    if scene.camera is None:
        raise InfillError("The scene has no camera: the reprojection needs its poses")
    pose = blender_matrix_world(np.array(scene.camera.matrix_world.normalized()))
    pose[:3, 3] *= metres_per_unit(scene)
    return pose


def camera_poses(scene: bpy.types.Scene, frames: list[int]) -> dict[int, np.ndarray]:
    """The scene camera's pose (`camera_pose`) at each frame."""
    camera_pose(scene)  # no camera: say so before moving through the frames
    current, poses = scene.frame_current, {}
    try:
        for frame in frames:
            scene.frame_set(frame)
            poses[frame] = camera_pose(scene)
    finally:
        scene.frame_set(current)
    return poses


def sequence_frame(passes: str, scene: bpy.types.Scene, pose: np.ndarray, layer: str | None = None,
                   image_pass: str = "Combined") -> Frame:
    """A rendered frame (multilayer EXR of passes) as the sequence fill takes it: sRGB uint8,
    cleaned depth in metres, intrinsics and camera pose."""
    view = view_from_passes(passes, scene, image_pass=image_pass, layer=layer)
    return Frame(*pipeline_view(view), view.K, pose)


def write_sequence_frame(folder: str, frame: int, own: Frame, result: FilledFrame, eye: str, output: str,
                         scene: bpy.types.Scene, write_depth: bool, overscan: int = 0) -> str:
    """Write a frame's other eye as FOLDER/EYE_NNNN.png (`processing.layout`) and, with
    `write_depth`, its depth as EYE_NNNN_depth.exr (scene units); returns the PNG's path. With
    `overscan`, the frame rendered that many columns wider (`view_rendered_with_overscan`) is
    written without them."""
    def frame_of(array: np.ndarray) -> np.ndarray:
        return without_overscan(array, overscan, 1.0 if eye == "RIGHT" else -1.0)

    name = os.path.join(folder, f"{eye.lower()}_{frame:04d}")
    write_png(name + ".png", processing.layout(frame_of(own.image), frame_of(result.image), eye, output))
    if write_depth:
        write_depth_exr(name + "_depth.exr", np.ascontiguousarray(frame_of(result.depth)) / metres_per_unit(scene))
    return name + ".png"


def store_image(name: str, srgb: np.ndarray) -> bpy.types.Image:
    """Create or update a float image datablock holding the uint8 sRGB image `srgb`
    (converted to linear)."""
    h, w = srgb.shape[:2]
    image = bpy.data.images.get(name)
    if image is None or tuple(image.size) != (w, h):
        if image is not None:
            bpy.data.images.remove(image)
        image = bpy.data.images.new(name, w, h, alpha=True, float_buffer=True)
    image.pixels.foreach_set(processing.pixels_bottom_up(srgb, linear=True))
    image.update()
    return image


def write_png(path: str, srgb: np.ndarray) -> None:
    """Write a uint8 sRGB image as 8-bit PNG, atomically (temporary file, then rename); InfillError
    naming the path if it cannot be written (a folder, a folder under a file, no space), and
    nothing partial left."""
    _save_pixels(path, processing.pixels_bottom_up(srgb, linear=False), srgb.shape[1], srgb.shape[0], "PNG")


def write_depth_exr(path: str, depth: np.ndarray) -> None:
    """Write planar depth (H, W) as a 32-bit float OpenEXR (in R, G and B, as data, not
    colour), atomically, with `write_png`'s errors."""
    h, w = depth.shape
    rgba = np.ones((h, w, 4), dtype=np.float32)
    rgba[..., :3] = depth[::-1, :, None]
    _save_pixels(path, rgba.reshape(-1), w, h, "OPEN_EXR")


def _save_pixels(path: str, pixels: np.ndarray, width: int, height: int, file_format: str) -> None:
    """An image datablock's flat RGBA buffer (rows bottom up) saved as `file_format`
    ("PNG": 8-bit; "OPEN_EXR": 32-bit float data) through a temporary file."""
    if os.path.isdir(path):
        raise InfillError(f"Cannot save to {path}: it is a folder; give a file name (e.g. right.png)")
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    except OSError as exc:
        raise InfillError(f"Cannot save to {path}: {exc.strerror} (its folder cannot be made)") from exc
    as_data = file_format == "OPEN_EXR"
    image = bpy.data.images.new(".disocclusion_write", width, height, alpha=False, float_buffer=as_data,
                                is_data=as_data)
    tmp = path + (".partial.exr" if as_data else ".partial.png")
    try:
        image.pixels.foreach_set(pixels)
        image.filepath_raw = tmp
        image.file_format = file_format
        if as_data:
            image.use_half_precision = False
        image.save()
        os.replace(tmp, path)
    except (RuntimeError, OSError) as exc:
        raise InfillError(f"Cannot save to {path}: {exc}") from exc
    finally:
        bpy.data.images.remove(image)
        if os.path.exists(tmp):
            os.remove(tmp)
