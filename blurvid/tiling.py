"""Tiled inference: run a generator on overlapping tiles and blend them without seams.

Large photos (12-50 MP) do not fit the generator's working memory at once. The image is cut
into ``tile x tile`` windows whose neighbours share at least ``overlap`` pixels; each window
goes through the generator alone; the outputs are blended with weights that ramp linearly
from (almost) 0 at a window's inner edge to 1 at ``overlap / 2`` from it (no ramp at the
image border), then divided by the summed weights. A window's edge pixels, which saw the
least context, so count least, and every pixel is covered.

Contract: :func:`run_tiled` takes ``fn`` mapping a float32 ``(1, 1, h, w)`` luma window to
``(1, F, h, w)`` and a luma image ``(H, W)``; it returns float32 ``(F, H, W)``. With one window
(the image fits a tile) it is exactly ``fn`` on the whole image. Each window's frames are put
in the temporal order of the windows blended before it (where they overlap), so two windows
that chose opposite orders do not cross-fade frame 1 into frame 7. Windows start on multiples
of ``align`` (16: the ``fast`` generator's grid), so each sees the grid the whole image would.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np

DEFAULT_TILE = 1024
DEFAULT_OVERLAP = 128
AUTO_TILE_PIXELS = 4_000_000  # above this many pixels, extract tiles automatically
ALIGN = 16  # window starts on multiples of the fast generator's grid (pixel-unshuffle + 2 downs)
# The `paper` network works at full resolution with up to 256 channels: ONNX Runtime holds
# about 6 KB per pixel (5.5 GB for 1280x720), so it tiles above about one megapixel.
AUTO_TILE_PIXELS_FULL_RES = 1_100_000


def auto_tile(height: int, width: int, arch: str | None) -> int:
    """The window side automatic tiling picks for a ``height x width`` photo and a model of
    architecture ``arch`` (its metadata): :data:`DEFAULT_TILE`, or 0 for one whole run."""
    limit = AUTO_TILE_PIXELS_FULL_RES if arch == "paper" else AUTO_TILE_PIXELS
    return DEFAULT_TILE if height * width > limit else 0


def tile_spans(length: int, tile: int, overlap: int, align: int = 1) -> list[tuple[int, int]]:
    """``(start, end)`` of windows covering ``[0, length)``: the first at 0, the last ending at
    ``length``, neighbours sharing at least ``overlap`` pixels, every start a multiple of
    ``align`` (so a generator that works on a grid of ``align`` pixels sees the same grid in
    every window as on the whole image). Windows are ``tile`` long, the last one up to
    ``align - 1`` longer. One window ``(0, length)`` if ``length <= tile``."""
    if length < 1 or tile < 1 or align < 1:
        raise ValueError(f"length, tile and align must be >= 1, got {length}, {tile}, {align}")
    if not 0 <= overlap < tile - align + 1:
        raise ValueError(f"overlap must be in [0, tile - align], got {overlap} for tile {tile}")
    if length <= tile:
        return [(0, length)]
    last = (length - tile) // align * align
    if last == 0:  # one window, at most align - 1 longer than tile
        return [(0, length)]
    count = math.ceil(last / (tile - overlap - (align - 1))) + 1
    stride = last / (count - 1)
    # Consecutive floored starts differ by at most stride + align - 1 <= tile - overlap.
    starts = sorted({int(i * stride) // align * align for i in range(count - 1)} | {last})
    return [(s0, s0 + tile) for s0 in starts[:-1]] + [(last, length)]


def ramp(start: int, end: int, length: int, overlap: int) -> np.ndarray:
    """Blend weights of the window ``[start, end)`` along one axis (float32, > 0)."""
    n = end - start
    x = np.arange(n, dtype=np.float32)
    width = max(overlap / 2, 1.0)
    w = np.ones(n, np.float32)
    if start > 0:
        w = np.minimum(w, (x + 1) / width)
    if end < length:
        w = np.minimum(w, (n - x) / width)
    return w


class RampBlend:
    """Windows of frames ``(F, h, w)`` blended into ``(F, H, W)`` with :func:`ramp` weights
    (the module docstring): :meth:`add` each window, then :meth:`result`. ``sum`` (None
    before the first window) and ``weight`` are the running weighted sum and summed weights."""

    def __init__(self, height: int, width: int, overlap: int) -> None:
        self.height, self.width, self.overlap = height, width, overlap
        self.sum: np.ndarray | None = None
        self.weight = np.zeros((height, width), np.float32)

    def add(self, rows: tuple[int, int], cols: tuple[int, int], frames: np.ndarray) -> None:
        """Blend ``frames`` (F, r1 - r0, c1 - c0) into the window ``rows`` x ``cols``."""
        (r0, r1), (c0, c1) = rows, cols
        wgt = (ramp(r0, r1, self.height, self.overlap)[:, None]
               * ramp(c0, c1, self.width, self.overlap)[None, :])
        if self.sum is None:
            self.sum = np.zeros((frames.shape[0], self.height, self.width), np.float32)
        self.sum[:, r0:r1, c0:c1] += frames * wgt
        self.weight[r0:r1, c0:c1] += wgt

    def result(self) -> np.ndarray:
        """The blend (float32 (F, H, W)), computed in place of :attr:`sum`."""
        self.sum /= self.weight
        return self.sum


def _same_order(pred: np.ndarray, blended: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``pred`` (F, h, w) in the temporal order, forward or reversed, that agrees better with
    the windows already blended where they overlap it (``blended`` / ``weight``): a blurred
    photo does not say which way time ran, and each window decides on its own."""
    seen = weight > 0
    if not seen.any():
        return pred
    current = blended[:, seen] / weight[seen]
    here = pred[:, seen]
    keep = float(np.mean((here - current) ** 2))
    swap = float(np.mean((here[::-1] - current) ** 2))
    return pred[::-1] if swap < keep else pred


