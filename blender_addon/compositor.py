"""The "Disocclusion Infill" compositor node.

Python cannot run per pixel inside Blender 5.0's compositor, so the node is a custom group
whose inner tree holds a File Output node: during the render it saves the Image and Depth it
is wired to as a multilayer EXR for the frame. A `render_write` handler (after the frame is
composited and saved) then makes the stereo pair from that file as the camera's Stereoscopy
settings say, and writes it to the node's output folder with the scene's output settings
(NNNN_L.png and NNNN_R.png for individual PNGs). The node passes its Image through.

In an animation the holes are filled first from the frames rendered before (`reuse_frames`
of them, those taken nearest the eye among the last one and a half times as many, held in
memory, through the camera's motion) and, with `carry`, the previous fill is carried: the
sequence driver of `Infill Frame Range` (`stereo_geometry.sequence`), with the earlier frames
only, as the later ones are not rendered yet. Each frame's camera pose is the one the render
evaluated for it (a frame-change handler notes it: while an animation renders, the camera
object itself stays at the frame the render started from); the lens and the Stereoscopy
settings are read as they are.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field

import bpy
import numpy as np
from bpy.app.handlers import persistent
from bpy.props import StringProperty

from . import models
from .errors import InfillError
from .frames import frame_from_view, view_from_exr
from .scene_camera import camera_pose, camera_stereo
from .settings import carry_property, model_path_property, model_property, reuse_frames_property, write_depth_property
from .stereo_geometry.sequence import Frame, SequenceDriver
from .stereo_images import pair_writer

NODE_ID = "CompositorNodeDisocclusionInfill"
PASS_PREFIX = "passes_"


@dataclass
class NodeRender:
    """A node's state while a render runs: its sequence driver and the frames rendered last
    (by frame number; at most `reuse_frames` before the current one)."""

    driver: SequenceDriver
    frames: dict[int, Frame] = field(default_factory=dict)


#: Per node ((tree, node) names), during a render.
_renders: dict[tuple[str, str], NodeRender] = {}
#: The scene camera's pose at each frame of the animation render under way, as the
#: frame-change handler sees it evaluated: the camera object itself keeps the frame the render
#: started from while an animation renders. None while no render runs.
_camera_poses: dict[int, np.ndarray] | None = None


def _passes_dir(node) -> str:
    """The node's folder for the passes it saves, private to this Blender process: two
    Blender instances rendering at once must not read (and delete) each other's frames."""
    return os.path.join(tempfile.gettempdir(), f"disocclusion_infill_{os.getpid()}",
                        bpy.path.clean_name(f"{node.id_data.name}_{node.name}"))


def _inner_tree(node) -> bpy.types.NodeTree:
    tree = bpy.data.node_groups.new(".Disocclusion Infill", "CompositorNodeTree")
    tree.interface.new_socket("Image", in_out="INPUT", socket_type="NodeSocketColor")
    tree.interface.new_socket("Depth", in_out="INPUT", socket_type="NodeSocketFloat")
    tree.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
    group_in, group_out = tree.nodes.new("NodeGroupInput"), tree.nodes.new("NodeGroupOutput")
    save = tree.nodes.new("CompositorNodeOutputFile")
    save.name = "Save Passes"
    save.format.media_type = "MULTI_LAYER_IMAGE"
    save.format.file_format = "OPEN_EXR_MULTILAYER"
    save.format.color_depth = "32"
    save.file_output_items.clear()
    save.file_output_items.new("RGBA", "Image")
    save.file_output_items.new("FLOAT", "Depth")
    save.file_name = PASS_PREFIX
    tree.links.new(group_in.outputs["Image"], save.inputs["Image"])
    tree.links.new(group_in.outputs["Depth"], save.inputs["Depth"])
    tree.links.new(group_in.outputs["Image"], group_out.inputs["Image"])
    return tree


class DisocclusionInfillNode(bpy.types.CompositorNodeCustomGroup):
    """Writes the other eye of every rendered frame (wire Image and Depth from Render Layers)"""

    bl_idname = NODE_ID
    bl_label = "Disocclusion Infill"

    directory: StringProperty(name="Output", subtype="DIR_PATH", default="//stereo/",
                              description="Where the stereo frames are written (the scene's output format)")
    model: model_property()
    model_path: model_path_property()
    reuse_frames: reuse_frames_property("Frames rendered before each frame")
    carry: carry_property()
    write_depth: write_depth_property()

    def init(self, context):
        self.node_tree = _inner_tree(self)

    def copy(self, node):
        self.node_tree = node.node_tree.copy()

    def free(self):
        if self.node_tree is not None and self.node_tree.users <= 1:
            bpy.data.node_groups.remove(self.node_tree)

    def draw_buttons(self, context, layout):
        for name in ("directory", "model", "model_path", "reuse_frames", "carry", "write_depth"):
            layout.prop(self, name)

    def sync_save_path(self) -> None:
        """Point the inner File Output at this node's temporary folder."""
        self.node_tree.nodes["Save Passes"].directory = _passes_dir(self) + os.sep


