"""A contact sheet of a data folder: `python -m datagen_bpy.preview OUT [--count 8]`.

One row per sample: the warped image with its holes in magenta, the hole mask, the normals
inside the holes (as colours), the depth outside them (near = bright) and the target, each
tile captioned; written as OUT/preview.jpg (or --sheet PATH), so a user can look at what a
data-generation run made.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from stereo_geometry.writer import read_manifests, read_sample, write_image

TILE_WIDTH = 256


def _tile(image: np.ndarray, caption: str, width: int) -> np.ndarray:
    import cv2

    h, w = image.shape[:2]
    size = (width, max(1, round(h * width / w)))
    tile = cv2.resize(image, size, interpolation=cv2.INTER_AREA if w > width else cv2.INTER_NEAREST)
    strip = np.full((16, width, 3), 255, np.uint8)
    cv2.putText(strip, caption[:40], (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([tile, strip], 0)


def sample_row(sample: dict[str, np.ndarray], name: str, width: int = TILE_WIDTH) -> np.ndarray:
    """The tiles of one sample side by side."""
    hole = sample["hole_mask"].astype(bool)
    warped = sample["image_generated_left"].copy()
    warped[hole] = (255, 0, 255)
    normals = sample["normals_left_masked"].astype(np.float32)
    normals_rgb = np.where(hole[..., None], (normals * 0.5 + 0.5) * 255, 0).astype(np.uint8)
    depth = sample["depth_masked"].astype(np.float32)
    inverse = np.where(depth > 0, 1.0 / np.maximum(depth, 1e-6), 0)
    peak = float(inverse.max()) or 1.0
    depth_grey = np.repeat((inverse / peak * 255).astype(np.uint8)[..., None], 3, -1)
    tiles = [(warped, f"{name}: warped, holes {hole.mean():.1%}"),
             (np.repeat(hole[..., None] * np.uint8(255), 3, -1), "hole_mask"),
             (normals_rgb, "normals_left_masked"), (depth_grey, "depth_masked (near = bright)"),
             (sample["org_left_image"], "target (org_left_image)")]
    return np.concatenate([_tile(image, caption, width) for image, caption in tiles], 1)


def contact_sheet(folder: Path, count: int = 8, width: int = TILE_WIDTH) -> np.ndarray:
    """Rows for the first `count` samples of a data folder (spread over its manifest)."""
    records = read_manifests(folder)
    if not records:
        raise ValueError(f"{folder}: no samples (no manifest*.jsonl lines)")
    picks = sorted({round(i * (len(records) - 1) / max(count - 1, 1)) for i in range(min(count, len(records)))})
    rows = []
    for i in picks:
        try:
            rows.append(sample_row(read_sample(folder / records[i]["file"]), records[i]["name"], width))
        except ValueError as exc:
            print(f"skipped: {exc}", file=sys.stderr)
    if not rows:
        raise ValueError(f"{folder}: none of the samples shown could be read")
    widest = max(r.shape[1] for r in rows)
    return np.concatenate([np.pad(r, ((0, 0), (0, widest - r.shape[1]), (0, 0)), constant_values=255)
                           for r in rows], 0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m datagen_bpy.preview", description=__doc__.splitlines()[0])
    p.add_argument("folder", type=Path, help="a data folder (made by python -m datagen_bpy)")
    p.add_argument("--count", type=int, default=8, help="samples shown (default 8)")
    p.add_argument("--sheet", type=Path, help="the image to write (default FOLDER/preview.jpg)")
    args = p.parse_args(argv)
    if args.count < 1:
        p.error("--count must be >= 1")
    sheet = args.sheet or args.folder / "preview.jpg"
    try:
        write_image(sheet, contact_sheet(args.folder, args.count))
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {sheet}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
