"""Time from the "Infill Disocclusion" button to the result, for a 1280x720 render.

    python benchmarks/addon_latency.py [--width 1280 --height 720] [--repeats 3]

Builds the extension, installs it into a temporary user folder, renders the test scene of
tests/addon_session.py with Cycles, waits until the kernels that the extension compiles on a
thread when enabled are ready (`--press-at-once`: not), and presses the button on the last
render (the camera's default Stereoscopy settings: Off-Axis, the right eye made); prints the
time from press to the stereo image datablock (reading the render's passes, reprojection,
network, the stereo image, the parallax figures), for each shipped model.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

SESSION = r'''
import os, sys, time, re
sys.path.insert(0, {tests!r})
os.environ["BLENDER_USER_RESOURCES"] = os.path.join({work!r}, "user")
import bpy
import addon_session as s
s.WIDTH, s.HEIGHT = {width}, {height}
start = time.perf_counter()
bpy.ops.extensions.package_install_files(repo="user_default", filepath={zip!r}, enable_on_install=True)
scene = s.build_scene(bpy)
s.set_stereo(scene.camera, "OFFAXIS", 1.95, 0.065, "LEFT")
s.configure(scene, {model!r})
bpy.ops.render.render()
if {wait}:  # an artist who presses once the kernels are compiled (or loaded) after enabling
    import threading
    name = sys.modules["bl_ext.user_default.disocclusion_infill.kernels"].KERNELS_THREAD
    for thread in threading.enumerate():
        if thread.name == name:
            thread.join()
    print("KERNELS", time.perf_counter() - start)
for i in range({repeats}):
    start = time.perf_counter()
    bpy.ops.image.infill_disocclusion()
    print("TOTAL", time.perf_counter() - start)
'''


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--press-at-once", action="store_true",
                        help="press right after the render, without waiting for the kernels that the "
                        "extension compiles on a thread when enabled (the first press then waits for them)")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO / "packaging"))
    from build_extension import build, shipped_models

    models = {name: path for name, path in shipped_models().items() if name != "depth"}
    if not models:
        raise SystemExit("no shipped model (models/fast.onnx or models/quality.onnx)")
    print(f"{os.cpu_count()} cores, {args.width}x{args.height} render, ONNX Runtime")
    with tempfile.TemporaryDirectory() as work:
        zip_path = build(Path(work) / "dist", models)["linux-x64"]
        for name, path in models.items():
            code = SESSION.format(tests=str(REPO / "tests"), work=work, width=args.width,
                                  height=args.height, zip=str(zip_path), model=str(path),
                                  repeats=args.repeats, wait=not args.press_at_once)
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
            totals = [float(t) for t in re.findall(r"TOTAL ([\d.]+)", out.stdout)]
            for ready in re.findall(r"KERNELS ([\d.]+)", out.stdout):
                print(f"{name}: kernels ready {float(ready):.1f} s after installing (compiled on the extension's thread)")
            if not totals:
                raise SystemExit(out.stdout[-2000:] + out.stderr[-2000:])
            print(f"{name}: button to stereo image " + ", ".join(f"{total:.2f}" for total in totals) + " s")


if __name__ == "__main__":
    main()
