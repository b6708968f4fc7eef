"""On-screen parallax of a stereo pair, from the rendered depth, the eyes and a display: whether
a viewer can fuse it comfortably.

A pixel's parallax is where its surface point lands in the right eye minus where it lands in
the left (pixels of the frame; positive: behind the screen, negative: in front). Off-Axis
eyes with interocular distance B converging at Zc give f B (1/Zc - 1/Z) for a point at
planar depth Z. Shown on a screen `width_m` wide, p pixels of a W-pixel frame are
P = p width_m / W metres; a viewer with eyes e apart at `distance_m` (V) then converges on the
point at an angle 2 atan((e - P) / (2 V)) against 2 atan(e / (2 V)) on the screen. Two limits:

- divergence: P > e (the eyes would have to turn outwards; nobody fuses that);
- comfort: the angular disparity between the point and the screen within +/- 1 degree, the
  "one-degree rule" of stereoscopic production (Lambooij, IJsselsteijn, Fortuin and
  Heynderickx, "Visual discomfort and visual fatigue of stereoscopic displays: a review",
  Journal of Imaging Science and Technology 53(3), 2009).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from .camera import Eye, Intrinsics, project, transform, unproject, world_to_camera

#: The comfort budget: angular disparity against the screen, degrees.
COMFORT_DEG = 1.0
#: The viewer's eye separation, metres (the adult mean; Dodgson, "Variation and extrema of
#: human interpupillary distance", Proc. SPIE 5291, 2004).
EYE_SEPARATION_M = 0.063


@dataclass(frozen=True)
class Display:
    """A screen `width_m` wide seen from `distance_m` by a viewer with eyes `eye_separation_m`
    apart."""

    name: str
    width_m: float
    distance_m: float
    eye_separation_m: float = EYE_SEPARATION_M

    def __post_init__(self) -> None:
        if not (self.width_m > 0 and self.distance_m > 0 and self.eye_separation_m > 0):
            raise ValueError(f"display {self.name}: width, distance and eye separation must be positive")

    def parallax_m(self, angle_deg: float) -> float:
        """The on-screen parallax (metres) at which a point lies `angle_deg` of angular
        disparity behind the screen (negative: in front)."""
        e, V = self.eye_separation_m, self.distance_m
        screen = 2 * math.atan(e / (2 * V))
        return e - 2 * V * math.tan((screen - math.radians(angle_deg)) / 2)

    def disparity_deg(self, parallax_m: np.ndarray) -> np.ndarray:
        """Angular disparity (degrees, positive behind the screen) of on-screen parallaxes."""
        e, V = self.eye_separation_m, self.distance_m
        return np.degrees(2 * math.atan(e / (2 * V)) - 2 * np.arctan((e - parallax_m) / (2 * V)))


#: Presets: a 27-inch desktop monitor at arm's length, a 65-inch living-room TV, a cinema
#: screen from the middle rows, and a VR headset showing the frame across a 90 degree field of
#: view at its optics' focal distance (1.5 m).
DISPLAYS = {
    "DESKTOP": Display("Desktop monitor", 0.60, 0.65),
    "TV": Display("Living-room TV", 1.44, 2.7),
    "CINEMA": Display("Cinema screen", 12.0, 15.0),
    "VR": Display("VR headset", 3.0, 1.5),
}


def parallax_px(depth: np.ndarray, K: Intrinsics, left: Eye, right: Eye) -> np.ndarray:
    """Each pixel's parallax (H, W) in pixels: its surface point (planar `depth`, intrinsics K
    of the rendered camera) projected into the right eye minus into the left (eyes in the
    camera's frame, intrinsics of the frame)."""
    points = unproject(depth, K)
    u = {}
    for name, eye in (("left", left), ("right", right)):
        u[name], _, _ = project(transform(points, world_to_camera(eye.pose)), eye.K)
    return (u["right"] - u["left"]).astype(np.float32)


@dataclass(frozen=True)
class ParallaxReport:
    """The nearest (most negative) and farthest parallax of a frame, in pixels, in percent of
    the frame's width, in millimetres and degrees of angular disparity on a display, and
    what passes its limits."""

    display: str
    nearest_px: float
    farthest_px: float
    nearest_percent: float
    farthest_percent: float
    nearest_mm: float
    farthest_mm: float
    nearest_deg: float
    farthest_deg: float
    near_limit_px: float       # the comfort budget in front of the screen
    far_limit_px: float        # the comfort budget or divergence behind it, the nearer of the two
    divergence_px: float       # parallax of the viewer's eye separation
    diverging_share: float     # of the pixels, beyond divergence
    beyond_comfort_share: float  # of the pixels, beyond +/- COMFORT_DEG

    @property
    def warnings(self) -> list[str]:
        """One line per limit passed."""
        lines = []
        if self.diverging_share > 0:
            lines.append(f"{self.diverging_share:.1%} of the frame diverges on a {self.display}: far parallax up "
                         f"to {self.farthest_px:.1f} px, wider than the viewer's eyes ({self.divergence_px:.1f} px)")
        if self.beyond_comfort_share > 0:
            lines.append(f"{self.beyond_comfort_share:.1%} of the frame lies beyond the {COMFORT_DEG:g} degree comfort "
                         f"budget on a {self.display} (parallax {self.nearest_px:.1f} to {self.farthest_px:.1f} px; "
                         f"comfortable: {self.near_limit_px:.1f} to {self.far_limit_px:.1f} px)")
        return lines

    def to_dict(self) -> dict:
        return asdict(self) | {"warnings": self.warnings, "comfort_deg": COMFORT_DEG}


def parallax_report(parallax: np.ndarray, display: Display) -> ParallaxReport:
    """`ParallaxReport` of a frame's parallax (`parallax_px`) shown on `display`."""
    width = parallax.shape[1]
    metres_per_px = display.width_m / width
    near, far = float(parallax.min()), float(parallax.max())
    near_limit = display.parallax_m(-COMFORT_DEG) / metres_per_px
    divergence = display.eye_separation_m / metres_per_px
    comfort_far = display.parallax_m(COMFORT_DEG) / metres_per_px
    degrees = display.disparity_deg(np.array([near, far]) * metres_per_px)
    return ParallaxReport(
        display=display.name, nearest_px=near, farthest_px=far,
        nearest_percent=100 * near / width, farthest_percent=100 * far / width,
        nearest_mm=1000 * near * metres_per_px, farthest_mm=1000 * far * metres_per_px,
        nearest_deg=float(degrees[0]), farthest_deg=float(degrees[1]),
        near_limit_px=near_limit, far_limit_px=min(comfort_far, divergence), divergence_px=divergence,
        diverging_share=float((parallax > divergence).mean()),
        beyond_comfort_share=float(((parallax < near_limit) | (parallax > comfort_far)).mean()))


def parallax_heat_map(parallax: np.ndarray, report: ParallaxReport) -> np.ndarray:
    """(H, W, 3) uint8: behind the screen blue, in front red, each brighter towards its limit;
    past a limit (comfort or divergence) yellow; at the screen black."""
    far = np.clip(parallax / max(report.far_limit_px, 1e-6), 0, 1)
    near = np.clip(parallax / min(report.near_limit_px, -1e-6), 0, 1)
    heat = np.zeros(parallax.shape + (3,), np.float32)
    heat[..., 0] = 0.25 + 0.75 * near
    heat[..., 2] = 0.25 + 0.75 * far
    heat[..., [0, 2]] *= ((near > 0) | (far > 0))[..., None]
    over = (parallax > report.far_limit_px) | (parallax < report.near_limit_px)
    heat[over] = (1.0, 1.0, 0.0)
    return np.round(heat * 255).astype(np.uint8)
