"""The seed paper's discriminator (Table 2) and the adversarial losses.

Table 2: 16 convolutions 3x3, each with batch norm and ReLU, in four stages of 2 x 64,
4 x 128, 5 x 256 and 5 x 512 channels; then layers 17-18 fully connected with 4096 units (BN,
ReLU) and layer 19 fully connected with 2 units (real sharp frame / generated frame, a
two-class soft-max). The paper does not give the down-sampling or the input size; blurvid's
choices, stated here: the first convolution of stages 2, 3 and 4 has stride 2 (a 128 x 128
crop becomes 16 x 16 at 512 channels), and an adaptive average pool to 4 x 4 before the first
fully connected layer, so any crop size works and the FC layer has 512 * 16 inputs.
``width`` scales every channel count (1.0 = the paper) for small CPU runs.

Input: one frame, ``N x 1 x H x W`` luma in [0, 1] (the generator works on Y). Output: ``N x 2``
logits, class 1 = real sharp frame.

Adversarial loss (seed paper eq. 3/13): the discriminator minimizes the cross-entropy of
real -> 1, generated -> 0; the generator uses the **non-saturating** form, minimizing
-log D(G(blur)) (cross-entropy of generated -> 1) rather than log(1 - D(G(blur))), whose
gradient vanishes while D wins easily (Goodfellow et al. 2014).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

STAGES = ((2, 64), (4, 128), (5, 256), (5, 512))  # (convolutions, channels), Table 2
FC_UNITS = (4096, 4096)  # layers 17-18
POOL = 4


def _ch(channels: int, width: float) -> int:
    return max(1, round(channels * width))


class Discriminator(nn.Module):
    """VGG-like discriminator of Table 2 (see the module docstring)."""

    def __init__(self, width: float = 1.0, in_channels: int = 1, init_std: float = 0.02) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        prev = in_channels
        for stage, (count, channels) in enumerate(STAGES):
            out = _ch(channels, width)
            for k in range(count):
                stride = 2 if stage > 0 and k == 0 else 1
                layers += [nn.Conv2d(prev, out, 3, stride=stride, padding=1, bias=False),
                           nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
                prev = out
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(POOL)
        fc: list[nn.Module] = []
        prev = prev * POOL * POOL
        for units in FC_UNITS:
            u = _ch(units, width)
            fc += [nn.Linear(prev, u, bias=False), nn.BatchNorm1d(u), nn.ReLU(inplace=True)]
            prev = u
        fc.append(nn.Linear(prev, 2))
        self.classifier = nn.Sequential(*fc)
        for m in self.modules():  # DCGAN-style initialization (Radford et al.)
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(m.weight, 0.0, init_std)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
                nn.init.normal_(m.weight, 1.0, init_std)
                nn.init.zeros_(m.bias)

    def forward(self, frame: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(frame)), 1))

    def feature_maps(self, frame: torch.Tensor, stage: int = 1) -> torch.Tensor:
        """The activations after the last convolution of ``stage`` (0-3): features for the
        contiguous blurry loss when no pretrained network is available."""
        end = sum(c for c, _ in STAGES[: stage + 1]) * 3
        return self.features[:end](frame)


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of real frames -> class 1 and generated frames -> class 0."""
    real = F.cross_entropy(real_logits, torch.ones(len(real_logits), dtype=torch.long,
                                                   device=real_logits.device))
    fake = F.cross_entropy(fake_logits, torch.zeros(len(fake_logits), dtype=torch.long,
                                                    device=fake_logits.device))
    return real + fake


def generator_adversarial_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss: -log D(G(blur)), i.e. generated frames -> class 1."""
    return F.cross_entropy(fake_logits, torch.ones(len(fake_logits), dtype=torch.long,
                                                   device=fake_logits.device))
