"""A video's shutter (the exposed share of each frame interval) estimated from its frames.

A flow between two blurry frames measures how the centres of their blurs moved, whatever the
shutter; the blur inside each frame is the shutter times that motion. So, for a candidate
shutter ``s``, the camera's trajectory inside each exposure follows from the flows
(:func:`blurvid.camera_motion.fit_trajectory`), each exposure is solved told it
(:func:`blurvid.exposure_solver.solve_exposure`), and the neighbours' solved frames, blurred
along an exposure's trajectory, predict its blurry frame
(:func:`blurvid.camera_motion.refine_trajectory`). With the right ``s`` the prediction
explains the frame; too short a shutter leaves the neighbours' frames blurry and the
prediction too sharp, too long a one over-sharpens them and blurs the prediction too much.
The figure compared is :attr:`blurvid.camera_motion.Refinement.explained` (how much of the
frame the motion explains beyond the neighbours' frames aligned without blur); candidates
within :data:`TIE` of the best are told apart by the prediction's median residual.

Only a moving camera says its shutter, so the video is read in windows of :data:`FRAMES`
frames, at most :data:`WINDOWS` of them, until one gives a verdict; where the camera barely
moves, the candidates explain about as well, or none explains much of the frames (something
moves on its own over most of them), the estimate is not ``measured`` and
:data:`blurvid.ordering.DEFAULT_SHUTTER` is used.

A steady pan says nothing either (each exposure's blur is its neighbours', and a wrong
shutter's solves predict as well: the figure then leans toward long shutters), so a window
whose camera moves steadily (:func:`steady`) gives no verdict: the evidence comes from the
camera's motion changing between frames, as a handheld camera's does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from blurvid import camera_motion as cm
from blurvid.color import rgb_to_y
from blurvid.errors import InputError
from blurvid.ordering import DEFAULT_SHUTTER, check_shutter
from blurvid.pipeline import as_rgb_float

AUTO = "auto"  # the shutter setting that estimates it

FRAMES = 6  # frames per window of the estimate
WINDOWS = 4  # windows read at most (the first FRAMES * WINDOWS frames of a video)
SIDE = 640  # px: the long side the frames are scaled to for the estimate (the flows' own)
COARSE = (0.25, 0.5, 0.75, 1.0)  # the candidates tried first ...
FINE = 0.125  # ... then this far on each side of the best
TIE = 0.02  # explained figures this close are told apart by the residual
MIN_SPREAD = 0.05  # the best candidate explains this much more than the worst, or no verdict
MIN_EXPLAINED = 0.4  # ... and at least this much of the frames
MIN_SPEED = 1.5  # px per frame interval at SIDE: a camera moving less says nothing
STEADY_PX = 1.0  # px at SIDE: a shift between frames changing by less than this (or ...
STEADY_SHARE = 0.1  # ... this share of itself) is a steady camera's (:func:`steady`)


@dataclass
class ShutterEstimate:
    """``shutter``: the estimate (:data:`DEFAULT_SHUTTER` when not ``measured``);
    ``scores``: ``{candidate: (explained, median residual)}`` of the candidates tried;
    ``reason``: why it is not measured (empty when it is)."""

    shutter: float
    measured: bool
    scores: dict[float, tuple[float, float]] = field(default_factory=dict)
    reason: str = ""
    frames: int = 0  # frames read
    first: int = 0  # the first frame of the window that decided (when measured)
    used: int = 0  # its frames

def _flows(lumas: list[np.ndarray]):
    """A :class:`blurvid.video_motion.MotionSolver` holding the flows' affine fits among
    ``lumas`` (they do not depend on the shutter), and the frames."""
    from blurvid.video_motion import MotionSolver, _Frame

    size = lumas[0].shape
    solver = MotionSolver(None, DEFAULT_SHUTTER, sweeps=0)
    frames: list[_Frame] = []
    for index, luma in enumerate(lumas):
        frames.append(_Frame(index, None, luma))
        solver.add_flows(frames, size)
    return solver, frames


def steady(solver) -> bool | None:
    """Whether the camera moved steadily over the window (``solver``: the flows' fits,
    :func:`_flows`): the shift between consecutive frames changes by less than
    :data:`STEADY_PX` px or :data:`STEADY_SHARE` of itself, whichever is larger. Then every
    exposure's blur is its neighbours' and a wrong shutter's solves predict the frames as
    well as the right one's. None when no two consecutive shifts were measured."""
    shifts = {i: fit.matrix[:2, 2] for (i, j), fit in solver.fits.items() if j == i + 1}
    pairs = [(shifts[i], shifts[i + 1]) for i in shifts if i + 1 in shifts]
    if not pairs:
        return None
    change = max(float(np.linalg.norm(b - a)) for a, b in pairs)
    speed = float(np.median([np.linalg.norm(a) for a, _ in pairs]))
    return change < max(STEADY_PX, STEADY_SHARE * speed)


