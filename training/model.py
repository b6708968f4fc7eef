"""The Gated-UNet: gated convolutions (features * sigmoid(gate), as in free-form inpainting)
in a UNet with skip connections and a dilated bottleneck, refining a first guess.

The first guess is a background-weighted pull-push fill (`pull_push`) of the warped colours
and inverse depth: parameter-free, a few full-resolution passes. The UNet sees the input and
that guess and predicts a residual on it (its head starts at zero, so an untrained network
returns the guess).

Input (B, 8, H, W): warped RGB (3), hole mask (1, 1 = hole), normals inside holes (3), depth
outside holes (1, normalised, see `stereo_geometry.sample.normalise_depth`). Output (B, C, H, W):
the infilled RGB (C = 3) or normalised inverse depth (C = 1), composited so that pixels outside
the hole are the input's, bit for bit.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

INPUT_CHANNELS = 8
PRIOR_CHANNELS = 4          # the first guess: RGB and normalised inverse depth
PULL_PUSH_LEVELS = 9        # holes up to 2**9 px across are filled
BACKGROUND_POWER = 1.0      # known pixels weigh (inverse depth)**-power: their relative depth


def pull_push(values: torch.Tensor, known: torch.Tensor, weight: torch.Tensor,
              levels: int = PULL_PUSH_LEVELS) -> torch.Tensor:
    """Fill `values` (B, C, H, W) where `known` (B, 1, H, W) is 0. Pull: a pyramid of
    `weight`-averaged known values (kept premultiplied: sums of weight x value beside sums of
    weight). Push: each level's empty pixels take the coarser level, enlarged bilinearly with
    the same weights (so a gap between a heavy and a light side takes the heavy side's value).
    Known pixels are returned as they are."""
    weight = weight * known
    level = F.avg_pool2d(torch.cat([values * weight, weight], 1), 2, ceil_mode=True)  # premultiplied
    pyramid = []
    for _ in range(levels - 1):
        pyramid.append(level)
        level = F.avg_pool2d(level, 2, ceil_mode=True)
    for finer in reversed(pyramid):
        enlarged = F.interpolate(level, size=finer.shape[-2:], mode="bilinear", align_corners=False)
        level = torch.where(finer[:, -1:] > 0, finer, enlarged)
    enlarged = F.interpolate(level, size=values.shape[-2:], mode="bilinear", align_corners=False)
    filled = enlarged[:, :-1] / enlarged[:, -1:].clamp_min(1e-30)
    return torch.where(known > 0, values, filled)


def first_guess(x: torch.Tensor) -> torch.Tensor:
    """Background-weighted pull-push fill of the hole in (RGB, inverse depth): disocclusions
    show what lies behind, so far known pixels (small inverse depth) weigh most."""
    known = 1 - x[:, 3:4]
    inverse_depth = x[:, 7:8]
    weight = inverse_depth.clamp(0.05, 20.0) ** -BACKGROUND_POWER
    return pull_push(torch.cat([x[:, :3], inverse_depth], 1), known, weight)


class GatedConv(nn.Module):
    """conv -> (features, gate); out = act(features) * sigmoid(gate)."""

    def __init__(self, cin: int, cout: int, stride: int = 1, dilation: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, 2 * cout, 3, stride=stride, padding=dilation, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features, gate = self.conv(x).chunk(2, dim=1)
        return F.elu(features) * torch.sigmoid(gate)


@dataclass
class ModelConfig:
    """Architecture. The input is first folded `unshuffle` x `unshuffle` into channels
    (space-to-depth), so the UNet runs at 1/unshuffle resolution with `width` channels there,
    doubled per level up to 4x; the head unfolds its output back to full resolution."""

    width: int = 16
    unshuffle: int = 4
    levels: int = 3
    dilations: tuple[int, ...] = (2, 4)
    out_channels: int = 3
    in_channels: int = INPUT_CHANNELS

    def channels(self, level: int) -> int:
        return self.width * min(2 ** level, 4)

    def to_dict(self) -> dict:
        return asdict(self)


class GatedUNet(nn.Module):
    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__()
        c = self.config = config or ModelConfig()
        folded = (c.in_channels + PRIOR_CHANNELS) * c.unshuffle ** 2
        self.stem = GatedConv(folded, c.channels(0))
        self.down = nn.ModuleList()
        self.up = nn.ModuleList()
        for level in range(1, c.levels + 1):
            self.down.append(nn.Sequential(GatedConv(c.channels(level - 1), c.channels(level), stride=2),
                                           GatedConv(c.channels(level), c.channels(level))))
        self.bottleneck = nn.Sequential(*[GatedConv(c.channels(c.levels), c.channels(c.levels), dilation=d)
                                          for d in c.dilations])
        for level in range(c.levels, 0, -1):
            self.up.append(GatedConv(c.channels(level) + c.channels(level - 1), c.channels(level - 1)))
        self.head = nn.Conv2d(c.channels(0), c.out_channels * c.unshuffle ** 2, 3, padding=1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    @property
    def multiple(self) -> int:
        """Input sides must be multiples of this (`forward` pads to it)."""
        return self.config.unshuffle * 2 ** self.config.levels

    def fold(self, x: torch.Tensor) -> torch.Tensor:
        """Space-to-depth by `unshuffle` (PyTorch's channel order; the ONNX export swaps in
        ONNX's own operator, see `training.export.onnx_ordered`)."""
        return F.pixel_unshuffle(x, self.config.unshuffle)

    def raw(self, x: torch.Tensor) -> torch.Tensor:
        """The network's prediction everywhere, before compositing (sides must be multiples):
        the first guess (RGB, or inverse depth for a 1-channel output) plus the residual."""
        guess = first_guess(x)
        folded = self.fold(torch.cat([x, guess], 1))
        skips = [self.stem(folded)]
        for down in self.down:
            skips.append(down(skips[-1]))
        y = self.bottleneck(skips.pop())
        for up in self.up:
            skip = skips.pop()
            y = up(torch.cat([F.interpolate(y, size=skip.shape[-2:], mode="nearest"), skip], 1))
        base = guess[:, :3] if self.config.out_channels == 3 else guess[:, 3:]
        return base + F.pixel_shuffle(self.head(y), self.config.unshuffle)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Infilled output: the prediction inside the hole, the input outside it."""
        h, w = x.shape[-2:]
        m = self.multiple
        pad_h, pad_w = (-h) % m, (-w) % m
        padded = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate") if pad_h or pad_w else x
        prediction = self.raw(padded)[..., :h, :w]
        return composite(prediction, x)


def composite(prediction: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Prediction inside the hole (x channel 3), the input's first channels outside it."""
    hole = x[:, 3:4] > 0.5
    known = x[:, :prediction.shape[1]] if prediction.shape[1] == 3 else x[:, 7:8]
    return torch.where(hole, prediction, known)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def conv_flops(model: nn.Module, height: int, width: int) -> float:
    """Multiply-adds x 2 of every convolution for one (1, C, height, width) forward pass."""
    total = 0.0

    def hook(module: nn.Conv2d, _inputs, output: torch.Tensor) -> None:
        nonlocal total
        kh, kw = module.kernel_size
        total += 2.0 * output.numel() * (module.in_channels // module.groups) * kh * kw

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        model(torch.zeros(1, model.config.in_channels, height, width))
    for handle in handles:
        handle.remove()
    return total
