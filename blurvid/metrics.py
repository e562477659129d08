"""Quality metrics on luma frames: PSNR, SSIM, and the order-invariant per-frame evaluation.

Contract: arrays of float values in [0, 1] (data range 1). ``frames`` and ``truth`` are
``(F, H, W)`` stacks of the F frames of one sample, in temporal order.
"""

from __future__ import annotations

import cv2
import numpy as np

from blurvid.color import rgb_to_y


def mse(a: np.ndarray, b: np.ndarray) -> float:
    """Mean squared error of two same-shape arrays (computed in float64)."""
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    if a.size == 0:
        raise ValueError("mse of empty arrays")
    # In chunks of the first axis: float64 copies of a 24-megapixel photo would take 1.7 GB.
    step = max(1, (1 << 22) // max(1, a[0].size if a.ndim > 1 else 1))
    total = 0.0
    for i in range(0, a.shape[0] if a.ndim else 1, step):
        d = (a[i : i + step] if a.ndim else a).astype(np.float64) - (
            b[i : i + step] if b.ndim else b).astype(np.float64)
        total += float(np.sum(d * d))
    return total / a.size


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB; ``inf`` for identical arrays."""
    return psnr_of_mse(mse(a, b), data_range)


def psnr_of_mse(err: float, data_range: float = 1.0) -> float:
    """The PSNR in dB of a mean squared error (``inf`` for 0): for errors accumulated strip by
    strip, where the two images are never whole in memory."""
    if err == 0:
        return float("inf")
    return float(10 * np.log10(data_range**2 / err))


def frame_psnrs(frames: np.ndarray, truth: np.ndarray, order_invariant: bool = True):
    """Per-frame PSNRs of one sample and whether the reversed order was used.

    With ``order_invariant``, the sample is scored in forward or reversed order, whichever has
    the lower total MSE (the direction of a motion blur is ambiguous, see docs/paper.md).
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


_SSIM_WIN = 11  # Gaussian window side (scikit-image: 2 * int(3.5 * sigma + 0.5) + 1)
_SSIM_SIGMA = 1.5


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 1.0) -> float:
    """Mean structural similarity of two same-shape 2-D images (Wang et al. 2004).

    Gaussian window 11x11 with sigma 1.5, K1 = 0.01, K2 = 0.03, population (not sample)
    covariances, averaged over the *valid* region (5 pixels cropped on every side), computed in
    float64. This equals scikit-image's ``structural_similarity(a, b, data_range=data_range,
    gaussian_weights=True, sigma=1.5, use_sample_covariance=False)``. 1.0 for identical images;
    images must be at least 11x11.
    """
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    if a.ndim != 2:
        raise ValueError(f"ssim needs 2-D (H, W) images, got shape {a.shape}")
    if min(a.shape) < _SSIM_WIN:
        raise ValueError(f"ssim needs images of at least {_SSIM_WIN}x{_SSIM_WIN}, got {a.shape}")
    if not data_range > 0:
        raise ValueError(f"data_range must be positive, got {data_range}")
    x = np.ascontiguousarray(a, dtype=np.float64)
    y = np.ascontiguousarray(b, dtype=np.float64)

    def blur(img: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(img, (_SSIM_WIN, _SSIM_WIN), _SSIM_SIGMA, sigmaY=_SSIM_SIGMA,
                                borderType=cv2.BORDER_REFLECT)

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x * mu_x
    var_y = blur(y * y) - mu_y * mu_y
    cov = blur(x * y) - mu_x * mu_y
    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / (
        (mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2))
    pad = (_SSIM_WIN - 1) // 2
    return float(s[pad:-pad, pad:-pad].mean())



def ssim_image(a: np.ndarray, b: np.ndarray, data_range: float = 1.0) -> float:
    """:func:`ssim` of a 2-D image, or the mean over channels of ``(H, W, C)`` images."""
    if a.ndim == 3:
        return float(np.mean([ssim(a[..., c], b[..., c], data_range) for c in range(a.shape[2])]))
    return ssim(a, b, data_range)


def score_sample(pred: np.ndarray, truth: np.ndarray, blur: np.ndarray) -> dict:
    """Order-invariant scores of one sample and its INPUT row.

    ``pred``, ``truth``: ``(F, H, W)`` (luma) or ``(F, H, W, 3)`` (RGB) frames in [0, 1];
    ``blur``: ``(H, W)`` or ``(H, W, 3)``. PSNR decides the order (forward or reversed, see
    :func:`frame_psnrs`) and SSIM uses the same one. Returns ``psnr``, ``ssim`` (per frame),
    ``reversed`` and ``input_psnr``, ``input_ssim`` (the blur against each frame).
    """
    psnrs, rev = frame_psnrs(pred, truth)
    ordered = pred[::-1] if rev else pred
    return {
        "psnr": psnrs,
        "ssim": [ssim_image(f, t) for f, t in zip(ordered, truth)],
        "reversed": bool(rev),
        "input_psnr": frame_psnrs(blur, truth)[0],
        "input_ssim": [ssim_image(blur, t) for t in truth],
    }


def summarize(rows: list[dict]) -> dict:
    """Mean over samples of :func:`score_sample` rows.

    Returns ``psnr_frames``, ``ssim_frames`` (per frame index), ``psnr_mean``,
    ``psnr_middle``, ``ssim_mean``, ``ssim_middle``, the same for INPUT (``input_frames``,
    ``input_mean``, ``input_middle``, ``input_ssim_frames``, ``input_ssim_mean``,
    ``input_ssim_middle``), ``reversed_share`` (how often the reversed order won) and
    ``samples``.
    """
    if not rows:
        raise ValueError("nothing to summarize: no samples")

    def block(key: str, frames_key: str, prefix: str) -> dict:
        per_frame = np.mean([r[key] for r in rows], axis=0)
        middle = len(per_frame) // 2
        return {
            frames_key: [round(float(v), 4) for v in per_frame],
            f"{prefix}_mean": round(float(per_frame.mean()), 4),
            f"{prefix}_middle": round(float(per_frame[middle]), 4),
        }

    return {
        **block("psnr", "psnr_frames", "psnr"),
        **block("ssim", "ssim_frames", "ssim"),
        **block("input_psnr", "input_frames", "input"),
        **block("input_ssim", "input_ssim_frames", "input_ssim"),
        "reversed_share": round(sum(r["reversed"] for r in rows) / len(rows), 4),
        "samples": len(rows),
    }


def score_samples(predict, samples, batch_size: int = 8) -> dict:
    """Score a luma generator on ``(blur, frames)`` samples with ground truth: :func:`summarize`
    of :func:`score_sample` on Y (:mod:`blurvid.color`).

    ``predict``: a callable taking float32 luma ``(N, 1, H, W)`` in [0, 1] and returning
    ``(N, 7, H, W)`` luma frames (clipped here to [0, 1]); ``samples``: a sequence of
    ``(blur (H, W, 3), frames (7, H, W, 3))`` RGB float arrays in [0, 1] (the synthesizer's
    output).
    """
    if len(samples) == 0:
        raise ValueError("score_samples needs at least one sample")
    rows = []
    for start in range(0, len(samples), batch_size):
        chunk = samples[start : start + batch_size]
        blur = np.stack([rgb_to_y(b) for b, _ in chunk]).astype(np.float32)
        truth = np.stack([rgb_to_y(f) for _, f in chunk]).astype(np.float32)
        pred = np.clip(np.asarray(predict(blur[:, None])), 0.0, 1.0)
        if pred.shape != truth.shape:
            raise ValueError(f"predict returned {pred.shape}, expected {truth.shape}")
        rows.extend(score_sample(p, t, b) for p, t, b in zip(pred, truth, blur))
    return summarize(rows)
