"""The data-generation pipeline rendered with Cycles: `CyclesWarp`, the Cycles renderer of
`stereo_geometry.sample.disocclusion_sample`'s steps (the numpy reference renders the same)."""
from __future__ import annotations

import numpy as np

from stereo_geometry import HoleRule, Intrinsics, grid_mesh, grid_uv, tag_stretched_faces, to_uint8, world_to_camera
from stereo_geometry.camera import transform, unproject_pixels
from stereo_geometry.warp import Reprojection, point_samples, with_bridged_layer

from .renderer import Renderer
from .timing import stage


#: Half the side of the square that draws a point sample over the pixel it covers.
POINT_SQUARE_PX = 0.35
#: Relative depth within which a rendered pixel shows a given point square (the render's float32 depth).
SAME_DEPTH = 1e-5


class CyclesWarp:
    """A `stereo_geometry.sample.Warp` that renders with Cycles: the view's pixel-grid mesh,
    textured with its image (nearest texel), its stretched faces tagged, placed by the source
    pose and rendered once from the target pose. A rule whose stretched faces never hide real
    ones adds its point samples (`warp.point_samples`: a square facing the target camera over
    each pixel one covers, textured with its source pixel) as real faces and lets camera rays pass through the stretched
    faces to any real face behind them: a hole is where a ray meets no real face; the pixels
    that show a square a far corner reaches are `guessed`."""

    def __init__(self, renderer: Renderer) -> None:
        self.renderer = renderer

    def __call__(self, image: np.ndarray, depth: np.ndarray, K: Intrinsics, source_pose: np.ndarray,
                 target_pose: np.ndarray, rule: HoleRule) -> Reprojection:
        if rule.bridge_px:
            return with_bridged_layer(lambda im, de, plain: self(im, de, K, source_pose, target_pose, plain),
                                      image, depth, rule)
        src_to_dst = world_to_camera(target_pose) @ source_pose
        with stage("mesh build"):
            vertices, tris = grid_mesh(depth, K)
            tag = tag_stretched_faces(vertices, tris, K, src_to_dst, rule)
            uv, world = grid_uv(K.height, K.width), transform(vertices, source_pose)
            reached = np.zeros(0, np.int64), np.zeros(0)
            if rule.real_faces_first:
                index, pixel, lagged, reach = point_samples(depth, K, K, src_to_dst, tris[tag], rule)
                reached = pixel[reach], lagged[reach]
                corners = point_squares(pixel, lagged, K)
                first = len(vertices) + 4 * np.arange(len(index))
                squares = np.concatenate([np.stack([first, first + 1, first + 2], 1),
                                          np.stack([first, first + 2, first + 3], 1)])
                world = np.concatenate([world, transform(corners, target_pose)])
                tris = np.concatenate([tris, squares.astype(tris.dtype)])
                uv = np.concatenate([uv, np.repeat(uv[index], 4, axis=0)])
                tag = np.concatenate([tag, np.zeros(len(squares), bool)])
        if K.fy != K.fx:  # Blender cannot write the EXR of a non-square pixel aspect: stretch the scene instead
            world, K = stretched_for_square_pixels(world, K, source_pose, target_pose)
        self.renderer.set_mesh(world, tris, uv, image.astype(np.float32) / 255.0, tag, rule.real_faces_first)
        self.renderer.set_camera(K, target_pose)
        view = self.renderer.render()
        with stage("readback"):
            nearest_tagged = view.tag > 0.5
            real = view.covered if rule.real_faces_first else view.covered & ~nearest_tagged
            rgb = np.where(real[..., None], view.rgb, view.tagged_rgb)
            covered = real | nearest_tagged
            at = view.depth.reshape(-1)[reached[0]]  # a reached square shows where it is the nearest real face
            shows = real.reshape(-1)[reached[0]] & (np.abs(at - reached[1]) <= SAME_DEPTH * reached[1])
            guessed = np.zeros(real.shape, bool)
            guessed.reshape(-1)[reached[0][shows]] = True
            return Reprojection(image=np.where(covered[..., None], to_uint8(rgb), 0).astype(np.uint8),
                                depth=np.where(real, view.depth, np.where(nearest_tagged, view.tagged_depth, 0.0)
                                               ).astype(np.float32),
                                stretched=nearest_tagged & ~real, covered=covered,
                                guessed=guessed if guessed.any() else None)


def point_squares(pixel: np.ndarray, depth: np.ndarray, K: Intrinsics) -> np.ndarray:
    """Camera-space corners (4N, 3) of squares facing the camera K, each at planar `depth`
    (N,) about the centre of its flat `pixel` (N,) and `POINT_SQUARE_PX` pixels from it in
    both axes: a ray through that pixel's centre hits it, one through any other misses."""
    offsets = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * POINT_SQUARE_PX
    centres = np.stack([pixel % K.width, pixel // K.width], 1).astype(np.float64)
    uv = (centres[:, None, :] + offsets[None]).reshape(-1, 2)
    return unproject_pixels(uv[:, 0], uv[:, 1], np.repeat(depth, 4), K)


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
