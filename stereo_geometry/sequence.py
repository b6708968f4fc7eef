"""The other eye of every frame of a sequence, filled first from the frames that saw it.

A sequence folder holds, per frame, `NNNN.png` (the view), `NNNN_depth.npy` (float32 planar
depth in metres; or `NNNN_depth.exr`) and `NNNN.json`: `{"fx", "fy", "cx", "cy",
"camera_to_world"}`, the last a 4x4 row-major matrix in metres with OpenCV camera axes (x
right, y down, z forward). The other eye sits at +baseline along the camera's own x axis.

For frame t (`SequenceInfill.step`):
1. its own view is reprojected into the other eye (the holes the network was trained on;
   what it sees of the surfaces interpolated, as `infill.other_eye` does);
2. the views of the frames within `window` of t are reprojected into the same camera with
   their depth and pose, colours interpolated over their faces; a hole pixel that some of
   them show as a surface (covered, not a stretched face) takes the mean of their colours
   and depths, their pixels beside a nearer surface (mixed colours in an antialiased
   render) counting `MIXED_WEIGHT` as much;
3. the previous frame's result (its other eye, with the filled holes' depth taken from the
   far side) is reprojected too: where it covers a hole that no frame saw, it is blended with
   the network's fill (`carry`), so the fill does not flicker;
4. the network fills what is left, seeing the pixels that other frames supplied as known.

Static scenes: what a frame saw from the other eye's own place is copied exactly. Moving
objects are left to the network where they would show wrongly: inside a hole at a depth edge
(off its rim) a neighbour's surface is taken only if it lies behind the hole's near
(occluding) edge (`occluding_edge_depth`, `NEAR_SIDE_MARGIN`), as what a disocclusion reveals
must; a moving object seen at its old place, in front of that edge, is not. No motion vectors
(Blender's Vector pass) are used: a moving object's old place that lies behind the edge (a far
object moving) can still show; set `window=0` for such shots.
Memory stays bounded: only the frames within the window are held (a rolling cache).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Callable

import numpy as np

from .camera import Intrinsics, translation, world_to_camera
from .sample import nearest_valid_along_rows, network_input, to_uint8, warped_inputs
from .warp import Reprojection, reproject

from .infill import Network, fill_depth, without_overscan

FRAME_NAME = re.compile(r"^(\d+)\.png$")


@dataclass
class Frame:
    image: np.ndarray   # (H, W, 3) uint8
    depth: np.ndarray   # (H, W) float32, finite and positive
    K: Intrinsics
    pose: np.ndarray    # 4x4 camera-to-world, OpenCV axes

    @cached_property
    def beside_nearer(self) -> np.ndarray:
        """`beside_nearer_surface` of the frame's depth, computed once."""
        return beside_nearer_surface(self.depth)


@dataclass
class FilledFrame:
    image: np.ndarray       # the other eye, holes filled
    hole_mask: np.ndarray   # 1 where the own view left a hole
    from_frames: np.ndarray  # 1 where another frame filled the hole
    depth: np.ndarray       # the other eye's depth: what no frame saw from the depth network or the far side


def frame_stems(folder: str | Path) -> dict[int, Path]:
    """Frame number -> path without suffix (`folder/NNNN`) of every NNNN.png of a sequence
    folder, in ascending order."""
    found = {int(m.group(1)): p.with_suffix("") for p in Path(folder).iterdir()
             if (m := FRAME_NAME.match(p.name))}
    return dict(sorted(found.items()))


def read_frame(stem: Path) -> Frame:
    """The frame `stem`.png, `stem`_depth.npy (or .exr) and `stem`.json; ValueError naming
    the file for anything missing or malformed."""
    from .readers import InputError, fill_invalid_depth, read_depth, read_image

    try:
        image = read_image(stem.with_suffix(".png"))
        depth_path = next((p for p in (Path(f"{stem}_depth.npy"), Path(f"{stem}_depth.exr")) if p.is_file()), None)
        if depth_path is None:
            raise ValueError(f"{stem}_depth.npy: missing (nor {stem.name}_depth.exr)")
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
#: A neighbour's pixels within this many pixels of a nearer surface (`beside_nearer_surface`)...
MIXED_RADIUS = 2
#: ... count this much in the mean over the neighbours: an antialiased render mixes the nearer
#: surface's colour into them while its depth pass (one sample a pixel) gives them the far one.
MIXED_WEIGHT = 0.1


