"""More than 7 frames from one photo: the paper's recursion, optical flow, and a plain blend.

Timeline (exact, shared by every method). The exposure is the interval [0, 1]. A set of 7
frames *tiles* an interval [a, b]: frame k (k = 0..6) shows [a + k w, a + (k + 1) w] with
w = (b - a) / 7 and gets the timestamp of its center. Level 1 is the 7 extracted frames tiling
[0, 1], at times (2k + 1) / 14.

``recursive`` (seed paper, sec. 4.6.2): for every adjacent pair (k, k + 1) of a 7-frame set,
their average in linear light is a new blurry photo of the two slots [a + k w, a + (k + 2) w];
extracting it gives 7 frames tiling that interval, oriented so that its first frame is the one
closest to frame k (the model's order is ambiguous, see docs/paper.md). Level L repeats this L - 1
times on every new 7-frame set and keeps the union of the deepest sets, sorted by time. The
timestamps are distinct: two overlapping pairs' frames interleave (one set lands on odd, the
other on even multiples of w / 7), and pairs two apart only touch. Frame counts: level 1: 7,
level 2: 42, level 3: 252, level L: 7 * 6^(L-1) (model runs: (6^L - 1) / 5).
Level-2 timestamps are p / 49 for p in {1, 3, 5, 7, 8, 9, ..., 41, 42, 44, 46, 48}.

``flow``: the level-1 frames only (one model run), and for every target timestamp a frame
warped from the two bracketing level-1 frames with dense optical flow (OpenCV DIS) in both
directions and blended by distance in time; targets outside the first/last level-1 center are
extrapolated along the end pair's flow.

``blend``: the naive baseline; a linear blend of the two bracketing level-1 frames (the end
frame is held outside the level-1 centers).

``flow`` and ``blend`` produce frames at the same timestamps as ``recursive``, so the three
can be scored against the same ground truth (``benchmarks/interpolation.py``).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction

import cv2
import numpy as np

from blurvid.color import rgb_to_y
from blurvid.consistency import NUM_FRAMES, reblur
from blurvid.errors import InputError

METHODS = ("recursive", "flow", "blend")
DEFAULT_METHOD = "flow"  # measures best against ground truth: docs/interpolation.md
MAX_LEVELS = 4


@dataclass(frozen=True)
class Clip:
    """Interpolated frames: ``frames`` float32 ``(N, H, W, 3)`` in [0, 1], ``times`` the
    timestamps within the exposure [0, 1] (increasing), ``level`` and ``method``."""

    frames: np.ndarray
    times: np.ndarray
    level: int
    method: str


def _check_levels(levels: int) -> None:
    if isinstance(levels, bool) or not isinstance(levels, int) or not 1 <= levels <= MAX_LEVELS:
        raise InputError(f"levels must be a whole number from 1 to {MAX_LEVELS}, got {levels!r}")


def frame_count(levels: int) -> int:
    """Number of frames at ``levels``: 7 * 6^(levels - 1)."""
    _check_levels(levels)
    return NUM_FRAMES * 6 ** (levels - 1)


def _centers(a: Fraction, b: Fraction) -> list[Fraction]:
    w = (b - a) / NUM_FRAMES
    return [a + (2 * k + 1) * w / 2 for k in range(NUM_FRAMES)]


def _tiles(a: Fraction, b: Fraction, depth: int) -> list[tuple[Fraction, Fraction]]:
    """The intervals of the 7-frame sets that ``depth`` recursions of [a, b] end with."""
    if depth == 0:
        return [(a, b)]
    w = (b - a) / NUM_FRAMES
    return [t for k in range(NUM_FRAMES - 1) for t in _tiles(a + k * w, a + (k + 2) * w, depth - 1)]


def timeline(levels: int) -> np.ndarray:
    """Exact timestamps (float64, increasing, within (0, 1)) of the frames of ``levels``."""
    _check_levels(levels)
    times = [t for a, b in _tiles(Fraction(0), Fraction(1), levels - 1) for t in _centers(a, b)]
    ordered = sorted(times)
    assert len(set(ordered)) == len(ordered), "timeline has duplicate timestamps"
    return np.array([float(t) for t in ordered])


def _orient(frames: np.ndarray, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """``frames`` forward or reversed, whichever starts nearer ``first`` and ends nearer ``last``."""
    forward = np.mean((frames[0] - first) ** 2) + np.mean((frames[-1] - last) ** 2)
    backward = np.mean((frames[-1] - first) ** 2) + np.mean((frames[0] - last) ** 2)
    return frames[::-1] if backward < forward else frames


def recursive(extract: Callable[[np.ndarray], np.ndarray], frames: np.ndarray, levels: int,
              progress: Callable[[], None] | None = None) -> np.ndarray:
    """The paper's recursion from level-1 ``frames`` (7, H, W, 3): frames of ``levels`` in
    timeline order. ``extract`` maps a blurry RGB image to 7 frames; ``progress`` is called
    after each model run.

    Memory: the clip is one float32 array, filled in place (each deepest set is copied to its
    frames' places on the timeline and dropped); besides it, only the 7-frame sets on the way
    down from level 1 to the set being extracted are held (:func:`clip_memory`)."""
    _check_levels(levels)
    order = sorted(t for a, b in _tiles(Fraction(0), Fraction(1), levels - 1)
                   for t in _centers(a, b))
    place = {t: n for n, t in enumerate(order)}
    out = np.empty((len(order),) + np.shape(frames)[1:], np.float32)

    def expand(seven: np.ndarray, a: Fraction, b: Fraction, depth: int) -> None:
        if depth == 0:
            for t, frame in zip(_centers(a, b), seven):
                out[place[t]] = frame
            return
        w = (b - a) / NUM_FRAMES
        for k in range(NUM_FRAMES - 1):
            sub = _orient(extract(reblur(seven[k : k + 2])), seven[k], seven[k + 1])
            if progress is not None:
                progress()
            expand(sub, a + k * w, a + (k + 2) * w, depth - 1)
            del sub  # before the next set is extracted

    expand(frames, Fraction(0), Fraction(1), levels - 1)
    return out


def _bracket(times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per target time: index k of the level-1 pair (k, k + 1) and the position alpha in it
    (0 at frame k, 1 at frame k + 1; < 0 or > 1 outside the level-1 centers)."""
    centers = (2 * np.arange(NUM_FRAMES) + 1) / (2 * NUM_FRAMES)
    k = np.clip(np.searchsorted(centers, times, side="right") - 1, 0, NUM_FRAMES - 2)
    alpha = (times - centers[k]) / (centers[k + 1] - centers[k])
    return k, alpha


def blend(frames: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Naive baseline: linear blend of the bracketing level-1 frames at ``times``."""
    return _at_times(Interpolator(frames, "blend"), times)


def _grey_u8(frame: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(rgb_to_y(frame) * 255), 0, 255).astype(np.uint8)


@functools.lru_cache(maxsize=4)
def _pixel_grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The x and y coordinates of every pixel (float32, read-only), made once per size."""
    gx, gy = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    gx.flags.writeable = gy.flags.writeable = False
    return gx, gy


def warp(image: np.ndarray, flow: np.ndarray, scale: float) -> np.ndarray:
    """Backward warp: out(y) = image(y - scale * flow(y)), edges replicated (any dtype
    OpenCV's remap takes: float frames here, uint8 ones in :mod:`blurvid.video`)."""
    gx, gy = _pixel_grid(*flow.shape[:2])
    return cv2.remap(image, gx - scale * flow[..., 0], gy - scale * flow[..., 1],
                     interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


_DIS_MIN_SIDE = 32  # OpenCV's DIS crashes (segfault) on images under ~16 px a side


def dis_flow(dis, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """DIS flow (``dis``: an OpenCV DISOpticalFlow) from the uint8 grey ``first`` to
    ``second`` (H, W, 2); small images are edge-padded first, then cropped."""
    h, w = first.shape
    pad_h, pad_w = max(0, _DIS_MIN_SIDE - h), max(0, _DIS_MIN_SIDE - w)
    if pad_h or pad_w:
        first, second = (cv2.copyMakeBorder(g, 0, pad_h, 0, pad_w, cv2.BORDER_REPLICATE)
                         for g in (first, second))
    return dis.calc(first, second, None)[:h, :w]


class Interpolator:
    """Frames at any time of the exposure from the 7 level-1 frames, made one at a time
    (``flow`` or ``blend``): memory holds the 7 frames and the two flows of one pair of
    neighbours, whatever the number of frames asked for (the last pair's flows are kept, so
    frames asked for in time order compute each pair's flows once)."""

    def __init__(self, frames: np.ndarray, method: str = DEFAULT_METHOD) -> None:
        if method not in ("flow", "blend"):
            raise ValueError(f"Interpolator makes flow or blend frames, not {method!r}")
        self.frames = frames
        self.method = method
        self._pair: tuple[int, np.ndarray, np.ndarray] | None = None
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)

    def _flows(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        if self._pair is None or self._pair[0] != i:
            first, second = _grey_u8(self.frames[i]), _grey_u8(self.frames[i + 1])
            self._pair = (i, dis_flow(self._dis, first, second), dis_flow(self._dis, second, first))
        return self._pair[1], self._pair[2]

    def frame_at(self, time: float) -> np.ndarray:
        """The frame at ``time`` in [0, 1]: float32 ``(H, W, 3)`` in [0, 1]."""
        k, alpha = _bracket(np.array([time], dtype=np.float64))
        i, a = int(k[0]), float(alpha[0])
        if self.method == "blend":
            a = min(max(a, 0.0), 1.0)
            return ((1 - a) * self.frames[i] + a * self.frames[i + 1]).astype(np.float32)
        forward, backward = self._flows(i)
        from_first = warp(self.frames[i], forward, a)  # frame i -> i + 1
        from_second = warp(self.frames[i + 1], backward, 1 - a)  # frame i + 1 -> i
        weight = min(max(a, 0.0), 1.0)
        return np.clip((1 - weight) * from_first + weight * from_second, 0.0, 1.0)


def flow(frames: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Optical-flow interpolation (OpenCV DIS, both directions) of level-1 frames at ``times``."""
    return _at_times(Interpolator(frames, "flow"), times)


def _at_times(source: "Interpolator", times: np.ndarray) -> np.ndarray:
    """``source``'s frames at ``times``, in one float32 array ``(len(times), H, W, 3)``."""
    out = np.empty((len(times),) + source.frames.shape[1:], np.float32)
    for n, t in enumerate(np.asarray(times, dtype=np.float64)):
        out[n] = source.frame_at(float(t))
    return out


@dataclass(frozen=True)
class ClipStream:
    """A clip made on demand: ``times`` (increasing, within the exposure [0, 1]) and
    ``frame(n)``, frame n as float32 ``(H, W, 3)`` in [0, 1]. For ``flow`` and ``blend`` each
    frame is computed when asked for (memory does not grow with the level); ``recursive``
    holds its frames (the paper's recursion needs them all: :func:`clip_memory` says how
    much)."""

    times: np.ndarray
    frame: Callable[[int], np.ndarray]
    level: int
    method: str

    def __len__(self) -> int:
        return len(self.times)

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self.frame(n) for n in range(len(self.times)))


def stream_frames(extract: Callable[[np.ndarray], np.ndarray], image: np.ndarray,
                  levels: int = 2, method: str = DEFAULT_METHOD,
                  progress: Callable[[], None] | None = None) -> ClipStream:
    """The frames of ``levels`` from one RGB ``image`` (H, W, 3) float in [0, 1] with
    ``method``, as a :class:`ClipStream`. ``extract`` maps an RGB image to its 7 frames (e.g.
    :meth:`blurvid.pipeline.Extractor.extract`); ``progress`` is called after each model run."""
    _check_levels(levels)
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    level1 = np.asarray(extract(image), np.float32)
    if progress is not None:
        progress()
    times = timeline(levels)
    if levels == 1:
        return ClipStream(times, level1.__getitem__, levels, method)
    if method == "recursive":
        frames = recursive(extract, level1, levels, progress)
        return ClipStream(times, frames.__getitem__, levels, method)
    source = Interpolator(level1, method)
    return ClipStream(times, lambda n: source.frame_at(float(times[n])), levels, method)


def clip_memory(height: int, width: int, levels: int, method: str, plays: int = 0) -> int:
    """Bytes the frames of a clip hold at once while it is made (float32 RGB): the 7
    level-1 frames plus, for ``flow``, the flows of one pair and a frame being made; for
    ``recursive`` every frame of the clip plus one 7-frame set per level of recursion.
    ``plays``: frames a GIF holds as 8-bit palette pixels until it is written (0 for MP4 and
    PNG frames, which are written one at a time)."""
    _check_levels(levels)
    frame = height * width * 3 * 4
    held = frame * (NUM_FRAMES + 4)  # + two flows (2 channels each) + the frame being made
    if method == "recursive" and levels > 1:
        held = frame * (frame_count(levels) + NUM_FRAMES * levels)
    return held + plays * height * width


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux: MemAvailable), or None."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None


def check_clip_memory(height: int, width: int, levels: int, method: str, plays: int = 0,
                      available: int | None = None) -> int:
    """:func:`clip_memory` if it fits in ``available`` bytes (default: what the machine has
    free, keeping a quarter for the model and the encoder); else an InputError with the figure
    and the ways out. Returns the estimate."""
    need = clip_memory(height, width, levels, method, plays)
    free = available_memory() if available is None else available
    if free is not None and need > 0.75 * free:
        ways = ["--max-side N (a smaller photo)", "a lower --levels"]
        if method == "recursive":
            ways.append("--method flow (frames made one at a time)")
        if plays:
            ways.append("an .mp4 or a folder of PNGs instead of a GIF")
        raise InputError(f"a level-{levels} {method} clip of {width}x{height} needs about "
                         f"{need / 2**30:.1f} GiB, more than the {0.75 * free / 2**30:.1f} GiB "
                         f"this machine can spare; use " + ", ".join(ways))
    return need


def interpolate_frames(extract: Callable[[np.ndarray], np.ndarray], image: np.ndarray,
                       levels: int = 2, method: str = DEFAULT_METHOD,
                       progress: Callable[[], None] | None = None) -> Clip:
    """Frames of ``levels`` from one RGB ``image`` (H, W, 3) float in [0, 1] with ``method``,
    all in one array (:func:`stream_frames` makes them one at a time).

    ``extract`` maps an RGB image to its 7 frames (e.g. :meth:`Extractor.extract`).
    """
    clip = stream_frames(extract, image, levels, method, progress)
    frames = np.stack(list(clip)) if len(clip) else np.empty((0,), np.float32)
    return Clip(frames=np.asarray(frames, np.float32), times=clip.times, level=levels,
                method=method)


def model_runs(levels: int, method: str) -> int:
    """How many times the generator runs for ``levels`` with ``method``."""
    _check_levels(levels)
    return (6**levels - 1) // 5 if method == "recursive" else 1
