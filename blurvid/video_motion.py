"""The ``motion`` method of ``blurvid video``: each exposure solved from its neighbours.

Streaming, in constant memory (:attr:`MotionSolver.lookahead` + 1 input frames as YCbCr, the
fits, paths, first solves and residual maps of about twice that many at the analysis scale,
and one exposure's frames); each step runs when the frames it needs are in
(:meth:`MotionSolver.steps`: :data:`LOOKAHEAD` frames of lookahead without the sweeps
below, 2 more per sweep):

1. every input frame's luma is scaled to :data:`blurvid.camera_motion.ANALYSIS_SIDE` and its
   flows from the one and the two frames before it are measured and summarised by robust
   affine fits (:func:`blurvid.camera_motion.fit_affine`): two flows per input frame;
2. when the frames two ahead of exposure ``t`` are in, the camera's trajectory inside ``t``
   is fitted to the affine fits among ``t - 2 .. t + 2``
   (:func:`blurvid.camera_motion.fit_trajectory`; fewer at the clip's ends);
3. in ``sweeps`` sweeps over the clip (:data:`SWEEPS` by default; 0 turns them off), the
   motion inside each exposure is refined between the blurry frames alone
   (:func:`blurvid.camera_motion.refine_between_blurry`: ``t``'s frame blurred along a
   neighbour's path matches the neighbour's frame blurred along ``t``'s), with the
   :data:`BLURRY_REACH` neighbours on each side and their newest paths (the flows' fit is
   off inside the exposure by pixels on a long, shaky blur: the window averages it matches
   do not say the path's shape);
4. each exposure is solved at the analysis scale told that path (its middle frame, for its
   neighbours), then its path refined once more so that those neighbours' solves, blurred
   along it, predict the frame (:func:`blurvid.camera_motion.refine_trajectory`); where they
   do not (something moves on its own) or the whole frame is poorly explained
   (:func:`trust_in`), the network's frames take over, blended softly
   (:func:`prediction_confidence`, :func:`blurvid.exposure_solver.blend`);
   the exposure is solved tile by tile at full size
   (:func:`blurvid.exposure_solver.solve_exposure`, its prior made sparse: :data:`SPARSE`):
   7 frames in the trajectory's time order, so no forward/reversed ambiguity;
5. the input's colour (Cb, Cr) is recombined onto each frame, as for the network.

A pair of frames that are not one scene once aligned (a scene cut, a flash: correlation under
:data:`MIN_CORRELATION`, or an affine fit missing by more than :data:`MAX_FIT_RMS` px) is left
out, and no trajectory reaches across a cut between consecutive frames; an exposure left with
no fit, or frames under :data:`MIN_SIDE` px, are the network's alone, put in order by the
ordering's cost toward the next frame.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from blurvid import camera_motion as cm
from blurvid import deconvolution as dc
from blurvid import exposure_solver as es
from blurvid.consistency import NUM_FRAMES
from blurvid.errors import InputError
from blurvid.io import fit_max_side
from blurvid.color import to_linear
from blurvid.ordering import (FORWARD, REVERSED, Exposure, check_shutter, motion, probe_size,
                              thumbnail, unary_costs)
from blurvid.pipeline import Extractor, as_rgb_float, strip_to_u8

REACH = 2  # exposures on each side whose flows inform a trajectory
BLURRY_REACH = 2  # exposures on each side whose blurry frames refine a trajectory ...
SWEEPS = 2  # ... in this many sweeps over the clip (the default; `--sweeps`)
NEIGHBOURS = 2  # exposures on each side whose solved frames refine a trajectory last
MAX_SWEEPS = 8
# input frames read ahead of the exposure being finished (MotionSolver.steps): its flows'
# trajectory needs REACH, each sweep BLURRY_REACH more (the neighbours' paths from the sweep
# before), the final solve NEIGHBOURS more (their first solves)
LOOKAHEAD = REACH + NEIGHBOURS  # without sweeps
# The solver's weight grows with the frame's noise (a noisy, compressed frame needs a
# smoother solve: measured in docs/experiments.md, 2026-12-06).
QUIET_NOISE = 0.001
MAX_NOISE_FACTOR = 10.0
CAMERA_PX = 3.0  # px: a flow this far from the camera's model moves on its own
MIN_CORRELATION = 0.2  # frames less alike than this once aligned are not one scene (a cut)
MAX_FIT_RMS = 10.0  # px: a pair whose flow the camera's affine map misses by more is not used
# (the inliers of a good pair between blurry frames can be several px off)
WEIGHT_REFINED = 0.01  # the solver's smoothness weight for a refined trajectory
# the final solve's prior: sparse gradients (the first solves, the neighbours' latents for
# the refinement, keep the quadratic one: sparse there was +0.76, -0.29, +0.04 dB on three
# clips, not a clear gain for its time)
SPARSE = dc.SparsePrior()
# the refinement of an exposure with flows on one side only (a clip's ends): a correction of
# up to 6 px in 4 terms per axis, 12 rounds (camera_motion's defaults: 3 px, 3 terms, 6)
ONE_SIDED_REFINEMENT = dict(bound=6.0, terms=4, rounds=12)
# How much of the frame the refined motion explains (camera_motion.Refinement.explained) ->
# trust in the solver, from 0 at the first figure to 1 at the second, for blurs of at least
# EXPLAINED_BLUR px at the analysis scale (a shorter blur explains less of a frame even when
# its motion is right: the figures scale down with the blur); an exposure with flows on both
# sides whose blur is under SHORT_BLUR px is trusted (its motion is pinned well enough and
# an error costs little). Set from the benchmark's camera-only clips, each exposure's figure
# against its motion error (docs/experiments.md, 2026-12-06).
EXPLAINED = (0.65, 0.85)  # (set before the sweeps were the default; not re-checked since)
EXPLAINED_BLUR = 20.0
SHORT_BLUR = 12.0
STILL_PX = 1.0
NORMAL_RESIDUAL = 2.0  # a prediction missing by up to this many times its median ...
TOLERATED_PX = 0.5  # ... plus what a motion error this large (analysis px) makes is trusted
MIN_SIDE = 16  # px: smaller frames are the network's (too small to measure a motion on)


def trust_in(explained: float, blur_px: float, two_sided: bool = False) -> float:
    """Trust in [0, 1] in an exposure's solve from how much of its frame the refined motion
    explains, its blur's length (px, analysis scale: :meth:`Trajectory.blur_length`) and
    whether it has flows on both sides: :data:`EXPLAINED` (a short blur's figure need only not
    be negative: a worse prediction than no blur at all is a wrong motion). A camera that
    barely moved (under :data:`STILL_PX`) is trusted: its solve is the frame itself."""
    if blur_px < STILL_PX or (two_sided and blur_px < SHORT_BLUR and explained >= -0.05):
        return 1.0
    scale = min(1.0, blur_px / EXPLAINED_BLUR)
    low, high = EXPLAINED[0] * scale, EXPLAINED[1] * scale
    return float(np.clip((explained - low) / (high - low), 0.0, 1.0))


@dataclass
class _Frame:
    index: int
    ycbcr: np.ndarray  # float32 (H, W, 3) of the input frame, already scaled
    small: np.ndarray  # uint8 analysis luma


def _linear(frame: _Frame) -> np.ndarray:
    """The frame's analysis luma in linear light, float32 (h, w)."""
    return to_linear(frame.small.astype(np.float32) / 255.0)


