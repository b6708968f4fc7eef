"""Real photographs that ship inside an installable package (scikit-image's sample images),
written as PNGs to texture procedural scenes: `python -m datagen_bpy.sample_photos --out DIR`.
Needs the optional extra: pip install -e ".[photos]"."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from stereo_geometry import to_uint8

# Sample images bundled in the scikit-image wheel (no download).
NAMES = ("astronaut", "coffee", "chelsea", "rocket", "camera", "coins", "hubble_deep_field",
         "immunohistochemistry", "retina", "page", "text", "moon", "horse", "brick", "grass",
         "gravel", "colorwheel", "logo")


def photo_uint8(image: np.ndarray) -> np.ndarray:
    """A scikit-image sample (uint8, bool or floats in [0, 1]) as uint8."""
    if image.dtype == np.uint8:
        return image
    if image.dtype == bool:
        return image.astype(np.uint8) * 255
    return to_uint8(image)


def write_photos(out: Path) -> list[Path]:
    import skimage.data
    from PIL import Image

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in NAMES:
        path = out / f"{name}.png"
        Image.fromarray(photo_uint8(getattr(skimage.data, name)())).save(path)
        written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    print(f"{len(write_photos(parser.parse_args().out))} photos written")


if __name__ == "__main__":
    main()
