"""Temporal order from neighbours, and the shutter timeline of a video.

A single blurred exposure does not say whether its 7 frames run forward or backward; its
neighbours in a video do. Exposure ``t`` gets a state ``o_t``: FORWARD (the frames as the
model gave them) or REVERSED. The costs, all on small luma thumbnails (long side
:data:`PROBE_SIDE`):

* **motion**: the optical flow ``F_t`` between the blurry input frames ``t`` and ``t + 1``
  (they look alike, so it measures well) is the camera's motion over one frame interval.
* **link** ``L_t(o_t, o_t+1)``: the last frame of ``t`` (in its state), moved along ``F_t`` by
  the time to the first frame of ``t + 1``, must look like that first frame (mean squared
  difference). Costs are directed in time: the true states link frames a shutter gap apart,
  while flipping every exposure links frames almost two exposures apart, so a whole clip
  reversed is *not* a tie; the time axis comes from the order of the input frames.
* **unary** ``U_t(o_t)``: the exposure's own first frame, moved along the motion for the
  time between its first and last frame, must look like its last frame (the camera's motion
  between exposures continues the motion within them). This decides an exposure whose links
  say little (the first and last of a clip, a frame next to a cut).

One global choice minimizes ``sum U + sum L`` by dynamic programming over the 2 states per
exposure (Viterbi, :func:`viterbi`), so one bad link does not flip the rest.
:class:`FixedLagOrder` does it on a stream: the state of exposure ``t`` is frozen once
``lag`` later exposures have been seen (memory stays bounded, output streams).

Timeline (in frame intervals from the first input frame, :func:`frame_times`): exposure
``t`` covers ``[t, t + s]`` for a shutter ``s`` in (0, 1] (the exposed share of the frame
interval; 0.5 is a 180-degree shutter), and its frame ``k`` sits at ``t + s (2k + 1) / 14``.
Output frames are evenly spaced, 7 per frame interval, starting at the first sharp frame
(:func:`output_times`); those in the gap between exposures are interpolated.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from blurvid.consistency import NUM_FRAMES
from blurvid.errors import InputError

FORWARD, REVERSED = 0, 1
PROBE_SIDE = 256  # long side of the thumbnails the costs are measured on
DEFAULT_SHUTTER = 0.5
MIN_SHUTTER = 0.01  # a shorter exposure is as good as sharp (and its timeline degenerates)
DEFAULT_LAG = 8


@dataclass
class Exposure:
    """One input frame's 7 sharp frames in their chosen order: ``frames`` uint8
    ``(7, H, W, 3)``; ``reversed``: whether the model's order was flipped."""

    index: int
    frames: np.ndarray
    reversed: bool



# ---------------------------------------------------------------- timeline


def check_shutter(shutter: float) -> float:
    """``shutter`` as a float; InputError unless it is in [:data:`MIN_SHUTTER`, 1]."""
    shutter = float(shutter)
    if not MIN_SHUTTER <= shutter <= 1:
        raise InputError(f"the shutter must be in [{MIN_SHUTTER:g}, 1] (the exposed share of "
                         f"the frame interval), got {shutter:g}")
    return shutter


def frame_times(exposure: int, shutter: float = DEFAULT_SHUTTER) -> np.ndarray:
    """Times of the 7 frames of ``exposure`` (frame intervals): ``t + s (2k + 1) / 14``."""
    check_shutter(shutter)
    return exposure + shutter * (2 * np.arange(NUM_FRAMES) + 1) / (2 * NUM_FRAMES)


def output_count(exposures: int, shutter: float = DEFAULT_SHUTTER) -> int:
    """How many output frames ``exposures`` input frames give: 7 per frame interval, from the
    first exposure's first frame to the last exposure's last one (no next exposure to fill
    the gap after it toward), so ``7 N - floor(7 (1 - s))`` or so."""
    check_shutter(shutter)
    if exposures < 1:
        return 0
    span = (exposures - 1) + shutter * (NUM_FRAMES - 1) / NUM_FRAMES
    return int(np.floor(span * NUM_FRAMES + 1e-6)) + 1


def output_times(exposures: int, shutter: float = DEFAULT_SHUTTER) -> np.ndarray:
    """The output frames' times (frame intervals): ``s / 14 + n / 7``, n < :func:`output_count`."""
    n = np.arange(output_count(exposures, shutter))
    return shutter / (2 * NUM_FRAMES) + n / NUM_FRAMES