class MotionSolver:
    """The motion method's state over a sliding window of frames: the flows' affine fits,
    each exposure's trajectory from them (``first``, full size), its newest path (``paths``,
    the analysis scale: the flows', then each sweep's) and its first solve's middle frame at
    the analysis scale (``latents``, for its neighbours' refinement), and the final solve of
    an exposure."""

    def __init__(self, extractor: Extractor, shutter: float, weight: float = es.WEIGHT,
                 threads: int | None = None, refine: bool = True,
                 sweeps: int | None = SWEEPS,
                 sparse: dc.SparsePrior | None = SPARSE) -> None:
        self.extractor = extractor
        self.shutter = check_shutter(shutter)
        self.weight = weight
        self.threads = max(1, threads or 1)
        self.refine = refine
        self.sparse = sparse  # the final solve's prior (None: the quadratic one)
        # sweeps of the refinement between the blurry frames (:meth:`sweep`) before the solved
        # neighbours refine each trajectory (0: they refine the flows' one; None: SWEEPS)
        self._sweeps = check_sweeps(SWEEPS if sweeps is None else sweeps)
        self.fits: dict[tuple[int, int], cm.AffineFit] = {}
        self.first: dict[int, cm.Trajectory | None] = {}  # the trajectories from the flows
        # each exposure's newest trajectory at the analysis scale (the flows', then each sweep's)
        self.paths: dict[int, cm.Trajectory] = {}
        self.latents: dict[int, np.ndarray] = {}  # first solves' middle frames, linear
        self.two_sided: set[int] = set()  # exposures with flows on both sides
        self.cuts: set[int] = set()  # k: no usable flow from frame k - 1 to frame k
        self.refinement: cm.Refinement | None = None  # the last final solve's
        self.scale = 1.0

    def add_flows(self, frames: list[_Frame], size: tuple[int, int]) -> None:
        """Fit the flows into the newest frame from the :data:`REACH` frames before it."""
        new = frames[-1]
        h, w = size
        for old in frames[-1 - REACH:-1]:
            flow = cm.flow_between(old.small, new.small)
            fit = cm.fit_affine(flow, h, w)
            if cm.aligned_correlation(old.small, new.small, fit, size) < MIN_CORRELATION:
                if new.index - old.index == 1:
                    self.cuts.add(new.index)  # a scene cut (or a flash) between old and new
            elif fit.rms <= MAX_FIT_RMS:  # else a flow too poor to use (a long blur)
                self.fits[(old.index, new.index)] = fit
        keep = new.index - 2 * self.lookahead
        for key in [k for k in self.fits if k[0] < keep]:
            del self.fits[key]
        for store in (self.first, self.latents, self.paths):
            for key in [k for k in store if k < keep]:
                del store[key]
        self.two_sided = {k for k in self.two_sided if k >= keep}
        self.cuts = {k for k in self.cuts if k >= keep}

    @property
    def sweeps(self) -> int:
        """Sweeps of the refinement between blurry frames this solver makes."""
        return self._sweeps if self.refine else 0

    @property
    def lookahead(self) -> int:
        """Input frames read ahead of the exposure being finished."""
        return LOOKAHEAD + BLURRY_REACH * self.sweeps

    def steps(self, window: Iterable[_Frame], size: tuple[int, int]) -> list:
        """``[(delay, step)]``: each step runs on the frame ``delay`` frames behind the newest
        (:func:`motion_exposures`): the flows' trajectory, each sweep, the first solve."""
        swept = [REACH + BLURRY_REACH * (k + 1) for k in range(self.sweeps)]
        return ([(REACH, lambda f: self.measure(f, size))]
                + [(delay, lambda f: self.sweep(f, window)) for delay in swept]
                + [(swept[-1] if swept else REACH, lambda f: self.first_pass(f, size))])

    def joined(self, t: int, k: int) -> bool:
        """No scene cut between exposure ``t`` and exposure ``k``."""
        return not any(min(t, k) < cut <= max(t, k) for cut in self.cuts)

    def trajectory(self, t: int, size: tuple[int, int]) -> cm.Trajectory | None:
        """The trajectory inside exposure ``t`` from the flows' affine fits (None: no fit)."""
        rel = {(i - t, j - t): fit.matrix for (i, j), fit in self.fits.items()
               if abs(i - t) <= REACH and abs(j - t) <= REACH and self.joined(t, i)
               and self.joined(t, j)}
        if any(i < 0 or j < 0 for i, j in rel) and any(i > 0 or j > 0 for i, j in rel):
            self.two_sided.add(t)
        return cm.fit_trajectory(rel, self.shutter, size) if rel else None

    def path(self, t: int) -> cm.Trajectory:
        """Exposure ``t``'s newest trajectory at the analysis scale (the flows' until a sweep
        refines it; ``t`` measured, with a trajectory)."""
        if t not in self.paths:
            self.paths[t] = cm.scaled(self.first[t], self.scale)
        return self.paths[t]

    def measure(self, frame: _Frame, size: tuple[int, int]) -> None:
        """Exposure ``frame``'s trajectory from the flows."""
        t = frame.index
        self.first[t] = trajectory = self.trajectory(t, size)
        if trajectory is not None:
            self.paths[t] = cm.scaled(trajectory, self.scale)

    def sweep(self, frame: _Frame, window: Iterable[_Frame]) -> None:
        """One sweep's refinement of exposure ``frame``'s trajectory between its blurry frame
        and those of its :data:`BLURRY_REACH` neighbours on each side in ``window`` (no scene
        cut between; :func:`blurvid.camera_motion.refine_between_blurry`), with each
        neighbour's newest path: the sweep's own for those before it (already refined), the
        sweep before's for those after it. Always from the flows' trajectory, so a sweep does
        not carry an error forward."""
        t = frame.index
        if not self.sweeps or self.first.get(t) is None:
            return
        neighbours = {f.index - t: (_linear(f), self.paths[f.index]) for f in window
                      if 0 < abs(f.index - t) <= BLURRY_REACH and f.index in self.paths
                      and self.joined(t, f.index)}
        if not neighbours:
            return
        shape = frame.small.shape
        found = cm.refine_between_blurry(cm.scaled(self.first[t], self.scale), _linear(frame),
                                         neighbours, mask=self.camera_mask(t, shape),
                                         masks={k: self.camera_mask(t + k, shape)
                                                for k in neighbours})
        if found is not None:
            self.paths[t] = found

    def first_pass(self, frame: _Frame, size: tuple[int, int]) -> None:
        """Exposure ``frame``'s solve at the analysis scale told its newest trajectory (its
        middle frame, for its neighbours' :meth:`final`); measured first if it was not."""
        t = frame.index
        if t not in self.first:
            self.measure(frame, size)
        if self.first[t] is None or not self.refine:
            return
        small = frame.small.astype(np.float32) / 255.0
        paths = es.tile_paths(self.path(t), small.shape)
        frames = es.solve_exposure(small, paths, weight=self.weight)
        self.latents[t] = to_linear(frames[NUM_FRAMES // 2])

    def final(self, frame: _Frame, size: tuple[int, int]):
        """``(trajectory, weight, confidence (H, W) or None)`` for the final solve."""
        t = frame.index
        if self.first.get(t) is None:  # (first_pass ran for every measured exposure)
            return None, self.weight, None
        trajectory = cm.scaled(self.path(t), 1.0 / self.scale, size)
        neighbours = {o: self.latents[t + o] for o in range(-NEIGHBOURS, NEIGHBOURS + 1)
                      if o and t + o in self.latents and t + o in self.two_sided
                      and self.joined(t, t + o)}
        self.refinement = None
        mask = self.camera_mask(t, frame.small.shape)
        # unrefined (too few frames, or refinement off): trusted where the flows follow the
        # camera's model (nowhere when most of the frame departs from it)
        plain = (trajectory, self.weight,
                 np.zeros(size, np.float32) if mask is None
                 else es.confidence(np.where(mask, 0.0, 10.0), size))
        if not (self.refine and neighbours):
            return plain
        blurry = _linear(frame)
        # a clip's end exposure has flows on one side: its trajectory is an extrapolation,
        # further off, and gets a wider correction
        wider = {} if t in self.two_sided else ONE_SIDED_REFINEMENT
        found = self.refinement = cm.refine_trajectory(
            self.path(t), blurry, neighbours, mask=mask,
            placed=cm.scaled(self.first[t], self.scale), **wider)
        if found is None:
            return plain
        refined = cm.scaled(found.trajectory, 1.0 / self.scale, size)
        trust = trust_in(found.explained, found.trajectory.blur_length(), t in self.two_sided)
        return refined, WEIGHT_REFINED, trust * prediction_confidence(found.residual, size,
                                                                      blurry)

    def camera_mask(self, t: int, shape: tuple[int, int]) -> np.ndarray | None:
        """bool (h, w) on the analysis grid: where the flows from exposure ``t`` follow the
        camera's affine model (within :data:`CAMERA_PX`), grown away from what departs from
        it; None when no flow starts at ``t`` or most of the frame departs."""
        own = [fit.residual for (i, _), fit in self.fits.items() if i == t]
        if not own:  # (the fits ending at t are on another frame's grid)
            return None
        residual = np.fmax.reduce(own) if len(own) > 1 else own[0]
        if residual.shape != shape:
            return None
        residual = np.nan_to_num(residual, nan=0.0)
        # flows on weak texture are noisy everywhere: what departs is what departs from the rest
        limit = max(CAMERA_PX, 3.0 * float(np.median(residual)))
        off = (residual > limit).astype(np.uint8)
        size = max(3, int(round(0.03 * max(shape))) | 1)
        off = cv2.dilate(off, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)))
        keep = off == 0
        return keep if keep.mean() > 0.5 else None

    def solve(self, frame: _Frame, out: np.ndarray, neighbour: _Frame | None = None) -> None:
        """The 7 frames of ``frame`` into ``out`` (uint8 (7, H, W, 3)); without a usable
        motion, the network's frames alone, put in order by the motion toward ``neighbour``
        (the next or the previous frame)."""
        ycbcr = frame.ycbcr
        y = np.ascontiguousarray(ycbcr[..., 0])
        size = y.shape
        trajectory, weight, conf = self.final(frame, size)
        if trajectory is None or (conf is not None and float(conf.max()) <= 0.0):
            luma = orient(self.extractor.luma_frames(ycbcr), frame, neighbour, self.shutter)
        else:
            paths = es.tile_paths(trajectory, size)
            luma = es.solve_exposure(y, paths, weight=noise_weight(weight, y),
                                     threads=self.threads, sparse=self.sparse)
            if conf is not None and float(conf.min()) < es.TRUSTED:  # the network is needed
                network = self.extractor.luma_frames(ycbcr)
                mostly_network = float(conf.mean()) < 0.5  # a solve too wrong to order it
                if mostly_network:
                    network = orient(network, frame, neighbour, self.shutter)
                luma = es.blend(luma, network, conf, align=not mostly_network)
            if frame.index not in self.two_sided:
                # a clip's end exposure: its path is extrapolated from flows on one side, and
                # a path and its reverse blur a frame alike, so nothing refined says which
                # way it ran; its frames follow the motion toward the neighbour, as the
                # network's do (the ordering's cost)
                luma = orient(luma, frame, neighbour, self.shutter)
        for k in range(NUM_FRAMES):
            self.extractor.merge_frame(np.clip(luma[k], 0.0, 1.0), ycbcr, strip_to_u8, out=out[k])


