"""Self-ensemble: run the generator on flipped and transposed copies of the photo and average.

The generator should not care which way up a photo is: a blur along a line flipped is still a
blur along a line. Its answers on the 8 flips/transposes of a photo (the dihedral group of
the square) differ a little, and their average is better than any one of them (the
"self-ensemble" of EDSR/NAFNet). One twist here: a blurred photo does not say which way time
ran, so each copy's frames may come out in the other order; every copy is put in the order of
the plain run (:func:`align_order`) before averaging.

Cost: ``k`` generator runs for ``k`` transforms. Measured gain on synthetic validation
(docs/model-card.md, "Self-ensemble"): about +0.3 dB mean PSNR with all 8.

Contract: :func:`ensemble_run` wraps ``run``, a function from float32 luma ``(H, W)`` or
``(N, 1, H, W)`` to frames ``(F, H, W)`` or ``(N, F, H, W)`` (the frame axis is third from
last), into one of the same contract.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

ENSEMBLE_SIZES = (1, 2, 4, 8)


def _flip(a: np.ndarray, rows: bool, cols: bool) -> np.ndarray:
    return a[..., ::-1 if rows else 1, ::-1 if cols else 1]


def dihedral(a: np.ndarray, index: int) -> np.ndarray:
    """Transform ``index`` (0..7) of the last two axes: bit 0 flips columns, bit 1 flips
    rows, bit 2 transposes after the flips. ``0`` is the identity; the first 2, 4 and 8
    indices are the ensembles of :data:`ENSEMBLE_SIZES`."""
    if not 0 <= index < 8:
        raise ValueError(f"transform index must be in 0..7, got {index}")
    out = _flip(a, rows=bool(index & 2), cols=bool(index & 1))
    return np.swapaxes(out, -1, -2) if index & 4 else out


def dihedral_inverse(a: np.ndarray, index: int) -> np.ndarray:
    """Undo :func:`dihedral` ``index``: ``dihedral_inverse(dihedral(a, i), i)`` is ``a``."""
    if not 0 <= index < 8:
        raise ValueError(f"transform index must be in 0..7, got {index}")
    if index & 4:
        a = np.swapaxes(a, -1, -2)
    return _flip(a, rows=bool(index & 2), cols=bool(index & 1))


def align_order(frames: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``frames`` ``(..., F, H, W)`` in the order, forward or reversed along the frame axis,
    closer (mean squared error) to ``reference`` of the same shape; each sample of a batch
    on its own."""
    if frames.shape != reference.shape or frames.ndim < 3:
        raise ValueError(f"frames {frames.shape} and reference {reference.shape} must be the "
                         "same (..., F, H, W) shape")
    flipped = frames[..., ::-1, :, :]
    keep = np.mean((frames - reference) ** 2, axis=(-3, -2, -1), keepdims=True)
    swap = np.mean((flipped - reference) ** 2, axis=(-3, -2, -1), keepdims=True)
    return np.where(swap < keep, flipped, frames)


def is_ensemble_size(size) -> bool:
    """Whether ``size`` is a whole number in :data:`ENSEMBLE_SIZES` (not a bool or a float)."""
    return isinstance(size, (int, np.integer)) and not isinstance(size, bool) \
        and int(size) in ENSEMBLE_SIZES


def ensemble_run(run: Callable[[np.ndarray], np.ndarray], size: int
                 ) -> Callable[[np.ndarray], np.ndarray]:
    """``run`` averaged over the first ``size`` transforms of :func:`dihedral` (``size`` in
    :data:`ENSEMBLE_SIZES`; 1 returns ``run`` itself)."""
    if not is_ensemble_size(size):
        raise ValueError(f"ensemble size must be one of {', '.join(map(str, ENSEMBLE_SIZES))}, "
                         f"got {size!r}")
    if size == 1:
        return run

    def averaged(y: np.ndarray) -> np.ndarray:
        reference = np.asarray(run(y), dtype=np.float32)
        total = reference.copy()
        for index in range(1, size):
            out = dihedral_inverse(run(np.ascontiguousarray(dihedral(y, index))), index)
            total += align_order(out, reference)
        total /= size
        return total

    return averaged
