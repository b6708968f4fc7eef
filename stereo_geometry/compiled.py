"""Compiled kernels (numba) of the geometry core, each the same arithmetic as its numpy form.

`warp` and `mesh` run these where numba is installed and their numpy forms where it is not
(Blender's own Python, say); tests/test_zbuffer.py holds them equal. The z-buffer and the
reference rasterizer evaluate the same float64 expressions in the same order (no fused
multiply-adds, no reassociation), test the same pixel centres and keep, per pixel, the
candidate with the smallest (depth, triangle index); so their faces, depths and barycentric
weights agree bit for bit. The z-buffer needs no per-(triangle, pixel) arrays, whatever the
rig (parallel or converged) or the frame size, and fills bands of rows on all of numba's
threads. `grid_moved_projection` projects a grid mesh's vertices without building them, for
any rigid move of the camera (shifted or turned cameras, other frames of a sequence).
"""
from __future__ import annotations

import os

import numpy as np

#: Set (to anything but "") to run the numpy forms even where numba is installed.
NUMPY_ONLY = "STEREO_GEOMETRY_NUMPY_ONLY"

try:
    if os.environ.get(NUMPY_ONLY):
        raise ImportError(NUMPY_ONLY)
    import numba
except ImportError:  # the numpy forms in warp.py and mesh.py stand in
    numba = None


def _triangle_setup(ua: float, ub: float, uc: float, va: float, vb: float, vc: float,
                    za: float, zb: float, zc: float, near: float, width: int, eps: float):
    """What the candidate tests of a projected triangle need: (whether it is drawn at all: in
    front of `near`, finite, with area; its first and last column; its winding sign; the
    threshold of `_pixel_weights`' early rejection; the reciprocals of its area and depths)."""
    if not (za > near and zb > near and zc > near) or not np.isfinite(ua + ub + uc + va + vb + vc):
        return False, 0, -1, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
    x0 = max(int(np.ceil(min(min(ua, ub), uc) - eps)), 0)
    x1 = min(int(np.floor(max(max(ua, ub), uc) + eps)), width - 1)
    area = (ub - ua) * (vc - va) - (uc - ua) * (vb - va)
    if area == 0.0:
        return False, 0, -1, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
    # |weight numerator| beyond this is outside by twice the tolerance: skip the weights
    clearly_out = -2.0 * eps * abs(area)
    sign = 1.0 if area > 0 else -1.0
    return True, x0, x1, sign, clearly_out, 1.0 / area, 1.0 / za, 1.0 / zb, 1.0 / zc


def _pixel_weights(ua: float, ub: float, uc: float, va: float, vb: float, vc: float, px: float,
                   py: float, sign: float, clearly_out: float, inv_area: float, inv_za: float,
                   inv_zb: float, inv_zc: float, eps: float):
    """Whether pixel centre (px, py) lies in a triangle (`_triangle_setup`), within `eps` of
    its barycentric weights, and there its planar depth and perspective-correct weights."""
    na = (ub - px) * (vc - py) - (uc - px) * (vb - py)
    if na * sign < clearly_out:
        return False, 0.0, 0.0, 0.0, 0.0
    wa = na * inv_area
    if wa < -eps:
        return False, 0.0, 0.0, 0.0, 0.0
    nb = (uc - px) * (va - py) - (ua - px) * (vc - py)
    if nb * sign < clearly_out:
        return False, 0.0, 0.0, 0.0, 0.0
    wb = nb * inv_area
    wc = 1.0 - wa - wb
    if wb < -eps or wc < -eps:
        return False, 0.0, 0.0, 0.0, 0.0
    ga, gb, gc = wa * inv_za, wb * inv_zb, wc * inv_zc
    depth = 1.0 / (ga + gb + gc)
    return True, depth, ga * depth, gb * depth, gc * depth


