"""The path estimator (issue 19, stage 1): a small CNN that predicts the camera path of a blurry
128 x 128 luma tile, its loss, targets and augmentation.

Contract (shared with the non-blind solver; the exported ONNX graph is the same):

* input  ``blur``: float32 ``N x 1 x 128 x 128``, gamma-encoded luma Y (BT.601 full range,
  :func:`blurvid.color.rgb_to_y`) in [0, 1];
* output ``path``: float32 ``N x 7 x 2``, the centers of the 7 sub-frame groups in pixels
  ``(dx, dy)``, mean-removed (they sum to 0), in the synthesizer's convention: sub-frame ``m``
  shows the scene at ``S(x + path[m])`` (:func:`blurvid.lab.data.synth.render`). The order is
  forward or reversed (a blurred photo cannot tell);
* output ``log_sigma``: float32 ``N``, the predicted log of the rms error of ``path`` in px
  (``sqrt(mean_i |p_i - t_i|^2)``, order-invariant), trained with a Gaussian NLL on the
  detached error: set the solver's regularisation from it.

Design. Blur is hard to see in the luma but easy in two derived views, both computed inside the
network (plain MatMul/Conv ops, so the ONNX graph is self-contained):

1. **spatial stream**: the tile normalized to zero mean and unit contrast, and its two gradient
   images normalized by their rms, pixel-unshuffled (2) and through stride-2 convolutions
   (receptive field 78 px) and a global average: the local look of blurred edges (the path's
   shape, its ends, which way it bends: the autocorrelation cannot tell p from -p).
2. **autocorrelation stream**: the autocorrelation of the (windowed) gradient field,
   ``IDFT(|DFT gx|^2 + |DFT gy|^2)``, normalized by its zero lag, for lags -44..44 px. Natural
   images have nearly white gradients, so this map is close to the autocorrelation of the blur
   kernel: a 20 px straight blur shows as a ridge of length 2 x 20 with negative dips at
   +-20 (the classic kernel-from-spectrum cue). The DFT is a product with constant cos/sin
   matrices (half spectrum, 15 MMAC per tile). A small CNN with coordinate channels reads it
   and is flattened (the position of the structure is the answer, so it is not pooled).

The two feature vectors meet in an MLP that outputs 14 numbers (x 10 px) and ``log_sigma``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from blurvid.consistency import NUM_FRAMES

TILE = 128
MAX_LAG = 44  # autocorrelation lags -MAX_LAG..MAX_LAG (blur lengths up to 40 px)
SCALE_PX = 10.0  # outputs and loss in units of 10 px


def group_centers(path: np.ndarray | torch.Tensor, frames: int = NUM_FRAMES):
    """(..., M, 2) sub-frame path -> (..., 7, 2) group centers, mean-removed."""
    shape = path.shape[:-2] + (frames, path.shape[-2] // frames, 2)
    centers = path.reshape(shape).mean(-2)
    return centers - centers.mean(-2, keepdims=True) if isinstance(centers, np.ndarray) \
        else centers - centers.mean(-2, keepdim=True)


def path_error2(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Order-invariant squared error in px^2 per sample: ``min(mean_i |p_i - t_i|^2,
    mean_i |p_i - t_{6-i}|^2)`` on mean-removed (N, 7, 2) paths."""
    pred = pred - pred.mean(1, keepdim=True)
    target = target - target.mean(1, keepdim=True)
    fwd = ((pred - target) ** 2).sum(-1).mean(-1)
    rev = ((pred - target.flip(1)) ** 2).sum(-1).mean(-1)
    return torch.minimum(fwd, rev)


