"""Blender's stereo cameras in closed form (the eyes a camera's Stereoscopy settings make), the
margins a render needs so its eyes see nothing beyond its edges, and on-screen parallax."""
import math

import numpy as np
import pytest

from stereo_geometry.blender_camera import BlenderCamera, BlenderStereo, stereo_eye
from stereo_geometry.camera import Eye, Intrinsics, project, transform, world_to_camera
from stereo_geometry.overscan import MARGIN_SLACK, eye_rays, needed_margins
from stereo_geometry.parallax import COMFORT_DEG, DISPLAYS, Display, parallax_heat_map, parallax_px, parallax_report

CAMERA = BlenderCamera(lens=35.0, sensor_width=36.0, sensor_height=24.0, sensor_fit="AUTO", shift_x=0.0,
                       shift_y=0.0, resolution_x=320, resolution_y=240)
F = 35.0 / 36.0 * 320  # focal length in pixels
B, ZC = 0.065, 1.95


def plane(depth: float, K: Intrinsics) -> np.ndarray:
    return np.full((K.height, K.width), depth)


def seen_at(point: np.ndarray, eye: Eye) -> tuple[float, float]:
    """Pixel (u, v) of a point of the camera's frame in an eye."""
    u, v, _ = project(transform(point[None], world_to_camera(eye.pose)), eye.K)
    return float(u[0]), float(v[0])


def test_the_pivots_eye_is_the_camera_itself():
    for pivot in ("LEFT", "RIGHT"):
        eye = stereo_eye(CAMERA, BlenderStereo("OFFAXIS", ZC, B, pivot), pivot)
        assert eye.K == CAMERA.intrinsics() and np.array_equal(eye.pose, np.eye(4))
    assert BlenderStereo(pivot="CENTER").rendered_eye is None
    assert BlenderStereo(pivot="CENTER").made_eyes == ("LEFT", "RIGHT")
    assert BlenderStereo(pivot="RIGHT").made_eyes == ("LEFT",)


@pytest.mark.parametrize("pivot,eye,offset", [("LEFT", "RIGHT", B), ("RIGHT", "LEFT", -B),
                                              ("CENTER", "LEFT", -B / 2), ("CENTER", "RIGHT", B / 2)])
def test_off_axis_eyes_are_shifted_and_converge_on_the_convergence_plane(pivot, eye, offset):
    """Off-Axis: the eye moves along x, its principal point by f B / Zc (half for Center), so
    a point on the convergence plane is where the camera sees it and a point at Z moves by
    f B (1/Z - 1/Zc) pixels."""
    made = stereo_eye(CAMERA, BlenderStereo("OFFAXIS", ZC, B, pivot), eye)
    np.testing.assert_allclose(made.pose, np.array([[1, 0, 0, offset], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]),
                               atol=1e-12)
    K = CAMERA.intrinsics()
    assert made.K.cx == pytest.approx(K.cx + F * offset / ZC) and (made.K.fx, made.K.cy) == (K.fx, K.cy)
    for z in (0.8, ZC, 6.0):
        point = np.array([0.3, -0.2, z])
        u_camera, v_camera = seen_at(point, Eye(K, np.eye(4)))
        u, v = seen_at(point, made)
        assert u - u_camera == pytest.approx(-F * offset * (1 / z - 1 / ZC), abs=1e-9) and v == pytest.approx(v_camera)


def test_parallel_eyes_only_move():
    made = stereo_eye(CAMERA, BlenderStereo("PARALLEL", ZC, B, "LEFT"), "RIGHT")
    assert made.K == CAMERA.intrinsics() and made.baseline == pytest.approx(B)
    np.testing.assert_allclose(made.pose[:3, :3], np.eye(3))


def test_off_axis_shift_uses_the_sensor_width_whatever_the_fit():
    """Blender adds (B / sensor width) (lens / Zc) to shift_x, in units of the fitted side: a
    portrait frame fitted vertically moves by that times its height in pixels."""
    portrait = BlenderCamera(35.0, 36.0, 24.0, "VERTICAL", 0.0, 0.0, 240, 320)
    made = stereo_eye(portrait, BlenderStereo("OFFAXIS", ZC, B, "LEFT"), "RIGHT")
    assert made.K.cx - portrait.intrinsics().cx == pytest.approx((B / 36.0) * (35.0 / ZC) * 320)


def test_toe_in_center_eyes_turn_to_meet_on_the_axis_at_the_convergence_distance():
    stereo = BlenderStereo("TOE", 3.0, B, "CENTER")
    K = CAMERA.intrinsics()
    for eye, side in (("LEFT", -1), ("RIGHT", 1)):
        made = stereo_eye(CAMERA, stereo, eye)
        assert made.pose[0, 3] == pytest.approx(side * B / 2) and made.K == K
        u, v = seen_at(np.array([0.0, 0.0, 3.0]), made)
        assert (u, v) == (pytest.approx(K.cx), pytest.approx(K.cy))  # the convergence point, dead ahead
        forward = made.pose[:3, :3] @ [0, 0, 1]
        assert math.degrees(math.atan2(-forward[0], forward[2])) == pytest.approx(side * math.degrees(math.atan(B / 6.0)))


def test_toe_in_from_the_left_eye_turns_twice_about_the_half_angle():
    """Pivot Left: the right eye is turned by a = atan(B / 2Zc), moved B along its turned x
    axis and turned by a again: it sits at B (cos a, 0, sin a) looking 2a inwards, and its axis
    crosses the camera's at B / (2 sin a), just beyond Zc."""
    a = math.atan(B / (2 * 3.0))
    made = stereo_eye(CAMERA, BlenderStereo("TOE", 3.0, B, "LEFT"), "RIGHT")
    np.testing.assert_allclose(made.pose[:3, 3], [B * math.cos(a), 0, B * math.sin(a)], atol=1e-12)
    K = CAMERA.intrinsics()
    u, v = seen_at(np.array([0.0, 0.0, B / (2 * math.sin(a))]), made)
    assert (u, v) == (pytest.approx(K.cx), pytest.approx(K.cy))


