"""Quality metrics on luma frames: PSNR, and the order-invariant per-frame evaluation.

Contract: arrays of float values in [0, 1] (data range 1). ``frames`` and ``truth`` are
``(F, H, W)`` stacks of the F frames of one sample, in temporal order.
"""

from __future__ import annotations

import numpy as np


def mse(a: np.ndarray, b: np.ndarray) -> float:
    """Mean squared error of two same-shape arrays (computed in float64)."""
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    d = a.astype(np.float64) - b.astype(np.float64)
    return float(np.mean(d * d))


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB; ``inf`` for identical arrays."""
    err = mse(a, b)
    if err == 0:
        return float("inf")
    return float(10 * np.log10(data_range**2 / err))


def frame_psnrs(frames: np.ndarray, truth: np.ndarray, order_invariant: bool = True):
    """Per-frame PSNRs of one sample and whether the reversed order was used.

    With ``order_invariant``, the sample is scored in forward or reversed order, whichever has
    the lower total MSE (the direction of a motion blur is ambiguous, see NOTES.md).
    ``frames`` may also be a single ``(H, W)`` image (the INPUT row: blur against every frame).
    """
    if frames.ndim == truth.ndim - 1:
        frames = np.broadcast_to(frames, truth.shape)
    if frames.shape != truth.shape:
        raise ValueError(f"shapes differ: {frames.shape} vs {truth.shape}")
    forward = [mse(f, t) for f, t in zip(frames, truth)]
    reversed_ = [mse(f, t) for f, t in zip(frames[::-1], truth)]
    use_reversed = order_invariant and sum(reversed_) < sum(forward)
    errs = reversed_ if use_reversed else forward
    return [float("inf") if e == 0 else float(10 * np.log10(1 / e)) for e in errs], use_reversed
