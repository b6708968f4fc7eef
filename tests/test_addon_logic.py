"""The extension's logic that needs no Blender: its model choice and the headless command's
command line and outputs (imported from the repository's blender_addon package)."""
import argparse
from pathlib import Path

import pytest

from blender_addon import headless, models
from blender_addon.errors import InfillError


def test_an_own_model_file_wins_and_a_missing_one_is_named(tmp_path):
    own = tmp_path / "mine.onnx"
    own.write_bytes(b"")
    assert models.model_path(str(own), "QUALITY") == own
    with pytest.raises(InfillError, match="Model not found: .*missing.onnx"):
        models.model_path(str(tmp_path / "missing.onnx"), "QUALITY")


def test_the_bundled_choice_falls_back_to_the_other_bundled_model(monkeypatch, tmp_path):
    fast = tmp_path / "fast.onnx"
    fast.write_bytes(b"")
    monkeypatch.setattr(models, "BUNDLED_MODELS", {"QUALITY": tmp_path / "quality.onnx", "FAST": fast})
    assert models.model_path("", "QUALITY") == fast
    monkeypatch.setattr(models, "BUNDLED_MODELS", {"QUALITY": tmp_path / "quality.onnx", "FAST": tmp_path / "x.onnx"})
    with pytest.raises(InfillError, match="No bundled model"):
        models.model_path("", "FAST")


def test_a_model_file_that_is_not_an_rgb_infill_model_is_named():
    from stereo_geometry.infill import SHIPPED_DEPTH_MODEL, SHIPPED_MODELS

    with pytest.raises(InfillError, match="Cannot load model"):
        models.network(Path(__file__))
    with pytest.raises(InfillError, match="is a depth-infill model; the eyes' colour needs"):
        models.network(SHIPPED_DEPTH_MODEL)
    assert models.network(SHIPPED_MODELS["fast"]).channels == 3


@pytest.mark.parametrize("text,frames", [("7", (7, 7)), ("1-100", (1, 100)), ("12-12", (12, 12))])
def test_frame_ranges_are_read(text, frames):
    assert headless.frame_range(text) == frames


@pytest.mark.parametrize("text", ["5-2", "a-b", "1-", "", "-3"])
def test_bad_frame_ranges_are_refused(text):
    with pytest.raises(argparse.ArgumentTypeError):
        headless.frame_range(text)


def test_a_frame_is_done_when_all_its_files_are_there(tmp_path):
    files = headless.outputs(tmp_path, 12, ("LEFT", "RIGHT"), save_holes=True, parallax=True)
    assert [f.name for f in files] == ["0012_L.png", "0012_R.png", "0012_L_holes.png", "0012_R_holes.png",
                                       "0012_parallax.json"]
    assert [f.name for f in headless.outputs(tmp_path, 3, ("RIGHT",), False, False)] == ["0003_L.png", "0003_R.png"]
