"""The Gated-UNet: gated convolutions (features * sigmoid(gate), as in free-form inpainting)
in a UNet with skip connections and a dilated bottleneck, refining a first guess.

Sized for the CPU, where memory traffic, not arithmetic, dominates at full resolution: the
full-resolution input is touched once, averaged 2x2 into a half-resolution `pool_inputs`
tensor; everything learned runs at half and quarter resolution (`GatedUNet.core`); and the
full-resolution output is the first guess enlarged plus a residual unfolded from quarter
resolution (`expand`), which a runtime needs only at the hole's pixels
(`stereo_geometry.onnx_runner.assemble`).

The first guess is a background-weighted pull-push fill (`pull_push`) of the warped colours
and inverse depth: parameter-free; the UNet predicts a residual on it (its head starts at
zero, so an untrained network returns the guess).

Input (B, 8, H, W): warped RGB (3), hole mask (1, 1 = hole), normals inside holes (3), depth
outside holes (1, normalised, see `stereo_geometry.sample.normalise_depth`). Output (B, C, H, W):
the infilled RGB (C = 3) or normalised inverse depth (C = 1), composited so that pixels outside
the hole are the input's, bit for bit.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import RGB_MASK_ONLY, ModelConfig

GUESS_CHANNELS = 4          # the first guess: RGB and normalised inverse depth
PULL_PUSH_LEVELS = 8        # half resolution and 7 coarser: holes up to ~2**8 px across are filled
MULTIPLE = 4                # input sides must be multiples of this (`GatedUNet.forward` pads)
FOLD = 4                    # the residual is predicted at 1/FOLD resolution, FOLD**2 values a pixel


def pool_inputs(x: torch.Tensor) -> torch.Tensor:
    """(B, 8, H, W) -> (B, 9, H/2, W/2), each a 2x2 average: RGB and inverse depth times the
    background weight, the weight, the hole fraction, the hole's normals. Known pixels weigh
    1 / inverse depth (their relative depth): disocclusions show what lies behind. Runtimes
    compute the same in numpy (`stereo_geometry.onnx_runner.prepare`)."""
    weight = (1 - x[:, 3:4]) / x[:, 7:8].clamp(0.05, 20.0)
    return F.avg_pool2d(torch.cat([x[:, :3] * weight, x[:, 7:8] * weight, weight, x[:, 3:7]], 1), 2)


def pull_push(premultiplied: torch.Tensor, levels: int = PULL_PUSH_LEVELS) -> torch.Tensor:
    """(B, C + 1, h, w) of values x weight and weight -> (B, C, h, w) values, filled where the
    weight is 0. Pull: a pyramid of weight-averaged values (kept premultiplied). Push: each
    level's empty pixels take the coarser level, enlarged bilinearly with the same weights (so
    a gap between a heavy and a light side takes the heavy side's value)."""
    level, pyramid = premultiplied, []
    for _ in range(levels - 1):
        pyramid.append(level)
        level = F.avg_pool2d(level, 2, ceil_mode=True)
    for finer in reversed(pyramid):
        enlarged = F.interpolate(level, size=finer.shape[-2:], mode="bilinear", align_corners=False)
        level = torch.where(finer[:, -1:] > 0, finer, enlarged)
    return level[:, :-1] / level[:, -1:].clamp_min(1e-30)


def enlarge(half: torch.Tensor) -> torch.Tensor:
    """Bilinear 2x enlargement (pixel centres aligned, edges clamped)."""
    return F.interpolate(half, scale_factor=2, mode="bilinear", align_corners=False)


def expand(residual: torch.Tensor, guess: torch.Tensor) -> torch.Tensor:
    """Full-resolution prediction: the half-resolution first guess (RGB, or inverse depth for a
    1-channel residual) enlarged, plus the residual unfolded from (B, C * FOLD**2, H/4, W/4)."""
    channels = residual.shape[1] // FOLD ** 2
    base = guess[:, :3] if channels == 3 else guess[:, 3:]
    return enlarge(base) + F.pixel_shuffle(residual, FOLD)


def pad_to_multiple(x: torch.Tensor) -> torch.Tensor:
    """Pad the bottom and right, repeating the edge, to sides that are multiples of MULTIPLE."""
    pad_h, pad_w = (-x.shape[-2]) % MULTIPLE, (-x.shape[-1]) % MULTIPLE
    return F.pad(x, (0, pad_w, 0, pad_h), mode="replicate") if pad_h or pad_w else x


def fold_detail(x: torch.Tensor, channels: int) -> torch.Tensor:
    """The first `channels` input channels at full resolution, folded FOLD x FOLD into
    (B, channels * FOLD**2, H/4, W/4) (`pixel_unshuffle`; sides multiples of 4): texture that
    the half-resolution pooled input has averaged away. Runtimes fold the same in numpy
    (`stereo_geometry.onnx_runner.fold_detail`)."""
    return F.pixel_unshuffle(x[:, :channels], FOLD)


