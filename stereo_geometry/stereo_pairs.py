"""Rectified stereo pairs with ground-truth disparity, and their real disocclusions.

A scene folder (the layout of ../shared/data/realstereo and ../shared/data/train/stereo)
holds `scene.json` (`left`, `right`, `disp_left`, optional `disp_right` file names,
`disp_divisor`: pixels = stored value / divisor, 0 = unknown; convention x_right = x_left -
d_left, x_left = x_right + d_right) and optionally `SOURCE.txt`, which for Middlebury 2014
scenes quotes `calib.txt` (focal length, principal points, doffs, baseline in mm).

A pair gives two kinds of training material:
- a view with metric depth (`view_depth`): Z = f B / (d + doffs);
- a real disocclusion (`reprojected_pair`): one view reprojected into the other camera with
  the geometry core (the holes the add-on makes), with the other camera's real photograph as
  the target.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from .camera import Intrinsics, translation, world_to_camera
from .mesh import DEFAULT_HOLE_RULE, HoleRule
from .readers import InputError, fill_invalid_depth, integer_image, read_image
from .sample import masked_inputs
from .warp import reproject

#: Rig assumed where a scene gives no calibration: an eye-to-eye baseline and f = image width
#: (any f B product reproduces the disparity exactly).
DEFAULT_BASELINE_M = 0.063
DEFAULT_FOCAL_PER_WIDTH = 1.0

_CALIB = re.compile(r"cam0=\[\s*([\d.]+)\s+0\s+([\d.]+)\s*;\s*0\s+[\d.]+\s+([\d.]+).*?"
                    r"cam1=\[\s*[\d.]+\s+0\s+([\d.]+).*?baseline=\s*([\d.]+)", re.S)


@dataclass(frozen=True)
class Rig:
    """A rectified rig in pixels of the stored images: focal length, the two principal points
    (cx differs by doffs in Middlebury 2014), the common cy and the baseline in metres."""

    f: float
    cx_left: float
    cx_right: float
    cy: float
    baseline: float

    @property
    def doffs(self) -> float:
        return self.cx_right - self.cx_left

    def intrinsics(self, eye: str, width: int, height: int) -> Intrinsics:
        cx = self.cx_left if eye == "left" else self.cx_right
        return Intrinsics(self.f, self.f, cx, self.cy, width, height)

    def scaled(self, s: float) -> "Rig":
        """The rig of the images resized by `s` (pixel-centre exact)."""
        return replace(self, f=self.f * s, cx_left=(self.cx_left + 0.5) * s - 0.5,
                       cx_right=(self.cx_right + 0.5) * s - 0.5, cy=(self.cy + 0.5) * s - 0.5)


@dataclass
class StereoScene:
    name: str
    left: np.ndarray          # (H, W, 3) uint8
    right: np.ndarray         # (H, W, 3) uint8
    disp_left: np.ndarray     # (H, W) float32 pixels, 0 = unknown
    disp_right: np.ndarray | None
    rig: Rig
    calibrated: bool          # the rig comes from the scene's calibration

    def view(self, eye: str) -> tuple[np.ndarray, np.ndarray | None]:
        """Image and disparity (None if not given) of one eye."""
        return (self.left, self.disp_left) if eye == "left" else (self.right, self.disp_right)

    def resized(self, s: float) -> "StereoScene":
        """The scene at `s` times its size: images by area, disparity by nearest neighbour
        (edges stay sharp, unknown stays unknown) times `s`."""
        if s == 1.0:
            return self
        h, w = self.disp_left.shape
        size = (max(8, round(w * s)), max(8, round(h * s)))

        def image(a: np.ndarray) -> np.ndarray:
            return cv2.resize(a, size, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)

        def disparity(d: np.ndarray | None) -> np.ndarray | None:
            return None if d is None else cv2.resize(d, size, interpolation=cv2.INTER_NEAREST) * np.float32(s)

        return replace(self, left=image(self.left), right=image(self.right),
                       disp_left=disparity(self.disp_left), disp_right=disparity(self.disp_right),
                       rig=self.rig.scaled(size[0] / w))


def read_disparity(path: Path, divisor: float) -> np.ndarray:
    """Disparity in pixels from an 8/16-bit PNG (stored value / divisor) or a float .npy;
    0 = unknown (so are NaN, inf and negative values)."""
    if path.suffix.lower() == ".npy":
        try:
            raw = np.load(path, allow_pickle=False)
        except Exception as exc:
            raise InputError(f"{path}: cannot read disparity ({type(exc).__name__}: {exc})") from exc
    else:
        raw = integer_image(path, "disparity", (np.uint8, np.uint16))
    disparity = raw.astype(np.float32) / np.float32(divisor)
    if disparity.ndim != 2:
        raise InputError(f"{path}: disparity must be a 2-D map, got shape {disparity.shape}")
    disparity[~np.isfinite(disparity) | (disparity < 0)] = 0
    return disparity


def read_rig(folder: Path) -> Rig | None:
    """The calibration quoted in SOURCE.txt (Middlebury 2014 calib.txt), or None."""
    source = folder / "SOURCE.txt"
    match = _CALIB.search(source.read_text(errors="replace")) if source.is_file() else None
    if match is None:
        return None
    f, cx0, cy, cx1, baseline_mm = (float(g) for g in match.groups())
    return Rig(f, cx0, cx1, cy, baseline_mm / 1000.0)


def default_rig(width: int, height: int) -> Rig:
    f = DEFAULT_FOCAL_PER_WIDTH * width
    return Rig(f, (width - 1) / 2, (width - 1) / 2, (height - 1) / 2, DEFAULT_BASELINE_M)


def load_scene(folder: Path) -> StereoScene:
    """Read a scene folder (named by the folder, whatever its scene.json says); InputError
    naming the file if something cannot be used: a scene.json that is not an object of file
    names and a positive `disp_divisor`, images or disparities of other sizes, no known
    disparity."""
    folder = Path(folder)
    where = folder / "scene.json"
    try:
        meta = json.loads(where.read_text())
        divisor = float(meta["disp_divisor"])
        left, right, disp_left = (str(meta[key]) for key in ("left", "right", "disp_left"))
    except Exception as exc:
        raise InputError(f"{where}: cannot use it ({type(exc).__name__}: {exc})") from exc
    if not divisor > 0:
        raise InputError(f"{where}: disp_divisor must be positive, got {divisor:g}")
    disp_right = meta.get("disp_right")
    left_image, right_image = read_image(folder / left), read_image(folder / right)
    disparity = read_disparity(folder / disp_left, divisor)
    h, w = disparity.shape
    right_disparity = None
    if disp_right and (folder / str(disp_right)).is_file():
        right_disparity = read_disparity(folder / str(disp_right), divisor)
    for path, a in ((folder / left, left_image), (folder / right, right_image),
                    (folder / str(disp_right), right_disparity)):
        if a is not None and a.shape[:2] != (h, w):
            raise InputError(f"{path}: {a.shape[1]}x{a.shape[0]}, but the left disparity is {w}x{h}")
    if not (disparity > 0).any():
        raise InputError(f"{folder / disp_left}: no known disparity (all zero)")
    if right_disparity is not None and not (right_disparity > 0).any():
        raise InputError(f"{folder / str(disp_right)}: no known disparity (all zero)")
    rig = read_rig(folder)
    return StereoScene(name=folder.name, left=left_image, right=right_image, disp_left=disparity,
                       disp_right=right_disparity, rig=rig or default_rig(w, h), calibrated=rig is not None)


def find_scenes(root: Path) -> list[Path]:
    return sorted(p.parent for p in Path(root).glob("*/scene.json"))


def view_depth(disparity: np.ndarray, rig: Rig) -> np.ndarray:
    """Planar depth Z = f B / (d + doffs) where d is known; elsewhere the nearest known
    pixel's depth."""
    valid = disparity > 0
    if not valid.any():
        raise InputError("no known disparity")
    depth = np.where(valid, rig.f * rig.baseline / np.maximum(disparity + rig.doffs, 1e-6), 0)
    return fill_invalid_depth(depth.astype(np.float32), valid)


