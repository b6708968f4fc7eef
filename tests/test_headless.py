"""`disocclusion-render`: a .blend's frames made into stereo pairs from one render each, as a
render farm runs it (the installed console command, in its own process)."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import REPO

pytestmark = pytest.mark.blender
COMMAND = shutil.which("disocclusion-render", path=str(Path(sys.executable).parent))
SCENE = """
import sys
sys.path.insert(0, {tests!r})
import bpy, addon_session as s
scene = s.build_scene(bpy, frames=4, camera_step=0.02)
s.set_stereo(scene.camera, "OFFAXIS", 1.95, 0.065, "LEFT")
scene.cycles.samples, scene.cycles.pixel_filter_type, scene.cycles.filter_width = 16, "BLACKMAN_HARRIS", 1.5
{extra}
bpy.ops.wm.save_as_mainfile(filepath={path!r})
"""


def make_blend(path: Path, extra: str = "") -> Path:
    """The add-on tests' scene (a checker box 1.5 m before a checker wall 4 m away, 96x64, the
    camera moving 2 cm a frame) with Blender's default Off-Axis stereo camera, rendered as
    Blender renders by default (16 samples through its 1.5 px filter), saved."""
    code = SCENE.format(tests=str(REPO / "tests"), path=str(path), extra=extra)
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    return path


def render(*args, cwd=REPO):
    return subprocess.run([COMMAND, *map(str, args), "--no-progress"], cwd=cwd, capture_output=True, text=True)


@pytest.fixture(scope="module")
def blend(tmp_path_factory):
    return make_blend(tmp_path_factory.mktemp("blend") / "scene.blend")


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).astype(int)


def test_the_command_is_installed_by_the_set_up():
    assert COMMAND is not None


def test_it_writes_both_eyes_holes_and_parallax_and_a_rerun_resumes(blend, tmp_path):
    out = tmp_path / "out"
    run = render(blend, "--out", out, "--frames", "1-3", "--model", "fast", "--save-holes", "--parallax-report")
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{n:04d}_{name}" for n in (1, 2, 3) for name in ("L.png", "R.png", "R_holes.png", "parallax.json"))
    left, right, holes = (pixels(out / f"0002_{name}.png") for name in ("L", "R", "R_holes"))
    assert left.shape == right.shape == (64, 96, 3) and set(np.unique(holes)) == {0, 255}
    assert 0.005 < (holes[..., 0] > 0).mean() < 0.2
    # Off-Axis at 1.95 m, 65 mm, f = 80 px: the box at 1.5 m and the wall at 4 m
    report = json.loads((out / "0002_parallax.json").read_text())
    tv = report["displays"]["TV"]
    assert report["frame"] == 2
    assert tv["nearest_px"] == pytest.approx(80 * 0.065 * (1 / 1.95 - 1 / 1.5), abs=1e-3)
    assert tv["farthest_px"] == pytest.approx(80 * 0.065 * (1 / 1.95 - 1 / 4.0), abs=1e-3)
    assert sorted(report["displays"]) == ["CINEMA", "DESKTOP", "TV", "VR"]
    again = render(blend, "--out", out, "--frames", "1-3", "--model", "fast", "--save-holes", "--parallax-report")
    assert again.returncode == 0 and "all 3 frames are already in" in again.stdout, again.stdout


def test_the_rendered_eye_and_the_made_eye_are_blenders_eyes(blend, tmp_path):
    """Against Blender's own stereo render of the same frame: the left eye (the camera's own
    view, rendered wider with the same pinhole) and the right eye outside its holes."""
    out = tmp_path / "out"
    assert render(blend, "--out", out, "--frames", "2", "--model", "fast", "--save-holes").returncode == 0
    truth = tmp_path / "truth"
    code = (f"import bpy; bpy.ops.wm.open_mainfile(filepath={str(blend)!r}); s = bpy.context.scene; s.frame_set(2); "
            "s.render.use_multiview = True; s.render.image_settings.file_format = 'PNG'; "
            f"s.render.filepath = {str(truth / 'f')!r}; bpy.ops.render.render(write_still=True)")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    def psnr(a, b):
        return 10 * np.log10(255 ** 2 / ((a - b).astype(float) ** 2).mean())

    # the wider render samples other positions within each pixel: the same image to the noise
    assert psnr(pixels(out / "0002_L.png"), pixels(truth / "f_L.png")) > 35
    hole = pixels(out / "0002_R_holes.png")[..., 0] > 0
    assert psnr(pixels(out / "0002_R.png")[~hole], pixels(truth / "f_R.png")[~hole]) > 30


def test_a_range_split_across_processes_gives_the_same_frames(blend, tmp_path):
    """Each frame is rendered as wide as it needs whatever the range: without reusing frames
    (nor carrying the fill from frame to frame) the parts give the one run's files exactly;
    reusing them, the frames away from the split do."""
    for window in ("0", "1"):
        whole, split = tmp_path / f"whole{window}", tmp_path / f"split{window}"
        flags = ("--window", window, "--carry", "0", "--model", "fast")
        assert render(blend, "--out", whole, "--frames", "1-6", *flags).returncode == 0
        for part in ("1-3", "4-6"):
            assert render(blend, "--out", split, "--frames", part, *flags).returncode == 0
        same = {name.name: np.array_equal(pixels(name), pixels(split / name.name)) for name in sorted(whole.iterdir())}
        if window == "0":
            assert all(same.values()), same
        else:  # in one run frames 3 and 4 reuse a frame of the other part (each frame's window: two frames)
            assert all(same[f"{n:04d}_R.png"] for n in (1, 2, 5, 6)) and all(same[f"{n:04d}_L.png"] for n in range(1, 7)), same


def test_a_frame_that_cannot_be_written_is_named_and_the_rest_are_made(blend, tmp_path):
    out = tmp_path / "out"
    (out / "0002_R.png").mkdir(parents=True)  # a folder where the frame's file goes
    run = render(blend, "--out", out, "--frames", "1-3", "--model", "fast")
    assert run.returncode == 1 and "0002_R.png" in run.stderr, run.stderr
    assert all((out / f"{n:04d}_{e}.png").is_file() for n in (1, 3) for e in "LR")
    assert not list(out.glob("*.partial*"))


def test_bad_inputs_stop_at_once_with_one_line(blend, tmp_path):
    missing = render(tmp_path / "nothing.blend", "--out", tmp_path / "o")
    assert missing.returncode == 2 and "no such file" in missing.stderr
    (tmp_path / "garbage.blend").write_bytes(b"not a blend file")
    garbage = render(tmp_path / "garbage.blend", "--out", tmp_path / "o")
    assert garbage.returncode == 2 and "cannot read it as a .blend file" in garbage.stderr, garbage.stderr
    no_camera = make_blend(tmp_path / "no_camera.blend", "scene.camera = None")
    run = render(no_camera, "--out", tmp_path / "o")
    assert run.returncode == 2 and "no camera" in run.stderr, run.stderr
    bad_range = render(blend, "--out", tmp_path / "o", "--frames", "5-2")
    assert bad_range.returncode == 2 and "ends before it starts" in bad_range.stderr
