"""Runs inside a fresh Python process (Blender's state is global): installs the built
extension into an isolated user folder and plays one scenario, printing `RESULT {json}`.
Expectations are computed with the repository's own modules, not the extension's copies, and
with Blender's own renders. Used by tests/test_addon.py."""
from __future__ import annotations

import json
import os
import sys
import traceback

import numpy as np

WIDTH, HEIGHT, LENS_MM, SENSOR_MM = 96, 64, 30.0, 36.0
BASELINE = 0.063
RESULT_NAME = "Stereo (Disocclusion Infill)"
BUNDLED = "bundled:"  # model argument "bundled:PATH": leave the model setting empty (the
                      # extension's bundled model), compute expectations with PATH
EXTENSION = "bl_ext.user_default.disocclusion_infill"


def build_scene(bpy, frames: int = 1, unit_scale: float = 1.0, camera_step: float = 0.0):
    """A camera at the origin looking down -z at a checker wall 4 m away and a checker box face
    1.5 m away (emission, so renders are noise-free; one sample through each pixel centre, so
    renders of the same pixel agree exactly), Depth pass on. The camera's stereo settings: a
    parallel rig, the left eye at the camera, BASELINE apart. With `unit_scale` (metres per
    Blender unit) the same scene is modelled in those units. Over the frames the box slides
    sideways, or, with `camera_step` (metres per frame), the camera moves right past the
    still box."""
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.unit_settings.scale_length = unit_scale
    u = 1.0 / unit_scale  # Blender units per metre
    scene.render.engine = "CYCLES"
    scene.cycles.samples = 1
    scene.cycles.use_denoising = False
    scene.cycles.pixel_filter_type, scene.cycles.filter_width = "BOX", 0.01
    scene.render.resolution_x, scene.render.resolution_y = WIDTH, HEIGHT
    scene.render.resolution_percentage = 100
    scene.render.dither_intensity = 0.0
    scene.frame_start, scene.frame_end = 1, frames
    scene.view_layers[0].use_pass_z = True
    scene.view_settings.view_transform = "Standard"
    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    camera.data.lens, camera.data.sensor_width = LENS_MM, SENSOR_MM
    camera.data.clip_start, camera.data.clip_end = 0.1 * u, 100.0 * u
    set_stereo(camera, "PARALLEL", 1.95 * u, BASELINE * u, "LEFT")
    scene.collection.objects.link(camera)
    scene.camera = camera

    def quad(name, z, half, mat):
        me = bpy.data.meshes.new(name)
        me.from_pydata([(-half, -half, z), (half, -half, z), (half, half, z), (-half, half, z)], [],
                       [(0, 1, 2, 3)])
        me.uv_layers.new()
        me.materials.append(mat)
        obj = bpy.data.objects.new(name, me)
        scene.collection.objects.link(obj)
        return obj

    quad("wall", -4.0 * u, 10.0 * u, checker(bpy, "wall", 40.0))
    box = quad("box", -1.5 * u, 0.25 * u, checker(bpy, "box", 8.0))
    for frame in range(1, frames + 1):
        if camera_step:
            camera.location.x = camera_step * u * (frame - 1)
            camera.keyframe_insert("location", frame=frame)
        else:  # the box slides sideways over the frames
            box.location.x = 0.05 * u * (frame - 1)
            box.keyframe_insert("location", frame=frame)
    return scene


def checker(bpy, name: str, scale: float):
    """An emission material with a checker texture of `scale`."""
    return textured(bpy, name, "ShaderNodeTexChecker", scale, coordinates=None)


def textured(bpy, name: str, kind: str, scale: float, coordinates: str | None = "Object"):
    """An emission material with one of Blender's procedural textures (in the texture
    coordinates named; None: the node's default)."""
    mat = bpy.data.materials.new(name)
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    nodes.clear()
    tex = nodes.new(kind)
    tex.inputs["Scale"].default_value = scale
    if coordinates:
        links.new(nodes.new("ShaderNodeTexCoord").outputs[coordinates], tex.inputs["Vector"])
    emit, out = nodes.new("ShaderNodeEmission"), nodes.new("ShaderNodeOutputMaterial")
    links.new(tex.outputs["Color"], emit.inputs["Color"])
    links.new(emit.outputs["Emission"], out.inputs["Surface"])
    return mat


def set_stereo(camera, mode: str, convergence: float, interocular: float, pivot: str) -> None:
    stereo = camera.data.stereo
    stereo.convergence_mode, stereo.convergence_distance = mode, convergence
    stereo.interocular_distance, stereo.pivot = interocular, pivot


def set_exr_output(scene, path):
    settings = scene.render.image_settings
    settings.media_type = "MULTI_LAYER_IMAGE"
    settings.file_format = "OPEN_EXR_MULTILAYER"
    settings.color_depth = "32"
    scene.render.filepath = path


def set_png_output(scene, path, views_format="INDIVIDUAL"):
    settings = scene.render.image_settings
    settings.media_type, settings.file_format, settings.color_mode = "IMAGE", "PNG", "RGB"
    settings.views_format = views_format
    scene.render.filepath = path


def render_passes(bpy, scene, path, camera_x=0.0):
    """Render to a multilayer EXR and read Combined RGB and Depth back."""
    from stereo_geometry.exr import read_multilayer_exr

    scene.camera.location.x = camera_x
    set_exr_output(scene, path)
    bpy.ops.render.render(write_still=True)
    scene.camera.location.x = 0.0
    passes = read_multilayer_exr(path)
    return passes["Combined"][..., :3], passes["Depth"]


