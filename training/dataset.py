"""Loading the samples written by `datagen_bpy` as network inputs and targets."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from stereo_geometry.sample import network_input


def read_manifests(root: Path) -> list[dict]:
    """Records of every `manifest*.jsonl` in a data folder (shards included), sorted by name."""
    records = {}
    for manifest in sorted(Path(root).glob("manifest*.jsonl")):
        lines = [line for line in manifest.read_text().splitlines() if line.strip()]
        for i, line in enumerate(lines):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                if i == len(lines) - 1:
                    continue  # cut short by a killed data-generation job; its sample is on disk
                raise ValueError(f"{manifest}: line {i + 1} is not JSON") from None
            records[record["name"]] = record
    return sorted(records.values(), key=lambda r: r["name"])


def depth_target(org_depth: np.ndarray, depth_masked: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """The depth-infill target: inverse depth on the scale `stereo_geometry.normalise_depth`
    gives the input."""
    valid = ~hole & (depth_masked > 0)
    scale = np.median(1.0 / depth_masked[valid]) if valid.any() else 1.0
    return (1.0 / np.maximum(org_depth, 1e-6) / scale).astype(np.float32)[None]


def split_by_source(records: list[dict], val_fraction: float, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """Train/validation records with every sample of a source image on the same side."""
    sources = sorted({r["source"] for r in records})
    rng = np.random.default_rng(seed)
    rng.shuffle(sources)
    n_val = max(1, round(len(sources) * val_fraction)) if len(sources) > 1 and val_fraction > 0 else 0
    val_sources = set(sources[:n_val])
    return ([r for r in records if r["source"] not in val_sources],
            [r for r in records if r["source"] in val_sources])


def augment(x: np.ndarray, target: np.ndarray, rng: np.random.Generator,
            crop: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Random crop and flips that keep the geometry consistent: a horizontal mirror negates
    the normals' x (channel 4), a vertical one their y (channel 5). A mirrored sample is a
    valid sample of the mirrored scene, with the other eye on the other side."""
    if crop is not None:
        h, w = x.shape[-2:]
        ch, cw = min(crop, h), min(crop, w)
        y0, x0 = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        x, target = x[:, y0:y0 + ch, x0:x0 + cw], target[:, y0:y0 + ch, x0:x0 + cw]
    if rng.random() < 0.5:
        x, target = x[:, :, ::-1].copy(), target[:, :, ::-1].copy()
        x[4] = -x[4]
    if rng.random() < 0.5:
        x, target = x[:, ::-1].copy(), target[:, ::-1].copy()
        x[5] = -x[5]
    return np.ascontiguousarray(x), np.ascontiguousarray(target)


class SampleDataset(Dataset):
    """Whole samples as (input (8, H, W), target (3 or 1, H, W)) tensors. The target is RGB
    in [0, 1], or normalised inverse depth with `target="depth"`."""

    def __init__(self, root: str | Path, records: list[dict] | None = None,
                 target: str = "rgb") -> None:
        if target not in ("rgb", "depth"):
            raise ValueError(f"target must be 'rgb' or 'depth', got '{target}'")
        self.root = Path(root)
        self.records = read_manifests(self.root) if records is None else records
        self.target = target

    def __len__(self) -> int:
        return len(self.records)

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Input and target of one sample as float32 arrays."""
        with np.load(self.root / self.records[index]["file"], allow_pickle=False) as s:
            x = network_input(s["image_generated_left"], s["hole_mask"], s["normals_left_masked"],
                              s["depth_masked"])
            if self.target == "depth":
                return x, depth_target(s["org_left_depth"], s["depth_masked"], s["hole_mask"].astype(bool))
            return x, s["org_left_image"].astype(np.float32).transpose(2, 0, 1) / 255.0

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, target = self.load(index)
        return torch.from_numpy(x), torch.from_numpy(target)
