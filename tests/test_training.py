"""The Gated-UNet and its training loop."""
import numpy as np
import pytest
import torch

from conftest import write_numpy_dataset
from training.dataset import SampleDataset, augment, split_by_source
from training.model import (GatedUNet, ModelConfig, composite, conv_flops, count_parameters, first_guess,
                            pool_inputs, pull_push)
from training.checkpoint import load_model
from training.config import TrainConfig
from training.train import learning_rate, train


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return write_numpy_dataset(tmp_path_factory.mktemp("data"), count=8)


def test_input_channels_are_rgb_mask_normals_depth_in_that_order(dataset):
    x, target = SampleDataset(dataset)[0]
    with np.load(dataset / "samples" / "s000.npz") as s:
        hole = s["hole_mask"].astype(bool)
        np.testing.assert_allclose(x[:3].numpy(), s["image_generated_left"].transpose(2, 0, 1) / 255.0)
        np.testing.assert_array_equal(x[3].numpy(), hole)
        np.testing.assert_allclose(x[4:7].numpy(), s["normals_left_masked"].astype(np.float32).transpose(2, 0, 1))
        assert (x[7][torch.from_numpy(hole)] == 0).all()
        np.testing.assert_allclose(target[:3].numpy(), s["org_left_image"].transpose(2, 0, 1) / 255.0)
        assert (target[3] == 1).all()  # no loss_mask in the file: the target counts everywhere
    # Depth is scale-free: inverse depth over its median outside the holes.
    assert abs(float(x[7][x[7] > 0].median()) - 1.0) < 0.05


def test_pull_push_keeps_known_pixels_and_fills_a_constant_image_exactly():
    values = torch.full((1, 3, 37, 53), 0.25)
    values[..., 5:30, 10:40] = 7.0  # garbage inside the hole
    weight = torch.ones(1, 1, 37, 53)
    weight[..., 5:30, 10:40] = 0
    filled = pull_push(torch.cat([values * weight, weight], 1))
    known = (weight > 0).expand_as(filled)
    torch.testing.assert_close(filled[known], values[known])
    torch.testing.assert_close(filled, torch.full_like(filled, 0.25))


def test_pooled_inputs_are_2x2_averages_weighted_by_relative_depth():
    x = torch.rand(1, 8, 4, 6) + 0.5
    x[:, 3] = (torch.rand(1, 4, 6) < 0.3).float()
    pooled = pool_inputs(x)
    assert pooled.shape == (1, 9, 2, 3)
    weight = (1 - x[0, 3, :2, :2]) / x[0, 7, :2, :2]
    torch.testing.assert_close(pooled[0, 0, 0, 0], (x[0, 0, :2, :2] * weight).mean())
    torch.testing.assert_close(pooled[0, 4, 0, 0], weight.mean())
    torch.testing.assert_close(pooled[0, 5:, 0, 0], x[0, 3:7, :2, :2].mean((1, 2)))


def test_first_guess_fills_a_disocclusion_from_the_background_side():
    # A row: far wall (inverse depth 1, colour 0.2) | hole | near box (inverse depth 2, colour 0.9).
    x = torch.zeros(1, 8, 32, 64)
    x[:, :3, :, :28], x[:, 7, :, :28] = 0.2, 1.0
    x[:, :3, :, 36:], x[:, 7, :, 36:] = 0.9, 2.0
    x[:, 3, :, 28:36] = 1
    background_weighted = first_guess(x)[0, 0, :, 28:36]
    uniform = x.clone()
    uniform[:, 7] = (1 - uniform[:, 3]) * 1.0  # same inverse depth everywhere: equal weights
    plain = first_guess(uniform)[0, 0, :, 28:36]
    # The plain fill ramps evenly from 0.2 to 0.9; the background-weighted one leans to 0.2.
    assert abs(float(plain.mean()) - 0.55) < 0.02
    assert float(background_weighted.mean()) < float(plain.mean()) - 0.05
    assert torch.equal(first_guess(x)[0, :3, :, :28], x[0, :3, :, :28])  # known pixels kept


def test_an_untrained_network_returns_its_first_guess(dataset):
    x, _ = SampleDataset(dataset)[0]
    x = x[None, :, :64, :96]
    model = GatedUNet(ModelConfig(width=8, levels=2, dilations=(2,))).eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x), first_guess(x)[:, :3])


def test_depth_target_shares_the_input_depth_scale(dataset):
    x, target = SampleDataset(dataset, target="depth")[0]
    valid = x[3] == 0
    ratio = (target[0][valid] / x[7][valid]).numpy()
    # Same scale: equal wherever the warp reproduced the depth (all but a few edge pixels).
    assert np.mean(np.abs(ratio - 1) < 1e-4) > 0.98


