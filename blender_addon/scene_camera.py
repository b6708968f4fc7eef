"""The scene camera as the runtime takes it: intrinsics, its stereo eyes (Blender's own
conventions, `stereo_geometry.blender_camera`), its pose, in metres whatever the scene's units."""
from __future__ import annotations

import bpy
import numpy as np

from .errors import InfillError
from .stereo_geometry.blender_camera import BlenderCamera, BlenderStereo, blender_matrix_world, stereo_eye
from .stereo_geometry.camera import Eye


def metres_per_unit(scene: bpy.types.Scene) -> float:
    """What one Blender unit is in metres (Scene > Units > Unit Scale): the Depth pass and the
    camera's stereo distances are in Blender units."""
    return float(scene.unit_settings.scale_length) or 1.0


def render_size(scene: bpy.types.Scene) -> tuple[int, int]:
    """The size in pixels that the scene renders at (resolution times its percentage)."""
    r = scene.render
    return (int(r.resolution_x * r.resolution_percentage / 100),
            int(r.resolution_y * r.resolution_percentage / 100))


def scene_camera(scene: bpy.types.Scene) -> bpy.types.Object:
    """The scene's perspective camera; InfillError for none, another kind, or a Multi-View set-up."""
    camera = scene.camera
    if camera is None or camera.type != "CAMERA":
        raise InfillError("The scene has no camera: the reprojection needs its lens and stereo settings")
    if camera.data.type != "PERSP":
        kind = "panoramic (spherical stereo)" if camera.data.type == "PANO" else camera.data.type.lower()
        raise InfillError(f"Camera '{camera.name}' is {kind}: only perspective cameras can be made into "
                          "stereo from one render")
    if scene.render.use_multiview and scene.render.views_format == "MULTIVIEW":
        raise InfillError("Output > Stereoscopy is set to Multi-View (a camera per view suffix): only "
                          "Stereo 3D, the camera's own Stereoscopy settings, is made from one render")
    return camera


def blender_camera(scene: bpy.types.Scene, width: int, height: int) -> BlenderCamera:
    """The scene camera's settings for a render of `width` x `height` pixels."""
    data, r = scene_camera(scene).data, scene.render
    return BlenderCamera(data.lens, data.sensor_width, data.sensor_height, data.sensor_fit, data.shift_x,
                         data.shift_y, width, height, r.pixel_aspect_x, r.pixel_aspect_y)


def camera_stereo(scene: bpy.types.Scene) -> BlenderStereo:
    """The scene camera's Stereoscopy settings, distances in metres."""
    stereo, metres = scene_camera(scene).data.stereo, metres_per_unit(scene)
    return BlenderStereo(stereo.convergence_mode, stereo.convergence_distance * metres,
                         stereo.interocular_distance * metres, stereo.pivot)


def stereo_eyes(scene: bpy.types.Scene, width: int, height: int) -> dict[str, Eye]:
    """Both eyes ("LEFT", "RIGHT") of the scene camera rendering `width` x `height`, as
    Blender's multiview render places them (the pivot's eye is the camera itself)."""
    camera, stereo = blender_camera(scene, width, height), camera_stereo(scene)
    return {eye: stereo_eye(camera, stereo, eye) for eye in ("LEFT", "RIGHT")}


def camera_pose(scene: bpy.types.Scene, camera: bpy.types.Object | None = None) -> np.ndarray:
    """The camera-to-world pose (OpenCV axes, metres) of `camera`, by default the scene camera
    as the scene holds it: at the current frame, except during an animation render, where the
    camera object keeps the frame the render started from (pass the camera evaluated at the
    frame: `camera.evaluated_get(depsgraph)` in a frame-change handler)."""
    pose = blender_matrix_world(np.array((camera or scene_camera(scene)).matrix_world.normalized()))
    pose[:3, 3] *= metres_per_unit(scene)
    return pose
