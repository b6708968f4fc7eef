"""Turning a photo with a real depth map into the pipeline's input view.

Invalid depth (0, negative, NaN, inf: what sensors and models leave where they don't know) is
filled from the nearest valid pixel, so the mesh stays whole and unknown regions take the
depth of their nearest known neighbour; a depth map with less than `min_valid` valid pixels is
refused. Depth beyond `max_depth` (sky, far background) is clamped to it.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from stereo_geometry import Intrinsics

from stereo_geometry.readers import InputError, fill_invalid_depth

DEFAULT_MIN_VALID = 0.5
DEFAULT_MAX_DEPTH = 100.0
MIN_DEPTH = 0.05
MAX_CROP_FACTOR = 8  # views whose centre crop would keep less than 1/8 of them are refused


def check_depth_scale(valid_depth: np.ndarray, name: str, max_depth: float = DEFAULT_MAX_DEPTH) -> None:
    """InputError for depth that would make a useless sample: constant (no edges, so no
    disocclusions), mostly beyond `max_depth` (millimetres read as metres?) or mostly closer
    than MIN_DEPTH (metres read as kilometres, or a normalised map?)."""
    median = float(np.median(valid_depth))
    if float(valid_depth.max() - valid_depth.min()) <= 1e-6 * max(median, 1e-12):
        raise InputError(f"{name}: the depth is constant ({median:g} everywhere): no depth edges, "
                         "so no disocclusions")
    if median > max_depth:
        raise InputError(f"{name}: median depth {median:g} m is beyond --max-depth {max_depth:g} m; "
                         "is it in millimetres? (16-bit PNGs: --depth-png-scale 0.001; else convert to metres)")
    if median < MIN_DEPTH:
        raise InputError(f"{name}: median depth {median:g} m is closer than {MIN_DEPTH:g} m; "
                         "is it metric depth in metres (not disparity or a normalised map)?")


def match_depth_size(depth: np.ndarray, height: int, width: int, name: str) -> np.ndarray:
    """Resize a depth map to the image size (nearest neighbour) if the aspect ratios agree."""
    dh, dw = depth.shape
    if (dh, dw) == (height, width):
        return depth
    if abs(dw / dh - width / height) > 0.01 * width / height:
        raise InputError(f"{name}: depth map is {dw}x{dh}, image is {width}x{height}; "
                         "the aspect ratios differ, so they cannot be matched")
    return cv2.resize(depth, (width, height), interpolation=cv2.INTER_NEAREST)


def prepare_view(image: np.ndarray, depth: np.ndarray, K: Intrinsics, width: int, height: int,
                 name: str, min_valid: float = DEFAULT_MIN_VALID,
                 max_depth: float = DEFAULT_MAX_DEPTH) -> tuple[np.ndarray, np.ndarray, Intrinsics]:
    """Scale (square pixels, aspect kept) and centre-crop image, depth and intrinsics to
    `width` x `height`; fill invalid depth. Returns (image uint8, depth float32, K)."""
    h, w = image.shape[:2]
    depth = match_depth_size(depth, h, w, name)
    valid = np.isfinite(depth) & (depth > 0)
    if valid.mean() < min_valid:
        raise InputError(f"{name}: only {valid.mean():.1%} of the depth map is valid "
                         f"(need {min_valid:.0%})")
    check_depth_scale(depth[valid], name, max_depth)
    # Stretch the axis with the smaller focal length so that pixels become square.
    ax, ay = max(K.fy / K.fx, 1.0), max(K.fx / K.fy, 1.0)
    scale = max(width / (w * ax), height / (h * ay))
    new_w = max(width, math.ceil(w * ax * scale - 1e-6))
    new_h = max(height, math.ceil(h * ay * scale - 1e-6))
    if new_w * new_h > MAX_CROP_FACTOR * width * height:
        aspect = f" with pixel aspect fx/fy = {K.fx / K.fy:.3g}" if abs(K.fx / K.fy - 1) > 0.01 else ""
        raise InputError(f"{name}: a {w}x{h} view{aspect} is too far from the {width}x{height} "
                         f"sample's shape (the crop would keep under 1/{MAX_CROP_FACTOR} of it)")
    shrink = new_w * new_h < w * h
    image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    depth = cv2.resize(np.where(valid, depth, 0).astype(np.float32), (new_w, new_h),
                       interpolation=cv2.INTER_NEAREST)
    K = K.scaled(new_w / w, new_h / h, new_w, new_h)
    x0, y0 = (new_w - width) // 2, (new_h - height) // 2
    image = np.ascontiguousarray(image[y0:y0 + height, x0:x0 + width])
    depth = depth[y0:y0 + height, x0:x0 + width]
    K = K.cropped(x0, y0, width, height)
    f = (K.fx + K.fy) / 2  # equal up to the rounding of the new size
    K = Intrinsics(f, f, K.cx, K.cy, width, height)
    valid = depth > 0
    if not valid.any():
        raise InputError(f"{name}: no valid depth inside the cropped view")
    depth = np.clip(fill_invalid_depth(depth, valid), MIN_DEPTH, max_depth)
    return image, depth.astype(np.float32), K