@pytest.mark.parametrize("config", [ModelConfig(), ModelConfig(width=8, levels=2, dilations=(2,)),
                                    ModelConfig(out_channels=1)])
def test_any_frame_size_in_any_size_out_and_valid_pixels_untouched(config):
    model = GatedUNet(config).eval()
    x = torch.rand(2, 8, 37, 50)
    x[:, 3] = (torch.rand(2, 37, 50) < 0.2).float()
    with torch.no_grad():
        y = model(x)
    assert y.shape == (2, config.out_channels, 37, 50)
    known = x[:, :3] if config.out_channels == 3 else x[:, 7:8]
    valid = (x[:, 3:4] == 0).expand_as(y)
    assert torch.equal(y[valid], known[valid])  # bit-identical


def test_composite_takes_the_prediction_only_inside_the_hole():
    x = torch.zeros(1, 8, 2, 2)
    x[0, :3] = 0.25
    x[0, 3, 0, 0] = 1
    out = composite(torch.ones(1, 3, 2, 2), x)
    assert out[0, :, 0, 0].tolist() == [1, 1, 1] and (out[0, :, 1, 1] == 0.25).all()


def test_size_is_reported():
    """The parameter counts the README states: the default configuration, `fast` and `quality`."""
    assert count_parameters(GatedUNet(ModelConfig())) == 665_968
    assert count_parameters(GatedUNet(ModelConfig(width=8, levels=4, detail_channels=4))) == 676_352
    assert count_parameters(GatedUNet(ModelConfig(width=16, levels=4, detail_channels=4))) == 2_675_152
    model = GatedUNet(ModelConfig())
    flops = conv_flops(model, 64, 64)
    assert conv_flops(model, 128, 128) == pytest.approx(4 * flops)


def test_augmentation_mirrors_normals_with_the_image():
    """Each of the four mirrors comes up over the seeds, and each is the exact mirror of input
    and target with the normals' x (horizontal) or y (vertical) negated."""
    x = np.random.default_rng(0).random((8, 6, 6)).astype(np.float32)
    t = x[:3].copy()
    seen = set()
    for seed in range(32):
        ax, at = augment(x, t, np.random.default_rng(seed), crop=None)
        matches = []
        for vertical in (False, True):
            for horizontal in (False, True):
                ref = x[:, ::-1] if vertical else x
                ref = (ref[:, :, ::-1] if horizontal else ref).copy()
                ref[4] *= -1 if horizontal else 1
                ref[5] *= -1 if vertical else 1
                if np.array_equal(ax, ref) and np.array_equal(at, ref[:3]):
                    matches.append((vertical, horizontal))
        assert len(matches) == 1, (seed, matches)
        seen.add(matches[0])
    assert seen == {(False, False), (False, True), (True, False), (True, True)}


def test_colour_augmentation_recolours_input_and_target_alike_and_leaves_geometry():
    rng = np.random.default_rng(0)
    x = rng.random((8, 6, 6)).astype(np.float32)
    target = np.concatenate([x[:3], np.ones((1, 6, 6), np.float32)])  # RGB target + loss mask
    changed = 0
    for seed in range(12):
        ax, at = augment(x, target, np.random.default_rng(seed), crop=None, colour=1.0)
        np.testing.assert_array_equal(at[:3], ax[:3])  # the same recolouring of both
        np.testing.assert_array_equal(at[3], 1)        # the loss mask is no colour
        np.testing.assert_array_equal(np.abs(ax[3:]).sum(), np.abs(x[3:]).sum())  # mask, normals, depth: only mirrored
        plain, _ = augment(x, target, np.random.default_rng(seed), crop=None)
        changed += not np.allclose(ax[:3], plain[:3])
    assert changed >= 10
    depth_target = np.concatenate([x[7:8], np.ones((1, 6, 6), np.float32)])
    ax, at = augment(x, depth_target, np.random.default_rng(0), crop=None, colour=1.0)
    plain, _ = augment(x, depth_target, np.random.default_rng(0), crop=None)
    np.testing.assert_array_equal(ax, plain)  # no recolouring for depth targets


def test_split_keeps_every_source_on_one_side():
    records = [{"source": f"img{i // 3}", "name": str(i)} for i in range(30)]
    train_r, val_r = split_by_source(records, 0.2)
    assert len(train_r) + len(val_r) == 30 and val_r
    assert not {r["source"] for r in train_r} & {r["source"] for r in val_r}


def test_learning_rate_warms_up_then_decays():
    c = TrainConfig(data="", out="", steps=100, warmup=10, lr=1.0)
    assert learning_rate(0, c) == pytest.approx(0.1) and learning_rate(9, c) == pytest.approx(1.0)
    assert learning_rate(99, c) == pytest.approx(0.1, abs=0.01)


