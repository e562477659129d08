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


# Memory of making and writing a clip (peak resident memory; measured against peak RSS in
# docs/performance.md, "Recursive clips: memory estimate against peak RSS"). The parts are the
# arrays the code holds, counted in frames of H x W x 3 float32 (12 bytes a pixel), plus
# measured constants for what no array of ours holds.
_MiB = 2**20
# The interpreter, numpy, OpenCV, ONNX Runtime and the model's weights: peak RSS of
# `blurvid interpolate` of a 64x48 photo 113-134 MiB (fast-int8, fast, paper), rounded up.
PROCESS_BYTES = 150 * _MiB
# One generator run (ONNX Runtime's arena, its input and output, the photo's YCbCr, what the
# allocator keeps of them between runs), per pixel of the window it runs on, plus a
# constant: peak RSS of extract minus the process, the photo and the 7 frames, measured at
# 0.3-4 megapixels: fast 167-206 bytes a pixel (fast-int8 less), paper 5.2-6.0 KB.
MODEL_BYTES_PER_PIXEL = {"fast": 200, "paper": 6100}
MODEL_FIXED_BYTES = 16 * _MiB
# A tiled run (above 4 MP; paper above 1.1 MP) also holds full-size arrays, per pixel: the
# photo's YCbCr 12, its Y 4, the 7 blended luma frames 28, their weights 4.
TILED_BYTES_PER_PIXEL = 48
# The ffmpeg process (libx264, yuv420p) an MP4 is piped to, peak RSS measured on 2 cores
# (x264 keeps more frames in flight on more cores; the figure varies by content and run): 60
# MiB at 320x240, 112 at 640x480, 244-283 at 1280x720, 513 at 1920x1080, 790 at 2560x1440,
# 2157 at 4000x3000; a line above them all.
ENCODER_FIXED_BYTES = 110 * _MiB
ENCODER_BYTES_PER_PIXEL = 220


def _model_arch(model) -> str:
    """``fast`` or ``paper``: whose measured figures :func:`model_memory` uses for ``model``
    (None, a bundled name or a file; ``fast-int8`` and a model file of one's own count as
    ``fast``)."""
    from blurvid.runtime import BUNDLED_MODELS

    text = "fast" if model is None else str(model)
    if text == "paper" or os.path.basename(text) == BUNDLED_MODELS["paper"]:
        return "paper"
    return "fast"


def _model_parts(height: int, width: int, model=None, ensemble: int = 1) -> tuple[int, int]:
    """(what a generator run keeps between runs, the full-size arrays of a tiled run) in
    bytes: see :func:`model_memory`."""
    from blurvid.tiling import ALIGN, DEFAULT_OVERLAP, auto_tile, tile_spans

    arch = _model_arch(model)
    tile = auto_tile(height, width, arch)
    window, full = height * width, 0
    if tile:
        overlap = min(DEFAULT_OVERLAP, tile // 4)
        window = (max(b - a for a, b in tile_spans(height, tile, overlap, ALIGN))
                  * max(b - a for a, b in tile_spans(width, tile, overlap, ALIGN)))
        full = TILED_BYTES_PER_PIXEL * height * width
    copies = 2 * ensemble * NUM_FRAMES * 4 * window if ensemble > 1 else 0
    return MODEL_FIXED_BYTES + MODEL_BYTES_PER_PIXEL[arch] * window + copies, full


def model_memory(height: int, width: int, model=None, ensemble: int = 1) -> int:
    """Bytes one extraction of a ``height x width`` photo needs beyond the process, the photo
    and the 7 frames it returns: the generator's working memory on the window it runs on
    (the whole photo, or a tile as :class:`blurvid.pipeline.Extractor` tiles it; ONNX
    Runtime keeps it between runs), with ``ensemble`` > 1 the copies' luma frames (held in a
    list and stacked: twice), and the full-size arrays of a tiled run (freed after it)."""
    return sum(_model_parts(height, width, model, ensemble))


@dataclass(frozen=True)
class MemoryEstimate:
    """Peak resident memory of making and writing a clip, in bytes, by part: ``shared`` is
    held throughout (the process, the photo, the model's working memory), ``making`` while
    the model runs, ``writing`` while the frames are written; :attr:`total` is the peak."""

    shared: dict[str, int]
    making: dict[str, int]
    writing: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.shared.values()) + max(sum(self.making.values()),
                                               sum(self.writing.values()))


