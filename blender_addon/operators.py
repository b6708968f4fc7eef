"""Settings, the "Infill Disocclusion" operator and the frame-range operator."""
from __future__ import annotations

import math
import os
import time

import bpy
from bpy.props import (BoolProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty,
                       StringProperty)

from . import core, processing
from .stereo_geometry.sequence import Frame, FrameWindow, SequenceInfill

EYES = [("RIGHT", "Right Eye", "The source is the left view; make the right eye"),
        ("LEFT", "Left Eye", "The source is the right view; make the left eye")]
OUTPUTS = [("OTHER_EYE", "Other Eye", "The new eye's image"),
           ("SIDE_BY_SIDE", "Side by Side", "Left and right eyes next to each other"),
           ("ANAGLYPH", "Anaglyph", "Red-cyan anaglyph")]


def reuse_frames_property(which: str):
    """The sequence fill's window, for the frame range (frames before and after) and the
    compositor node (frames rendered before)."""
    return IntProperty(name="Reuse Frames", default=2, min=0, soft_max=8,
                       description=f"{which} whose pixels fill its holes first, through the camera's motion "
                                   "(exact for static scenes; 0: each frame alone)")


def carry_property():
    return FloatProperty(name="Carry Previous Fill", default=0.75, min=0.0, max=1.0,
                         description="Weight of the previous frame's fill, reprojected, where no frame "
                                     "saw a hole (steadier fills over time)")


def write_depth_property():
    return BoolProperty(name="Write Depth", default=False,
                        description="Also write each frame's other-eye depth (scene units, holes filled "
                                    "by the bundled depth model) as EYE_NNNN_depth.exr")


class DisocclusionSettings(bpy.types.PropertyGroup):
    source: EnumProperty(name="Source", items=[
        ("RENDER", "Last Render", "Combined and Depth passes of the last render"),
        ("RENDER_OVERSCAN", "Render with Overscan",
         "Render the current frame wider on the side the other eye looks beyond, so that what it "
         "sees past the frame's edge is rendered, not filled"),
        ("IMAGES", "Images", "An image and a depth image of your choice")])
    overscan_auto: BoolProperty(name="Automatic Overscan", default=True,
                                description="Render as much beyond the frame's edge as the other eye sees "
                                            "there (found by casting rays into the scene at and past the "
                                            "edge); off: the Overscan percentage")
    overscan: FloatProperty(name="Overscan", default=6.0, min=0.1, max=50.0, subtype="PERCENTAGE",
                            description="Extra width rendered beyond the frame's edge, in percent of "
                                        "the frame's width (the other eye looks up to its largest "
                                        "disparity past the edge: baseline x focal length / depth)")
    view_layer: StringProperty(name="View Layer",
                               description="The view layer whose Combined and Depth passes are used; "
                                           "empty: the active one")
    image: PointerProperty(name="Image", type=bpy.types.Image)
    depth: PointerProperty(name="Depth", type=bpy.types.Image,
                           description="Planar depth in metres (e.g. a Depth pass saved as EXR)")
    use_camera_baseline: BoolProperty(name="Camera Interocular Distance", default=True,
                                      description="Use the scene camera's stereo interocular distance")
    baseline: FloatProperty(name="Baseline", default=0.063, min=0.0, soft_max=1.0, unit="LENGTH",
                            description="Distance between the eyes")
    eye: EnumProperty(name="Make", items=EYES)
    model: EnumProperty(name="Model", items=core.MODEL_CHOICES, default="QUALITY",
                        description="Which bundled network fills the holes")
    model_path: StringProperty(name="Model File", subtype="FILE_PATH",
                               description="An .onnx model of your own; wins over the bundled choice")
    output: EnumProperty(name="Output", items=OUTPUTS)
    save_path: StringProperty(name="Save To", subtype="FILE_PATH",
                              description="Also write the result here as PNG (optional)")
    frames_input: StringProperty(name="Rendered Frames", subtype="DIR_PATH",
                                 description="Folder of multilayer EXRs (Combined + Depth); "
                                             "empty: the render output path")
    frames_output: StringProperty(name="Output Folder", subtype="DIR_PATH", default="//other_eye/")
    frames_render_overscan: BoolProperty(
        name="Render with Overscan", default=False,
        description="Render each frame of the range here, Overscan percent wider on the side the other "
                    "eye looks past (as Source > Render with Overscan), instead of reading rendered frames")
    reuse_frames: reuse_frames_property("Frames before and after each frame")
    write_depth: write_depth_property()
    carry: carry_property()


