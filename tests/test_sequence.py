"""Sequences: the other eye of every frame, its holes filled first from the frames that saw them."""
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import REPO, box_depth, textured
from stereo_geometry import Intrinsics, reproject, to_uint8, translation, world_to_camera
from stereo_geometry.camera import Eye
from stereo_geometry.infill import DEFAULT_MODEL, SHIPPED_MODELS, hole_rule_of, load_onnx_network
import stereo_geometry.sequence as sequence_module
from stereo_geometry.sequence import (Frame, SequenceInfill, depth_edge_pixels, far_side_depth, frame_images, nearer_surface_gap, read_frame,
                                       nearest_cameras, occluding_edge_depth, other_eye, window_frames)

B = 0.063
K = Intrinsics.from_fov(96, 64, 60)
RIGHT_EYE = Eye.shifted(K, B)
STEP = 0.015  # camera motion per frame, metres to the right


def smooth_texture(height: int, width: int) -> np.ndarray:
    """Colour waves a few dozen pixels long: a texture that interpolation between pixel
    centres follows."""
    rows, cols = np.mgrid[:height, :width]
    waves = [np.sin(cols / 9.0 + k) + np.cos(rows / 11.0 - 2 * k) for k in range(3)]
    return np.clip(128 + 30 * np.stack(waves, -1), 0, 255).astype(np.uint8)


def _scene(texture=textured, box_m: float = 1.5):
    """A static scene: the mesh of a wide view (a wall 4 m away, a box `box_m` away) at the origin."""
    K_wide = Intrinsics.from_fov(192, 128, 100)
    depth = box_depth(128, 192, 4.0, box_m, (44, 84, 80, 112))
    return texture(128, 192, seed=5) if texture is textured else texture(128, 192), depth, K_wide


def _view(pose: np.ndarray, texture=textured, box_m: float = 1.5):
    image, depth, K_wide = _scene(texture, box_m)
    seen = reproject(image, depth, K_wide, K, world_to_camera(pose))
    assert seen.covered.all()
    return seen.image, seen.depth


def _frames(poses: list[np.ndarray], texture=textured, box_m: float = 1.5) -> list[Frame]:
    return [Frame(*_view(pose, texture, box_m), K, pose) for pose in poses]


@pytest.fixture
def sequence(tmp_path):
    folder = tmp_path / "shot"
    folder.mkdir()
    for t in range(7):
        pose = translation(STEP * t)
        image, depth = _view(pose)
        cv2.imwrite(str(folder / f"{t + 1:04d}.png"), image[..., ::-1])
        np.save(folder / f"{t + 1:04d}_depth.npy", depth)
        (folder / f"{t + 1:04d}.json").write_text(json.dumps(
            {"fx": K.fx, "fy": K.fy, "cx": K.cx, "cy": K.cy, "camera_to_world": pose.tolist()}))
    return folder


def test_a_hole_that_a_frame_saw_from_the_other_eye_is_copied_exactly():
    """Static scene: a frame taken where the other eye of frame t stands saw its holes."""
    frame, from_the_eye = _frames([translation(0.0), translation(B)])
    network = load_onnx_network(str(SHIPPED_MODELS["fast"]))
    result = SequenceInfill(network).step(frame, [from_the_eye], RIGHT_EYE)
    hole, seen = result.hole_mask.astype(bool), result.from_frames.astype(bool)
    assert hole.sum() > 100 and seen.sum() > 0.9 * hole.sum()
    inside = np.zeros_like(seen)
    inside[1:-1, 1:-1] = True  # the frame's outermost vertices are pushed 0.01 px out (mesh.BORDER_PAD_PX)
    assert (hole & inside).sum() > 30 and (seen & inside).sum() > 0.9 * (hole & inside).sum()  # the box's hole
    np.testing.assert_array_equal(result.image[seen & inside], from_the_eye.image[seen & inside])