def infill_nodes(scene: bpy.types.Scene) -> list[DisocclusionInfillNode]:
    tree = scene.compositing_node_group
    return [n for n in tree.nodes if n.bl_idname == NODE_ID] if tree else []


@persistent
def _before_render(scene, _depsgraph=None) -> None:
    global _camera_poses
    _renders.clear()
    _camera_poses = {}
    for node in infill_nodes(scene):
        node.sync_save_path()


@persistent
def _frame_changed(scene, depsgraph=None) -> None:
    """Note the scene camera's pose at the frame an animation render moved to."""
    if _camera_poses is not None and depsgraph is not None and scene.camera is not None and infill_nodes(scene):
        _camera_poses[scene.frame_current] = camera_pose(scene, scene.camera.evaluated_get(depsgraph))


@persistent
def _after_render(scene, _depsgraph=None) -> None:
    global _camera_poses
    _renders.clear()  # the frames held for the next one
    _camera_poses = None


def _render_state(node, scene) -> NodeRender:
    """The node's state for the render under way, made at its first frame."""
    key = _key(node)
    if key not in _renders:
        net = models.network(models.model_path(bpy.path.abspath(node.model_path), node.model))
        state = NodeRender(None)

        def read(number: int) -> Frame:
            if number not in state.frames:
                raise InfillError(f"frame {number} was not rendered before")
            return state.frames[number]

        state.driver = SequenceDriver(read, 2 ** 31, net, node.reuse_frames, node.carry, ahead=False,
                                      errors=(InfillError,))
        _renders[key] = state
    return _renders[key]


def _key(node) -> tuple[str, str]:
    return node.id_data.name, node.name


@persistent
def _after_frame(scene, _depsgraph=None) -> None:
    """Make the stereo pair of the frame just rendered, for every infill node of the scene."""
    number = scene.frame_current
    for node in infill_nodes(scene):
        # Animations number the File Output's files by frame; a still render does not.
        candidates = [os.path.join(_passes_dir(node), f"{PASS_PREFIX}{n}.exr") for n in (f"{number:04d}", "")]
        passes = next((c for c in candidates if os.path.isfile(c)), candidates[0])
        try:
            if not os.path.isfile(passes):
                raise InfillError(f"the node saved no passes for frame {number} (is it wired "
                                  "to Render Layers Image and Depth?)")
            state = _render_state(node, scene)
            pose = (_camera_poses or {}).get(number)  # None for a still render: the camera is at its frame
            state.frames[number] = frame_from_view(scene, view_from_exr(passes, scene, image_pass="Image"), pose)
            for old in [n for n in state.frames if n < number - node.reuse_frames]:
                del state.frames[old]
            os.remove(passes)
            folder, extension = bpy.path.abspath(node.directory), scene.render.file_extension
            written: list[str] = []
            write = pair_writer(scene, lambda n: os.path.join(folder, f"{n:04d}{extension}"),
                                camera_stereo(scene).rendered_eye, node.write_depth, written)
            problem = state.driver.fill(number, write)
            if problem:
                raise InfillError(problem)
            print(f"Disocclusion Infill: frame {number} -> {', '.join(written)}")
        except InfillError as exc:
            if _key(node) in _renders:
                _renders[_key(node)].driver.forget()
            print(f"Disocclusion Infill: frame {number} failed: {exc}")


class NODE_OT_add_disocclusion_infill(bpy.types.Operator):
    """Add a Disocclusion Infill node wired to the Render Layers' Image and Depth"""

    bl_idname = "node.add_disocclusion_infill"
    bl_label = "Add Disocclusion Infill Node"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        scene = context.scene
        scene.view_layers[0].use_pass_z = True
        tree = scene.compositing_node_group
        if tree is None:
            tree = bpy.data.node_groups.new("Compositing", "CompositorNodeTree")
            scene.compositing_node_group = tree
        layers = next((n for n in tree.nodes if n.bl_idname == "CompositorNodeRLayers"), None)
        if layers is None:
            layers = tree.nodes.new("CompositorNodeRLayers")
        node = tree.nodes.new(NODE_ID)
        node.location = (layers.location.x + 300, layers.location.y - 200)
        tree.links.new(layers.outputs["Image"], node.inputs["Image"])
        tree.links.new(layers.outputs["Depth"], node.inputs["Depth"])
        self.report({"INFO"}, f"Added '{node.name}': rendering writes the stereo pair to {node.directory}")
        return {"FINISHED"}


CLASSES = (DisocclusionInfillNode, NODE_OT_add_disocclusion_infill)
HANDLERS = ((bpy.app.handlers.render_init, _before_render),
            (bpy.app.handlers.frame_change_post, _frame_changed),
            (bpy.app.handlers.render_write, _after_frame),
            (bpy.app.handlers.render_complete, _after_render),
            (bpy.app.handlers.render_cancel, _after_render))
