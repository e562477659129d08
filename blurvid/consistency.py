"""Make the frames explain the photo: project them onto "their average is the input".

The image formation (``../shared/paper/NOTES.md``, :mod:`blurvid.data.synth`) says the blurry
photo is the average of the sharp frames in linear light. A generator gets close but not exact
(the reblur check of ``blurvid bench``). A projection adds the residual back:

    r = lin(Y_photo) - mean_k lin(Y_k),     Y_k <- g(lin(Y_k) + P(r))

with ``lin``/``g`` the gamma-2.2 pair of :mod:`blurvid.color`, applied to luma (the chroma of
every frame is the photo's already). ``P`` is the identity for ``exact`` (the frames then
average to the photo, also where a frame is clipped at 0 or 1: what it cannot take goes to the
others; everything the model left out goes back, including the
photo's noise and JPEG artefacts, in every frame) and a Gaussian low-pass for ``lowpass`` (only
the slowly varying part of the residual goes back: brightness and colour drifts, not noise).

Contract: ``frames`` float32 ``(7, H, W)`` (or ``(N, 7, H, W)``) and ``photo`` ``(H, W)`` (or
``(N, 1, H, W)``) luma in [0, 1]; returns new frames of the same shape, dtype float32, in [0, 1].
"""

from __future__ import annotations

import numpy as np

from blurvid.color import from_linear, to_linear

PROJECTIONS = ("none", "lowpass", "exact")
LOWPASS_SIGMA = 2.0  # pixels


def _lowpass(residual: np.ndarray, sigma: float) -> np.ndarray:
    import cv2

    flat = residual.reshape(-1, *residual.shape[-2:])
    out = np.stack([cv2.GaussianBlur(plane, (0, 0), sigma, borderType=cv2.BORDER_REFLECT101)
                    for plane in flat])
    return out.reshape(residual.shape)


def project(frames: np.ndarray, photo: np.ndarray, mode: str = "exact",
            sigma: float = LOWPASS_SIGMA) -> np.ndarray:
    """Frames whose linear-light mean is the photo (``exact``) or agrees with it in the low
    frequencies (``lowpass``, Gaussian ``sigma`` px); ``none`` returns the frames clipped."""
    if mode not in PROJECTIONS:
        raise ValueError(f"projection must be one of {', '.join(PROJECTIONS)}, got {mode!r}")
    frames = np.asarray(frames, dtype=np.float32)
    photo = np.asarray(photo, dtype=np.float32)
    if frames.ndim == 3 and photo.ndim == 2:
        frame_axis, target = 0, photo[None]
    elif frames.ndim == 4 and photo.ndim == 4 and photo.shape[1] == 1:
        frame_axis, target = 1, photo
    else:
        raise ValueError(f"expected frames (F, H, W) with photo (H, W), or frames (N, F, H, W) "
                         f"with photo (N, 1, H, W); got {frames.shape} and {photo.shape}")
    if frames.shape[-2:] != photo.shape[-2:] or (frames.ndim == 4 and
                                                  frames.shape[0] != photo.shape[0]):
        raise ValueError(f"frames {frames.shape} and photo {photo.shape} do not match")
    clipped = np.clip(frames, 0.0, 1.0)
    if mode == "none":
        return clipped
    linear = to_linear(clipped)
    goal = to_linear(np.clip(target, 0.0, 1.0))
    residual = goal - linear.mean(axis=frame_axis, keepdims=True)
    if mode == "lowpass":
        residual = _lowpass(residual.astype(np.float32), sigma)
    linear = np.clip(linear + residual, 0.0, 1.0)
    if mode == "exact":
        # Clipping to [0, 1] loses part of the residual where a frame hits 0 or 1: hand what is
        # left to the frames that can still move that way (a few rounds settle it).
        count = frames.shape[frame_axis]
        for _ in range(4):
            residual = goal - linear.mean(axis=frame_axis, keepdims=True)
            free = np.where(residual > 0, linear < 1.0, linear > 0.0)
            movable = free.sum(axis=frame_axis, keepdims=True)
            linear = np.clip(linear + free * residual * count / np.maximum(movable, 1), 0.0, 1.0)
    return from_linear(linear).astype(np.float32)
