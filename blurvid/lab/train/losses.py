"""Training losses (PyTorch)."""

from __future__ import annotations

import torch


def order_invariant_mse(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor,
                                                                            torch.Tensor]:
    """Content loss (seed paper eq. 4) made order-invariant (Jin et al. 2018).

    ``pred``, ``target``: ``N x F x H x W`` frames in temporal order. Per sample, the MSE of the
    better of the forward and the reversed order of ``pred`` (forward on a tie). Returns
    ``(loss, oriented)``: the mean of those MSEs over the batch, and ``pred`` with each sample
    in the order it chose (the other losses compare these frames with ``target``).
    """
    if pred.shape != target.shape:
        raise ValueError(f"shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")
    forward = (pred - target).pow(2).flatten(1).mean(1)
    backward = (pred.flip(1) - target).pow(2).flatten(1).mean(1)
    oriented = torch.where((backward < forward)[:, None, None, None], pred.flip(1), pred)
    return torch.minimum(forward, backward).mean(), oriented