def read_multilayer_exr_depth(path) -> np.ndarray:
    from stereo_geometry.exr import read_multilayer_exr

    return read_multilayer_exr(path)["Depth"]


def render_png(bpy, scene, path) -> np.ndarray:
    """The scene camera's view as Blender saves it (8-bit PNG, the scene's view transform)."""
    set_png_output(scene, path)
    bpy.ops.render.render(write_still=True)
    return image_file(path)


def blender_stereo(bpy, scene, path) -> dict[str, np.ndarray]:
    """Blender's own stereo render of the scene camera (Output > Stereoscopy, Stereo 3D,
    individual PNGs): {"LEFT": ..., "RIGHT": ...}."""
    scene.render.use_multiview, scene.render.views_format = True, "STEREO_3D"
    set_png_output(scene, path)
    bpy.ops.render.render(write_still=True)
    scene.render.use_multiview = False
    stem = os.path.splitext(path)[0]
    return {"LEFT": image_file(stem + "_L.png"), "RIGHT": image_file(stem + "_R.png")}


def blender_right_eyes(bpy, scene, work, count: int) -> dict[int, np.ndarray]:
    """Blender's own right eye of frames 1..count."""
    truths = {}
    for frame in range(1, count + 1):
        scene.frame_set(frame)
        truths[frame] = blender_stereo(bpy, scene, os.path.join(work, f"truth_{frame}.png"))["RIGHT"]
    return truths


def srgb(linear):
    x = np.clip(linear, 0, 1)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)


def image_file(path) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB"))


def closed_form_K(width=None, height=None):
    """The scene camera's intrinsics, from its lens and sensor."""
    from stereo_geometry import Intrinsics

    width, height = width or WIDTH, height or HEIGHT
    f = LENS_MM / SENSOR_MM * width
    return Intrinsics(f, f, (width - 1) / 2, (height - 1) / 2, width, height)


def camera_eyes(scene, width=None, height=None):
    """The scene camera's eyes by the repository's Blender conventions (stereo_eye), and its
    stereo settings. The camera's own intrinsics: `camera_K`."""
    from stereo_geometry.blender_camera import BlenderCamera, BlenderStereo, stereo_eye

    width, height = width or WIDTH, height or HEIGHT
    data = scene.camera.data
    camera = BlenderCamera(data.lens, data.sensor_width, data.sensor_height, data.sensor_fit, data.shift_x,
                           data.shift_y, width, height)
    s, m = data.stereo, scene.unit_settings.scale_length
    stereo = BlenderStereo(s.convergence_mode, s.convergence_distance * m, s.interocular_distance * m, s.pivot)
    return {eye: stereo_eye(camera, stereo, eye) for eye in ("LEFT", "RIGHT")}, stereo


def camera_K(scene, width=None, height=None):
    """The scene camera's intrinsics from its settings as Blender holds them (float32: the
    checker scenes' edges lie on pixel centres, where the closed-form value's last digits
    decide a rasterisation tie)."""
    from stereo_geometry.blender_camera import BlenderCamera

    data = scene.camera.data
    return BlenderCamera(data.lens, data.sensor_width, data.sensor_height, data.sensor_fit, data.shift_x,
                         data.shift_y, width or WIDTH, height or HEIGHT).intrinsics()


def expected_eye(source, depth, K, eye, model):
    """An eye made by the repository's pipeline from a render (display-referred source)."""
    from stereo_geometry.colour import finite_depth
    from stereo_geometry.sequence import other_eye
    from training import load_network

    return other_eye(source, finite_depth(depth), K, eye, load_network(model.removeprefix(BUNDLED)))


def saved_pair(work, name="result"):
    stem = os.path.join(work, name)
    return {"LEFT": image_file(stem + "_L.png"), "RIGHT": image_file(stem + "_R.png")}


def run_operator(op, **kwargs) -> str:
    """An operator's outcome; its ERROR report comes back as text (bpy raises it for scripts)."""
    try:
        return str(op(**kwargs))
    except RuntimeError as exc:
        return f"REPORT {exc}"


def configure(scene, model, work=None, source="LAST_RENDER"):
    """The extension's settings: the model, the source, and (with `work`) Save To
    work/result.png as individual PNGs."""
    settings = scene.disocclusion_infill
    settings.model_path = "" if model.startswith(BUNDLED) else model
    settings.source = source
    if work is not None:
        set_png_output(scene, os.path.join(work, "unused"))
        settings.save_path = os.path.join(work, "result.png")
    return settings


def max_diff(a, b) -> int:
    return int(np.abs(a.astype(int) - b.astype(int)).max())


def psnr_in(got, truth, mask) -> float:
    from training.metrics import psnr

    return psnr(got / 255.0, truth / 255.0, mask)


# Scenarios -------------------------------------------------------------------------------


def install_uninstall(bpy, model, work, result):
    module = EXTENSION
    result["enabled"] = module in bpy.context.preferences.addons
    repo_dir = bpy.utils.user_resource("EXTENSIONS", path="user_default")
    bpy.ops.extensions.package_uninstall(repo_directory=repo_dir, pkg_id="disocclusion_infill")
    result["after_uninstall"] = {
        "enabled": module in bpy.context.preferences.addons,
        "operator": hasattr(bpy.types, "IMAGE_OT_infill_disocclusion"),
        "panel": hasattr(bpy.types, "IMAGE_PT_disocclusion_infill"),
        "files": os.path.isdir(os.path.join(repo_dir, "disocclusion_infill")),
    }


