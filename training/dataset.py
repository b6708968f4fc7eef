"""Loading the samples written by `datagen_bpy` as network inputs and targets."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

INPUT_CHANNELS = 8  # warped RGB (3), hole mask (1), normals in holes (3), depth outside holes (1)


def read_manifests(root: Path) -> list[dict]:
    """Records of every `manifest*.jsonl` in a data folder (shards included), sorted by name."""
    records = []
    for manifest in sorted(Path(root).glob("manifest*.jsonl")):
        records += [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
    return sorted(records, key=lambda r: r["name"])


def normalise_depth(depth: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Inverse depth divided by its median over `valid` pixels (0 elsewhere): scale-free."""
    inv = np.zeros_like(depth, dtype=np.float32)
    ok = valid & (depth > 0)
    if ok.any():
        inv[ok] = 1.0 / depth[ok]
        inv[ok] /= np.median(inv[ok])
    return inv


def network_input(image: np.ndarray, hole_mask: np.ndarray, normals_masked: np.ndarray,
                  depth_masked: np.ndarray) -> np.ndarray:
    """The 8-channel (8, H, W) float32 input: RGB in [0, 1], hole mask, normals inside holes,
    normalised inverse depth outside holes."""
    hole = hole_mask.astype(bool)
    return np.concatenate([
        image.astype(np.float32).transpose(2, 0, 1) / 255.0,
        hole[None].astype(np.float32),
        normals_masked.astype(np.float32).transpose(2, 0, 1),
        normalise_depth(depth_masked.astype(np.float32), ~hole)[None],
    ])


class SampleDataset(Dataset):
    """(input (8, H, W), target RGB (3, H, W) in [0, 1], hole mask (1, H, W)) per sample."""

    def __init__(self, root: str | Path, records: list[dict] | None = None) -> None:
        self.root = Path(root)
        self.records = read_manifests(self.root) if records is None else records

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        with np.load(self.root / self.records[index]["file"], allow_pickle=False) as s:
            x = network_input(s["image_generated_left"], s["hole_mask"], s["normals_left_masked"],
                              s["depth_masked"])
            target = s["org_left_image"].astype(np.float32).transpose(2, 0, 1) / 255.0
            hole = s["hole_mask"][None].astype(np.float32)
        return torch.from_numpy(x), torch.from_numpy(target), torch.from_numpy(hole)
