"""The geometry core against closed-form answers."""
import math

import numpy as np
import pytest

from conftest import box_depth, textured
from stereo_geometry import (HOLE_RULES, Intrinsics, disocclusion_sample, grid_mesh, normals_from_depth, unproject,
                             rasterize, reproject, stereo_pose, tag_stretched_faces,
                             translation, view_angle_deg, world_to_camera)

B = 0.063


def test_grid_mesh_has_two_triangles_per_cell_and_skips_invalid_pixels():
    depth = np.ones((4, 5))
    assert grid_mesh(depth, Intrinsics.from_fov(5, 4, 60))[1].shape == (2 * 3 * 4, 3)
    depth[0, 0] = np.nan  # touches the two triangles of cell (0, 0) only
    assert grid_mesh(depth, Intrinsics.from_fov(5, 4, 60))[1].shape == (2 * 3 * 4 - 2, 3)


def test_rasterize_covers_pixel_centres_inside_a_triangle_and_keeps_the_nearest():
    K = Intrinsics(10.0, 10.0, 0.0, 0.0, 8, 8)
    # Right triangle with legs of 6 px at z=1, and a smaller one in front at z=0.5.
    far = np.array([[0, 0, 1], [0.6, 0, 1], [0, 0.6, 1]], dtype=float)
    near = np.array([[0, 0, 0.5], [0.1, 0, 0.5], [0, 0.1, 0.5]], dtype=float)
    raster = rasterize(np.concatenate([far, near]), np.array([[0, 1, 2], [3, 4, 5]]), K)
    cols, rows = np.meshgrid(np.arange(8), np.arange(8))
    np.testing.assert_array_equal(raster.covered, cols + rows <= 6)
    np.testing.assert_array_equal(raster.face == 1, raster.covered & (cols + rows <= 2))
    assert raster.depth[0, 0] == 0.5 and raster.depth[3, 3] == 1.0


def test_plane_shifts_by_f_b_over_z(K_small):
    shift = 7
    z = K_small.fx * B / shift
    image = textured(K_small.height, K_small.width)
    depth = np.full((K_small.height, K_small.width), z)
    right = reproject(image, depth, K_small, K_small, world_to_camera(stereo_pose(B)))
    np.testing.assert_array_equal(right.image[:, :-shift], image[:, shift:])
    np.testing.assert_allclose(right.depth[:, :-shift], z, rtol=1e-6)
    assert not right.covered[:, -shift + 1:].any()


@pytest.mark.parametrize("toe_in_deg", [0.0, 1.0])
def test_interpolated_colours_follow_a_ramp_between_pixel_centres(K_small, toe_in_deg):
    """A plane with a colour ramp along x, shifted by 2.4 px: target pixel x shows source
    column x + 2.4. Interpolated, its colour is the ramp there; nearest-texel, the ramp at
    the nearest column."""
    shift = 2.4
    depth = np.full((K_small.height, K_small.width), K_small.fx * B / shift)
    ramp = np.broadcast_to(np.arange(K_small.width, dtype=np.float32), depth.shape).copy()
    to_right = world_to_camera(stereo_pose(B, toe_in_deg))
    linear = reproject(ramp, depth, K_small, K_small, to_right, interpolate=True)
    closest = reproject(ramp, depth, K_small, K_small, to_right)
    np.testing.assert_array_equal(linear.covered, closest.covered)
    np.testing.assert_array_equal(linear.stretched, closest.stretched)
    inside = linear.covered[:, 2:-5]
    if toe_in_deg == 0:
        columns = np.broadcast_to(np.arange(2, K_small.width - 5), inside.shape)
        np.testing.assert_allclose(linear.image[:, 2:-5], columns + shift, atol=1e-4)
        np.testing.assert_array_equal(closest.image[:, 2:-5], columns + 2)
    # where the surface point is in general, interpolation is within the two nearest columns
    assert (np.abs(linear.image - closest.image)[:, 2:-5][inside] <= 0.5 + 1e-4).all()
    assert np.abs(linear.image - closest.image)[:, 2:-5][inside].mean() > 0.2


