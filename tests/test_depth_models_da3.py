"""Depth Anything 3 end to end on a randomly initialised real network (the `da3` extra)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import REPO, textured
from datagen_bpy.depth_models import DA3

da3 = pytest.importorskip("depth_anything_3", reason="optional extra da3 not installed")


@pytest.fixture(scope="module")
def tiny_da3_weights(tmp_path_factory):
    """A randomly initialised da3-small saved as a Hugging Face snapshot folder."""
    import torch
    from safetensors.torch import save_model

    from datagen_bpy.depth_models import build_da3

    torch.manual_seed(0)
    net = build_da3("da3-small")
    folder = tmp_path_factory.mktemp("da3-small")
    wrapper = torch.nn.Module()  # as the package's hub mixin saves it: keys "model.*"
    wrapper.model = net
    save_model(wrapper, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({"model_name": "da3-small"}))
    return folder, net


def test_da3_adapter_runs_the_real_network_and_loads_saved_weights(tiny_da3_weights):
    from datagen_bpy.depth_models import load_depth_model

    folder, net = tiny_da3_weights
    image = textured(96, 128)
    loaded = load_depth_model("da3", folder)
    estimate = loaded(image)
    assert estimate.depth.shape == (96, 128) and np.isfinite(estimate.depth).all()
    assert estimate.K is not None and (estimate.K.width, estimate.K.height) == (128, 96)
    # The weights read back are the ones saved: same output as the network itself.
    np.testing.assert_allclose(DA3(net, "da3-small")(image).depth, estimate.depth, rtol=1e-5)


@pytest.mark.blender
def test_datagen_with_a_depth_model_makes_samples(tiny_da3_weights, tmp_path):
    folder, _ = tiny_da3_weights
    (tmp_path / "images").mkdir()
    Image.fromarray(textured(96, 128)).save(tmp_path / "images" / "photo.png")
    write_intrinsics(tmp_path / "images" / "photo.json")
    result = subprocess.run(
        [sys.executable, "-m", "datagen_bpy", "--images", str(tmp_path / "images"), "--depth-model",
         "da3", "--depth-model-path", str(folder), "--out", str(tmp_path / "out"),
         "--resolution", "96x64", "--no-progress"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    record = json.loads((tmp_path / "out" / "manifest.jsonl").read_text())
    assert record["depth_source"] == "model:da3"


def write_intrinsics(path):
    """A sidecar camera for the photo: the randomly initialised network's own intrinsics are
    arbitrary (their pixel aspect, too), and a sidecar wins over them."""
    path.write_text(json.dumps({"fx": 110.0, "fy": 110.0, "cx": 63.5, "cy": 47.5}))


def hub_cache(root, weights_folder, repo="depth-anything/DA3METRIC-LARGE"):
    """A Hugging Face cache (HF_HOME) holding `weights_folder` as the snapshot of `repo`."""
    import shutil

    commit = "0" * 40
    model = root / "hub" / ("models--" + repo.replace("/", "--"))
    snapshot = model / "snapshots" / commit
    shutil.copytree(weights_folder, snapshot)
    (model / "refs").mkdir(parents=True)
    (model / "refs" / "main").write_text(commit)
    return root


def datagen_photos_only(tmp_path, hf_home):
    (tmp_path / "images").mkdir(exist_ok=True)
    Image.fromarray(textured(96, 128)).save(tmp_path / "images" / "photo.png")
    write_intrinsics(tmp_path / "images" / "photo.json")
    env = dict(os.environ, HF_HOME=str(hf_home), HF_HUB_OFFLINE="1")
    return subprocess.run([sys.executable, "-m", "datagen_bpy", "--images", str(tmp_path / "images"),
                           "--out", str(tmp_path / "out"), "--resolution", "96x64", "--no-progress"],
                          cwd=REPO, capture_output=True, text=True, env=env)


def test_photos_alone_offline_and_not_cached_fail_at_once_naming_the_ways_forward(tmp_path):
    result = datagen_photos_only(tmp_path, tmp_path / "empty_hf_home")
    assert result.returncode == 2
    for way in ("--depth-dir", "--depth-model-path", "HF_HOME", "--procedural"):
        assert way in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "out" / "samples").exists()


@pytest.mark.blender
def test_photos_alone_use_depth_anything_3_from_the_hub_cache(tiny_da3_weights, tmp_path):
    folder, _ = tiny_da3_weights
    result = datagen_photos_only(tmp_path, hub_cache(tmp_path / "hf_home", folder))
    assert result.returncode == 0, result.stderr
    record = json.loads((tmp_path / "out" / "manifest.jsonl").read_text())
    assert record["depth_source"] == "model:da3" and "Depth Anything 3" in result.stderr


def test_datagen_names_the_missing_weights(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "datagen_bpy", "--images", str(tmp_path), "--depth-model", "da3",
         "--out", str(tmp_path / "out")], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 2 and "no Depth Anything 3 weights (no --depth-model-path given)" in result.stderr