def memory_estimate(height: int, width: int, levels: int, method: str, plays: int = 0, *,
                    kind: str | None = None, model=None, ensemble: int = 1) -> MemoryEstimate:
    """The parts of :func:`clip_memory` (see there for the arguments). ``shared``: the
    process, the photo and what the generator keeps between runs; ``making``: the frames
    held while the model runs (and a tiled run's full-size arrays); ``writing``: the frames
    held while they are written, the writer and the encoder."""
    _check_levels(levels)
    if kind is None:
        kind = "gif" if plays else "mp4"
    pixels = height * width
    frame = pixels * 3 * 4
    model_run, tiled = _model_parts(height, width, model, ensemble)
    shared = {"process": PROCESS_BYTES,
              # the photo as read, and the float copy the pipeline works on (as_rgb_float)
              "photo": 2 * frame,
              "model": model_run}
    if method == "recursive" and levels > 1:
        held = {"clip": frame_count(levels) * frame}
        making = {**held,
                  # level 1 and one set per level of recursion between it and the deepest
                  "sets": NUM_FRAMES * (levels - 1) * frame,
                  # the 7 frames being made, and the blurry photo of a pair they are made from
                  "extraction": (NUM_FRAMES + 1) * frame}
    else:
        held = {"level 1": NUM_FRAMES * frame}
        if levels > 1 and method == "flow":
            # two flows (2 channels each), the pixel grid, and the frame being made with its
            # temporaries (two warped frames, their weighted sum)
            held["frame"] = 16 * pixels + 8 * pixels + 5 * frame
        elif levels > 1:
            held["frame"] = 3 * frame  # the frame being made and its two weighted terms
        making = {"extraction": NUM_FRAMES * frame}
    if tiled:
        making["tiled run"] = tiled
    # each frame written: clipped and scaled float copies, 8-bit pixels (padded for MP4)
    writing = {**held, "writer": 2 * frame + 2 * 3 * pixels}
    if kind == "mp4":
        writing["encoder"] = ENCODER_FIXED_BYTES + ENCODER_BYTES_PER_PIXEL * pixels
    elif kind == "gif":
        writing["palette frames"] = plays * pixels
    return MemoryEstimate(shared, making, writing)


def clip_memory(height: int, width: int, levels: int, method: str, plays: int = 0, *,
                kind: str | None = None, model=None, ensemble: int = 1) -> int:
    """Bytes of memory making and writing a clip takes at its peak (resident memory of the
    process and, for an MP4, of its encoder; measured within 25 % above the peak in
    docs/performance.md): the process and the model's working memory (:func:`model_memory`
    for ``model`` and ``ensemble``), the photo; then the larger of making the frames (for
    ``recursive``: every frame of the clip as float32, one 7-frame set per level and the
    extraction under way; else the level-1 extraction) and writing them (the clip or the
    level-1 frames and, for ``flow``, the flows of one pair and a frame being made; the
    writer; ``kind`` ``mp4``: the ffmpeg encoder, ``gif``: ``plays`` frames as 8-bit palette
    pixels until the file is written, ``frames``: PNGs one at a time). ``kind`` None: ``gif``
    if ``plays`` else ``mp4``. :func:`memory_estimate` gives the parts."""
    return memory_estimate(height, width, levels, method, plays, kind=kind, model=model,
                           ensemble=ensemble).total


# Where available_memory looks (tests point these at fake files).
MEMINFO = "/proc/meminfo"
CGROUP_ROOT = "/sys/fs/cgroup"
PROC_CGROUP = "/proc/self/cgroup"
_NO_LIMIT = 2**60  # cgroup v1 writes "no limit" as a number near 2^63


def _read_int(path: str) -> int | None:
    try:
        with open(path) as f:
            text = f.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None  # None also for v2's "max"


def _stat_value(path: str, keys: tuple[str, ...]) -> int:
    """The first of ``keys`` in a cgroup ``memory.stat`` file (0 if none is there)."""
    try:
        with open(path) as f:
            fields = dict(line.split()[:2] for line in f if len(line.split()) >= 2)
    except OSError:
        return 0
    for key in keys:
        if fields.get(key, "").isdigit():
            return int(fields[key])
    return 0