def path_loss(pred: torch.Tensor, target: torch.Tensor, log_sigma: torch.Tensor | None = None,
              sigma_weight: float = 0.05) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, per-sample squared error in px^2). The path term is the order-invariant squared
    error over ``SCALE_PX^2`` (numbers O(1)); with ``log_sigma``, plus ``sigma_weight`` times
    the Gaussian NLL ``0.5 e^2 / sigma^2 + log sigma`` of the detached error (its minimum is
    at sigma = the rms error)."""
    err2 = path_error2(pred, target)
    loss = (err2 / SCALE_PX**2).mean()
    if log_sigma is not None:
        e2 = err2.detach() / SCALE_PX**2
        s = log_sigma - math.log(SCALE_PX)
        loss = loss + sigma_weight * (0.5 * e2 * torch.exp(-2 * s) + s).mean()
    return loss, err2


# --- augmentation: the 8 symmetries of the square, applied to the image AND the path ----------

def augment(blur: np.ndarray, path: np.ndarray, code: int) -> tuple[np.ndarray, np.ndarray]:
    """Apply symmetry ``code`` (0-7: bit 0 transpose, bit 1 flip x, bit 2 flip y) to an image
    ``(..., H, W)`` and its path ``(..., 2)`` (dx, dy) consistently. With sub-frame m showing
    ``S(p + d_m)``, transposing the image swaps (dx, dy), flipping x negates dx, flipping y
    negates dy."""
    path = path.copy()
    if code & 1:
        blur = np.swapaxes(blur, -1, -2)
        path = path[..., ::-1].copy()
    if code & 2:
        blur = blur[..., :, ::-1]
        path[..., 0] *= -1
    if code & 4:
        blur = blur[..., ::-1, :]
        path[..., 1] *= -1
    return np.ascontiguousarray(blur), path


# --- the network -------------------------------------------------------------------------------

def _dft_matrices(n: int = TILE, max_lag: int = MAX_LAG):
    """cos/sin matrices of the full DFT (n x n), the half spectrum (n/2+1 x n) and the inverse
    restricted to lags -max_lag..max_lag, with the Hermitian weights folded in."""
    k = np.arange(n)
    half = np.arange(n // 2 + 1)
    lags = np.arange(-max_lag, max_lag + 1)
    full = 2 * np.pi * np.outer(k, k) / n
    hfull = 2 * np.pi * np.outer(half, k) / n  # (65, n)
    weights = np.where((half == 0) | (half == n // 2), 1.0, 2.0)
    inv_rows = 2 * np.pi * np.outer(lags, k) / n  # (L, n)
    inv_cols = 2 * np.pi * np.outer(lags, half) / n * 1.0  # (L, 65)
    as32 = lambda a: torch.from_numpy(a.astype(np.float32))  # noqa: E731
    return {
        "c": as32(np.cos(full)), "s": as32(np.sin(full)),
        "hc": as32(np.cos(hfull)), "hs": as32(np.sin(hfull)),
        "ic": as32(np.cos(inv_rows)), "is_": as32(np.sin(inv_rows)),
        "wc": as32(np.cos(inv_cols) * weights), "ws": as32(np.sin(inv_cols) * weights),
    }


def _conv(cin: int, cout: int, k: int = 3, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2)


class PathEstimator(nn.Module):
    """Blurry luma tile (N, 1, 128, 128) -> (path (N, 7, 2) px mean-removed, log_sigma (N,))."""

    arch = "path-v1"

    def __init__(self, width: int = 24, ac_width: int = 16, hidden: int = 128,
                 norm: bool = True, smooth: bool = True) -> None:
        super().__init__()
        self.norm = bool(norm)
        self.smooth = bool(smooth)
        w = width
        self.spatial = nn.ModuleList([  # after a pixel-unshuffle(2): 12 channels at 64 x 64
            _conv(12, w, 3, 2),           # 32
            _conv(w, 2 * w, 3, 2),        # 16
            _conv(2 * w, 2 * w),
            _conv(2 * w, 3 * w, 3, 2),    # 8
            _conv(3 * w, 3 * w),
        ])
        a = ac_width
        self.autocorr = nn.ModuleList([
            _conv(3, a // 2),              # 89 (with two coordinate channels)
            _conv(a // 2, a, 3, 2),        # 45
            _conv(a, 2 * a, 3, 2),         # 23
            _conv(2 * a, 3 * a, 3, 2),     # 12
            _conv(3 * a, 2 * a, 3, 2),     # 6
        ])
        # batch norm after every convolution (folded into the convolution by the ONNX export)
        make = (lambda c: nn.BatchNorm2d(c)) if norm else (lambda c: nn.Identity())
        self.spatial_norm = nn.ModuleList([make(m.out_channels) for m in self.spatial])
        self.autocorr_norm = nn.ModuleList([make(m.out_channels) for m in self.autocorr])
        side = 2 * MAX_LAG + 1
        for _ in range(4):
            side = (side + 1) // 2
        self.ac_fc = nn.Linear(2 * a * side * side, hidden)
        self.head = nn.Sequential(nn.Linear(3 * w + hidden, hidden), nn.ReLU(),
                                  nn.Linear(hidden, 2 * NUM_FRAMES + 1))
        for name, value in _dft_matrices().items():
            self.register_buffer(name, value, persistent=False)
        lag = torch.linspace(-1, 1, 2 * MAX_LAG + 1)
        self.register_buffer("coords", torch.stack(torch.meshgrid(lag, lag, indexing="ij")),
                             persistent=False)
        b = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16  # binomial, sigma = 1 px
        self.register_buffer("binomial", torch.outer(b, b)[None, None], persistent=False)
        window = torch.from_numpy(np.hanning(TILE + 2)[1:-1].astype(np.float32))
        self.register_buffer("window", torch.outer(window, window), persistent=False)
        with torch.no_grad():  # start from "no motion, error ~ 5 px"
            self.head[-1].weight.mul_(0.1)
            self.head[-1].bias.zero_()
            self.head[-1].bias[-1] = math.log(5.0)

    def features(self, y: torch.Tensor):
        """(spatial input (N, 3, H, W), autocorrelation map (N, 1, L, L))."""
        y = y - y.mean((2, 3), keepdim=True)
        # gradients of the image smoothed by a binomial (sigma 1 px): sensor noise, 8-bit
        # steps and JPEG are white-ish and would otherwise dominate the gradient energy of a
        # long blur (its zero-lag autocorrelation), hiding the kernel
        ys = F.conv2d(F.pad(y, (2, 2, 2, 2), mode="replicate"), self.binomial) \
            if self.smooth else y
        gx = F.pad(ys[..., :, 1:] - ys[..., :, :-1], (0, 1, 0, 0))
        gy = F.pad(ys[..., 1:, :] - ys[..., :-1, :], (0, 0, 0, 1))
        g = torch.cat([gx, gy], 1)
        grms = torch.sqrt((g * g).mean((1, 2, 3), keepdim=True) + 1e-8) + 2e-3
        ystd = torch.sqrt((y * y).mean((2, 3), keepdim=True) + 1e-8) + 1e-2
        spatial = torch.cat([y / ystd, g / grms], 1)
        gw = g * self.window  # (N, 2, H, W), windowed: the DFT wraps around
        # half spectrum along x: G = C_full g H^T - ... written with real matrices
        gc = gw @ self.hc.t()  # (N, 2, H, 65)
        gs = gw @ self.hs.t()
        re = self.c @ gc - self.s @ gs
        im = self.c @ gs + self.s @ gc
        power = (re * re + im * im).sum(1, keepdim=True)  # (N, 1, H, 65)
        ac = self.ic @ power @ self.wc.t() - self.is_ @ power @ self.ws.t()  # (N, 1, L, L)
        zero = ac[..., MAX_LAG:MAX_LAG + 1, MAX_LAG:MAX_LAG + 1]
        ac = ac / (zero + 1e-8)
        return spatial, ac

    def forward(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.head_output(y)
        path = out[:, : 2 * NUM_FRAMES].reshape(-1, NUM_FRAMES, 2) * SCALE_PX
        path = path - path.mean(1, keepdim=True)
        return path, out[:, -1]

    def head_output(self, y: torch.Tensor) -> torch.Tensor:
        """The head's raw output (N, 15): the trunk (both streams) and the MLP."""
        spatial, ac = self.features(y)
        fused = getattr(self, "fused_first", None)
        if fused is not None:  # the export form: unshuffle + first conv as one strided conv
            x = F.relu(self.spatial_norm[0](fused(spatial)))
            layers = zip(self.spatial[1:], self.spatial_norm[1:])
        else:
            x = F.pixel_unshuffle(spatial, 2)
            layers = zip(self.spatial, self.spatial_norm)
        for conv, norm in layers:
            x = F.relu(norm(conv(x)))
        x = x.mean((2, 3))
        a = torch.cat([ac, self.coords.expand(ac.shape[0], -1, -1, -1)], 1)
        for conv, norm in zip(self.autocorr, self.autocorr_norm):
            a = F.relu(norm(conv(a)))
        a = F.relu(self.ac_fc(a.flatten(1)))
        return self.head(torch.cat([x, a], 1))