def render_still(bpy, model, work, result):
    """The last render made into a stereo pair (parallel rig, left eye at the camera): the left
    view is the render as Blender saves it, the right the repository's pipeline on it."""
    import cv2

    from training.baselines import opencv_fill

    scene = build_scene(bpy)
    source = render_png(bpy, scene, os.path.join(work, "render.png"))
    _, depth = render_passes(bpy, scene, os.path.join(work, "left.exr"))
    truth = blender_stereo(bpy, scene, os.path.join(work, "truth.png"))["RIGHT"]
    configure(scene, model, work)
    bpy.ops.render.render()  # the last render, which the operator reads
    result["report"] = run_operator(bpy.ops.image.infill_disocclusion)
    image = bpy.data.images[RESULT_NAME]
    result["stereo_image"] = [bool(image.is_stereo_3d), bool(image.packed_file or image.packed_files)]
    got = saved_pair(work)
    eyes, _ = camera_eyes(scene)
    want = expected_eye(source, depth, closed_form_K(), eyes["RIGHT"], model)
    hole = want.hole_mask.astype(bool)
    result["hole_fraction"] = float(hole.mean())
    result["max_diff_left"] = max_diff(got["LEFT"], source)
    result["max_diff_to_expected"] = max_diff(got["RIGHT"], want.image)
    result["max_diff_outside_hole"] = max_diff(got["RIGHT"][~hole], want.warped[~hole])
    telea = opencv_fill(cv2.INPAINT_TELEA)({"image_generated_left": want.warped, "hole_mask": want.hole_mask})
    result["psnr_network"] = psnr_in(got["RIGHT"], truth, hole)
    result["psnr_telea"] = psnr_in(np.round(telea * 255), truth, hole)


#: (convergence mode, convergence distance m, pivot) of the stereo set-ups checked against
#: Blender's own stereo render.
STEREO_SETUPS = [("OFFAXIS", 1.95, "LEFT"), ("PARALLEL", 1.95, "RIGHT"), ("TOE", 3.0, "LEFT"),
                 ("OFFAXIS", 2.5, "CENTER")]


def textured_scene(bpy):
    """Cards at 0.8-3.5 m before a wall 6 m away, textured with Blender's procedural textures
    (noise on the wall; brick, checker, wave and magic on the cards; emission), the camera
    turned a little and shifted, rendered as Blender renders by default (16 samples a pixel
    through a 1.5 px Blackman-Harris filter: antialiased; a pixel-exact render of hard texture
    edges aliases, and no view's point samples are another view's)."""
    import math

    scene = build_scene(bpy)
    scene.cycles.samples, scene.cycles.pixel_filter_type, scene.cycles.filter_width = 16, "BLACKMAN_HARRIS", 1.5
    for obj in [o for o in scene.objects if o.type == "MESH"]:
        bpy.data.objects.remove(obj)
    camera = scene.camera
    camera.rotation_euler = (0.03, -0.05, 0.02)
    camera.data.shift_x, camera.data.shift_y = 0.02, -0.01

    def card(name, x, y, z, half, mat, turn):
        me = bpy.data.meshes.new(name)
        me.from_pydata([(-half, -half, 0), (half, -half, 0), (half, half, 0), (-half, half, 0)], [], [(0, 1, 2, 3)])
        me.materials.append(mat)
        obj = bpy.data.objects.new(name, me)
        obj.parent, obj.location, obj.rotation_euler = camera, (x, y, z), (0.0, 0.0, math.radians(turn))
        scene.collection.objects.link(obj)

    card("wall", 0.0, 0.0, -6.0, 8.0, textured(bpy, "wall", "ShaderNodeTexNoise", 1.5), 0)
    for i, ((x, y, z, half), kind) in enumerate(zip(
            ((-0.4, 0.1, -0.8, 0.12), (0.6, -0.2, -1.6, 0.3), (-0.9, -0.5, -2.5, 0.4), (1.2, 0.6, -3.5, 0.5)),
            ("ShaderNodeTexBrick", "ShaderNodeTexChecker", "ShaderNodeTexWave", "ShaderNodeTexMagic"))):
        card(f"card{i}", x, y, z, half, textured(bpy, f"card{i}", kind, 4.0 + 2 * i), 10 * i)
    return scene


def render_wide(bpy, scene, work, margins):
    """The scene camera's view rendered `margins` (left, right) columns wider with the same
    pinhole, set up in closed form by the repository's `blender_camera` (independently of the
    extension): display-referred image, depth, and the wide intrinsics."""
    from stereo_geometry.blender_camera import blender_camera

    data, r = scene.camera.data, scene.render
    K = camera_K(scene)
    K_wide = K.widened(*margins)
    wide = blender_camera(K_wide, sensor_width=data.lens * K_wide.width / K.fx)
    saved = {name: getattr(data, name) for name in ("sensor_width", "sensor_height", "sensor_fit", "shift_x", "shift_y")}
    for name in saved:
        setattr(data, name, getattr(wide, name))
    r.resolution_x = K_wide.width
    try:
        image = render_png(bpy, scene, os.path.join(work, "wide.png"))
        _, depth = render_passes(bpy, scene, os.path.join(work, "wide.exr"))
    finally:
        for name, value in saved.items():
            setattr(data, name, value)
        r.resolution_x = WIDTH
    return image, depth, K_wide


