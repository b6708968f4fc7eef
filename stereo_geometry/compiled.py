"""Compiled kernels (numba) of the geometry core, each the same arithmetic as its numpy form.

`warp` and `mesh` run these where numba is installed and their numpy forms where it is not
(Blender's own Python, say); tests/test_zbuffer.py holds them equal. The z-buffer and the
reference rasterizer evaluate the same float64 expressions in the same order (no fused
multiply-adds, no reassociation), test the same pixel centres and keep, per pixel, the
candidate with the smallest (depth, triangle index); so their faces, depths and barycentric
weights agree bit for bit. The z-buffer needs no per-(triangle, pixel) arrays, whatever the
rig (parallel or converged) or the frame size, and fills bands of rows on all of numba's
threads. `grid_projection` projects a grid mesh's vertices without building them, for
targets that are the source camera shifted (parallel rigs).
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


def _zbuffer(u: np.ndarray, v: np.ndarray, z: np.ndarray, tris: np.ndarray, height: int,
             width: int, near: float, eps: float, bands: int):
    """Nearest triangle, planar depth and perspective-correct barycentric weights per pixel
    of triangles `tris` (M, 3) over projected vertices (`u`, `v`, `z`); of equally near
    triangles, the first. The rows are split into `bands` that threads fill in parallel
    (each thread writes its own rows), so the result does not depend on their number.
    Faces are int32, as the triangles' vertex indices."""
    best_z = np.empty(height * width)
    best_face = np.empty(height * width, dtype=np.int32)
    best_bary = np.empty((height * width, 3))
    band_rows = (height + bands - 1) // bands
    for band in numba.prange(bands):
        top, bottom = band * band_rows, min(height, (band + 1) * band_rows) - 1
        # each thread first touches (and so pages in) its own rows
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
            za, zb, zc = z[a], z[b], z[c]
            if not (za > near and zb > near and zc > near):
                continue
            ua, ub, uc = u[a], u[b], u[c]
            if not np.isfinite(ua + ub + uc + va + vb + vc):
                continue
            x0 = max(int(np.ceil(min(min(ua, ub), uc) - eps)), 0)
            x1 = min(int(np.floor(max(max(ua, ub), uc) + eps)), width - 1)
            area = (ub - ua) * (vc - va) - (uc - ua) * (vb - va)
            if area == 0.0:
                continue
            # |weight numerator| beyond this is outside by twice the tolerance: skip the weights
            clearly_out = -2.0 * eps * abs(area)
            inv_area, inv_za, inv_zb, inv_zc = 1.0 / area, 1.0 / za, 1.0 / zb, 1.0 / zc
            sign = 1.0 if area > 0 else -1.0
            for y in range(max(int(y0), top), min(int(y1), bottom) + 1):
                py = float(y)
                for x in range(x0, x1 + 1):
                    px = float(x)
                    na = (ub - px) * (vc - py) - (uc - px) * (vb - py)
                    if na * sign < clearly_out:
                        continue
                    wa = na * inv_area
                    if wa < -eps:
                        continue
                    nb = (uc - px) * (va - py) - (ua - px) * (vc - py)
                    if nb * sign < clearly_out:
                        continue
                    wb = nb * inv_area
                    wc = 1.0 - wa - wb
                    if wb < -eps or wc < -eps:
                        continue
                    ga, gb, gc = wa * inv_za, wb * inv_zb, wc * inv_zc
                    inv_z = ga + gb + gc
                    depth = 1.0 / inv_z
                    pix = y * width + x
                    if depth < best_z[pix] or (depth == best_z[pix] and t < best_face[pix]):
                        best_z[pix] = depth
                        best_face[pix] = t
                        best_bary[pix, 0] = ga * depth
                        best_bary[pix, 1] = gb * depth
                        best_bary[pix, 2] = gc * depth
    return best_face, best_z, best_bary


def _footprint_growth(u_src: np.ndarray, v_src: np.ndarray, u_dst: np.ndarray,
                      v_dst: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """`mesh.footprint_growth_px` over vertices projected into both cameras."""
    growth = np.empty(tris.shape[0])
    for t in numba.prange(tris.shape[0]):
        a, b, c = tris[t, 0], tris[t, 1], tris[t, 2]
        du = (max(max(u_dst[a], u_dst[b]), u_dst[c]) - min(min(u_dst[a], u_dst[b]), u_dst[c])) - (
            max(max(u_src[a], u_src[b]), u_src[c]) - min(min(u_src[a], u_src[b]), u_src[c]))
        dv = (max(max(v_dst[a], v_dst[b]), v_dst[c]) - min(min(v_dst[a], v_dst[b]), v_dst[c])) - (
            max(max(v_src[a], v_src[b]), v_src[c]) - min(min(v_src[a], v_src[b]), v_src[c]))
        growth[t] = max(du, dv)
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
        u = (bary[p, 0] * float(a - ra * src_width) + bary[p, 1] * float(b - rb * src_width)) + bary[p, 2] * float(c - rc * src_width)
        v = (bary[p, 0] * float(ra) + bary[p, 1] * float(rb)) + bary[p, 2] * float(rc)
        col = min(max(np.floor(u + 0.5), 0.0), src_width - 1.0)
        row = min(max(np.floor(v + 0.5), 0.0), src_height - 1.0)
        image[p] = colours[int(row) * src_width + int(col)]
        stretched[p] = stretched_face[t]
    return image, stretched


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


def _grid_projection(depth: np.ndarray, pad: float, camera: tuple, shift: tuple):
    """Pixel coordinates of a grid mesh's vertices in the source camera (u, v) and in the
    same camera shifted by `shift` (u, v, z): `mesh.grid_vertices`, then `camera.project`
    before and after `camera.transform` by that pure translation. `camera` is (fx, fy, cx, cy)."""
    h, w = depth.shape
    fx, fy, cx, cy = camera
    tx, ty, tz = shift
    out = np.empty((5, h * w))
    for r in numba.prange(h):
        v = float(r) - pad if r == 0 else float(r)
        if r == h - 1:
            v += pad
        for c in range(w):
            u = float(c) - pad if c == 0 else float(c)
            if c == w - 1:
                u += pad
            z = float(depth[r, c])
            if not (np.isfinite(z) and z > 0):
                z = 1.0
            x = (u - cx) / fx * z
            y = (v - cy) / fy * z
            i = r * w + c
            out[0, i] = fx * x / z + cx
            out[1, i] = fy * y / z + cy
            x, y, zt = x + tx, y + ty, z + tz
            out[2, i] = fx * x / zt + cx
            out[3, i] = fy * y / zt + cy
            out[4, i] = zt
    return out


def _compile(kernel):
    return None if numba is None else numba.njit(cache=True, nogil=True, parallel=True)(kernel)


_compiled_zbuffer = _compile(_zbuffer)


def _zbuffer_in_bands(u, v, z, tris, height, width, near, eps):
    """`_zbuffer` over as many bands of rows as numba has threads."""
    return _compiled_zbuffer(u, v, z, tris, height, width, near, eps, numba.get_num_threads())


zbuffer = None if numba is None else _zbuffer_in_bands
footprint_growth = _compile(_footprint_growth)
surface_lookup = _compile(_surface_lookup)
grid_triangles = _compile(_grid_triangles)
grid_projection = _compile(_grid_projection)
