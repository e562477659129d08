"""The contiguous blurry loss (CBL, seed paper eqs. 5-10): a contextual loss with space.

It is the contextual loss of Mechrez et al. (ECCV 2018) with their spatially-aware variant
(see docs/paper.md, "The losses", for how the garbled equations are read). For two sets of N
feature vectors X = {x_i} (generated) and Y = {y_j} (target) with pixel coordinates:

1. center both by the mean of Y and L2-normalize; d_ij = 1 - cos(x_i, y_j) (cosine distance);
2. d~_ij = d_ij / (min_k d_ik + eps), eps = 1e-5 (eq. 5: relative to x_i's nearest y);
3. w_ij = exp((1 - d~_ij) / h), bandwidth h > 0 (eq. 6; h = 0.5 by default);
4. CX_ij = w_ij / sum_k w_ik (eq. 7);
5. the same three steps on the Euclidean distances of the coordinates (normalized to [0, 1])
   give CX^s_ij; the combined similarity is (1 - s) CX_ij + s CX^s_ij with spatial weight s
   (eqs. 9-10 read as Mechrez's variant; s = 0 ignores positions, s > 0 makes a shift cost);
6. CX(X, Y) = (1/N) sum_j max_i CX_ij (eq. 8); L_CBL = -log(CX(X, Y)).

Properties (tested): CX(X, X) = 1 and the loss is ~0 for distinct features; with s = 0 the
loss ignores a permutation of positions; with s > 0 a shift costs; gradients are finite.

Features: ``patch_features`` cuts k x k patches of a frame at a random subset of at most
``max_features`` positions, the same positions in both images (the N x N matrices are the
memory cost: 1024 positions = 4 MB per frame pair); the discriminator's feature maps
(:meth:`blurvid.lab.train.discriminator.Discriminator.feature_maps`) can be sampled the same way.
No pretrained network is used (none can be downloaded here).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

EPS = 1e-5


def _relative_similarity(dist: torch.Tensor, bandwidth: float) -> torch.Tensor:
    """Steps 2-4 on a (B, N, M) distance matrix: normalize by the row minimum, exponentiate,
    normalize rows to sum 1."""
    relative = dist / (dist.min(dim=2, keepdim=True).values + EPS)
    # exp((1 - d~) / h) / sum_k exp((1 - d~_k) / h) is a soft-max over k of -d~ / h.
    return torch.softmax(-relative / bandwidth, dim=2)


def contextual_similarity(x: torch.Tensor, y: torch.Tensor, coords_x: torch.Tensor | None = None,
                          coords_y: torch.Tensor | None = None, bandwidth: float = 0.5,
                          spatial_weight: float = 0.0) -> torch.Tensor:
    """CX(X, Y) per batch item (see the module docstring).

    ``x``: (B, N, C) and ``y``: (B, M, C) features; ``coords_x``: (B, N, 2) and ``coords_y``:
    (B, M, 2) positions in [0, 1] (needed when ``spatial_weight > 0``), or (1, N, 2) and
    (1, M, 2) positions shared by the whole batch (the spatial similarity is then computed once
    and broadcast: the same result, B times less work). Returns (B,) in (0, 1].
    """
    if x.dim() != 3 or y.dim() != 3 or x.shape[0] != y.shape[0] or x.shape[2] != y.shape[2]:
        raise ValueError(f"expected features (B, N, C) and (B, M, C), got {tuple(x.shape)} "
                         f"and {tuple(y.shape)}")
    if bandwidth <= 0:
        raise ValueError(f"bandwidth must be positive, got {bandwidth}")
    if not 0.0 <= spatial_weight <= 1.0:
        raise ValueError(f"spatial_weight must be in [0, 1], got {spatial_weight}")
    mu = y.mean(dim=1, keepdim=True)
    xn = F.normalize(x - mu, dim=2)
    yn = F.normalize(y - mu, dim=2)
    dist = (1.0 - torch.bmm(xn, yn.transpose(1, 2))).clamp_min(0.0)  # (B, N, M)
    cx = _relative_similarity(dist, bandwidth)
    if spatial_weight > 0:
        if coords_x is None or coords_y is None:
            raise ValueError("spatial_weight > 0 needs coords_x and coords_y")
        if coords_x.shape[0] != coords_y.shape[0] or coords_x.shape[0] not in (1, x.shape[0]):
            raise ValueError(f"coordinates (B or 1, N, 2) expected, got {tuple(coords_x.shape)} "
                             f"and {tuple(coords_y.shape)} for a batch of {x.shape[0]}")
        spatial = _relative_similarity(torch.cdist(coords_x, coords_y), bandwidth)
        cx = (1.0 - spatial_weight) * cx + spatial_weight * spatial
    return cx.max(dim=1).values.mean(dim=1)  # max over i, mean over j


def contextual_loss(x, y, coords_x=None, coords_y=None, bandwidth: float = 0.5,
                    spatial_weight: float = 0.0) -> torch.Tensor:
    """-log CX(X, Y), mean over the batch."""
    cx = contextual_similarity(x, y, coords_x, coords_y, bandwidth, spatial_weight)
    return -torch.log(cx.clamp_min(1e-12)).mean()


def patch_features(a: torch.Tensor, b: torch.Tensor, patch: int = 5, stride: int = 2,
                   max_features: int = 1024, generator: torch.Generator | None = None):
    """Patches of two same-size image batches at the same random positions.

    ``a``, ``b``: (B, C, H, W). Returns ``(fa, fb, coords)``: (B, N, C * patch^2) features of
    each and (B, N, 2) patch centers normalized to [0, 1], N <= ``max_features``.
    """
    if a.shape != b.shape or a.dim() != 4:
        raise ValueError(f"expected two (B, C, H, W) batches of one shape, got {tuple(a.shape)} "
                         f"and {tuple(b.shape)}")
    h, w = a.shape[-2:]
    if h < patch or w < patch:
        raise ValueError(f"images of {h}x{w} are smaller than the {patch}x{patch} patches")
    pa = F.unfold(a, patch, stride=stride)  # (B, C * p * p, L)
    pb = F.unfold(b, patch, stride=stride)
    rows = (h - patch) // stride + 1
    cols = (w - patch) // stride + 1
    count = pa.shape[-1]
    keep = torch.randperm(count, generator=generator, device="cpu")[:max_features].to(a.device)
    r = (keep // cols).float() * stride + (patch - 1) / 2
    c = (keep % cols).float() * stride + (patch - 1) / 2
    coords = torch.stack([r / max(h - 1, 1), c / max(w - 1, 1)], dim=-1)
    coords = coords.unsqueeze(0).expand(a.shape[0], -1, -1)
    assert rows * cols == count
    return (pa[:, :, keep].transpose(1, 2), pb[:, :, keep].transpose(1, 2), coords)


def contiguous_blurry_loss(pred: torch.Tensor, target: torch.Tensor, patch: int = 5,
                           stride: int = 2, max_features: int = 1024, bandwidth: float = 0.5,
                           spatial_weight: float = 0.1,
                           generator: torch.Generator | None = None) -> torch.Tensor:
    """L_CBL between generated and target frames, frame by frame, on luma patches.

    ``pred``, ``target``: (B, F, H, W) frames in the same temporal order (the caller chooses
    the order, e.g. the one the order-invariant content loss picked). Returns the mean over
    batch and frames.
    """
    if pred.shape != target.shape:
        raise ValueError(f"shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")
    b, f, h, w = pred.shape
    fx, fy, coords = patch_features(pred.reshape(b * f, 1, h, w), target.reshape(b * f, 1, h, w),
                                    patch, stride, max_features, generator)
    shared = coords[:1]  # the same positions in every frame: one spatial similarity for all
    return contextual_loss(fx, fy, shared, shared, bandwidth, spatial_weight)