def beside_nearer_surface(depth: np.ndarray, radius: int = MIXED_RADIUS,
                          margin: float = NEAR_SIDE_MARGIN) -> np.ndarray:
    """True where a pixel within `radius` (a square window) is nearer by more than `margin`
    (relative): the far side of a depth edge, whose colour may mix in the near one."""
    nearest = depth
    for axis in (0, 1):  # a separable minimum filter
        padded = np.pad(nearest, [(radius, radius) if a == axis else (0, 0) for a in (0, 1)], mode="edge")
        size = depth.shape[axis]

        def shifted(k: int) -> np.ndarray:
            return padded[k:k + size] if axis == 0 else padded[:, k:k + size]

        nearest = shifted(0).copy()
        for k in range(1, 2 * radius + 1):
            np.minimum(nearest, shifted(k), out=nearest)
    return nearest * (1 + margin) < depth


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


class FrameWindow:
    """The frames within `window` of the current one: each read once (`read(index)`) while it
    is within the window, then dropped (a rolling cache). A frame that cannot be read (one of
    `errors`) is left out of its neighbours' windows and raises on its own turn."""

    def __init__(self, count: int, window: int, read: Callable[[int], Frame],
                 errors: tuple[type[Exception], ...] = (ValueError,)) -> None:
        self.count, self.window, self.read, self.errors = count, window, read, errors
        self._cache: dict[int, Frame | Exception] = {}

    def frame_and_neighbours(self, index: int) -> tuple[Frame, list[Frame]]:
        """Frame `index` and the readable frames of its size within the window, nearest in
        time first; raises what reading frame `index` raised."""
        near = range(max(0, index - self.window), min(self.count, index + self.window + 1))
        for old in [i for i in self._cache if i not in near]:
            del self._cache[old]
        for i in near:
            if i not in self._cache:
                try:
                    self._cache[i] = self.read(i)
                except self.errors as exc:
                    self._cache[i] = exc
        own = self._cache[index]
        if isinstance(own, Exception):
            raise own
        others = [self._cache[i] for i in sorted(near, key=lambda i: abs(i - index)) if i != index]
        return own, [f for f in others if isinstance(f, Frame) and f.image.shape == own.image.shape]


