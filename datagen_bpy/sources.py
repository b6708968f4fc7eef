"""What to make: the input list, depth look-up, shards and per-sample random parameters.

Depth beside an image `IMAGES/sub/name.jpg` is looked for in `DEPTH_DIR/sub/` as
`name.<ext>`, `name_depth.<ext>`, then (for RGB-D folders holding one image, like
`rgb.png` + `depth_m.npy`) the folder's only `depth*.<ext>` file, ext in npy, exr, pfm, png,
tif. Intrinsics: `name.json` beside the image or depth, else `intrinsics.json` in either folder,
else `--fov` across the width with the principal point at the centre.
"""
from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from pathlib import Path

from stereo_geometry.readers import DEPTH_EXTENSIONS, IMAGE_EXTENSIONS


@dataclass(frozen=True)
class Task:
    """One sample to make: from a photo (`image` set), a scene folder of 3D files (`scene`
    set) or a random Blender scene (neither)."""

    name: str
    seed: int
    image: Path | None = None
    depth: Path | None = None
    intrinsics: Path | None = None
    split: str | None = None  # "train" or "val" where the caller fixes it (recorded in the manifest)
    scene: Path | None = None

    @property
    def kind(self) -> str:
        """"photo", "scene" (a scene folder, lit, both eyes rendered), or the kind of random
        Blender scene: "procedural" (emission, one eye rendered) or "lit" (lit and layered,
        both eyes rendered)."""
        return "photo" if self.image else self.name.split("_", 1)[0]

    @property
    def source(self) -> str:
        if self.scene is not None:
            return f"scene:{self.scene.name}"
        return str(self.image) if self.image else f"{self.kind}:{self.name.rsplit('_', 1)[0]}"


def _looks_like_depth(path: Path) -> bool:
    stem = path.stem.lower()
    return stem.startswith(("depth", "disp")) or stem.endswith(("_depth", "_disp"))


def find_images(root: Path) -> list[Path]:
    """Every image under `root` (recursively, sorted), leaving out depth and disparity maps."""
    return sorted(p for p in root.rglob("*")
                  if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file() and not _looks_like_depth(p))


def find_depth(image: Path, images_root: Path, depth_root: Path) -> Path | None:
    folder = depth_root / image.parent.relative_to(images_root)
    for stem in (image.stem, image.stem + "_depth"):
        for ext in DEPTH_EXTENSIONS:
            candidate = folder / (stem + ext)
            if candidate.is_file() and candidate.resolve() != image.resolve():
                return candidate
    if len(find_images(image.parent)) == 1 and folder.is_dir():
        maps = sorted(p for p in folder.iterdir()
                      if p.stem.lower().startswith("depth") and p.suffix.lower() in DEPTH_EXTENSIONS)
        if len(maps) == 1:
            return maps[0]
    return None


def find_intrinsics(image: Path, depth: Path | None) -> Path | None:
    folders = [image.parent] + ([depth.parent] if depth else [])
    for candidate in [f / (image.stem + ".json") for f in folders] + [f / "intrinsics.json" for f in folders]:
        if candidate.is_file():
            return candidate
    return None


def sample_seed(seed: int, name: str) -> int:
    """A sample's own seed: the same for the same run seed and sample name, wherever it runs."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{name}".encode()).digest()[:8], "little")


def source_id(image: Path, root: Path) -> str:
    return "__".join(image.relative_to(root).with_suffix("").parts)


def make_tasks(seed: int, count: int, images_root: Path | None = None,
               depth_root: Path | None = None, procedural: int = 0, lit: int = 0,
               scenes_root: Path | None = None) -> list[Task]:
    """All tasks of a run in a fixed order: `count` samples per photo, random scene
    (`procedural` emission scenes, then `lit` lit and layered ones) or scene folder (the
    folders in `scenes_root`, one after the other: a worker imports each once). Photos with
    no depth map found still get tasks; they fail with a clear error."""
    tasks = []
    if scenes_root is not None:
        for folder in sorted(p for p in scenes_root.iterdir() if p.is_dir()):
            names = [f"scene_{folder.name}_{k:06d}" for k in range(count)]
            tasks += [Task(name, sample_seed(seed, name), scene=folder) for name in names]
    if procedural or lit:
        for kind, number in (("procedural", procedural), ("lit", lit)):
            names = [f"{kind}_{i:06d}_{k:02d}" for i in range(number) for k in range(count)]
            tasks += [Task(name, sample_seed(seed, name)) for name in names]
    elif images_root is not None:
        for image in find_images(images_root):
            depth = find_depth(image, images_root, depth_root) if depth_root else None
            intrinsics = find_intrinsics(image, depth)
            sid = source_id(image, images_root)
            tasks += [Task(f"{sid}_{k:02d}", sample_seed(seed, f"{sid}_{k:02d}"), image, depth,
                           intrinsics) for k in range(count)]
    return tasks


def shard(tasks: list[Task], index: int, total: int) -> list[Task]:
    """The `index`-th of `total` deterministic, disjoint parts of the task list (round robin,
    so every shard gets a similar mix); the union of all shards is the whole list."""
    return tasks[index::total]


def parse_shard(text: str) -> tuple[int, int]:
    """'i/N' -> (i, N) with 0 <= i < N."""
    try:
        index, total = (int(x) for x in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard must look like i/N, got '{text}'") from None
    if not 0 <= index < total:
        raise ValueError(f"--shard {text}: need 0 <= i < N")
    return index, total


@dataclass(frozen=True)
class BaselineSpec:
    """Baselines in metres to pick from per sample: fixed values and uniform ranges.
    Parsed from '0.063' or '0.063,0.0315:0.035' (one item chosen uniformly, a range sampled)."""

    items: tuple[tuple[float, float], ...]

    @classmethod
    def parse(cls, text: str) -> "BaselineSpec":
        items = []
        for part in text.split(","):
            lo, _, hi = part.partition(":")
            try:
                low, high = float(lo), float(hi or lo)
            except ValueError:
                raise ValueError(f"--baseline: cannot read '{part}' as metres") from None
            if not 0 < low <= high:
                raise ValueError(f"--baseline: '{part}' must be positive (and low <= high)")
            items.append((low, high))
        return cls(tuple(items))

    def sample(self, rng: random.Random) -> float:
        low, high = self.items[rng.randrange(len(self.items))]
        return low if low == high else rng.uniform(low, high)
