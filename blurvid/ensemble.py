"""Self-ensemble: run the generator on rotated and mirrored copies of the photo and combine.

The generator should not care which way up a photo is: a blur along a line turned is still a
blur along a line. Its answers on the 8 rotations/mirror images of a photo (the dihedral group
of the square) differ, and a combination of them is better than any one (the "self-ensemble"
of EDSR/NAFNet). Two twists here:

* a blurred photo does not say which way time ran, so each copy's frames may come out in the
  other order; every copy is put in the order of the plain run (:func:`align_order`) first;
* the model is not equally good on every copy of every photo (on the bundled example its
  answers on the two single-axis mirror images are worse than the blurry input), so copies are
  not averaged plainly but weighted by how close each is to the copies' per-pixel median
  (:func:`consensus_average`): an outlier copy counts little.

The copies are taken in the order of :data:`TRANSFORMS`: rotations first (the plain photo,
180, 90 and 270 degrees), mirror images last, so ensembles of 2 and 4 use rotations only.
Cost: ``k`` generator runs for ``k`` copies. Measured (docs/experiments.md, "Self-ensemble"):
about +0.35 dB mean PSNR with all 8 on synthetic validation.

Contract: :func:`ensemble_run` wraps ``run``, a function from float32 luma ``(H, W)`` or
``(N, 1, H, W)`` to frames ``(F, H, W)`` or ``(N, F, H, W)`` (the frame axis is third from
last), into one of the same contract.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

ENSEMBLE_SIZES = (1, 2, 4, 8)


# (flip rows, flip columns, then transpose) for each copy: rotations, then mirror images.
TRANSFORMS = (
    (False, False, False),  # the photo
    (True, True, False),  # rotated 180 degrees
    (False, True, True),  # rotated 90 degrees
    (True, False, True),  # rotated 270 degrees
    (False, True, False),  # mirrored left-right
    (True, False, False),  # mirrored top-bottom
    (False, False, True),  # transposed
    (True, True, True),  # anti-transposed
)


def _check_index(index: int) -> tuple[bool, bool, bool]:
    if not 0 <= index < len(TRANSFORMS):
        raise ValueError(f"transform index must be in 0..7, got {index}")
    return TRANSFORMS[index]


def dihedral(a: np.ndarray, index: int) -> np.ndarray:
    """Copy ``index`` (0..7, :data:`TRANSFORMS`) of the last two axes, as a view."""
    rows, cols, transpose = _check_index(index)
    out = a[..., ::-1 if rows else 1, ::-1 if cols else 1]
    return np.swapaxes(out, -1, -2) if transpose else out


def dihedral_inverse(a: np.ndarray, index: int) -> np.ndarray:
    """Undo :func:`dihedral` ``index``: ``dihedral_inverse(dihedral(a, i), i)`` is ``a``."""
    rows, cols, transpose = _check_index(index)
    if transpose:
        a = np.swapaxes(a, -1, -2)
    return a[..., ::-1 if rows else 1, ::-1 if cols else 1]


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


def consensus_average(copies: np.ndarray, sample_step: int = 4) -> np.ndarray:
    """Weighted mean over axis 0 of ``copies`` ``(K, ..., F, H, W)`` (float32): copy ``i`` of
    each sample weighs ``exp(-d_i / median(d))``, ``d_i`` its mean squared distance to the
    per-pixel median of the copies. Copies that agree weigh about the same (two copies: the
    plain mean); one far from the others weighs little. The distances are measured on every
    ``sample_step``-th row and column (the median of K copies is the costly part; a sixteenth
    of the pixels estimates a mean distance well). Returns ``(..., F, H, W)``."""
    copies = np.asarray(copies, dtype=np.float32)
    if copies.ndim < 4:
        raise ValueError(f"expected copies (K, ..., F, H, W), got shape {copies.shape}")
    step = sample_step if min(copies.shape[-2:]) >= 16 * sample_step else 1
    sampled = copies[..., ::step, ::step]
    median = np.median(sampled, axis=0)
    # (K, ..., 1, 1, 1): one distance per copy and sample
    distance = np.mean((sampled - median) ** 2, axis=(-3, -2, -1), keepdims=True)
    scale = np.maximum(np.median(distance, axis=0, keepdims=True), 1e-12)
    weights = np.exp(-distance / scale)
    weights /= weights.sum(axis=0, keepdims=True)
    out = copies[0] * weights[0]
    for copy, weight in zip(copies[1:], weights[1:]):
        out += copy * weight
    return out


def check_ensemble_size(size, error: type[Exception] = ValueError) -> int:
    """``size`` if it is a whole number in :data:`ENSEMBLE_SIZES` (not a bool or a float),
    else ``error`` with a one-line message."""
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) \
            or int(size) not in ENSEMBLE_SIZES:
        raise error(f"ensemble must be one of {', '.join(map(str, ENSEMBLE_SIZES))}, "
                    f"got {size!r}")
    return int(size)


def ensemble_run(run: Callable[[np.ndarray], np.ndarray], size: int
                 ) -> Callable[[np.ndarray], np.ndarray]:
    """``run`` on the first ``size`` copies of :data:`TRANSFORMS`, put in one frame order and
    combined by :func:`consensus_average` (``size`` in :data:`ENSEMBLE_SIZES`; 1 returns
    ``run`` itself)."""
    if check_ensemble_size(size) == 1:
        return run

    def combined(y: np.ndarray) -> np.ndarray:
        reference = np.asarray(run(y), dtype=np.float32)
        copies = [reference]
        for index in range(1, size):
            out = dihedral_inverse(run(np.ascontiguousarray(dihedral(y, index))), index)
            copies.append(align_order(np.asarray(out, dtype=np.float32), reference))
        return consensus_average(np.stack(copies))

    return combined