def settings_of(context) -> DisocclusionSettings:
    return context.scene.disocclusion_infill


def _result_name(settings) -> str:
    return {"OTHER_EYE": f"{settings.eye.title()} Eye", "SIDE_BY_SIDE": "Side by Side",
            "ANAGLYPH": "Anaglyph"}[settings.output] + " (Disocclusion Infill)"


class IMAGE_OT_infill_disocclusion(bpy.types.Operator):
    """Re-render the view from the other eye and fill its disocclusions with the network"""

    bl_idname = "image.infill_disocclusion"
    bl_label = "Infill Disocclusion"
    bl_options = {"REGISTER"}

    def execute(self, context):
        settings, scene = settings_of(context), context.scene
        start = time.perf_counter()
        try:
            net = core.network(core.model_path(settings))
            signed_baseline, overscan = core.baseline(settings, scene), 0
            if settings.source == "RENDER_OVERSCAN":
                overscan = core.overscan_columns(settings, scene, signed_baseline)
                view = core.view_rendered_with_overscan(scene, core.source_layer(settings, scene), overscan,
                                                        signed_baseline)
            elif settings.source == "RENDER":
                view = core.view_from_last_render(scene, core.source_layer(settings, scene))
            else:
                view = core.view_from_images(settings.image, settings.depth, scene)
            result = core.infill(view, signed_baseline, net, overscan)
            shown = processing.layout(result.source_srgb, result.other_srgb, settings.eye, settings.output)
            image = core.store_image(_result_name(settings), shown)
            if settings.save_path:
                core.write_png(bpy.path.abspath(settings.save_path), shown)
        except core.InfillError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        space = getattr(context, "space_data", None)
        if space is not None and space.type == "IMAGE_EDITOR":
            space.image = image
        self.report({"INFO"}, f"{image.name}: {result.hole_fraction:.1%} of the frame filled in "
                              f"{time.perf_counter() - start:.2f} s (reprojection "
                              f"{result.reproject_seconds:.2f} s, network {result.infer_seconds:.2f} s)")
        strip = result.edge_strip
        if overscan and (strip > 0).mean() > 0.01:  # not a disocclusion touching the edge here and there
            width = result.other_srgb.shape[1]
            self.report({"WARNING"}, f"The other eye sees up to {strip.max()} px past the overscan at "
                                     f"{(strip > 0).mean():.0%} of the frame's edge rows (filled by the network): "
                                     f"raise Overscan to {math.ceil(100 * (overscan + strip.max()) / width)} %")
        return {"FINISHED"}


def frame_files(settings, scene) -> list[tuple[int, str]]:
    """(frame, multilayer EXR path) of the scene's frame range."""
    folder = bpy.path.abspath(settings.frames_input) if settings.frames_input else None
    names = sorted(os.listdir(folder)) if folder and os.path.isdir(folder) else []
    frames = []
    for frame in range(scene.frame_start, scene.frame_end + 1, scene.frame_step):
        if folder:  # any EXR whose name ends in the frame number, e.g. shot_0007.exr
            match = [n for n in names if n.lower().endswith(f"{frame:04d}.exr")]
            path = os.path.join(folder, match[0] if match else f"{frame:04d}.exr")
        else:
            path = scene.render.frame_path(frame=frame)
        frames.append((frame, path))
    return frames