def test_box_in_front_of_a_wall_leaves_a_hole_on_its_left_as_wide_as_the_disparity_step(K_small):
    z_far, z_near = 3.0, 1.2
    step = K_small.fx * B * (1 / z_near - 1 / z_far)  # 6.3 px
    c0, c1 = 80, 120
    depth = box_depth(K_small.height, K_small.width, z_far, z_near, (40, 100, c0, c1))
    sample = disocclusion_sample(textured(K_small.height, K_small.width), depth, K_small, B)
    hole = sample["hole_mask"].astype(bool)
    row = hole[70]
    left_run = row[:c0 + 1]
    width = int(left_run[c0 - 20:].sum())
    # The stretched face spans the disparity step plus the one-pixel pitch of the mesh it
    # belongs to, rounded to whole pixels: step <= width <= step + 2.
    assert step <= width <= step + 2, (width, step)
    assert row[c0 - int(step) + 1:c0].all()  # contiguous, right beside the box
    assert row[c0 + 1:c1 - 1].sum() == 0  # the box itself stays valid
    assert row[c1 - 1:c1 + 10].sum() <= 1  # at most a one-pixel sliver on the far side
    # Mirrored rig (other eye on the left): the hole moves to the box's right side.
    swapped = disocclusion_sample(textured(K_small.height, K_small.width), depth, K_small, -B)
    mirror_row = swapped["hole_mask"][70].astype(bool)
    assert step <= mirror_row[c1 - 1:c1 + 20].sum() <= step + 2
    assert mirror_row[c0 + 1:c1 - 1].sum() == 0


def _wire_before_a_wall() -> tuple[np.ndarray, np.ndarray, Intrinsics]:
    """A vertical wire one pixel wide (column 30, red) at 2 m before a grey wall at 10 m,
    f = 100 px: with a 0.1 m baseline the wall moves f B / Z = 1 px, the wire 5 px."""
    K = Intrinsics(100.0, 100.0, 31.5, 15.5, 64, 32)
    depth = np.full((32, 64), 10.0)
    depth[:, 30] = 2.0
    image = np.full((32, 64, 3), 100, np.uint8)
    image[:, 30] = (255, 0, 0)
    return image, depth, K


def test_the_visible_rule_keeps_a_one_pixel_wire_and_makes_only_what_it_uncovers_a_hole():
    """The other eye sees the wire 5 px to the left and the wall it hid 1 px to the left, of
    which the wire covers none: column 29 is disoccluded, and column 63, which looks past
    the source's frame. Under the `visible` rule exactly those are holes, the wire shows in
    its colour at column 25 and the wall between them shows the wall (the stretched faces
    joining wire and wall lie over it, but never hide a real surface)."""
    image, depth, K = _wire_before_a_wall()
    warp = reproject(image, depth, K, K, world_to_camera(translation(0.1)), HOLE_RULES["visible"])
    hole_columns = np.nonzero(warp.hole_mask.astype(bool).all(axis=0))[0]
    assert hole_columns.tolist() == [29, 63]
    assert warp.hole_mask[:, [c for c in range(64) if c not in (29, 63)]].sum() == 0
    assert (warp.image[:, 25] == (255, 0, 0)).all()
    assert (warp.image[:, [24, 26, 27, 28, 30]] == 100).all()
    np.testing.assert_allclose(warp.depth[:, 25], 2.0 * 1.01, rtol=1e-6)  # a point sample, just behind its own depth


def test_the_stretched_rule_loses_the_wire_under_its_faces():
    """The shipped models' rule: the faces joining wire and wall are nearest over columns
    25-30, so all of them are holes, the wire's own column too."""
    image, depth, K = _wire_before_a_wall()
    warp = reproject(image, depth, K, K, world_to_camera(translation(0.1)), HOLE_RULES["stretched"])
    hole_columns = np.nonzero(warp.hole_mask.astype(bool).all(axis=0))[0]
    assert hole_columns.tolist() == [25, 26, 27, 28, 29, 63]


