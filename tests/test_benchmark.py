"""The real-stereo benchmark on a tiny scene made here, and its arithmetic."""
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import REPO, SHARED_DATA, assert_interpolated_copy, box_depth, near_source_border, textured
from stereo_geometry import Intrinsics, reproject, stereo_pose, world_to_camera
from training.baselines import background_fill, classical_methods
from stereo_geometry.stereo_pairs import DEFAULT_BASELINE_M as BASELINE_M, default_rig, load_scene, view_depth
from training.benchmark import benchmark_scenes, scene_sample


def write_scene(folder, name="box", seed=0, near=12.0, contrast=1.0):
    """A stereo pair made with the geometry core from known disparity (divisor 4)."""
    folder.mkdir(parents=True)
    h, w = 60, 80
    K = Intrinsics(w, w, (w - 1) / 2, (h - 1) / 2, w, h)
    disparity = np.where(box_depth(h, w, 2.0, 1.0, (20, 40, 30, 50)) == 1.0, near, 4.0)
    left = (128 + contrast * (textured(h, w, seed).astype(float) - 128)).astype(np.uint8)
    right = reproject(left, K.fx * BASELINE_M / disparity, K, K, world_to_camera(stereo_pose(BASELINE_M))).image
    cv2.imwrite(str(folder / "left.png"), left[..., ::-1])
    cv2.imwrite(str(folder / "right.png"), right[..., ::-1])
    cv2.imwrite(str(folder / "disp_left.png"), (disparity * 4).astype(np.uint8))
    (folder / "scene.json").write_text(json.dumps({"name": name, "left": "left.png", "right": "right.png",
                                                   "disp_left": "disp_left.png", "disp_divisor": 4}))
    return left, right, disparity


def test_depth_from_disparity_reproduces_the_disparity():
    rig = default_rig(100, 60)
    disparity = np.full((60, 100), 5.0, np.float32)
    disparity[0, 0] = 0  # unknown: takes its neighbour's depth
    depth = view_depth(disparity, rig)
    np.testing.assert_allclose(rig.f * BASELINE_M / depth, 5.0, rtol=1e-6)


def test_warped_view_matches_the_right_image_outside_the_holes(tmp_path):
    _, right, _ = write_scene(tmp_path / "box")
    scene = load_scene(tmp_path / "box")
    assert scene.disp_left.max() == 12.0 and scene.disp_right is None
    sample, scored = scene_sample(scene)
    valid = ~sample["hole_mask"].astype(bool)
    h, w = right.shape[:2]
    rig = scene.rig
    assert_interpolated_copy(sample["image_generated_left"], right, valid, near_source_border(
        view_depth(scene.disp_left, rig), rig.intrinsics("left", w, h), rig.intrinsics("right", w, h),
        world_to_camera(stereo_pose(BASELINE_M))))
    # The hole beside the box is the disparity step (plus the mesh pitch), scored in full.
    assert 8 <= sample["hole_mask"][30, 30:60].sum() <= 10 and np.array_equal(scored, ~valid)


def test_benchmark_scores_each_method_per_scene_and_overall(tmp_path):
    write_scene(tmp_path / "a", "a")
    write_scene(tmp_path / "b", "b", seed=1, near=16.0, contrast=0.3)  # fainter colours, a wider hole
    results = benchmark_scenes(tmp_path, classical_methods())
    assert set(results) == {"a", "b", "overall"}
    for method in ("telea", "navier_stokes", "background", "pull_push"):
        a, b = results["a"][method]["hole_psnr"], results["b"][method]["hole_psnr"]
        assert abs(a - b) > 0.1  # the scenes differ, so the mean is not their min, max or first
        assert results["overall"][method]["hole_psnr"] == pytest.approx((a + b) / 2)