class IMAGE_OT_infill_disocclusion_frames(bpy.types.Operator):
    """Make the other eye of every rendered frame of the frame range (multilayer EXRs with
    Combined and Depth), written as PNGs; Esc cancels"""

    bl_idname = "image.infill_disocclusion_frames"
    bl_label = "Infill Frame Range"

    _timer = None

    def _prepare(self, context) -> bool:
        settings, scene = settings_of(context), context.scene
        self._frames = frame_files(settings, scene)
        self._frame_current = scene.frame_current
        try:
            self._net = core.network(core.model_path(settings))
            self._baseline = core.baseline(settings, scene)
            self._layer = core.source_layer(settings, scene)
            self._poses = core.camera_poses(scene, [frame for frame, _ in self._frames])
            self._overscan = (self._frames_overscan(settings, scene) if settings.frames_render_overscan
                              else 0)
            depth_net = core.depth_network() if settings.write_depth else None
        except core.InfillError as exc:
            self.report({"ERROR"}, str(exc))
            return False
        self._out = bpy.path.abspath(settings.frames_output)
        self._done, self._failed = 0, []
        self._write_depth = settings.write_depth
        self._sequence = SequenceInfill(self._net, self._baseline, settings.carry, depth_net)
        self._window = FrameWindow(len(self._frames), settings.reuse_frames,
                                   lambda index: self._read(scene, index), errors=(core.InfillError,))
        return True

    def _frames_overscan(self, settings, scene) -> int:
        """One overscan for every frame (the sequence fill reuses frames of one size only):
        the widest the frames need."""
        columns = 1
        try:
            for frame, _ in self._frames:
                scene.frame_set(frame)
                columns = max(columns, core.overscan_columns(settings, scene, self._baseline))
        finally:
            scene.frame_set(self._frame_current)
        return columns

    def _read(self, scene, index: int):
        """Frame `index` of the range as the sequence fill takes it: read from its EXR, or
        rendered here with overscan."""
        frame, path = self._frames[index]
        if self._overscan:
            scene.frame_set(frame)
            view = core.view_rendered_with_overscan(scene, self._layer, self._overscan, self._baseline)
            return Frame(*core.pipeline_view(view), view.K, self._poses[frame])
        if not os.path.isfile(path):
            raise core.InfillError(f"frame {frame}: {path} not found (render the animation "
                                   "as multilayer EXR with the Depth pass first)")
        return core.sequence_frame(path, scene, self._poses[frame], self._layer)

    def _step(self, context) -> None:
        index = self._done + len(self._failed)
        frame = self._frames[index][0]
        settings = settings_of(context)
        try:
            own, neighbours = self._window.frame_and_neighbours(index)
        except core.InfillError as exc:
            self._sequence.previous = None  # nothing to carry across a missing frame
            self._failed.append(str(exc))
            return
        try:
            result = self._sequence.step(own, neighbours)
            core.write_sequence_frame(self._out, frame, own, result, settings.eye, settings.output,
                                      context.scene, self._write_depth, self._overscan)
            self._done += 1
        except core.InfillError as exc:
            self._failed.append(str(exc))

    def _finish(self, context, cancelled: bool = False) -> set:
        if self._overscan:
            context.scene.frame_set(self._frame_current)
        message = f"{self._done} frames written to {self._out}"
        if self._failed:
            message += f"; {len(self._failed)} failed: {self._failed[0]}"
        if cancelled:
            message = "Cancelled: " + message
        self.report({"WARNING"} if self._failed or cancelled else {"INFO"}, message)
        return {"CANCELLED"} if cancelled else {"FINISHED"}

    def execute(self, context):
        if not self._prepare(context):
            return {"CANCELLED"}
        while self._done + len(self._failed) < len(self._frames):
            self._step(context)
        return self._finish(context)

    def invoke(self, context, event):
        if not self._prepare(context):
            return {"CANCELLED"}
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.01, window=context.window)
        wm.progress_begin(0, len(self._frames))
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        if event.type == "ESC":
            return self._end(context, cancelled=True)
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        self._step(context)
        processed = self._done + len(self._failed)
        context.window_manager.progress_update(processed)
        context.workspace.status_text_set(
            f"Disocclusion infill: frame {processed} of {len(self._frames)} (Esc to cancel)")
        if processed >= len(self._frames):
            return self._end(context)
        return {"RUNNING_MODAL"}

    def _end(self, context, cancelled: bool = False) -> set:
        wm = context.window_manager
        wm.event_timer_remove(self._timer)
        wm.progress_end()
        context.workspace.status_text_set(None)
        return self._finish(context, cancelled)


