"""Motion-guided reconstruction (issue 19): the generator's 7 frames refined with the physics
of the exposure. A lab experiment run through the product's own pipeline
(``MotionExtractor(motion=MotionRefiner(estimator, fusion))``: a
:class:`blurvid.pipeline.Extractor` whose generator frames are refined before the
projection), not shipped: its models have not yet beaten the generator alone on validation
(docs/experiments.md, 2026-11-30).

For each window of the photo (``WINDOW`` px, overlapping by ``OVERLAP``):

1. **Path estimate**: a small network (``blurvid.lab.train.path_estimator``) predicts the
   camera path (the 7 sub-frame group centers, px) and its own uncertainty ``sigma`` (px
   rms) on 128 px tiles (stride 64) of the window (:func:`estimate_paths`); the tiles'
   paths are put in one temporal direction and averaged
   (:func:`blurvid.deconvolution.one_path`), sigma is their median.
2. **Exact deconvolution**: :func:`blurvid.deconvolution.deconvolve_region` solves the scene
   told that path (FFT closed form plus conjugate-gradient steps, the photo around the window
   as data), with a smoothness weight matched to sigma
   (:func:`blurvid.deconvolution.weight_for`): 7 frames computed, not learned.

The solver's windows are blended with linear ramps. Then, over the whole photo (in tiles of
``FUSE_TILE`` px with ``FUSE_MARGIN`` px of context, so its memory is bounded at any size):

3. **Clean-up**: a small U-Net (``blurvid.lab.train.fusion``) sees the photo, the generator's
   frames and the solver's frames (put in the generator's temporal order) and the windows'
   median sigma, and returns the final frames ``gen + m * (sol - gen) + r``; it was trained
   to take the solver where it helps and keep the generator where the single-path model does
   not fit (moving objects, perspective, a wrong path, a still camera).

The caller (:class:`MotionExtractor`) then projects the frames to the photo
(:mod:`blurvid.consistency`). Only numpy, OpenCV and ONNX Runtime (no PyTorch).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from blurvid import deconvolution as dc
from blurvid.color import to_linear
from blurvid.consistency import NUM_FRAMES
from blurvid.ensemble import align_order
from blurvid.errors import ModelError, RuntimeUnavailableError, first_line
from blurvid.pipeline import Extractor
from blurvid.runtime import open_session
from blurvid.tiling import RampBlend, each_result, tile_spans

WINDOW = 256  # px: one path per window (the windows the clean-up network was validated on)
OVERLAP = 64
EST_TILE = 128  # the estimator's input side
EST_STRIDE = 64
FUSE_TILE = 512  # px: the clean-up network's tiles (bounded memory at any size; a band of 512
# rows across a 6000 px photo took 5.7 GB in ONNX Runtime: docs/experiments.md)
FUSE_MARGIN = 32  # px of context around a tile (the network's reach is ~20 px)
MAX_SIGMA = 3.0  # px rms: the largest path uncertainty the clean-up network was trained on


def estimate_paths(session, y: np.ndarray, tile: int = 128, stride: int = 64):
    """Run a path estimator (an ONNX Runtime session: input ``blur`` float32 ``(N, 1, tile,
    tile)`` gamma luma -> ``path`` ``(N, 7, 2)`` group centers in px, optional ``log_sigma``
    ``(N,)``) on overlapping ``tile`` px windows of the luma ``y`` (H, W):
    the windows of :func:`blurvid.deconvolution.tile_grid` with overlap ``tile - stride``
    (a window shorter than ``tile``, in a photo smaller than it, is reflected up to it).
    Returns ``(paths (R, C, 7, 2), sigma (R, C) or None)``: the group centers (px) and, when
    the model has a ``log_sigma`` output, its predicted rms error (px)."""
    rows, cols = dc.tile_grid(y.shape, tile, tile - stride)
    batch = np.empty((len(rows) * len(cols), 1, tile, tile), np.float32)
    k = 0
    for r0, r1 in rows:
        for c0, c1 in cols:
            window = y[r0:r1, c0:c1]
            batch[k, 0] = np.pad(window, ((0, tile - window.shape[0]),
                                          (0, tile - window.shape[1])), mode="symmetric")
            k += 1
    names = [o.name for o in session.get_outputs()]
    out = dict(zip(names, session.run(None, {"blur": batch})))
    paths = np.asarray(out["path"], np.float64).reshape(len(rows), len(cols), NUM_FRAMES, 2)
    sigma = None
    if "log_sigma" in out:
        sigma = np.exp(np.asarray(out["log_sigma"], np.float64)).reshape(len(rows), len(cols))
    return paths, sigma


def window_path(session, y_window: np.ndarray) -> tuple[np.ndarray, float]:
    """``(groups (7, 2) px, sigma px)``: the estimator's one path for a window of luma
    ``y_window`` (h, w) and its median predicted uncertainty."""
    paths, sigma = estimate_paths(session, y_window, EST_TILE, EST_STRIDE)
    if sigma is None:
        raise ModelError("the path estimator has no log_sigma output")
    return dc.one_path(paths), float(np.median(sigma))


class MotionRefiner:
    """The path estimator and the clean-up network (ONNX Runtime sessions, built once).

    ``estimator``, ``fusion``: ``.onnx`` files (``python -m blurvid.lab.train.path_training
    export``, ``python -m blurvid.lab.train.fusion export``); ``device`` as for
    the generator; ``threads``: solver windows worked on in parallel (the estimator runs on
    one intra-op thread per call) and the clean-up network's intra-op threads (None: 2)."""

    def __init__(self, estimator, fusion, device: str = "auto",
                 threads: int | None = None) -> None:
        self.estimator_path = Path(estimator)
        self.fusion_path = Path(fusion)
        self._estimator, *_ = open_session(self.estimator_path, device, 1)
        self.threads = max(1, threads or 2)
        self._fusion, *_ = open_session(self.fusion_path, device, self.threads)
        self._check()

    def _check(self) -> None:
        est_in = [i.name for i in self._estimator.get_inputs()]
        est_out = [o.name for o in self._estimator.get_outputs()]
        if est_in != ["blur"] or not {"path", "log_sigma"} <= set(est_out):
            raise ModelError(f"{self.estimator_path} is not a blurvid path estimator (inputs "
                             f"{est_in}, outputs {est_out}; expected blur -> path, log_sigma)")
        fus_in = [i.name for i in self._fusion.get_inputs()]
        if fus_in != ["y", "gen", "sol", "sigma"]:
            raise ModelError(f"{self.fusion_path} is not a blurvid clean-up network (inputs "
                             f"{fus_in}; expected y, gen, sol, sigma)")

    def window_count(self, h: int, w: int) -> int:
        """How many windows :meth:`refine` works on (its ``progress`` calls)."""
        return len(tile_spans(h, WINDOW, OVERLAP)) * len(tile_spans(w, WINDOW, OVERLAP))

    def window(self, y: np.ndarray, lin: np.ndarray, gen: np.ndarray, rows, cols) -> tuple:
        """The solver's frames (7, h, w) of one window, in ``gen``'s temporal order, and the
        window's ``(path length px, sigma px)``."""
        (r0, r1), (c0, c1) = rows, cols
        groups, sigma = window_path(self._estimator, np.ascontiguousarray(y[r0:r1, c0:c1]))
        sol = dc.deconvolve_region(lin, rows, cols, groups, dc.weight_for(sigma))
        return align_order(sol, gen[:, r0:r1, c0:c1]), (dc.path_length(groups), sigma)

    def _fuse(self, y: np.ndarray, gen: np.ndarray, sol: np.ndarray, sigma: float) -> np.ndarray:
        feeds = {"y": np.ascontiguousarray(y[None, None]), "gen": np.ascontiguousarray(gen[None]),
                 "sol": np.ascontiguousarray(sol[None]),
                 "sigma": np.array([min(sigma, MAX_SIGMA)], np.float32)}
        try:
            out = self._fusion.run(None, feeds)[0][0]
        except Exception as exc:  # out of memory, provider failure
            raise RuntimeUnavailableError(f"ONNX Runtime failed to run {self.fusion_path.name}"
                                          f" on a {y.shape[1]}x{y.shape[0]} tile: "
                                          f"{first_line(exc)}") from None
        return np.clip(out, 0.0, 1.0, out=out)

    def refine(self, y: np.ndarray, gen: np.ndarray, progress=None) -> np.ndarray:
        """The final frames float32 (7, H, W) in [0, 1] (not projected) of the luma ``y``
        (H, W) in [0, 1] and the generator's frames ``gen`` (7, H, W) (exactly projected, as
        the clean-up network was trained); ``gen`` is overwritten with them. The solver runs
        window by window (one path each, blended with linear ramps), the clean-up network in
        tiles of ``FUSE_TILE`` px told the windows' median sigma. ``progress`` is called after
        each window. Memory: one more (7, H, W) array (the solver's frames), a copy of a band
        of ``FUSE_TILE`` rows of ``gen`` and one tile's
        worth."""
        y = np.ascontiguousarray(y, np.float32)
        if y.ndim != 2 or gen.shape != (NUM_FRAMES, *y.shape):
            raise ValueError(f"expected y (H, W) and gen (7, H, W), got {y.shape}, {gen.shape}")
        h, w = y.shape
        lin = to_linear(y.copy())
        rows, cols = tile_spans(h, WINDOW, OVERLAP), tile_spans(w, WINDOW, OVERLAP)
        jobs = [(r, c) for r in rows for c in cols]
        blended = RampBlend(h, w, OVERLAP)
        self.paths = []

        def work(job):
            return self.window(y, lin, gen, *job)

        def blend(job, result):
            frames, facts = result
            blended.add(*job, frames)
            self.paths.append(facts)
            if progress is not None:
                progress()

        for job, result in each_result(work, jobs, self.threads):
            blend(job, result)
        sol = blended.result()
        sigma = float(np.median([s for _, s in self.paths]))
        # the clean-up network tile by tile, each with FUSE_MARGIN px of context around it;
        # gen is overwritten band by band (a band: a row of tiles), so each band works on a
        # copy of its rows as they were, with the rows above as they were before the last band
        above = None
        for r0 in range(0, h, FUSE_TILE):
            r1 = min(h, r0 + FUSE_TILE)
            top, bottom = max(0, r0 - FUSE_MARGIN), min(h, r1 + FUSE_MARGIN)
            gen_band = gen[:, top:bottom].copy()
            if above is not None:
                gen_band[:, : r0 - top] = above
            above = gen[:, max(r0, r1 - FUSE_MARGIN):r1].copy()
            for c0 in range(0, w, FUSE_TILE):
                c1 = min(w, c0 + FUSE_TILE)
                left, right = max(0, c0 - FUSE_MARGIN), min(w, c1 + FUSE_MARGIN)
                out = self._fuse(y[top:bottom, left:right], gen_band[:, :, left:right],
                                 sol[:, top:bottom, left:right], sigma)
                gen[:, r0:r1, c0:c1] = out[:, r0 - top:r1 - top, c0 - left:c1 - left]
        return gen


@dataclass
class MotionExtractor(Extractor):
    """An :class:`blurvid.pipeline.Extractor` whose generator frames are exactly projected,
    refined by ``motion`` (a :class:`MotionRefiner`; None: the plain extractor) and then
    projected as :attr:`projection` says. Everything else (color, tiling, files) is the
    product's."""

    motion: MotionRefiner | None = field(default=None, repr=False)

    def window_count(self, height: int, width: int) -> int:
        """The generator's windows plus the refiner's: the ``progress`` calls of
        :meth:`luma_frames`."""
        runs = super().window_count(height, width)
        if self.motion is not None:
            runs += self.motion.window_count(height, width)
        return runs

    def luma_frames(self, ycbcr: np.ndarray, progress=None) -> np.ndarray:
        if self.motion is None:
            return super().luma_frames(ycbcr, progress)
        y = np.ascontiguousarray(ycbcr[..., 0])
        luma = self.generator_frames(y, progress)
        self._finish_in_strips(luma, y, "exact")  # the clean-up network was trained on these
        luma = self.motion.refine(y, luma, progress=progress)
        self._finish_in_strips(luma, y)
        return luma
