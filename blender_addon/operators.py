"""The "Infill Disocclusion" button and the "Infill Frame Range" operator: thin adapters over the
runtime's sequence driver (`stereo_geometry.sequence.SequenceDriver`)."""
from __future__ import annotations

import os
import time

import bpy
import numpy as np

from . import models
from .errors import InfillError
from .frames import frame_files, frame_from_view, frame_parallax, overscan_margins, rendered_frames
from .renders import last_render, render_frame, source_layer, view_from_images
from .scene_camera import camera_stereo
from .settings import HEAT_MAP_NAME, RESULT_NAME, display_of, settings_of
from .stereo_geometry.infill import edge_strips
from .stereo_geometry.parallax import parallax_heat_map, parallax_report
from .stereo_geometry.sequence import SequenceDriver, stereo_pair
from .stereo_images import byte_image, pair_writer, save_stereo, store_stereo_image


def strip_warning(results: dict, margins: tuple[int, int]) -> str | None:
    """A warning where a made eye still sees past the frame's edges in more than 1 % of the
    rows (a strip no view recorded, guessed by `infill.fill_past_the_edges`), with what would
    cover it."""
    widest, share = 0, 0.0
    for result in results.values():
        for strip in edge_strips(result.hole_mask):
            if (strip > 0).mean() > 0.01:
                widest, share = max(widest, int(strip.max())), max(share, float((strip > 0).mean()))
    if not widest:
        return None
    now = f"the overscan of {max(margins)} px" if any(margins) else "the frame"
    return (f"A made eye sees up to {widest} px past {now} at {share:.0%} of the frame's edge rows (guessed: "
            "nothing rendered it): use Source > Render Frame with Automatic Overscan, or raise Overscan")


class IMAGE_OT_infill_disocclusion(bpy.types.Operator):
    """Make the stereo pair of the camera's view as its Stereoscopy settings say: the other eye
    (or both, for pivot Center) reprojected from one render, its disocclusions filled by the
    network"""

    bl_idname = "image.infill_disocclusion"
    bl_label = "Infill Disocclusion"
    bl_options = {"REGISTER"}

    def execute(self, context):
        settings, scene = settings_of(context), context.scene
        start = time.perf_counter()
        try:
            net = models.network(models.model_path(bpy.path.abspath(settings.model_path), settings.model))
            stereo = camera_stereo(scene)
            layer = source_layer(scene, settings.view_layer)
            if settings.source == "RENDER":
                margins = overscan_margins(scene, settings.overscan_auto, settings.overscan)
                view = render_frame(scene, layer, margins)
            elif settings.source == "LAST_RENDER":
                view = last_render(scene, layer, stereo.rendered_eye)
            else:
                view = view_from_images(settings.image, settings.depth, scene)
            frame = frame_from_view(scene, view)
            results: dict = {}
            problem = SequenceDriver(lambda index: frame, 1, net, window=0, carry=0.0, errors=(InfillError,)).fill(
                0, lambda index, own, made: results.update(made))
            if problem:
                raise InfillError(problem)
            pair = stereo_pair(frame, results, stereo.rendered_eye)
            image = store_stereo_image(scene, RESULT_NAME, pair)
            if settings.save_path:
                save_stereo(scene, bpy.path.abspath(settings.save_path), pair)
            parallax = frame_parallax(scene, frame)
            report = parallax_report(parallax, display_of(settings))
            if settings.heat_map:
                old = bpy.data.images.get(HEAT_MAP_NAME)
                if old is not None:
                    bpy.data.images.remove(old)
                byte_image(HEAT_MAP_NAME, parallax_heat_map(parallax, report)).pack()
        except InfillError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        settings.parallax_info = "\n".join([
            f"Parallax on a {report.display}: {report.nearest_px:.1f} to {report.farthest_px:.1f} px "
            f"({report.nearest_percent:.2f} to {report.farthest_percent:.2f} % of the width)"] + report.warnings)
        space = getattr(context, "space_data", None)
        if space is not None and space.type == "IMAGE_EDITOR":
            space.image = image
        holes = np.mean([result.hole_mask.mean() for result in results.values()])
        made = " and ".join(eye.lower() for eye in results)
        self.report({"INFO"}, f"{image.name}: the {made} eye made, {holes:.1%} of the frame filled, in "
                              f"{time.perf_counter() - start:.2f} s")
        for warning in [strip_warning(results, view.margins)] + report.warnings:
            if warning:
                self.report({"WARNING"}, warning)
        return {"FINISHED"}


