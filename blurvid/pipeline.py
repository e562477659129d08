"""The inference pipeline: a photo in, 7 sharp RGB frames out.

RGB -> YCbCr (BT.601 full range, :mod:`blurvid.color`); the generator turns Y into 7 luma
frames; the input's Cb/Cr are put back on every frame. One :class:`Extractor` holds one ONNX
Runtime session (built once) and is reused for every image.

Contract of :meth:`Extractor.extract`: ``image`` is a path or an ``(H, W, 3)`` / ``(H, W)``
array (float in [0, 1], or uint8 / uint16); the result is a float32 ``(7, H, W, 3)`` array in
[0, 1], the frames in temporal order (forward or reversed: a blurred photo does not say which).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from blurvid.color import from_linear, rgb_to_ycbcr, to_linear, merge_y
from blurvid.errors import InputError
from blurvid.metrics import psnr

NUM_FRAMES = 7


def as_rgb_float(image: np.ndarray) -> np.ndarray:
    """uint8 / uint16 / float ``(H, W)``, ``(H, W, 1|3|4)`` -> float32 ``(H, W, 3)`` in [0, 1]."""
    if not isinstance(image, np.ndarray):
        raise InputError(f"expected a numpy array or a path, got {type(image).__name__}")
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4) or min(image.shape[:2]) < 1:
        raise InputError(f"expected an image of shape (H, W), (H, W, 3) or (H, W, 4), got {image.shape}")
    if image.dtype == np.uint8:
        out = image.astype(np.float32) / 255.0
    elif image.dtype == np.uint16:
        out = image.astype(np.float32) / 65535.0
    elif np.issubdtype(image.dtype, np.floating):
        if not np.isfinite(image).all():
            raise InputError("the image contains NaN or infinite values")
        out = np.clip(image.astype(np.float32), 0.0, 1.0)
    else:
        raise InputError(f"unsupported image dtype {image.dtype}; use uint8, uint16 or float")
    if out.shape[2] == 1:
        out = np.repeat(out, 3, axis=2)
    return np.ascontiguousarray(out[..., :3])


def reblur(frames: np.ndarray) -> np.ndarray:
    """The blurry photo the frames explain: their average in linear light (gamma 2.2).

    ``frames``: ``(F, H, W, 3)`` float in [0, 1] -> ``(H, W, 3)``.
    """
    return from_linear(to_linear(frames).mean(axis=0))


def reblur_psnr(frames: np.ndarray, image: np.ndarray) -> float:
    """PSNR (dB, RGB) of :func:`reblur` of ``frames`` against the input ``image``.

    The one check that needs no ground truth: sharp frames that really hide in the photo must
    average back to it.
    """
    return psnr(reblur(frames), image)


@dataclass
class Extractor:
    """Holds one generator session and turns images into frames.

    ``model``: path to a blurvid ONNX generator (default: the bundled model); ``device``:
    ``auto``, ``cpu`` or ``cuda``; ``threads``: ONNX Runtime intra-op threads (None: default).
    """

    model: str | Path | None = None
    device: str = "auto"
    threads: int | None = None
    session: object = field(init=False, repr=False)

    def __post_init__(self) -> None:
        from blurvid.runtime import GeneratorSession

        self.session = GeneratorSession(self.model, device=self.device, threads=self.threads)

    def extract(self, image) -> np.ndarray:
        """One image (path or array) -> ``(7, H, W, 3)`` float32 RGB frames in [0, 1]."""
        return self._extract_rgb(_load_rgb(image))

    def interpolate(self, image, levels: int = 2, method: str = "recursive", progress=None):
        """One image (path or array) -> a :class:`blurvid.interpolation.Clip` of
        ``7 * 6^(levels - 1)`` frames with their timestamps (see :mod:`blurvid.interpolation`).
        ``progress``: called after each model run."""
        from blurvid.interpolation import interpolate_frames

        return interpolate_frames(self._extract_rgb, _load_rgb(image), levels, method, progress)

    def _extract_rgb(self, rgb: np.ndarray) -> np.ndarray:
        ycbcr = rgb_to_ycbcr(rgb)
        luma = self.session.run(np.ascontiguousarray(ycbcr[..., 0]))
        luma = np.clip(luma, 0.0, 1.0)
        return merge_y(luma, ycbcr).astype(np.float32)


def _load_rgb(image) -> np.ndarray:
    if isinstance(image, (str, Path)):
        from blurvid.io import read_image

        image = read_image(image).rgb
    return as_rgb_float(image)


_default: dict[tuple, Extractor] = {}


def get_extractor(model=None, device: str = "auto", threads: int | None = None) -> Extractor:
    """A cached :class:`Extractor` per (model, device, threads): the session is built once."""
    key = (str(model) if model is not None else None, device, threads)
    if key not in _default:
        _default[key] = Extractor(model, device=device, threads=threads)
    return _default[key]


def extract(image, *, model=None, device: str = "auto", threads: int | None = None) -> np.ndarray:
    """Turn one blurry photo into its 7 sharp frames.

    ``image``: a file path or an array ``(H, W[, 3|4])`` (uint8, uint16 or float in [0, 1]).
    Returns float32 ``(7, H, W, 3)`` RGB frames in [0, 1], in temporal order.
    """
    return get_extractor(model, device, threads).extract(image)


def interpolate(image, levels: int = 2, *, method: str = "recursive", model=None,
                device: str = "auto", threads: int | None = None):
    """More frames than 7: a :class:`blurvid.interpolation.Clip` (``frames`` float32
    ``(N, H, W, 3)``, ``times`` within the exposure [0, 1]) for ``levels`` (1: the 7 frames,
    2: 42 frames, L: 7 * 6^(L-1)); ``method``: ``recursive`` (the paper's), ``flow`` or
    ``blend``. See :mod:`blurvid.interpolation` for the exact timeline."""
    return get_extractor(model, device, threads).interpolate(image, levels, method)
