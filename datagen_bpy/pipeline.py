"""The data-generation pipeline rendered with Cycles: `CyclesWarp`, the Cycles renderer of
`stereo_geometry.sample.disocclusion_sample`'s steps (the numpy reference renders the same)."""
from __future__ import annotations

import numpy as np

from stereo_geometry import Intrinsics, grid_mesh, grid_uv, tag_stretched_faces, to_uint8, world_to_camera
from stereo_geometry.camera import transform
from stereo_geometry.warp import Reprojection

from .renderer import Renderer
from .timing import stage


class CyclesWarp:
    """A `stereo_geometry.sample.Warp` that renders with Cycles: the view's pixel-grid mesh,
    textured with its image (nearest texel) and carrying its stretched-face tags as an AOV,
    placed by the source pose and rendered from the target pose."""

    def __init__(self, renderer: Renderer) -> None:
        self.renderer = renderer

    def __call__(self, image: np.ndarray, depth: np.ndarray, K: Intrinsics, source_pose: np.ndarray,
                 target_pose: np.ndarray, max_angle_deg: float, min_growth_px: float) -> Reprojection:
        with stage("mesh build"):
            vertices, tris = grid_mesh(depth, K)
            tag = tag_stretched_faces(vertices, tris, K, world_to_camera(target_pose) @ source_pose,
                                      max_angle_deg, min_growth_px)
        world = transform(vertices, source_pose)
        square = K
        if K.fy != K.fx:  # Blender cannot write the EXR of a non-square pixel aspect: stretch the scene instead
            world, square = stretched_for_square_pixels(world, K, source_pose, target_pose)
        self.renderer.set_mesh(world, tris, grid_uv(K.height, K.width), image.astype(np.float32) / 255.0, tag)
        self.renderer.set_camera(square, target_pose)
        view = self.renderer.render()
        with stage("readback"):
            covered = view.covered
            return Reprojection(image=np.where(covered[..., None], to_uint8(view.rgb), 0).astype(np.uint8),
                                depth=np.where(covered, view.depth, 0.0).astype(np.float32),
                                stretched=covered & (view.tag > 0.5), covered=covered)


def stretched_for_square_pixels(world: np.ndarray, K: Intrinsics, *poses: np.ndarray) -> tuple[np.ndarray, Intrinsics]:
    """World points and square-pixel intrinsics (fy := fx) whose render equals that of the
    non-square K: the world's y scaled by fy / fx, exact for cameras whose y axis is the
    world's and that sit at y = 0 (every rig of this project: baselines along x, toe-in about
    y). Blender 5.0.1 writes no multilayer EXR at a pixel aspect other than 1."""
    for pose in poses:
        if not (np.allclose(pose[1, :3], (0, 1, 0)) and np.allclose(pose[:3, 1], (0, 1, 0)) and pose[1, 3] == 0):
            raise ValueError("fx != fy renders need cameras whose y axis is the world's, at y = 0")
    stretched = world.copy()
    stretched[:, 1] *= K.fy / K.fx
    return stretched, Intrinsics(K.fx, K.fx, K.cx, K.cy, K.width, K.height)