def check_sweeps(sweeps) -> int:
    """``sweeps`` as a whole number in 0..:data:`MAX_SWEEPS`, else :class:`InputError`."""
    if isinstance(sweeps, bool) or not isinstance(sweeps, (int, np.integer)) \
            or not 0 <= sweeps <= MAX_SWEEPS:
        raise InputError(f"sweeps must be a whole number from 0 to {MAX_SWEEPS}, got "
                         f"{sweeps!r}")
    return int(sweeps)


def noise_weight(weight: float, luma: np.ndarray) -> float:
    """``weight`` raised in proportion to the frame's noise above :data:`QUIET_NOISE` (an
    8-bit frame's own), at most :data:`MAX_NOISE_FACTOR` times."""
    return weight * float(np.clip(cm.noise_level(luma) / QUIET_NOISE, 1.0, MAX_NOISE_FACTOR))


def orient(network: np.ndarray, frame: _Frame, neighbour: _Frame | None,
           shutter: float) -> np.ndarray:
    """The network's frames (7, H, W) forward or reversed, whichever follows the motion
    between ``frame`` and ``neighbour`` (the ordering's cost: the first frame moved along
    that motion for the exposure's span should match the last, :func:`ordering.unary_costs`);
    as they are without a neighbour."""
    if neighbour is None:
        return network
    size = probe_size(*frame.small.shape)
    a, b = (thumbnail(f.small.astype(np.float32) / 255.0, size) for f in (frame, neighbour))
    flow = motion(a, b) if neighbour.index > frame.index else motion(b, a)
    costs = unary_costs((thumbnail(network[0], size), thumbnail(network[-1], size)), flow,
                        shutter)
    return network[::-1] if costs[REVERSED] < costs[FORWARD] else network