def stereo_setups(bpy, model, work, result):
    """Each stereo set-up made by the button (Source: Render Frame, automatic overscan) against
    Blender's own stereo render of the same camera: the rendered eye, the made eye (the
    repository's pipeline on a render as much wider, with the camera's eyes by `stereo_eye`)
    outside its holes and inside them, against OpenCV Telea filling the same holes of the same
    output."""
    import importlib

    import cv2

    from training.baselines import opencv_fill

    frames = importlib.import_module(f"{EXTENSION}.frames")
    scene = textured_scene(bpy)
    configure(scene, model, work, source="RENDER")
    for mode, convergence, pivot in STEREO_SETUPS:
        set_stereo(scene.camera, mode, convergence, 0.065, pivot)
        truth = blender_stereo(bpy, scene, os.path.join(work, "truth.png"))
        margins = frames.overscan_margins(scene, True, 0.0)
        source, depth, K_wide = render_wide(bpy, scene, work, margins)
        set_png_output(scene, os.path.join(work, "unused"))
        scores = {"report": run_operator(bpy.ops.image.infill_disocclusion), "margins": list(margins)}
        got = saved_pair(work)
        eyes, stereo = camera_eyes(scene)
        if stereo.rendered_eye:
            rendered = stereo.rendered_eye
            scores["rendered_is_the_render"] = max_diff(got[rendered], source[:, margins[0]:margins[0] + WIDTH])
            scores["rendered_psnr"] = psnr_in(got[rendered], truth[rendered], np.ones((HEIGHT, WIDTH), bool))
        for eye in stereo.made_eyes:
            want = expected_eye(source, depth, K_wide, eyes[eye], model)
            hole = want.hole_mask.astype(bool)
            telea = opencv_fill(cv2.INPAINT_TELEA)({"image_generated_left": want.warped, "hole_mask": want.hole_mask})
            scores[f"{eye}_max_diff_to_expected"] = max_diff(got[eye], want.image)
            scores[f"{eye}_hole_fraction"] = float(hole.mean())
            scores[f"{eye}_psnr_outside"] = psnr_in(got[eye], truth[eye], ~hole)
            scores[f"{eye}_psnr_holes"] = psnr_in(got[eye], truth[eye], hole)
            scores[f"{eye}_psnr_holes_telea"] = psnr_in(np.round(telea * 255), truth[eye], hole)
        result[f"{mode}_{convergence}_{pivot}"] = scores


def saved_formats(bpy, model, work, result):
    """Save To through the scene's Stereo 3D output: individual files, side-by-side (both
    halves, also squeezed), top-bottom, anaglyph, and one multi-view EXR, read back."""
    import OpenEXR

    from stereo_geometry.colour import srgb_to_linear

    scene = build_scene(bpy)
    settings = configure(scene, model, work)
    bpy.ops.render.render()
    result["individual"] = run_operator(bpy.ops.image.infill_disocclusion)
    pair = saved_pair(work)
    s3d = scene.render.image_settings.stereo_3d_format
    scene.render.image_settings.views_format = "STEREO_3D"
    for mode, squeezed in (("SIDEBYSIDE", False), ("SIDEBYSIDE", True), ("TOPBOTTOM", False), ("ANAGLYPH", False)):
        s3d.display_mode, s3d.use_squeezed_frame = mode, squeezed
        name = f"{mode}{'_squeezed' if squeezed else ''}"
        settings.save_path = os.path.join(work, f"{name}.png")
        result[f"report_{name}"] = run_operator(bpy.ops.image.infill_disocclusion)
        result[f"shape_{name}"] = list(image_file(settings.save_path).shape)
    sbs, tb = image_file(os.path.join(work, "SIDEBYSIDE.png")), image_file(os.path.join(work, "TOPBOTTOM.png"))
    result["sbs_halves"] = [max_diff(sbs[:, :WIDTH], pair["LEFT"]), max_diff(sbs[:, WIDTH:], pair["RIGHT"])]
    result["tb_halves"] = [max_diff(tb[:HEIGHT], pair["LEFT"]), max_diff(tb[HEIGHT:], pair["RIGHT"])]
    anaglyph = image_file(os.path.join(work, "ANAGLYPH.png"))
    result["anaglyph_red_from_left"] = max_diff(anaglyph[..., 0], pair["LEFT"][..., 0])
    result["anaglyph_cyan_from_right"] = max_diff(anaglyph[..., 1:], pair["RIGHT"][..., 1:])
    settings.save_path = os.path.join(work, "multiview.exr")
    scene.render.image_settings.file_format = "OPEN_EXR"
    scene.render.image_settings.views_format = "MULTIVIEW"
    result["report_exr"] = run_operator(bpy.ops.image.infill_disocclusion)
    with OpenEXR.File(settings.save_path) as exr:
        views = {part.header.get("view"): part.channels["RGBA"].pixels[..., :3] for part in exr.parts}
    result["exr_views"] = sorted(views)
    result["exr_max_diff"] = max(float(np.abs(views[v.lower()] - srgb_to_linear(pair[v] / 255.0)).max())
                                 for v in ("LEFT", "RIGHT"))


