"""Configuration of the network and its training: plain dataclasses, no torch, so that
commands and runtimes read a checkpoint's or ONNX model's config without importing PyTorch."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

INPUT_CHANNELS = 8
RGB_MASK_ONLY = "rgb_mask"  # the ablation: normals and depth channels zeroed


@dataclass
class ModelConfig:
    """Architecture. A stride-2 stem takes the half-resolution first guess and pooled inputs
    to quarter resolution, where the UNet has `width` channels, doubled per level up to 8x;
    the head predicts the residual there, FOLD x FOLD values per pixel. Widths that are
    multiples of 8 run several times faster in ONNX Runtime."""

    width: int = 8
    levels: int = 4
    dilations: tuple[int, ...] = (2, 4)
    out_channels: int = 3
    in_channels: int = INPUT_CHANNELS
    detail_channels: int = 0   # the first N input channels also enter at full detail (`fold_detail`)
    ablate: str = ""           # "normals" or "depth": kept from the UNet (the first guess unchanged)
    test_time_flips: int = 1   # inference: the mean over 1, 2 or 4 mirrored copies (`flip_averaged`)

    def channels(self, level: int) -> int:
        return self.width * min(2 ** level, 8)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class LossWeights:
    hole_l1: float = 1.0
    hole_l2: float = 0.0    # squared error inside the hole: what PSNR measures
    valid_l1: float = 0.1   # the raw prediction outside the hole (identity); composited away
    gradient: float = 0.2
    ssim: float = 0.1
    adversarial: float = 0.0


def parse_data(entry: str) -> tuple[str, float]:
    """'DIR' or 'DIR:WEIGHT' -> (folder, sampling weight; default 1)."""
    folder, _, weight = entry.rpartition(":")
    try:
        if folder:
            value = float(weight)
            if not (value > 0 and math.isfinite(value)):
                raise ValueError
            return folder, value
    except ValueError:
        raise ValueError(f"--data {entry}: the weight after ':' must be a positive number") from None
    return entry, 1.0


@dataclass
class TrainConfig:
    data: list[str]                    # folders, each 'DIR' or 'DIR:WEIGHT' (sampling weight)
    out: str
    target: str = "rgb"                # or "depth"
    inputs: str = "all"                # or RGB_MASK_ONLY
    steps: int = 2000
    batch_size: int = 8
    crop: int = 256
    lr: float = 2e-4
    weight_decay: float = 1e-4
    warmup: int = 100
    grad_clip: float = 1.0
    val_fraction: float = 0.1
    val_every: int = 250
    checkpoint_every: int = 250
    image_every: int = 500
    seed: int = 0
    colour_augment: float = 0.0        # chance per crop of another RGB order and brightness
    border_strip: float = 0.0          # chance per crop of a synthetic strip beyond the field of view
    loader_workers: int = 2
    init: str = ""                     # start from these weights (a checkpoint's "model")
    max_bad_steps: int = 20            # consecutive non-finite losses before giving up
    hole_rule: str = "stretched"       # the data's (`stereo_geometry.HOLE_RULES`); set by `load_data`
    model: ModelConfig = field(default_factory=ModelConfig)
    losses: LossWeights = field(default_factory=LossWeights)

    def __post_init__(self) -> None:
        if isinstance(self.data, str):  # one folder (and configs saved before folders were mixed)
            self.data = [self.data] if self.data else []

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        data = dict(data)
        model = dict(data.pop("model", {}))
        model["dilations"] = tuple(model.get("dilations", ModelConfig.dilations))
        losses = LossWeights(**data.pop("losses", {}))
        return cls(**data, model=ModelConfig(**model), losses=losses)
