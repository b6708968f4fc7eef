"""Pixel-grid meshes from depth, their normals, and the tagging of stretched faces."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .camera import Intrinsics, pixel_grid, project, transform, unproject_pixels
from .compiled import footprint_growth as compiled_growth
from .compiled import grid_triangles as compiled_triangles

BORDER_PAD_PX = 0.01


@dataclass(frozen=True)
class HoleRule:
    """Which pixels of a reprojected pixel-grid mesh are holes (docs/geometry.md, "Which faces
    are holes"). A face is stretched when it is seen more than `max_angle_deg` from head on
    and grows by more than `min_growth_px` pixels in the target view. With
    `real_faces_first`, a stretched face never hides a face that is not (it is no surface);
    with `point_radius_px` > 0, the corners of stretched faces (the source pixels at a depth
    edge, the whole of a one-pixel wire) and the frame's outermost pixels are point samples
    too (`warp.point_samples`): each covers the target pixel
    whose centre lies within that many pixels of where it lands in both axes, unless a real
    face there is nearer than `POINT_LAG` behind it. With `far_reach_px` > 0, a far corner
    of a stretched face (deeper than `FAR_CORNER_MARGIN` behind the face's nearest corner:
    the far side of a depth edge) reaches that many pixels along its row instead: the far
    surface continues up to the near one, so the pixel where a step of a pixel or two of
    parallax leaves it one pixel short is no hole (it shows the far surface's next pixel
    inward, `warp.point_samples`). With `bridge_px` > 0, the surface behind
    structures at most that many pixels wide (a wire, a rope: `bridged_background`) is warped
    as a second layer behind the view, and a hole that it covers is not one (warp
    `with_bridged_layer`). A model records the rule it was trained on (its `hole_rule`);
    whatever makes its input makes these holes."""

    name: str
    max_angle_deg: float = 80.0
    min_growth_px: float = 0.5
    real_faces_first: bool = False
    point_radius_px: float = 0.0
    far_reach_px: float = 0.0
    bridge_px: int = 0


#: A point sample counts as this much (relative) behind its own depth: against a real face of
#: its own surface, the face wins.
POINT_LAG = 0.01
#: A corner of a stretched face is its far corner when deeper than this (relative) behind the
#: face's nearest corner (`HoleRule.far_reach_px`).
FAR_CORNER_MARGIN = 0.05
#: `stretched`: every stretched face nearest at a pixel is a hole; `visible`: holes only where
#: no real surface of the source lands; `bridged`: `visible`, and no hole where the surface
#: behind a wire or a rope one or two pixels wide continues; `far_reach` (the shipped
#: models'): `bridged`, and the far side of a depth edge reaches one pixel toward the near one.
HOLE_RULES = {rule.name: rule for rule in (
    HoleRule("stretched"),
    HoleRule("visible", min_growth_px=1.0, real_faces_first=True, point_radius_px=0.35),
    HoleRule("bridged", min_growth_px=1.0, real_faces_first=True, point_radius_px=0.35, bridge_px=2),
    HoleRule("far_reach", min_growth_px=1.0, real_faces_first=True, point_radius_px=0.35, far_reach_px=1.0,
             bridge_px=2),
)}
#: The rule of a model or sample that records none (made before rules were recorded), and
#: of `warp.reproject` unless it is given one.
DEFAULT_HOLE_RULE = HOLE_RULES["stretched"]
#: The rule the shipped models learned: what new training data is made with unless told.
SHIPPED_HOLE_RULE = HOLE_RULES["far_reach"]


def hole_rule(name: str) -> HoleRule:
    """The rule of a name (`HOLE_RULES`); ValueError naming the known ones."""
    if name not in HOLE_RULES:
        raise ValueError(f"unknown hole rule {name!r}: one of {', '.join(HOLE_RULES)}")
    return HOLE_RULES[name]


def recorded_hole_rule(settings: dict) -> HoleRule:
    """The rule a model's training config or a sample's record names as `hole_rule`
    (`DEFAULT_HOLE_RULE` where it names none)."""
    return hole_rule(settings.get("hole_rule", DEFAULT_HOLE_RULE.name))


def grid_triangles(valid: np.ndarray) -> np.ndarray:
    """Triangles (M, 3) of int32 vertex indices joining neighbouring pixel centres of an
    (H, W) grid.

    Each cell (r, c)-(r+1, c+1) is split along the same diagonal into two triangles whose
    `face_normals` point towards the camera: first the (r, c), (r+1, c), (r+1, c+1) halves of
    all cells in row-major order, then the (r, c), (r+1, c+1), (r, c+1) halves. Triangles
    touching a pixel where `valid` is False are left out.
    """
    if compiled_triangles is not None:
        return compiled_triangles(np.ascontiguousarray(valid, dtype=np.bool_))
    ok00, ok01, ok10, ok11 = valid[:-1, :-1], valid[:-1, 1:], valid[1:, :-1], valid[1:, 1:]
    halves = [cell_triangles(np.full(int(keep.sum()), half), *np.nonzero(keep), valid.shape[1])
              for half, keep in ((0, ok00 & ok10 & ok11), (1, ok00 & ok11 & ok01))]
    return np.concatenate(halves)


def cell_triangles(half: np.ndarray, row: np.ndarray, col: np.ndarray, width: int) -> np.ndarray:
    """Vertex indices (M, 3) int32 of the triangles `half` (0 or 1) of the grid cells
    (`row`, `col`) of a grid `width` wide, in `grid_triangles`' corner order."""
    first = row * width + col
    return np.stack([first, first + width + half, np.where(half == 0, first + width + 1, first + 1)],
                    axis=1).astype(np.int32)


def face_normals(vertices: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """Unit normals (M, 3) of triangles; degenerate triangles get a zero normal."""
    p0, p1, p2 = vertices[tris[:, 0]], vertices[tris[:, 1]], vertices[tris[:, 2]]
    n = np.cross(p1 - p0, p2 - p0)
    length = np.linalg.norm(n, axis=1, keepdims=True)
    return np.divide(n, length, out=np.zeros_like(n), where=length > 0)


def view_angle_deg(vertices: np.ndarray, tris: np.ndarray, eye: np.ndarray) -> np.ndarray:
    """Angle (M,) in degrees between each face's normal and the line of sight from `eye`
    to the face centre: 0 for a face seen head on, 90 for a face seen edge on."""
    normals = face_normals(vertices, tris)
    centre = vertices[tris].mean(axis=1)
    ray = centre - eye
    ray /= np.linalg.norm(ray, axis=1, keepdims=True)
    cos = np.abs(np.einsum("ij,ij->i", normals, ray))
    angle = np.degrees(np.arccos(np.clip(cos, 0.0, 1.0)))
    angle[~normals.any(axis=1)] = 90.0  # degenerate: no area, seen edge on
    return angle


def footprint_growth_px(vertices: np.ndarray, tris: np.ndarray, K: Intrinsics,
                        src_to_dst: np.ndarray) -> np.ndarray:
    """How many pixels wider or taller (M,) each face of a source-view grid mesh becomes when
    seen from the other camera (`src_to_dst`: source to target camera coordinates). Grid
    faces span one pixel in the source view."""
    u_src, v_src, _ = project(vertices, K)
    u_dst, v_dst, _ = project(transform(vertices, src_to_dst), K)
    return footprint_growth(u_src, v_src, u_dst, v_dst, tris)


def footprint_growth(u_src: np.ndarray, v_src: np.ndarray, u_dst: np.ndarray,
                     v_dst: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """`footprint_growth_px` of triangles over their vertices' pixel coordinates in the
    source camera (`u_src`, `v_src`) and in the target camera (`u_dst`, `v_dst`)."""
    if compiled_growth is not None:
        return compiled_growth(u_src, v_src, u_dst, v_dst, np.ascontiguousarray(tris))

    def extent(coord: np.ndarray) -> np.ndarray:
        a, b, c = coord[tris[:, 0]], coord[tris[:, 1]], coord[tris[:, 2]]
        return np.maximum(np.maximum(a, b), c) - np.minimum(np.minimum(a, b), c)

    return np.maximum(extent(u_dst) - extent(u_src), extent(v_dst) - extent(v_src))


def tag_stretched_faces(vertices: np.ndarray, tris: np.ndarray, K: Intrinsics,
                        src_to_dst: np.ndarray, rule: HoleRule = DEFAULT_HOLE_RULE) -> np.ndarray:
    """True for the stretched faces of a grid mesh built from the source camera (at the
    origin): faces with extreme normals, seen more than `rule.max_angle_deg` from head on,
    that also grow by more than `rule.min_growth_px` pixels in the target view (so that they
    cover pixels there with smeared colours). These faces span depth discontinuities; in the
    target view they cover the disocclusions."""
    growth = footprint_growth_px(vertices, tris, K, src_to_dst)
    return tag_grown_faces(growth, tris, lambda index: vertices[index], rule)


def tag_grown_faces(growth: np.ndarray, tris: np.ndarray,
                    vertices_at: Callable[[np.ndarray], np.ndarray], rule: HoleRule) -> np.ndarray:
    """`tag_stretched_faces` from each face's `footprint_growth`; `vertices_at(index)` gives
    the source-camera vertices of flat vertex indices (only the grown faces' are asked for)."""
    stretched = growth > rule.min_growth_px
    grown = np.nonzero(stretched)[0]  # few: only these need the angle
    stretched[grown] = seen_edge_on(tris[grown], vertices_at, rule.max_angle_deg)
    return stretched


def seen_edge_on(corners: np.ndarray, vertices_at: Callable[[np.ndarray], np.ndarray],
                 max_angle_deg: float) -> np.ndarray:
    """Whether each triangle (M, 3) of flat vertex indices is seen more than `max_angle_deg`
    from head on by the source camera; `vertices_at(index)` gives the vertices of indices."""
    own = np.arange(corners.size).reshape(-1, 3)
    return view_angle_deg(vertices_at(corners.ravel()), own, np.zeros(3)) > max_angle_deg


def normals_from_depth(depth: np.ndarray, K: Intrinsics, where: np.ndarray | None = None) -> np.ndarray:
    """Camera-space unit normals (H, W, 3) float32 pointing towards the camera, from central
    differences of the unprojected depth (one-sided at the border). Pixels whose depth or
    neighbours are not finite and positive get a zero normal; so do those outside the
    (H, W) mask `where`, if given (only its pixels are computed)."""
    h, w = depth.shape
    valid = np.isfinite(depth) & (depth > 0)
    z = np.where(valid, depth, 0.0)
    index = np.arange(h * w) if where is None else np.flatnonzero(where)
    rows, cols = np.divmod(index, w)

    def point(r: np.ndarray, c: np.ndarray) -> np.ndarray:
        return unproject_pixels(c, r, z[r, c].astype(np.float64), K)

    def difference(r0, c0, r1, c1, inner: np.ndarray) -> np.ndarray:  # as `np.gradient`
        d = point(r1, c1) - point(r0, c0)
        return np.where(inner[:, None], d / 2.0, d)

    left, right = np.maximum(cols - 1, 0), np.minimum(cols + 1, w - 1)
    up, down = np.maximum(rows - 1, 0), np.minimum(rows + 1, h - 1)
    du = difference(rows, left, rows, right, (cols > 0) & (cols < w - 1))
    dv = difference(up, cols, down, cols, (rows > 0) & (rows < h - 1))
    n = np.cross(dv, du)
    length = np.sqrt((n[:, 0] * n[:, 0] + n[:, 1] * n[:, 1]) + n[:, 2] * n[:, 2])[:, None]
    n = np.divide(n, length, out=np.zeros_like(n), where=length > 0)
    ok = (valid[rows, cols] & valid[rows, left] & valid[rows, right] & valid[up, cols]
          & valid[down, cols])
    normals = np.zeros((h * w, 3), np.float32)
    normals[index] = np.where(ok[:, None], n, 0.0)
    return normals.reshape(h, w, 3)


def grid_mesh(depth: np.ndarray, K: Intrinsics) -> tuple[np.ndarray, np.ndarray]:
    """Camera-space vertices (H*W, 3) and triangles of the pixel-grid mesh of `depth`
    (pixels whose depth is not finite and positive are left out)."""
    return grid_vertices(depth, K), grid_triangles(np.isfinite(depth) & (depth > 0))


def grid_vertices(depth: np.ndarray, K: Intrinsics, index: np.ndarray | None = None) -> np.ndarray:
    """Camera-space vertices (H*W, 3) of the pixel-grid mesh of `depth`, or only those of the
    flat vertex indices `index` (N,) -> (N, 3). Unknown depth (not finite and positive) is
    set to 1 m: no triangle uses those vertices.

    Vertices sit on the rays through the pixel centres, except that the frame's outermost
    rows and columns are pushed `BORDER_PAD_PX` outwards: rendered from the same rows (a
    horizontal baseline), the frame edge then lies just outside the border pixel centres
    instead of exactly on them, so Cycles and the numpy warp agree on covering them.
    """
    h, w = depth.shape
    index = np.arange(h * w) if index is None else np.asarray(index)
    rows, cols = np.divmod(index, w)
    u, v = cols.astype(np.float64), rows.astype(np.float64)
    u[cols == 0] -= BORDER_PAD_PX
    u[cols == w - 1] += BORDER_PAD_PX
    v[rows == 0] -= BORDER_PAD_PX
    v[rows == h - 1] += BORDER_PAD_PX
    d = depth.ravel()[index]
    z = np.where(np.isfinite(d) & (d > 0), d, 1.0).astype(np.float64)
    return unproject_pixels(u, v, z, K)


def grid_uv(height: int, width: int) -> np.ndarray:
    """Texture coordinates (H*W, 2) in [0, 1] of each pixel centre, v up (Blender's convention)."""
    u, v = pixel_grid(height, width)
    return np.stack([(u + 0.5) / width, 1.0 - (v + 0.5) / height], axis=-1).reshape(-1, 2)


#: A run of pixels is a structure in front of a surface when both its sides are this much
#: (relative) farther than its farthest pixel.
BRIDGE_MARGIN = 0.05


def bridged_background(image: np.ndarray, depth: np.ndarray, width: int,
                       margin: float = BRIDGE_MARGIN) -> tuple[np.ndarray, np.ndarray]:
    """(image, planar depth) with every run of at most `width` pixels along a row, then along
    a column, whose two sides both lie `margin` farther than the run (a wire, a rope, a thin
    branch) replaced by the straight line between its sides in colour and depth: the
    surface behind it, as the pixels on both sides of it show that surface. Depth 0 (no
    surface) is never a side."""
    colours, depths = image.astype(np.float32), depth.astype(np.float32)
    for along_columns in (False, True):
        # Views: a column is a row of the transposed arrays, and writes reach the copies above.
        view_colours, view_depths = (colours.swapaxes(0, 1), depths.T) if along_columns else (colours, depths)
        for run in range(1, width + 1):
            n = view_depths.shape[1] - run - 1
            if n <= 0:
                continue
            nearest, farthest = view_depths[:, 1:1 + n].copy(), view_depths[:, 1:1 + n].copy()
            for j in range(1, run):
                np.minimum(nearest, view_depths[:, 1 + j:1 + j + n], out=nearest)
                np.maximum(farthest, view_depths[:, 1 + j:1 + j + n], out=farthest)
            sides = np.minimum(view_depths[:, :n], view_depths[:, run + 1:])
            rows, starts = np.nonzero((nearest > 0) & (farthest * (1 + margin) < sides))
            # A run's sides lie behind it, so they are inside no run of this length: what is
            # read below is never written in this pass.
            ends = starts + run + 1
            depth_before, depth_after = view_depths[rows, starts], view_depths[rows, ends]
            colour_before, colour_after = view_colours[rows, starts], view_colours[rows, ends]
            for j in range(run):
                t = np.float32((j + 1) / (run + 1))
                view_depths[rows, starts + 1 + j] = (1 - t) * depth_before + t * depth_after
                view_colours[rows, starts + 1 + j] = (1 - t) * colour_before + t * colour_after
    out = np.clip(np.round(colours), 0, 255).astype(image.dtype) if image.dtype == np.uint8 else colours
    return out, depths