def reprojected_pair(scene: StereoScene, source_eye: str = "left",
                     rule: HoleRule = DEFAULT_HOLE_RULE) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The source eye's view reprojected into the other camera with the geometry core (the
    surfaces' colours interpolated, as `infill.other_eye` does), as the sample arrays the
    methods and the network take, with the other eye's photograph as `org_left_image` (the
    target; "left" names the reconstructed view in the sample format) and `org_left_depth`
    (its depth where its disparity is known, else 0). Also returns
    where the target is known to be right: where the other eye's disparity is known, if
    given, else everywhere."""
    other_eye = "right" if source_eye == "left" else "left"
    image, disparity = scene.view(source_eye)
    target, target_disparity = scene.view(other_eye)
    if disparity is None:
        raise InputError(f"{scene.name}: no {source_eye} disparity")
    h, w = disparity.shape
    K_src, K_dst = scene.rig.intrinsics(source_eye, w, h), scene.rig.intrinsics(other_eye, w, h)
    # The right camera sits at +baseline along x of the left one.
    offset = scene.rig.baseline if source_eye == "left" else -scene.rig.baseline
    src_to_dst = world_to_camera(translation(offset))
    warp = reproject(image, view_depth(disparity, scene.rig), K_src, K_dst, src_to_dst, rule, interpolate=True)
    hole = warp.hole_mask
    known = np.ones((h, w), bool) if target_disparity is None else target_disparity > 0
    target_depth = (np.zeros((h, w), np.float32) if target_disparity is None
                    else np.where(known, view_depth(target_disparity, scene.rig), 0).astype(np.float32))
    sample = {"image_generated_left": warp.image, "hole_mask": hole,
              "depth_generated_left": warp.depth, **masked_inputs(hole, warp.depth, K_dst),
              "org_left_image": target, "org_left_depth": target_depth}
    return sample, known
