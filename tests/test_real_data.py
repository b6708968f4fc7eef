"""Real training data: stereo pairs with ground-truth disparity, their real disocclusions,
the fixed validation split, and how training uses the loss mask and several folders."""
import json

import cv2
import numpy as np
import pytest
import torch

from conftest import SHARED_DATA, assert_interpolated_copy, near_source_border, small_disk, textured, write_numpy_dataset
from datagen_bpy.real_data import (make_disocclusions, motion_jobs, scene_group, stage_stereo_views, validation_groups,
                                   write_pair_samples)
from stereo_geometry.stereo_pairs import Rig, load_scene, read_rig, reprojected_pair, view_depth
from stereo_geometry import reproject, translation, world_to_camera
from stereo_geometry.sample import network_input
from training.dataset import BORDER_STRIP_WIDTH, augment, with_border_strip

H, W = 60, 80
CALIB = ("calib.txt (Q units): cam0=[ 100.0 0 38.5 ; 0 100.0 29.5 ; 0 0 1 ] cam1=[ 100.0 0 42.5 ; "
         "0 100.0 29.5 ; 0 0 1 ] doffs= 4.0 baseline= 150.0 width= 80 height= 60")


def box_disparity(near: float, far: float) -> np.ndarray:
    disparity = np.full((H, W), far, np.float32)
    disparity[20:40, 30:50] = near
    return disparity


def write_pair(folder, name, rig: Rig | None = None, with_right_disparity: bool = True,
               calibration: str | None = None):
    """A pair made with the geometry core from known disparity: the right view is the left
    one reprojected (so outside the holes it must match exactly), and disp_right is exact."""
    folder.mkdir(parents=True)
    rig = rig or Rig(W, (W - 1) / 2, (W - 1) / 2, (H - 1) / 2, 0.063)
    disp_left = box_disparity(12.0, 4.0)
    left = textured(H, W)
    warp = reproject(left, view_depth(disp_left, rig), rig.intrinsics("left", W, H),
                     rig.intrinsics("right", W, H), world_to_camera(translation(rig.baseline)))
    right = np.where(warp.hole_mask[..., None] > 0, 128, warp.image).astype(np.uint8)
    disp_right = np.where(warp.hole_mask > 0, 0, rig.f * rig.baseline / np.maximum(warp.depth, 1e-6) - rig.doffs)
    cv2.imwrite(str(folder / "left.png"), left[..., ::-1])
    cv2.imwrite(str(folder / "right.png"), right[..., ::-1])
    cv2.imwrite(str(folder / "disp_left.png"), np.round(disp_left * 4).astype(np.uint8))
    meta = {"name": name, "left": "left.png", "right": "right.png", "disp_left": "disp_left.png",
            "disp_divisor": 4}
    if with_right_disparity:
        cv2.imwrite(str(folder / "disp_right.png"), np.round(disp_right * 4).astype(np.uint8))
        meta["disp_right"] = "disp_right.png"
    (folder / "scene.json").write_text(json.dumps(meta))
    if calibration:
        (folder / "SOURCE.txt").write_text(f"Notes: quarter size. {calibration}\n")
    return left, right


def test_calibration_is_read_from_the_middlebury_2014_source_note(tmp_path):
    (tmp_path / "SOURCE.txt").write_text(CALIB)
    rig = read_rig(tmp_path)
    assert rig == Rig(100.0, 38.5, 42.5, 29.5, 0.15) and rig.doffs == 4.0
    (tmp_path / "SOURCE.txt").write_text("no calibration here")
    assert read_rig(tmp_path) is None


def test_depth_with_doffs_is_f_b_over_d_plus_doffs_and_reprojects_by_d():
    rig = Rig(100.0, 38.5, 42.5, 29.5, 0.15)
    disparity = box_disparity(12.0, 4.0)
    np.testing.assert_allclose(view_depth(disparity, rig)[0, 0], 100.0 * 0.15 / (4.0 + 4.0))
    image = textured(H, W)
    warp = reproject(image, view_depth(disparity, rig), rig.intrinsics("left", W, H),
                     rig.intrinsics("right", W, H), world_to_camera(translation(rig.baseline)))
    # The wall (d = 4) lands 4 px to the left: x_right = x_left - d.
    np.testing.assert_array_equal(warp.image[5, 10:20], image[5, 14:24])


