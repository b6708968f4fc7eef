"""Colour and depth as the network takes them from a renderer: display-referred 8-bit colour
(what a viewer sees), finite planar depth."""
from __future__ import annotations

import numpy as np

#: Metres given to pixels without a surface (a renderer's "no hit", sky): no visible disparity.
FAR_DEPTH = 1000.0


def linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    """Linear values as Blender's Standard view transform shows them: the sRGB curve, clipped
    to [0, 1]."""
    x = np.clip(linear, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)


def srgb_to_linear(srgb: np.ndarray) -> np.ndarray:
    """The inverse of `linear_to_srgb` on [0, 1]."""
    x = np.clip(srgb, 0.0, 1.0)
    return np.where(x <= 0.04045, x / 12.92, np.power((x + 0.055) / 1.055, 2.4))


def finite_depth(depth: np.ndarray) -> np.ndarray:
    """Planar depth (float32) with no-hit, invalid and farther pixels at `FAR_DEPTH`."""
    depth = np.where(np.isfinite(depth) & (depth > 0), depth, FAR_DEPTH)
    return np.minimum(depth, FAR_DEPTH).astype(np.float32)
