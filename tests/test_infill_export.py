"""Exporting to ONNX and turning one view into the other eye."""
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import REPO, box_depth, textured, write_numpy_dataset
from stereo_geometry import Intrinsics
from training.model import ModelConfig
from training.config import TrainConfig
from training.train import train


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    data = write_numpy_dataset(root / "data", count=4)
    train(TrainConfig(data=str(data), out=str(root / "run"), steps=3, batch_size=2, crop=32,
                      loader_workers=0, model=ModelConfig(width=8, levels=2)), progress=False)
    return root / "run" / "last.pt"


@pytest.fixture(scope="module", params=[0, 4, 8], ids=["pooled", "detail", "detail_all"])
def random_head_checkpoint(request, checkpoint, tmp_path_factory):
    """The trained checkpoint with a random head, so the residual is far from zero; also as
    a model that takes the full-resolution detail of RGB + mask, or of all eight channels
    (normals included; its fusing layer random)."""
    state = torch.load(checkpoint, weights_only=False)
    generator = torch.Generator().manual_seed(0)
    if request.param:
        config = TrainConfig.from_dict(state["config"])
        config.model.detail_channels = request.param
        from dataclasses import asdict

        from training.model import GatedUNet

        grown = GatedUNet(config.model).state_dict()
        state["model"] = {k: state["model"].get(k, v) for k, v in grown.items()}
        state["config"] = asdict(config)
    for name in ("head.weight", "head.bias"):
        state["model"][name] = 0.1 * torch.randn(state["model"][name].shape, generator=generator)
    path = tmp_path_factory.mktemp("random_head") / "last.pt"
    torch.save(state, path)
    return path


def test_onnx_export_matches_pytorch_at_any_frame_size(random_head_checkpoint, tmp_path):
    from training.export import check_input, export_onnx
    from training import load_network
    from stereo_geometry.onnx_runner import OnnxInfill

    worst = export_onnx(random_head_checkpoint, tmp_path / "m.onnx")
    assert worst < 1e-4
    runner = OnnxInfill(str(tmp_path / "m.onnx"))
    assert runner.config["model"]["width"] == 8
    assert runner.detail_channels == TrainConfig.from_dict(
        torch.load(random_head_checkpoint, weights_only=False)["config"]).model.detail_channels
    x = check_input(45, 70)
    expected = load_network(str(random_head_checkpoint))(x)
    np.testing.assert_allclose(runner(x), expected, atol=1e-4)
    hole = np.broadcast_to(x[:, 3:4] > 0.5, expected.shape)
    assert np.abs(expected - x[:, :3])[hole].mean() > 0.05  # the residual does change the holes
    np.testing.assert_array_equal(runner(x)[~hole], x[:, :3][~hole])  # bit-identical elsewhere


def test_test_time_flips_travel_with_the_model_into_onnx(random_head_checkpoint, tmp_path):
    from dataclasses import asdict

    from training import load_network
    from training.export import check_input, export_onnx
    from stereo_geometry.onnx_runner import OnnxInfill

    state = torch.load(random_head_checkpoint, weights_only=False)
    config = TrainConfig.from_dict(state["config"])
    config.model.test_time_flips = 4
    state["config"] = asdict(config)
    torch.save(state, tmp_path / "flips.pt")
    export_onnx(tmp_path / "flips.pt", tmp_path / "flips.onnx")
    runner = OnnxInfill(str(tmp_path / "flips.onnx"))
    x = check_input(45, 70)
    np.testing.assert_allclose(runner(x), load_network(str(tmp_path / "flips.pt"))(x), atol=1e-4)
    assert np.abs(runner(x) - runner.run_once(x)).max() > 1e-3  # the flips do change the fill


