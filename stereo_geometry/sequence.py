"""Making the eyes of a sequence of frames, each filled first from the frames that saw it:
the one driver of every job that makes eyes (a single view is a sequence of one).

A `Frame` is one render (image, planar depth, intrinsics, camera pose; possibly rendered
wider than the frame: `margins`) and the eyes to make from it (`Eye`: intrinsics of the frame
and pose in the camera's frame). A sequence folder (`read_frame`) holds, per frame,
`NNNN.png` (the view), `NNNN_depth.npy` (float32 planar depth in metres; or `NNNN_depth.exr`)
and `NNNN.json`: `{"fx", "fy", "cx", "cy", "camera_to_world"}`, the last a 4x4 row-major
matrix in metres with OpenCV camera axes (x right, y down, z forward).

For frame t and an eye (`SequenceInfill.step`):
1. its own view is reprojected into the eye (the holes of the rule the network was trained
   on, `infill.hole_rule_of`; what it sees of the surfaces interpolated);
2. the views of the frames of its window (of the frames near it in time, those taken nearest
   the eye: `SequenceDriver`) are reprojected into the same camera with their depth and pose,
   colours interpolated over their faces; a hole pixel that some of them show as a surface
   (covered, none of their stretched faces in front: `NEIGHBOUR_RULE`; on a face whose
   corners lie on one surface: `SURFACE_SPREAD`) takes the mean of their colours and depths
   (so does a pixel the rule guessed: `Reprojection.guessed`, behind a thin structure or beside an edge)
   (of those near the eye, `NEAR_FIRST`, where one of them shows it),
   their pixels beside a nearer surface (mixed colours in an antialiased render) counting
   less the more the neighbour sees that surface displaced against the eye (`mixed_weight`);
   where most of the frames that show anything there give a point sample of a depth edge's
   pixel in front of it (a rope, a wire, a silhouette's rim: no face of theirs is kept,
   `THIN_AGREEMENT`), the mean of those points instead;
3. with `carry` > 0, the previous frame's result (its eye, the filled holes' depth taken from
   the far side) is reprojected too: where it covers a hole that no frame saw, it is blended
   with the network's fill (off by default: on every measured sequence it cost hole PSNR and
   did not lower the temporal error);
4. the network fills what is left, seeing the pixels that other frames supplied as known.

`SequenceDriver` runs it over frames by index: a rolling window of frames (`FrameWindow`,
each read once while within the window; only the earlier frames where later ones do not
exist yet, as while an animation renders), one `SequenceInfill` per eye, a write callback,
and a frame that cannot be read, made or written named and not carried into the next.

Static scenes: what a frame saw from the eye's own place is copied exactly. Moving objects
are left to the network where they would show wrongly: inside a hole at a depth edge (off its
rim) a neighbour's surface is taken only if it lies behind the hole's near (occluding) edge
(`occluding_edge_depth`, `NEAR_SIDE_MARGIN`), as what a disocclusion reveals must; a moving
object seen at its old place, in front of that edge, is not. No motion vectors (Blender's
Vector pass) are used: a moving object's old place that lies behind the edge (a far object
moving) can still show; set `window=0` for such shots.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from .camera import Eye, Intrinsics, world_to_camera
from .sample import nearest_valid_along_rows, network_input, to_uint8, warped_inputs
from .warp import Reprojection, point_samples, reproject

from .infill import Network, fill_depth, fill_past_the_edges, hole_rule_of
from .mesh import HOLE_RULES, POINT_LAG

FRAME_NAME = re.compile(r"^(\d+)\.png$", re.IGNORECASE)


@dataclass
class Frame:
    """One render and the eyes to make from it."""

    image: np.ndarray   # (H, W, 3) uint8, margins included
    depth: np.ndarray   # (H, W) float32, finite and positive
    K: Intrinsics       # of the render, margins included
    pose: np.ndarray    # 4x4 camera-to-world, OpenCV axes
    eyes: dict[str, Eye] = field(default_factory=dict)  # name -> the eye (intrinsics of the frame)
    margins: tuple[int, int] = (0, 0)  # columns rendered beyond the frame's left and right edges

    @cached_property
    def nearer_gap(self) -> np.ndarray:
        """`nearer_surface_gap` of the frame's depth, computed once."""
        return nearer_surface_gap(self.depth)

    @cached_property
    def edge_pixels(self) -> np.ndarray:
        """`depth_edge_pixels` of the frame's depth, computed once."""
        return depth_edge_pixels(self.depth)

    def in_frame(self, array: np.ndarray) -> np.ndarray:
        """An (H, W, ...) array of the render without its margins: the camera's own view."""
        left, right = self.margins
        return array[:, left:array.shape[1] - right]

    @property
    def frame_K(self) -> Intrinsics:
        """The intrinsics of the frame (the render without its margins)."""
        left, right = self.margins
        return self.K.cropped(left, 0, self.K.width - left - right, self.K.height)


