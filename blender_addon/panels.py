"""The sidebar (N) panel "Disocclusion", in the Image Editor and the Compositor."""
from __future__ import annotations

import bpy

from .kernels import kernels_warming_up
from .models import bundled_model
from .operators import IMAGE_OT_infill_disocclusion, IMAGE_OT_infill_disocclusion_frames
from .settings import settings_of


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
        layout, settings, scene = self.layout, settings_of(context), context.scene
        layout.use_property_split = True
        camera = scene.camera
        if camera is not None and camera.type == "CAMERA":
            stereo = camera.data.stereo
            layout.label(text=f"Camera: {stereo.convergence_mode.title()}, pivot {stereo.pivot.title()}, "
                              f"{stereo.interocular_distance * 1000 * scene.unit_settings.scale_length:.0f} mm",
                         icon="CAMERA_STEREO")
        layout.prop(settings, "source")
        layout.prop_search(settings, "view_layer", scene, "view_layers")
        if settings.source == "RENDER":
            self.draw_overscan(layout, settings)
        if settings.source == "IMAGES":
            layout.template_ID(settings, "image", open="image.open")
            layout.template_ID(settings, "depth", open="image.open")
        layout.prop(settings, "model")
        layout.prop(settings, "model_path")
        if not settings.model_path and bundled_model(settings.model) is None:
            layout.label(text="No bundled model: choose one", icon="ERROR")
        layout.prop(settings, "save_path")
        layout.operator(IMAGE_OT_infill_disocclusion.bl_idname, icon="IMAGE_RGB")
        if kernels_warming_up():
            layout.label(text="Compiling the geometry kernels (once after installing)", icon="TIME")
        box = layout.box()
        box.label(text="Parallax")
        box.prop(settings, "display")
        if settings.display == "CUSTOM":
            for name in ("display_width", "display_distance", "eye_separation"):
                box.prop(settings, name)
        box.prop(settings, "heat_map")
        for i, line in enumerate(settings.parallax_info.splitlines()):
            box.label(text=line, icon="ERROR" if i else "INFO")
        box = layout.box()
        box.label(text="Animation")
        box.prop(settings, "frames_source")
        if settings.frames_source == "RENDER":
            self.draw_overscan(box, settings)
        else:
            box.prop(settings, "frames_input")
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


CLASSES = (IMAGE_PT_disocclusion_infill, NODE_PT_disocclusion_infill)