def test_the_onnx_runner_reads_a_mirror_in_place_as_the_mirrored_copy(random_head_checkpoint, tmp_path):
    """`run_once(x, vertical, horizontal)` (no mirrored copy; the normals' signs applied to the
    pooled and folded channels) equals the pass over `mirror_input`'s copy, for each mirror."""
    from training.export import check_input, export_onnx
    from stereo_geometry.onnx_runner import OnnxInfill
    from stereo_geometry.sample import mirror_input

    export_onnx(random_head_checkpoint, tmp_path / "m.onnx")
    runner = OnnxInfill(str(tmp_path / "m.onnx"))
    x = check_input(45, 70)
    before = x.copy()
    for vertical, horizontal in ((True, False), (False, True), (True, True)):
        in_place = runner.run_once(x, vertical, horizontal)
        np.testing.assert_allclose(in_place, runner.run_once(mirror_input(x, vertical, horizontal)),
                                   rtol=0, atol=1e-6)
        assert np.abs(in_place - runner.run_once(x)).max() > 1e-3  # a mirror changes the fill
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("channels", [3, 1])
def test_the_runtimes_full_resolution_ends_equal_pytorchs(channels):
    """`prepare` and `assemble` (numpy, at the hole's pixels only) against `pool_inputs` and
    `composite(expand(...))` (PyTorch, dense), holes on every border included."""
    from training.model import composite, expand, pool_inputs
    from stereo_geometry.onnx_runner import BAND_ROWS, assemble, prepare

    rng = np.random.default_rng(channels)
    h, w = 2 * BAND_ROWS + 8, 52  # a partial last band
    x = rng.random((2, 8, h, w), dtype=np.float32)
    x[:, 3] = rng.random((2, h, w)) < 0.3
    x[:, 3, [0, -1], :] = 1
    x[:, 3, :, [0, -1]] = 1
    pooled, holes, out = prepare(x, channels)
    np.testing.assert_allclose(pooled, pool_inputs(torch.from_numpy(x)).numpy(), rtol=1e-6, atol=1e-6)
    for i in range(2):
        np.testing.assert_array_equal(holes[i], np.flatnonzero(x[i, 3] > 0.5))
    residual = rng.random((2, channels * 16, h // 4, w // 4), dtype=np.float32)
    guess = rng.random((2, 4, h // 2, w // 2), dtype=np.float32)
    expected = composite(expand(torch.from_numpy(residual), torch.from_numpy(guess)), torch.from_numpy(x))
    np.testing.assert_allclose(assemble(out, holes, residual, guess), expected.numpy(), rtol=1e-6, atol=1e-6)


def test_other_eye_fills_the_holes_beside_the_foreground_and_keeps_the_rest(checkpoint):
    from stereo_geometry.camera import Eye
    from stereo_geometry.sequence import other_eye
    from training import load_network

    K = Intrinsics(100.0, 100.0, 63.5, 47.5, 128, 96)
    image = textured(96, 128)
    depth = box_depth(96, 128, 3.0, 1.0, (30, 70, 50, 80))
    result = other_eye(image, depth, K, Eye.shifted(K, 0.063), load_network(str(checkpoint)))
    hole = result.hole_mask.astype(bool)
    np.testing.assert_array_equal(result.image[~hole], result.warped[~hole])
    # The right eye sees past the box's right side: the hole is there, step = f B (1/1 - 1/3).
    step = 100 * 0.063 * (1 - 1 / 3)
    box_right = 80 - 100 * 0.063 / 1.0  # the box's right edge in the right view
    row = hole[50]
    run = row[int(box_right) - 2: int(box_right) + 10]
    assert step <= run.sum() <= step + 2
    assert not row[55:int(box_right) - 2].any()


def test_a_model_trained_on_the_visible_rule_gets_the_visible_rules_holes(tmp_path):
    """The data's hole rule travels into the checkpoint and the ONNX model, and the runtime
    makes that rule's holes for it (here a one-pixel wire the shipped rule would lose)."""
    from stereo_geometry import HOLE_RULES, reproject, stereo_pose, world_to_camera
    from stereo_geometry.camera import Eye
    from stereo_geometry.infill import load_onnx_network
    from stereo_geometry.sequence import other_eye
    from training.export import export_onnx

    data = write_numpy_dataset(tmp_path / "data", count=4, rule=HOLE_RULES["visible"])
    train(TrainConfig(data=str(data), out=str(tmp_path / "run"), steps=1, batch_size=2, crop=32,
                      loader_workers=0, model=ModelConfig(width=8, levels=2)), progress=False)
    export_onnx(tmp_path / "run" / "last.pt", tmp_path / "visible.onnx")
    network = load_onnx_network(str(tmp_path / "visible.onnx"))
    assert network.hole_rule is HOLE_RULES["visible"]
    K = Intrinsics(100.0, 100.0, 63.5, 47.5, 128, 96)
    image, depth = textured(96, 128), np.full((96, 128), 5.0)
    depth[:, 60] = 100 * 0.063 / 6.0  # a wire with 6 px of disparity
    result = other_eye(image, depth, K, Eye.shifted(K, 0.063), network)
    to_eye = world_to_camera(stereo_pose(0.063))
    visible = reproject(image, depth, K, K, to_eye, HOLE_RULES["visible"]).hole_mask
    np.testing.assert_array_equal(result.hole_mask, visible)
    assert visible.sum() < reproject(image, depth, K, K, to_eye, HOLE_RULES["stretched"]).hole_mask.sum()


def test_training_refuses_data_that_mixes_hole_rules(tmp_path):
    from stereo_geometry import HOLE_RULES

    visible = write_numpy_dataset(tmp_path / "visible", count=2, rule=HOLE_RULES["visible"])
    shipped = write_numpy_dataset(tmp_path / "shipped", count=2)
    with pytest.raises(SystemExit, match="mixes hole rules"):
        train(TrainConfig(data=[str(visible), str(shipped)], out=str(tmp_path / "run"), steps=1, batch_size=2,
                          crop=32, loader_workers=0, model=ModelConfig(width=8, levels=2)), progress=False)


def no_network(x: np.ndarray) -> np.ndarray:
    """A network that must not be needed: black everywhere."""
    return np.zeros((1, 3) + x.shape[2:], np.float32)


@pytest.mark.parametrize("baseline", [0.063, -0.063], ids=["right_eye", "left_eye"])
def test_overscan_columns_are_what_the_other_eye_sees_beyond_the_frame(baseline):
    from stereo_geometry.camera import Eye
    from stereo_geometry.infill import edge_strips
    from stereo_geometry.sequence import other_eye

    def edge_strip(hole_mask, baseline):  # the strip at the edge the eye at `baseline` looks past
        return edge_strips(hole_mask)[1 if baseline > 0 else 0]

    # A wall 2 m away, f = 100 px: the other eye sees d = f B / Z = 3.15 px beyond the frame.
    f, z, margin, (h, w) = 100.0, 2.0, 8, (96, 128)
    d = f * abs(baseline) / z
    wide = textured(h, w + margin)
    left_margin = margin if baseline < 0 else 0
    frame_columns = slice(left_margin, left_margin + w)
    K_wide = Intrinsics(f, f, 63.5 + left_margin, 47.5, w + margin, h)
    eye = Eye.shifted(Intrinsics(f, f, 63.5, 47.5, w, h), baseline)
    frame = other_eye(wide[:, frame_columns], np.full((h, w), z), eye.K, eye, no_network)
    overscan = other_eye(wide, np.full((h, w + margin), z), K_wide, eye, no_network)
    # Without overscan the strip beyond the frame's edge is a hole d px wide ...
    strip = frame.hole_mask[:, -4:] if baseline > 0 else frame.hole_mask[:, :4]
    assert strip[:, 1:3].all() and frame.hole_mask.sum(axis=1).max() <= math.ceil(d)
    assert math.floor(d) <= edge_strip(frame.hole_mask, baseline).min() <= edge_strip(frame.hole_mask, baseline).max() <= math.ceil(d)
    assert not edge_strip(frame.hole_mask, -baseline).any()  # nothing at the other edge
    # ... with it there is no hole: the frame's edge columns are the extra columns, seen d px
    # further on (interpolated between the two source columns the point falls between; the
    # first and last rows blend in up to 1 % of the source's padded border).
    assert overscan.image.shape == (h, w, 3) and not overscan.hole_mask.any()
    assert not edge_strip(overscan.hole_mask, baseline).any()
    edge = w - 1 if baseline > 0 else 0
    u = edge + left_margin + (d if baseline > 0 else -d)
    t = u - math.floor(u)
    expected = (1 - t) * wide[1:-1, math.floor(u)].astype(float) + t * wide[1:-1, math.floor(u) + 1]
    assert np.abs(overscan.image[1:-1, edge] - expected).max() <= 1
    inside = slice(8, w - 8)  # away from both edges the two agree (to rounding: cx differs on the left)
    assert np.abs(overscan.image[:, inside].astype(int) - frame.image[:, inside]).max() <= 1


def test_the_strip_past_the_frames_edge_is_the_mean_of_the_network_the_rows_and_their_diffusion():
    from stereo_geometry.infill import fill_past_the_edges, strip_guesses

    # Bands of 40 rows, one colour each; holes: 5 px at the left edge, 3 px at the right, a
    # disocclusion inside the frame and a first row with no known pixel; the network filled
    # them all with grey 60.
    h, w = 120, 48
    colours = np.array([[200, 100, 50], [20, 180, 240], [90, 90, 90]], np.uint8)
    image = np.repeat(colours, 40, axis=0)[:, None, :].repeat(w, axis=1)
    hole = np.zeros((h, w), np.uint8)
    hole[:, :5] = hole[:, -3:] = hole[0] = 1
    hole[60:66, 20:26] = 1
    filled = np.where(hole[..., None].astype(bool), np.uint8(60), image)
    out = fill_past_the_edges(filled, hole)
    # Known pixels, the inner hole and the row with nothing known keep what they had.
    inner = np.zeros_like(hole, bool)
    inner[:, 5:-3] = True
    inner[0] = False
    assert (out[inner] == filled[inner]).all() and (out[0] == 60).all()
    # Where a band's colour reaches farther than the diffusion (3 px a column, 15 rows at
    # 5 px in), the row continues it and the diffusion gives it: the mean is (60 + 2 c) / 3.
    for band, colour in enumerate(colours.astype(float)):
        rows = slice(40 * band + 16, 40 * band + 24)
        for columns in (slice(0, 5), slice(w - 3, w)):
            assert np.abs(out[rows, columns] - np.round((60 + 2 * colour) / 3)).max() <= 1
    # Across a band's edge the diffusion mixes both colours; the continuation keeps its row's.
    first_of_band_1 = out[40, 4, 0].astype(float)
    assert (60 + 2 * 20) / 3 + 2 < first_of_band_1 < (60 + 20 + 200) / 3 - 2
    # The two guesses beside the network's, as `strip_guesses` gives them, are what was averaged.
    guesses = strip_guesses(filled, hole)
    assert (guesses["continuation"][40:80, :5] == colours[1]).all()
    assert np.abs(out - np.round((filled + guesses["continuation"] + guesses["diffusion"]) / 3)).max() <= 1


def test_the_made_eye_fills_the_strip_past_the_frame_with_that_mean():
    from stereo_geometry.camera import Eye
    from stereo_geometry.infill import edge_strips
    from stereo_geometry.sequence import other_eye

    # A wall 0.5 m away, f = 100 px: the right eye sees d = f B / Z = 12.6 px past the frame.
    f, z, (h, w) = 100.0, 0.5, (48, 64)
    colour = np.array([180, 120, 60], np.uint8)
    eye = Eye.shifted(Intrinsics(f, f, 31.5, 23.5, w, h), 0.063)
    made = other_eye(np.broadcast_to(colour, (h, w, 3)).copy(), np.full((h, w), z), eye.K, eye, no_network)
    strip = edge_strips(made.hole_mask)[1]
    assert 12 <= strip.min() <= strip.max() <= 13
    # The (black) network's fill, the wall's colour continued and diffused: (0 + 2 c) / 3.
    assert np.abs(made.image[:, -12:].astype(int) - np.round(2 * colour.astype(float) / 3)).max() <= 1


def test_infill_command_takes_a_source_with_overscan(checkpoint, tmp_path):
    Image.fromarray(textured(96, 136)).save(tmp_path / "left.png")
    np.save(tmp_path / "depth.npy", np.full((96, 136), 2.0))
    args = [sys.executable, "-m", "training", "infill", "--checkpoint", str(checkpoint),
            "--image", str(tmp_path / "left.png"), "--depth", str(tmp_path / "depth.npy"),
            "--out", str(tmp_path / "right.png"), "--save-intermediates", "--focal", "100"]
    result = subprocess.run(args + ["--overscan", "8"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert np.asarray(Image.open(tmp_path / "right.png")).shape == (96, 128, 3)
    assert not np.asarray(Image.open(tmp_path / "right_hole_mask.png")).any()
    # the frame's right edge shows what the extra columns hold, d = f B / Z = 3.15 px on
    warped = np.asarray(Image.open(tmp_path / "right_warped.png")).astype(float)
    source = textured(96, 136).astype(float)
    u = 127 + 100 * 0.063 / 2.0
    t = u - int(u)
    assert np.abs(warped[1:-1, 127] - ((1 - t) * source[1:-1, int(u)] + t * source[1:-1, int(u) + 1])).max() <= 1
    bad = subprocess.run(args + ["--overscan", "136"], cwd=REPO, capture_output=True, text=True)
    assert bad.returncode == 2 and "--overscan 136" in bad.stderr


def test_infill_command_writes_the_other_eye_and_its_intermediates(checkpoint, tmp_path):
    Image.fromarray(textured(96, 128)).save(tmp_path / "left.png")
    np.save(tmp_path / "depth.npy", box_depth(96, 128, 3.0, 1.0, (30, 70, 50, 80)))
    result = subprocess.run([sys.executable, "-m", "training", "infill", "--checkpoint", str(checkpoint),
                             "--image", str(tmp_path / "left.png"), "--depth", str(tmp_path / "depth.npy"),
                             "--out", str(tmp_path / "right.png"), "--save-intermediates", "--focal", "100"],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    # exactly the pipeline's: the warp, its holes, and the network's fill inside them only
    from stereo_geometry.camera import Eye
    from stereo_geometry.sequence import other_eye
    from training import load_network

    K = Intrinsics(100.0, 100.0, 63.5, 47.5, 128, 96)
    want = other_eye(textured(96, 128), box_depth(96, 128, 3.0, 1.0, (30, 70, 50, 80)).astype(np.float32), K,
                     Eye.shifted(K, 0.063), load_network(str(checkpoint)))
    image, warped, mask = (np.asarray(Image.open(tmp_path / f"right{n}.png")) for n in ("", "_warped", "_hole_mask"))
    np.testing.assert_array_equal(mask, want.hole_mask * 255)
    np.testing.assert_array_equal(warped, want.warped)
    assert np.abs(image.astype(int) - want.image).max() <= 1
    np.testing.assert_array_equal(image[mask == 0], warped[mask == 0])
    assert 0.02 < (mask > 0).mean() < 0.2
    np.save(tmp_path / "small.npy", np.ones((10, 10)))
    bad = subprocess.run([sys.executable, "-m", "training", "infill", "--checkpoint", str(checkpoint),
                          "--image", str(tmp_path / "left.png"), "--depth", str(tmp_path / "small.npy"),
                          "--out", str(tmp_path / "x.png")], cwd=REPO, capture_output=True, text=True)
    assert bad.returncode == 2 and "small.npy" in bad.stderr


def test_infill_without_a_checkpoint_uses_the_shipped_model_or_says_it_is_missing(tmp_path):
    from stereo_geometry.infill import DEFAULT_MODEL

    Image.fromarray(textured(96, 128)).save(tmp_path / "left.png")
    np.save(tmp_path / "depth.npy", box_depth(96, 128, 3.0, 1.0, (30, 70, 50, 80)))
    args = [sys.executable, "-m", "training", "infill", "--image", str(tmp_path / "left.png"),
            "--depth", str(tmp_path / "depth.npy"), "--out", str(tmp_path / "right.png"), "--focal", "100"]
    missing = subprocess.run(args + ["--checkpoint", str(tmp_path / "none.onnx")], cwd=REPO,
                             capture_output=True, text=True)
    assert missing.returncode == 2 and "none.onnx" in missing.stderr
    if not DEFAULT_MODEL.is_file():
        pytest.skip("no shipped model (models/fast.onnx or quality.onnx)")
    result = subprocess.run(args, cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    right = np.asarray(Image.open(tmp_path / "right.png"))
    assert right.shape == (96, 128, 3)


def test_export_command_writes_the_onnx_model_and_the_shipping_weights(checkpoint, tmp_path):
    import torch

    from training.checkpoint import load_model

    result = subprocess.run([sys.executable, "-m", "training", "export", "--checkpoint", str(checkpoint),
                             "--onnx", str(tmp_path / "m.onnx"), "--weights", str(tmp_path / "m.pt")],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "max abs difference from PyTorch" in result.stdout and (tmp_path / "m.onnx").is_file()
    assert set(torch.load(tmp_path / "m.pt", weights_only=False)) == {"model", "config", "step"}
    model, _ = load_model(tmp_path / "m.pt")
    original, _ = load_model(checkpoint)
    for (name, a), (_, b) in zip(model.state_dict().items(), original.state_dict().items()):
        assert torch.equal(a, b), name


def test_the_onnx_path_runs_without_torch(tmp_path):
    """`infill` with an .onnx model (the default) imports no torch: it runs where PyTorch is
    not installed (blocked here by a None entry in sys.modules)."""
    from stereo_geometry.infill import DEFAULT_MODEL

    if not DEFAULT_MODEL.is_file():
        pytest.skip("no shipped model")
    Image.fromarray(textured(48, 64)).save(tmp_path / "left.png")
    np.save(tmp_path / "depth.npy", box_depth(48, 64, 3.0, 1.0, (15, 35, 25, 40)))
    code = ("import sys; sys.modules['torch'] = None\n"
            "from training.__main__ import main\n"
            f"code = main(['infill', '--image', r'{tmp_path / 'left.png'}', '--depth', r'{tmp_path / 'depth.npy'}',"
            f" '--out', r'{tmp_path / 'right.png'}', '--focal', '60'])\n"
            "assert not any(m == 'torch' or m.startswith('torch.') for m in sys.modules if sys.modules[m])\n"
            "sys.exit(code)")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "right.png").is_file()


@pytest.fixture(scope="module")
def depth_model(tmp_path_factory):
    """A small depth-infill model (--target depth), trained a few steps and exported."""
    from training.export import export_onnx

    root = tmp_path_factory.mktemp("depth")
    data = write_numpy_dataset(root / "data", count=4)
    train(TrainConfig(data=str(data), out=str(root / "run"), steps=3, batch_size=2, crop=32, target="depth",
                      loader_workers=0, model=ModelConfig(width=8, levels=2, out_channels=1)), progress=False)
    export_onnx(root / "run" / "last.pt", root / "depth.onnx")
    return root / "depth.onnx"


def test_infill_writes_the_other_eyes_depth_with_its_holes_filled(checkpoint, depth_model, tmp_path):
    from stereo_geometry import reproject, stereo_pose, world_to_camera

    image, depth = textured(96, 128), box_depth(96, 128, 3.0, 1.0, (30, 70, 50, 80))
    Image.fromarray(image).save(tmp_path / "left.png")
    np.save(tmp_path / "depth.npy", depth)
    result = subprocess.run([sys.executable, "-m", "training", "infill", "--checkpoint", str(checkpoint),
                             "--image", str(tmp_path / "left.png"), "--depth", str(tmp_path / "depth.npy"),
                             "--out", str(tmp_path / "right.png"), "--focal", "100",
                             "--depth-out", str(tmp_path / "right_depth.npy"),
                             "--depth-checkpoint", str(depth_model)], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    other = np.load(tmp_path / "right_depth.npy")
    K = Intrinsics(100.0, 100.0, 63.5, 47.5, 128, 96)
    warp = reproject(image, depth, K, K, world_to_camera(stereo_pose(0.063)))
    hole = warp.hole_mask.astype(bool)
    assert other.dtype == np.float32 and other.shape == (96, 128) and hole.sum() > 50
    np.testing.assert_array_equal(other[~hole], warp.depth[~hole])
    assert np.isfinite(other[hole]).all() and (other[hole] > 0).all()
    by_default = subprocess.run([sys.executable, "-m", "training", "infill", "--checkpoint", str(checkpoint),
                                 "--image", str(tmp_path / "left.png"), "--depth", str(tmp_path / "depth.npy"),
                                 "--out", str(tmp_path / "right1.png"), "--focal", "100",
                                 "--depth-out", str(tmp_path / "right1_depth.npy")], cwd=REPO, capture_output=True,
                                text=True)
    assert by_default.returncode == 0, by_default.stderr
    default_depth = np.load(tmp_path / "right1_depth.npy")  # no model: what a hole reveals lies behind its edge
    np.testing.assert_array_equal(default_depth[~hole], warp.depth[~hole])
    np.testing.assert_array_equal(default_depth[hole], np.float32(3.0))
    wrong = subprocess.run([sys.executable, "-m", "training", "infill", "--checkpoint", str(checkpoint),
                            "--image", str(tmp_path / "left.png"), "--depth", str(tmp_path / "depth.npy"),
                            "--out", str(tmp_path / "right2.png"), "--depth-out", str(tmp_path / "d2.npy"),
                            "--depth-checkpoint", str(tmp_path.parent / "missing.onnx")],
                           cwd=REPO, capture_output=True, text=True)
    assert wrong.returncode == 2 and "no depth-infill model" in wrong.stderr


def test_the_shipped_depth_model_fills_depth_and_is_refused_as_an_image_model():
    from stereo_geometry.infill import SHIPPED_DEPTH_MODEL, SHIPPED_MODELS, load_onnx_network

    depth_network = load_onnx_network(str(SHIPPED_DEPTH_MODEL), channels=1)
    assert depth_network.channels == 1
    with pytest.raises(ValueError, match="depth-infill model"):
        load_onnx_network(str(SHIPPED_DEPTH_MODEL))
    with pytest.raises(ValueError, match="an RGB model"):
        load_onnx_network(str(SHIPPED_MODELS["fast"]), channels=1)