@dataclass
class FilledFrame:
    """An eye made from a frame."""

    image: np.ndarray        # (H, W, 3) uint8, holes filled
    warped: np.ndarray       # (H, W, 3) uint8, the frame's own view reprojected, before any fill
    hole_mask: np.ndarray    # (H, W) uint8, 1 where the own view left a hole
    from_frames: np.ndarray  # (H, W) uint8, 1 where another frame filled the hole
    depth: np.ndarray        # (H, W) float32 metres: what no frame saw from the depth network or the far side


def frame_images(folder: str | Path) -> dict[int, Path]:
    """Frame number -> image of every NNNN.png (any case) of a sequence folder, in ascending
    order; ValueError naming both files where two are one frame (3.png and 0003.png)."""
    found: dict[int, Path] = {}
    for path in sorted(Path(folder).iterdir()):
        if m := FRAME_NAME.match(path.name):
            number = int(m.group(1))
            if number in found:
                raise ValueError(f"{found[number]} and {path} are both frame {number}: rename one")
            found[number] = path
    return dict(sorted(found.items()))


def checked_pose(pose: np.ndarray, where: str) -> np.ndarray:
    """A camera-to-world pose that is a rigid transform (finite, rotation orthonormal with
    determinant +1 within 1e-4, bottom row 0 0 0 1), else ValueError naming `where`."""
    if pose.shape != (4, 4) or not np.isfinite(pose).all():
        raise ValueError(f"{where}: camera_to_world must be 16 finite numbers")
    rotation = pose[:3, :3]
    if (np.abs(rotation.T @ rotation - np.eye(3)).max() > 1e-4 or abs(np.linalg.det(rotation) - 1) > 1e-4
            or not np.allclose(pose[3], (0, 0, 0, 1), atol=1e-6)):
        raise ValueError(f"{where}: camera_to_world is not a rigid transform (its rotation must be "
                         "orthonormal with determinant +1 and its last row 0 0 0 1)")
    return pose


def checked_intrinsics(K: Intrinsics, where: str) -> Intrinsics:
    """Intrinsics with finite positive focal lengths and a finite principal point within the
    image's own size of it, else ValueError naming `where`."""
    values = (K.fx, K.fy, K.cx, K.cy)
    if not all(np.isfinite(values)) or K.fx <= 0 or K.fy <= 0:
        raise ValueError(f"{where}: fx and fy must be finite and positive, cx and cy finite (got "
                         f"fx={K.fx:g}, fy={K.fy:g}, cx={K.cx:g}, cy={K.cy:g})")
    if not (-K.width <= K.cx <= 2 * K.width and -K.height <= K.cy <= 2 * K.height):
        raise ValueError(f"{where}: the principal point ({K.cx:g}, {K.cy:g}) lies far outside the "
                         f"{K.width}x{K.height} image")
    return K