def _meminfo_available(meminfo: str) -> int | None:
    try:
        with open(meminfo) as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def cgroup_memory_left(root: str | None = None, proc_cgroup: str | None = None) -> int | None:
    """Bytes this process's memory cgroup (and every cgroup above it) still allows, or None
    without a limit: cgroup v2 ``memory.max`` minus ``memory.current``, v1
    ``memory.limit_in_bytes`` minus ``memory.usage_in_bytes``, the file cache the kernel can
    drop (``inactive_file`` of ``memory.stat``) counted as free. ``root``: where the cgroup
    file system is mounted (default :data:`CGROUP_ROOT`); ``proc_cgroup``: the process's
    cgroup list (default :data:`PROC_CGROUP`)."""
    root = CGROUP_ROOT if root is None else root
    try:
        with open(PROC_CGROUP if proc_cgroup is None else proc_cgroup) as f:
            entries = [line.rstrip("\n").split(":", 2) for line in f]
    except OSError:
        entries = []
    places = []  # (folder of the memory controller, v2?, the process's cgroup path)
    for entry in entries:
        if len(entry) != 3:
            continue
        _, controllers, path = entry
        if controllers == "" and os.path.isfile(os.path.join(root, "cgroup.controllers")):
            places.append((root, True, path))
        elif "memory" in controllers.split(","):
            places.append((os.path.join(root, "memory"), False, path))
    if not places:  # no /proc/self/cgroup: the mount point's own files, if any
        places = [(root, True, "/"), (os.path.join(root, "memory"), False, "/")]
    limits = []
    for base, v2, path in places:
        limit_name, usage_name = (("memory.max", "memory.current") if v2 else
                                  ("memory.limit_in_bytes", "memory.usage_in_bytes"))
        parts = [p for p in path.split("/") if p]
        # the process's cgroup and those above it (in a container, the path may name a
        # cgroup outside its namespace: then only the mount point's own files are there)
        for depth in range(len(parts), -1, -1):
            folder = os.path.join(base, *parts[:depth])
            limit = _read_int(os.path.join(folder, limit_name))
            usage = _read_int(os.path.join(folder, usage_name))
            if limit is None or usage is None or limit >= _NO_LIMIT:
                continue
            cache = _stat_value(os.path.join(folder, "memory.stat"),
                                ("inactive_file",) if v2 else
                                ("total_inactive_file", "inactive_file"))
            limits.append(max(0, limit - usage + min(cache, usage)))
    return min(limits) if limits else None


def address_space_left() -> int | None:
    """Bytes the address-space limit (``ulimit -v``, RLIMIT_AS) leaves this process beyond
    what it has mapped so far, or None without a limit."""
    try:
        import resource

        limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    except (ImportError, OSError, ValueError):
        return None
    if limit == resource.RLIM_INFINITY or limit < 0:
        return None
    try:
        with open("/proc/self/statm") as f:
            mapped = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        mapped = 0
    return max(0, limit - mapped)


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation, or None when unknown: the least of
    what the machine has free (Linux: MemAvailable of :data:`MEMINFO`), what the process's
    memory cgroup allows (:func:`cgroup_memory_left`: a container's limit) and what its
    address-space limit allows (:func:`address_space_left`)."""
    free = _meminfo_available(MEMINFO)
    if free is None:
        try:
            free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, OSError, ValueError):
            free = None
    figures = [x for x in (free, cgroup_memory_left(), address_space_left()) if x is not None]
    return min(figures) if figures else None


def check_clip_memory(height: int, width: int, levels: int, method: str, plays: int = 0,
                      available: int | None = None, *, kind: str | None = None, model=None,
                      ensemble: int = 1) -> int:
    """:func:`clip_memory` if it fits in ``available`` bytes (default:
    :func:`available_memory`); else an InputError with the figure and the ways out. Returns
    the estimate. Call it before any work: it reads nothing but the figures."""
    need = clip_memory(height, width, levels, method, plays, kind=kind, model=model,
                       ensemble=ensemble)
    free = available_memory() if available is None else available
    if free is not None and need > free:
        ways = ["--max-side N (a smaller photo)", "a lower --levels"]
        if method == "recursive":
            ways.append("--method flow (frames made one at a time)")
        if plays:
            ways.append("an .mp4 or a folder of PNGs instead of a GIF")
        raise InputError(f"a level-{levels} {method} clip of {width}x{height} needs about "
                         f"{need / 2**30:.1f} GiB, more than the {free / 2**30:.1f} GiB "
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
