"""Loading the samples written by `datagen_bpy` as network inputs and targets."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from stereo_geometry.sample import inverse_depth_scale, mirror_input, network_input
from stereo_geometry.writer import read_manifests, read_sample


def depth_target(org_depth: np.ndarray, depth_masked: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """The depth-infill target: inverse depth on the scale `stereo_geometry.normalise_depth`
    gives the input."""
    scale = inverse_depth_scale(depth_masked, ~hole)
    return (1.0 / np.maximum(org_depth, 1e-6) / scale).astype(np.float32)[None]


def split_by_source(records: list[dict], val_fraction: float, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """Train/validation records with every sample of a source image on the same side. Records
    that carry a `split` ("train"/"val", fixed by the data's maker) keep it."""
    fixed = [r for r in records if r.get("split") in ("train", "val")]
    if fixed:
        if len(fixed) < len(records):
            raise ValueError("some records carry a 'split' and some do not: one data folder, one rule")
        return [r for r in fixed if r["split"] == "train"], [r for r in fixed if r["split"] == "val"]
    sources = sorted({r["source"] for r in records})
    rng = np.random.default_rng(seed)
    rng.shuffle(sources)
    n_val = max(1, round(len(sources) * val_fraction)) if len(sources) > 1 and val_fraction > 0 else 0
    val_sources = set(sources[:n_val])
    return ([r for r in records if r["source"] not in val_sources],
            [r for r in records if r["source"] in val_sources])


#: Widths of a synthetic border strip, as fractions of the crop's width (real strips are as
#: wide as the disparity at the frame's edge: 3-30 % of the width on the real scenes).
BORDER_STRIP_WIDTH = (0.03, 0.3)


def with_border_strip(x: np.ndarray, width: int) -> np.ndarray:
    """The input with its last `width` columns made what lies beyond the source's field of
    view looks like after the warp: hole, no colour, no normals, no depth."""
    x = x.copy()
    x[:, :, x.shape[-1] - width:] = 0
    x[3, :, x.shape[-1] - width:] = 1
    return x


def augment(x: np.ndarray, target: np.ndarray, rng: np.random.Generator,
            crop: int | tuple[int, int] | None,
            colour: float = 0.0, border_strip: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Random crop and flips that keep the geometry consistent: a horizontal mirror negates
    the normals' x (channel 4), a vertical one their y (channel 5). A mirrored sample is a
    valid sample of the mirrored scene, with the other eye on the other side. `target`'s
    channels (the target and its loss mask) are cropped and flipped alike. With chance
    `colour`, an RGB target and the input's RGB also get one random channel order and
    brightness (x0.8-1.2, clipped to [0, 1]). With chance `border_strip`, the crop's right
    edge (left after a mirror) becomes a strip beyond the field of view (`with_border_strip`,
    `BORDER_STRIP_WIDTH` of the crop): the target there is the photograph the crop cut off."""
    if crop is not None:
        h, w = x.shape[-2:]
        crop_h, crop_w = (crop, crop) if isinstance(crop, int) else crop
        ch, cw = min(crop_h, h), min(crop_w, w)
        y0, x0 = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        x, target = x[:, y0:y0 + ch, x0:x0 + cw], target[:, y0:y0 + ch, x0:x0 + cw]
    if border_strip and rng.random() < border_strip:
        low, high = BORDER_STRIP_WIDTH
        x = with_border_strip(x, max(1, round(x.shape[-1] * rng.uniform(low, high))))
    horizontal, vertical = rng.random() < 0.5, rng.random() < 0.5
    x = mirror_input(x, vertical, horizontal)
    target = target[:, ::-1] if vertical else target
    target = target[:, :, ::-1] if horizontal else target
    if colour and target.shape[0] == 4 and rng.random() < colour:
        order, gain = rng.permutation(3), np.float32(rng.uniform(0.8, 1.2))
        x, target = x.copy(), target.copy()
        x[:3] = np.clip(x[order] * gain, 0, 1)
        target[:3] = np.clip(target[order] * gain, 0, 1)
    return np.ascontiguousarray(x), np.ascontiguousarray(target)


class SampleDataset(Dataset):
    """Whole samples as (input (8, H, W), target (3 or 1, H, W) + loss mask (1, H, W))
    tensors. The target is RGB in [0, 1], or normalised inverse depth with `target="depth"`;
    the loss mask is the sample's `loss_mask` (1 = the target is known there), else all 1."""

    def __init__(self, root: str | Path, records: list[dict] | None = None,
                 target: str = "rgb") -> None:
        if target not in ("rgb", "depth"):
            raise ValueError(f"target must be 'rgb' or 'depth', got '{target}'")
        self.root = Path(root)
        self.records = read_manifests(self.root) if records is None else records
        self.target = target

    def __len__(self) -> int:
        return len(self.records)

    def smallest_size(self) -> tuple[int, int]:
        """The least height and width over the samples (from the manifest's intrinsics, else
        the file)."""
        sizes = []
        for record in self.records:
            K = record.get("intrinsics")
            if K and "height" in K:
                sizes.append((int(K["height"]), int(K["width"])))
            else:
                with np.load(self.root / record["file"], allow_pickle=False) as s:
                    sizes.append(s["hole_mask"].shape)
        return tuple(int(v) for v in np.min(sizes, axis=0)) if sizes else (0, 0)

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Input and target + loss mask of one sample as float32 arrays; ValueError naming a
        sample file that cannot be read."""
        s = read_sample(self.root / self.records[index]["file"])
        hole = s["hole_mask"]
        x = network_input(s["image_generated_left"], hole, s["normals_left_masked"], s["depth_masked"])
        known = (s["loss_mask"] if "loss_mask" in s else np.ones_like(hole)).astype(np.float32)
        if self.target == "depth":
            target = depth_target(s["org_left_depth"], s["depth_masked"], hole.astype(bool))
            known = known * (s["org_left_depth"] > 0)
        else:
            target = s["org_left_image"].astype(np.float32).transpose(2, 0, 1) / 255.0
        return x, np.concatenate([target, known[None]], 0)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, target = self.load(index)
        return torch.from_numpy(x), torch.from_numpy(target)
