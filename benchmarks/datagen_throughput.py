"""Data-generation throughput: samples/min for 1 and 2 workers, and where the time goes.

    python benchmarks/datagen_throughput.py [--samples 12] [--resolution 512x384]

Procedural scenes (the embedded default), so it runs anywhere with no data.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datagen_bpy.runner import Options, run  # noqa: E402
from datagen_bpy.sources import make_tasks  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=12)
    parser.add_argument("--resolution", default="512x384")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    width, height = (int(x) for x in args.resolution.split("x"))
    print(f"{os.cpu_count()} cores, {args.samples} procedural samples at {width}x{height}")
    for workers in args.workers:
        with tempfile.TemporaryDirectory() as out:
            options = Options(out=Path(out), width=width, height=height)
            tasks = make_tasks(seed=123, count=1, procedural=args.samples)
            start = time.perf_counter()
            result = run(tasks, options, workers=workers, progress=False)
            wall = time.perf_counter() - start
        assert result.made == args.samples, result.failures
        print(f"\nworkers={workers}: {args.samples / wall * 60:.1f} samples/min "
              f"({wall:.1f} s wall, including {workers} Blender start-up(s))")
        total = sum(result.stage_seconds.values())
        for name, secs in sorted(result.stage_seconds.items(), key=lambda kv: -kv[1]):
            print(f"  {name:<14} {secs / args.samples:6.3f} s/sample  {secs / total:6.1%}")


if __name__ == "__main__":
    main()
