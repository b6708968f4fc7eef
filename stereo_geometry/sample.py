"""The disocclusion training sample: what the network sees and what it must produce, and the
network's 8-channel input built from it.

`disocclusion_sample` runs the pipeline's steps once, with a renderer passed in: numpy's
(`numpy_warp`, the reference) or Cycles' (`datagen_bpy.pipeline.CyclesWarp`). "left" is the
source view of a sample; its other eye sits at x = +baseline (a negative baseline puts the
other eye on the left: the left/right swap).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .camera import Intrinsics, stereo_pose, world_to_camera
from .mesh import DEFAULT_HOLE_RULE, HoleRule, normals_from_depth
from .warp import Reprojection, reproject

#: Arrays of a sample, in the order the network input is built from the first four.
SAMPLE_ARRAYS = (
    "image_generated_left",    # (H, W, 3) uint8: warped image, wrong colours inside holes
    "hole_mask",               # (H, W) uint8: 1 = hole
    "normals_left_masked",     # (H, W, 3) float16: camera-space normals inside holes, else 0
    "depth_masked",            # (H, W) float32: warped depth, 0 inside holes
    "depth_generated_left",    # (H, W) float32: warped depth everywhere (0 = no geometry)
    "normals_generated_left",  # (H, W, 3) float16: normals of depth_generated_left
    "org_left_image",          # (H, W, 3) uint8: target
    "org_left_depth",          # (H, W) float32: target for depth infill
)


def masked_inputs(hole_mask: np.ndarray, depth_generated: np.ndarray,
                  K: Intrinsics) -> dict[str, np.ndarray]:
    """Normals of the warped depth (everywhere, and inside holes only) and the depth with
    holes zeroed: the geometric channels of the network input."""
    hole = hole_mask.astype(bool)
    normals = normals_from_depth(depth_generated, K)
    return {
        "normals_generated_left": normals.astype(np.float16),
        "normals_left_masked": np.where(hole[..., None], normals, 0).astype(np.float16),
        "depth_masked": np.where(hole, 0, depth_generated).astype(np.float32),
    }


def warped_inputs(warp: Reprojection, K: Intrinsics) -> dict[str, np.ndarray]:
    """What the network sees of a reprojection into camera K, named as in a sample: the warped
    image, its hole mask, the normals of its depth inside the holes (computed there only,
    float16 as stored in samples) and its depth outside them. `network_input(**...)` takes it."""
    hole_mask = warp.hole_mask
    hole = hole_mask.astype(bool)
    return {
        "image_generated_left": warp.image,
        "hole_mask": hole_mask,
        "normals_left_masked": normals_from_depth(warp.depth, K, where=hole).astype(np.float16),
        "depth_masked": np.where(hole, 0, warp.depth).astype(np.float32),
    }


#: A renderer of a view's pixel-grid mesh into another camera: (image, depth, K, source pose,
#: target pose, hole rule) -> its `Reprojection` (stretched faces tagged from the source
#: view's mesh, holes as the rule says). `numpy_warp` is the reference; `datagen_bpy.pipeline.CyclesWarp`
#: renders the same with Cycles.
Warp = Callable[[np.ndarray, np.ndarray, Intrinsics, np.ndarray, np.ndarray, HoleRule], Reprojection]


def numpy_warp(image: np.ndarray, depth: np.ndarray, K: Intrinsics, source_pose: np.ndarray,
               target_pose: np.ndarray, rule: HoleRule) -> Reprojection:
    """The reference renderer (`warp.reproject`) as a `Warp`."""
    return reproject(image, depth, K, K, world_to_camera(target_pose) @ source_pose, rule)


def disocclusion_sample(image: np.ndarray, depth: np.ndarray, K: Intrinsics, baseline: float,
                        toe_in_deg: float = 0.0, rule: HoleRule = DEFAULT_HOLE_RULE,
                        warp: Warp = numpy_warp) -> dict[str, np.ndarray]:
    """The data-generation pipeline, rendered by `warp` (numpy by default, Cycles in
    `datagen_bpy`): 1. the source view's pixel-grid mesh, 2. rendered from the other eye, 3.
    that render's mesh, its stretched faces tagged, 4. rendered back to the source eye, 5. the
    sample arrays (`SAMPLE_ARRAYS`): the warped view, its hole mask (`rule`'s),
    its geometric channels and the source view as the target."""
    pose = stereo_pose(baseline, toe_in_deg)
    right = warp(image, depth, K, np.eye(4), pose, rule)
    back = warp(right.image, right.depth, K, pose, np.eye(4), rule)
    hole_mask = back.hole_mask
    return {
        "image_generated_left": back.image,
        "hole_mask": hole_mask,
        "depth_generated_left": back.depth,
        **masked_inputs(hole_mask, back.depth, K),
        "org_left_image": image,
        "org_left_depth": depth.astype(np.float32),
    }


def to_uint8(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] (an image, a render, a network's output) as rounded, clipped uint8."""
    return np.clip(np.round(values * 255.0), 0, 255).astype(np.uint8)


def _known_inverse_depth(depth: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The `valid` pixels with depth, and their inverse depth (float32)."""
    ok = valid & (depth > 0)
    return ok, 1.0 / depth[ok].astype(np.float32)


def _median_or_one(inverse: np.ndarray) -> float:
    return float(np.median(inverse)) if inverse.size else 1.0


def inverse_depth_scale(depth: np.ndarray, valid: np.ndarray) -> float:
    """The median inverse depth over the `valid` pixels with depth (1 where there are none):
    what `normalise_depth` divides by."""
    return _median_or_one(_known_inverse_depth(depth, valid)[1])


def normalise_depth(depth: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Inverse depth divided by `inverse_depth_scale` (0 where not `valid` or no depth):
    scale-free."""
    normalised = np.zeros_like(depth, dtype=np.float32)
    ok, inverse = _known_inverse_depth(depth, valid)
    if inverse.size:
        normalised[ok] = inverse / np.float32(_median_or_one(inverse))
    return normalised


def nearest_valid_along_rows(valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each pixel, the column of the nearest valid pixel to its left and to its right in
    the same row (-1 where there is none)."""
    h, w = valid.shape
    cols = np.broadcast_to(np.arange(w), (h, w))
    left = np.maximum.accumulate(np.where(valid, cols, -1), axis=1)
    right_rev = np.maximum.accumulate(np.where(valid[:, ::-1], cols, -1), axis=1)
    right = np.where(right_rev >= 0, w - 1 - right_rev, -1)[:, ::-1]
    return left, right


#: (vertical, horizontal) mirrors, in the order `flip_averaged` uses them.
MIRRORS = ((False, False), (True, False), (False, True), (True, True))


def negated_normals(vertical: bool, horizontal: bool) -> list[int]:
    """The input channels a mirror negates: the normals' x (channel 4) for a horizontal
    mirror, their y (channel 5) for a vertical one."""
    return [channel for channel, mirrored in ((4, horizontal), (5, vertical)) if mirrored]


def mirror_input(x: np.ndarray, vertical: bool, horizontal: bool) -> np.ndarray:
    """A network input (..., 8, H, W) seen in a mirror (a new array): rows (`vertical`) and/or
    columns reversed, the normals' y or x negated, so that it is the input of the mirrored
    scene (with the other eye on the other side for a horizontal mirror)."""
    view = x[..., ::-1, :] if vertical else x
    out = np.array(view[..., ::-1] if horizontal else view)
    for channel in negated_normals(vertical, horizontal):
        out[..., channel, :, :] *= -1
    return out


#: A network that runs on its input seen in a mirror: (x, vertical, horizontal) -> its output
#: for `mirror_input(x, vertical, horizontal)`, in the mirror's coordinates. `mirroring` makes
#: one of any network; a runtime may read the mirror in place instead (`OnnxInfill.run_once`).
MirroredNetwork = Callable[[np.ndarray, bool, bool], np.ndarray]


def mirroring(network) -> MirroredNetwork:
    """`network` as a `MirroredNetwork` (one copy of the input per mirror)."""
    def run(x: np.ndarray, vertical: bool, horizontal: bool) -> np.ndarray:
        return network(mirror_input(x, vertical, horizontal) if vertical or horizontal else x)
    return run


def flip_averaged(network: MirroredNetwork, flips: int):
    """The (N, 8, H, W) -> (N, C, H, W) fill averaged over the first `flips` of `MIRRORS` of
    its input (1: the input as it is), each of `network`'s outputs mirrored back."""
    if flips not in (1, 2, 4):
        raise ValueError(f"test-time flips must be 1, 2 or 4, got {flips}")
    if flips == 1:
        return lambda x: network(x, False, False)

    def run(x: np.ndarray) -> np.ndarray:
        total = np.array(network(x, False, False), dtype=np.float32)
        for vertical, horizontal in MIRRORS[1:flips]:  # one at a time: a batch of four is slower on a CPU
            out = network(x, vertical, horizontal)
            out = out[..., ::-1, :] if vertical else out
            total += out[..., ::-1] if horizontal else out
        return total / np.float32(flips)
    return run


def network_input(image_generated_left: np.ndarray, hole_mask: np.ndarray,
                  normals_left_masked: np.ndarray, depth_masked: np.ndarray) -> np.ndarray:
    """The 8-channel (8, H, W) float32 input, channel planes contiguous: RGB in [0, 1], hole
    mask, normals inside holes, normalised inverse depth outside holes."""
    hole = hole_mask.astype(bool)
    x = np.empty((8,) + hole.shape, np.float32)
    np.divide(image_generated_left.transpose(2, 0, 1), np.float32(255.0), out=x[:3], dtype=np.float32)
    x[3] = hole
    x[4:7] = normals_left_masked.transpose(2, 0, 1)
    x[7] = normalise_depth(depth_masked.astype(np.float32), ~hole)
    return x
