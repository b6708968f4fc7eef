"""Reading images, depth maps and intrinsics from disk, with errors that name the problem.

Depth formats (metres unless noted): `.npy` (2-D float array), `.exr` (channel Z, Y, R, V or
the only channel), `.pfm` (greyscale), `.png`/`.tif` 16-bit integers times `png_scale`
(default 0.001: millimetres, as most RGB-D sensors; TUM uses 1/5000).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .camera import Intrinsics

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
DEPTH_EXTENSIONS = (".npy", ".exr", ".pfm", ".png", ".tif", ".tiff")
MAX_IMAGE_PIXELS = 250_000_000  # larger images are refused as decompression bombs
DEFAULT_PNG_DEPTH_SCALE = 0.001


class InputError(ValueError):
    """An input file that cannot be used; the message names the file and the problem."""


def read_image(path: str | Path) -> np.ndarray:
    """An image as (H, W, 3) uint8 RGB: greyscale is repeated, alpha dropped, 16-bit scaled."""
    from PIL import Image, ImageOps

    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        with Image.open(path) as im:
            im.load()  # decodes everything: truncated files fail here
            im = ImageOps.exif_transpose(im)  # as image viewers show it (and depth maps are made)
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                grey = np.asarray(im, dtype=np.float64)
                peak = 65535.0 if grey.max() > 255 else 255.0
                rgb = np.repeat(np.clip(grey / peak * 255.0 + 0.5, 0, 255)[..., None], 3, -1)
                return rgb.astype(np.uint8)
            if im.mode == "F":
                raise InputError(f"{path}: floating-point image, not a colour photo")
            return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
    except InputError:
        raise
    except Exception as exc:  # PIL raises many types for broken files
        raise InputError(f"{path}: cannot read image ({type(exc).__name__}: {exc})") from exc


def _read_pfm(path: Path) -> np.ndarray:
    with open(path, "rb") as f:
        kind = f.readline().strip()
        if kind not in (b"Pf", b"PF"):
            raise InputError(f"{path}: not a PFM file")
        width, height = (int(x) for x in f.readline().split())
        scale = float(f.readline())
        channels = 3 if kind == b"PF" else 1
        data = np.fromfile(f, dtype="<f4" if scale < 0 else ">f4")
    if data.size != width * height * channels:
        raise InputError(f"{path}: truncated PFM ({data.size} of {width * height * channels} values)")
    data = data.reshape(height, width, channels)[::-1, :, 0]  # PFM rows run bottom to top
    return data.astype(np.float32)


def _read_exr_depth(path: Path) -> np.ndarray:
    from .exr import read_exr_channels

    channels = read_exr_channels(str(path))
    for name in sorted(channels, key=lambda n: (n.split(".")[-1] not in ("Z", "Y", "R", "V"), n)):
        pixels = channels[name]
        return pixels if pixels.ndim == 2 else pixels[..., 0]
    raise InputError(f"{path}: no readable channels in the EXR file (truncated or damaged?)")


def integer_image(path: str | Path, what: str, dtypes: tuple) -> np.ndarray:
    """The first channel of an integer image (PNG, TIFF) as stored, for maps that hold numbers
    (depth in sensor units, disparity times a divisor); InputError unless its type is one of
    `dtypes`."""
    import cv2

    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise InputError(f"{path}: cannot decode {what} image")
    if raw.ndim == 3:
        raw = raw[..., 0]
    if raw.dtype not in dtypes:
        bits = " or ".join(f"{np.dtype(t).itemsize * 8}-bit" for t in dtypes)
        raise InputError(f"{path}: {what} PNG must be {bits}, got {raw.dtype}")
    return raw


def read_depth(path: str | Path, png_scale: float = DEFAULT_PNG_DEPTH_SCALE) -> np.ndarray:
    """A depth map as (H, W) float32 metres; invalid pixels keep their value (0, NaN, ...)."""
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            depth = np.load(path, allow_pickle=False)
        elif suffix == ".exr":
            depth = _read_exr_depth(path)
        elif suffix == ".pfm":
            depth = _read_pfm(path)
        elif suffix in (".png", ".tif", ".tiff"):
            depth = integer_image(path, "depth", (np.uint16,)).astype(np.float32) * png_scale
        else:
            raise InputError(f"{path}: unknown depth format '{suffix}'")
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"{path}: cannot read depth ({type(exc).__name__}: {exc})") from exc
    depth = np.asarray(depth)
    if depth.ndim == 3 and 1 in (depth.shape[0], depth.shape[-1]):  # (1, H, W) or (H, W, 1)
        depth = depth[0] if depth.shape[0] == 1 else depth[..., 0]
    if not np.issubdtype(depth.dtype, np.number) or depth.dtype == np.bool_:
        raise InputError(f"{path}: depth must be numbers (metres), got {depth.dtype} values")
    if depth.ndim != 2:
        raise InputError(f"{path}: depth must be a 2-D map, got an array of shape {depth.shape}")
    if min(depth.shape) < 2:
        raise InputError(f"{path}: depth map is {depth.shape[1]}x{depth.shape[0]}; it needs at least 2x2 pixels")
    return depth.astype(np.float32)


def read_intrinsics(path: str | Path, width: int, height: int) -> Intrinsics:
    """Intrinsics from JSON {fx, fy, cx, cy[, width, height]} given for a `width`x`height`
    image (or for the JSON's own width/height, then scaled to this image)."""
    try:
        data = json.loads(Path(path).read_text())
        K = Intrinsics(float(data["fx"]), float(data["fy"]), float(data["cx"]), float(data["cy"]),
                       int(data.get("width", width)), int(data.get("height", height)))
    except Exception as exc:
        raise InputError(f"{path}: bad intrinsics ({type(exc).__name__}: {exc})") from exc
    return K.scaled(width / K.width, height / K.height, width, height)


def fill_invalid_depth(depth: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Each invalid pixel takes the depth of its nearest valid pixel (Euclidean distance)."""
    import cv2

    if valid.all():
        return depth.copy()
    _, labels = cv2.distanceTransformWithLabels(valid.astype(np.uint8) ^ 1, cv2.DIST_L2, 5,
                                                labelType=cv2.DIST_LABEL_PIXEL)
    # Labels number the valid (zero-distance) pixels in raster order, from 1.
    valid_values = depth[valid]
    return np.where(valid, depth, valid_values[labels - 1]).astype(np.float32)