def export_form(model: PathEstimator) -> PathEstimator:
    """An equivalent copy for inference (eval mode): the pixel-unshuffle(2) and the first
    3x3 stride-2 convolution become one 6x6 stride-4 convolution on the full-resolution
    features (no Transpose in the ONNX graph). ``W6[o, c, 2ky + i, 2kx + j] =
    W[o, 4c + 2i + j, ky, kx]``, padding 2."""
    import copy

    out = copy.deepcopy(model).cpu().float().eval()
    first = model.spatial[0]
    w = first.weight.detach()  # (cout, 4 * cin, 3, 3)
    cout, cin = w.shape[0], w.shape[1] // 4
    w6 = w.reshape(cout, cin, 2, 2, 3, 3).permute(0, 1, 4, 2, 5, 3).reshape(cout, cin, 6, 6)
    fused = nn.Conv2d(cin, cout, 6, stride=4, padding=2)
    with torch.no_grad():
        fused.weight.copy_(w6)
        fused.bias.copy_(first.bias.detach())
    out.fused_first = fused
    return out


def count_macs(model: nn.Module, size: int = TILE) -> int:
    """Multiply-accumulates of one tile: convolutions, linear layers and the DFT matmuls."""
    macs = 0
    hooks = []

    def conv_hook(mod, inp, out):
        nonlocal macs
        macs += out.numel() * mod.in_channels * mod.kernel_size[0] * mod.kernel_size[1] \
            // mod.groups

    def lin_hook(mod, inp, out):
        nonlocal macs
        macs += out.numel() * mod.in_features

    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(lin_hook))
    with torch.no_grad():
        model(torch.rand(1, 1, size, size))
    for h in hooks:
        h.remove()
    n, half, lag = size, size // 2 + 1, 2 * MAX_LAG + 1
    macs += 2 * (2 * n * n * half + 4 * n * n * half) + 2 * (lag * n * half + lag * half * lag)
    return macs