def first_guess(x: torch.Tensor) -> torch.Tensor:
    """The background-weighted pull-push fill alone, at full resolution: (B, 4, H, W) of RGB
    and inverse depth, the input's outside the hole."""
    h, w = x.shape[-2:]
    guess = enlarge(pull_push(pool_inputs(pad_to_multiple(x))[:, :5]))[..., :h, :w]
    return torch.where(x[:, 3:4] > 0.5, guess, torch.cat([x[:, :3], x[:, 7:8]], 1))


#: What the UNet's stem sees of (guess RGB, guess inverse depth, hole fraction, normals) in
#: each ablation; the first guess itself always uses depth.
ABLATIONS = {
    "": torch.ones(8),
    "normals": torch.tensor([1.0, 1, 1, 1, 1, 0, 0, 0]),
    "depth": torch.tensor([1.0, 1, 1, 0, 1, 1, 1, 1]),
}


class GatedConv(nn.Module):
    """conv -> (features, gate); out = act(features) * sigmoid(gate)."""

    def __init__(self, cin: int, cout: int, stride: int = 1, dilation: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, 2 * cout, 3, stride=stride, padding=dilation, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features, gate = self.conv(x).chunk(2, dim=1)
        return F.elu(features) * torch.sigmoid(gate)


class GatedUNet(nn.Module):
    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__()
        c = self.config = config or ModelConfig()
        # stem input: the first guess, the hole fraction and the normals (8 channels: ONNX
        # Runtime's fast blocked convolutions want channel counts that are multiples of 8)
        self.stem = GatedConv(GUESS_CHANNELS + 4, c.channels(0), stride=2)  # + hole fraction, normals
        if c.ablate not in ABLATIONS:
            raise ValueError(f"ablate must be one of {sorted(ABLATIONS)}, got '{c.ablate}'")
        # stem input: guess RGB (0-2), guess inverse depth (3), hole fraction (4), normals (5-7)
        self.register_buffer("stem_keep", ABLATIONS[c.ablate].view(1, -1, 1, 1), persistent=False)
        # full-resolution detail joins at quarter resolution, fused with the stem's features
        self.detail = (GatedConv(c.channels(0) + c.detail_channels * FOLD ** 2, c.channels(0))
                       if c.detail_channels else None)
        self.down = nn.ModuleList()
        self.up = nn.ModuleList()
        for level in range(1, c.levels + 1):
            self.down.append(nn.Sequential(GatedConv(c.channels(level - 1), c.channels(level), stride=2),
                                           GatedConv(c.channels(level), c.channels(level))))
        self.bottleneck = nn.Sequential(*[GatedConv(c.channels(c.levels), c.channels(c.levels), dilation=d)
                                          for d in c.dilations])
        for level in range(c.levels, 0, -1):
            self.up.append(GatedConv(c.channels(level) + c.channels(level - 1), c.channels(level - 1)))
        self.head = nn.Conv2d(c.channels(0), c.out_channels * FOLD ** 2, 3, padding=1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def core(self, pooled: torch.Tensor,
             detail: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Half-resolution `pool_inputs` (and, with `detail_channels`, `fold_detail`) ->
        (residual at quarter resolution, first guess at half resolution): everything but the
        full-resolution ends, i.e. what is exported."""
        guess = pull_push(pooled[:, :5])
        stem = self.stem(torch.cat([guess, pooled[:, 5:9]], 1) * self.stem_keep)
        if self.detail is not None:
            stem = self.detail(torch.cat([stem, detail], 1))
        skips = [stem]
        for down in self.down:
            skips.append(down(skips[-1]))
        y = self.bottleneck(skips.pop())
        for up in self.up:
            skip = skips.pop()
            y = up(torch.cat([F.interpolate(y, size=skip.shape[-2:], mode="nearest"), skip], 1))
        return self.head(y), guess

    def raw(self, x: torch.Tensor) -> torch.Tensor:
        """The network's prediction everywhere, before compositing (sides multiples of 4)."""
        detail = fold_detail(x, self.config.detail_channels) if self.detail is not None else None
        return expand(*self.core(pool_inputs(x), detail))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Infilled output: the prediction inside the hole, the input outside it."""
        h, w = x.shape[-2:]
        return composite(self.raw(pad_to_multiple(x))[..., :h, :w], x)


def select_inputs(x: torch.Tensor, inputs: str) -> torch.Tensor:
    """The ablation's input: RGB and mask kept, normals and depth zeroed (same architecture)."""
    if inputs == RGB_MASK_ONLY:
        x = x.clone()
        x[:, 4:] = 0
    return x


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
