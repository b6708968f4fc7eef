"""The seven steps: an RGB image with metric depth in, a disocclusion training sample out."""
from __future__ import annotations

import numpy as np

from stereo_geometry import (DEFAULT_MAX_ANGLE_DEG, DEFAULT_MIN_GROWTH_PX, Intrinsics, grid_mesh,
                             grid_uv, masked_inputs, stereo_pose, tag_stretched_faces,
                             to_uint8)
from stereo_geometry.camera import transform

from .renderer import Renderer
from .timing import stage


def make_sample(renderer: Renderer, org_left_image: np.ndarray, org_left_depth: np.ndarray,
                K: Intrinsics, baseline: float, toe_in_deg: float = 0.0,
                max_angle_deg: float = DEFAULT_MAX_ANGLE_DEG,
                min_growth_px: float = DEFAULT_MIN_GROWTH_PX) -> dict[str, np.ndarray]:
    """Render the sample arrays of `stereo_geometry.SAMPLE_ARRAYS` with Cycles.

    `org_left_depth` must be finite and positive everywhere (see `prepare.prepare_view`).
    The other eye sits at x = `baseline` (negative: left of the source view).
    """
    with stage("mesh build"):
        uv = grid_uv(K.height, K.width)
        texture = org_left_image.astype(np.float32) / 255.0
        # 1. org_left_mesh: pixel-grid mesh of the source view, textured with its image.
        vertices, tris = grid_mesh(org_left_depth, K)
    renderer.set_mesh(vertices, tris, uv, texture)

    # 2. The other eye.
    pose = stereo_pose(baseline, toe_in_deg)
    renderer.set_camera(K, pose)
    right = renderer.render()
    generated_right_image = to_uint8(right.rgb)
    generated_right_depth = np.where(right.covered, right.depth, 0.0)

    # 3. generated_right_mesh, its stretched faces tagged from the eye that sees it.
    with stage("mesh build"):
        vertices, tris = grid_mesh(generated_right_depth, K)
        tag = tag_stretched_faces(vertices, tris, K, pose, max_angle_deg, min_growth_px)
    renderer.set_mesh(transform(vertices, pose), tris, uv,
                      generated_right_image.astype(np.float32) / 255.0, tag)

    # 4. Back to the source eye, with the tag AOV.
    renderer.set_camera(K, np.eye(4))
    back = renderer.render()
    with stage("readback"):
        covered = back.covered
        hole_mask = ((back.tag > 0.5) | ~covered).astype(np.uint8)
        depth_generated_left = np.where(covered, back.depth, 0.0).astype(np.float32)
        image_generated_left = np.where(covered[..., None], to_uint8(back.rgb), 0)
        masked = masked_inputs(hole_mask, depth_generated_left, K)

    # 5. Targets.
    return {
        "image_generated_left": image_generated_left,
        "hole_mask": hole_mask,
        "depth_generated_left": depth_generated_left,
        **masked,
        "org_left_image": org_left_image,
        "org_left_depth": org_left_depth.astype(np.float32),
    }