@pytest.mark.parametrize("calibration", [None, CALIB])
def test_a_pair_reprojects_onto_the_real_other_view_both_ways(tmp_path, calibration):
    rig = Rig(100.0, 38.5, 42.5, 29.5, 0.15) if calibration else None
    left, right = write_pair(tmp_path / "box", "box", rig, calibration=calibration)
    scene = load_scene(tmp_path / "box")
    assert scene.calibrated == (calibration is not None)
    sample, known = reprojected_pair(scene, "left")
    hole = sample["hole_mask"].astype(bool)
    rig = scene.rig
    assert_interpolated_copy(sample["image_generated_left"], right, ~hole, near_source_border(
        view_depth(scene.disp_left, rig), rig.intrinsics("left", W, H), rig.intrinsics("right", W, H),
        world_to_camera(translation(rig.baseline))))
    assert np.array_equal(sample["org_left_image"], right)
    # The disocclusion beside the box (the disparity step plus the mesh pitch); the right
    # view's truth is unknown exactly there (its disparity was left out in the holes).
    assert 8 <= hole[30, 25:50].sum() <= 10 and np.array_equal(known, ~hole)
    back, known_back = reprojected_pair(scene, "right")
    hole_back = back["hole_mask"].astype(bool)
    assert np.array_equal(back["org_left_image"], left)
    assert known_back.all()  # the left disparity is known everywhere
    assert 8 <= hole_back[30, 15:35].sum() <= 10  # now on the box's left side
    inner = ~hole_back & ~near_source_border(view_depth(scene.disp_right, rig), rig.intrinsics("right", W, H),
                                             rig.intrinsics("left", W, H), world_to_camera(translation(-rig.baseline)))
    assert np.mean(np.all(back["image_generated_left"][inner] == left[inner], -1)) > 0.95


def test_a_synthetic_border_strip_is_what_the_warp_leaves_beyond_the_field_of_view(tmp_path):
    write_pair(tmp_path / "box", "box")
    sample, _ = reprojected_pair(load_scene(tmp_path / "box"), "left")
    x = network_input(sample["image_generated_left"], sample["hole_mask"], sample["normals_left_masked"],
                      sample["depth_masked"])
    strip = int(np.argmin(x[3].all(0)[::-1]))  # the right eye's columns the left one never saw
    assert strip >= 4  # the wall's disparity
    other = np.random.default_rng(0).random(x.shape).astype(np.float32)
    other[3] = 0  # no holes
    np.testing.assert_array_equal(with_border_strip(other, strip)[:, :, -strip:], x[:, :, -strip:])
    np.testing.assert_array_equal(with_border_strip(other, strip)[:, :, :-strip], other[:, :, :-strip])
    # In training, a crop's edge becomes such a strip; the target stays the photograph.
    target = np.concatenate([other[:3], np.ones((1, H, W), np.float32)])
    widths = set()
    for seed in range(20):
        ax, at = augment(other, target, np.random.default_rng(seed), crop=None, border_strip=1.0)
        hole_columns = (ax[3] == 1).all(0)
        width = int(hole_columns.sum())
        assert hole_columns[:width].all() or hole_columns[-width:].all()  # at the left or right edge
        assert BORDER_STRIP_WIDTH[0] * W - 1 <= width <= BORDER_STRIP_WIDTH[1] * W + 1
        assert not ax[[0, 1, 2, 4, 5, 6, 7]][:, :, hole_columns].any()
        assert sorted(np.unique(at[:3])) == sorted(np.unique(other[:3]))  # only mirrored
        widths.add(width)
    assert len(widths) > 5