def render_overscan(bpy, model, work, result, eye="RIGHT"):
    """Source: Render Frame, Overscan 10 %: the frame rendered wider on the side the made eye
    (parallel rig) looks past, reprojected, both eyes cut to the frame; the scene's settings
    as they were."""
    from stereo_geometry.camera import Eye

    baseline, margin = 0.3, int(np.ceil(0.1 * WIDTH))  # the wall's disparity: 12 px at 192 px wide
    scene = build_scene(bpy)
    set_stereo(scene.camera, "PARALLEL", 1.95, baseline, "LEFT" if eye == "RIGHT" else "RIGHT")
    rendered = "LEFT" if eye == "RIGHT" else "RIGHT"
    sign = 1 if eye == "RIGHT" else -1
    truth = blender_stereo(bpy, scene, os.path.join(work, "truth.png"))
    settings = configure(scene, model, work)
    bpy.ops.render.render()
    result["report_last_render"] = run_operator(bpy.ops.image.infill_disocclusion)
    plain = saved_pair(work)[eye]
    settings.source, settings.overscan_auto, settings.overscan = "RENDER", False, 10.0
    camera, r = scene.camera.data, scene.render
    # the same frame size at half of twice the resolution, a render region set (and ignored)
    r.resolution_x, r.resolution_y, r.resolution_percentage, r.use_border = 2 * WIDTH, 2 * HEIGHT, 50, True
    r.border_min_x, r.border_max_x = 0.25, 0.5
    result["report"] = run_operator(bpy.ops.image.infill_disocclusion)
    got = saved_pair(work)
    result["restored"] = [r.resolution_x, r.resolution_y, r.resolution_percentage, r.use_border,
                          camera.sensor_width, camera.shift_x, camera.sensor_fit, r.use_multiview]
    r.resolution_y, r.resolution_percentage, r.use_border = HEIGHT, 100, False
    # The expectation in closed form: margin more columns, the sensor as much wider, the
    # principal point kept by a shift of half the margin.
    camera.sensor_width = SENSOR_MM * (WIDTH + margin) / WIDTH
    camera.shift_x = sign * margin / 2 / (WIDTH + margin)
    r.resolution_x = WIDTH + margin
    wide = render_png(bpy, scene, os.path.join(work, "wide.png"))
    _, depth = render_passes(bpy, scene, os.path.join(work, "wide.exr"))
    K = closed_form_K()
    K_wide = K.widened(margin if eye == "LEFT" else 0, margin if eye == "RIGHT" else 0)
    want = expected_eye(wide, depth, K_wide, Eye.shifted(K, sign * scene.camera.data.stereo.interocular_distance), model)
    result["shape"] = list(got[eye].shape)
    result["max_diff_to_expected"] = max_diff(got[eye], want.image)
    result["max_diff_rendered"] = max_diff(got[rendered], wide[:, margin:] if eye == "LEFT" else wide[:, :WIDTH])
    result["edge_holes"] = int(want.hole_mask[:, -1 if eye == "RIGHT" else 0].sum())
    strip = beyond_the_edge(eye)
    result["psnr_strip_plain"] = psnr_in(plain, truth[eye], strip)
    result["psnr_strip_overscan"] = psnr_in(got[eye], truth[eye], strip)


def render_overscan_left(bpy, model, work, result):
    render_overscan(bpy, model, work, result, eye="LEFT")


def beyond_the_edge(eye="RIGHT") -> np.ndarray:
    """The last 10 columns of the frame on the side the made eye looks past (rows 2 in from
    the top and bottom): inside the 12 px strip a plain render leaves there at baseline 0.3."""
    strip = np.zeros((HEIGHT, WIDTH), bool)
    strip[2:-2, -10:] = True
    return strip if eye == "RIGHT" else strip[:, ::-1]


def add_card(bpy, scene):
    """A card 1 m away just beyond the frame's right edge (x 0.62-0.8 m; the edge is at 0.597 m
    there), which a right eye 0.3 m away sees inside the frame."""
    me = bpy.data.meshes.new("card")
    me.from_pydata([(0.62, -0.2, -1.0), (0.8, -0.2, -1.0), (0.8, 0.2, -1.0), (0.62, 0.2, -1.0)], [], [(0, 1, 2, 3)])
    me.uv_layers.new()
    me.materials.append(bpy.data.materials["box"])
    scene.collection.objects.link(bpy.data.objects.new("card", me))


def auto_overscan(bpy, model, work, result):
    """Automatic overscan with a card just beyond the frame's edge: rays find it, the render
    with overscan shows it where the last render cannot."""
    import importlib

    frames = importlib.import_module(f"{EXTENSION}.frames")
    scene = build_scene(bpy)
    add_card(bpy, scene)
    for pivot in ("LEFT", "RIGHT"):  # the right eye made, then the left
        set_stereo(scene.camera, "PARALLEL", 1.95, 0.3, pivot)
        result[f"margins_{pivot}"] = list(frames.overscan_margins(scene, True, 0.0))
    set_stereo(scene.camera, "PARALLEL", 1.95, 0.3, "LEFT")
    truth = blender_stereo(bpy, scene, os.path.join(work, "truth.png"))["RIGHT"]
    card = np.zeros((HEIGHT, WIDTH), bool)
    card[36:92, 150:172] = True  # where the right eye sees the card (columns 146.7-175.5, rows 31.5-95.5)
    settings = configure(scene, model, work)
    for source in ("LAST_RENDER", "RENDER"):
        settings.source = source
        bpy.ops.render.render()
        result[f"report_{source}"] = run_operator(bpy.ops.image.infill_disocclusion)
        result[f"psnr_card_{source}"] = psnr_in(saved_pair(work)["RIGHT"], truth, card)


def unit_scales(bpy, model, work, result):
    """The same scene modelled in metres, centimetres and millimetres (Unit Scale 1, 0.01,
    0.001; the camera's interocular distance in scene units): the same stereo pair."""
    pairs = {}
    for scale in (1.0, 0.01, 0.001):
        scene = build_scene(bpy, unit_scale=scale)
        configure(scene, model, work)
        bpy.ops.render.render()
        result[f"report_{scale}"] = run_operator(bpy.ops.image.infill_disocclusion)
        pairs[scale] = saved_pair(work)["RIGHT"]
    result["max_diff_cm"] = max_diff(pairs[0.01], pairs[1.0])
    result["max_diff_mm"] = max_diff(pairs[0.001], pairs[1.0])