def _score(base, frames, shutter: float) -> dict[int, tuple[float, float, bool]] | None:
    """``{exposure: (explained, median residual, decided)}`` over the exposures with
    neighbours on both sides that the candidate ``shutter``'s solves can refine
    (:class:`blurvid.camera_motion.Refinement`); None when none can. ``base``, the flows'
    fits (:func:`_flows`)."""
    from blurvid.video_motion import MotionSolver

    size = frames[0].small.shape
    solver = MotionSolver(None, shutter, sweeps=0)  # (the flows' trajectories refined)
    solver.fits, solver.cuts = dict(base.fits), set(base.cuts)
    for frame in frames:  # every trajectory (and which exposures have both sides) ...
        solver.first[frame.index] = solver.trajectory(frame.index, size)
    for frame in frames:  # ... the solves only where a neighbour's refinement uses them
        if frame.index in solver.two_sided:
            solver.first_pass(frame, size)
    found_by: dict[int, tuple[float, float, bool]] = {}
    blur = []
    for frame in frames[1:-1]:
        solver.final(frame, size)
        found = solver.refinement
        if found is None or frame.index not in solver.two_sided:
            continue
        found_by[frame.index] = (found.explained, float(np.nanmedian(found.residual)),
                                 found.decided)
        blur.append(found.trajectory.blur_length())
    # (the blur is about the shutter times the motion between frames)
    if not found_by or float(np.median(blur)) < MIN_SPEED * shutter:
        return None
    return found_by


def compared_exposures(per_exposure: dict[float, dict[int, tuple[float, float, bool]]]
                       ) -> list[int]:
    """The exposures :func:`compared` averages over: those every candidate refined and
    decided, else those every candidate refined."""
    common = set.intersection(*(set(v) for v in per_exposure.values())) \
        if per_exposure else set()
    decided = {i for i in common if all(v[i][2] for v in per_exposure.values())}
    return sorted(decided or common)


def compared(per_exposure: dict[float, dict[int, tuple[float, float, bool]]]
             ) -> dict[float, tuple[float, float]]:
    """``{candidate: (explained, median residual)}``, each the mean over the exposures that
    every candidate refined and decided (:func:`_score`; where none did, over those every
    candidate refined). An exposure whose frame holds nothing beyond the noise for one
    candidate counts 0 there and 1 for another whose over-sharpened solves miss by more: a
    longer shutter's favour, not evidence."""
    chosen = compared_exposures(per_exposure)
    if not chosen:
        return {}
    return {s: (float(np.mean([v[i][0] for i in chosen])),
                float(np.mean([v[i][1] for i in chosen]))) for s, v in per_exposure.items()}


def estimate_shutter(frames: Iterable[np.ndarray], side: int = SIDE) -> ShutterEstimate:
    """The shutter of the video whose frames are ``frames`` (any image
    :func:`blurvid.pipeline.as_rgb_float` takes; InputError as it raises), from windows of
    :data:`FRAMES` frames scaled to the long side ``side``, the first with a verdict
    (:func:`window_shutter`); at most :data:`WINDOWS` windows are read (the rest of
    ``frames`` is not consumed). A last window of 3 to 5 frames is tried too."""
    lumas: list[np.ndarray] = []
    found = ShutterEstimate(DEFAULT_SHUTTER, False, reason="fewer than 3 frames")
    read = 0
    for frame in frames:
        lumas.append(_luma(frame, side))
        read += 1
        if len(lumas) == FRAMES:
            found = window_shutter(lumas)
            found.first = read - FRAMES
            lumas = []
            if found.measured or read >= FRAMES * WINDOWS:
                break
    if len(lumas) >= 3 and not found.measured:  # a last, short window
        last = window_shutter(lumas)
        last.first = read - len(lumas)
        if last.measured or read < FRAMES:  # (else the full windows' reason stands)
            found = last
    found.frames = read
    return found


