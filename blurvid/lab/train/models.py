"""Generators: the paper's full-resolution ResNet (``paper``) and blurvid's default (``fast``).

Contract shared by both (and by the exported ONNX graph):

* input  ``y``:      float32 tensor ``N x 1 x H x W``, the luma (Y of BT.601 full range, see
  :mod:`blurvid.color`) of the blurry photo in [0, 1]; any ``H, W >= 1``.
* output ``frames``: float32 tensor ``N x 7 x H x W``, the luma of the 7 sharp frames in
  temporal order (the order of a blurred photo is ambiguous: forward or reversed are both
  valid answers). Values are not clamped; callers clip to [0, 1].

``paper`` is Table 1 of the seed paper (docs/paper.md): conv 1->16, conv 16->64,
13 residual blocks at 64 channels with a long skip, conv 64->256, conv 256->256, conv 256->7,
all 3x3 at full resolution, Gaussian init (mean 0, std 0.01).

``fast`` trades the full-resolution convolutions for a small U-Net that works at 1/4, 1/8 and
1/16 of the resolution: pixel-unshuffle(4) in, pixel-shuffle(4) out, residual blocks at each
scale, and a residual connection to the input so the untrained network already returns
(almost) the blurry photo 7 times (its last layer starts small and random: see
``FastGenerator.__init__`` for why not zero). At 1280x720 it needs 23.4 GMAC against
``paper``'s 1586 GMAC (68x fewer) and its receptive field is 376 px against ``paper``'s 63 px
(:func:`count_macs`, :func:`receptive_field` with ``size=769``; ``tests/test_models.py``).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from blurvid.consistency import NUM_FRAMES

ARCHES = ("paper", "fast")


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, int, int]:
    """Replicate-pad ``x`` (N x C x H x W) on the bottom/right to a multiple of ``multiple``.

    Returns the padded tensor and the original ``H, W`` so :func:`crop` can undo it. Replicate
    (edge) padding works for any size >= 1, unlike reflect padding.
    """
    h, w = x.shape[-2], x.shape[-1]
    pad_h = (multiple - h % multiple) % multiple
    pad_w = (multiple - w % multiple) % multiple
    return F.pad(x, (0, pad_w, 0, pad_h), mode="replicate"), h, w


class ResBlock(nn.Module):
    """conv3x3 - ReLU - conv3x3 with an identity skip (the paper's residual block)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


class PaperGenerator(nn.Module):
    """The seed paper's ResNet-based generator, Table 1, with Y in and 7 frames out."""

    arch = "paper"
    pad_multiple = 1

    def __init__(self, num_frames: int = NUM_FRAMES, num_blocks: int = 13, init_std: float = 0.01):
        super().__init__()
        self.num_frames = num_frames
        self.l1 = nn.Conv2d(1, 16, 3, padding=1)
        self.l2 = nn.Conv2d(16, 64, 3, padding=1)
        self.blocks = nn.Sequential(*[ResBlock(64) for _ in range(num_blocks)])
        self.l29 = nn.Conv2d(64, 256, 3, padding=1)
        self.l30 = nn.Conv2d(256, 256, 3, padding=1)
        self.l31 = nn.Conv2d(256, num_frames, 3, padding=1)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, mean=0.0, std=init_std)
                nn.init.zeros_(m.bias)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.l1(y))
        skip = F.relu(self.l2(x))
        x = self.blocks(skip) + skip  # long skip from L2 to the output of the last block
        x = F.relu(self.l29(x))
        x = F.relu(self.l30(x))
        return self.l31(x)