def save_paths(bpy, model, work, result):
    """Save To: a folder, a path under a file, a new folder; no temporary file or folder left."""
    import glob
    import tempfile

    tempfile.tempdir = os.path.join(work, "tmp")
    os.makedirs(tempfile.tempdir)
    scene = build_scene(bpy)
    settings = configure(scene, model, work)
    bpy.ops.render.render()
    open(os.path.join(work, "a_file"), "w").close()
    for name, path in (("folder", work), ("under_a_file", os.path.join(work, "a_file", "stereo.png")),
                       ("new_folder", os.path.join(work, "new", "stereo.png"))):
        settings.save_path = path
        result[name] = run_operator(bpy.ops.image.infill_disocclusion)
    result["written"] = sorted(os.listdir(os.path.join(work, "new")))
    result["partial"] = glob.glob(os.path.join(work, "**", "*.partial*"), recursive=True)
    result["temporary"] = os.listdir(tempfile.tempdir)


def view_layers(bpy, model, work, result):
    """Two view layers, the Depth pass on only one: colour and depth come from one layer, the
    active one or the one chosen, and a layer without Depth is named in the report."""
    scene = build_scene(bpy)
    settings = configure(scene, model)
    first, second = scene.view_layers[0], scene.view_layers.new("Second")
    second.use_pass_z, first.use_pass_z = True, False
    bpy.context.window.view_layer = second
    bpy.ops.render.render()
    result["second_active"] = run_operator(bpy.ops.image.infill_disocclusion)
    settings.view_layer = first.name
    result["first_chosen"] = run_operator(bpy.ops.image.infill_disocclusion)
    settings.view_layer = "Missing"
    result["missing_chosen"] = run_operator(bpy.ops.image.infill_disocclusion)


def errors(bpy, model, work, result):
    scene = build_scene(bpy)
    settings = configure(scene, os.path.join(work, "missing.onnx"))
    reports = {"missing_model": run_operator(bpy.ops.image.infill_disocclusion)}
    settings.model_path = model
    reports["nothing_rendered"] = run_operator(bpy.ops.image.infill_disocclusion)
    scene.view_layers[0].use_pass_z = False
    reports["no_depth_pass"] = run_operator(bpy.ops.image.infill_disocclusion)
    scene.view_layers[0].use_pass_z = True
    scene.camera.data.type = "PANO"
    reports["panoramic"] = run_operator(bpy.ops.image.infill_disocclusion)
    scene.camera.data.type = "PERSP"
    scene.render.use_multiview, scene.render.views_format = True, "MULTIVIEW"
    reports["multi_view"] = run_operator(bpy.ops.image.infill_disocclusion)
    scene.render.use_multiview = False
    settings.source = "IMAGES"
    settings.image = bpy.data.images.new("colour", 96, 64)
    settings.depth = bpy.data.images.new("depth", 50, 50, float_buffer=True)
    reports["wrong_size"] = run_operator(bpy.ops.image.infill_disocclusion)
    settings.depth = bpy.data.images.new("depth2", 96, 64, float_buffer=True)
    scene.camera = None
    reports["no_camera"] = run_operator(bpy.ops.image.infill_disocclusion)
    result["reports"] = reports


def parallax(bpy, model, work, result):
    """The panel's parallax line, its warnings and the heat map: an Off-Axis rig converging at
    1.95 m before a wall at 4 m and a box at 1.5 m."""
    scene = build_scene(bpy)
    set_stereo(scene.camera, "OFFAXIS", 1.95, 0.065, "LEFT")
    settings = configure(scene, model)
    settings.heat_map, settings.display = True, "CINEMA"
    bpy.ops.render.render()
    result["report"] = run_operator(bpy.ops.image.infill_disocclusion)
    result["info"] = settings.parallax_info.splitlines()
    heat = bpy.data.images.get("Parallax (Disocclusion Infill)")
    result["heat_map"] = list(heat.size) if heat is not None else None


def frames(bpy, model, work, result):
    """The frame range from rendered multilayer EXRs, written at the scene's output path as a
    stereo animation render writes individual files (each frame alone: the single-view
    pipeline on its render); refused where it would overwrite the rendered frames."""
    scene = build_scene(bpy, frames=3)
    settings = configure(scene, model)
    settings.reuse_frames, settings.carry = 0, 0.0
    set_exr_output(scene, os.path.join(work, "render", "shot_"))
    bpy.ops.render.render(animation=True)
    settings.frames_source = "FILES"
    settings.frames_input = os.path.join(work, "render") + os.sep
    result["overwrite"] = run_operator(bpy.ops.image.infill_disocclusion_frames)
    set_png_output(scene, os.path.join(work, "stereo", "shot_"))
    result["report"] = run_operator(bpy.ops.image.infill_disocclusion_frames)
    result["files"] = sorted(os.listdir(os.path.join(work, "stereo")))
    got = image_file(os.path.join(work, "stereo", "shot_0002_R.png"))
    _, result["max_diff_frame2"] = hole_psnr(bpy, scene, work, 2, model, got, got)
    scene.frame_set(2)
    result["max_diff_frame2_left"] = max_diff(image_file(os.path.join(work, "stereo", "shot_0002_L.png")),
                                              render_png(bpy, scene, os.path.join(work, "left2.png")))