def window_shutter(lumas: list[np.ndarray]) -> ShutterEstimate:
    """The shutter from one window of consecutive frames (uint8 luma, one size, at least 3):
    the candidate whose solves best explain them (module docstring)."""
    if len(lumas) < 3:
        return ShutterEstimate(DEFAULT_SHUTTER, False, reason="fewer than 3 frames")
    if len({luma.shape for luma in lumas}) > 1:
        return ShutterEstimate(DEFAULT_SHUTTER, False, reason="frames of different sizes")
    per_exposure: dict[float, dict[int, tuple[float, float, bool]]] = {}
    base, frames = _flows(lumas)
    still = steady(base)
    if still is None:
        return ShutterEstimate(DEFAULT_SHUTTER, False,
                               reason="no motion could be measured between the frames")
    if still:
        return ShutterEstimate(DEFAULT_SHUTTER, False,
                               reason="the camera moves steadily or not at all")

    def tried(candidates: Sequence[float]) -> dict[float, tuple[float, float]]:
        for s in candidates:
            if s not in per_exposure and 0.0 < s <= 1.0:
                got = _score(base, frames, s)
                # a later candidate that did not refine every exposure the others are
                # compared on is left out (it would change what they are compared on, or
                # empty it)
                if got is not None and set(compared_exposures(per_exposure)) <= set(got):
                    per_exposure[s] = got
        return compared(per_exposure)

    scores = tried(COARSE)
    if len(scores) < 2:
        return ShutterEstimate(DEFAULT_SHUTTER, False, scores,
                               "the camera barely moves, or too little of its motion was "
                               "measured")
    scores = tried([best_of(scores) - FINE, best_of(scores) + FINE])
    explained = [v[0] for v in scores.values()]
    if max(explained) < MIN_EXPLAINED:
        return ShutterEstimate(DEFAULT_SHUTTER, False, scores,
                               "the camera's motion explains too little of the frames")
    if max(explained) - min(explained) < MIN_SPREAD:
        return ShutterEstimate(DEFAULT_SHUTTER, False, scores,
                               "every shutter explains the frames about as well")
    return ShutterEstimate(best_of(scores), True, scores, used=len(lumas))


def shutter_setting(value: str | float | None) -> float | None:
    """A shutter setting: a number in (0, 1] as a float, :data:`AUTO` (or None) as None
    (estimate it); InputError otherwise."""
    if value is None or (isinstance(value, str) and value.strip().lower() == AUTO):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"the shutter must be {AUTO!r} or a number in (0, 1] (the exposed "
                         f"share of the frame interval), got {value!r}") from None
    return check_shutter(number)


def describe(found: ShutterEstimate) -> str:
    """One line for the user: the shutter and where it came from."""
    if found.measured:
        return (f"shutter {found.shutter:g} of the frame interval, estimated from frames "
                f"{found.first + 1}-{found.first + found.used} (--shutter sets it)")
    return (f"shutter {found.shutter:g} assumed: it cannot be estimated from the first "
            f"{found.frames} frames ({found.reason}; --shutter sets it)")


def best_of(scores: dict[float, tuple[float, float]]) -> float:
    """The candidate that explains most; among those within :data:`TIE` of it,
    :data:`blurvid.ordering.DEFAULT_SHUTTER` if it is one (the frames cannot tell them
    apart, and most video is shot at it), else the one whose prediction misses least."""
    top = max(v[0] for v in scores.values())
    near = [s for s, v in scores.items() if v[0] >= top - TIE]
    if DEFAULT_SHUTTER in near:
        return DEFAULT_SHUTTER
    return min(near, key=lambda s: scores[s][1])


def _luma(frame: np.ndarray, side: int) -> np.ndarray:
    """uint8 luma scaled to the long side ``side`` at most."""
    y = rgb_to_y(as_rgb_float(np.asarray(frame)))
    h, w = y.shape
    return cm.analysis_luma(y, min(1.0, side / max(h, w)))
