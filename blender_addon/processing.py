"""The add-on's work without bpy: colour, depth clean-up, output layouts."""
from __future__ import annotations

import numpy as np

FAR_DEPTH = 1000.0  # metres; Blender's "no hit" depth (1e10) and beyond are clamped here


def linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    """Linear scene values to sRGB-encoded [0, 1] (what the network was trained on)."""
    x = np.clip(linear, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)


def srgb_to_linear(srgb: np.ndarray) -> np.ndarray:
    x = np.clip(srgb, 0.0, 1.0)
    return np.where(x <= 0.04045, x / 12.92, np.power((x + 0.055) / 1.055, 2.4))


def pixels_bottom_up(srgb: np.ndarray, linear: bool) -> np.ndarray:
    """An (H, W, 3) uint8 sRGB image as the flat RGBA float32 buffer of an image datablock
    (rows bottom up, alpha 1), in linear light (`linear`, a float image) or as sRGB values
    (a byte image). One table lookup per pixel; no other full-frame copy."""
    h, w = srgb.shape[:2]
    codes = np.arange(256) / 255.0
    table = (srgb_to_linear(codes) if linear else codes).astype(np.float32)
    rgba = np.empty((h, w, 4), dtype=np.float32)
    rgba[..., 3] = 1.0
    np.take(table, srgb[::-1], out=rgba[..., :3])
    return rgba.reshape(-1)


def clean_depth(depth: np.ndarray) -> np.ndarray:
    """Planar depth with no-hit and invalid pixels pushed to FAR_DEPTH (no disparity)."""
    depth = np.where(np.isfinite(depth) & (depth > 0), depth, FAR_DEPTH)
    return np.minimum(depth, FAR_DEPTH).astype(np.float32)


def layout(source: np.ndarray, other: np.ndarray, made_eye: str, mode: str) -> np.ndarray:
    """The output image: the other eye alone, both side by side (left | right), or a red-cyan
    anaglyph (red from the left eye, green and blue from the right)."""
    if mode == "OTHER_EYE":
        return other
    left, right = (source, other) if made_eye == "RIGHT" else (other, source)
    if mode == "SIDE_BY_SIDE":
        return np.concatenate([left, right], axis=1)
    if mode == "ANAGLYPH":
        return np.concatenate([left[..., :1], right[..., 1:3]], axis=-1)
    raise ValueError(f"unknown output mode {mode}")
