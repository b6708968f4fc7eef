"""How much wider to render a frame so that its eyes see nothing beyond its edges: the
margins of a render with overscan, found by casting the camera's rays beyond the frame's edges
into the scene (`needed_margins` takes the caster as a function, so it runs without a
renderer)."""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from .camera import Eye, Intrinsics, project, transform, world_to_camera

#: (eye, columns, rows) -> the points the eye's rays through those pixels hit, in the rendered
#: camera's frame (OpenCV axes, metres), (N, 3), NaN where a ray hits nothing.
RayCaster = Callable[[Eye, np.ndarray, np.ndarray], np.ndarray]

#: Columns added to a margin: a render's pixel filter and the reprojection's interpolation reach
#: a pixel or two beyond the surfaces the rays find.
MARGIN_SLACK = 2


def needed_margins(cast: RayCaster, eyes: list[Eye], K: Intrinsics, rows: int = 48,
                   slack: int = MARGIN_SLACK) -> tuple[int, int]:
    """The columns (left, right) to render beyond the edges of the frame of K so that every
    surface the `eyes` (intrinsics of the frame, poses in the camera's frame) see inside
    their frames is rendered: the camera's rays through `rows` rows and columns k = 0, 1, ...
    beyond each edge find the surfaces there; the farthest k whose surface some eye sees
    inside its frame (plus the columns skipped between samples) is the margin, plus `slack`
    where there is one. The scan goes on as far as the largest shift between the camera and
    an eye among the surfaces found (a surface farther out than that is seen by no eye),
    in at most 17 columns a pass and 8 passes: a very near object far beyond the edge can
    still be missed, and surfaces the caster does not hold are not seen."""
    camera = Eye(K, np.eye(4))
    v = np.linspace(0, K.height - 1, rows)
    need = []
    for side in (-1, 1):
        edge = 0.0 if side < 0 else K.width - 1.0
        reach, checked, step, found = 1, set(), 1, -1
        for _ in range(8):
            step = max(1, reach // 16)
            columns = sorted(set(range(0, reach + 1, step)) - checked)
            if not columns:
                break
            checked.update(columns)
            beyond = np.repeat(np.array(columns, float), rows)
            u = edge + side * beyond
            points = cast(camera, u, np.tile(v, len(columns)))
            hit = np.isfinite(points).all(axis=1)
            if not hit.any():
                continue
            shift = 0.0
            for eye in eyes:
                u_eye, v_eye, z_eye = project(transform(points[hit], world_to_camera(eye.pose)), eye.K)
                seen = (z_eye > 0) & (u_eye >= 0) & (u_eye <= K.width - 1) & (v_eye >= 0) & (v_eye <= K.height - 1)
                if seen.any():
                    found = max(found, int(beyond[hit][seen].max()) + step - 1)
                shift = max(shift, float(np.abs(u_eye - u[hit]).max()))
            if math.ceil(shift) <= reach:
                break
            reach = math.ceil(shift)
        need.append(found + slack if found > 0 else 0)
    return need[0], need[1]


def eye_rays(eye: Eye, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Origins and unit directions (N, 3) of the eye's rays through pixels (u, v), in the
    rendered camera's frame (OpenCV axes)."""
    K = eye.K
    directions = np.stack([(u - K.cx) / K.fx, (v - K.cy) / K.fy, np.ones_like(u)], axis=-1)
    directions = directions @ eye.pose[:3, :3].T
    directions /= np.linalg.norm(directions, axis=-1, keepdims=True)
    origins = np.broadcast_to(eye.pose[:3, 3], directions.shape)
    return origins, directions