def test_holes_that_other_frames_saw_take_what_they_saw(sequence):
    """Frames 1.5 cm apart, none at the other eye: where they saw a hole, their colours,
    interpolated between their pixel centres and averaged, follow a smooth texture to within
    a few levels; the network alone, guessing, does not. (The box 0.9 m away: a hole 4.5 px
    wide beside it.)"""
    t = 2
    frames = _frames([translation(STEP * i) for i in range(7)], smooth_texture, box_m=0.9)
    network = load_onnx_network(str(SHIPPED_MODELS["fast"]))
    result = SequenceInfill(network).step(frames[t], frames[t + 1:] + frames[:t], RIGHT_EYE)
    alone = SequenceInfill(network).step(frames[t], [], RIGHT_EYE)
    truth, _ = _view(translation(STEP * t + B), smooth_texture, box_m=0.9)
    hole, seen = result.hole_mask.astype(bool), result.from_frames.astype(bool)
    # most of the hole; not the pixels that the frames saw only beside their own silhouettes
    assert hole.sum() > 100 and seen.sum() > 0.75 * hole.sum()
    inner = seen & ~cv2.dilate((~hole).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    error = np.abs(result.image[inner].astype(float) - truth[inner])
    assert error.mean() < 1.5 and np.percentile(error, 99) <= 6, (error.mean(), error.max())
    assert np.abs(alone.image[inner].astype(float) - truth[inner]).mean() > 3 * error.mean()
    own = reproject(frames[t].image, frames[t].depth, K, K, world_to_camera(translation(B)), hole_rule_of(network),
                    interpolate=True)
    kept = ~hole if own.guessed is None else ~hole & ~own.guessed  # the rule's guesses are offered to the frames too
    np.testing.assert_array_equal(result.image[kept], own.image[kept])


def test_a_single_view_is_a_sequence_of_one_frame_and_gives_what_it_always_gave():
    """`other_eye` and the sequence driver with one frame (no window, nothing carried) give the
    same, and what the single-view fill gave when the shipped models learned the `far_reach`
    hole rule (stored outputs of four views: both eyes, with and without overscan; image,
    warped view, holes and depth)."""
    from stereo_geometry.infill import SHIPPED_DEPTH_MODEL
    from stereo_geometry.sequence import SequenceDriver

    network = load_onnx_network(str(SHIPPED_MODELS["fast"]))
    depth_network = load_onnx_network(str(SHIPPED_DEPTH_MODEL), channels=1)
    reference = np.load(REPO / "tests" / "data" / "other_eye_far_reach_rule.npz")
    for i in range(4):
        fx, fy, cx, cy, w, h, baseline, overscan = reference[f"{i}_camera"]
        K_source, overscan = Intrinsics(fx, fy, cx, cy, int(w), int(h)), int(overscan)
        margins = (0, overscan) if baseline > 0 else (overscan, 0)
        frame = Frame(reference[f"{i}_image"], reference[f"{i}_depth"], K_source, np.eye(4), margins=margins)
        frame.eyes = {"other": Eye.shifted(frame.frame_K, baseline)}
        single = other_eye(frame.image, frame.depth, K_source, frame.eyes["other"], network, depth_network)
        written = {}
        driver = SequenceDriver(lambda index: frame, 1, network, window=0, carry=0.75, depth_network=depth_network)
        assert driver.run([0], lambda index, own, results: written.update(results)) == []
        expected = {name: reference[f"{i}_eye_{name}"] for name in ("image", "warped", "hole_mask")}
        for result in (single, written["other"]):
            for name in ("image", "warped", "hole_mask"):
                np.testing.assert_array_equal(getattr(result, name), expected[name], err_msg=f"{i} {name}")
            np.testing.assert_allclose(result.depth, reference[f"{i}_eye_depth"], rtol=1e-6)


RED = (255, 0, 0)


def _moving_box_view(t: int | None, eye: float = 0.0):
    """A red box 0.8 m away moving 3 px a frame to the right across a textured wall 4 m away
    (t None: the wall alone), seen by a still camera (at `eye` along x): image and depth, the
    depth as a render's depth pass gives it (one surface a pixel: the one whose colour shows,
    no depths between the box's and the wall's)."""
    K_wide = Intrinsics.from_fov(192, 128, 100)
    image, depth = textured(128, 192, seed=5), np.full((128, 192), 4.0)
    if t is not None:
        box = (44, 84, 70 + 3 * t, 102 + 3 * t)
        depth = box_depth(128, 192, 4.0, 0.8, box)
        image[box[0]:box[1], box[2]:box[3]] = RED
    if eye == 0.0:  # the wide view's nearest pixel on each ray: no depths between the box's and the wall's
        cols, rows = np.meshgrid(np.arange(K.width), np.arange(K.height))
        wide_cols = np.rint((cols - K.cx) / K.fx * K_wide.fx + K_wide.cx).astype(int)
        wide_rows = np.rint((rows - K.cy) / K.fy * K_wide.fy + K_wide.cy).astype(int)
        return image[wide_rows, wide_cols], depth[wide_rows, wide_cols].astype(np.float32)
    assert t is None  # the wall alone: no depth edge to render
    seen = reproject(image, depth, K_wide, K, world_to_camera(translation(eye)))
    return seen.image, seen.depth


def test_a_moving_objects_old_place_is_not_taken_into_a_hole(monkeypatch):
    """Frames after t show the box where the wall is at t (in front of the hole's occluding
    edge): inside the hole (off its rim, where the box's own silhouette may show) those
    pixels are left to the network; the wall that earlier frames saw is taken."""
    network = load_onnx_network(str(SHIPPED_MODELS["fast"]))
    frames = [Frame(*_moving_box_view(t), K, np.eye(4)) for t in range(7)]
    t = 3
    # what the holes beside the box show: the wall, as the frames' interpolated colours give it
    wall_image, wall_depth = _moving_box_view(None)
    wall = to_uint8(reproject(wall_image.astype(np.float32), wall_depth, K, K, world_to_camera(translation(B)),
                              interpolate=True).image / 255.0)

    def taken_reddened_and_exact():
        result = SequenceInfill(network, carry=0.0).step(frames[t], frames[:t] + frames[t + 1:], RIGHT_EYE)
        hole = result.hole_mask.astype(bool)
        inner = hole & ~cv2.dilate((~hole).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        taken = result.from_frames.astype(bool) & inner
        shift = result.image[taken].astype(float) - wall[taken]  # towards red: R up, G and B down
        reddened = (shift[:, 0] - shift[:, 1:].mean(axis=1) > 20).mean()
        return taken.sum(), reddened, (result.image[taken] == wall[taken]).all(axis=-1).mean()

    taken, reddened, exact = taken_reddened_and_exact()
    assert taken > 50 and reddened < 0.01 and exact > 0.9, (taken, reddened, exact)
    # without the rule (no occluding edge anywhere), every surface a neighbour saw is a candidate
    monkeypatch.setattr(sequence_module, "occluding_edge_depth", lambda depth, hole: np.zeros_like(depth))
    _, reddened_ungated, exact_ungated = taken_reddened_and_exact()
    assert reddened_ungated > 0.1 and exact_ungated < 0.8, (reddened_ungated, exact_ungated)


def _rod_before_far_wall_view(x: float, half_width: float = 0.04) -> Frame:
    """A camera at `x` along x sees a blue rod 2 m away (8 cm wide, about 3 px; or
    2 `half_width`) before a textured wall 100 m away, one ray through each pixel centre (a
    render's depth pass: no depths between the rod's and the wall's)."""
    rows, cols = np.mgrid[:K.height, :K.width].astype(float)
    ray_x, ray_y = (cols - K.cx) / K.fx, (rows - K.cy) / K.fy
    wall_x, wall_y = x + 100 * ray_x, 100 * ray_y
    image = np.stack([128 + 40 * np.sin(wall_x * 0.8 + k) * np.cos(wall_y * 0.7 - k) for k in range(3)], -1)
    rod = np.abs(x + 2 * ray_x - 0.1) < half_width
    image[rod] = (0, 0, 255)
    return Frame(np.rint(image).astype(np.uint8), np.where(rod, 2.0, 100.0).astype(np.float32), K, translation(x))


def test_a_neighbours_face_across_a_depth_edge_gives_no_sample(monkeypatch):
    """A frame 12 mm to the right of the other eye sees the rod a third of a pixel from where
    the eye does and the wall where it does: too little parallax to stretch its faces between
    the rod and the wall, yet each spans 2 m to 100 m. Beside the rod, in the hole the source
    leaves, such a face gives no sample where its corners' depths mix (`SURFACE_SPREAD`): the
    pixels taken are those of its faces on the wall, each exact."""
    network = load_onnx_network(str(SHIPPED_MODELS["fast"]))
    source, near_eye = _rod_before_far_wall_view(0.0), _rod_before_far_wall_view(B + 0.012)
    truth = _rod_before_far_wall_view(B).image

    def taken_and_off():
        result = SequenceInfill(network).step(source, [near_eye], RIGHT_EYE)
        taken = result.from_frames.astype(bool)
        return taken.sum(), np.abs(result.image[taken].astype(float) - truth[taken]).max(axis=-1)

    taken, off = taken_and_off()
    assert taken >= K.height and off.max() <= 3, (taken, off.max())  # a column of the hole at least
    monkeypatch.setattr(sequence_module, "SURFACE_SPREAD", np.inf)  # every face a surface
    taken_all, off_all = taken_and_off()
    assert taken_all >= taken + K.height and (off_all > 20).sum() >= K.height // 2, (taken_all, (off_all > 20).sum())


def test_frames_that_saw_the_wall_behind_a_thin_rod_replace_the_rules_guess():
    """A rod about one pixel wide: the shipped models' rule guesses the wall the rod hid in the
    eye's pixels where it stood (the far reach of the wall's first pixels beside it, the
    surface bridged behind it: `Reprojection.guessed`), so they are no holes. A frame at the
    eye's place saw that wall: its colours replace the guess there (exact), which on this fine
    texture is far off."""
    network = load_onnx_network(str(SHIPPED_MODELS["fast"]))
    source, at_eye = _rod_before_far_wall_view(0.0, 0.012), _rod_before_far_wall_view(B, 0.012)
    guessed = reproject(source.image, source.depth, K, K, world_to_camera(translation(B)), hole_rule_of(network),
                        interpolate=True).guessed
    assert guessed is not None and guessed.sum() >= K.height
    with_frame = SequenceInfill(network).step(source, [at_eye], RIGHT_EYE)
    alone = SequenceInfill(network).step(source, [], RIGHT_EYE)
    assert not with_frame.hole_mask.astype(bool)[guessed].any()
    off = np.abs(with_frame.image[guessed].astype(float) - at_eye.image[guessed]).max(axis=-1)
    off_alone = np.abs(alone.image[guessed].astype(float) - at_eye.image[guessed]).max(axis=-1)
    assert off.max() <= 2 and off_alone.mean() > 5, (off.max(), off_alone.mean())


def _box_before_wall_view(eye: float, mixed_red: float, reach: int = 1) -> Frame:
    """A camera at `eye` along x sees a red square 0.8 m away before a wall 4 m away with
    smooth colour waves; the wall's pixels within `reach` of the square (`nearer_surface_gap`)
    mix in `mixed_red` of its red, as an antialiased render shows them. From the eye B to the right
    the square moves 5.2 px against the wall, uncovering the wall at its right edge."""
    rows, cols = np.mgrid[:K.height, :K.width].astype(float)
    x, y = (cols - K.cx) / K.fx, (rows - K.cy) / K.fy  # ray directions
    wall_x, wall_y = 4.0 * x + eye, 4.0 * y
    image = np.stack([128 + 40 * np.sin(wall_x * 6 + k) * np.cos(wall_y * 5 - k) for k in range(3)], -1)
    square = (np.abs(0.8 * x + eye + 0.05) < 0.12) & (np.abs(0.8 * y) < 0.12)
    depth = np.where(square, 0.8, 4.0).astype(np.float32)
    image[square] = RED
    mixed = nearer_surface_gap(depth, radius=reach) > 0
    image[mixed] = (1 - mixed_red) * image[mixed] + mixed_red * np.array(RED)
    return Frame(np.rint(image).astype(np.uint8), depth, K, translation(eye))


def _reddening(neighbours: list[Frame], truth: np.ndarray) -> tuple[int, np.ndarray]:
    """The pixels the neighbours fill in the right eye of the view at 0 (its red square before
    the wall, mixed in half), and how much redder than `truth` each is (levels)."""
    network = load_onnx_network(str(SHIPPED_MODELS["fast"]))
    result = SequenceInfill(network, carry=0.0).step(_box_before_wall_view(0.0, 0.5), neighbours, RIGHT_EYE)
    taken = result.from_frames.astype(bool)
    shift = result.image[taken].astype(float) - truth[taken]
    return taken.sum(), shift[:, 0] - shift[:, 1:].mean(axis=1)


def test_neighbours_pixels_beside_a_nearer_surface_count_less(monkeypatch):
    """An antialiased render mixes a near object's colour into the far surface's pixels
    beside it (the depth pass, one sample a pixel, gives them the far depth). A frame halfway
    to the other eye shows the wall in the middle of the eye's hole as such pixels (the
    square 2.6 px from where the eye sees it), a frame past the eye shows it away from the
    square: the fill takes mostly the latter, still from the frames."""
    frames = [_box_before_wall_view(x, 0.5) for x in (0.5 * B, 1.5 * B)]
    truth = _box_before_wall_view(B, 0.5).image
    taken, reddened = _reddening(frames, truth)
    monkeypatch.setattr(sequence_module, "MIXED_WEIGHT", 1.0)
    taken_plain, reddened_plain = _reddening(frames, truth)
    assert taken == taken_plain > 100
    assert (reddened > 10).sum() < 0.5 * (reddened_plain > 10).sum() and (reddened_plain > 10).sum() > 20


def test_a_neighbour_at_the_eyes_place_gives_its_mixed_pixels_as_the_eye_sees_them(monkeypatch):
    """A frame taken 2 mm beside the eye sees the square a sixth of a pixel from where the eye
    does: the wall's pixels beside it mix in its red as the eye's own render does, so they count
    (almost) fully beside those of a frame a baseline farther on, which shows that wall clean;
    at the eye's mixed pixels the fill comes nearer the eye's render than with every mixed
    pixel a tenth."""
    network = load_onnx_network(str(SHIPPED_MODELS["fast"]))
    source = _box_before_wall_view(0.0, 0.5, reach=2)
    frames = [_box_before_wall_view(x, 0.5, reach=2) for x in (B - 0.002, 2 * B)]
    truth = _box_before_wall_view(B, 0.5, reach=2).image.astype(float)
    mixed = np.abs(truth - _box_before_wall_view(B, 0.0, reach=2).image).max(axis=-1) > 10

    def error_at_mixed_pixels():
        result = SequenceInfill(network).step(source, frames, RIGHT_EYE)
        there = result.from_frames.astype(bool) & mixed
        return there.sum(), np.abs(result.image[there] - truth[there]).mean()

    taken, error = error_at_mixed_pixels()
    monkeypatch.setattr(sequence_module, "mixed_weight", lambda parallax: np.where(parallax > 0, 0.1, 1.0))
    taken_tenth, error_tenth = error_at_mixed_pixels()
    assert taken == taken_tenth > 40
    assert error < 0.75 * error_tenth, (error, error_tenth)


def test_the_frames_near_the_eye_come_first():
    """A frame a fifth of a baseline from the eye shows most of the eye's hole; a frame two
    baselines beyond the eye (farther than `NEAR_FIRST` times the source camera's baseline),
    which sees the wall tinted, shows all of it. Where the near frame shows a surface the fill
    is its alone; the far frame fills only the rest."""
    network = load_onnx_network(str(SHIPPED_MODELS["fast"]))
    source, near = _box_before_wall_view(0.0, 0.0), _box_before_wall_view(0.8 * B, 0.0)
    far = _box_before_wall_view(3 * B, 0.0)
    far.image = np.clip(far.image.astype(int) + (0, 60, 0), 0, 255).astype(np.uint8)
    near_only = SequenceInfill(network).step(source, [near], RIGHT_EYE)
    both = SequenceInfill(network).step(source, [far, near], RIGHT_EYE)
    by_near, by_both = near_only.from_frames.astype(bool), both.from_frames.astype(bool)
    only_far = by_both & ~by_near
    assert by_near.sum() >= 60 and only_far.sum() >= 60, (by_near.sum(), only_far.sum())
    np.testing.assert_array_equal(both.image[by_near], near_only.image[by_near])
    greener = both.image[only_far].astype(int)[:, 1] - both.image[only_far].astype(int)[:, [0, 2]].mean(axis=1)
    truth = _box_before_wall_view(B, 0.0).image[only_far].astype(int)
    assert np.median(greener - (truth[:, 1] - truth[:, [0, 2]].mean(axis=1))) > 40


GREEN = (0, 255, 0)


def _wire_behind_box_view(x: float, wire_x: float = 0.13) -> Frame:
    """A camera at `x` along x sees, one ray through each pixel centre, a red box 0.8 m away
    and a green wire one pixel wide 2 m away (at `wire_x`) before a wall 10 m away: from 0 the
    box hides the wire, the other eye (B) sees it in the hole beside the box."""
    rows, cols = np.mgrid[:K.height, :K.width].astype(float)
    ray_x, ray_y = (cols - K.cx) / K.fx, (rows - K.cy) / K.fy
    wall_x, wall_y = x + 10 * ray_x, 10 * ray_y
    image = np.stack([128 + 40 * np.sin(wall_x * 2 + k) * np.cos(wall_y * 2 - k) for k in range(3)], -1)
    depth = np.full(ray_x.shape, 10.0)
    wire = np.abs(x + 2 * ray_x - wire_x) < 1 / K.fx
    image[wire], depth[wire] = GREEN, 2.0
    box = (np.abs(0.8 * ray_x + x + 0.05) < 0.12) & (np.abs(0.8 * ray_y) < 0.12)
    image[box], depth[box] = RED, 0.8
    return Frame(np.rint(image).astype(np.uint8), depth.astype(np.float32), K, translation(x))


def _green_in_holes(neighbours: list[Frame]) -> tuple[int, int, int]:
    """(hole pixels of the right eye of the view at 0 where that eye sees the wire, how many
    of them the fill makes green, green hole pixels elsewhere)."""
    network = load_onnx_network(str(SHIPPED_MODELS["fast"]))
    result = SequenceInfill(network).step(_wire_behind_box_view(0.0), neighbours, RIGHT_EYE)
    hole = result.hole_mask.astype(bool)
    on_wire = hole & (_wire_behind_box_view(B).depth == 2.0)
    green = (result.image[..., 1] > 200) & (result.image[..., 0] < 60)
    return on_wire.sum(), (green & on_wire).sum(), (green & hole & ~on_wire).sum()


def test_a_wire_the_neighbours_agree_on_comes_from_their_point_samples(monkeypatch):
    """A wire one pixel wide has no faces of its own (each touching it is stretched or spans
    two surfaces): the neighbours show it as point samples only. Where the eye sees it in a
    hole and the neighbours that show anything there agree, the fill draws it."""
    frames = [_wire_behind_box_view(k * B) for k in (1.5, 2.0, 2.5)]
    on_wire, green, stray = _green_in_holes(frames)
    assert on_wire >= 20 and green == on_wire and stray == 0, (on_wire, green, stray)
    monkeypatch.setattr(sequence_module, "THIN_MIN_FRAMES", 99)  # no point samples
    assert _green_in_holes(frames)[1] == 0


def test_a_wire_one_view_alone_shows_or_each_view_shows_elsewhere_is_left_out():
    """One neighbour's point samples are no agreement, nor are a moving wire's (each view
    sees it at another place)."""
    on_wire, green, stray = _green_in_holes([_wire_behind_box_view(2.5 * B)])
    assert on_wire >= 20 and green == 0 and stray == 0, (on_wire, green, stray)
    moving = [_wire_behind_box_view(k * B, wire_x=0.13 + 0.02 * i) for i, k in enumerate((1.5, 2.0, 2.5))]
    on_wire, green, stray = _green_in_holes(moving)
    assert green <= 2 and stray == 0, (green, stray)


def test_a_wire_half_the_views_show_is_left_out():
    """Two neighbours show the wire, two others (taken while it was elsewhere) the wall
    there: no agreement (`THIN_AGREEMENT`), so the fill keeps the wall."""
    frames = [_wire_behind_box_view(1.5 * B), _wire_behind_box_view(2.5 * B),
              _wire_behind_box_view(2.0 * B, wire_x=1.0), _wire_behind_box_view(1.75 * B, wire_x=1.0)]
    on_wire, green, stray = _green_in_holes(frames)
    assert on_wire >= 20 and green == 0 and stray == 0, (on_wire, green, stray)


def test_a_depth_edge_is_both_its_sides_and_a_wire_is_its_own_edge():
    depth = np.full((3, 8), 4.0, np.float32)
    depth[:, :3] = 1.0                     # a wall's edge between columns 2 and 3
    depth[:, 6] = 2.0                      # a wire one pixel wide
    edge = np.zeros(depth.size, bool)
    edge[depth_edge_pixels(depth)] = True
    np.testing.assert_array_equal(edge.reshape(depth.shape)[1], [0, 0, 1, 1, 0, 1, 1, 1])
    depth[:, :3] = 3.9                     # a step within the margin is no edge
    depth[:, 6] = 4.0
    assert depth_edge_pixels(depth).size == 0


def test_the_far_side_of_a_depth_edge_is_beside_a_nearer_surface():
    depth = np.full((5, 9), 4.0, np.float32)
    depth[:, 3] = 1.0
    gap = nearer_surface_gap(depth, radius=2)
    np.testing.assert_allclose(gap[2], [0, 0.75, 0.75, 0, 0.75, 0.75, 0, 0, 0])
    np.testing.assert_array_equal(nearer_surface_gap(depth, radius=1)[0] > 0, [0, 0, 1, 0, 1, 0, 0, 0, 0])
    depth[:, 3] = 3.95  # a step within the margin is no edge
    assert not nearer_surface_gap(depth).any()


def test_a_holes_occluding_edge_is_its_nearer_side_where_its_sides_differ():
    depth = np.zeros((3, 7), np.float32)
    depth[:, :2], depth[:, 5:] = 1.0, 4.0      # a hole between 1 m and 4 m: a depth edge
    np.testing.assert_array_equal(occluding_edge_depth(depth, depth == 0)[1], [0, 0, 0, 1, 0, 0, 0])
    # its rim (beside a known pixel, maybe the near surface's silhouette), a hole without a
    # depth edge, the image border: none
    depth[:, 5:] = 1.01
    assert not occluding_edge_depth(depth, depth == 0).any()
    depth[:, 4:] = 0
    assert not occluding_edge_depth(depth, depth == 0).any()


def test_every_frame_of_a_range_gets_a_full_window_nearest_in_time_first():
    assert window_frames(10, 24, 2) == [9, 11, 8, 12]
    assert window_frames(0, 24, 4) == [1, 2, 3, 4, 5, 6, 7, 8]        # the range's start: further along
    assert window_frames(22, 24, 2) == [21, 23, 20, 19]                # its end: further back
    assert window_frames(1, 3, 4) == [0, 2]                             # a short range: all of it
    assert window_frames(5, 24, 0) == []
    assert window_frames(5, 24, 2, ahead=False) == [4, 3]              # while rendering: the frames before
    assert window_frames(0, 24, 2, ahead=False) == []


def test_a_window_is_the_frames_taken_nearest_the_eye():
    """A camera sliding 1.5 cm a frame, the eye 6.3 cm to its right: of the frames near in
    time, those nearest the eye are the ones further along the move; equally near ones in the
    order given."""
    poses = [translation(STEP * t) for t in range(7)]
    assert nearest_cameras(poses, np.array([B, 0.0, 0.0]), 3) == [4, 5, 3]
    assert nearest_cameras(poses, np.array([STEP * 2.5, 0.0, 0.0]), 2) == [2, 3]
    assert nearest_cameras(poses, np.array([B, 0.0, 0.0]), 0) == []


def test_the_driver_fills_from_the_frames_nearest_the_eye():
    """Frame 0 of a shot whose camera slides right fills its right eye from the frames taken
    nearest that eye, a left eye from those nearest it: each eye gets its own window."""
    frames = _frames([translation(STEP * t) for t in range(-8, 9)])
    used: dict[str, list[int]] = {}

    class Recording(SequenceInfill):
        def step(self, frame, neighbours, eye):
            used[f"{eye.baseline:+.3f}"] = sorted(round(f.pose[0, 3] / STEP) for f in neighbours)
            return super().step(frame, neighbours, eye)

    frames[8].eyes = {"right": RIGHT_EYE, "left": Eye.shifted(K, -B)}
    driver = sequence_module.SequenceDriver(frames.__getitem__, len(frames), load_onnx_network(str(SHIPPED_MODELS["fast"])),
                                            window=2)
    driver.infills = {name: Recording(driver.network) for name in ("right", "left")}
    assert driver.fill(8, lambda *_: None) is None
    # window 2: of the frames within 3 of it, the 4 nearest each eye (in time: -2, -1, 1, 2)
    assert used == {"+0.063": [-1, 1, 2, 3], "-0.063": [-3, -2, -1, 1]}, used


def test_far_side_depth_fills_each_hole_from_the_farther_side():
    depth = np.array([[1.0, 1.0, 0.0, 0.0, 4.0, 4.0]], np.float32)
    hole = depth == 0
    np.testing.assert_array_equal(far_side_depth(depth, hole), [[1, 1, 4, 4, 4, 4]])


def test_the_command_writes_every_frame_and_names_a_broken_one(sequence, tmp_path):
    (sequence / "0005_depth.npy").write_bytes(b"not an array")
    out = tmp_path / "right"
    run = subprocess.run([sys.executable, "-m", "training", "infill", "--sequence", str(sequence),
                          "--out", str(out), "--model", "fast", "--window", "2", "--no-progress"],
                         cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "0005_depth.npy" in run.stderr
    assert sorted(p.name for p in out.iterdir()) == [f"{n:04d}.png" for n in (1, 2, 3, 4, 6, 7)]
    assert cv2.imread(str(out / "0006.png")).shape == (64, 96, 3)


def test_the_command_takes_frames_rendered_with_overscan(tmp_path):
    """The same shot rendered as is and 8 px wider on the right: with --overscan the frames
    come out at the frame's size, and beyond its edge the other eye shows what the extra
    columns saw, where a fill would guess."""
    baseline = 0.3  # a strip of f B / 4 m = 6.2 px beyond the frame's edge
    K_over = Intrinsics(K.fx, K.fy, K.cx, K.cy, K.width + 8, K.height)
    image, depth, K_scene = _scene(smooth_texture)
    for name, camera in (("plain", K), ("overscan", K_over)):
        (tmp_path / name).mkdir()
        for t in range(3):
            pose = translation(STEP * t)
            seen = reproject(image, depth, K_scene, camera, world_to_camera(pose))
            cv2.imwrite(str(tmp_path / name / f"{t + 1:04d}.png"), seen.image[..., ::-1])
            np.save(tmp_path / name / f"{t + 1:04d}_depth.npy", seen.depth)
            (tmp_path / name / f"{t + 1:04d}.json").write_text(json.dumps(
                {"fx": camera.fx, "fy": camera.fy, "cx": camera.cx, "cy": camera.cy,
                 "camera_to_world": pose.tolist()}))
    errors = {}
    for name, extra in (("plain", []), ("overscan", ["--overscan", "8"])):
        run = subprocess.run([sys.executable, "-m", "training", "infill", "--sequence", str(tmp_path / name),
                              "--out", str(tmp_path / f"{name}_right"), "--model", "fast", "--baseline",
                              str(baseline), "--window", "0", "--no-progress"] + extra,
                             cwd=REPO, capture_output=True, text=True)
        assert run.returncode == 0, run.stdout + run.stderr
        errors[name] = []
        for t in range(3):
            got = cv2.imread(str(tmp_path / f"{name}_right" / f"{t + 1:04d}.png"))[..., ::-1]
            assert got.shape == (64, 96, 3)
            truth = reproject(image, depth, K_scene, K, world_to_camera(translation(STEP * t + baseline))).image
            errors[name].append(np.abs(got[1:-1, -5:].astype(int) - truth[1:-1, -5:]).mean())
    assert max(errors["overscan"]) < 2.5 and min(errors["plain"]) > 6, errors  # measured: 0.5-1.5, 10.5


def run_sequence_command(*args):
    return subprocess.run([sys.executable, "-m", "stereo_geometry.cli", "--model", "fast", "--no-progress",
                           *map(str, args)], cwd=REPO, capture_output=True, text=True)


def test_the_command_refuses_to_write_into_the_sequence_folder(sequence):
    before = {p.name: p.read_bytes() for p in sequence.iterdir()}
    run = run_sequence_command("--sequence", sequence, "--out", sequence)
    assert run.returncode == 2 and "would be overwritten" in run.stderr
    run = run_sequence_command("--sequence", sequence, "--out", sequence.parent / "out", "--depth-out", sequence)
    assert run.returncode == 2 and "would be overwritten" in run.stderr
    assert {p.name: p.read_bytes() for p in sequence.iterdir()} == before


def test_the_command_writes_each_frames_depth_and_intermediates_and_refuses_single_view_flags(sequence, tmp_path):
    out, depths = tmp_path / "right", tmp_path / "depths"
    run = run_sequence_command("--sequence", sequence, "--out", out, "--depth-out", depths, "--save-intermediates",
                               "--window", "0")
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in depths.iterdir()) == [f"{n:04d}_depth.npy" for n in range(1, 8)]
    assert len(list(out.glob("*_warped.png"))) == len(list(out.glob("*_hole_mask.png"))) == 7
    frame = read_frame(frame_images(sequence)[3])
    rule = load_onnx_network(str(DEFAULT_MODEL)).hole_rule  # the command's model's
    warp = reproject(frame.image, frame.depth, K, K, world_to_camera(translation(B)), rule)
    depth = np.load(depths / "0003_depth.npy")
    hole = warp.hole_mask.astype(bool)
    np.testing.assert_allclose(depth[~hole], warp.depth[~hole], rtol=1e-6)
    for flag in (["--depth", "d.npy"], ["--focal", "100"], ["--fov", "50"]):
        refused = run_sequence_command("--sequence", sequence, "--out", tmp_path / "x", *flag)
        assert refused.returncode == 2 and flag[0] in refused.stderr and "drop" in refused.stderr


@pytest.mark.parametrize("change,expected", [
    ({"camera_to_world": (np.diag([1.0, 1.0, 1.1, 1.0])).tolist()}, "not a rigid transform"),
    ({"camera_to_world": [[float("nan")] * 4] * 4}, "finite"),
    ({"camera_to_world": np.zeros((4, 4)).tolist()}, "not a rigid transform"),
    ({"fx": float("nan")}, "fx and fy must be finite and positive"),
    ({"fx": 0}, "fx and fy must be finite and positive"),
    ({"fx": -80.0}, "fx and fy must be finite and positive"),
    ({"cx": 1e6}, "principal point"),
], ids=["scaled", "nan", "zero", "fx_nan", "fx_zero", "fx_negative", "far_principal_point"])
def test_a_frame_with_a_bad_pose_or_intrinsics_is_named_and_skipped(sequence, tmp_path, change, expected):
    meta = json.loads((sequence / "0004.json").read_text())
    (sequence / "0004.json").write_text(json.dumps(meta | change))
    out = tmp_path / "right"
    run = run_sequence_command("--sequence", sequence, "--out", out, "--window", "2")
    assert run.returncode == 1 and "0004.json" in run.stderr and expected in run.stderr, run.stderr
    assert sorted(p.name for p in out.iterdir()) == [f"{n:04d}.png" for n in (1, 2, 3, 5, 6, 7)]


def test_frame_names_that_clash_are_refused_and_upper_case_extensions_are_frames(sequence, tmp_path):
    (sequence / "0003.png").rename(sequence / "0003.PNG")
    assert sorted(frame_images(sequence)) == list(range(1, 8))
    (sequence / "3.png").write_bytes((sequence / "0003.PNG").read_bytes())
    run = run_sequence_command("--sequence", sequence, "--out", tmp_path / "right")
    assert run.returncode == 2 and "are both frame 3" in run.stderr


def test_an_overscan_wider_than_a_frame_names_that_frame_and_goes_on(sequence, tmp_path):
    small = np.zeros((64, 8, 3), np.uint8)
    cv2.imwrite(str(sequence / "0005.png"), small)
    np.save(sequence / "0005_depth.npy", np.full((64, 8), 2.0, np.float32))
    meta = json.loads((sequence / "0005.json").read_text())
    (sequence / "0005.json").write_text(json.dumps(meta | {"cx": 3.5}))
    run = run_sequence_command("--sequence", sequence, "--out", tmp_path / "right", "--overscan", "8", "--window", "0")
    assert run.returncode == 1 and "0005.png" in run.stderr and "--overscan 8" in run.stderr, run.stderr
    assert len(list((tmp_path / "right").iterdir())) == 6