def depth_file(image_path: Path) -> Path:
    """The depth beside a frame's image (NNNN.png): NNNN_depth.npy, else NNNN_depth.exr;
    ValueError naming both where neither is there."""
    stem = image_path.with_suffix("")
    found = next((p for p in (Path(f"{stem}_depth.npy"), Path(f"{stem}_depth.exr")) if p.is_file()), None)
    if found is None:
        raise ValueError(f"{stem}_depth.npy: missing (nor {stem.name}_depth.exr)")
    return found


def read_frame(image_path: Path) -> Frame:
    """The frame of `image_path` (NNNN.png) with NNNN_depth.npy (or .exr) and NNNN.json beside
    it, without eyes; ValueError naming the file for anything missing or malformed."""
    from .readers import InputError, fill_invalid_depth, read_depth, read_image

    stem = image_path.with_suffix("")
    try:
        image = read_image(image_path)
        depth_path = depth_file(image_path)
        depth = read_depth(depth_path)
    except InputError as exc:
        raise ValueError(str(exc)) from None
    meta_path = Path(f"{stem}.json")
    try:
        meta = json.loads(meta_path.read_text())
        pose = np.array(meta["camera_to_world"], dtype=np.float64).reshape(4, 4)
        K = Intrinsics(float(meta["fx"]), float(meta["fy"]), float(meta["cx"]), float(meta["cy"]),
                       image.shape[1], image.shape[0])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{meta_path}: {exc}") from None
    checked_pose(pose, str(meta_path))
    checked_intrinsics(K, str(meta_path))
    if depth.shape != image.shape[:2]:
        raise ValueError(f"{depth_path} is {depth.shape[1]}x{depth.shape[0]}, the image "
                         f"{image.shape[1]}x{image.shape[0]}")
    valid = np.isfinite(depth) & (depth > 0)
    if not valid.any():
        raise ValueError(f"{depth_path} has no valid depth")
    return Frame(image, fill_invalid_depth(depth, valid).astype(np.float32), K, pose)


#: A neighbour's surface is taken into a hole at a depth edge only if it lies farther than the
#: edge's near side by this fraction: a disocclusion shows what was hidden behind that edge.
NEAR_SIDE_MARGIN = 0.03
#: What a neighbour shows of a hole: its real faces where none of its stretched faces lies in
#: front (the `stretched` rule, whatever the network's): the pixels beside its silhouettes,
#: whose antialiased colours mix two surfaces, and its one-pixel point samples are left out.
NEIGHBOUR_RULE = HOLE_RULES["stretched"]
#: A neighbour's sample counts only on a face whose corners lie on one surface: the mean of its
#: corners' depths times the mean of their inverses, weighted as its colours are (1 where they
#: are equal; the face between a thin structure and the sky: tens), at most this. Faces across a
#: depth edge that a neighbour near the eye does not stretch (little parallax) are left out so.
SURFACE_SPREAD = 1.5
#: A neighbour's pixels within this many pixels of a nearer surface (`nearer_surface_gap`)
#: may mix its colour (an antialiased render; its depth pass, one sample a pixel, gives them the
#: far depth). Where the neighbour sees the nearer surface displaced against the far one by
#: `MIXED_PARALLAX` pixels or more from where the eye sees them, they count `MIXED_WEIGHT` as
#: much in the mean over the neighbours; with less parallax more, fully at none: a neighbour at
#: the eye's place mixes the two surfaces as the eye's own render does.
MIXED_RADIUS = 2
MIXED_WEIGHT = 0.1
MIXED_PARALLAX = 1.0
#: The neighbours within this many times the frame's own camera's distance of the eye come
#: first: a hole pixel takes the mean of those that show a surface there, the others' only
#: where none of them does. A view from farther away sees the holes from a wider angle, with
#: more resampling, mixed-edge and visibility error.
NEAR_FIRST = 1.5