def _keep_nearer(best_rank: np.ndarray, best_z: np.ndarray, best_id: np.ndarray, best_bary: np.ndarray,
                 i: int, rank: int, depth: float, id_: int, wa: float, wb: float, wc: float) -> None:
    """Entry i of the nearest-candidate buffers takes (rank, depth, id_, weights) if of a
    lower rank (a face that is not stretched before one that is, where stretched faces rank
    last), or of the same rank and nearer, or as near with a smaller id_ (the first of
    equally near triangles)."""
    if rank < best_rank[i] or (rank == best_rank[i] and (
            depth < best_z[i] or (depth == best_z[i] and id_ < best_id[i]))):
        best_rank[i] = rank
        best_z[i] = depth
        best_id[i] = id_
        best_bary[i, 0] = wa
        best_bary[i, 1] = wb
        best_bary[i, 2] = wc


def _zbuffer(u: np.ndarray, v: np.ndarray, z: np.ndarray, tris: np.ndarray, rank: np.ndarray, height: int,
             width: int, near: float, eps: float, bands: int):
    """Nearest triangle, planar depth and perspective-correct barycentric weights per pixel
    of triangles `tris` (M, 3) over projected vertices (`u`, `v`, `z`); a triangle of a
    lower `rank` (M,) before any of a higher one; of equally near triangles, the first. The
    rows are split into `bands` that threads fill in parallel (each thread writes its own
    rows), so the result does not depend on their number. Faces are int32, as the
    triangles' vertex indices."""
    best_rank = np.empty(height * width, dtype=np.uint8)
    best_z = np.empty(height * width)
    best_face = np.empty(height * width, dtype=np.int32)
    best_bary = np.empty((height * width, 3))
    band_rows = (height + bands - 1) // bands
    for band in numba.prange(bands):
        top, bottom = band * band_rows, min(height, (band + 1) * band_rows) - 1
        # each thread first touches (and so pages in) its own rows
        best_rank[top * width:(bottom + 1) * width] = 255
        best_z[top * width:(bottom + 1) * width] = np.inf
        best_face[top * width:(bottom + 1) * width] = -1
        best_bary[top * width:(bottom + 1) * width] = 0.0
        for t in range(tris.shape[0]):
            a, b, c = tris[t, 0], tris[t, 1], tris[t, 2]
            va, vb, vc = v[a], v[b], v[c]
            y0 = np.ceil(min(min(va, vb), vc) - eps)
            y1 = np.floor(max(max(va, vb), vc) + eps)
            if not (y1 >= top and y0 <= bottom):  # outside this band (or not finite)
                continue
            drawn, x0, x1, sign, clearly_out, inv_area, inv_za, inv_zb, inv_zc = _triangle_setup(
                u[a], u[b], u[c], va, vb, vc, z[a], z[b], z[c], near, width, eps)
            if not drawn:
                continue
            ua, ub, uc = u[a], u[b], u[c]
            for y in range(max(int(y0), top), min(int(y1), bottom) + 1):
                py = float(y)
                for x in range(x0, x1 + 1):
                    inside, depth, wa, wb, wc = _pixel_weights(ua, ub, uc, va, vb, vc, float(x), py, sign,
                                                               clearly_out, inv_area, inv_za, inv_zb, inv_zc, eps)
                    if inside:
                        _keep_nearer(best_rank, best_z, best_face, best_bary, y * width + x, rank[t], depth, t,
                                     wa, wb, wc)
    return best_face, best_z, best_bary


def _extent_growth(ua: float, ub: float, uc: float, va: float, vb: float, vc: float, sa: float,
                   sb: float, sc: float, ta: float, tb: float, tc: float) -> float:
    """`mesh.footprint_growth` of one triangle, from its corners' pixel coordinates in the
    target camera (u, v) and in the source camera (s, t)."""
    du = (max(max(ua, ub), uc) - min(min(ua, ub), uc)) - (max(max(sa, sb), sc) - min(min(sa, sb), sc))
    dv = (max(max(va, vb), vc) - min(min(va, vb), vc)) - (max(max(ta, tb), tc) - min(min(ta, tb), tc))
    return max(du, dv)


