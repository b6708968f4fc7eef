"""The extension's settings (Scene > disocclusion_infill) and the properties the compositor
node shares with them."""
from __future__ import annotations

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty, StringProperty

from .models import MODEL_CHOICES
from .stereo_geometry.parallax import DISPLAYS, EYE_SEPARATION_M, Display

RESULT_NAME = "Stereo (Disocclusion Infill)"
HEAT_MAP_NAME = "Parallax (Disocclusion Infill)"
DISPLAY_CHOICES = [(key, display.name, f"{display.width_m:g} m wide, seen from {display.distance_m:g} m")
                   for key, display in DISPLAYS.items()] + [("CUSTOM", "Custom", "Your own screen and viewing distance")]


def model_property():
    return EnumProperty(name="Model", items=MODEL_CHOICES, default="QUALITY",
                        description="Which bundled network fills the holes")


def model_path_property():
    return StringProperty(name="Model File", subtype="FILE_PATH",
                          description="An .onnx model of your own; wins over the bundled choice")


def reuse_frames_property(which: str):
    """The sequence fill's window, for the frame range (frames before and after) and the
    compositor node (frames rendered before)."""
    return IntProperty(name="Reuse Frames", default=2, min=0, soft_max=8,
                       description=f"{which} whose pixels fill its holes first, through the camera's motion "
                                   "(exact for static scenes; 0: each frame alone)")


def carry_property():
    return FloatProperty(name="Carry Previous Fill", default=0.0, min=0.0, max=1.0,
                         description="Weight of the previous frame's fill, reprojected, where no frame "
                                     "saw a hole (0: off, the default; in measured shots it lowered the fill's "
                                     "quality without steadying it)")


def write_depth_property():
    return BoolProperty(name="Write Depth", default=False,
                        description="Also write each made eye's depth (scene units; a hole takes the depth "
                                    "behind its edge) as an EXR beside its image (NAME_R_depth.exr)")


class DisocclusionSettings(bpy.types.PropertyGroup):
    source: EnumProperty(name="Source", items=[
        ("RENDER", "Render Frame", "Render the camera's own view of the current frame once (Stereoscopy off, "
                                   "the Depth pass on) and make the other eye from it"),
        ("LAST_RENDER", "Last Render", "The Combined and Depth passes of the last render (F12)"),
        ("IMAGES", "Images", "An image and a depth image of your choice, seen by the scene camera")])
    overscan_auto: BoolProperty(name="Automatic Overscan", default=True,
                                description="Render as much beyond the frame's edges as the made eye sees there "
                                            "(found by casting rays into the scene); off: the Overscan percentage")
    overscan: FloatProperty(name="Overscan", default=6.0, min=0.0, max=50.0, subtype="PERCENTAGE",
                            description="Extra width rendered beyond each frame edge the made eye can look past, "
                                        "in percent of the frame's width (0: none)")
    view_layer: StringProperty(name="View Layer",
                               description="The view layer whose Combined and Depth passes are used; empty: the active one")
    image: PointerProperty(name="Image", type=bpy.types.Image)
    depth: PointerProperty(name="Depth", type=bpy.types.Image,
                           description="Planar depth in scene units (e.g. a Depth pass saved as EXR)")
    model: model_property()
    model_path: model_path_property()
    save_path: StringProperty(name="Save To", subtype="FILE_PATH",
                              description="Also write the stereo result here, as the scene's output settings say "
                                          "(file format; Stereoscopy views format: individual files, side-by-side, "
                                          "top-bottom, anaglyph, interlace, multi-view EXR)")
    display: EnumProperty(name="Display", items=DISPLAY_CHOICES, default="TV",
                          description="Where the stereo pair will be watched: its parallax is checked for it")
    display_width: FloatProperty(name="Screen Width (m)", default=1.44, min=0.01,
                                 description="Custom display: the picture's width in metres")
    display_distance: FloatProperty(name="Viewing Distance (m)", default=2.7, min=0.05,
                                    description="Custom display: from the viewer's eyes to the screen, metres")
    eye_separation: FloatProperty(name="Eye Separation (m)", default=EYE_SEPARATION_M, min=0.04, max=0.08,
                                  description="Custom display: the viewer's eye separation, metres")
    heat_map: BoolProperty(name="Parallax Heat Map", default=False,
                           description="Also make an image of the frame's parallax: behind the screen blue, in front "
                                       "red, past a limit yellow")
    parallax_info: StringProperty(name="Parallax", options={"SKIP_SAVE"},
                                  description="The last result's parallax on the display (set by the button)")
    frames_source: EnumProperty(name="Frames", items=[
        ("RENDER", "Render Frames", "Render each frame of the range here, once, with the overscan settings"),
        ("FILES", "Rendered Files", "Multilayer EXRs (Combined + Depth) of the range rendered before")])
    frames_input: StringProperty(name="Rendered Frames", subtype="DIR_PATH",
                                 description="Folder of multilayer EXRs (Combined + Depth), one per frame, "
                                             "named with the frame number")
    reuse_frames: reuse_frames_property("Frames before and after each frame")
    write_depth: write_depth_property()
    carry: carry_property()


def display_of(settings) -> Display:
    """The display the settings name (a preset or the custom one)."""
    if settings.display == "CUSTOM":
        return Display("custom display", settings.display_width, settings.display_distance, settings.eye_separation)
    return DISPLAYS[settings.display]


def settings_of(context) -> DisocclusionSettings:
    return context.scene.disocclusion_infill
