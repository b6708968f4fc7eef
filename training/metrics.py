"""Image-quality metrics inside the hole and in a ring around it (images in [0, 1])."""
from __future__ import annotations

import math

import cv2
import numpy as np

from stereo_geometry.infill import edge_strips
from stereo_geometry.sample import nearest_valid_along_rows

RING_PIXELS = 4
BLEED_DEPTH_RATIO = 1.1   # the two sides of a hole pixel are a depth edge beyond this ratio
BLEED_MIN_CONTRAST = 0.1  # ... and differ in colour (sum of |RGB| differences) by more than this
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


def foreground_bleed(output: np.ndarray, target: np.ndarray, image: np.ndarray,
                     depth_masked: np.ndarray, region: np.ndarray,
                     min_depth_ratio: float = BLEED_DEPTH_RATIO) -> float:
    """How often a fill takes the foreground's colour where the truth is the background's.

    A disocclusion shows what lies behind a depth edge. For each pixel of `region` (hole
    pixels scored), the nearest known pixels on its row to the left and right are its two
    sides; where their depths differ by more than `min_depth_ratio` they are a near
    (foreground) and a far (background) side. Of the pixels whose truth is closer in colour
    to the far side than to the near side, the fraction whose fill is closer to the near
    side: 0 = no foreground colour in the hole; NaN where no pixel qualifies.
    Images (H, W, 3) in [0, 1] (`image`: the warped input); `depth_masked` 0 in the hole."""
    valid = (depth_masked > 0) & ~np.isnan(depth_masked)
    left, right = nearest_valid_along_rows(valid)
    rows = np.broadcast_to(np.arange(valid.shape[0])[:, None], valid.shape)
    both = region.astype(bool) & (left >= 0) & (right >= 0)
    r, cl, cr = rows[both], left[both], right[both]
    z_left, z_right = depth_masked[r, cl], depth_masked[r, cr]
    edge = np.maximum(z_left, z_right) > min_depth_ratio * np.minimum(z_left, z_right)
    r, cl, cr, z_left, z_right = r[edge], cl[edge], cr[edge], z_left[edge], z_right[edge]
    far_col = np.where(z_left > z_right, cl, cr)
    near_col = np.where(z_left > z_right, cr, cl)
    far, near = image[r, far_col].astype(np.float64), image[r, near_col].astype(np.float64)
    ys, xs = np.nonzero(both)
    ys, xs = ys[edge], xs[edge]
    truth, fill = target[ys, xs].astype(np.float64), output[ys, xs].astype(np.float64)

    def closer_to_near(colour: np.ndarray) -> np.ndarray:
        return ((colour - near) ** 2).sum(-1) < ((colour - far) ** 2).sum(-1)

    background = ~closer_to_near(truth) & (np.abs(far - near).sum(-1) > BLEED_MIN_CONTRAST)
    if not background.any():
        return math.nan
    return float(closer_to_near(fill)[background].mean())


def past_the_edges(hole: np.ndarray) -> np.ndarray:
    """The pixels of a hole mask's row runs that touch the frame's left or right edge: mostly
    the strip beyond the source's field of view (`stereo_geometry.infill.edge_strips`), which
    no view recorded. The rest are the disocclusions proper."""
    left, right = edge_strips(hole)
    columns = np.arange(hole.shape[1])[None]
    return (columns < left[:, None]) | (columns >= hole.shape[1] - right[:, None])


def region_psnr(a: np.ndarray, b: np.ndarray, region: np.ndarray) -> float:
    """`psnr` over `region`, nan where it is empty."""
    return psnr(a, b, region) if region.any() else math.nan


def hole_and_ring_metrics(output: np.ndarray, target: np.ndarray, hole: np.ndarray,
                          sample: dict[str, np.ndarray] | None = None) -> dict[str, float]:
    """Metrics inside the hole ('hole_*', over `hole`: the scored hole pixels), its PSNR
    apart in the disocclusions proper and the strip past the frame's edges ('proper_psnr',
    'strip_psnr': `past_the_edges`; nan where there are none), and in the ring of known
    pixels around it ('ring_*': where seams show); with the `sample` (its warped image, hole
    mask and depth), the ring leaves out all of its hole, the strip is found in all of it,
    and the foreground 'bleed' is added."""
    inside = region_metrics(output, target, hole)
    # the ring is known pixels only: with the sample, none of its hole (scored or not)
    whole_hole = sample["hole_mask"].astype(bool) | hole if sample is not None else hole
    around = region_metrics(output, target, ring(whole_hole))
    strip = past_the_edges(whole_hole)
    metrics = ({f"hole_{k}": v for k, v in inside.items()}
               | {"proper_psnr": region_psnr(output, target, hole & ~strip),
                  "strip_psnr": region_psnr(output, target, hole & strip)}
               | {f"ring_{k}": v for k, v in around.items()})
    if sample is not None:
        image = sample["image_generated_left"].astype(np.float32) / 255.0
        metrics["bleed"] = foreground_bleed(output, target, image, sample["depth_masked"], hole)
    return metrics
