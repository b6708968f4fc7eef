import math

import numpy as np

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
