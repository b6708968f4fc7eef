"""Bad command lines and unwritable outputs: one clear line and exit 2, never a false
"wrote ..." nor a traceback; nothing half-written is left."""
import json

import numpy as np
import pytest
from PIL import Image

from conftest import box_depth, textured, write_numpy_dataset
from training.__main__ import main as training_main


@pytest.fixture
def view(tmp_path):
    Image.fromarray(textured(48, 64)).save(tmp_path / "left.png")
    np.save(tmp_path / "depth.npy", box_depth(48, 64, 3.0, 1.0, (15, 35, 25, 40)))
    return ["--image", str(tmp_path / "left.png"), "--depth", str(tmp_path / "depth.npy"), "--focal", "60"]


def test_infill_makes_a_missing_output_folder_and_refuses_one_it_cannot_make(view, tmp_path, capsys):
    out = tmp_path / "new" / "deeper" / "right.png"
    assert training_main(["infill", *view, "--out", str(out)]) == 0
    assert np.asarray(Image.open(out)).shape == (48, 64, 3)
    (tmp_path / "a_file").write_text("")
    capsys.readouterr()
    assert training_main(["infill", *view, "--out", str(tmp_path / "a_file" / "right.png")]) == 2
    captured = capsys.readouterr()
    assert "a_file" in captured.err and "wrote" not in captured.out
    assert training_main(["infill", *view, "--out", str(tmp_path)]) == 2  # a folder
    assert not list(tmp_path.rglob("*.partial"))


def test_infill_refuses_an_image_type_it_cannot_write_before_the_work(view, tmp_path, capsys):
    assert training_main(["infill", *view, "--out", str(tmp_path / "right.xyz")]) == 2
    assert "'.xyz'" in capsys.readouterr().err and not (tmp_path / "right.xyz").exists()


@pytest.mark.parametrize("flags", [["--fov", "0"], ["--fov", "180"], ["--baseline", "0"],
                                   ["--baseline", "nan"], ["--depth-png-scale", "-1"]])
def test_infill_refuses_impossible_camera_values(view, tmp_path, flags, capsys):
    args = [a for a in view if a not in ("--focal", "60")] + flags
    with pytest.raises(SystemExit) as exit_info:
        training_main(["infill", *args, "--out", str(tmp_path / "r.png")])
    assert exit_info.value.code == 2 and flags[0] in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        training_main(["infill", *view[:4], "--focal", "0", "--out", str(tmp_path / "r.png")])
    assert exit_info.value.code == 2