def test_the_bridged_rule_shows_the_wall_a_wire_hid_as_its_two_sides_show_it():
    """Under `bridged` the wall behind the one-pixel wire is a second layer, its colour and
    depth the line between the wire's two sides: column 29, which the wire hid, shows the
    wall's colour gradient continued (exactly, as it is linear) at the wall's depth, and only
    the strip past the frame (column 63) stays a hole; the wire itself still shows."""
    image, depth, K = _wire_before_a_wall()
    image[..., 1] = 20 + 3 * np.arange(64)       # a linear gradient along the rows
    image[:, 30] = (255, 0, 0)
    warp = reproject(image, depth, K, K, world_to_camera(translation(0.1)), HOLE_RULES["bridged"])
    assert np.nonzero(warp.hole_mask.astype(bool).any(axis=0))[0].tolist() == [63]
    assert (warp.image[:, 29] == (100, 20 + 3 * 30, 100)).all()
    np.testing.assert_allclose(warp.depth[:, 29], 10.0, rtol=1e-5)
    assert (warp.image[:, 25] == (255, 0, 0)).all()


@pytest.mark.parametrize("step", [2, 2.5, 3])
def test_the_far_reach_rule_lets_the_far_side_of_an_edge_reach_one_pixel_toward_the_near_one(step):
    """A box before a wall, the wall's parallax 3 px (its pixels land on pixel centres), the
    box's 3 + `step`: beside the box the `bridged` rule leaves the pixel centres between the
    box's last pixel and the wall's first, `ceil(step)` columns; under `far_reach` the wall's
    first pixel covers the one next to it too, so one column fewer is a hole. It shows the wall's next pixel inward (column 41: the edge pixel's
    own colour mixes in the box's in a render or a photograph), at the first pixel's lagged
    depth. Elsewhere the two rules agree."""
    from stereo_geometry.mesh import POINT_LAG
    K = Intrinsics(100.0, 100.0, 31.5, 23.5, 64, 48)
    z_wall = K.fx * B / 3
    depth = np.full((48, 64), z_wall)
    depth[10:40, 20:40] = K.fx * B / (3 + step)
    image = textured(48, 64)
    to_eye = world_to_camera(stereo_pose(B))
    bridged = reproject(image, depth, K, K, to_eye, HOLE_RULES["bridged"]).hole_mask.astype(bool)
    reached = reproject(image, depth, K, K, to_eye, HOLE_RULES["far_reach"])
    far_reach = reached.hole_mask.astype(bool)
    beside_box = list(range(36 - math.ceil(step) + 1, 37))  # the wall's first pixel (column 40) lands on 37
    assert [np.nonzero(bridged[row, :60])[0].tolist() for row in (10, 25, 39)] == [beside_box] * 3
    assert [np.nonzero(far_reach[row, :60])[0].tolist() for row in (10, 25, 39)] == [beside_box[:-1]] * 3
    assert (bridged[:, 36] != far_reach[:, 36]).sum() == 30 and (bridged[:, :36] == far_reach[:, :36]).all()
    assert (reached.image[10:40, 36] == image[10:40, 41]).all()
    assert reached.guessed is not None and reached.guessed[:, 36].sum() == reached.guessed.sum() == 30  # a guess
    np.testing.assert_allclose(reached.depth[10:40, 36], z_wall * (1 + POINT_LAG), rtol=1e-6)


def test_the_far_reach_rule_reaches_from_the_first_pixel_of_a_surface_only():
    """A depth ramp across the box's edge (two pixels between the box's depth and the wall's,
    as a filtered or estimated depth map has them): they are far corners too, but no surface
    continues behind them, so they reach nothing; only the wall's first pixel does, one
    column, as without the ramp."""
    K = Intrinsics(100.0, 100.0, 31.5, 23.5, 64, 48)
    z_wall, z_box = K.fx * B / 3, K.fx * B / 7
    depth = np.full((48, 64), z_wall)
    depth[10:40, 20:40] = z_box
    depth[10:40, 40], depth[10:40, 41] = K.fx * B / 6, K.fx * B / 4.5  # the ramp
    image = textured(48, 64)
    to_eye = world_to_camera(stereo_pose(B))
    bridged = reproject(image, depth, K, K, to_eye, HOLE_RULES["bridged"]).hole_mask.astype(bool)
    far_reach = reproject(image, depth, K, K, to_eye, HOLE_RULES["far_reach"]).hole_mask.astype(bool)
    for row in (10, 25, 39):  # landings: box 32, ramp 34 and 36.5, wall 39
        assert np.nonzero(bridged[row, :60])[0].tolist() == [35, 36, 37, 38]
        assert np.nonzero(far_reach[row, :60])[0].tolist() == [35, 36, 37]  # 38: beside the wall's first pixel


