"""Training losses: L1 (and squared error) inside the hole, L1 outside, image gradients, SSIM, and an optional
SN-PatchGAN adversarial term (no pretrained networks: none can be downloaded here)."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import LossWeights


SSIM_WINDOW = 7


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of `values` over pixels where `mask` (B, 1, H, W) is 1, all channels."""
    mask = mask.expand_as(values)
    return (values * mask).sum() / mask.sum().clamp(min=1.0)


def image_gradients(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]


def gradient_l1(output: torch.Tensor, target: torch.Tensor, region: torch.Tensor,
                known: torch.Tensor | None = None) -> torch.Tensor:
    """L1 between horizontal and vertical differences, over pixel pairs touching `region`
    with both pixels `known`."""
    (ox, oy), (tx, ty) = image_gradients(output), image_gradients(target)
    known = torch.ones_like(region) if known is None else known
    rx = torch.maximum(region[..., :, 1:], region[..., :, :-1]) * torch.minimum(known[..., :, 1:], known[..., :, :-1])
    ry = torch.maximum(region[..., 1:, :], region[..., :-1, :]) * torch.minimum(known[..., 1:, :], known[..., :-1, :])
    return 0.5 * (masked_mean((ox - tx).abs(), rx) + masked_mean((oy - ty).abs(), ry))


def ssim_map(x: torch.Tensor, y: torch.Tensor, window: int = 7) -> torch.Tensor:
    """Per-pixel SSIM (box window), data range 1."""
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    pad = window // 2

    def mean(t: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(F.pad(t, (pad,) * 4, mode="replicate"), window, stride=1)

    mx, my = mean(x), mean(y)
    vx, vy = mean(x * x) - mx * mx, mean(y * y) - my * my
    cov = mean(x * y) - mx * my
    return ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))


def dilate(mask: torch.Tensor, pixels: int) -> torch.Tensor:
    return F.max_pool2d(mask, 2 * pixels + 1, stride=1, padding=pixels)


def infill_loss(raw: torch.Tensor, output: torch.Tensor, target: torch.Tensor, hole: torch.Tensor,
                weights: LossWeights, known: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Loss terms (and their weighted 'total') for the raw prediction and the composite
    output, over the pixels where the target is `known` (B, 1, H, W; default everywhere)."""
    known = torch.ones_like(hole) if known is None else known
    ring = dilate(hole, SSIM_WINDOW // 2)  # the hole and its seam
    all_known = 1 - dilate(1 - known, SSIM_WINDOW // 2)  # SSIM windows wholly known
    terms = {
        "hole_l1": masked_mean((raw - target).abs(), hole * known),
        "hole_l2": masked_mean((raw - target).square(), hole * known),
        "valid_l1": masked_mean((raw - target).abs(), (1 - hole) * known),
        "gradient": gradient_l1(output, target, ring, known),
        "ssim": masked_mean(1 - ssim_map(output, target, SSIM_WINDOW), ring * all_known),
    }
    terms["total"] = sum(getattr(weights, name) * value for name, value in terms.items())
    return terms


class PatchDiscriminator(nn.Module):
    """SN-PatchGAN: spectrally normalised strided convolutions; one score per patch."""

    def __init__(self, in_channels: int, width: int = 32) -> None:
        super().__init__()
        layers, c = [], in_channels
        for out in (width, 2 * width, 4 * width, 4 * width, 4 * width):
            layers += [nn.utils.spectral_norm(nn.Conv2d(c, out, 5, stride=2, padding=2)), nn.LeakyReLU(0.2)]
            c = out
        self.net = nn.Sequential(*layers[:-1])

    def forward(self, image: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([image, hole], 1))


def hinge_d_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return F.relu(1 - real).mean() + F.relu(1 + fake).mean()


def hinge_g_loss(fake: torch.Tensor) -> torch.Tensor:
    return -fake.mean()