def frames_render(bpy, model, work, result):
    """The frame range rendered here (the box sliding before the wall, automatic overscan):
    every frame written at the frame's size, the strip beyond its edge rendered, the current
    frame as it was."""
    baseline, count = 0.3, 3
    scene = build_scene(bpy, frames=count)
    set_stereo(scene.camera, "PARALLEL", 1.95, baseline, "LEFT")
    configure(scene, model)
    set_png_output(scene, os.path.join(work, "stereo", "f"))
    scene.frame_set(2)
    result["report"] = run_operator(bpy.ops.image.infill_disocclusion_frames)
    result["frame_current"] = scene.frame_current
    result["files"] = sorted(os.listdir(os.path.join(work, "stereo")))
    strip = beyond_the_edge()
    result["shapes"], result["psnr_strip"] = [], []
    for frame in range(1, count + 1):
        scene.frame_set(frame)
        truth = blender_stereo(bpy, scene, os.path.join(work, f"truth_{frame}.png"))["RIGHT"]
        got = image_file(os.path.join(work, "stereo", f"f{frame:04d}_R.png"))
        result["shapes"].append(list(got.shape))
        result["psnr_strip"].append(psnr_in(got, truth, strip))


def hole_psnr(bpy, scene, work, frame, model, got, truth) -> tuple[float, int]:
    """PSNR of `got` against `truth` in the holes the pipeline leaves in the right eye of frame
    `frame`, and `got`'s largest difference from the single-view fill."""
    scene.frame_set(frame)
    source = render_png(bpy, scene, os.path.join(work, f"source_{frame}.png"))
    _, depth = render_passes(bpy, scene, os.path.join(work, f"source_{frame}.exr"))
    want = expected_eye(source, depth, closed_form_K(), camera_eyes(scene)[0]["RIGHT"], model)
    hole = want.hole_mask.astype(bool)
    return psnr_in(got, truth, hole), max_diff(got, want.image)


def frames_reuse(bpy, model, work, result):
    """A camera moving right past a still scene: the frame range with and without reusing the
    neighbouring frames, scored against Blender's own right eye."""
    from stereo_geometry import reproject, world_to_camera
    from stereo_geometry.readers import read_depth

    count = 5
    scene = build_scene(bpy, frames=count, camera_step=0.02)
    settings = configure(scene, model)
    set_exr_output(scene, os.path.join(work, "render", "shot_"))
    bpy.ops.render.render(animation=True)
    settings.frames_source, settings.frames_input = "FILES", os.path.join(work, "render") + os.sep
    truths = blender_right_eyes(bpy, scene, work, count)
    scores = {}
    for reuse, carry in ((0, 0.0), (2, 0.75)):
        settings.reuse_frames, settings.carry, settings.write_depth = reuse, carry, reuse > 0
        set_png_output(scene, os.path.join(work, f"reuse{reuse}", "f"))
        result[f"report_{reuse}"] = run_operator(bpy.ops.image.infill_disocclusion_frames)
        scores[reuse] = []
        for frame in range(2, count):
            got = image_file(os.path.join(work, f"reuse{reuse}", f"f{frame:04d}_R.png"))
            score, diff = hole_psnr(bpy, scene, work, frame, model, got, truths[frame])
            scores[reuse].append(score)
            if reuse == 0:
                result["max_diff_single"] = max(result.get("max_diff_single", 0), diff)
    result["psnr_single"], result["psnr_reuse"] = float(np.mean(scores[0])), float(np.mean(scores[2]))
    # The made eye's depth (written with reuse): the reprojected depth outside the holes.
    scene.frame_set(3)
    _, depth = render_passes(bpy, scene, os.path.join(work, "f3.exr"))
    eye = camera_eyes(scene)[0]["RIGHT"]
    K = closed_form_K()
    from stereo_geometry.infill import hole_rule_of
    from training import load_network

    rule = hole_rule_of(load_network(model.removeprefix(BUNDLED)))  # the holes the model's rule makes
    warp = reproject(np.zeros(depth.shape + (3,), np.uint8), depth, K, eye.K, world_to_camera(eye.pose), rule)
    written = read_depth(os.path.join(work, "reuse2", "f0003_R_depth.exr"))
    hole = warp.hole_mask.astype(bool)
    result["depth_max_rel_outside_holes"] = float(np.max(np.abs(written[~hole] - warp.depth[~hole]) / warp.depth[~hole]))
    result["depth_holes_in_range"] = bool(((written[hole] >= depth.min() - 1e-3) & (written[hole] <= depth.max() + 1e-3)).all())
    result["depth_files"] = sorted(n for n in os.listdir(os.path.join(work, "reuse2")) if n.endswith("_depth.exr"))


def add_node(bpy, scene, model, directory):
    """The Disocclusion Infill node, added by its operator, writing to `directory`."""
    run_operator(bpy.ops.node.add_disocclusion_infill)
    tree = scene.compositing_node_group
    node = next(n for n in tree.nodes if n.bl_idname == "CompositorNodeDisocclusionInfill")
    node.model_path = model
    node.directory = directory + os.sep
    out = tree.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
    group_out = tree.nodes.new("NodeGroupOutput")
    tree.links.new(node.outputs["Image"], group_out.inputs[out.name])
    return node