def test_bridged_background_spans_structures_one_or_two_pixels_wide_only():
    from stereo_geometry.mesh import bridged_background

    row = np.array([4, 4, 1, 4, 4, 1, 1, 4, 4, 1, 1, 1, 4, 4, 0, 1, 4, 6, 4], np.float32)
    depth = np.tile(row, (8, 1))
    image = np.zeros((8, len(row), 3), np.uint8)
    image[..., 0] = np.where(row > 1, 10 * np.arange(len(row)), 255)
    colours, bridged = bridged_background(image, depth, 2)
    expected = row.copy()
    expected[[2, 5, 6]] = 4                     # one and two pixels before the wall: bridged
    np.testing.assert_allclose(bridged[3], expected)  # three pixels, or a side without depth: kept
    assert colours[3, 2, 0] == 20 and colours[3, 5, 0] == 50 and colours[3, 6, 0] == 60
    assert colours[3, 10, 0] == 255 and colours[3, 15, 0] == 255
    # Along columns too: a horizontal wire, bridged; a farther pixel (6 m) is no structure.
    depth = np.full((9, 5), 4.0, np.float32)
    depth[4] = 1.0
    assert (bridged_background(np.zeros((9, 5, 3), np.uint8), depth, 2)[1] == 4.0).all()


def test_round_trip_without_depth_edges_reproduces_the_image(K_small):
    # A slanted plane: depth varies but has no discontinuity.
    cols = np.arange(K_small.width)
    depth = np.tile(2.0 + cols / K_small.width, (K_small.height, 1))
    image = textured(K_small.height, K_small.width)
    sample = disocclusion_sample(image, depth, K_small, B)
    hole = sample["hole_mask"].astype(bool)
    # Only the frame border: columns the other eye cannot see on the left, and the last
    # column, whose centre falls between the other eye's pixel centres.
    assert not hole[:, 30:-1].any()
    assert hole[:, :5].all()
    valid = ~hole
    np.testing.assert_array_equal(sample["image_generated_left"][valid], image[valid])
    np.testing.assert_allclose(sample["depth_generated_left"][valid], depth[valid], rtol=1e-5)


@pytest.mark.parametrize("tilt_deg", [0.0, 30.0, 80.0, 89.0])
def test_view_angle_is_the_tilt_of_a_face_from_the_line_of_sight(tilt_deg):
    t = math.tan(math.radians(tilt_deg))
    face = np.array([[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, t]]) + [0, 0, 5.0]
    eye = face.mean(0) - [0, 0, 5.0]  # looking straight down +z at the face centre
    angle = view_angle_deg(face, np.array([[0, 1, 2]]), eye)
    assert math.isclose(angle[0], tilt_deg, abs_tol=1e-6)


