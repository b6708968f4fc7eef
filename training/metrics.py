"""Image-quality metrics inside the hole and in a ring around it (images in [0, 1])."""
from __future__ import annotations

import math

import cv2
import numpy as np

RING_PIXELS = 4
METRICS = ("psnr", "ssim", "l1", "grad")


def ring(hole: np.ndarray, pixels: int = RING_PIXELS) -> np.ndarray:
    """Valid pixels within `pixels` of the hole: where seams show."""
    kernel = np.ones((2 * pixels + 1, 2 * pixels + 1), np.uint8)
    return cv2.dilate(hole.astype(np.uint8), kernel).astype(bool) & ~hole.astype(bool)


def psnr(a: np.ndarray, b: np.ndarray, region: np.ndarray) -> float:
    """Peak signal-to-noise ratio over `region` (all channels), data range 1; inf if equal."""
    mse = float(np.mean((a[region].astype(np.float64) - b[region]) ** 2))
    return math.inf if mse == 0 else -10.0 * math.log10(mse)


def ssim_map(a: np.ndarray, b: np.ndarray, window: int = 7) -> np.ndarray:
    """Per-pixel SSIM (Gaussian window, data range 1), averaged over channels."""
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    a, b = a.astype(np.float64), b.astype(np.float64)

    def blur(x: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(x, (window, window), 1.5, borderType=cv2.BORDER_REFLECT)

    ma, mb = blur(a), blur(b)
    va, vb, cov = blur(a * a) - ma * ma, blur(b * b) - mb * mb, blur(a * b) - ma * mb
    s = ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2))
    return s.mean(axis=-1) if s.ndim == 3 else s


def gradient_error(a: np.ndarray, b: np.ndarray, region: np.ndarray) -> float:
    """Mean absolute difference of horizontal and vertical image gradients over `region`:
    blur and smeared edges show here."""
    errors = []
    for axis in (0, 1):
        da, db = np.diff(a.astype(np.float64), axis=axis), np.diff(b.astype(np.float64), axis=axis)
        r = region[:-1] | region[1:] if axis == 0 else region[:, :-1] | region[:, 1:]
        errors.append(np.abs(da - db)[r])
    values = np.concatenate(errors)
    return float(values.mean()) if values.size else 0.0


def region_metrics(output: np.ndarray, target: np.ndarray, region: np.ndarray) -> dict[str, float]:
    """PSNR, SSIM, L1 and gradient error of `output` against `target` over `region`."""
    region = region.astype(bool)
    if not region.any():
        return {name: math.nan for name in METRICS}
    return {
        "psnr": psnr(output, target, region),
        "ssim": float(ssim_map(output, target)[region].mean()),
        "l1": float(np.abs(output[region].astype(np.float64) - target[region]).mean()),
        "grad": gradient_error(output, target, region),
    }


def hole_and_ring_metrics(output: np.ndarray, target: np.ndarray,
                          hole: np.ndarray) -> dict[str, float]:
    """Metrics inside the hole ('hole_*') and in the ring around it ('ring_*')."""
    inside = region_metrics(output, target, hole)
    around = region_metrics(output, target, ring(hole))
    return {f"hole_{k}": v for k, v in inside.items()} | {f"ring_{k}": v for k, v in around.items()}