class FastGenerator(nn.Module):
    """blurvid's default: a residual U-Net at 1/4, 1/8 and 1/16 resolution."""

    arch = "fast"
    pad_multiple = 16

    def __init__(
        self,
        num_frames: int = NUM_FRAMES,
        width: int = 48,
        blocks: tuple[int, int, int] = (1, 1, 4),
        head_init_std: float = 1e-3,
    ) -> None:
        super().__init__()
        self.num_frames = num_frames
        c1, c2, c3 = width, 2 * width, 4 * width
        self.stem = nn.Conv2d(16, c1, 3, padding=1)  # after pixel-unshuffle(4): 1/4 resolution
        self.enc1 = nn.Sequential(*[ResBlock(c1) for _ in range(blocks[0])])
        self.down1 = nn.Conv2d(c1, c2, 2, stride=2)  # 1/8
        self.enc2 = nn.Sequential(*[ResBlock(c2) for _ in range(blocks[1])])
        self.down2 = nn.Conv2d(c2, c3, 2, stride=2)  # 1/16
        self.middle = nn.Sequential(*[ResBlock(c3) for _ in range(blocks[2])])
        self.up2 = nn.Sequential(nn.Conv2d(c3, c2 * 4, 1), nn.PixelShuffle(2))  # back to 1/8
        self.dec2 = nn.Sequential(*[ResBlock(c2) for _ in range(blocks[1])])
        self.up1 = nn.Sequential(nn.Conv2d(c2, c1 * 4, 1), nn.PixelShuffle(2))  # back to 1/4
        self.dec1 = nn.Sequential(*[ResBlock(c1) for _ in range(blocks[0])])
        self.head = nn.Conv2d(c1, num_frames * 16, 3, padding=1)
        # Start close to the identity (every frame ~ the blurry input), but not exactly: with a
        # zero head all 7 frames are equal, the order-invariant loss ties between forward and
        # reversed order, its gradient splits evenly, and frames k and 6-k stay identical
        # forever (the outer frames never leave the blurry average). Small random weights
        # break that symmetry.
        nn.init.normal_(self.head.weight, mean=0.0, std=head_init_std)
        nn.init.zeros_(self.head.bias)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        x, h, w = pad_to_multiple(y, self.pad_multiple)
        s1 = F.relu(self.stem(F.pixel_unshuffle(x, 4)))
        s1 = self.enc1(s1)
        s2 = self.enc2(F.relu(self.down1(s1)))
        s3 = self.middle(F.relu(self.down2(s2)))
        d2 = self.dec2(self.up2(s3) + s2)
        d1 = self.dec1(self.up1(d2) + s1)
        out = x + F.pixel_shuffle(self.head(d1), 4)  # N x 7 x H' x W'
        return out[:, :, :h, :w]


def build_generator(arch: str, **kwargs) -> nn.Module:
    """Build a generator by name (``paper`` or ``fast``)."""
    if arch == "paper":
        return PaperGenerator(**kwargs)
    if arch == "fast":
        return FastGenerator(**kwargs)
    raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHES)}")


def count_macs(model: nn.Module, height: int, width: int) -> int:
    """Multiply-accumulates of one forward pass on a 1 x 1 x height x width input (convs only)."""
    macs = 0

    def hook(module: nn.Conv2d, _inp, out):
        nonlocal macs
        k = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
        macs += k * out.numel()

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            model(torch.zeros(1, 1, height, width))
    finally:
        for h in handles:
            h.remove()
    return macs


def receptive_field(model: nn.Module, size: int = 257) -> int:
    """Empirical receptive field (pixels, one side to the other) of the center output pixel.

    Measured as the extent of non-zero input gradients of the center output, with random weights
    so no path is accidentally zero.
    """
    probe = copy.deepcopy(model).double()
    for p in probe.parameters():
        nn.init.uniform_(p, 0.1, 0.2)  # positive weights: no cancellation, ReLUs stay open
    x = torch.rand(1, 1, size, size, dtype=torch.float64, requires_grad=True)
    out = probe(x)
    out[0, :, size // 2, size // 2].sum().backward()
    nz = (x.grad[0, 0].abs() > 0).nonzero()
    return int(max(nz[:, 0].max() - nz[:, 0].min(), nz[:, 1].max() - nz[:, 1].min()) + 1)
