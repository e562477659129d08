"""Color transforms, the one definition used by training, inference and metrics.

Standard: **ITU-R BT.601, full range** (the JPEG/JFIF definition). On values in [0, 1]:

    Y  =  0.299    R + 0.587    G + 0.114    B
    Cb = -0.168736 R - 0.331264 G + 0.5      B + 0.5
    Cr =  0.5      R - 0.418688 G - 0.081312 B + 0.5

The model works on Y of the gamma-encoded (display) image, the way the seed paper does; the
input's Cb/Cr are put back on every output frame.

Light: the synthesizer averages sub-frames in *linear* light using a pure power-law camera
response with gamma 2.2 (:func:`to_linear`, :func:`from_linear`), the convention of the GoPro
dataset's ``blur_gamma`` images.

Contract of every function here: float arrays (float32 or float64, dtype preserved) of shape
``(..., 3)`` (channels last) with values nominally in [0, 1]; no clipping unless stated.
"""

from __future__ import annotations

import numpy as np

STANDARD = "BT.601 full range (JPEG)"
GAMMA = 2.2

_RGB_TO_YCBCR = np.array(
    [
        [0.299, 0.587, 0.114],
        [-0.168736, -0.331264, 0.5],
        [0.5, -0.418688, -0.081312],
    ]
)
_YCBCR_TO_RGB = np.linalg.inv(_RGB_TO_YCBCR)
_OFFSET = np.array([0.0, 0.5, 0.5])


def _check_channels_last(image: np.ndarray, name: str) -> None:
    if not isinstance(image, np.ndarray) or not np.issubdtype(image.dtype, np.floating):
        raise TypeError(f"{name} must be a float numpy array, got {type(image).__name__}"
                        f"{'' if not isinstance(image, np.ndarray) else ' of ' + str(image.dtype)}")
    if image.ndim < 1 or image.shape[-1] != 3:
        raise ValueError(f"{name} must have 3 channels in the last axis, got shape {image.shape}")


def rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """RGB (..., 3) in [0, 1] -> YCbCr (..., 3), BT.601 full range, Cb/Cr centerd on 0.5."""
    _check_channels_last(rgb, "rgb")
    m = _RGB_TO_YCBCR.astype(rgb.dtype)
    return rgb @ m.T + _OFFSET.astype(rgb.dtype)


def ycbcr_to_rgb(ycbcr: np.ndarray) -> np.ndarray:
    """YCbCr (..., 3), BT.601 full range -> RGB (..., 3). Not clipped: callers clip to [0, 1]."""
    _check_channels_last(ycbcr, "ycbcr")
    m = _YCBCR_TO_RGB.astype(ycbcr.dtype)
    return (ycbcr - _OFFSET.astype(ycbcr.dtype)) @ m.T


def rgb_to_y(rgb: np.ndarray) -> np.ndarray:
    """Luma only: RGB (..., 3) -> Y (...), same standard as :func:`rgb_to_ycbcr`."""
    _check_channels_last(rgb, "rgb")
    return rgb @ _RGB_TO_YCBCR[0].astype(rgb.dtype)


def merge_y(y: np.ndarray, ycbcr: np.ndarray) -> np.ndarray:
    """Put luma planes on the chroma of ``ycbcr`` and return RGB clipped to [0, 1].

    ``y``: (F, H, W) or (H, W) luma frames; ``ycbcr``: (H, W, 3) of the source image.
    Returns (F, H, W, 3) (or (H, W, 3)) RGB with the source's Cb/Cr on every frame.
    """
    _check_channels_last(ycbcr, "ycbcr")
    if y.shape[-2:] != ycbcr.shape[:2]:
        raise ValueError(f"luma {y.shape} and chroma {ycbcr.shape} sizes differ")
    if y.dtype == np.float32 and ycbcr.dtype == np.float32 and ycbcr.ndim == 3 \
            and y.ndim in (2, 3):
        return _merge_y_float32(y, ycbcr)
    chroma = np.broadcast_to(ycbcr[..., 1:], y.shape + (2,))
    stacked = np.concatenate([y[..., None].astype(ycbcr.dtype), chroma], axis=-1)
    return np.clip(ycbcr_to_rgb(stacked), 0.0, 1.0)


# YCbCr -> RGB as one affine 3x4 matrix (the offset folded in), for cv2.transform.
_YCBCR_TO_RGB_AFFINE32 = np.hstack(
    [_YCBCR_TO_RGB, (-_YCBCR_TO_RGB @ _OFFSET)[:, None]]).astype(np.float32)


def _merge_y_float32(y: np.ndarray, ycbcr: np.ndarray) -> np.ndarray:
    """:func:`merge_y` for float32 inputs with OpenCV (SIMD, threads): about 10x faster than
    the numpy path at 1280x720 x 7 frames, equal to it within float32 rounding (~1e-7)."""
    import cv2

    single = y.ndim == 2
    frames = y[None] if single else y
    cb = np.ascontiguousarray(ycbcr[..., 1])
    cr = np.ascontiguousarray(ycbcr[..., 2])
    out = np.empty(frames.shape + (3,), np.float32)
    for k, plane in enumerate(frames):
        stacked = cv2.merge([np.ascontiguousarray(plane), cb, cr])
        np.clip(cv2.transform(stacked, _YCBCR_TO_RGB_AFFINE32).reshape(stacked.shape), 0.0, 1.0,
                out=out[k])
    return out[0] if single else out


def to_linear(encoded: np.ndarray, gamma: float = GAMMA, out: np.ndarray | None = None
              ) -> np.ndarray:
    """Display-encoded values in [0, 1] -> linear light (pure power law). Negative input -> 0.
    ``out``: an array of the same shape to write into (may be ``encoded`` itself)."""
    out = np.clip(encoded, 0.0, None, out=out)
    return np.power(out, gamma, out=out)


def from_linear(linear: np.ndarray, gamma: float = GAMMA, out: np.ndarray | None = None
                ) -> np.ndarray:
    """Linear light -> display-encoded values (inverse of :func:`to_linear`); ``out`` as there."""
    out = np.clip(linear, 0.0, None, out=out)
    return np.power(out, 1.0 / gamma, out=out)