def compositor(bpy, model, work, result):
    scene = build_scene(bpy, frames=3)
    node = add_node(bpy, scene, model, os.path.join(work, "node_out"))
    set_png_output(scene, os.path.join(work, "frames", "f_"))
    bpy.ops.render.render(animation=True)
    result["files"] = sorted(os.listdir(os.path.join(work, "node_out")))
    passes = node.node_tree.nodes["Save Passes"].directory
    result["passes_private"] = f"disocclusion_infill_{os.getpid()}" in passes
    # The first frame's right eye is what the pipeline makes from that frame's render.
    got = image_file(os.path.join(work, "node_out", "0001_R.png"))
    _, diff = hole_psnr(bpy, scene, work, 1, model, got, got)
    result["max_diff_frame1"] = diff


def compositor_reuse(bpy, model, work, result):
    """The node during an animation render, a camera moving left past a still scene (so the
    frames rendered before stood nearer the right eye): the mean hole PSNR against Blender's
    right eye of frames 2-5 for each (reuse_frames, carry), each frame's largest difference
    from the single-view fill, and, with 2 frames reused, from the repository's sequence
    driver given the same renders (the earlier frames only)."""
    from stereo_geometry import translation
    from stereo_geometry.colour import finite_depth
    from stereo_geometry.sequence import Frame, SequenceDriver
    from training import load_network

    count = 5
    scene = build_scene(bpy, frames=count, camera_step=-0.02)
    node = add_node(bpy, scene, model, os.path.join(work, "node_out"))
    truths = blender_right_eyes(bpy, scene, work, count)
    made = {}
    for reuse, carry in ((0, 0.0), (2, 0.0), (2, 0.75)):
        node.reuse_frames, node.carry = reuse, carry
        name = f"{reuse}_{carry}"
        node.directory = os.path.join(work, f"node_{name}") + os.sep
        set_png_output(scene, os.path.join(work, f"render_{name}", "shot_"))
        bpy.ops.render.render(animation=True)
        scores = []
        for frame in range(1, count + 1):
            made[name, frame] = got = image_file(os.path.join(work, f"node_{name}", f"{frame:04d}_R.png"))
            score, diff = hole_psnr(bpy, scene, work, frame, model, got, truths[frame])  # renders source_{frame}
            scores.append(score)
            result[f"max_diff_single_{name}_{frame}"] = diff
        result[f"psnr_{name}"] = float(np.mean(scores[1:]))
    eye = camera_eyes(scene)[0]["RIGHT"]

    def read(index: int) -> Frame:
        stem = os.path.join(work, f"source_{index + 1}")
        image, depth = image_file(stem + ".png"), read_multilayer_exr_depth(stem + ".exr")
        return Frame(image, finite_depth(depth), closed_form_K(), translation(-0.02 * index), {"RIGHT": eye})

    def compare(index, _frame, results) -> None:
        got = made["2_0.0", index + 1].astype(int)
        result[f"max_diff_driver_{index + 1}"] = int(np.abs(got - results["RIGHT"].image).max())

    driver = SequenceDriver(read, count, load_network(model.removeprefix(BUNDLED)), window=2, ahead=False)
    result["driver_problems"] = driver.run(range(count), compare)


def warm_kernels(bpy, model, work, result):
    """The kernels compiled on the extension's thread at enabling are those a press runs."""
    import threading

    kernels = sys.modules[f"{EXTENSION}.kernels"]
    compiled = sys.modules[f"{EXTENSION}.stereo_geometry.compiled"]
    for thread in threading.enumerate():
        if thread.name == kernels.KERNELS_THREAD:
            thread.join()
    result["still_warming_up"] = kernels.kernels_warming_up()
    names = ("_compiled_grown_faces", "_compiled_scanline", "_compiled_zbuffer", "footprint_growth", "surface_lookup",
             "interpolated_lookup", "grid_triangles", "grid_moved_projection")

    def signatures():
        return {name: len(getattr(compiled, name).signatures) for name in names}

    result["warmed"] = signatures()
    scene = build_scene(bpy)
    configure(scene, model)
    bpy.ops.render.render()
    result["report"] = run_operator(bpy.ops.image.infill_disocclusion)
    result["after_press"] = signatures()


SCENARIOS = {f.__name__: f for f in (install_uninstall, render_still, stereo_setups, saved_formats, render_overscan,
                                      render_overscan_left, auto_overscan, unit_scales, save_paths, view_layers,
                                      errors, parallax, frames, frames_render, frames_reuse, compositor,
                                      compositor_reuse, warm_kernels)}


def main() -> None:
    global WIDTH, HEIGHT
    zip_path, model, work, scenario = sys.argv[1:5]
    if len(sys.argv) > 5:  # render size "WxH" (default 96x64)
        WIDTH, HEIGHT = map(int, sys.argv[5].split("x"))
    os.environ["BLENDER_USER_RESOURCES"] = os.path.join(work, "user")
    import bpy

    result = {"scenario": scenario}
    try:
        bpy.ops.extensions.package_install_files(repo="user_default", filepath=zip_path,
                                                 enable_on_install=True)
        ops = bpy.ops.image
        result["registered"] = {
            "infill": ops.infill_disocclusion.get_rna_type().name == "Infill Disocclusion",
            "frames": ops.infill_disocclusion_frames.get_rna_type().name == "Infill Frame Range",
            "image_panel": hasattr(bpy.types, "IMAGE_PT_disocclusion_infill"),
            "node_panel": hasattr(bpy.types, "NODE_PT_disocclusion_infill"),
            "node": bpy.types.Node.bl_rna_get_subclass_py("CompositorNodeDisocclusionInfill") is not None,
        }
        SCENARIOS[scenario](bpy, model, work, result)
    except Exception:
        result["exception"] = traceback.format_exc()
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
