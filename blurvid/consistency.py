"""Make the frames explain the photo: project them onto "their average is the input".

The image formation (docs/paper.md, eq. 2) says the blurry photo is the average of the
:data:`NUM_FRAMES` sharp frames in linear light (:func:`reblur`). A generator gets close but not exact
(the reblur check of ``blurvid bench``). A projection adds the residual back:

    r = lin(Y_photo) - mean_k lin(Y_k),     Y_k <- g(lin(Y_k) + P(r))

with ``lin``/``g`` the gamma-2.2 pair of :mod:`blurvid.color`, applied to luma (the chroma of
every frame is the photo's already). ``P`` is the identity for ``exact`` (the frames then
average to the photo, also where a frame is clipped at 0 or 1: what it cannot take goes to the
others; everything the model left out goes back, including the
photo's noise and JPEG artefacts, in every frame) and a Gaussian low-pass for ``lowpass`` (only
the slowly varying part of the residual goes back: brightness and color drifts, not noise).

Contract: ``frames`` float32 ``(7, H, W)`` (or ``(N, 7, H, W)``) and ``photo`` ``(H, W)`` (or
``(N, 1, H, W)``) luma in [0, 1]; returns new frames of the same shape, dtype float32, in [0, 1].
"""

from __future__ import annotations

import cv2
import numpy as np

from blurvid.color import from_linear, to_linear
from blurvid.metrics import psnr

NUM_FRAMES = 7  # the sharp frames hidden in one exposure: the one definition in the package
PROJECTIONS = ("none", "lowpass", "exact")
LOWPASS_SIGMA = 2.0  # pixels


def reblur(frames: np.ndarray) -> np.ndarray:
    """The blurry photo the frames explain: their average in linear light (gamma 2.2).

    ``frames``: ``(F, H, W, 3)`` float in [0, 1] -> ``(H, W, 3)``.
    """
    return from_linear(to_linear(frames).mean(axis=0))


def reblur_psnr(frames: np.ndarray, photo: np.ndarray) -> float:
    """PSNR (dB, RGB) of :func:`reblur` of ``frames`` against ``photo``, both float RGB in
    [0, 1] (the pipeline's :func:`blurvid.pipeline.reblur_psnr` takes any image the API
    takes). The one check that needs no ground truth: sharp frames that really hide in the
    photo must average back to it."""
    return psnr(reblur(frames), photo)


def _lowpass(residual: np.ndarray, sigma: float) -> np.ndarray:
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
    clipped = np.clip(frames, 0.0, 1.0)  # a new array: worked on in place from here
    if mode == "none":
        return clipped
    linear = to_linear(clipped, out=clipped)
    goal = to_linear(target)
    residual = goal - linear.mean(axis=frame_axis, keepdims=True)
    if mode == "lowpass":
        residual = _lowpass(residual.astype(np.float32), sigma)
    linear += residual
    np.clip(linear, 0.0, 1.0, out=linear)
    if mode == "exact":
        _settle_clipped(linear, goal, frame_axis)
    return from_linear(linear, out=linear)


def _settle_clipped(linear: np.ndarray, goal: np.ndarray, frame_axis: int,
                    rounds: int = 4) -> None:
    """In place: where clipping to [0, 1] lost part of the residual, hand what is left to the
    frames that can still move that way. Only the (few) pixels that need it are touched."""
    count = linear.shape[frame_axis]
    left = np.squeeze(goal - linear.mean(axis=frame_axis, keepdims=True), axis=frame_axis)
    needs = np.abs(left) > 1e-6
    if not needs.any():
        return
    per_pixel = np.moveaxis(linear, frame_axis, -1)  # a view: (..., F)
    values = per_pixel[needs]  # (K, F)
    wanted = np.squeeze(goal, axis=frame_axis)[needs]
    for _ in range(rounds):
        rest = wanted - values.mean(axis=-1)
        free = np.where(rest[:, None] > 0, values < 1.0, values > 0.0)
        movable = np.maximum(free.sum(axis=-1), 1)
        values = np.clip(values + free * (rest * count / movable)[:, None], 0.0, 1.0)
    per_pixel[needs] = values