def _nearest_texel(wa: float, wb: float, wc: float, ra: int, ca: int, rb: int, cb: int, rc: int,
                   cc: int, width: int, height: int) -> int:
    """Flat index of the source pixel nearest to the point with weights (wa, wb, wc) on the
    triangle of grid vertices (row, column) a, b, c (`warp.surface_lookup`)."""
    u = (wa * float(ca) + wb * float(cb)) + wc * float(cc)
    v = (wa * float(ra) + wb * float(rb)) + wc * float(rc)
    col = min(max(np.floor(u + 0.5), 0.0), width - 1.0)
    row = min(max(np.floor(v + 0.5), 0.0), height - 1.0)
    return int(row) * width + int(col)


def _blend(colours: np.ndarray, a: int, b: int, c: int, k: int, wa: float, wb: float, wc: float) -> float:
    """Channel k of source pixels a, b, c (rows of `colours`) weighted by (wa, wb, wc), float64
    (`warp.interpolated_colours`)."""
    return (wa * float(colours[a, k]) + wb * float(colours[b, k])) + wc * float(colours[c, k])


def _footprint_growth(u_src: np.ndarray, v_src: np.ndarray, u_dst: np.ndarray,
                      v_dst: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """`mesh.footprint_growth_px` over vertices projected into both cameras."""
    growth = np.empty(tris.shape[0])
    for t in numba.prange(tris.shape[0]):
        a, b, c = tris[t, 0], tris[t, 1], tris[t, 2]
        growth[t] = _extent_growth(u_dst[a], u_dst[b], u_dst[c], v_dst[a], v_dst[b], v_dst[c],
                                   u_src[a], u_src[b], u_src[c], v_src[a], v_src[b], v_src[c])
    return growth


def _surface_lookup(face: np.ndarray, bary: np.ndarray, tris: np.ndarray, src_width: int,
                    src_height: int, colours: np.ndarray, stretched_face: np.ndarray):
    """`warp.surface_lookup` for a raster's `face` (P,) and `bary` (P, 3), the source
    `colours` (N, C) and the faces' tags."""
    image = np.zeros((face.shape[0], colours.shape[1]), dtype=colours.dtype)
    stretched = np.zeros(face.shape[0], dtype=np.bool_)
    for p in numba.prange(face.shape[0]):
        t = face[p]
        if t < 0:
            continue
        a, b, c = tris[t, 0], tris[t, 1], tris[t, 2]
        ra, rb, rc = a // src_width, b // src_width, c // src_width
        image[p] = colours[_nearest_texel(bary[p, 0], bary[p, 1], bary[p, 2], ra, a - ra * src_width, rb,
                                          b - rb * src_width, rc, c - rc * src_width, src_width, src_height)]
        stretched[p] = stretched_face[t]
    return image, stretched


def _interpolated_lookup(face: np.ndarray, bary: np.ndarray, tris: np.ndarray,
                         colours: np.ndarray) -> np.ndarray:
    """`warp.interpolated_colours`: per pixel of a raster (`face` (P,), `bary` (P, 3)), the
    colours (N, C) of its face's three vertices weighted by its barycentric weights, float64."""
    values = np.zeros((face.shape[0], colours.shape[1]))
    for p in numba.prange(face.shape[0]):
        t = face[p]
        if t < 0:
            continue
        for k in range(colours.shape[1]):
            values[p, k] = _blend(colours, tris[t, 0], tris[t, 1], tris[t, 2], k,
                                  bary[p, 0], bary[p, 1], bary[p, 2])
    return values


def _grid_triangles(valid: np.ndarray) -> np.ndarray:
    """`mesh.grid_triangles`: each half of each row of cells counted, then filled, in parallel."""
    h, w = valid.shape
    rows = max(h - 1, 0)
    counts = np.zeros(2 * rows, dtype=np.int64)
    for k in numba.prange(2 * rows):
        half = k // rows
        r = k - half * rows
        for c in range(w - 1):
            if valid[r, c] and valid[r + 1, c + 1] and (valid[r, c + 1] if half else valid[r + 1, c]):
                counts[k] += 1
    starts = np.cumsum(counts) - counts
    tris = np.empty((counts.sum(), 3), dtype=np.int32)
    for k in numba.prange(2 * rows):
        half = k // rows
        r = k - half * rows
        t = starts[k]
        for c in range(w - 1):
            if valid[r, c] and valid[r + 1, c + 1] and (valid[r, c + 1] if half else valid[r + 1, c]):
                v00 = r * w + c
                tris[t, 0] = v00
                tris[t, 1] = v00 + w + 1 if half else v00 + w
                tris[t, 2] = v00 + 1 if half else v00 + w + 1
                t += 1
    return tris


def _grid_vertex(depth: np.ndarray, r: int, c: int, pad: float, camera: tuple, shift: tuple, target_x: tuple):
    """Vertex (r, c) of a grid mesh (`mesh.grid_vertices`) projected (`camera.project`) into
    the source camera (u, v), into the source camera shifted by `shift` (u, v, z) and into
    the target camera's columns (u; `target_x` is its (fx, cx), its rows the source's), and
    whether its depth is known. `camera` is (fx, fy, cx, cy)."""
    fx, fy, cx, cy = camera
    tx, ty, tz = shift
    gx, gcx = target_x
    u_src, v_src, x, y, z, known = _grid_vertex_at(depth, r, c, pad, fx, fy, cx, cy)
    x, y, zt = x + tx, y + ty, z + tz
    return u_src, v_src, fx * x / zt + cx, fy * y / zt + cy, zt, gx * x / zt + gcx, known


def _grid_moved_projection(depth: np.ndarray, pad: float, camera: tuple, matrix: np.ndarray,
                           camera_dst: tuple):
    """Pixel coordinates of a grid mesh's vertices in the source camera (u, v) and, moved by
    the rigid 4x4 `matrix` (`camera.transform`), in the camera `camera_dst` (u, v, z):
    `mesh.grid_vertices`, `camera.project`, `camera.transform`, `camera.project`, without
    building the vertices. Cameras are (fx, fy, cx, cy)."""
    h, w = depth.shape
    fx, fy, cx, cy = camera
    gx, gy, gcx, gcy = camera_dst
    out = np.empty((5, h * w))
    for r in numba.prange(h):
        for c in range(w):
            i = r * w + c
            out[0, i], out[1, i], x, y, z, _ = _grid_vertex_at(depth, r, c, pad, fx, fy, cx, cy)
            xm = x * matrix[0, 0] + y * matrix[0, 1] + z * matrix[0, 2] + matrix[0, 3]
            ym = x * matrix[1, 0] + y * matrix[1, 1] + z * matrix[1, 2] + matrix[1, 3]
            zm = x * matrix[2, 0] + y * matrix[2, 1] + z * matrix[2, 2] + matrix[2, 3]
            out[2, i], out[3, i], out[4, i] = gx * xm / zm + gcx, gy * ym / zm + gcy, zm
    return out


def _grid_vertex_at(depth: np.ndarray, r: int, c: int, pad: float, fx: float, fy: float, cx: float,
                    cy: float):
    """Vertex (r, c) of a grid mesh (`mesh.grid_vertices`): its pixel coordinates in the
    source camera (`camera.project`), its camera-space x, y, z and whether its depth is known."""
    h, w = depth.shape
    v = float(r) - pad if r == 0 else float(r)
    if r == h - 1:
        v += pad
    u = float(c) - pad if c == 0 else float(c)
    if c == w - 1:
        u += pad
    z = float(depth[r, c])
    known = np.isfinite(z) and z > 0
    if not known:
        z = 1.0
    x = (u - cx) / fx * z
    y = (v - cy) / fy * z
    return fx * x / z + cx, fy * y / z + cy, x, y, z, known


def _project_grid_row(depth: np.ndarray, r: int, pad: float, camera: tuple, shift: tuple, target_x: tuple,
                      out: np.ndarray, known: np.ndarray) -> bool:
    """Row r of the vertices' projections (`_grid_vertex`) into `out` (6, W) and its known depths into `known` (W,);
    False if a known vertex's target row is off its own by half a pixel or more."""
    kept = True
    for c in range(depth.shape[1]):
        out[0, c], out[1, c], out[2, c], out[3, c], out[4, c], out[5, c], known[c] = _grid_vertex(
            depth, r, c, pad, camera, shift, target_x)
        if known[c] and not abs(out[3, c] - r) < 0.5:
            kept = False
    return kept


def _grid_cell_corners(half: int, r: int, c: int):
    """(row, column) of the vertices a, b, c of a grid cell's triangle, in `mesh.grid_triangles`'
    order: half 0 is (r, c), (r+1, c), (r+1, c+1); half 1 is (r, c), (r+1, c+1), (r, c+1)."""
    if half == 0:
        return r, c, r + 1, c, r + 1, c + 1
    return r, c, r + 1, c + 1, r, c + 1


def _grid_grown_faces(depth: np.ndarray, pad: float, camera: tuple, shift: tuple,
                      min_growth: float, bands: int):
    """Per triangle of each grid cell, (2, H-1, W-1) in `mesh.grid_triangles`' half and cell
    order, whether it exists and grows by more than `min_growth` pixels
    (`mesh.footprint_growth`) in the camera shifted by `shift`; and whether every known
    vertex stays within half a pixel of its own row there (so that each pixel row of the
    target sees only the two rows of cells that touch it, as `_scanline_reproject` assumes).
    The rows of cells are split into `bands` that threads walk top to bottom, each grid row
    projected once per band (a two-row ring)."""
    h, w = depth.shape
    own_x = (camera[0], camera[2])
    grown = np.zeros((2, max(h - 1, 0), max(w - 1, 0)), dtype=np.bool_)
    kept = np.ones(h, dtype=np.bool_)
    band_rows = (h - 1 + bands - 1) // bands
    for band in numba.prange(bands):
        top, bottom = band * band_rows, min(h - 1, (band + 1) * band_rows)  # cell rows [top, bottom)
        if top >= bottom:
            continue
        rows = np.empty((2, 6, w))  # grid rows r and r + 1 of cell row r, at [row % 2]
        known = np.empty((2, w), dtype=np.bool_)
        top_kept = _project_grid_row(depth, top, pad, camera, shift, own_x, rows[top % 2], known[top % 2])
        if band == 0:
            kept[0] = top_kept  # the other bands' first rows are their upper neighbours' last
        for r in range(top, bottom):
            kept[r + 1] = _project_grid_row(depth, r + 1, pad, camera, shift, own_x, rows[(r + 1) % 2],
                                            known[(r + 1) % 2])
            for half in range(2):
                for c in range(w - 1):
                    ra, ca, rb, cb, rc, cc = _grid_cell_corners(half, r, c)
                    ra, rb, rc = ra % 2, rb % 2, rc % 2
                    if not (known[ra, ca] and known[rb, cb] and known[rc, cc]):
                        continue
                    grown[half, r, c] = _extent_growth(
                        rows[ra, 2, ca], rows[rb, 2, cb], rows[rc, 2, cc], rows[ra, 3, ca], rows[rb, 3, cb],
                        rows[rc, 3, cc], rows[ra, 0, ca], rows[rb, 0, cb], rows[rc, 0, cc], rows[ra, 1, ca],
                        rows[rb, 1, cb], rows[rc, 1, cc]) > min_growth
    return grown, kept.all()


def _scanline_reproject(depth: np.ndarray, colours: np.ndarray, stretched_cell: np.ndarray,
                        real_faces_first: bool, pad: float, camera: tuple, shift: tuple, target: tuple,
                        near: float, eps: float, interpolate: bool, integer: bool, bands: int):
    """`warp.reproject` of a grid mesh into the source camera shifted along its rows (no
    vertex leaves its row by half a pixel: see `_grid_grown_faces`), seen by the camera
    `target` (fx, cx, width: its rows are the source's; an off-axis eye, a frame without the
    source's overscan), one target row at a time: each pixel row sees only the triangles of
    the two rows of cells that touch it.
    Per pixel: the colour (`colours` (H*W, C), nearest texel; with `interpolate`, on faces
    that are not stretched, its triangle's corners blended as `_interpolated_lookup` does,
    rounded where `integer`: integer colours), planar depth (float32, 0: uncovered), whether
    its triangle is stretched (`stretched_cell`, as `_grid_grown_faces` lays out the
    triangles) and whether it is covered; with `real_faces_first`, a stretched triangle
    never hides one that is not (`_keep_nearer`'s rank). The candidate tests and weights are `_zbuffer`'s, the lookups
    `_surface_lookup`'s and `_interpolated_lookup`'s, and of equally near triangles the first in
    `mesh.grid_triangles`' order wins, so the result is the general path's bit for bit; but
    no triangle array, vertex projections or per-pixel weights are stored."""
    h, w = depth.shape
    target_x, wt = (target[0], target[1]), int(target[2])
    cells = (h - 1) * (w - 1)
    image = np.empty((h * wt, colours.shape[1]), dtype=colours.dtype)
    depth_out = np.empty(h * wt, dtype=np.float32)
    stretched = np.empty(h * wt, dtype=np.bool_)
    covered = np.empty(h * wt, dtype=np.bool_)
    band_rows = (h + bands - 1) // bands
    for band in numba.prange(bands):
        top, bottom = band * band_rows, min(h, (band + 1) * band_rows) - 1
        rows = np.empty((3, 6, w))  # grid rows y-1, y, y+1 of target row y, at [row % 3]
        known = np.zeros((3, w), dtype=np.bool_)
        best_rank = np.empty(wt, dtype=np.uint8)
        best_z = np.empty(wt)
        best_key = np.empty(wt, dtype=np.int64)
        best_bary = np.empty((wt, 3))
        for k in range(max(top - 1, 0), min(top + 1, h - 1) + 1):
            _project_grid_row(depth, k, pad, camera, shift, target_x, rows[k % 3], known[k % 3])
        for y in range(top, bottom + 1):
            if y > top and y + 1 < h:
                _project_grid_row(depth, y + 1, pad, camera, shift, target_x, rows[(y + 1) % 3], known[(y + 1) % 3])
            best_rank[:] = 255
            best_z[:] = np.inf
            best_key[:] = -1
            py = float(y)
            for r in range(max(y - 1, 0), min(y, h - 2) + 1):
                upper, lower = rows[r % 3], rows[(r + 1) % 3]
                upper_known, lower_known = known[r % 3], known[(r + 1) % 3]
                for half in range(2):
                    # the triangle's corners a, b, c: their grid row (upper/lower) and column
                    b_row, c_row = lower, (lower if half == 0 else upper)
                    b_known, c_known = lower_known, (lower_known if half == 0 else upper_known)
                    for cell in range(w - 1):
                        cb, cc = cell + half, cell + 1
                        if not (upper_known[cell] and b_known[cb] and c_known[cc]):
                            continue
                        va, vb, vc = upper[3, cell], b_row[3, cb], c_row[3, cc]
                        y0 = np.ceil(min(min(va, vb), vc) - eps)
                        y1 = np.floor(max(max(va, vb), vc) + eps)
                        if not (y0 <= py and py <= y1):
                            continue
                        drawn, x0, x1, sign, clearly_out, inv_area, inv_za, inv_zb, inv_zc = _triangle_setup(
                            upper[5, cell], b_row[5, cb], c_row[5, cc], va, vb, vc,
                            upper[4, cell], b_row[4, cb], c_row[4, cc], near, wt, eps)
                        if not drawn:
                            continue
                        ua, ub, uc = upper[5, cell], b_row[5, cb], c_row[5, cc]
                        key = half * cells + r * (w - 1) + cell
                        rank = 1 if real_faces_first and stretched_cell[half, r, cell] else 0
                        for x in range(x0, x1 + 1):
                            inside, d, wa, wb, wc = _pixel_weights(ua, ub, uc, va, vb, vc, float(x), py, sign,
                                                                   clearly_out, inv_area, inv_za, inv_zb, inv_zc, eps)
                            if inside:
                                _keep_nearer(best_rank, best_z, best_key, best_bary, x, rank, d, key, wa, wb, wc)
            for x in range(wt):
                pix = y * wt + x
                key = best_key[x]
                if key < 0:
                    image[pix] = 0
                    depth_out[pix] = 0.0
                    stretched[pix] = False
                    covered[pix] = False
                    continue
                half = key // cells
                r = (key - half * cells) // (w - 1)
                cell = key - half * cells - r * (w - 1)
                ra, ca, rb, cb, rc, cc = _grid_cell_corners(half, r, cell)
                wa, wb, wc = best_bary[x, 0], best_bary[x, 1], best_bary[x, 2]
                stretched[pix] = stretched_cell[half, r, cell]
                if interpolate and not stretched[pix]:
                    for k in range(colours.shape[1]):
                        value = _blend(colours, ra * w + ca, rb * w + cb, rc * w + cc, k, wa, wb, wc)
                        image[pix, k] = np.rint(value) if integer else value
                else:
                    image[pix] = colours[_nearest_texel(wa, wb, wc, ra, ca, rb, cb, rc, cc, w, h)]
                depth_out[pix] = np.float32(best_z[x])
                covered[pix] = True
    return image, depth_out, stretched, covered


def _compile(kernel):
    return None if numba is None else numba.njit(cache=True, nogil=True, parallel=True)(kernel)


if numba is not None:  # helpers of the kernels, compiled into them
    _grid_vertex = numba.njit(cache=True, inline="always")(_grid_vertex)
    _grid_vertex_at = numba.njit(cache=True, inline="always")(_grid_vertex_at)
    _project_grid_row = numba.njit(cache=True)(_project_grid_row)
    _grid_cell_corners = numba.njit(cache=True, inline="always")(_grid_cell_corners)
    _triangle_setup = numba.njit(cache=True, inline="always")(_triangle_setup)
    _pixel_weights = numba.njit(cache=True, inline="always")(_pixel_weights)
    _keep_nearer = numba.njit(cache=True, inline="always")(_keep_nearer)
    _extent_growth = numba.njit(cache=True, inline="always")(_extent_growth)
    _nearest_texel = numba.njit(cache=True, inline="always")(_nearest_texel)
    _blend = numba.njit(cache=True, inline="always")(_blend)

_compiled_zbuffer = _compile(_zbuffer)
_compiled_scanline = _compile(_scanline_reproject)
_compiled_grown_faces = _compile(_grid_grown_faces)


def _zbuffer_in_bands(u, v, z, tris, rank, height, width, near, eps):
    """`_zbuffer` over as many bands of rows as numba has threads."""
    return _compiled_zbuffer(u, v, z, tris, rank, height, width, near, eps, numba.get_num_threads())


def _grown_faces_in_bands(depth, pad, camera, shift, min_growth):
    """`_grid_grown_faces` over as many bands of rows as numba has threads."""
    return _compiled_grown_faces(depth, pad, camera, shift, min_growth, numba.get_num_threads())


def _scanline_in_bands(depth, colours, stretched_cell, real_faces_first, pad, camera, shift, target, near, eps,
                       interpolate):
    """`_scanline_reproject` over as many bands of rows as numba has threads."""
    return _compiled_scanline(depth, colours, stretched_cell, real_faces_first, pad, camera, shift, target, near,
                              eps, interpolate,
                              bool(np.issubdtype(colours.dtype, np.integer)), numba.get_num_threads())


zbuffer = None if numba is None else _zbuffer_in_bands
scanline_reproject = None if numba is None else _scanline_in_bands
footprint_growth = _compile(_footprint_growth)
surface_lookup = _compile(_surface_lookup)
interpolated_lookup = _compile(_interpolated_lookup)
grid_triangles = _compile(_grid_triangles)
grid_moved_projection = _compile(_grid_moved_projection)
grid_grown_faces = None if numba is None else _grown_faces_in_bands