def range_frames(scene: bpy.types.Scene) -> list[int]:
    return list(range(scene.frame_start, scene.frame_end + 1, scene.frame_step))


def rendered_files(folder: str, frames: list[int]) -> list[tuple[int, str]]:
    """(frame, multilayer EXR) of each frame: the EXR in `folder` whose name ends in the frame
    number (shot_0007.exr), else NNNN.exr."""
    names = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
    files = []
    for frame in frames:
        match = [n for n in names if n.lower().endswith(f"{frame:04d}.exr")]
        files.append((frame, os.path.join(folder, match[0] if match else f"{frame:04d}.exr")))
    return files


class IMAGE_OT_infill_disocclusion_frames(bpy.types.Operator):
    """Make the stereo pair of every frame of the frame range, each frame's holes filled first
    from the frames that saw them, written as Blender's stereo animation render writes them
    (the scene's output path, file format and views format); Esc cancels"""

    bl_idname = "image.infill_disocclusion_frames"
    bl_label = "Infill Frame Range"

    _timer = None

    def _prepare(self, context) -> bool:
        settings, scene = settings_of(context), context.scene
        self._frames = range_frames(scene)
        try:
            net = models.network(models.model_path(bpy.path.abspath(settings.model_path), settings.model))
            self._rendered = camera_stereo(scene).rendered_eye
            layer = source_layer(scene, settings.view_layer)
            if settings.frames_source == "RENDER":
                read = rendered_frames(scene, layer, self._frames, settings.overscan_auto, settings.overscan)
            else:
                files = rendered_files(bpy.path.abspath(settings.frames_input), self._frames)
                outputs = {os.path.abspath(scene.render.frame_path(frame=frame)) for frame in self._frames}
                if any(os.path.abspath(path) in outputs for _, path in files):
                    raise InfillError("The rendered frames lie at the scene's output path: the stereo frames would "
                                      "overwrite them; change Output > Output Path")
                read = frame_files(scene, layer, files)
        except InfillError as exc:
            self.report({"ERROR"}, str(exc))
            return False
        self._driver = SequenceDriver(read, len(self._frames), net, settings.reuse_frames, settings.carry,
                                      errors=(InfillError,))
        self._write = pair_writer(scene, lambda index: scene.render.frame_path(frame=self._frames[index]),
                                  self._rendered, settings.write_depth)
        self._next, self._failed = 0, []
        return True

    def _step(self) -> None:
        problem = self._driver.fill(self._next, self._write)
        if problem:
            self._failed.append(problem)
        self._next += 1

    def _finish(self, context, cancelled: bool = False) -> set:
        done = self._next - len(self._failed)
        message = f"{done} stereo frames written to {os.path.dirname(context.scene.render.frame_path(frame=1))}"
        if self._failed:
            message += f"; {len(self._failed)} failed: {self._failed[0]}"
        if cancelled:
            message = "Cancelled: " + message
        self.report({"WARNING"} if self._failed or cancelled else {"INFO"}, message)
        return {"CANCELLED"} if cancelled else {"FINISHED"}

    def execute(self, context):
        if not self._prepare(context):
            return {"CANCELLED"}
        while self._next < len(self._frames):
            self._step()
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
        self._step()
        context.window_manager.progress_update(self._next)
        context.workspace.status_text_set(
            f"Disocclusion infill: frame {self._next} of {len(self._frames)} (Esc to cancel)")
        if self._next >= len(self._frames):
            return self._end(context)
        return {"RUNNING_MODAL"}

    def _end(self, context, cancelled: bool = False) -> set:
        wm = context.window_manager
        wm.event_timer_remove(self._timer)
        wm.progress_end()
        context.workspace.status_text_set(None)
        return self._finish(context, cancelled)


CLASSES = (IMAGE_OT_infill_disocclusion, IMAGE_OT_infill_disocclusion_frames)
