"""The "Disocclusion Infill" compositor node.

Python cannot run per pixel inside Blender 5.0's compositor, so the node is a custom group
whose inner tree holds a File Output node: during the render it saves the Image and Depth it
is wired to as a multilayer EXR for the frame. A `render_write` handler (after the frame is
composited and saved) then makes the other eye from that file with the geometry core and the
network, and writes it to the node's output folder. The node passes its Image through.

In an animation the holes are filled first from the frames rendered before (`reuse_frames`
of them, held in memory, through the camera's motion) and the previous fill is carried
(`carry`): the sequence fill of `Infill Frame Range` (`stereo_geometry.sequence`), with the
earlier frames only, as the later ones are not rendered yet.
"""
from __future__ import annotations

import os
import tempfile

import bpy
from bpy.app.handlers import persistent
from bpy.props import BoolProperty, EnumProperty, FloatProperty, StringProperty

from . import core
from .operators import EYES, OUTPUTS, carry_property, reuse_frames_property, write_depth_property
from .stereo_geometry.sequence import Frame, SequenceInfill

NODE_ID = "CompositorNodeDisocclusionInfill"
PASS_PREFIX = "passes_"

#: Per node ((tree, node) names), during a render: its sequence fill and the frames it
#: rendered last, oldest first (at most its `reuse_frames`).
_renders: dict[tuple[str, str], tuple[SequenceInfill, list[Frame]]] = {}


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

    directory: StringProperty(name="Output", subtype="DIR_PATH", default="//other_eye/")
    eye: EnumProperty(name="Make", items=EYES)
    output: EnumProperty(name="Output", items=OUTPUTS)
    use_camera_baseline: BoolProperty(name="Camera Interocular Distance", default=True)
    baseline: FloatProperty(name="Baseline", default=0.063, min=0.0, unit="LENGTH")
    model: EnumProperty(name="Model", items=core.MODEL_CHOICES, default="QUALITY")
    model_path: StringProperty(name="Model File", subtype="FILE_PATH")
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
        for name in ("directory", "eye", "output", "use_camera_baseline", "baseline", "model", "model_path",
                     "reuse_frames", "carry", "write_depth"):
            layout.prop(self, name)

    def sync_save_path(self) -> None:
        """Point the inner File Output at this node's temporary folder."""
        self.node_tree.nodes["Save Passes"].directory = _passes_dir(self) + os.sep


def infill_nodes(scene: bpy.types.Scene) -> list[DisocclusionInfillNode]:
    tree = scene.compositing_node_group
    return [n for n in tree.nodes if n.bl_idname == NODE_ID] if tree else []


@persistent
def _before_render(scene, _depsgraph=None) -> None:
    _renders.clear()
    for node in infill_nodes(scene):
        node.sync_save_path()


@persistent
def _after_render(scene, _depsgraph=None) -> None:
    _renders.clear()  # the frames held for the next one


def _sequence(node, scene) -> tuple[SequenceInfill, list[Frame]]:
    """The node's sequence fill for the render under way, and its earlier frames."""
    key = _key(node)
    if key not in _renders:
        depth_net = core.depth_network() if node.write_depth else None
        _renders[key] = (SequenceInfill(core.network(core.model_path(node)), core.baseline(node, scene),
                                        node.carry, depth_net), [])
    return _renders[key]


def _key(node) -> tuple[str, str]:
    return node.id_data.name, node.name


@persistent
def _after_frame(scene, _depsgraph=None) -> None:
    """Make the other eye of the frame just rendered, for every infill node of the scene."""
    frame = scene.frame_current
    for node in infill_nodes(scene):
        # Animations number the File Output's files by frame; a still render does not.
        candidates = [os.path.join(_passes_dir(node), f"{PASS_PREFIX}{n}.exr") for n in (f"{frame:04d}", "")]
        passes = next((c for c in candidates if os.path.isfile(c)), candidates[0])
        try:
            if not os.path.isfile(passes):
                raise core.InfillError(f"the node saved no passes for frame {frame} (is it wired "
                                       "to Render Layers Image and Depth?)")
            sequence, earlier = _sequence(node, scene)
            own = core.sequence_frame(passes, scene, core.camera_pose(scene), image_pass="Image")
            same_size = [f for f in earlier if f.image.shape == own.image.shape]
            result = sequence.step(own, same_size[::-1])  # nearest in time first
            earlier[:] = (earlier + [own])[max(0, len(earlier) + 1 - node.reuse_frames):]
            out = core.write_sequence_frame(bpy.path.abspath(node.directory), frame, own, result, node.eye,
                                            node.output, scene, node.write_depth)
            os.remove(passes)
            print(f"Disocclusion Infill: frame {frame} -> {out}")
        except core.InfillError as exc:
            if _key(node) in _renders:
                _renders[_key(node)][0].previous = None  # nothing to carry across a failed frame
            print(f"Disocclusion Infill: frame {frame} failed: {exc}")


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
        self.report({"INFO"}, f"Added '{node.name}': rendering writes the other eye to {node.directory}")
        return {"FINISHED"}


CLASSES = (DisocclusionInfillNode, NODE_OT_add_disocclusion_infill)
HANDLERS = ((bpy.app.handlers.render_init, _before_render),
            (bpy.app.handlers.render_write, _after_frame),
            (bpy.app.handlers.render_complete, _after_render),
            (bpy.app.handlers.render_cancel, _after_render))
