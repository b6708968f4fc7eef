"""Metrics on known answers, baselines, and the evaluate command."""
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, write_numpy_dataset
from training.baselines import background_fill, classical_methods
from stereo_geometry.sample import nearest_valid_along_rows
from training.metrics import gradient_error, hole_and_ring_metrics, region_metrics, ring


def test_identical_images_have_infinite_psnr_and_zero_error():
    image = np.random.default_rng(0).random((20, 30, 3))
    region = np.zeros((20, 30), bool)
    region[5:10, 5:20] = True
    m = region_metrics(image, image, region)
    assert m["psnr"] == math.inf and m["l1"] == 0 and m["grad"] == 0
    assert m["ssim"] == pytest.approx(1.0)


@pytest.mark.parametrize("error", [0.1, 0.01, 0.25])
def test_a_constant_error_gives_its_exact_psnr_and_l1(error):
    target = np.full((10, 10, 3), 0.5)
    region = np.ones((10, 10), bool)
    m = region_metrics(target + error, target, region)
    assert m["psnr"] == pytest.approx(-20 * math.log10(error))
    assert m["l1"] == pytest.approx(error)
    assert m["grad"] == pytest.approx(0.0)  # a constant offset keeps every edge


def test_gradient_error_sees_a_blurred_edge():
    sharp = np.zeros((8, 8))
    sharp[:, 4:] = 1.0
    blurred = sharp.copy()
    blurred[:, 3:5] = 0.5
    region = np.ones((8, 8), bool)
    assert gradient_error(blurred, sharp, region) > 0 and gradient_error(sharp, sharp, region) == 0


def test_ring_surrounds_the_hole_without_it():
    hole = np.zeros((9, 9), bool)
    hole[4, 4] = True
    r = ring(hole, 2)
    assert r.sum() == 24 and not r[4, 4]


def test_nearest_valid_pixels_along_rows():
    valid = np.array([[False, True, False, False, True, False]])
    left, right = nearest_valid_along_rows(valid)
    assert left.tolist() == [[-1, 1, 1, 1, 4, 4]]
    assert right.tolist() == [[1, 1, 4, 4, 4, -1]]


def test_background_fill_copies_the_far_side():
    # Row: near foreground (depth 1) | hole | far background (depth 5).
    image = np.zeros((1, 6, 3), np.uint8)
    image[0, :2] = 200
    image[0, 4:] = 50
    hole = np.array([[0, 0, 1, 1, 0, 0]], np.uint8)
    depth = np.array([[1, 1, 0, 0, 5, 5]], np.float32)
    out = background_fill({"image_generated_left": image, "hole_mask": hole, "depth_masked": depth})
    assert np.allclose(out[0, 2:4] * 255, 50)


def test_classical_baselines_fill_every_hole_pixel_and_keep_the_rest(tmp_path):
    data = write_numpy_dataset(tmp_path, count=1)
    with np.load(data / "samples" / "s000.npz") as s:
        sample = {k: s[k] for k in s.files}
    hole = sample["hole_mask"].astype(bool)
    for name, method in classical_methods().items():
        out = method(sample)
        assert out.shape == hole.shape + (3,) and out.dtype == np.float32, name
        np.testing.assert_array_equal((out[~hole] * 255).round(), sample["image_generated_left"][~hole])
        target = sample["org_left_image"] / 255.0
        assert hole_and_ring_metrics(out, target, hole)["hole_psnr"] > 10, name


def test_evaluate_command_prints_a_table_and_writes_json(tmp_path):
    from training.model import ModelConfig
    from training.config import TrainConfig
    from training.train import train

    data = write_numpy_dataset(tmp_path / "data", count=4)
    for name, inputs in (("run", "all"), ("ablation", "rgb_mask")):
        train(TrainConfig(data=str(data), out=str(tmp_path / name), steps=2, batch_size=2, crop=32,
                          loader_workers=0, inputs=inputs, model=ModelConfig(width=8, levels=2)),
              progress=False)
    result = subprocess.run([sys.executable, "-m", "training", "evaluate", "--checkpoint",
                             str(tmp_path / "run" / "last.pt"), "--ablation",
                             str(tmp_path / "ablation" / "last.pt"), "--data", str(data),
                             "--json", str(tmp_path / "r.json"), "--no-progress"],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "| telea |" in result.stdout and "| gated_unet_rgb_mask |" in result.stdout
    results = json.loads((tmp_path / "r.json").read_text())
    assert set(results) == {"gated_unet", "gated_unet_rgb_mask", "telea", "navier_stokes", "background", "pull_push"}
    assert all(np.isfinite(results[m]["hole_psnr"]) for m in results)


def test_bleed_counts_foreground_colour_where_the_background_belongs():
    from training.metrics import foreground_bleed

    h, w = 4, 20
    image = np.zeros((h, w, 3), np.float32)
    image[:, :8] = (0, 0, 1)     # far wall, blue
    image[:, 12:] = (1, 0, 0)    # near box, red
    depth = np.where(np.arange(w) < 8, 4.0, 1.0) * np.ones((h, 1))
    hole = np.zeros((h, w), bool)
    hole[:, 8:12] = True
    depth[hole] = 0
    truth = image.copy()
    truth[hole] = (0, 0, 1)      # the disocclusion shows the wall
    red_fill, blue_fill = image.copy(), image.copy()
    red_fill[hole], blue_fill[hole] = (1, 0, 0), (0, 0, 1)
    assert foreground_bleed(red_fill, truth, image, depth, hole) == 1.0
    assert foreground_bleed(blue_fill, truth, image, depth, hole) == 0.0
    half = blue_fill.copy()
    half[:, 10:12] = (0.9, 0, 0.1)
    assert foreground_bleed(half, truth, image, depth, hole) == 0.5
    # No depth edge (both sides equally far): nothing to judge.
    assert np.isnan(foreground_bleed(red_fill, truth, image, np.where(hole, 0, 2.0), hole))


def test_holes_are_scored_apart_in_the_strip_past_the_frames_edges_and_the_disocclusions_proper():
    """Row runs of the hole that touch the left or right edge are the strip; the rest are the
    disocclusions proper, each scored on its own."""
    from training.metrics import hole_and_ring_metrics, past_the_edges

    hole = np.zeros((12, 12), bool)
    hole[0, :3] = hole[0, 5:7] = hole[1, 9:] = hole[2, 4] = True
    strip = past_the_edges(hole)
    np.testing.assert_array_equal(np.argwhere(strip), [[0, 0], [0, 1], [0, 2], [1, 9], [1, 10], [1, 11]])
    target = np.zeros((12, 12, 3))
    output = np.where(strip[..., None], 0.1, 0.01) * hole[..., None] * np.ones(3)  # errors of 0.1 in the strip, 0.01 elsewhere
    metrics = hole_and_ring_metrics(output, target, hole)
    assert metrics["strip_psnr"] == pytest.approx(20.0) and metrics["proper_psnr"] == pytest.approx(40.0)
    assert np.isnan(hole_and_ring_metrics(output, target, hole & ~strip)["strip_psnr"])
