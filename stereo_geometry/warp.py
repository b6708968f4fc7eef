"""Z-buffer rendering of pixel-grid meshes: the reference warp (numpy, with compiled kernels
from `compiled` that give the same results bit for bit).

It renders what Blender's Cycles renders in `datagen_bpy` (one ray through each pixel centre,
nearest-texel textures, planar depth, per-face tags), so tests can check the Blender renders,
and the add-on and `training infill` make the holes the network was trained on.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from .camera import Intrinsics, project, stereo_pose, transform, translation, world_to_camera
from .compiled import grid_grown_faces, grid_moved_projection, scanline_reproject, zbuffer
from .compiled import interpolated_lookup as compiled_interpolation
from .compiled import surface_lookup as compiled_lookup
from .mesh import (BORDER_PAD_PX, DEFAULT_HOLE_RULE, FAR_CORNER_MARGIN, POINT_LAG, HoleRule, bridged_background, cell_triangles, footprint_growth,
                   grid_triangles, grid_vertices, seen_edge_on, tag_grown_faces)

_NEAR = 1e-6
_CHUNK = 2_000_000  # candidate (triangle, pixel) pairs tested at once
_EPS = 1e-5  # pixel centres on (or, with float32 depth, a hair off) an edge count as inside


@dataclass
class Raster:
    """Per-pixel visibility of a triangle mesh: index of the nearest triangle (-1: none), its
    planar depth (inf: none) and perspective-correct barycentric weights of its vertices."""

    face: np.ndarray
    depth: np.ndarray
    bary: np.ndarray

    @property
    def covered(self) -> np.ndarray:
        return self.face >= 0


def rasterize(vertices: np.ndarray, tris: np.ndarray, K: Intrinsics, rank: np.ndarray | None = None) -> Raster:
    """Render camera-space `vertices` (N, 3) and triangles (M, 3) into an image of K's size,
    sampling each pixel at its centre and keeping the nearest triangle of the lowest `rank`
    (M,) there (none given: all 0; of equally near ones, the first). Runs the compiled
    z-buffer where numba is installed (the same arithmetic, see `zbuffer`), else the chunked
    numpy form."""
    return rasterize_projected(*project(vertices, K), tris, K, rank)


def rasterize_projected(u: np.ndarray, v: np.ndarray, z: np.ndarray, tris: np.ndarray,
                        K: Intrinsics, rank: np.ndarray | None = None) -> Raster:
    """`rasterize` over vertices already projected into K (`camera.project`)."""
    rank = np.zeros(len(tris), np.uint8) if rank is None else np.ascontiguousarray(rank, dtype=np.uint8)
    if zbuffer is None:
        return rasterize_numpy(u, v, z, tris, K, rank)
    return _compiled_raster(u, v, z, tris, K, rank)


def _compiled_raster(u: np.ndarray, v: np.ndarray, z: np.ndarray, tris: np.ndarray,
                     K: Intrinsics, rank: np.ndarray) -> Raster:
    """`rasterize` by the compiled z-buffer, over projected vertices."""
    face, depth, bary = zbuffer(u, v, z, np.ascontiguousarray(tris), rank, K.height, K.width, _NEAR, _EPS)
    shape = (K.height, K.width)
    return Raster(face.reshape(shape), depth.reshape(shape), bary.reshape(shape + (3,)))


def rasterize_numpy(u: np.ndarray, v: np.ndarray, z: np.ndarray, tris: np.ndarray,
                    K: Intrinsics, rank: np.ndarray) -> Raster:
    """`rasterize` in numpy over projected vertices (`u`, `v`, `z`) and triangle ranks: every
    (triangle, pixel) pair of the triangles' bounding boxes, `_CHUNK` pairs at a time."""
    h, w = K.height, K.width
    ahead = z > _NEAR
    in_front = np.nonzero(ahead[tris[:, 0]] & ahead[tris[:, 1]] & ahead[tris[:, 2]])[0]
    tu, tv, tz = u[tris[in_front]], v[tris[in_front]], z[tris[in_front]]

    def lowest(c: np.ndarray) -> np.ndarray:
        return np.minimum(np.minimum(c[:, 0], c[:, 1]), c[:, 2])

    def highest(c: np.ndarray) -> np.ndarray:
        return np.maximum(np.maximum(c[:, 0], c[:, 1]), c[:, 2])

    x0 = np.clip(np.ceil(lowest(tu) - _EPS), 0, w).astype(np.int64)
    x1 = np.clip(np.floor(highest(tu) + _EPS), -1, w - 1).astype(np.int64)
    y0 = np.clip(np.ceil(lowest(tv) - _EPS), 0, h).astype(np.int64)
    y1 = np.clip(np.floor(highest(tv) + _EPS), -1, h - 1).astype(np.int64)
    nx = np.maximum(x1 - x0 + 1, 0)
    count = nx * np.maximum(y1 - y0 + 1, 0)

    best_rank = np.full(h * w, 255, dtype=np.uint8)
    best_z = np.full(h * w, np.inf)
    best_face = np.full(h * w, -1, dtype=np.int64)
    best_bary = np.zeros((h * w, 3))
    todo = np.nonzero(count)[0]
    ends = np.cumsum(count[todo])
    first = 0
    while first < len(todo):
        done_before = ends[first] - count[todo[first]]
        last = max(int(np.searchsorted(ends, done_before + _CHUNK, "right")), first + 1)
        t = todo[first:last]
        first = last

        # Every (triangle, pixel) pair of the triangles' bounding boxes.
        n = count[t]
        ti = np.repeat(t, n)
        offset = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
        px = (x0[ti] + offset % nx[ti]).astype(np.float64)
        py = (y0[ti] + offset // nx[ti]).astype(np.float64)
        (ua, ub, uc), (va, vb, vc) = tu[ti].T, tv[ti].T
        area = (ub - ua) * (vc - va) - (uc - ua) * (vb - va)
        with np.errstate(divide="ignore", invalid="ignore"):
            inv_area = 1.0 / area
            wa = ((ub - px) * (vc - py) - (uc - px) * (vb - py)) * inv_area
            wb = ((uc - px) * (va - py) - (ua - px) * (vc - py)) * inv_area
            wc = 1.0 - wa - wb
        inside = (area != 0) & (wa >= -_EPS) & (wb >= -_EPS) & (wc >= -_EPS)
        ti, wgt = ti[inside], np.stack([wa, wb, wc], 1)[inside] * (1.0 / tz[ti[inside]])
        pix = py[inside].astype(np.int64) * w + px[inside].astype(np.int64)
        depth = 1.0 / wgt.sum(1)

        # Lowest rank and nearest candidate per pixel, then against what earlier chunks left.
        order = np.lexsort((depth, rank[in_front[ti]], pix))
        pix, depth, ti, wgt = pix[order], depth[order], ti[order], wgt[order]
        head = np.ones(len(pix), dtype=bool)
        head[1:] = pix[1:] != pix[:-1]
        pix, depth, ti, wgt = pix[head], depth[head], ti[head], wgt[head]
        ranks = rank[in_front[ti]]
        nearer = (ranks < best_rank[pix]) | ((ranks == best_rank[pix]) & (depth < best_z[pix]))
        pix = pix[nearer]
        best_rank[pix] = ranks[nearer]
        best_z[pix] = depth[nearer]
        best_face[pix] = in_front[ti[nearer]]
        best_bary[pix] = wgt[nearer] * depth[nearer, None]
    return Raster(best_face.reshape(h, w), best_z.reshape(h, w), best_bary.reshape(h, w, 3))


@dataclass
class Reprojection:
    """A source view rendered from another camera through its pixel-grid mesh.

    `image` holds the nearest source texel of whatever face is visible (stretched faces give
    the smeared colours a real re-render shows; uncovered pixels are 0), `depth` the planar
    depth in the target camera (0: uncovered), `stretched` the pixels showing a stretched face;
    `guessed` the pixels the rule fills by a guess rather than from a sample of their own
    surface: the holes of the first layer that the surface bridged behind thin structures
    covers (`with_bridged_layer`) and the pixels a far corner reaches (`point_samples`); None
    where there are none.
    """

    image: np.ndarray
    depth: np.ndarray
    stretched: np.ndarray
    covered: np.ndarray
    guessed: np.ndarray | None = None

    @property
    def hole_mask(self) -> np.ndarray:
        """1 where the warped image holds no valid data: stretched faces or no geometry."""
        return (self.stretched | ~self.covered).astype(np.uint8)


def reproject(image: np.ndarray, depth: np.ndarray, K_src: Intrinsics, K_dst: Intrinsics,
              src_to_dst: np.ndarray, rule: HoleRule = DEFAULT_HOLE_RULE, interpolate: bool = False) -> Reprojection:
    """Render the pixel-grid mesh of (`image`, `depth`) seen by K_src into the camera K_dst,
    where `src_to_dst` maps source camera coordinates to target camera coordinates.

    Faces are tagged as `tag_stretched_faces` does (growth measured with K_src) and the holes
    follow `rule` (stretched faces behind real ones, point samples: `HoleRule`); texture lookup
    is nearest-texel, as Blender's 'Closest' interpolation (the renders the network was
    trained on), or with `interpolate`, on faces that are not stretched, the colours of the
    visible face's three vertices weighted by the point's barycentric weights
    (`interpolated_colours`: a closer estimate of a surface seen from elsewhere; the holes
    keep the nearest texels the network was trained on; within a pixel of the source's
    border the padded border vertices blend in up to 1 % of the next texel). A target
    camera shifted along the source's rows, with the source's rows (a parallel rig, an
    off-axis eye, a frame narrower than its overscan render), takes the compiled scanline
    path, any other the general path (`_general_grid_raster`); neither builds a vertex
    array where numba is installed, and both give the numpy reference's result, bit for bit.
    """
    if rule.bridge_px:
        return with_bridged_layer(lambda im, de, plain: reproject(im, de, K_src, K_dst, src_to_dst, plain, interpolate),
                                  image, depth, rule)
    same_rows = (K_src.fy, K_src.cy, K_src.height) == (K_dst.fy, K_dst.cy, K_dst.height)
    shift = _pure_shift(src_to_dst) if same_rows and scanline_reproject is not None else None
    if shift is not None and shift[1:] == (0.0, 0.0):
        along_rows = _scanline_reprojection(image, depth, K_src, K_dst, src_to_dst, shift, rule, interpolate)
        if along_rows is not None:
            return along_rows
    tris, stretched_face, raster = _general_grid_raster(depth, K_src, K_dst, src_to_dst, rule)
    covered = raster.covered
    warped, stretched = surface_lookup(raster, tris, stretched_face, image)
    if interpolate:
        on_surface = ~stretched.reshape(stretched.shape + (1,) * (image.ndim - 2))
        warped = np.where(on_surface, interpolated_colours(raster, tris, image), warped)
    depth_out = raster.depth.astype(np.float32)
    depth_out[~covered] = 0.0
    return with_point_samples(Reprojection(image=warped, depth=depth_out, stretched=stretched, covered=covered),
                              image, depth, K_src, K_dst, src_to_dst, tris[stretched_face], rule)


def with_bridged_layer(warp_layer: Callable[[np.ndarray, np.ndarray, HoleRule], Reprojection],
                       image: np.ndarray, depth: np.ndarray, rule: HoleRule) -> Reprojection:
    """A view warped under a rule with `bridge_px` (any renderer: `warp_layer(image, depth,
    rule without bridges)`): warped as it is, and the surface behind its thin structures
    (`mesh.bridged_background`) warped as a second layer; a hole of the first that the second
    covers takes the second's colour and depth and is no hole."""
    plain = replace(rule, bridge_px=0)
    front = warp_layer(image, depth, plain)
    behind_image, behind_depth = bridged_background(image, depth, rule.bridge_px)
    if np.array_equal(behind_depth, depth):  # no thin structure: the second layer is the first
        return front
    behind = warp_layer(behind_image, behind_depth, plain)
    take = front.hole_mask.astype(bool) & ~behind.hole_mask.astype(bool)
    return Reprojection(image=np.where(take.reshape(take.shape + (1,) * (front.image.ndim - 2)), behind.image, front.image),
                        depth=np.where(take, behind.depth, front.depth).astype(np.float32),
                        stretched=front.stretched & ~take, covered=front.covered | take,
                        guessed=take if front.guessed is None else take | front.guessed)


def _pure_shift(src_to_dst: np.ndarray) -> tuple[float, float, float] | None:
    """The translation of a transform without rotation, else None."""
    if np.array_equal(src_to_dst[:3, :3], np.eye(3)) and np.array_equal(src_to_dst[3], (0, 0, 0, 1)):
        return tuple(float(t) for t in src_to_dst[:3, 3])
    return None


def _scanline_reprojection(image: np.ndarray, depth: np.ndarray, K: Intrinsics, K_dst: Intrinsics,
                           src_to_dst: np.ndarray, shift: tuple[float, float, float], rule: HoleRule,
                           interpolate: bool) -> Reprojection | None:
    """`reproject` into the camera K_dst (K's rows, its own columns) shifted along K's rows
    by the compiled scanline kernel (`compiled.scanline_reproject`): the same result, bit for
    bit, without storing triangles, projections or weights. None where a vertex would leave
    its row (only for depths so extreme that rounding moves it): the general path takes
    those. `shift` is `src_to_dst`'s translation (`_pure_shift`)."""
    h, w = depth.shape
    depth = np.ascontiguousarray(depth)
    camera = (K.fx, K.fy, K.cx, K.cy)
    stretched_cell, rows_kept = grid_grown_faces(depth, BORDER_PAD_PX, camera, shift, rule.min_growth_px)
    if not rows_kept:
        return None
    half, row, col = np.nonzero(stretched_cell)  # the grown faces: tag those seen edge on
    grown = cell_triangles(half, row, col, w)
    edge_on = seen_edge_on(grown, lambda index: grid_vertices(depth, K, index), rule.max_angle_deg)
    stretched_cell[half, row, col] = edge_on
    colours = np.ascontiguousarray(image.reshape(h * w, -1))
    warped, depth_out, stretched, covered = scanline_reproject(
        depth, colours, stretched_cell, rule.real_faces_first, BORDER_PAD_PX, camera, shift,
        (K_dst.fx, K_dst.cx, K_dst.width), _NEAR, _EPS, interpolate)
    wt = K_dst.width
    warp = Reprojection(image=warped.reshape((h, wt) + image.shape[2:]), depth=depth_out.reshape(h, wt),
                        stretched=stretched.reshape(h, wt), covered=covered.reshape(h, wt))
    return with_point_samples(warp, image, depth, K, K_dst, src_to_dst, grown[edge_on], rule)


def _general_grid_raster(depth: np.ndarray, K_src: Intrinsics, K_dst: Intrinsics, src_to_dst: np.ndarray,
                         rule: HoleRule):
    """Triangles, stretched-face tags (`tag_stretched_faces`) and raster of the grid mesh of
    `depth` seen by K_src, rendered into K_dst through `src_to_dst` (stretched faces behind
    the others where `rule.real_faces_first`): the vertices moved and
    projected once for both the tags and the raster (by `compiled.grid_moved_projection`,
    which builds no vertex array, where numba is installed)."""
    valid = np.isfinite(depth) & (depth > 0)
    if grid_moved_projection is None:
        vertices, tris = grid_vertices(depth, K_src), grid_triangles(valid)
        moved = transform(vertices, src_to_dst)
        u_src, v_src, _ = project(vertices, K_src)
        u_dst, v_dst, z_dst = project(moved, K_src)  # growth is measured with K_src
        in_target = (u_dst, v_dst, z_dst) if K_dst == K_src else project(moved, K_dst)
    else:
        tris = grid_triangles(valid)
        depth, matrix = np.ascontiguousarray(depth), np.ascontiguousarray(src_to_dst, dtype=np.float64)
        camera = (K_src.fx, K_src.fy, K_src.cx, K_src.cy)
        u_src, v_src, u_dst, v_dst, z_dst = grid_moved_projection(depth, BORDER_PAD_PX, camera, matrix, camera)
        in_target = (u_dst, v_dst, z_dst) if K_dst == K_src else tuple(grid_moved_projection(
            depth, BORDER_PAD_PX, camera, matrix, (K_dst.fx, K_dst.fy, K_dst.cx, K_dst.cy))[2:])
    growth = footprint_growth(u_src, v_src, u_dst, v_dst, tris)
    stretched_face = tag_grown_faces(growth, tris, lambda index: grid_vertices(depth, K_src, index), rule)
    rank = stretched_face.astype(np.uint8) if rule.real_faces_first else None
    return tris, stretched_face, rasterize_projected(*in_target, tris, K_dst, rank)


def point_samples(depth: np.ndarray, K_src: Intrinsics, K_dst: Intrinsics, src_to_dst: np.ndarray,
                  corners: np.ndarray, rule: HoleRule) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The point samples of `rule` (`HoleRule.point_radius_px`, `far_reach_px`): the source
    pixels at the corners (M, 3) of stretched faces (or a flat list of source pixels) and the
    frame's outermost pixels (whose footprints reach half a pixel past the mesh), where their
    depth is known. One row per target pixel a point covers: (the flat source pixel whose
    colour it shows there, the flat target pixel, its planar depth there `POINT_LAG` behind
    its own, whether a far corner reaches it), nearest first; none where the rule has no
    points. A point shows its own colour within `point_radius_px`. A far corner (`far_corners`) reaches on to `far_reach_px` toward
    a side only where its surface continues on the other (the next pixel of its row that way
    within `FAR_CORNER_MARGIN` of its depth: the first pixel of a surface, not a sample of a
    depth ramp across an edge), and shows that next pixel's colour there: the edge pixel's own
    mixes in the nearer surface's (antialiasing, optics).
    """
    nothing = np.zeros(0, np.int64)
    if rule.point_radius_px <= 0:
        return nothing, nothing, np.zeros(0), np.zeros(0, bool)
    h, w = depth.shape
    grid = np.arange(h * w).reshape(h, w)
    index = np.unique(np.concatenate([corners.ravel(), grid[0], grid[-1], grid[:, 0], grid[:, -1]]))
    known = depth.ravel()[index]
    index = index[np.isfinite(known) & (known > 0)]
    u, v, z = project(transform(grid_vertices(depth, K_src, index), src_to_dst), K_dst)
    flat_depth = depth.ravel()
    found = [], [], [], []
    with np.errstate(invalid="ignore"):
        nearest_col, row = np.floor(u + 0.5), np.floor(v + 0.5)
        in_rows = (z > _NEAR) & (np.abs(v - row) <= rule.point_radius_px) & (row >= 0) & (row < K_dst.height)

        def row_pixels(points: np.ndarray, inner: float, outer: float):
            """(point, target column, side) for the pixels of `points`' rows whose centres lie
            farther than `inner` and at most `outer` from them."""
            for step in range(-int(np.floor(outer + 0.5)), int(np.floor(outer + 0.5)) + 1):
                col = nearest_col[points] + step
                offset = col - u[points]
                lands = (in_rows[points] & (np.abs(offset) > inner) & (np.abs(offset) <= outer)
                         & (col >= 0) & (col < K_dst.width))
                yield points[lands], col[lands], np.sign(offset[lands]).astype(np.int64)

        def add(points: np.ndarray, col: np.ndarray, source: np.ndarray, reached: bool) -> None:
            found[0].append(source)
            found[1].append((row[points] * K_dst.width + col).astype(np.int64))
            found[2].append(z[points] * (1.0 + POINT_LAG))
            found[3].append(np.full(len(points), reached))

        for points, col, _ in row_pixels(np.arange(len(index)), -1.0, rule.point_radius_px):
            add(points, col, index[points], False)
        if rule.far_reach_px > rule.point_radius_px and corners.ndim == 2:
            far = np.flatnonzero(np.isin(index, far_corners(depth, corners)))
            for points, col, side in row_pixels(far, rule.point_radius_px, rule.far_reach_px):
                inward = index[points] - side  # the next pixel of its row, the other way
                inward_col = index[points] % w - side
                behind = flat_depth[np.clip(inward, 0, h * w - 1)]
                own = flat_depth[index[points]]
                continues = ((inward_col >= 0) & (inward_col < w) & np.isfinite(behind)
                             & (np.abs(behind - own) <= FAR_CORNER_MARGIN * own))
                add(points[continues], col[continues], inward[continues], True)
    source, pixel, lagged, reached = (np.concatenate(part) for part in found)
    order = np.lexsort((pixel, source, lagged))
    return source[order], pixel[order], lagged[order], reached[order]


def far_corners(depth: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """Flat indices of the far corners of faces (M, 3): deeper than `FAR_CORNER_MARGIN`
    behind their face's nearest corner."""
    at = depth.ravel()[corners]
    return np.unique(corners[at > at.min(axis=1, keepdims=True) * (1 + FAR_CORNER_MARGIN)])


def with_point_samples(warp: Reprojection, image: np.ndarray, depth: np.ndarray, K_src: Intrinsics,
                       K_dst: Intrinsics, src_to_dst: np.ndarray, corners: np.ndarray,
                       rule: HoleRule) -> Reprojection:
    """`warp` with the point samples of `rule` (`point_samples`) drawn in: each takes its
    pixel where that pixel is a hole or shows a real face farther than the point (with its
    lag), the nearest of several first, and shows the colour `point_samples` gives it; the
    pixels far corners reach are `guessed`."""
    index, pixel, lagged, reached = point_samples(depth, K_src, K_dst, src_to_dst, corners, rule)
    if len(index) == 0:
        return warp
    _, first = np.unique(pixel, return_index=True)  # nearest first: the first of each pixel wins
    index, pixel, lagged, reached = index[first], pixel[first], lagged[first], reached[first]
    flat_depth = warp.depth.reshape(-1)
    hole = warp.hole_mask.reshape(-1).astype(bool)
    takes = hole[pixel] | (lagged < flat_depth[pixel])
    index, pixel = index[takes], pixel[takes]
    h, w = depth.shape
    out_image, out_depth = warp.image.copy(), warp.depth.copy()
    stretched, covered = warp.stretched.copy(), warp.covered.copy()
    out_image.reshape((-1,) + image.shape[2:])[pixel] = image.reshape((h * w,) + image.shape[2:])[index]
    out_depth.reshape(-1)[pixel] = lagged[takes].astype(np.float32)
    stretched.reshape(-1)[pixel] = False
    covered.reshape(-1)[pixel] = True
    guessed = warp.guessed
    if reached[takes].any():
        guessed = np.zeros(warp.depth.shape, bool) if guessed is None else guessed.copy()
        guessed.reshape(-1)[pixel[reached[takes]]] = True
    return Reprojection(image=out_image, depth=out_depth, stretched=stretched, covered=covered, guessed=guessed)


def surface_lookup(raster: Raster, tris: np.ndarray, stretched_face: np.ndarray,
                   image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What each pixel of a raster of the grid mesh of `image` shows: the colour of the source
    pixel nearest to where its point lies on the mesh, and whether its face is stretched
    (both 0 where uncovered)."""
    h, w = image.shape[:2]
    colours = image.reshape(h * w, -1)
    if compiled_lookup is not None:
        warped, stretched = compiled_lookup(raster.face.ravel(), raster.bary.reshape(-1, 3),
                                            np.ascontiguousarray(tris), w, h,
                                            np.ascontiguousarray(colours), stretched_face)
    else:
        covered = raster.covered.ravel()
        face = np.maximum(raster.face.ravel(), 0)
        corners = tris[face].astype(np.int64)  # (P, 3) source vertex indices
        bary = raster.bary.reshape(-1, 3)

        def at(coord: np.ndarray) -> np.ndarray:
            return (bary[:, 0] * coord[:, 0] + bary[:, 1] * coord[:, 1]) + bary[:, 2] * coord[:, 2]

        col = np.clip(np.floor(at((corners % w).astype(np.float64)) + 0.5), 0, w - 1).astype(np.int64)
        row = np.clip(np.floor(at((corners // w).astype(np.float64)) + 0.5), 0, h - 1).astype(np.int64)
        warped = colours[row * w + col]
        warped[~covered] = 0
        stretched = covered & stretched_face[face]
    shape = raster.face.shape
    return warped.reshape(shape + image.shape[2:]), stretched.reshape(shape)


def interpolated_colours(raster: Raster, tris: np.ndarray, image: np.ndarray) -> np.ndarray:
    """What each pixel of a raster of the grid mesh of `image` shows, interpolated: the
    colours of its face's three vertices (source pixels) weighted by its barycentric weights,
    rounded back to `image`'s integer type (0 where uncovered)."""
    h, w = image.shape[:2]
    colours = image.reshape(h * w, -1)
    face, bary = raster.face.ravel(), raster.bary.reshape(-1, 3)
    if compiled_interpolation is not None:
        values = compiled_interpolation(face, bary, np.ascontiguousarray(tris), np.ascontiguousarray(colours))
    else:
        corners = tris[np.maximum(face, 0)]
        values = (bary[:, 0, None] * colours[corners[:, 0]] + bary[:, 1, None] * colours[corners[:, 1]]) + \
            bary[:, 2, None] * colours[corners[:, 2]]
        values[face < 0] = 0
    if np.issubdtype(image.dtype, np.integer):
        values = np.rint(values)
    return values.astype(image.dtype).reshape(raster.face.shape + image.shape[2:])


def warm_up() -> None:
    """Compile, or load from numba's cache, the kernels `reproject` runs on the frames the
    runtime passes (8-bit images and float32 depth; a parallel rig and a turned camera, which
    every other move shares; nearest-texel and interpolated colours), so that the first real
    frame does not wait for them. Nothing where numba is not installed."""
    if zbuffer is None:
        return
    K = Intrinsics.from_fov(8, 6, 60.0)
    image, depth = np.zeros((6, 8, 3), np.uint8), np.full((6, 8), 2.0, np.float32)
    for src_to_dst in (world_to_camera(translation(0.063)), world_to_camera(stereo_pose(0.063, 1.0))):
        reproject(image, depth, K, K, src_to_dst)
        reproject(image.astype(np.float32), depth, K, K, src_to_dst, interpolate=True)