def prediction_confidence(residual: np.ndarray, size: tuple[int, int],
                          blurry: np.ndarray | None = None) -> np.ndarray:
    """float32 (H, W) in [0, 1] from the refinement's residual map (analysis scale, linear
    luma; NaN where no neighbour reaches: trusted): low where the neighbours' frames, blurred
    along the camera's trajectory, do not predict this frame (something moved on its own).
    A miss is expected up to :data:`NORMAL_RESIDUAL` times the frame's median miss plus what
    a motion error of :data:`TOLERATED_PX` px makes at each pixel's edges (the gradient of
    ``blurry``, the blurry frame on the same grid); only the excess lowers the confidence."""
    r = np.asarray(residual, np.float32)
    finite = np.isfinite(r)
    typical = float(np.median(r[finite])) if finite.any() else 0.0
    r = np.where(finite, r, typical).astype(np.float32)
    r = cv2.GaussianBlur(r, (0, 0), 3.0)
    level = float(np.median(r))
    allowed = NORMAL_RESIDUAL * level
    if blurry is not None:
        b = np.asarray(blurry, np.float32)
        edges = np.hypot(cv2.Sobel(b, cv2.CV_32F, 1, 0, ksize=3),
                         cv2.Sobel(b, cv2.CV_32F, 0, 1, ksize=3)) / 8.0  # per px
        allowed = allowed + TOLERATED_PX * cv2.GaussianBlur(edges, (0, 0), 3.0)
    excess = np.maximum(r - allowed, 0.0)
    return es.confidence(excess, size, scale=(4.0 - NORMAL_RESIDUAL) * level + 0.004,
                         grow=0.03)