def test_benchmark_command_writes_tables_and_json(tmp_path):
    write_scene(tmp_path / "scenes" / "a", "a")
    result = subprocess.run([sys.executable, "-m", "training", "benchmark", "--real", str(tmp_path / "scenes"),
                             "--json", str(tmp_path / "r.json"), "--markdown", str(tmp_path / "r.md")],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "### Real stereo: a" in result.stdout and "| telea |" in (tmp_path / "r.md").read_text()
    assert json.loads((tmp_path / "r.json").read_text())["real"]["overall"]["telea"]["hole_psnr"] > 0


@pytest.mark.skipif(not (SHARED_DATA / "realstereo").is_dir(), reason="shared real-stereo data not present")
def test_real_scenes_load_with_plausible_holes():
    for folder in sorted((SHARED_DATA / "realstereo").glob("*/scene.json")):
        scene = load_scene(folder.parent)
        sample, scored = scene_sample(scene)
        assert 0.02 < scored.mean() < 0.3, folder


def test_holes_are_split_into_border_strips_thin_and_wide_holes():
    sys.path.insert(0, str(REPO / "benchmarks"))
    from hole_regions import hole_kinds
    hole = np.zeros((20, 30), bool)
    hole[:, 26:] = True      # the strip beyond the field of view
    hole[5:15, 10] = True    # a one-pixel gap
    hole[5:15, 15:20] = True  # a disocclusion beside an object
    kinds = hole_kinds(hole)
    assert kinds["border"].sum() == 20 * 4 and kinds["border"][:, 26:].all()
    assert kinds["thin"].sum() == 10 and kinds["thin"][5:15, 10].all()
    assert kinds["wide"].sum() == 50 and kinds["wide"][5:15, 15:20].all()


def test_the_hole_regions_command_bounds_the_gain_outside_the_border_strips(tmp_path):
    write_scene(tmp_path / "scenes" / "a", "a")
    result = subprocess.run([sys.executable, "benchmarks/hole_regions.py", "--real", str(tmp_path / "scenes"),
                             "--model", "fast=models/fast.pt"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    rows = {line.split("|")[2].strip(): [float(v) for v in line.split("|")[3:7]]
            for line in result.stdout.splitlines() if line.startswith("| a | ") and "share" not in line}
    fast, bound = rows["fast"], rows["fast, truth in thin and wide"]
    assert bound[1] == fast[1]                       # the same border strips
    assert bound[3] == np.inf and bound[0] > fast[0]  # the truth in the wide holes


def test_the_strip_command_scores_the_runtime_as_the_mean_of_its_three_guesses(tmp_path):
    write_scene(tmp_path / "scenes" / "a", "a")
    result = subprocess.run([sys.executable, "benchmarks/strip_fill.py", "--real", str(tmp_path / "scenes"),
                             "--model", "models/fast.onnx"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    header = next(line for line in result.stdout.splitlines() if line.startswith("| scene |"))
    row = next(line for line in result.stdout.splitlines() if line.startswith("| a | "))
    names = [cell.strip() for cell in header.split("|")[3:-1]]
    psnr = dict(zip(names, (float(cell) for cell in row.split("|")[3:-1])))
    # The mean of three guesses errs no more than their errors' mean (squared error is convex).
    mse = {name: 10 ** (-value / 10) for name, value in psnr.items()}
    assert mse["runtime"] <= (mse["network"] + mse["continuation"] + mse["diffusion"]) / 3 * (1 + 1e-3)
    assert psnr["better classical"] == max(psnr["telea"], psnr["background"])
    assert "runtime: against the better classical fill" in result.stdout


def test_scenes_are_named_by_their_folder_and_a_broken_one_is_named_and_left_out(tmp_path):
    """A copied folder keeping another scene's name in scene.json, a path-like name, a
    scene.json that is not usable, a disparity of another size and one that is all zero: the
    good scenes are scored under their folders' names, each bad one is named."""
    write_scene(tmp_path / "a", "tsukuba")
    write_scene(tmp_path / "b", "tsukuba", seed=1)
    write_scene(tmp_path / "c", "../../../escaped", seed=2)
    write_scene(tmp_path / "garbage", seed=3)
    (tmp_path / "garbage" / "scene.json").write_text("{not json")
    write_scene(tmp_path / "resized", seed=4)
    cv2.imwrite(str(tmp_path / "resized" / "disp_left.png"), np.full((30, 40), 16, np.uint8))
    write_scene(tmp_path / "flat", seed=5)
    cv2.imwrite(str(tmp_path / "flat" / "disp_left.png"), np.zeros((60, 80), np.uint8))
    problems = []
    results = benchmark_scenes(tmp_path, classical_methods(), problems)
    assert set(results) == {"a", "b", "c", "overall"}
    assert len(problems) == 3 and all(any(name in p for p in problems) for name in ("garbage", "resized", "flat"))
    assert "all zero" in next(p for p in problems if "flat" in p)


def test_the_benchmark_command_scores_the_good_scenes_and_exits_1_for_a_broken_one(tmp_path):
    write_scene(tmp_path / "real" / "a", "a")
    write_scene(tmp_path / "real" / "b", "b", seed=1)
    (tmp_path / "real" / "b" / "disp_left.png").unlink()
    run = subprocess.run([sys.executable, "-m", "training", "benchmark", "--real", str(tmp_path / "real")],
                         cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 1 and "disp_left.png" in run.stderr and "Real stereo: a" in run.stdout, run.stderr


def _ruled(rule):
    """A fill (the background fill) standing for a network trained on `rule`."""
    def fill(sample):
        return background_fill(sample)
    fill.hole_rule = rule
    return fill


def test_the_scenes_get_the_holes_of_the_networks_rule_and_rules_are_never_mixed(tmp_path):
    from stereo_geometry import HOLE_RULES

    write_scene(tmp_path / "a", "a")
    scene = load_scene(tmp_path / "a")
    for name, rule in HOLE_RULES.items():
        results = benchmark_scenes(tmp_path, {"net": _ruled(rule), "telea": classical_methods()["telea"]})
        expected = scene_sample(scene, rule)[1].mean()
        assert results["a"]["net"]["hole_fraction"] == pytest.approx(expected), name
    assert scene_sample(scene, HOLE_RULES["visible"])[1].sum() < scene_sample(scene, HOLE_RULES["stretched"])[1].sum()
    with pytest.raises(ValueError, match="different hole rules"):
        benchmark_scenes(tmp_path, {"a": _ruled(HOLE_RULES["visible"]), "b": _ruled(HOLE_RULES["stretched"])})
