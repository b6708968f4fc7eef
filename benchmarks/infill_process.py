"""Whole-process time and peak memory of `python -m training infill`, next to a plain classical
process on the same frame.

    python benchmarks/infill_process.py [--sizes 1280x720 2560x1440 3840x2160] [--repeats 3]

Each run is a fresh Python process, timed from start to exit, with its peak resident memory
from `/usr/bin/time -f %M` (the kernel's maximum RSS where that tool is missing). The frame is
`infer_speed.typical_view` (a wall with a dozen boxes, 60 degree field of view) written as PNG +
float32 .npy depth. The plain classical process reads the frame, forward-warps it by
disparity with a z-buffer (numpy), fills the holes with OpenCV Telea and writes the PNG.
"""
from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from stereo_geometry.arguments import resolution  # noqa: E402
from infer_speed import typical_view  # noqa: E402

PLAIN_CLASSICAL = """
import sys
import cv2
import numpy as np
image, depth = cv2.imread(sys.argv[1]), np.load(sys.argv[2])
h, w = depth.shape
f = 0.5 * w / np.tan(np.radians(60) / 2)
x = np.arange(w)[None, :] - f * 0.063 / depth
cols = np.rint(x).astype(np.int64)
rows = np.broadcast_to(np.arange(h)[:, None], (h, w))
inside = (cols >= 0) & (cols < w)
order = np.argsort(-depth[inside], kind="stable")  # far first: the nearest is written last
r, c, src = rows[inside][order], cols[inside][order], np.flatnonzero(inside.ravel())[order]
warped = np.zeros_like(image)
hole = np.ones((h, w), np.uint8)
warped[r, c] = image.reshape(-1, 3)[src]
hole[r, c] = 0
cv2.imwrite(sys.argv[3], cv2.inpaint(warped, hole, 3, cv2.INPAINT_TELEA))
"""


def run(command: list[str]) -> tuple[float, float]:
    """Seconds from start to exit, and peak resident memory in MB, of one process."""
    timer = shutil.which("time") and Path("/usr/bin/time").is_file()
    with tempfile.NamedTemporaryFile("r", suffix=".txt") as report:
        full = (["/usr/bin/time", "-f", "%M", "-o", report.name] if timer else []) + command
        start = time.perf_counter()
        subprocess.run(full, check=True, cwd=REPO, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
        peak_kb = float(report.read().split()[-1]) if timer else \
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return seconds, peak_kb / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=resolution,
                        default=[(1280, 720), (2560, 1440), (3840, 2160)], help="WIDTHxHEIGHT")
    parser.add_argument("--repeats", type=int, default=3, help="runs per process; the fastest counts")
    parser.add_argument("--models", nargs="+", default=["fast", "quality"])
    args = parser.parse_args()
    python = sys.executable
    print(f"{'frame':>9} {'process':>16} {'seconds':>8} {'peak MB':>8} {'x classical':>11}")
    with tempfile.TemporaryDirectory() as tmp:
        for width, height in args.sizes:
            image, depth, _ = typical_view(width, height)
            frame, depth_file, out = (Path(tmp) / name for name in ("frame.png", "depth.npy", "out.png"))
            cv2.imwrite(str(frame), image)
            np.save(depth_file, depth.astype(np.float32))
            processes = {"plain classical": [python, "-c", PLAIN_CLASSICAL, str(frame), str(depth_file), str(out)]}
            for model in args.models:
                processes[f"infill {model}"] = [python, "-m", "training", "infill", "--model", model,
                                                "--image", str(frame), "--depth", str(depth_file),
                                                "--out", str(out), "--fov", "60"]
            classical = None
            for name, command in processes.items():
                runs = [run(command) for _ in range(args.repeats)]
                seconds, peak = min(r[0] for r in runs), max(r[1] for r in runs)
                classical = classical or seconds
                print(f"{width}x{height:<4} {name:>16} {seconds:8.2f} {peak:8.0f} {seconds / classical:11.1f}",
                      flush=True)


if __name__ == "__main__":
    main()