def small_config(dataset, out, **kw):
    base = dict(data=str(dataset), out=str(out), steps=4, batch_size=2, crop=32, warmup=2,
                val_every=2, checkpoint_every=2, image_every=2, loader_workers=0,
                model=ModelConfig(width=8, levels=2, dilations=(2,)))
    return TrainConfig(**(base | kw))


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(dataset, tmp_path):
    straight = train(small_config(dataset, tmp_path / "a"), progress=False)
    train(small_config(dataset, tmp_path / "b", steps=2), progress=False)
    resumed = train(small_config(dataset, tmp_path / "b"), resume=True, progress=False)
    assert straight["step"] == resumed["step"] == 4
    a = torch.load(tmp_path / "a" / "last.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "b" / "last.pt", weights_only=False)["model"]
    for name in a:
        assert torch.equal(a[name], b[name]), name
    assert (tmp_path / "a" / "best.pt").exists() and list((tmp_path / "a" / "tb").iterdir())


def test_the_model_overfits_a_handful_of_samples(tmp_path):
    data = write_numpy_dataset(tmp_path / "data", count=2, seed=1)
    torch.manual_seed(0)
    config = small_config(data, tmp_path / "run", steps=800, batch_size=2, crop=128, lr=3e-3,
                          warmup=10, val_fraction=0.0, val_every=10_000, checkpoint_every=10_000,
                          image_every=10_000, model=ModelConfig(width=16, levels=2, dilations=(2,)))
    untrained = GatedUNet(config.model).eval()
    train(config, progress=False)
    model, _ = load_model(tmp_path / "run" / "last.pt")
    samples = SampleDataset(data)

    def hole_l1(m: torch.nn.Module) -> float:
        with torch.no_grad():
            return sum(float((m(x[None])[0] - t[:3]).abs()[x[3:4].bool().expand_as(t[:3])].mean())
                       for x, t in samples) / len(samples)

    before, after = hole_l1(untrained), hole_l1(model)
    assert after * 10 < before, (before, after)


@pytest.mark.slow
def test_ddp_with_torchrun_trains_and_checkpoints(dataset, tmp_path):
    import subprocess
    import sys

    from conftest import REPO

    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
    result = subprocess.run(torchrun + ["-m", "training", "train", "--data", str(dataset), "--out",
                            str(tmp_path), "--steps", "3", "--batch-size", "2", "--crop", "32",
                            "--loader-workers", "0", "--width", "8", "--levels", "2", "--no-progress"],
                            cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert torch.load(tmp_path / "last.pt", weights_only=False)["step"] == 3


def test_init_starts_from_saved_weights(dataset, tmp_path):
    from training.checkpoint import save_weights

    train(small_config(dataset, tmp_path / "a", steps=2), progress=False)
    save_weights(tmp_path / "a" / "last.pt", tmp_path / "w.pt")
    assert set(torch.load(tmp_path / "w.pt", weights_only=False)) == {"model", "config", "step"}
    # One step at learning rate 0: the weights stay what --init loaded.
    config = small_config(dataset, tmp_path / "b", steps=1, lr=0.0, init=str(tmp_path / "w.pt"))
    train(config, progress=False)
    a = torch.load(tmp_path / "a" / "last.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "b" / "last.pt", weights_only=False)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_checkpoint_of_another_architecture_is_refused_naming_the_file(tmp_path):
    from dataclasses import asdict

    config = asdict(TrainConfig(data="", out=""))
    config["model"]["unshuffle"] = 4  # a field of an older version
    torch.save({"model": GatedUNet().state_dict(), "config": config}, tmp_path / "old.pt")
    with pytest.raises(ValueError, match="old.pt"):
        load_model(tmp_path / "old.pt")


def test_the_normals_ablation_does_not_see_the_normals_and_keeps_the_first_guess():
    torch.manual_seed(0)
    model = GatedUNet(ModelConfig(width=8, levels=2, dilations=(2,), ablate="normals")).eval()
    torch.nn.init.normal_(model.head.weight, std=0.1)  # a residual far from zero
    x = torch.rand(1, 8, 32, 48)
    x[:, 3] = 0
    x[:, 3, :, 20:28] = 1
    other = x.clone()
    other[:, 4:7] = torch.randn(1, 3, 32, 48) * x[:, 3:4]
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(other))
        full = GatedUNet(ModelConfig(width=8, levels=2, dilations=(2,)))
        full.load_state_dict(model.state_dict())
        full.eval()
        assert not torch.allclose(full(x), full(other))
        # the first guess still weighs by depth: its channels reach the guess unchanged
        torch.testing.assert_close(model.core(pool_inputs(x))[1], full.core(pool_inputs(x))[1])
    with pytest.raises(ValueError, match="ablate"):
        GatedUNet(ModelConfig(ablate="colour"))


def test_only_the_detail_input_sees_texture_finer_than_the_pooled_input():
    x = torch.rand(1, 8, 32, 48)
    x[:, 7] = 1.0                # uniform depth: 2x2 means of the colours are plain means
    x[:, 3] = 0
    x[:, 3, :, 20:28] = 1        # a hole aligned with the 2x2 blocks
    swapped = x.clone()
    swapped[:, :3, :, 0::2], swapped[:, :3, :, 1::2] = x[:, :3, :, 1::2], x[:, :3, :, 0::2]
    hole = x[:, 3:4].bool().expand(-1, 3, -1, -1)
    for detail, sees_it in ((0, False), (4, True)):
        torch.manual_seed(0)
        model = GatedUNet(ModelConfig(width=8, levels=2, dilations=(2,), detail_channels=detail)).eval()
        torch.nn.init.normal_(model.head.weight, std=0.1)  # a residual far from zero
        with torch.no_grad():
            a, b = model(x)[hole], model(swapped)[hole]
        assert torch.allclose(a, b, atol=1e-6) != sees_it, detail


def test_resume_chooses_best_anew_when_the_validation_samples_changed(tmp_path):
    data = write_numpy_dataset(tmp_path / "data", count=8)
    train(small_config(data, tmp_path / "run", steps=2), progress=False)
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=False)["best_val"] < float("inf")
    (tmp_path / "run" / "last.pt").write_bytes(_with_best(tmp_path / "run" / "last.pt", 1e-9))
    more = write_numpy_dataset(tmp_path / "more", count=12, seed=3)  # other validation samples
    train(small_config(more, tmp_path / "run", steps=4), resume=True, progress=False)
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    assert state["step"] == 4 and set(state["val_sets"]) == {str(more)}
    # the first validation after the resume sets a new best, whatever the old one was
    assert torch.load(tmp_path / "run" / "best.pt", weights_only=False)["step"] == 4


def _with_best(path, best: float) -> bytes:
    """The checkpoint's bytes with its best validation loss set to `best`."""
    import io

    state = torch.load(path, weights_only=False)
    state["best_val"] = best
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def test_flip_averaging_undoes_each_mirror_and_averages():
    """A network that fills with its input's own colour at mirrored coordinates shows whether
    each mirror is undone: the average then equals the single pass."""
    from stereo_geometry.sample import flip_averaged, mirror_input, mirroring

    x = np.random.default_rng(1).random((2, 8, 6, 10)).astype(np.float32)

    def identity_rgb(batch):  # a fill that returns the (mirrored) input's RGB
        return batch[:, :3].copy()

    for flips in (1, 2, 4):
        np.testing.assert_allclose(flip_averaged(mirroring(identity_rgb), flips)(x), x[:, :3], rtol=1e-6)
    # The mirrored input is that of the mirrored scene: normals' x and y change sign with it.
    mirrored = mirror_input(x, vertical=True, horizontal=True)
    np.testing.assert_array_equal(mirrored[:, 4], -x[:, 4, ::-1, ::-1])
    np.testing.assert_array_equal(mirrored[:, 5], -x[:, 5, ::-1, ::-1])
    np.testing.assert_array_equal(mirrored[:, 6], x[:, 6, ::-1, ::-1])
    calls, before = [], x.copy()
    flip_averaged(mirroring(lambda b: calls.append(b.shape) or b[:, :3]), 4)(x)
    assert calls == [(2, 8, 6, 10)] * 4  # the four mirrors, one after another
    np.testing.assert_array_equal(x, before)  # the caller's input is left as it was
    with pytest.raises(ValueError):
        flip_averaged(mirroring(identity_rgb), 3)


def test_every_model_setting_of_the_train_command_reaches_the_checkpoint(dataset, tmp_path):
    """--test-time-flips, --detail-channels and the rest are written into the run's config (and
    so into the exported model), none accepted and dropped."""
    import subprocess
    import sys

    from conftest import REPO

    result = subprocess.run([sys.executable, "-m", "training", "train", "--data", str(dataset), "--out", str(tmp_path),
                             "--steps", "1", "--batch-size", "2", "--crop", "32", "--loader-workers", "0",
                             "--width", "8", "--levels", "2", "--dilations", "2", "--detail-channels", "4",
                             "--test-time-flips", "4", "--no-progress"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    model = torch.load(tmp_path / "last.pt", weights_only=False)["config"]["model"]
    assert (model["width"], model["levels"], list(model["dilations"]), model["detail_channels"],
            model["test_time_flips"]) == (8, 2, [2], 4, 4)