def test_bad_stereo_settings_are_refused():
    with pytest.raises(ValueError):
        BlenderStereo("SIDEWAYS")
    with pytest.raises(ValueError):
        BlenderStereo(interocular_distance=0.0)


def plane_caster(depth: float):
    """Rays of a scene that is a wall at planar `depth`."""
    def cast(eye, u, v):
        origins, directions = eye_rays(eye, u, v)
        t = (depth - origins[:, 2]) / directions[:, 2]
        return origins + t[:, None] * directions
    return cast


def test_a_parallel_eye_needs_the_walls_disparity_beyond_its_own_side():
    """A right eye B to the right of a camera before a wall at Z sees f B / Z columns beyond
    the frame's right edge, nothing beyond its left."""
    K = Intrinsics(160.0, 160.0, 95.5, 63.5, 192, 128)
    for baseline, z in ((0.3, 4.0), (0.1, 1.0), (-0.3, 4.0)):
        left, right = needed_margins(plane_caster(z), [Eye.shifted(K, baseline)], K)
        shift = math.floor(160 * abs(baseline) / z)  # the farthest whole column beyond the edge it sees
        assert (left, right) == ((0, shift + MARGIN_SLACK) if baseline > 0 else (shift + MARGIN_SLACK, 0))


def test_off_axis_eyes_see_a_far_wall_beyond_the_opposite_edge():
    """Off-Axis right eye, wall behind the convergence plane: it sees f B (1/Zc - 1/Z)
    columns beyond the frame's left edge."""
    K = CAMERA.intrinsics()
    eye = stereo_eye(CAMERA, BlenderStereo("OFFAXIS", ZC, 0.3, "LEFT"), "RIGHT")
    left, right = needed_margins(plane_caster(6.0), [eye], K)
    strip = math.floor(F * 0.3 * (1 / ZC - 1 / 6.0))  # 32 px; the scan samples every other column here
    assert right == 0 and strip + MARGIN_SLACK <= left <= strip + MARGIN_SLACK + 1


def test_parallax_of_a_plane_is_f_b_times_the_difference_of_inverse_depths():
    """Off-Axis eyes (any pivot): parallax f B (1/Zc - 1/Z) pixels, 0 on the convergence plane."""
    K = CAMERA.intrinsics()
    for pivot in ("LEFT", "RIGHT", "CENTER"):
        stereo = BlenderStereo("OFFAXIS", ZC, B, pivot)
        left, right = stereo_eye(CAMERA, stereo, "LEFT"), stereo_eye(CAMERA, stereo, "RIGHT")
        for z in (0.7, ZC, 10.0):
            np.testing.assert_allclose(parallax_px(plane(z, K), K, left, right), F * B * (1 / ZC - 1 / z), atol=1e-4)


def test_the_parallax_report_gives_closed_form_figures_and_limits():
    """A 1.44 m screen seen from 2.7 m, 320 px: a pixel is 4.5 mm; the viewer's 63 mm are
    14 px (divergence); +/- 1 degree is P = e - 2 V tan((atan(e / 2V) * 2 -/+ 1 deg) / 2)."""
    tv = DISPLAYS["TV"]
    parallax = np.zeros((4, 320), np.float32)
    parallax[0, 0], parallax[1, 1] = -20.0, 16.0
    report = parallax_report(parallax, tv)
    assert (report.nearest_px, report.farthest_px) == (-20.0, 16.0)
    assert report.farthest_percent == pytest.approx(5.0) and report.nearest_mm == pytest.approx(-90.0)
    assert report.divergence_px == pytest.approx(0.063 / (1.44 / 320))
    screen = 2 * math.atan(0.063 / 5.4)
    for angle, limit in ((COMFORT_DEG, report.far_limit_px), (-COMFORT_DEG, report.near_limit_px)):
        expected = (0.063 - 5.4 * math.tan((screen - math.radians(angle)) / 2)) / (1.44 / 320)
        assert limit == pytest.approx(min(expected, report.divergence_px))
    assert report.diverging_share == pytest.approx(1 / parallax.size)  # 16 px > 14 px
    assert report.beyond_comfort_share == pytest.approx(2 / parallax.size)
    assert len(report.warnings) == 2 and "diverges" in report.warnings[0]
    assert report.farthest_deg == pytest.approx(float(tv.disparity_deg(np.array(16 * 1.44 / 320))))
    calm = parallax_report(np.zeros((4, 320), np.float32), tv)
    assert calm.warnings == [] and calm.nearest_deg == 0


def test_the_heat_map_marks_each_side_and_what_passes_a_limit():
    parallax = np.zeros((1, 1000), np.float32)
    parallax[0, :5] = (0.0, 3.0, -3.0, 40.0, -40.0)
    report = parallax_report(parallax, Display("test", 1.0, 2.0))  # 1 mm a pixel: limits about +/- 35 px
    heat = parallax_heat_map(parallax, report)
    assert heat[0, 0].tolist() == [0, 0, 0]
    assert heat[0, 1, 2] > heat[0, 1, 0] and heat[0, 2, 0] > heat[0, 2, 2]  # behind blue, in front red
    assert heat[0, 3].tolist() == heat[0, 4].tolist() == [255, 255, 0]


def test_a_display_needs_positive_sizes():
    with pytest.raises(ValueError):
        Display("flat", 0.0, 1.0)