class SequenceInfill:
    """Fills the other eye frame by frame (`step`), holding the previous result. With
    `depth_network` (a depth-infill model) the depth of what no frame saw comes from it,
    else from the far side of each hole."""

    def __init__(self, network: Network, baseline: float, carry: float = 0.75,
                 depth_network: Network | None = None) -> None:
        self.network, self.baseline, self.carry = network, baseline, carry
        self.depth_network = depth_network
        self.previous: tuple[FilledFrame, Intrinsics, np.ndarray] | None = None

    def other_camera(self, frame: Frame) -> np.ndarray:
        return frame.pose @ translation(self.baseline)

    def _seen_by_neighbours(self, frame: Frame, neighbours: list[Frame], to_eye: np.ndarray,
                            hole: np.ndarray, near_side: np.ndarray):
        """(hole pixels that some neighbour saw (H, W), their colours (P, 3), their depths
        (P,)), or None: the mean over the neighbours that show a surface there (covered, not
        a stretched face) behind the hole's occluding edge (`near_side`,
        `occluding_edge_depth`; 0: no edge; a moving object's old place is not behind it).
        Each neighbour's colours are interpolated over its faces (`reproject(...,
        interpolate=True)`): seen from another place, a surface point lies between the
        neighbour's pixel centres, and the mean of several such estimates is closer to it
        than any one. A neighbour's pixels beside a nearer surface (`beside_nearer_surface`)
        count `MIXED_WEIGHT` as much: they may show the nearer surface's colour."""
        index = np.flatnonzero(hole)
        behind = near_side.ravel()[index] * (1 + NEAR_SIDE_MARGIN)
        colour_sum = np.zeros((index.size, 3))
        depth_sum, weight_sum = np.zeros(index.size), np.zeros(index.size)
        for other in neighbours:
            texels = np.empty(other.image.shape[:2] + (4,), np.float32)  # colours and the mask, one copy
            texels[..., :3], texels[..., 3] = other.image, other.beside_nearer
            seen = reproject(texels, other.depth, other.K, frame.K, to_eye @ other.pose, interpolate=True)
            depths = seen.depth.ravel()[index]
            valid = (seen.covered & ~seen.stretched).ravel()[index] & (depths > behind)
            values = seen.image.reshape(-1, 4)[index]
            weight = np.where(valid, 1 - (1 - MIXED_WEIGHT) * values[:, 3], 0.0)
            colour_sum += weight[:, None] * values[:, :3]
            depth_sum += weight * depths
            weight_sum += weight
        any_seen = weight_sum > 0
        if not any_seen.any():
            return None
        taken = np.zeros(hole.size, bool)
        taken[index[any_seen]] = True
        weight_sum = weight_sum[any_seen]
        return (taken.reshape(hole.shape), to_uint8(colour_sum[any_seen] / weight_sum[:, None] / 255.0),
                (depth_sum[any_seen] / weight_sum).astype(np.float32))

    def step(self, frame: Frame, neighbours: list[Frame]) -> FilledFrame:
        """The other eye of `frame`, its holes filled first from what `neighbours` (other
        frames of the scene) saw."""
        eye = self.other_camera(frame)
        to_eye = world_to_camera(eye)
        own = reproject(frame.image, frame.depth, frame.K, frame.K, world_to_camera(translation(self.baseline)),
                        interpolate=True)
        hole = own.hole_mask.astype(bool)
        image, depth = own.image.copy(), own.depth.copy()
        seen_from_frames = self._seen_by_neighbours(frame, neighbours, to_eye, hole,
                                                    occluding_edge_depth(own.depth, hole))
        if seen_from_frames is not None:
            taken, colours, depths = seen_from_frames
            image[taken], depth[taken] = colours, depths
            open_ = hole & ~taken
        else:
            open_ = hole.copy()
        merged = Reprojection(image=image, depth=depth, stretched=open_ & own.covered,
                              covered=own.covered | (hole & ~open_))
        inputs = warped_inputs(merged, frame.K)
        x = network_input(**inputs)[None]
        out = self.network(x)[0]
        fill = out[:, open_].T
        if self.previous is not None and self.carry > 0:
            last, last_K, last_eye = self.previous
            carried = reproject(last.image, last.depth, last_K, frame.K, to_eye @ last_eye)
            keep = (carried.covered & ~carried.stretched)[open_]
            fill[keep] = self.carry * (carried.image[open_][keep] / 255.0) + (1 - self.carry) * fill[keep]
        image[open_] = to_uint8(fill)
        filled_depth = (far_side_depth(depth, open_) if self.depth_network is None
                        else fill_depth(self.depth_network, x, inputs))
        result = FilledFrame(image=image, hole_mask=hole.astype(np.uint8),
                             from_frames=(hole & ~open_).astype(np.uint8), depth=filled_depth)
        self.previous = (result, frame.K, eye)
        return result


def fill_sequence(folder: str | Path, out: str | Path, network: Network, baseline: float,
                  window: int = 4, carry: float = 0.75, progress: bool = True,
                  overscan: int = 0) -> tuple[list[str], int]:
    """Write the other eye of every frame of `folder` as `out/NNNN.png` (atomically); returns
    the problems (one line each, naming the file) of frames that could not be read, and the
    number of frames written. Frames are read once each and dropped when they leave the
    window. With `overscan`, the frames (and their intrinsics) hold that many more columns on
    the side the other eye looks past (`infill.overscan_side`), and are written without them."""
    from tqdm import tqdm

    from .writer import write_image

    stems = frame_stems(folder)
    if not stems:
        raise ValueError(f"{folder}: no frames (NNNN.png with NNNN_depth.npy and NNNN.json)")
    numbers = list(stems)
    infill = SequenceInfill(network, baseline, carry)
    frames = FrameWindow(len(numbers), window, lambda i: read_frame(stems[numbers[i]]))
    problems: list[str] = []
    written = 0
    Path(out).mkdir(parents=True, exist_ok=True)
    for i, number in enumerate(tqdm(numbers, unit="frame", disable=not progress)):
        try:
            frame, neighbours = frames.frame_and_neighbours(i)
        except ValueError as exc:
            problems.append(str(exc))
            infill.previous = None
            continue
        if overscan >= frame.image.shape[1]:
            raise ValueError(f"--overscan {overscan}: {stems[number]}.png is only {frame.image.shape[1]} px wide")
        result = infill.step(frame, neighbours)
        write_image(Path(out) / f"{stems[number].name}.png", without_overscan(result.image, overscan, baseline))
        written += 1
    return problems, written