def motion_exposures(extractor: Extractor, frames: Iterable[np.ndarray], shutter: float,
                     max_side: int | None = None, progress=None,
                     weight: float = es.WEIGHT, solver: MotionSolver | None = None,
                     sweeps: int | None = SWEEPS) -> Iterator:
    """Each input frame's :class:`blurvid.ordering.Exposure` (7 uint8 frames in time order),
    in input order, solved from its neighbours (the module docstring). ``progress`` is
    called after each exposure is solved; ``solver``: a :class:`MotionSolver` to use (the
    benchmark's variants), else one is made with ``sweeps`` (:meth:`MotionSolver.sweep`)."""
    if solver is None:
        solver = MotionSolver(extractor, shutter, weight, extractor.threads, sweeps=sweeps)
    window: deque[_Frame] = deque()
    size: tuple[int, int] | None = None

    def finish(item: _Frame) -> Exposure:
        out = np.empty((NUM_FRAMES,) + size + (3,), np.uint8)
        near = [f for f in window if abs(f.index - item.index) == 1]
        solver.solve(item, out, max(near, key=lambda f: f.index) if near else None)
        if progress is not None:
            progress()
        return Exposure(item.index, out, False)

    def at(index: int) -> _Frame:
        return next(f for f in window if f.index == index)

    lookahead = solver.lookahead
    steps = None

    for index, frame in enumerate(frames):
        rgb = fit_max_side(frame, max_side)[0]
        h, w = rgb.shape[:2]
        if size is None:
            size = (h, w)
            solver.scale = cm.analysis_scale(h, w)
            steps = solver.steps(window, size)
        elif (h, w) != size:
            raise InputError(f"frame {index} is {w}x{h}, the frames before it "
                             f"{size[1]}x{size[0]}")
        ycbcr = extractor.to_ycbcr(as_rgb_float(np.asarray(rgb)))
        del rgb
        window.append(_Frame(index, ycbcr, cm.analysis_luma(ycbcr[..., 0], solver.scale)))
        measured = min(size) >= MIN_SIDE  # smaller frames are the network's
        if measured:
            solver.add_flows(list(window), size)
            for delay, step in steps:
                if index - delay >= 0:
                    step(at(index - delay))
        if index - lookahead >= 0:
            yield finish(at(index - lookahead))
        while window and window[0].index <= index - lookahead:  # finished
            window.popleft()
    if size is None:
        return
    last = window[-1].index
    if measured:  # each step for the frames it has not reached, in order
        for delay, step in steps:
            for k in range(max(0, last - delay + 1), last + 1):
                step(at(k))
    for k in range(max(0, last - lookahead + 1), last + 1):
        yield finish(at(k))