def window_extreme(depth: np.ndarray, radius: int, reduce=np.minimum) -> np.ndarray:
    """The least (`reduce` np.minimum) or greatest (np.maximum) depth within `radius` of each
    pixel (a square window; a separable filter)."""
    extreme = depth
    for axis in (0, 1):
        padded = np.pad(extreme, [(radius, radius) if a == axis else (0, 0) for a in (0, 1)], mode="edge")
        size = depth.shape[axis]

        def shifted(k: int) -> np.ndarray:
            return padded[k:k + size] if axis == 0 else padded[:, k:k + size]

        extreme = shifted(0).copy()
        for k in range(1, 2 * radius + 1):
            reduce(extreme, shifted(k), out=extreme)
    return extreme


def nearer_surface_gap(depth: np.ndarray, radius: int = MIXED_RADIUS,
                       margin: float = NEAR_SIDE_MARGIN) -> np.ndarray:
    """Per pixel beside a nearer surface (a pixel within `radius`, a square window, nearer by
    more than `margin`, relative: the far side of a depth edge, whose colour may mix in the
    near one), the inverse depth of the nearest such pixel less its own (1/m); 0 elsewhere.
    A camera moved sideways by b metres sees the two displaced against each other by
    f * b * gap pixels."""
    nearest = window_extreme(depth, radius)
    return np.where(nearest * (1 + margin) < depth, 1 / nearest - 1 / depth, 0).astype(np.float32)


def mixed_weight(parallax: np.ndarray) -> np.ndarray:
    """A neighbour pixel's weight in the mean over the neighbours, from the parallax (pixels)
    between the nearer surface beside it and itself, seen from the neighbour against the eye
    (0 where it is beside none): 1 at none, falling to `MIXED_WEIGHT` at `MIXED_PARALLAX`."""
    return MIXED_WEIGHT + (1 - MIXED_WEIGHT) * np.clip(1 - parallax / MIXED_PARALLAX, 0, 1)


#: A neighbour's pixels at a depth edge (`depth_edge_pixels`: a rope or a wire one pixel wide,
#: a silhouette's rim) have no face the surface test keeps: each face touching them is
#: stretched or spans two surfaces. They show only as point samples, placed as the `visible`
#: rule places them (`warp.point_samples`), where nearer than any face of a surface their
#: neighbour shows there. A hole pixel takes such points where at least `THIN_MIN_FRAMES`
#: neighbours give one and they are at least `THIN_AGREEMENT` of the neighbours that show
#: anything there: what one view alone or a moving object (each view's at another place) puts
#: there is left out.
THIN_POINTS = HOLE_RULES["visible"]
THIN_MIN_FRAMES = 2
THIN_AGREEMENT = 0.75


def depth_edge_pixels(depth: np.ndarray, margin: float = NEAR_SIDE_MARGIN) -> np.ndarray:
    """Flat indices of the pixels whose depth differs by more than `margin` (relative) from
    that of a pixel beside them (left, right, above or below): both sides of every depth edge."""
    padded = np.pad(depth, 1, mode="edge")
    centre = padded[1:-1, 1:-1]
    edge = np.zeros(depth.shape, bool)
    for beside in (padded[1:-1, :-2], padded[1:-1, 2:], padded[:-2, 1:-1], padded[2:, 1:-1]):
        edge |= (beside > centre * (1 + margin)) | (centre > beside * (1 + margin))
    return np.flatnonzero(edge)


