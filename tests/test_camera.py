import math

import numpy as np
import pytest

from stereo_geometry import Intrinsics, project, stereo_pose, unproject, world_to_camera
from stereo_geometry.camera import transform


def test_fov_gives_focal_length_of_the_pinhole():
    K = Intrinsics.from_fov(640, 480, 90.0)
    assert math.isclose(K.fx, 320.0) and K.fx == K.fy
    assert (K.cx, K.cy) == (319.5, 239.5)


def test_unproject_then_project_returns_every_pixel_centre(K_small):
    depth = np.random.default_rng(1).uniform(0.5, 9.0, (K_small.height, K_small.width))
    u, v, z = project(unproject(depth, K_small), K_small)
    cols, rows = np.meshgrid(np.arange(K_small.width), np.arange(K_small.height))
    np.testing.assert_allclose(u, cols, atol=1e-9)
    np.testing.assert_allclose(v, rows, atol=1e-9)
    np.testing.assert_allclose(z, depth)


def test_scaling_keeps_pixel_centres_on_the_same_rays():
    K = Intrinsics(500.0, 500.0, 319.5, 239.5, 640, 480)
    half = K.scaled(0.5, 0.5, 320, 240)
    assert (half.cx, half.cy, half.fx) == (159.5, 119.5, 250.0)
    assert K.cropped(10, 20, 100, 100).cx == 309.5


def test_stereo_pose_moves_the_eye_along_x_and_inverts():
    pose = stereo_pose(0.063)
    np.testing.assert_allclose(transform(np.zeros((1, 3)), pose), [[0.063, 0, 0]])
    np.testing.assert_allclose(world_to_camera(pose) @ pose, np.eye(4), atol=1e-12)


def test_toed_in_eyes_turn_towards_the_source_axis():
    for baseline in (0.063, -0.063):
        forward = stereo_pose(baseline, toe_in_deg=2.0)[:3, :3] @ np.array([0, 0, 1.0])
        assert np.sign(forward[0]) == -np.sign(baseline)
        assert math.isclose(math.degrees(math.acos(forward[2])), 2.0)


@pytest.mark.parametrize("K", [
    Intrinsics(200.0, 200.0, 95.5, 71.5, 192, 144),   # centred, square pixels
    Intrinsics(200.0, 260.0, 90.2, 75.6, 192, 144),   # tall pixels, off-centre
    Intrinsics(240.0, 180.0, 101.0, 66.0, 192, 144),  # wide pixels
    Intrinsics(150.0, 210.0, 55.5, 88.0, 112, 160),   # portrait
])
def test_intrinsics_survive_the_round_trip_through_blender_camera_settings(K):
    from stereo_geometry.blender_camera import blender_camera

    settings = blender_camera(K)
    assert settings.pixel_aspect_y / settings.pixel_aspect_x == pytest.approx(K.fy / K.fx)
    assert min(settings.pixel_aspect_x, settings.pixel_aspect_y) == 1.0
    back = settings.intrinsics()
    for name in ("fx", "fy", "cx", "cy"):
        assert getattr(back, name) == pytest.approx(getattr(K, name), rel=1e-12), name
    assert (back.width, back.height) == (K.width, K.height)


def test_blender_sensor_fits_give_the_closed_form_focal_lengths():
    from stereo_geometry.blender_camera import BlenderCamera

    # A 50 mm lens on a 36 x 24 mm sensor, 1920 x 1080: horizontal fit, f = 50 / 36 * 1920.
    auto = BlenderCamera(50.0, 36.0, 24.0, "AUTO", 0.0, 0.0, 1920, 1080)
    assert auto.intrinsics().fx == pytest.approx(50 / 36 * 1920)
    assert auto.intrinsics().cx == pytest.approx(959.5) and auto.intrinsics().cy == pytest.approx(539.5)
    # Portrait frames fit the sensor width to their height; VERTICAL fits sensor_height to it.
    assert BlenderCamera(50.0, 36.0, 24.0, "AUTO", 0.0, 0.0, 1080, 1920).intrinsics().fx == pytest.approx(50 / 36 * 1920)
    assert BlenderCamera(50.0, 36.0, 24.0, "VERTICAL", 0.0, 0.0, 1920, 1080).intrinsics().fy == pytest.approx(50 / 24 * 1080)
    # A shift moves the principal point by the shift times the fitted side's pixels.
    shifted = BlenderCamera(50.0, 36.0, 24.0, "HORIZONTAL", 0.1, -0.05, 1920, 1080).intrinsics()
    assert shifted.cx == pytest.approx(959.5 - 192) and shifted.cy == pytest.approx(539.5 - 96)


def test_the_axis_conversion_is_its_own_inverse_and_turns_forward_to_minus_z():
    from stereo_geometry import stereo_pose
    from stereo_geometry.blender_camera import blender_matrix_world

    pose = stereo_pose(0.063, 2.0)
    np.testing.assert_allclose(blender_matrix_world(blender_matrix_world(pose)), pose)
    forward_cv = pose[:3, :3] @ [0, 0, 1]
    forward_blender = blender_matrix_world(pose)[:3, :3] @ [0, 0, -1]
    np.testing.assert_allclose(forward_blender, forward_cv * [1, -1, -1])