class DISOCCLUSION_PT_panel:
    bl_region_type = "UI"
    bl_category = "Disocclusion"
    bl_label = "Disocclusion Infill"

    @staticmethod
    def draw_overscan(layout, settings) -> None:
        layout.prop(settings, "overscan_auto")
        row = layout.row()
        row.enabled = not settings.overscan_auto
        row.prop(settings, "overscan")

    def draw(self, context):
        layout, settings = self.layout, settings_of(context)
        layout.use_property_split = True
        layout.prop(settings, "source")
        layout.prop_search(settings, "view_layer", context.scene, "view_layers")
        if settings.source == "RENDER_OVERSCAN":
            self.draw_overscan(layout, settings)
        if settings.source == "IMAGES":
            layout.template_ID(settings, "image", open="image.open")
            layout.template_ID(settings, "depth", open="image.open")
        layout.prop(settings, "eye")
        layout.prop(settings, "use_camera_baseline")
        row = layout.row()
        row.enabled = not settings.use_camera_baseline
        row.prop(settings, "baseline")
        layout.prop(settings, "model")
        layout.prop(settings, "model_path")
        if not settings.model_path and core.bundled_model(settings.model) is None:
            layout.label(text="No bundled model: choose one", icon="ERROR")
        layout.prop(settings, "output")
        layout.prop(settings, "save_path")
        layout.operator(IMAGE_OT_infill_disocclusion.bl_idname, icon="IMAGE_RGB")
        if core.kernels_warming_up():
            layout.label(text="Compiling the geometry kernels (once after installing)", icon="TIME")
        box = layout.box()
        box.label(text="Animation")
        box.prop(settings, "frames_render_overscan")
        if settings.frames_render_overscan:
            self.draw_overscan(box, settings)
        else:
            box.prop(settings, "frames_input")
        box.prop(settings, "frames_output")
        box.prop(settings, "reuse_frames")
        box.prop(settings, "carry")
        box.prop(settings, "write_depth")
        box.operator(IMAGE_OT_infill_disocclusion_frames.bl_idname, icon="RENDER_ANIMATION")


class IMAGE_PT_disocclusion_infill(DISOCCLUSION_PT_panel, bpy.types.Panel):
    bl_space_type = "IMAGE_EDITOR"
    bl_idname = "IMAGE_PT_disocclusion_infill"


class NODE_PT_disocclusion_infill(DISOCCLUSION_PT_panel, bpy.types.Panel):
    bl_space_type = "NODE_EDITOR"
    bl_idname = "NODE_PT_disocclusion_infill"

    @classmethod
    def poll(cls, context):
        return getattr(context.space_data, "tree_type", "") == "CompositorNodeTree"

    def draw(self, context):
        super().draw(context)
        self.layout.operator("node.add_disocclusion_infill", icon="NODE")


CLASSES = (DisocclusionSettings, IMAGE_OT_infill_disocclusion, IMAGE_OT_infill_disocclusion_frames,
           IMAGE_PT_disocclusion_infill, NODE_PT_disocclusion_infill)