def points_in_holes(frame: Frame, eye_K: Intrinsics, frame_to_eye: np.ndarray,
                    slot: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A frame's depth-edge pixels (`Frame.edge_pixels`) as point samples in
    the eye (`THIN_POINTS`, `warp.point_samples`) that land on hole pixels (`slot`: per flat
    pixel of the eye its position among the hole pixels, -1 elsewhere), the nearest of several:
    (their positions among the hole pixels, each once; their colours (N, 3); their planar
    depths)."""
    source, pixel, lagged, _ = point_samples(frame.depth, frame.K, eye_K, frame_to_eye, frame.edge_pixels,
                                             THIN_POINTS)
    _, first = np.unique(pixel, return_index=True)  # nearest first: the first of each pixel
    at = slot[pixel[first]]
    in_hole = (at >= 0) & np.isin(source[first], frame.edge_pixels)  # not the frame's border, which it adds
    colours = frame.image.reshape(-1, 3)[source[first][in_hole]].astype(np.float64)
    return at[in_hole], colours, lagged[first][in_hole] / (1 + POINT_LAG)


def _row_sides(depth: np.ndarray, hole: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each pixel, the depth of the nearest known pixel to its left and to its right on
    its row (0 where there is none)."""
    left, right = nearest_valid_along_rows(~hole)
    rows = np.arange(depth.shape[0])[:, None]
    from_left = np.where(left >= 0, depth[rows, np.maximum(left, 0)], 0)
    from_right = np.where(right >= 0, depth[rows, np.maximum(right, 0)], 0)
    return from_left, from_right


def far_side_depth(depth: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """`depth` with each hole pixel given the farther of the nearest known depths to its left
    and right on its row (a disocclusion shows what lies behind the edge)."""
    filled = np.maximum(*_row_sides(depth, hole))
    return np.where(hole, np.where(filled > 0, filled, depth.max(initial=1.0)), depth).astype(np.float32)


def occluding_edge_depth(depth: np.ndarray, hole: np.ndarray, margin: float = NEAR_SIDE_MARGIN) -> np.ndarray:
    """Per hole pixel, the depth of its hole's occluding edge: the nearer of the nearest known
    depths to its left and right on its row, where both sides are known and the farther lies
    more than `margin` (relative) behind it (a depth edge); 0 elsewhere: an image border, a
    stretched surface without an edge, and the hole's rim (pixels beside a known one), which
    may show the near surface's own silhouette."""
    from_left, from_right = _row_sides(depth, hole)
    near, far = np.minimum(from_left, from_right), np.maximum(from_left, from_right)
    known = np.pad(~hole, 1)
    rim = np.zeros_like(hole)
    for dy in range(3):
        for dx in range(3):
            rim |= known[dy:dy + hole.shape[0], dx:dx + hole.shape[1]]
    edge = hole & ~rim & (near > 0) & (far > near * (1 + margin))
    return np.where(edge, near, 0).astype(np.float32)


def window_frames(index: int, count: int, window: int, ahead: bool = True) -> list[int]:
    """The frames of frame `index`'s window, nearest in time first, itself left out: the
    `window` frames before it and after it, at the ends of the range as many more from the
    other side (the frame 0 of 24 with window 4: 1-8), so that every frame has as many
    views of its holes; with `ahead` False, the `window` frames before it (as while an
    animation renders, when later frames do not exist yet)."""
    if ahead:
        start = max(0, min(index - window, count - 2 * window - 1))
        near = range(start, min(count, start + 2 * window + 1))
    else:
        near = range(max(0, index - window), index)
    return sorted((i for i in near if i != index), key=lambda i: (abs(i - index), i))


def pool_reach(window: int) -> int:
    """How far in time the frames a window is chosen from reach: half as far again."""
    return window + window // 2


def nearest_cameras(poses: list[np.ndarray], centre: np.ndarray, count: int) -> list[int]:
    """The positions in `poses` (camera-to-world) of the `count` cameras nearest `centre`
    (a point in the world: the eye's place), nearest first; of equally near ones, the earlier
    in `poses`. The frames that saw most of an eye's holes are those taken nearest the eye:
    for a camera moving away from the eye's side, further along the move."""
    distances = [float(np.linalg.norm(pose[:3, 3] - centre)) for pose in poses]
    return sorted(range(len(poses)), key=lambda i: distances[i])[:count]


class FrameWindow:
    """The frames of the current one's window (`window_frames`): each read once
    (`read(index)`) while it is within the window, then dropped (a rolling cache). A frame
    that cannot be read (one of `errors`) is left out of its neighbours' windows and raises
    on its own turn."""

    def __init__(self, count: int, window: int, read: Callable[[int], Frame],
                 errors: tuple[type[Exception], ...] = (ValueError,), ahead: bool = True) -> None:
        self.count, self.window, self.read, self.errors, self.ahead = count, window, read, errors, ahead
        self._cache: dict[int, Frame | Exception] = {}

    def frame_and_neighbours(self, index: int) -> tuple[Frame, list[Frame]]:
        """Frame `index` and the readable frames within the window, nearest in time first;
        raises what reading frame `index` raised."""
        others = window_frames(index, self.count, self.window, self.ahead)
        near = {index, *others}
        for old in [i for i in self._cache if i not in near]:
            del self._cache[old]
        for i in sorted(near):
            if i not in self._cache:
                try:
                    self._cache[i] = self.read(i)
                except self.errors as exc:
                    self._cache[i] = exc
        own = self._cache[index]
        if isinstance(own, Exception):
            raise own
        return own, [f for i in others if isinstance(f := self._cache[i], Frame)]


class SequenceInfill:
    """Makes one eye frame by frame (`step`), holding the previous result. With
    `depth_network` (a depth-infill model) the depth of what no frame saw comes from it,
    else from the far side of each hole."""

    def __init__(self, network: Network, carry: float = 0.0, depth_network: Network | None = None) -> None:
        self.network, self.carry, self.depth_network = network, carry, depth_network
        self.rule = hole_rule_of(network)  # the holes the network was trained on
        self.previous: tuple[FilledFrame, Intrinsics, np.ndarray] | None = None  # result, its K, its pose

    def _seen_by_neighbours(self, eye_K: Intrinsics, neighbours: list[Frame], to_eye: np.ndarray,
                            hole: np.ndarray, near_side: np.ndarray, reach: float):
        """(hole pixels that some neighbour saw (H, W), their colours (P, 3), their depths
        (P,)), or None: the mean over the neighbours that show a surface there
        (`NEIGHBOUR_RULE`: covered, no stretched face in front; its face on one surface, the
        spread of its corners' depths within `SURFACE_SPREAD`) behind the hole's occluding
        edge (`near_side`, `occluding_edge_depth`; 0: no edge; a moving object's old place is
        not behind it). The neighbours taken within `reach` (metres) of the eye come first:
        a pixel takes the others' mean only where none of those shows a surface.
        Each neighbour's colours are interpolated over its faces (`reproject(...,
        interpolate=True)`): seen from another place, a surface point lies between the
        neighbour's pixel centres, and the mean of several such estimates is closer to it
        than any one. A neighbour's pixels beside a nearer surface (`nearer_surface_gap`)
        may show its colour mixed in: they count less (`mixed_weight`) the more the neighbour
        sees that surface displaced against the eye, whose own render mixes them only where
        it sees the two as the neighbour does. Where enough of them agree on a depth edge's
        pixel in front of what they show (`THIN_MIN_FRAMES`, `THIN_AGREEMENT`), a pixel takes
        the mean of their point samples of it (`points_in_holes`) instead."""
        index = np.flatnonzero(hole)
        slot = np.full(hole.size, -1)
        slot[index] = np.arange(index.size)
        behind = near_side.ravel()[index] * (1 + NEAR_SIDE_MARGIN)
        colour_sum = np.zeros((2, index.size, 3))  # [0]: the neighbours within reach, [1]: the others
        depth_sum, weight_sum = np.zeros((2, index.size)), np.zeros((2, index.size))
        point_colours, point_depths = np.zeros((index.size, 3)), np.zeros(index.size)
        points, showing = np.zeros(index.size), np.zeros(index.size)  # neighbours giving a point / anything
        for other in neighbours:
            to_this_eye = to_eye @ other.pose
            offset = np.hypot(eye_K.fx * to_this_eye[0, 3], eye_K.fy * to_this_eye[1, 3])  # pixels per 1/m
            texels = np.empty(other.image.shape[:2] + (6,), np.float32)  # colours, weight, depth and its inverse
            texels[..., :3], texels[..., 3] = other.image, mixed_weight(offset * other.nearer_gap)
            texels[..., 4], texels[..., 5] = other.depth, 1 / other.depth
            seen = reproject(texels, other.depth, other.K, eye_K, to_this_eye, NEIGHBOUR_RULE, interpolate=True)
            depths = seen.depth.ravel()[index]
            values = seen.image.reshape(-1, 6)[index]
            surface = (seen.covered & ~seen.stretched).ravel()[index]
            valid = surface & (depths > behind) & (values[:, 4] * values[:, 5] <= SURFACE_SPREAD)
            weight = np.where(valid, values[:, 3], 0.0)
            tier = int(np.linalg.norm(to_this_eye[:3, 3]) > reach)
            colour_sum[tier] += weight[:, None] * values[:, :3]
            depth_sum[tier] += weight * depths
            weight_sum[tier] += weight
            at, colours, point_depth = points_in_holes(other, eye_K, to_this_eye, slot)
            showing += surface
            showing[at] += ~surface[at]
            front = ~surface[at] | (point_depth * (1 + POINT_LAG) < depths[at])  # nearer than its surface there
            point_colours[at[front]] += colours[front]
            point_depths[at[front]] += point_depth[front]
            points[at[front]] += 1
        tier = (weight_sum[0] == 0).astype(int)  # the neighbours within reach where one shows a surface
        pick = (tier, np.arange(index.size))
        colour_sum, depth_sum, weight_sum = colour_sum[pick], depth_sum[pick], weight_sum[pick]
        thin = (points >= THIN_MIN_FRAMES) & (points >= THIN_AGREEMENT * showing)
        count = np.maximum(points, 1)
        colours = np.where(thin[:, None], point_colours / count[:, None],
                           colour_sum / np.maximum(weight_sum, 1e-12)[:, None])
        depths = np.where(thin, point_depths / count, depth_sum / np.maximum(weight_sum, 1e-12))
        any_seen = thin | (weight_sum > 0)
        if not any_seen.any():
            return None
        taken = np.zeros(hole.size, bool)
        taken[index[any_seen]] = True
        return taken.reshape(hole.shape), to_uint8(colours[any_seen] / 255.0), depths[any_seen].astype(np.float32)

    def step(self, frame: Frame, neighbours: list[Frame], eye: Eye) -> FilledFrame:
        """The `eye` of `frame` (its intrinsics and its pose in the camera's frame), its holes
        filled first from what `neighbours` (other frames of the scene) saw."""
        eye_pose = frame.pose @ eye.pose
        to_eye = world_to_camera(eye_pose)
        own = reproject(frame.image, frame.depth, frame.K, eye.K, world_to_camera(eye.pose), self.rule,
                        interpolate=True)
        hole = own.hole_mask.astype(bool)
        # what the frames saw may also replace what the rule guessed (behind thin structures, beside edges)
        offered = hole if own.guessed is None else hole | own.guessed
        image, depth = own.image.copy(), own.depth.copy()
        frame_to_eye = float(np.linalg.norm(eye.pose[:3, 3]))  # the frame's own camera is this far from the eye
        seen_from_frames = self._seen_by_neighbours(eye.K, neighbours, to_eye, offered,
                                                    occluding_edge_depth(own.depth, offered),
                                                    reach=NEAR_FIRST * frame_to_eye)
        taken = np.zeros_like(hole)
        if seen_from_frames is not None:
            taken, colours, depths = seen_from_frames
            image[taken], depth[taken] = colours, depths
        open_ = hole & ~taken
        merged = Reprojection(image=image, depth=depth, stretched=open_ & own.covered,
                              covered=own.covered | taken)
        inputs = warped_inputs(merged, eye.K)
        x = network_input(**inputs)[None]
        out = self.network(x)[0]
        fill = out[:, open_].T
        if self.previous is not None and self.carry > 0:
            last, last_K, last_pose = self.previous
            carried = reproject(last.image, last.depth, last_K, eye.K, to_eye @ last_pose, self.rule)
            keep = (carried.covered & ~carried.stretched)[open_]
            fill[keep] = self.carry * (carried.image[open_][keep] / 255.0) + (1 - self.carry) * fill[keep]
        image[open_] = to_uint8(fill)
        image = fill_past_the_edges(image, open_)
        filled_depth = (far_side_depth(depth, open_) if self.depth_network is None
                        else fill_depth(self.depth_network, x, inputs))
        result = FilledFrame(image=image, warped=own.image, hole_mask=hole.astype(np.uint8),
                             from_frames=(taken & hole).astype(np.uint8), depth=filled_depth)
        self.previous = (result, eye.K, eye_pose)
        return result


def other_eye(image: np.ndarray, depth: np.ndarray, K: Intrinsics, eye: Eye, network: Network,
              depth_network: Network | None = None) -> FilledFrame:
    """One view (image, planar depth, intrinsics K) made into `eye` (intrinsics of the frame,
    pose in the camera's frame): a sequence of one frame, nothing carried. `depth` must be
    finite and positive (see `readers.fill_invalid_depth`). K may render beyond the frame's
    edges (a render with overscan: K's principal point and width include the margins, the
    eye's do not); where the eye sees past the frame's edge it then sees those columns
    instead of a hole."""
    return SequenceInfill(network, carry=0.0, depth_network=depth_network).step(
        Frame(image, depth, K, np.eye(4)), [], eye)


#: What a job does with a frame's eyes: (frame index, the frame, eye name -> its result).
Write = Callable[[int, Frame, dict[str, FilledFrame]], None]


class SequenceDriver:
    """Makes the eyes (`Frame.eyes`) of frames by index, each filled first from `window` frames
    before and after it that `read` gives (with `ahead` False, `window` earlier ones): of the
    frames within `pool_reach(window)` of it (`window_frames`), those taken nearest the eye
    (`nearest_cameras`). One `SequenceInfill` per eye name carries its previous fill. `errors`
    are what a frame that cannot be read, made or written raises: named, and nothing is
    carried into the next frame."""

    def __init__(self, read: Callable[[int], Frame], count: int, network: Network, window: int = 4,
                 carry: float = 0.0, depth_network: Network | None = None, ahead: bool = True,
                 errors: tuple[type[Exception], ...] = (ValueError,)) -> None:
        self.frames = FrameWindow(count, pool_reach(window), read, errors, ahead)
        self.taken = 2 * window if ahead else window
        self.network, self.carry, self.depth_network, self.errors = network, carry, depth_network, errors
        self.infills: dict[str, SequenceInfill] = {}

    def fill(self, index: int, write: Write) -> str | None:
        """Make and write frame `index`'s eyes; None, or the problem in one line."""
        try:
            own, pool = self.frames.frame_and_neighbours(index)
            results = {}
            for name, eye in own.eyes.items():
                if name not in self.infills:
                    self.infills[name] = SequenceInfill(self.network, self.carry, self.depth_network)
                nearest = nearest_cameras([f.pose for f in pool], (own.pose @ eye.pose)[:3, 3], self.taken)
                results[name] = self.infills[name].step(own, [pool[i] for i in nearest], eye)
            write(index, own, results)
        except self.errors as exc:
            self.forget()
            return str(exc)
        return None

    def forget(self) -> None:
        """Carry nothing into the next frame (after a frame that failed)."""
        for infill in self.infills.values():
            infill.previous = None

    def run(self, indices: Iterable[int], write: Write) -> list[str]:
        """`fill` every index in turn; the problems, one line each."""
        return [problem for index in indices if (problem := self.fill(index, write)) is not None]


def stereo_pair(frame: Frame, results: dict[str, FilledFrame], rendered: str | None) -> dict[str, np.ndarray]:
    """Every eye of a frame by name: those made (`results`) and the rendered one (`rendered`,
    the frame's own view without its margins; None where every eye is made)."""
    pair = {name: result.image for name, result in results.items()}
    if rendered is not None:
        pair[rendered] = np.ascontiguousarray(frame.in_frame(frame.image))
    return pair