def test_only_faces_across_depth_edges_are_tagged(K_small):
    depth = box_depth(K_small.height, K_small.width, 3.0, 1.2, (40, 100, 80, 120))
    v, t = grid_mesh(depth, K_small)
    tagged = tag_stretched_faces(v, t, K_small, world_to_camera(stereo_pose(B)))
    z = depth.ravel()[t]
    spans_edge = z.max(1) != z.min(1)
    # Every tagged face spans the edge, and every edge face along the box's sides is tagged.
    assert tagged.any() and not (tagged & ~spans_edge).any()
    rows = (t // K_small.width).min(1)
    side = spans_edge & (rows > 45) & (rows < 95)
    assert tagged[side].all()


def test_normals_from_depth_of_a_tilted_plane_match_the_plane_normal():
    K = Intrinsics.from_fov(64, 48, 60)
    n_true = np.array([0.3, -0.2, -1.0])
    n_true /= np.linalg.norm(n_true)
    # Plane n.p = d: depth along each pixel ray r = (x, y, 1) is d / (n.r).
    u, v = np.meshgrid(np.arange(64.0), np.arange(48.0))
    rays = np.stack([(u - K.cx) / K.fx, (v - K.cy) / K.fy, np.ones_like(u)], -1)
    depth = -3.0 / (rays @ n_true)
    normals = normals_from_depth(depth, K)
    np.testing.assert_allclose(normals[1:-1, 1:-1], np.broadcast_to(n_true, (46, 62, 3)), atol=1e-3)
    depth[10, 10] = 0  # unknown: no normal there nor at its four neighbours
    normals = normals_from_depth(depth, K)
    assert not normals[10, 9:12].any() and not normals[9:12, 10].any()
    assert normals[9, 9].any()


def test_normals_are_central_differences_and_only_computed_where_asked():
    """The definition with numpy's own gradient and cross product; a mask computes its pixels
    only, with the same values."""
    rng = np.random.default_rng(3)
    K = Intrinsics(70.0, 72.0, 40.3, 29.1, 83, 61)
    depth = rng.uniform(0.5, 5.0, (61, 83)).astype(np.float32)
    depth[rng.random(depth.shape) < 0.03] = np.nan
    valid = np.isfinite(depth) & (depth > 0)
    points = unproject(np.where(valid, depth, 0.0), K)
    n = np.cross(np.gradient(points, axis=0), np.gradient(points, axis=1))
    with np.errstate(invalid="ignore"):  # unknown depth: no normal, masked by `ok`
        n /= np.linalg.norm(n, axis=-1, keepdims=True)
    ok = valid & np.roll(valid, 1, 0) & np.roll(valid, -1, 0) & np.roll(valid, 1, 1) & np.roll(valid, -1, 1)
    inner = (slice(1, -1), slice(1, -1))  # np.roll wraps around: compare away from the border
    normals = normals_from_depth(depth, K)
    np.testing.assert_array_equal(normals[inner], np.where(ok[..., None], n, 0).astype(np.float32)[inner])
    where = rng.random(depth.shape) < 0.1
    np.testing.assert_array_equal(normals_from_depth(depth, K, where=where),
                                  np.where(where[..., None], normals, 0))


@pytest.mark.parametrize("baseline", [B, -B])
def test_hole_inputs_are_masked_consistently(K_small, baseline):
    depth = box_depth(K_small.height, K_small.width, 3.0, 1.2, (40, 100, 80, 120))
    s = disocclusion_sample(textured(K_small.height, K_small.width), depth, K_small, baseline)
    hole = s["hole_mask"].astype(bool)
    assert not s["normals_left_masked"][~hole].any()
    assert not s["depth_masked"][hole].any()
    assert (s["depth_masked"][~hole] > 0).all()


def test_the_runtime_imports_neither_torch_nor_bpy_and_training_no_data_generation():
    import subprocess
    import sys

    from conftest import REPO

    runtime = ("import sys\n"
               "import stereo_geometry, training, training.config\n"
               "import stereo_geometry.infill, stereo_geometry.onnx_runner, stereo_geometry.sequence\n"
               "import stereo_geometry.readers, stereo_geometry.exr, stereo_geometry.writer\n"
               "import stereo_geometry.stereo_pairs, stereo_geometry.arguments\n"
               "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'bpy', 'datagen_bpy'))\n"
               "print(heavy)\n"
               "sys.exit(1 if heavy else 0)")
    training = ("import sys, pkgutil, importlib, training\n"
                "for m in pkgutil.iter_modules(training.__path__):\n"
                "    importlib.import_module('training.' + m.name)\n"
                "print(sorted(m for m in sys.modules if m.split('.')[0] in ('bpy', 'datagen_bpy')))\n"
                "sys.exit(1 if any(m.split('.')[0] in ('bpy', 'datagen_bpy') for m in sys.modules) else 0)")
    for code in (runtime, training):
        result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