def run_tiled(fn: Callable[[np.ndarray], np.ndarray], y: np.ndarray, tile: int = DEFAULT_TILE,
              overlap: int = DEFAULT_OVERLAP, align: int = ALIGN,
              progress: Callable[[], None] | None = None) -> np.ndarray:
    """Apply ``fn`` to ``y`` (H, W) window by window and blend (see the module docstring)."""
    if y.ndim != 2:
        raise ValueError(f"expected a luma image (H, W), got shape {y.shape}")
    h, w = y.shape
    rows, cols = tile_spans(h, tile, overlap, align), tile_spans(w, tile, overlap, align)
    if len(rows) == 1 and len(cols) == 1:
        return fn(np.ascontiguousarray(y[None, None], dtype=np.float32))[0]
    blend = RampBlend(h, w, overlap)
    for r0, r1 in rows:
        for c0, c1 in cols:
            window = np.ascontiguousarray(y[None, None, r0:r1, c0:c1], dtype=np.float32)
            pred = fn(window)[0]
            if blend.sum is not None:
                pred = _same_order(pred, blend.sum[:, r0:r1, c0:c1],
                                   blend.weight[r0:r1, c0:c1])
            blend.add((r0, r1), (c0, c1), pred)
            if progress is not None:
                progress()
    return blend.result()


def each_result(work: Callable, jobs: Iterable, threads: int = 1) -> Iterator[tuple]:
    """``(job, work(job))`` for every job, in order: on ``threads`` worker threads (numpy and
    OpenCV release the GIL on whole windows) or, with one thread or one job, in turn."""
    jobs = list(jobs)
    if threads > 1 and len(jobs) > 1:
        with ThreadPoolExecutor(min(threads, len(jobs))) as pool:
            yield from zip(jobs, pool.map(work, jobs))
    else:
        for job in jobs:
            yield job, work(job)
