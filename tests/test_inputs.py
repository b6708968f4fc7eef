"""Reading and preparing real inputs: formats, conversions and the errors bad files give."""
import json

import cv2
import numpy as np
import pytest
from PIL import Image

from datagen_bpy.prepare import prepare_view
from stereo_geometry.readers import fill_invalid_depth
from stereo_geometry.readers import InputError, read_depth, read_image, read_intrinsics
from datagen_bpy.sources import (BaselineSpec, find_depth, find_images, make_tasks, parse_shard,
                                 shard)
from stereo_geometry import Intrinsics


def test_images_of_every_kind_become_rgb_uint8(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (6, 8, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    Image.fromarray(rgb[..., 0]).save(tmp_path / "grey.png")
    Image.fromarray(np.dstack([rgb, np.full((6, 8), 7, np.uint8)])).save(tmp_path / "rgba.png")
    cv2.imwrite(str(tmp_path / "grey16.png"), (rgb[..., 0].astype(np.uint16) * 257))
    np.testing.assert_array_equal(read_image(tmp_path / "rgb.png"), rgb)
    np.testing.assert_array_equal(read_image(tmp_path / "grey.png"), np.repeat(rgb[..., :1], 3, -1))
    np.testing.assert_array_equal(read_image(tmp_path / "rgba.png"), rgb)
    np.testing.assert_array_equal(read_image(tmp_path / "grey16.png"), np.repeat(rgb[..., :1], 3, -1))


def test_truncated_and_garbage_images_give_an_error_naming_the_file(tmp_path):
    Image.fromarray(np.zeros((64, 64, 3), np.uint8) + 90).save(tmp_path / "whole.jpg")
    data = (tmp_path / "whole.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    (tmp_path / "junk.png").write_bytes(b"not an image")
    for name in ("cut.jpg", "junk.png"):
        with pytest.raises(InputError, match=name):
            read_image(tmp_path / name)


def test_depth_formats_read_as_metres(tmp_path):
    depth = np.random.default_rng(1).uniform(0.5, 5.0, (5, 7)).astype(np.float32)
    np.save(tmp_path / "d.npy", depth)
    cv2.imwrite(str(tmp_path / "d.png"), np.round(depth * 1000).astype(np.uint16))
    with open(tmp_path / "d.pfm", "wb") as f:
        f.write(b"Pf\n7 5\n-1.0\n")
        f.write(depth[::-1].astype("<f4").tobytes())
    import OpenEXR

    OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage},
                 {"Z": depth}).write(str(tmp_path / "d.exr"))
    for name, tol in (("d.npy", 0), ("d.pfm", 0), ("d.exr", 0), ("d.png", 5e-4)):
        np.testing.assert_allclose(read_depth(tmp_path / name), depth, atol=tol, err_msg=name)
    np.testing.assert_allclose(read_depth(tmp_path / "d.png", png_scale=1 / 5000),
                               np.round(depth * 1000) / 5000, rtol=1e-6)


def test_bad_depth_files_give_errors_naming_the_file(tmp_path):
    np.save(tmp_path / "cube.npy", np.ones((2, 3, 4)))
    (tmp_path / "cut.pfm").write_bytes(b"Pf\n7 5\n-1.0\n" + b"\0" * 12)
    cv2.imwrite(str(tmp_path / "eight.png"), np.ones((4, 4), np.uint8))
    for name in ("cube.npy", "cut.pfm", "eight.png"):
        with pytest.raises(InputError, match=name):
            read_depth(tmp_path / name)


def test_invalid_depth_takes_its_nearest_valid_neighbour():
    depth = np.array([[1.0, 0.0, 0.0, 4.0], [1.0, 0.0, 0.0, 4.0]], dtype=np.float32)
    filled = fill_invalid_depth(depth, depth > 0)
    np.testing.assert_array_equal(filled, [[1, 1, 4, 4], [1, 1, 4, 4]])


def test_prepare_view_resizes_crops_and_keeps_the_rays(tmp_path):
    K = Intrinsics(535.4, 539.2, 320.1, 247.6, 640, 480)
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    depth = rng.uniform(1, 3, (480, 640)).astype(np.float32)
    depth[:10] = np.nan
    depth[20:30] = 0
    out_image, out_depth, K2 = prepare_view(image, depth, K, 256, 128, "x")
    assert out_image.shape == (128, 256, 3) and out_depth.shape == (128, 256)
    assert K2.fx == K2.fy and (K2.width, K2.height) == (256, 128)
    assert np.isfinite(out_depth).all() and (out_depth > 0).all()
    # The field of view across the width is kept (scale 0.4, then a vertical crop), and
    # pixels become square by stretching the axis with the smaller focal length.
    assert abs(K2.fx - 0.4 * 535.4) < 0.5
    with pytest.raises(InputError, match="only 5.0% of the depth map is valid"):
        prepare_view(image, np.where(rng.random((480, 640)) < 0.05, 1.0, 0.0), K, 256, 128, "x")
    with pytest.raises(InputError, match="aspect ratios differ"):
        prepare_view(image, depth[:, :400], K, 256, 128, "x")
    # A half-size depth map with the same aspect is scaled up to the image.
    assert prepare_view(image, depth[::2, ::2], K, 256, 128, "x")[1].shape == (128, 256)


def test_intrinsics_json_is_scaled_to_the_image(tmp_path):
    (tmp_path / "k.json").write_text(json.dumps({"fx": 500, "fy": 500, "cx": 319.5, "cy": 239.5,
                                                 "width": 640, "height": 480}))
    K = read_intrinsics(tmp_path / "k.json", 320, 240)
    assert (K.fx, K.cx, K.cy) == (250, 159.5, 119.5)


def test_depth_is_found_beside_images_in_the_usual_layouts(tmp_path):
    (tmp_path / "img" / "sub").mkdir(parents=True)
    (tmp_path / "depth" / "sub").mkdir(parents=True)
    (tmp_path / "rgbd").mkdir()
    for p in ("img/a.jpg", "img/sub/b.png", "rgbd/rgb.png"):
        (tmp_path / p).write_bytes(b"")
    for p in ("depth/a.npy", "depth/sub/b_depth.exr", "rgbd/depth_m.npy"):
        (tmp_path / p).write_bytes(b"")
    images = find_images(tmp_path / "img")
    assert [p.name for p in images] == ["a.jpg", "b.png"]
    assert find_depth(images[0], tmp_path / "img", tmp_path / "depth").name == "a.npy"
    assert find_depth(images[1], tmp_path / "img", tmp_path / "depth").name == "b_depth.exr"
    rgb = find_images(tmp_path / "rgbd")
    assert [p.name for p in rgb] == ["rgb.png"]  # depth_m.npy is not an image
    assert find_depth(rgb[0], tmp_path / "rgbd", tmp_path / "rgbd").name == "depth_m.npy"


def test_shards_split_the_task_list_disjointly_and_completely():
    tasks = make_tasks(seed=3, count=2, procedural=7)
    parts = [shard(tasks, i, 3) for i in range(3)]
    names = [t.name for part in parts for t in part]
    assert sorted(names) == sorted(t.name for t in tasks) and len(set(names)) == len(tasks)
    assert parse_shard("2/3") == (2, 3)
    for bad in ("3/3", "x", "1-2"):
        with pytest.raises(ValueError):
            parse_shard(bad)


def test_sample_seeds_depend_on_run_seed_and_name_only():
    a, b = make_tasks(1, 1, procedural=3), make_tasks(1, 1, procedural=5)
    assert [t.seed for t in a] == [t.seed for t in b[:3]]
    assert a[0].seed != make_tasks(2, 1, procedural=1)[0].seed


def test_baseline_spec_picks_values_and_ranges():
    import random

    spec = BaselineSpec.parse("0.063,0.0315:0.035")
    draws = [spec.sample(random.Random(i)) for i in range(200)]
    assert 0.063 in draws
    ranged = [d for d in draws if d != 0.063]
    assert ranged and all(0.0315 <= d <= 0.035 for d in ranged)
    with pytest.raises(ValueError):
        BaselineSpec.parse("-1")


def test_sample_photos_are_written_as_rgb_pngs(tmp_path):
    pytest.importorskip("skimage", reason="optional extra photos not installed")
    from datagen_bpy.sample_photos import NAMES, write_photos

    paths = write_photos(tmp_path)
    assert len(paths) == len(NAMES)
    assert read_image(paths[0]).shape[2] == 3 and read_image(paths[0]).dtype == np.uint8


def test_exif_orientation_is_applied_as_image_viewers_do(tmp_path):
    pixels = np.zeros((20, 30, 3), np.uint8)
    pixels[:, :10] = 255  # white on the left as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display"
    Image.fromarray(pixels).save(tmp_path / "rotated.jpg", exif=exif, quality=95)
    shown = read_image(tmp_path / "rotated.jpg")
    assert shown.shape == (30, 20, 3)  # portrait, as displayed
    assert shown[:10].mean() > 200 and shown[-10:].mean() < 50  # the white band is now on top


@pytest.mark.parametrize("array,message", [
    (np.ones((1, 1), np.float32), "1x1; it needs at least 2x2"),
    (np.ones((1, 40), np.float32), "40x1; it needs at least 2x2"),
    (np.ones((24, 32), bool), "must be numbers (metres), got bool"),
    (np.ones((2, 24, 32), np.float32), "2-D map, got an array of shape (2, 24, 32)"),
])
def test_depth_maps_of_the_wrong_shape_or_kind_say_what_is_wrong(tmp_path, array, message):
    np.save(tmp_path / "d.npy", array)
    with pytest.raises(InputError, match=re_escape(message)):
        read_depth(tmp_path / "d.npy")
    np.save(tmp_path / "channel.npy", np.ones((24, 32, 1), np.float32))
    assert read_depth(tmp_path / "channel.npy").shape == (24, 32)


def re_escape(text: str) -> str:
    import re

    return re.escape(text)


@pytest.mark.parametrize("depth,message", [
    (np.full((48, 64), 2.0, np.float32), "the depth is constant"),
    (np.random.default_rng(0).uniform(800, 4000, (48, 64)).astype(np.float32), "is it in millimetres?"),
    (np.random.default_rng(0).uniform(1e-5, 1e-4, (48, 64)).astype(np.float32), "closer than"),
])
def test_depth_that_would_make_a_useless_sample_is_refused_by_name(depth, message):
    with pytest.raises(InputError, match=re_escape(message)) as error:
        prepare_view(np.zeros((48, 64, 3), np.uint8), depth, Intrinsics.from_fov(64, 48, 60), 32, 24, "room_depth.png")
    assert "room_depth.png" in str(error.value)


def test_a_view_far_from_the_samples_shape_is_refused_instead_of_blown_up():
    depth = np.random.default_rng(0).uniform(1, 3, (20, 4000)).astype(np.float32)
    with pytest.raises(InputError, match="too far from the 512x384 sample's shape"):
        prepare_view(np.zeros((20, 4000, 3), np.uint8), depth, Intrinsics.from_fov(4000, 20, 60), 512, 384, "strip.png")


def test_scene_folders_give_count_tasks_each_one_folder_after_the_other(tmp_path):
    for name in ("town", "room"):
        (tmp_path / name).mkdir()
    (tmp_path / "README.md").write_text("not a scene")
    tasks = make_tasks(seed=1, count=2, scenes_root=tmp_path)
    assert [t.name for t in tasks] == ["scene_room_000000", "scene_room_000001", "scene_town_000000",
                                       "scene_town_000001"]
    assert {t.kind for t in tasks} == {"scene"} and [t.source for t in tasks[1:3]] == ["scene:room", "scene:town"]
    assert tasks[0].scene == tmp_path / "room"