# ---------------------------------------------------------------- costs


def probe_size(height: int, width: int, side: int = PROBE_SIDE) -> tuple[int, int]:
    """(width, height) of the thumbnails of a ``height x width`` video."""
    scale = min(1.0, side / max(height, width))
    return max(8, round(width * scale)), max(8, round(height * scale))


def thumbnail(luma: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A float32 luma image ``(H, W)`` in [0, 1] scaled to ``size`` (width, height)."""
    luma = np.asarray(luma, np.float32)
    if (luma.shape[1], luma.shape[0]) == tuple(size):
        return luma.copy()
    return cv2.resize(luma, size, interpolation=cv2.INTER_AREA)


_DIS_MIN_SIDE = 32  # OpenCV's DIS fails on tiny images: pad them


def _shift(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """The global translation (dx, dy) from ``first`` to ``second`` by phase correlation
    (robust to large motion, where a coarse-to-fine flow can lose track)."""
    window = cv2.createHanningWindow((first.shape[1], first.shape[0]), cv2.CV_32F)
    (dx, dy), response = cv2.phaseCorrelate(first.astype(np.float32), second.astype(np.float32),
                                            window)
    return np.array([dx, dy], np.float32) if np.isfinite(dx + dy) else np.zeros(2, np.float32)


def motion(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Dense optical flow from thumbnail ``first`` to ``second`` (h, w, 2): the global
    translation by phase correlation, refined by OpenCV's DIS on the aligned pair; whichever
    of the two (with and without the translation) explains ``second`` better."""
    h, w = first.shape
    shift = _shift(first, second)
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    pad_h, pad_w = max(0, _DIS_MIN_SIDE - h), max(0, _DIS_MIN_SIDE - w)

    def dense(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        a, b = (np.clip(np.rint(x * 255), 0, 255).astype(np.uint8) for x in (a, b))
        if pad_h or pad_w:
            a, b = (cv2.copyMakeBorder(x, 0, pad_h, 0, pad_w, cv2.BORDER_REPLICATE)
                    for x in (a, b))
        return dis.calc(a, b, None)[:h, :w]

    plain = dense(first, second)
    # second(y) ~ first(y - shift): align second back onto first's grid, flow the rest
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    aligned = cv2.remap(second, gx + shift[0], gy + shift[1], cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REPLICATE)
    refined = dense(first, aligned) + shift
    margin = max(1, h // 16)
    errors = [_difference(advance(first, f, 1.0), second, margin) for f in (plain, refined)]
    return refined if errors[1] < errors[0] else plain


def advance(image: np.ndarray, flow: np.ndarray | None, scale: float) -> np.ndarray:
    """``image`` moved along ``flow`` for ``scale`` of its span (a backward warp, edges
    replicated); unchanged without a flow."""
    if flow is None or scale == 0:
        return image
    h, w = image.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(image, gx - scale * flow[..., 0], gy - scale * flow[..., 1],
                     interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _difference(a: np.ndarray, b: np.ndarray, margin: int) -> float:
    """Mean squared difference away from the borders (warps replicate edges there)."""
    if margin and min(a.shape) > 4 * margin:
        a, b = a[margin:-margin, margin:-margin], b[margin:-margin, margin:-margin]
    return float(np.mean((a - b) ** 2))


def link_gap(shutter: float) -> float:
    """Time (frame intervals) from an exposure's last frame to the next one's first frame."""
    return 1.0 - shutter * (NUM_FRAMES - 1) / NUM_FRAMES


def exposure_span(shutter: float) -> float:
    """Time (frame intervals) from an exposure's first frame to its last."""
    return shutter * (NUM_FRAMES - 1) / NUM_FRAMES


def link_costs(ends: tuple[np.ndarray, np.ndarray], next_ends: tuple[np.ndarray, np.ndarray],
               flow: np.ndarray | None, shutter: float = DEFAULT_SHUTTER) -> np.ndarray:
    """``L[o, o']`` (2, 2): exposure ``t`` in state ``o`` followed by ``t + 1`` in state
    ``o'``. ``ends``/``next_ends``: (first, last) thumbnails of each as the model gave them;
    ``flow``: the motion from input ``t`` to ``t + 1`` (None: compare without moving)."""
    margin = max(1, ends[0].shape[0] // 32)
    gap = link_gap(shutter)
    costs = np.empty((2, 2))
    for o in (FORWARD, REVERSED):
        last = advance(ends[1] if o == FORWARD else ends[0], flow, gap)
        for o2 in (FORWARD, REVERSED):
            first = next_ends[0] if o2 == FORWARD else next_ends[1]
            costs[o, o2] = _difference(last, first, margin)
    return costs


def unary_costs(ends: tuple[np.ndarray, np.ndarray], flow: np.ndarray | None,
                shutter: float = DEFAULT_SHUTTER) -> np.ndarray:
    """``U[o]`` (2,): how well the exposure's first frame, moved along the motion ``flow``
    (one frame interval) for the time to its last frame, matches that last frame, in state
    ``o``. Zeros without a flow (no preference)."""
    if flow is None:
        return np.zeros(2)
    margin = max(1, ends[0].shape[0] // 32)
    span = exposure_span(shutter)
    return np.array([_difference(advance(ends[0], flow, span), ends[1], margin),
                     _difference(advance(ends[1], flow, span), ends[0], margin)])


# ---------------------------------------------------------------- dynamic programming


def viterbi(unary: np.ndarray, links: np.ndarray, first: int | None = None,
            link_in: np.ndarray | None = None) -> np.ndarray:
    """The states (N,) minimizing ``sum unary[t, o_t] + sum links[t, o_t, o_t+1]``.
    ``unary`` (N, 2), ``links`` (N - 1, 2, 2). ``first``/``link_in``: the state of an
    exposure already decided just before these, and its link costs into the first of them."""
    unary = np.asarray(unary, np.float64)
    n = len(unary)
    if n == 0:
        return np.zeros(0, int)
    score = unary[0].copy()
    if first is not None and link_in is not None:
        score += np.asarray(link_in)[first]
    back = np.zeros((n, 2), int)
    for t in range(1, n):
        total = score[:, None] + links[t - 1]  # [previous state, state]
        back[t] = np.argmin(total, axis=0)
        score = total[back[t], [0, 1]] + unary[t]
    states = np.zeros(n, int)
    states[-1] = int(np.argmin(score))
    for t in range(n - 1, 0, -1):
        states[t - 1] = back[t, states[t]]
    return states


class FixedLagOrder:
    """Viterbi on a stream: :meth:`push` each exposure's unary costs and its link costs from
    the previous exposure; the state of exposure ``t`` is frozen (returned by :meth:`push` /
    :meth:`finish`) once ``lag`` later exposures are in, choosing the best path through
    everything seen so far, given the states already frozen. Holds ``lag + 1`` costs."""

    def __init__(self, lag: int = DEFAULT_LAG) -> None:
        if lag < 0:
            raise ValueError(f"lag must be >= 0, got {lag}")
        self.lag = lag
        self.unary: list[np.ndarray] = []
        self.links: list[np.ndarray] = []  # links[i]: from pending exposure i - 1 (or frozen) to i
        self.frozen: int | None = None  # state of the last frozen exposure
        self.decided = 0  # how many exposures are frozen

    def push(self, unary: np.ndarray, link: np.ndarray | None) -> list[int]:
        """Add the next exposure; returns the states newly frozen (oldest first)."""
        self.unary.append(np.asarray(unary, np.float64))
        self.links.append(np.zeros((2, 2)) if link is None else np.asarray(link, np.float64))
        out = []
        while len(self.unary) > self.lag:
            out.append(self._freeze_one())
        return out

    def finish(self) -> list[int]:
        """Freeze every exposure still pending (the end of the clip)."""
        if not self.unary:
            return []
        states = self._path()
        self.unary, self.links = [], []
        self.frozen = int(states[-1])
        self.decided += len(states)
        return [int(s) for s in states]

    def _path(self) -> np.ndarray:
        return viterbi(np.stack(self.unary), np.stack(self.links[1:]) if len(self.links) > 1
                       else np.zeros((0, 2, 2)), self.frozen,
                       self.links[0] if self.frozen is not None else None)

    def _freeze_one(self) -> int:
        state = int(self._path()[0])
        self.unary.pop(0)
        self.links.pop(0)
        self.frozen = state
        self.decided += 1
        return state