def test_evaluate_and_benchmark_refuse_missing_or_empty_folders(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    for folder in (tmp_path / "missing", tmp_path / "empty"):
        assert training_main(["evaluate", "--checkpoint", "x.pt", "--data", str(folder)]) == 2
        assert folder.name in capsys.readouterr().err
        assert training_main(["benchmark", "--real", str(folder)]) == 2
        assert training_main(["benchmark", "--synthetic", str(folder)]) == 2
    data = write_numpy_dataset(tmp_path / "data", count=2)
    assert training_main(["evaluate", "--checkpoint", "x.pt", "--data", str(data), "--split", "val"]) == 2
    assert "no record has a split" in capsys.readouterr().err


def test_evaluate_writes_its_json_into_a_new_folder_and_refuses_a_folder_as_the_file(tmp_path, capsys):
    data = write_numpy_dataset(tmp_path / "data", count=2)
    out = tmp_path / "results" / "r.json"
    assert training_main(["evaluate", "--checkpoint", "", "--data", str(data), "--no-progress",
                          "--json", str(out)]) == 0
    assert "telea" in json.loads(out.read_text())
    assert training_main(["evaluate", "--checkpoint", "", "--data", str(data), "--json", str(tmp_path)]) == 2


@pytest.mark.parametrize("flags", [["--fov", "0"], ["--fov", "180"], ["--max-depth", "nan"],
                                   ["--max-depth", "0"], ["--max-depth", "-1"], ["--swap-prob", "2"],
                                   ["--resolution", "4x4"]])
def test_datagen_refuses_bad_values_at_the_command_line(tmp_path, flags, capsys):
    from datagen_bpy.__main__ import main as datagen_main

    with pytest.raises(SystemExit) as exit_info:
        datagen_main(["--procedural", "1", "--out", str(tmp_path / "out"), *flags])
    assert exit_info.value.code == 2 and flags[0] in capsys.readouterr().err


def test_datagen_refuses_an_output_that_is_a_file_before_starting_blender(tmp_path, capsys):
    from datagen_bpy.__main__ import main as datagen_main

    (tmp_path / "a_file").write_text("")
    for out in (tmp_path / "a_file", tmp_path / "a_file" / "sub"):
        with pytest.raises(SystemExit) as exit_info:
            datagen_main(["--procedural", "1", "--out", str(out)])
        assert exit_info.value.code == 2 and "a_file" in capsys.readouterr().err


def test_damaged_or_foreign_model_files_are_refused_in_one_line(view, tmp_path, capsys):
    import torch

    (tmp_path / "broken.onnx").write_bytes(b"not a model")
    (tmp_path / "broken.pt").write_bytes(b"\x80\x04not a checkpoint")
    torch.save({"stem.conv.weight": torch.zeros(1)}, tmp_path / "state_dict.pt")
    for model, words in (("broken.onnx", "not a readable ONNX model"),
                         ("broken.pt", "not a readable PyTorch checkpoint"),
                         ("state_dict.pt", "not a checkpoint of this project")):
        code = training_main(["infill", *view, "--checkpoint", str(tmp_path / model), "--out", str(tmp_path / "r.png")])
        err = capsys.readouterr().err
        assert code == 2 and model in err and words in err and "Traceback" not in err, err
        data = write_numpy_dataset(tmp_path / "data", count=1)
        assert training_main(["evaluate", "--checkpoint", str(tmp_path / model), "--data", str(data)]) == 2


def test_a_checkpoint_that_would_run_code_when_loaded_is_refused(view, tmp_path, capsys):
    import pickle

    class Payload:
        def __reduce__(self):
            return (print, ("code ran",))

    with open(tmp_path / "evil.pt", "wb") as f:
        pickle.dump({"model": Payload(), "config": {}}, f)
    assert training_main(["infill", *view, "--checkpoint", str(tmp_path / "evil.pt"), "--out", str(tmp_path / "r.png")]) == 2
    captured = capsys.readouterr()
    assert "code ran" not in captured.out and "evil.pt" in captured.err


def test_a_depth_infill_model_is_refused_for_the_other_eyes_image(view, tmp_path, capsys):
    from training.config import ModelConfig, TrainConfig
    from training.train import train

    data = write_numpy_dataset(tmp_path / "data", count=2)
    train(TrainConfig(data=str(data), out=str(tmp_path / "run"), steps=1, batch_size=1, crop=32, target="depth",
                      loader_workers=0, model=ModelConfig(width=8, levels=2, out_channels=1)), progress=False)
    code = training_main(["infill", *view, "--checkpoint", str(tmp_path / "run" / "last.pt"), "--out", str(tmp_path / "r.png")])
    assert code == 2 and "depth-infill model" in capsys.readouterr().err


def test_infill_runs_each_shipped_model_by_name_and_a_checkpoint_wins(view, tmp_path, capsys):
    from stereo_geometry.infill import SHIPPED_MODELS

    for name, path in SHIPPED_MODELS.items():
        code = training_main(["infill", *view, "--model", name, "--out", str(tmp_path / f"{name}.png")])
        assert code == (0 if path.is_file() else 2), capsys.readouterr().err
    assert training_main(["infill", *view, "--model", "fast", "--checkpoint", str(tmp_path / "mine.onnx"),
                          "--out", str(tmp_path / "r.png")]) == 2
    assert "mine.onnx" in capsys.readouterr().err


def test_preview_draws_a_contact_sheet_of_a_data_folder(tmp_path, capsys):
    from datagen_bpy.preview import main as preview_main

    data = write_numpy_dataset(tmp_path / "data", count=3)
    assert preview_main([str(data), "--count", "2"]) == 0
    sheet = np.asarray(Image.open(data / "preview.jpg"))
    assert sheet.shape[1] == 5 * 256 and sheet.shape[0] > 2 * 16  # five tiles a row, two rows
    (tmp_path / "empty").mkdir()
    assert preview_main([str(tmp_path / "empty")]) == 2 and "no samples" in capsys.readouterr().err


def small_run(data, out, *extra):
    return ["train", "--data", str(data), "--out", str(out), "--steps", "2", "--batch-size", "2", "--crop", "32",
            "--width", "8", "--levels", "2", "--loader-workers", "0", "--no-progress", *extra]


@pytest.mark.parametrize("flags,named", [(["--batch-size", "0"], "--batch-size"), (["--crop", "0"], "--crop"),
                                         (["--val-fraction", "2"], "--val-fraction"), (["--steps", "0"], "--steps")])
def test_train_refuses_impossible_settings_in_one_line(tmp_path, capsys, flags, named):
    data = write_numpy_dataset(tmp_path / "data", count=2)
    assert training_main(small_run(data, tmp_path / "run", *flags)) == 2
    err = capsys.readouterr().err
    assert named in err and "Traceback" not in err and not (tmp_path / "run").exists()


def test_train_and_export_name_a_damaged_checkpoint_or_an_unwritable_output(tmp_path, capsys):
    data = write_numpy_dataset(tmp_path / "data", count=4)
    (tmp_path / "cut.pt").write_bytes(b"PK\x03\x04 cut short")
    assert training_main(small_run(data, tmp_path / "run", "--init", str(tmp_path / "cut.pt"))) == 2
    assert "cut.pt" in capsys.readouterr().err
    assert training_main(small_run(data, tmp_path / "run")) == 0
    (tmp_path / "run" / "last.pt").write_bytes(b"PK\x03\x04 cut short")
    assert training_main(small_run(data, tmp_path / "run", "--resume")) == 2
    assert "last.pt" in capsys.readouterr().err
    assert training_main(["export", "--checkpoint", str(tmp_path / "cut.pt"), "--onnx", str(tmp_path / "m.onnx")]) == 2
    assert "cut.pt" in capsys.readouterr().err and not (tmp_path / "m.onnx").exists()
    (tmp_path / "a_file").write_text("")
    assert training_main(small_run(data, tmp_path / "a_file" / "run")) == 2
    assert "--out" in capsys.readouterr().err


def test_validation_sets_of_two_folders_with_one_name_are_kept_apart(tmp_path):
    from training.config import ModelConfig, TrainConfig
    from training.train import train

    first = write_numpy_dataset(tmp_path / "a" / "proc", count=6, seed=1)
    second = write_numpy_dataset(tmp_path / "b" / "proc", count=6, seed=2)
    metrics = train(TrainConfig(data=[str(first), str(second)], out=str(tmp_path / "run"), steps=2, batch_size=2,
                                crop=32, loader_workers=0, val_every=2, model=ModelConfig(width=8, levels=2)),
                    progress=False)
    assert {k for k in metrics if k.startswith("val_hole_l1/")} == {f"val_hole_l1/{first}", f"val_hole_l1/{second}"}


def test_a_damaged_sample_is_named_and_skipped_and_nothing_scored_is_refused(tmp_path, capsys, caplog):
    data = write_numpy_dataset(tmp_path / "data", count=3)
    assert training_main(small_run(data, tmp_path / "run")) == 0
    checkpoint = str(tmp_path / "run" / "last.pt")
    assert training_main(["evaluate", "--checkpoint", checkpoint, "--data", str(data), "--limit", "0"]) == 2
    assert "--limit" in capsys.readouterr().err
    (data / "samples" / "s001.npz").write_bytes(b"PK\x03\x04 cut short")
    assert training_main(["evaluate", "--checkpoint", checkpoint, "--data", str(data), "--no-progress"]) == 0
    assert "s001.npz: unreadable sample" in caplog.text
    for name in ("s000", "s002"):
        (data / "samples" / f"{name}.npz").write_bytes(b"")
    assert training_main(["evaluate", "--checkpoint", checkpoint, "--data", str(data), "--no-progress"]) == 2
    assert "nothing scored" in capsys.readouterr().err


def test_datagen_refuses_a_folder_whose_samples_or_manifest_are_the_wrong_kind(tmp_path, capsys):
    from datagen_bpy.__main__ import main as datagen_main

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "samples").write_text("")
    (tmp_path / "b" / "manifest.jsonl").mkdir(parents=True)
    for folder, named in ((tmp_path / "a", "samples"), (tmp_path / "b", "manifest.jsonl")):
        with pytest.raises(SystemExit) as exit_info:
            datagen_main(["--procedural", "1", "--out", str(folder)])
        assert exit_info.value.code == 2 and named in capsys.readouterr().err