def test_resizing_a_scene_scales_its_disparity_and_rig(tmp_path):
    write_pair(tmp_path / "box", "box", calibration=CALIB)
    scene = load_scene(tmp_path / "box")
    half = scene.resized(0.5)
    assert half.left.shape == (H // 2, W // 2, 3) and half.disp_left.max() == pytest.approx(6.0)
    assert half.rig.f == pytest.approx(50.0) and half.rig.doffs == pytest.approx(2.0)
    assert set(np.unique(half.disp_left)) <= {2.0, 6.0}  # no blended disparity across the edge


def test_scene_groups_keep_numbered_scenes_together_and_the_split_is_fixed():
    assert scene_group("cloth3") == "cloth" and scene_group("sunrgbd_is_train_0004") == "sunrgbd_is_train"
    assert scene_group("playtablep") == "playtablep"
    groups = [f"scene{c}" for c in "abcdefghij"]
    val = validation_groups(groups)
    assert len(val) == 2 and val == validation_groups(list(reversed(groups)) + groups)
    assert validation_groups(["only"]) == set()


def test_real_disocclusions_are_written_with_loss_mask_split_and_resume(tmp_path):
    for name in ("alpha1", "alpha2", "beta", "gamma", "delta"):
        write_pair(tmp_path / "stereo" / name, name, with_right_disparity=name != "beta")
    out = tmp_path / "out"
    made, failures = make_disocclusions(tmp_path / "stereo", out, scales=(1.0, 0.5), progress=False)
    assert failures == [] and made == 2 * (2 * 4 + 1)  # both directions but for beta, two sizes
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert len(records) == made
    splits = {r["source"]: r["split"] for r in records}
    assert splits["alpha1"] == splits["alpha2"] and sorted(splits.values()).count("val") in (1, 2)
    with np.load(out / records[0]["file"]) as s:
        assert s["loss_mask"].dtype == np.uint8 and s["loss_mask"].shape == s["hole_mask"].shape
    assert make_disocclusions(tmp_path / "stereo", out, scales=(1.0, 0.5), progress=False)[0] == 0


def test_a_broken_scene_is_reported_by_name_and_the_rest_is_made(tmp_path):
    write_pair(tmp_path / "stereo" / "good", "good")
    bad = tmp_path / "stereo" / "bad"
    bad.mkdir()
    (bad / "scene.json").write_text("{not json")
    made, failures = make_disocclusions(tmp_path / "stereo", tmp_path / "out", scales=(1.0,), progress=False)
    assert made == 2 and len(failures) == 1 and "bad" in failures[0]["error"]


def test_scenes_with_unusable_disparity_are_named_with_the_file_and_the_rest_is_made(tmp_path):
    """A divisor that is not positive, a right disparity of another size, a disparity that is
    zero everywhere: each scene fails naming its file and the problem; the good one is made."""
    write_pair(tmp_path / "stereo" / "good", "good")
    for name in ("divisor", "size", "zero"):
        write_pair(tmp_path / "stereo" / name, name)
    meta = json.loads((tmp_path / "stereo" / "divisor" / "scene.json").read_text())
    (tmp_path / "stereo" / "divisor" / "scene.json").write_text(json.dumps({**meta, "disp_divisor": 0}))
    cv2.imwrite(str(tmp_path / "stereo" / "size" / "disp_right.png"), np.zeros((10, 10), np.uint8))
    cv2.imwrite(str(tmp_path / "stereo" / "zero" / "disp_left.png"), np.zeros((H, W), np.uint8))
    made, failures = make_disocclusions(tmp_path / "stereo", tmp_path / "out", scales=(1.0,), progress=False)
    errors = {f["name"].split("_")[0]: f["error"] for f in failures}
    assert made == 2 and sorted(errors) == ["divisor", "size", "zero"], failures
    assert "scene.json" in errors["divisor"] and "disp_divisor" in errors["divisor"]
    assert "disp_right.png" in errors["size"] and "10x10" in errors["size"]
    assert "disp_left.png" in errors["zero"]


def test_a_root_with_nothing_to_make_is_refused(tmp_path, capsys):
    from datagen_bpy.real_data import main

    (tmp_path / "stereo").mkdir()
    with pytest.raises(SystemExit) as exit_info:
        main(["--root", str(tmp_path), "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2 and "nothing to do" in capsys.readouterr().err


def test_a_full_disk_stops_the_real_disocclusions_with_one_line_and_nothing_partial(tmp_path):
    for name in ("alpha1", "alpha2", "beta", "gamma"):
        write_pair(tmp_path / "stereo" / name, name)
    with small_disk(tmp_path / "disk", "200k") as disk:
        made, failures = make_disocclusions(tmp_path / "stereo", disk / "out", scales=(1.0, 0.8, 0.6), progress=False)
        assert failures and "the job stopped" in failures[-1]["error"] and 0 < made < 24
        finished = sorted((disk / "out" / "samples").glob("*.npz"))
        assert not list(disk.rglob("*.partial")) and len(finished) == made
        for path in finished:  # every finished file is whole
            with np.load(path) as sample:
                sample["org_left_image"]


def test_stereo_views_are_staged_as_rgbd_folders_with_metric_depth(tmp_path):
    write_pair(tmp_path / "stereo" / "box", "box", calibration=CALIB)
    views = stage_stereo_views(tmp_path / "stereo", tmp_path / "staging")
    assert [v.name for v in views] == ["box_left", "box_right"]
    depth = np.load(views[0] / "depth_m.npy")
    K = json.loads((views[0] / "intrinsics.json").read_text())
    assert K["fx"] == 100.0 and K["cx"] == 38.5
    np.testing.assert_allclose(depth[0, 0], 100.0 * 0.15 / (4.0 + 4.0), rtol=1e-5)


def test_the_loss_counts_only_where_the_target_is_known():
    from training.losses import LossWeights, infill_loss

    target = torch.zeros(1, 3, 16, 16)
    raw = torch.zeros(1, 3, 16, 16)
    hole = torch.zeros(1, 1, 16, 16)
    hole[..., 4:12, 4:12] = 1
    raw[..., 4:12, 4:8] = 1.0  # wrong, but only where the truth is unknown
    known = torch.ones(1, 1, 16, 16)
    known[..., :, :8] = 0
    terms = infill_loss(raw, torch.where(hole > 0, raw, target), target, hole, LossWeights(), known)
    assert float(terms["total"]) == 0.0
    assert float(infill_loss(raw, raw, target, hole, LossWeights())["hole_l1"]) == pytest.approx(0.5)
    half = raw * 0.5  # squared error: 0.25 on half the hole
    assert float(infill_loss(half, half, target, hole, LossWeights())["hole_l2"]) == pytest.approx(0.125)


def test_training_draws_from_several_folders_by_weight_and_keeps_fixed_splits(tmp_path):
    from training.dataset import SampleDataset, split_by_source
    from training.config import parse_data
    from training.train import StepBatches

    assert parse_data("data/real") == ("data/real", 1.0) and parse_data("d:2.5") == ("d", 2.5)
    with pytest.raises(ValueError, match="positive"):
        parse_data("d:0")
    a = SampleDataset(write_numpy_dataset(tmp_path / "a", count=2, seed=1))
    b = SampleDataset(write_numpy_dataset(tmp_path / "b", count=2, seed=2, height=48, width=64))
    batches = StepBatches([(a, 3.0), (b, 1.0)], batch_size=4, crop=56, seed=0, rank=0)
    items = [batches[i] for i in range(8)]
    assert {tuple(t.shape) for _, t in items} == {(3 + 1, 48, 56)}  # crops fit the smallest sample
    assert {tuple(x.shape) for x, _ in items} == {(8, 48, 56)}
    folders = [batches.draw(i)[0] for i in range(4000)]
    assert folders.count(0) / 4000 == pytest.approx(0.75, abs=0.03)
    assert [batches.draw(i)[:2] for i in range(50)] == [batches.draw(i)[:2] for i in range(50)]
    records = [{"name": "x", "source": "s1", "split": "val"}, {"name": "y", "source": "s1", "split": "train"}]
    assert split_by_source(records, 0.5) == ([records[1]], [records[0]])


def test_the_detail_input_is_folded_alike_in_numpy_and_torch():
    from training.model import fold_detail as torch_fold
    from stereo_geometry.onnx_runner import fold_detail as numpy_fold

    x = np.random.default_rng(0).random((2, 8, 12, 16)).astype(np.float32)
    np.testing.assert_array_equal(numpy_fold(x, 4), torch_fold(torch.from_numpy(x), 4).numpy())


@pytest.mark.skipif(not (SHARED_DATA / "train" / "stereo").is_dir(), reason="../shared/data/train absent")
def test_the_shared_training_pairs_give_real_disocclusions(tmp_path):
    stereo = tmp_path / "stereo"
    stereo.mkdir()
    for name in ("adirondack", "cloth1"):  # a calibrated 2014 scene and a 2006 one with disp_right
        (stereo / name).symlink_to(SHARED_DATA / "train" / "stereo" / name)
    made, failures = make_disocclusions(stereo, tmp_path / "out", scales=(0.3,), progress=False)
    assert failures == [] and made == 3
    for path in sorted((tmp_path / "out" / "samples").glob("*.npz")):
        with np.load(path) as s:
            hole = s["hole_mask"].astype(bool)
            error = np.abs(s["image_generated_left"].astype(float) - s["org_left_image"])[~hole].mean()
            assert 0.01 < hole.mean() < 0.3 and error < 12, (path.name, hole.mean(), error)


def write_sequence(folder, poses: list[np.ndarray]):
    """A sequence folder (frames, planar depth, poses) of a wall 4 m away with a box 1.5 m
    away, both with colour waves a few dozen pixels long, each frame the wide view reprojected
    into its camera (so a frame reprojected into another's camera matches it outside the holes)."""
    from conftest import box_depth
    from stereo_geometry import Intrinsics

    folder.mkdir(parents=True)
    K_wide, K = Intrinsics.from_fov(192, 128, 100), Intrinsics.from_fov(96, 64, 60)
    rows, cols = np.mgrid[:128, :192]
    wide = np.clip(128 + 30 * np.stack([np.sin(cols / 9.0 + k) + np.cos(rows / 11.0 - 2 * k) for k in range(3)], -1),
                   0, 255).astype(np.uint8)
    wide_depth = box_depth(128, 192, 4.0, 1.5, (44, 84, 80, 112))
    for t, pose in enumerate(poses):
        seen = reproject(wide, wide_depth, K_wide, K, world_to_camera(pose))
        cv2.imwrite(str(folder / f"{t:04d}.png"), seen.image[..., ::-1])
        np.save(folder / f"{t:04d}_depth.npy", seen.depth.astype(np.float32))
        (folder / f"{t:04d}.json").write_text(json.dumps(
            {"fx": K.fx, "fy": K.fy, "cx": K.cx, "cy": K.cy, "camera_to_world": pose.tolist()}))


def turned(degrees: float) -> np.ndarray:
    a = np.radians(degrees)
    pose = np.eye(4)
    pose[:3, :3] = [[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]]
    return pose


def test_a_real_sequence_gives_real_disocclusions_from_its_camera_motion(tmp_path):
    """Each frame reprojected into the camera of the frames 1-3 later: outside the holes the
    later frame itself; pairs the camera turns too far between are not made; a frame without
    its depth is named and the rest is made."""
    poses = [translation(0.02 * t) for t in range(5)] + [translation(0.1) @ turned(40)]
    write_sequence(tmp_path / "sequences" / "desk", poses)
    (tmp_path / "sequences" / "desk" / "0002_depth.npy").unlink()
    made, failures = write_pair_samples(tmp_path / "out", motion_jobs(tmp_path / "sequences"), progress=False)
    # pairs (t, t+k) for k = 1..3 among frames 0-4 (9, 4 of them with frame 2), none with the turned frame 5
    assert made == 5 and len(failures) == 4 and all("0002_depth.npy" in f["error"] for f in failures), failures
    records = [json.loads(line) for line in (tmp_path / "out" / "manifest.jsonl").read_text().splitlines()]
    assert sorted(r["name"] for r in records) == ["desk_0000_0001", "desk_0000_0003", "desk_0001_0003",
                                                  "desk_0001_0004", "desk_0003_0004"]
    for record in records:
        assert record["kind"] == "real_motion" and record["split"] in ("train", "val")
        with np.load(tmp_path / "out" / record["file"]) as s:
            hole = s["hole_mask"].astype(bool)
            assert 0.005 < hole.mean() < 0.2 and s["loss_mask"].all()
            later = cv2.imread(str(tmp_path / "sequences" / "desk" / f"{record['name'][-4:]}.png"))[..., ::-1]
            np.testing.assert_array_equal(s["org_left_image"], later)
            assert np.abs(s["image_generated_left"].astype(float) - later)[~hole].mean() < 3
