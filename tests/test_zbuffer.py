"""The compiled geometry kernels give the numpy reference's results bit for bit, on every rig."""
import os
import subprocess
import sys

import numpy as np
import pytest

import stereo_geometry.mesh as mesh
import stereo_geometry.warp as warp
from conftest import REPO, box_depth, textured
from stereo_geometry import HOLE_RULES, Intrinsics, grid_mesh, reproject, stereo_pose, translation, world_to_camera
from stereo_geometry.camera import project, transform

B = 0.063


def _scene(K: Intrinsics) -> np.ndarray:
    """A wall with a box, a disc nearer still, per-pixel depth noise and a few unknown pixels."""
    height, width = K.height, K.width
    rng = np.random.default_rng(height * width)
    depth = box_depth(height, width, 4.0, 1.2, (height // 4, height // 2, width // 4, width // 2))
    rows, cols = np.mgrid[:height, :width]
    depth[(rows - 0.7 * height) ** 2 + (cols - 0.7 * width) ** 2 < (height / 6) ** 2] = 0.8
    depth += rng.random((height, width)) * 0.01
    depth[rng.random((height, width)) < 0.002] = np.nan
    return depth


def _plane_with_integer_shift(K: Intrinsics) -> np.ndarray:
    """Every vertex lands exactly on a pixel centre: up to six triangles tie there."""
    return np.full((K.height, K.width), K.fx * B / 5, dtype=np.float32)


CAMERAS = {
    "landscape": Intrinsics.from_fov(160, 120, 60),
    "portrait": Intrinsics.from_fov(90, 160, 50),
    "off-centre principal point": Intrinsics(150.0, 150.0, 20.0, 90.0, 128, 96),
}
SCENES = {"boxes": _scene, "plane with integer shift": _plane_with_integer_shift}


KERNELS = ((warp, "zbuffer"), (warp, "grid_moved_projection"), (warp, "scanline_reproject"), (warp, "compiled_lookup"), (warp, "compiled_interpolation"),
           (mesh, "compiled_growth"), (mesh, "compiled_triangles"))


def _reference(fn):
    """fn() with every compiled kernel switched off, as where numba is not installed."""
    with pytest.MonkeyPatch.context() as patch:
        for module, name in KERNELS:
            patch.setattr(module, name, None)
        return fn()


def test_the_compiled_kernels_load():
    assert warp.zbuffer is not None and warp.grid_moved_projection is not None, \
        "numba is a dependency: the compiled kernels must load"


@pytest.mark.parametrize("camera", CAMERAS)
@pytest.mark.parametrize("baseline", [B, -B])
@pytest.mark.parametrize("toe_in_deg", [0.0, 2.0])
@pytest.mark.parametrize("scene", SCENES)
@pytest.mark.parametrize("ranked", [False, True], ids=["one rank", "random ranks"])
def test_compiled_and_numpy_rasterizers_agree_bit_for_bit(camera, baseline, toe_in_deg, scene, ranked):
    K = CAMERAS[camera]
    vertices, tris = grid_mesh(SCENES[scene](K), K)
    seen = transform(vertices, world_to_camera(stereo_pose(baseline, toe_in_deg)))
    rank = (np.random.default_rng(1).random(len(tris)) < 0.3).astype(np.uint8) if ranked else None
    compiled = warp.rasterize(seen, tris, K, rank)
    reference = warp.rasterize_numpy(*project(seen, K), tris, K, np.zeros(len(tris), np.uint8) if rank is None else rank)
    assert compiled.covered.mean() > 0.5
    np.testing.assert_array_equal(compiled.face, reference.face)
    np.testing.assert_array_equal(compiled.depth, reference.depth)
    np.testing.assert_array_equal(compiled.bary, reference.bary)


@pytest.mark.parametrize("camera", CAMERAS)
@pytest.mark.parametrize("baseline", [B, -B])
@pytest.mark.parametrize("toe_in_deg", [0.0, 2.0])
@pytest.mark.parametrize("scene", SCENES)
@pytest.mark.parametrize("interpolate", [False, True], ids=["nearest texel", "interpolated"])
@pytest.mark.parametrize("rule", HOLE_RULES)
def test_reprojection_equals_the_numpy_reference_pixel_for_pixel(camera, baseline, toe_in_deg, scene,
                                                                   interpolate, rule):
    """The parallel rig takes the compiled scanline kernel; the converged rig the compiled
    general path. Both must give the reference's colour, depth, stretched mask and coverage,
    under every hole rule."""
    K = CAMERAS[camera]
    image, depth = textured(K.height, K.width), SCENES[scene](K)
    to_other = world_to_camera(stereo_pose(baseline, toe_in_deg))
    fast = reproject(image, depth, K, K, to_other, HOLE_RULES[rule], interpolate=interpolate)
    reference = _reference(lambda: reproject(image, depth, K, K, to_other, HOLE_RULES[rule], interpolate=interpolate))
    assert fast.covered.mean() > 0.5
    if scene == "boxes":
        assert fast.stretched.sum() > 50
    for field in ("image", "depth", "stretched", "covered"):
        np.testing.assert_array_equal(getattr(fast, field), getattr(reference, field), err_msg=field)


def _scanline_calls(monkeypatch) -> list[bool]:
    """Records, per `reproject`, whether the scanline kernel gave its result."""
    calls, scanline = [], warp._scanline_reprojection

    def recorded(*args):
        result = scanline(*args)
        calls.append(result is not None)
        return result

    monkeypatch.setattr(warp, "_scanline_reprojection", recorded)
    return calls


@pytest.mark.parametrize("baseline", [B, -B])
def test_the_parallel_rig_takes_the_scanline_kernel(monkeypatch, baseline):
    K = CAMERAS["off-centre principal point"]
    calls = _scanline_calls(monkeypatch)
    for interpolate in (False, True):
        reproject(textured(K.height, K.width), _scene(K), K, K, world_to_camera(stereo_pose(baseline)),
                  interpolate=interpolate)
        reproject(textured(K.height, K.width), _scene(K), K, K, world_to_camera(stereo_pose(baseline, 2.0)),
                  interpolate=interpolate)
    assert calls == [True, True]


@pytest.mark.parametrize("baseline", [B, -B])
@pytest.mark.parametrize("rule", ["visible", "bridged", "far_reach"])
def test_an_off_axis_eye_of_an_overscan_render_takes_the_scanline_kernel(monkeypatch, baseline, rule):
    """Blender's Off-Axis eye: the camera shifted along its rows with its principal point moved,
    seen from a render with overscan columns on one side (a wider frame, another cx). Its
    rows are the source's, so the scanline kernel draws it, and gives the reference's result."""
    K_src = Intrinsics(150.0, 150.0, 79.5, 47.5, 148, 96)  # 12 overscan columns on the left
    K_dst = Intrinsics(150.0, 150.0, 67.5 - 150.0 * baseline / 2.0, 47.5, 136, 96)
    image, depth = textured(K_src.height, K_src.width), _scene(K_src)
    to_eye = world_to_camera(stereo_pose(baseline))
    calls = _scanline_calls(monkeypatch)
    for interpolate in (False, True):
        fast = reproject(image, depth, K_src, K_dst, to_eye, HOLE_RULES[rule], interpolate=interpolate)
        reference = _reference(lambda: reproject(image, depth, K_src, K_dst, to_eye, HOLE_RULES[rule],
                                                 interpolate=interpolate))
        assert fast.image.shape[:2] == (96, 136) and fast.covered.mean() > 0.5 and fast.stretched.sum() > 20
        for field in ("image", "depth", "stretched", "covered"):
            np.testing.assert_array_equal(getattr(fast, field), getattr(reference, field), err_msg=field)
    assert calls and all(calls)


@pytest.mark.filterwarnings("ignore:overflow encountered")
def test_a_vertex_that_rounding_moves_off_its_row_sends_the_frame_to_the_general_path(monkeypatch):
    """Depth so small that y = (v - cy) / fy * z underflows: the projected row is wrong."""
    K = CAMERAS["landscape"]
    image, depth = textured(K.height, K.width), _scene(K)
    depth[40, 50] = 5e-324
    calls = _scanline_calls(monkeypatch)
    to_right = world_to_camera(stereo_pose(B))
    fast = reproject(image, depth, K, K, to_right)
    reference = _reference(lambda: reproject(image, depth, K, K, to_right))
    assert calls == [False]
    for field in ("image", "depth", "stretched", "covered"):
        np.testing.assert_array_equal(getattr(fast, field), getattr(reference, field), err_msg=field)


def test_another_frames_camera_with_other_intrinsics_takes_the_compiled_moved_projection(monkeypatch):
    """A camera moved and turned, with its own focal length and principal point (another
    frame of a sequence, say): the compiled path that projects the vertices once for the tags
    and once into the target, without building them, gives the reference's result."""
    K_src = CAMERAS["landscape"]
    K_dst = Intrinsics(K_src.fx * 1.2, K_src.fy * 1.2, K_src.cx + 3.5, K_src.cy - 2.0, 150, 110)
    image, depth = textured(K_src.height, K_src.width), _scene(K_src)
    moved = world_to_camera(stereo_pose(B, 3.0) @ translation(0.02, -0.01, 0.05))
    calls = []
    compiled_projection = warp.grid_moved_projection
    monkeypatch.setattr(warp, "grid_moved_projection", lambda *args: calls.append(args) or compiled_projection(*args))
    for interpolate in (False, True):
        fast = reproject(image, depth, K_src, K_dst, moved, interpolate=interpolate)
        reference = _reference(lambda: reproject(image, depth, K_src, K_dst, moved, interpolate=interpolate))
        assert fast.covered.mean() > 0.5 and fast.stretched.sum() > 20
        for field in ("image", "depth", "stretched", "covered"):
            np.testing.assert_array_equal(getattr(fast, field), getattr(reference, field), err_msg=field)
    assert len(calls) == 4  # per reprojection: the tags' projection and the target's


@pytest.mark.parametrize("toe_in_deg", [0.0, 2.0])
def test_interpolation_changes_the_surfaces_and_leaves_the_holes_nearest_texel(toe_in_deg):
    """The holes keep the nearest texels the network was trained on; only what a surface
    shows is interpolated (8-bit colours rounded back to 8 bits)."""
    K = CAMERAS["off-centre principal point"]
    image, depth = textured(K.height, K.width), _scene(K)
    to_right = world_to_camera(stereo_pose(B, toe_in_deg))
    linear = reproject(image, depth, K, K, to_right, interpolate=True)
    closest = reproject(image, depth, K, K, to_right)
    assert linear.image.dtype == np.uint8
    for field in ("depth", "stretched", "covered"):
        np.testing.assert_array_equal(getattr(linear, field), getattr(closest, field), err_msg=field)
    assert linear.stretched.sum() > 50
    np.testing.assert_array_equal(linear.image[linear.stretched], closest.image[closest.stretched])
    surface = linear.covered & ~linear.stretched
    assert (linear.image[surface] != closest.image[surface]).any(-1).mean() > 0.3


@pytest.mark.parametrize("bands", [1, 3, 7, 200])
def test_the_grown_faces_do_not_depend_on_how_the_rows_are_split_among_threads(bands):
    """Each band of rows of cells projects its own first grid row again: the tags must be
    those of the whole grid at once, whatever the number of bands (even more than rows)."""
    from stereo_geometry import compiled
    from stereo_geometry.mesh import BORDER_PAD_PX

    K = CAMERAS["off-centre principal point"]
    args = (np.ascontiguousarray(_scene(K)), BORDER_PAD_PX, (K.fx, K.fy, K.cx, K.cy), (-B, 0.0, 0.0), 1.0)
    whole, whole_kept = compiled._compiled_grown_faces(*args, 1)
    split, split_kept = compiled._compiled_grown_faces(*args, bands)
    assert whole.sum() > 50 and whole_kept and split_kept
    np.testing.assert_array_equal(split, whole)


def test_grid_triangles_compiled_and_numpy_agree():
    valid = np.random.default_rng(1).random((37, 53)) > 0.05
    compiled = mesh.grid_triangles(valid)
    reference = _reference(lambda: mesh.grid_triangles(valid))
    assert compiled.dtype == reference.dtype == np.int32 and len(reference) > 3000
    np.testing.assert_array_equal(compiled, reference)


@pytest.mark.parametrize("toe_in_deg", [0.0, 2.0])
def test_footprint_growth_compiled_and_numpy_agree(toe_in_deg):
    K = CAMERAS["off-centre principal point"]
    vertices, tris = grid_mesh(_scene(K), K)
    to_right = world_to_camera(stereo_pose(B, toe_in_deg))
    compiled = mesh.footprint_growth_px(vertices, tris, K, to_right)
    reference = _reference(lambda: mesh.footprint_growth_px(vertices, tris, K, to_right))
    assert (reference > 1).any()
    np.testing.assert_array_equal(compiled, reference)


def test_triangles_behind_the_camera_or_without_area_are_skipped_by_both():
    K = Intrinsics(10.0, 10.0, 3.5, 3.5, 8, 8)
    vertices = np.array([[-1, -1, 1], [1, -1, 1], [-1, 1, 1],      # in view
                         [-1, -1, -1], [1, -1, 1], [-1, 1, 1],     # one corner behind
                         [0, 0, 1], [0.1, 0, 1], [0.2, 0, 1]],     # no area
                        dtype=float)
    tris = np.arange(9).reshape(3, 3)
    compiled = warp.rasterize(vertices, tris, K)
    reference = warp.rasterize_numpy(*project(vertices, K), tris, K, np.zeros(len(tris), np.uint8))
    np.testing.assert_array_equal(compiled.face, reference.face)
    assert set(np.unique(compiled.face)) == {-1, 0}


def test_the_numpy_forms_run_alone_where_numba_is_switched_off():
    """As in a Python without numba (Blender's): the whole other-eye chain, numpy only."""
    code = ("import sys, numpy as np\n"
            "from stereo_geometry import Intrinsics, reproject, stereo_pose, world_to_camera, warped_inputs\n"
            "import stereo_geometry.compiled as c\n"
            "K = Intrinsics.from_fov(64, 48, 60)\n"
            "depth = np.full((48, 64), 3.0); depth[10:30, 20:40] = 1.0\n"
            "warp = reproject(np.zeros((48, 64, 3), np.uint8), depth, K, K, world_to_camera(stereo_pose(0.063)))\n"
            "inputs = warped_inputs(warp, K)\n"
            "print(c.numba is None, 'numba' in sys.modules, int(warp.hole_mask.sum()))\n")
    env = {**os.environ, "STEREO_GEOMETRY_NUMPY_ONLY": "1"}
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    switched_off, imported, holes = result.stdout.split()
    assert (switched_off, imported) == ("True", "False") and int(holes) > 0
    K = Intrinsics.from_fov(64, 48, 60)
    depth = np.full((48, 64), 3.0)
    depth[10:30, 20:40] = 1.0
    warp = reproject(np.zeros((48, 64, 3), np.uint8), depth, K, K, world_to_camera(stereo_pose(B)))
    assert int(holes) == int(warp.hole_mask.sum())
