"""The video pipeline: every frame of a blurry video -> its 7 sharp frames, in the right
order, with the shutter gaps filled: a 7x slower (or 7x smoother) sharp video.

Streaming, in constant memory whatever the length. Unless it is given, the shutter is
estimated first from the video's first frames (:mod:`blurvid.shutter`). Each exposure's 7
frames are made by the default ``motion`` method (:mod:`blurvid.video_motion`: solved told
the camera's motion measured between the neighbouring frames) or, with ``method="network"``,
by steps 2-3 below; steps 1 and 4 are shared:

1. input frames come one at a time (:mod:`blurvid.footage`, or any iterable of RGB arrays);
2. the model extracts each one's 7 frames (:class:`blurvid.pipeline.Extractor`), kept as
   8-bit RGB (the output is 8-bit), with small luma thumbnails of its first and last frame
   and of the input;
3. :mod:`blurvid.ordering` chooses forward or reversed per exposure by dynamic programming
   over a sliding window: an exposure's order is frozen once ``lag`` later ones are in, so
   at most ``lag + 2`` exposures' frames are held (:func:`oriented_exposures`);
4. the output frames are evenly spaced in time, 7 per frame interval
   (:func:`blurvid.ordering.output_times`): a time on one of the 7 frames is that frame,
   others are interpolated with optical flow between the two sharp frames around them,
   across the shutter gap too (the last frame of one exposure and the first of the next;
   :func:`timeline_frames`).

Steps 1-3 run on a worker thread one exposure ahead of step 4 and the encoder
(:func:`_ahead`, a bounded handoff): on two cores the model works on the next input frame
while the gaps of the previous one are filled and its frames encoded. The frames are the same
bit for bit either way (``timeline_frames(..., ahead=0)`` runs everything in turn).

:func:`video_frames` is the public generator; ``blurvid video`` (:mod:`blurvid.cli.video`)
writes the frames to an MP4 (:func:`blurvid.clips.write_mp4`) or a folder of PNGs with a
timeline JSON.
"""

from __future__ import annotations

import os
import queue
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import closing
from itertools import chain
from dataclasses import dataclass

import cv2
import numpy as np

from blurvid.consistency import NUM_FRAMES
from blurvid.errors import InputError
from blurvid.footage import probe, read_frames
from blurvid.interpolation import dis_flow, warp
from blurvid.io import fit_max_side
from blurvid.ordering import (DEFAULT_LAG, DEFAULT_SHUTTER, Exposure, FixedLagOrder,
                              check_shutter,
                              link_costs, link_gap, motion, output_count,
                              probe_size, thumbnail, unary_costs)
from blurvid.pipeline import DEFAULT_PROJECTION, Extractor, as_rgb_float, strip_to_u8
from blurvid.shutter import AUTO, ShutterEstimate, estimate_shutter, shutter_setting
from blurvid.video_motion import SWEEPS, check_sweeps, motion_exposures

METHODS = ("network", "motion")  # how each exposure's 7 frames are made (video_frames)
DEFAULT_METHOD = "motion"  # measures better on both kinds of clip: docs/video.md
DEFAULT_MAX_SIDE = 1280  # video frames are scaled down to this long side unless told
TWEEN_FLOW_SIDE = 640  # the gap-filling flows are measured at this long side at most
X264_PRESET = "veryfast"  # half the encoding time of the default, a little larger files


@dataclass
class _Pending:
    index: int
    frames: np.ndarray  # uint8 (7, H, W, 3), the model's order
    ends: tuple[np.ndarray, np.ndarray]  # thumbnails of its first and last frame
    blur: np.ndarray  # thumbnail of the input


def extract_exposure(extractor: Extractor, frame: np.ndarray, index: int) -> _Pending:
    """The model on one input frame (uint8 RGB, or float in [0, 1]): its 7 frames as uint8
    and the thumbnails the ordering needs."""
    rgb = as_rgb_float(np.asarray(frame))
    ycbcr = extractor.to_ycbcr(rgb)
    del rgb
    luma = extractor.luma_frames(ycbcr)
    h, w = luma.shape[1:]
    out = np.empty((NUM_FRAMES, h, w, 3), np.uint8)
    for k in range(NUM_FRAMES):
        extractor.merge_frame(luma[k], ycbcr, strip_to_u8, out=out[k])
    size = probe_size(h, w)
    return _Pending(index, out, (thumbnail(luma[0], size), thumbnail(luma[-1], size)),
                    thumbnail(ycbcr[..., 0], size))


def oriented_exposures(extractor: Extractor, frames: Iterable[np.ndarray],
                       shutter: float = DEFAULT_SHUTTER, lag: int = DEFAULT_LAG,
                       max_side: int | None = None, progress=None) -> Iterator[Exposure]:
    """Each input frame's :class:`Exposure`, in input order, as soon as its order is frozen
    (``lag`` exposures later, or at the end). ``progress`` is called after each model run."""
    shutter = check_shutter(shutter)
    order = FixedLagOrder(lag)
    pending: deque[_Pending] = deque()
    previous: _Pending | None = None
    link = None  # link costs from the exposure before `previous` into it
    flow = None  # motion from the input before `previous` to `previous`

    def release(states):
        for state in states:
            item = pending.popleft()
            # a reversed view, not a 20 MB copy at 720p (each frame stays contiguous)
            yield Exposure(item.index, item.frames[::-1] if state else item.frames,
                           bool(state))

    for index, frame in enumerate(frames):
        current = extract_exposure(extractor, fit_max_side(frame, max_side)[0], index)
        if progress is not None:
            progress()
        if previous is not None and current.frames.shape != previous.frames.shape:
            raise InputError(f"frame {index} is {current.frames.shape[2]}x"
                             f"{current.frames.shape[1]}, the frames before it "
                             f"{previous.frames.shape[2]}x{previous.frames.shape[1]}")
        pending.append(current)
        if previous is not None:
            flow = motion(previous.blur, current.blur)
            states = order.push(unary_costs(previous.ends, flow, shutter), link)
            link = link_costs(previous.ends, current.ends, flow, shutter)
            yield from release(states)
        previous = current
    if previous is not None:
        yield from release(order.push(unary_costs(previous.ends, flow, shutter), link))
        yield from release(order.finish())


class _Tween:
    """Frames between two uint8 RGB frames by optical flow (OpenCV DIS both ways, each side
    warped toward the time, blended by distance); the flows of the last pair are kept."""

    def __init__(self) -> None:
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
        self._key: tuple | None = None
        self._flows: tuple[np.ndarray, np.ndarray] | None = None

    def _pair(self, a: np.ndarray, b: np.ndarray, key) -> tuple[np.ndarray, np.ndarray]:
        if self._key != key:
            h, w = a.shape[:2]
            scale = min(1.0, TWEEN_FLOW_SIDE / max(h, w))  # flows of large frames at a
            size = (max(1, round(w * scale)), max(1, round(h * scale)))  # smaller size
            ga, gb = (cv2.resize(cv2.cvtColor(x, cv2.COLOR_RGB2GRAY), size,
                                 interpolation=cv2.INTER_AREA) if scale < 1
                      else cv2.cvtColor(x, cv2.COLOR_RGB2GRAY) for x in (a, b))
            flows = [dis_flow(self._dis, x, y) for x, y in ((ga, gb), (gb, ga))]
            if scale < 1:
                flows = [cv2.resize(f, (w, h), interpolation=cv2.INTER_LINEAR) / scale
                         for f in flows]
            self._flows = (flows[0], flows[1])
            self._key = key
        return self._flows

    def between(self, a: np.ndarray, b: np.ndarray, alpha: float, key) -> np.ndarray:
        """The frame at ``alpha`` (0: ``a``, 1: ``b``). ``key`` names the pair (e.g. the
        exposure and the slot): the flows are computed once per pair, not once per frame
        (``frames[k]`` is a new array object each time, so the arrays cannot be the key)."""
        forward, backward = self._pair(a, b, key)
        from_a = warp(a, forward, alpha)
        from_b = warp(b, backward, 1.0 - alpha)
        return cv2.addWeighted(from_a, 1.0 - alpha, from_b, alpha, 0.0)


_ON_FRAME = 1e-6  # a time this close (in frame slots) to a sharp frame is that frame
AHEAD = 1  # exposures made on a worker thread ahead of the frames being filled and encoded
_END = object()


def _ahead(items: Iterable, depth: int = AHEAD) -> Iterator:
    """``items``, made on a worker thread at most ``depth`` items ahead of the consumer
    (``depth`` 0: made here, in turn). The model runs on the next input frames while the
    consumer fills the gaps and encodes: they overlap instead of taking turns. A worker's
    error is raised here; when the consumer stops early (an error, Ctrl-C, enough frames),
    the worker stops after its current item, closes ``items`` (e.g. the video reader) and
    is joined before this returns."""
    if depth < 1:
        yield from items
        return
    handoff: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry) -> bool:
        while not stop.is_set():
            try:
                handoff.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        source = iter(items)
        try:
            for item in source:
                if not put((item, None)):
                    return
                del item
            put((_END, None))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer's thread
            put((_END, exc))
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=work, name="blurvid-video", daemon=True)
    worker.start()
    try:
        while True:
            item, error = handoff.get()
            if item is _END:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        worker.join()


def timeline_frames(exposures: Iterable[Exposure], count: int,
                    shutter: float = DEFAULT_SHUTTER,
                    ahead: int = AHEAD) -> Iterator[tuple[float, np.ndarray]]:
    """``(time, frame)`` for the first ``count`` output times
    (:func:`blurvid.ordering.output_times`; time in frame intervals, frame uint8 RGB) from
    the oriented exposures, holding two at a time; ``exposures`` is iterated on a worker
    thread up to ``ahead`` exposures ahead (:func:`_ahead`; 0: in this thread)."""
    shutter = check_shutter(shutter)
    source = _ahead(exposures, ahead)
    try:
        yield from _timeline(source, count, shutter)
    finally:
        source.close()  # stops and joins the worker when the consumer stops early


def _timeline(source: Iterator[Exposure], count: int,
              shutter: float) -> Iterator[tuple[float, np.ndarray]]:
    tween = _Tween()
    current = next(source, None)
    following = next(source, None)
    gap = link_gap(shutter)
    for n in range(count):
        time = shutter / (2 * NUM_FRAMES) + n / NUM_FRAMES  # output_times(), one at a time
        while current is not None and following is not None and \
                time >= following.index + shutter / (2 * NUM_FRAMES) - _ON_FRAME:
            current, following = following, next(source, None)
        if current is None:
            return
        slot = (time - current.index) / shutter * NUM_FRAMES - 0.5  # frame index units
        nearest = int(round(slot))
        if abs(slot - nearest) < _ON_FRAME and 0 <= nearest < NUM_FRAMES:
            frame = current.frames[nearest]
        elif slot < NUM_FRAMES - 1:
            k = int(np.floor(slot))
            frame = tween.between(current.frames[k], current.frames[k + 1], slot - k,
                                  key=(current.index, k))
        elif following is not None:  # the shutter gap
            last_time = current.index + shutter * (2 * NUM_FRAMES - 1) / (2 * NUM_FRAMES)
            alpha = (time - last_time) / gap
            frame = tween.between(current.frames[-1], following.frames[0], alpha,
                                  key=(current.index, "gap"))
        else:  # after the last exposure's last frame: nothing to interpolate toward
            return
        yield float(time), frame


def check_method(method: str) -> str:
    """``method`` if it is one of :data:`METHODS`, else InputError."""
    if method not in METHODS:
        raise InputError(f"the method must be one of {', '.join(METHODS)}, got {method!r}")
    return method


def file_shutter(info, start: float | None = None,
                 end: float | None = None) -> ShutterEstimate:
    """The shutter of the video ``info`` (:func:`blurvid.footage.probe`) from its first
    frames in ``[start, end)`` (:func:`blurvid.shutter.estimate_shutter`); the decoder is
    closed when the estimate has read enough."""
    with closing(read_frames(info, start, end)) as head:
        return estimate_shutter(head)


def estimated_shutter(frames: Iterable[np.ndarray]
                      ) -> tuple[ShutterEstimate, Iterable[np.ndarray]]:
    """The shutter of ``frames`` (:func:`blurvid.shutter.estimate_shutter`) and the frames
    again, whole (the ones the estimate read are kept: at most
    ``shutter.FRAMES * shutter.WINDOWS``, 24, as they come)."""
    source = iter(frames)
    seen: list[np.ndarray] = []

    def kept() -> Iterator[np.ndarray]:
        for frame in source:
            seen.append(frame)
            yield frame

    found = estimate_shutter(kept())
    return found, chain(seen, source)


def check_sweeps_with(method: str, sweeps=None) -> int:
    """The sweeps ``method`` makes: ``sweeps`` (:func:`blurvid.video_motion.check_sweeps`),
    and only with the motion method, else :class:`InputError`; None: the method's own
    (:data:`blurvid.video_motion.SWEEPS` for motion, none for the network)."""
    if sweeps is None:
        return SWEEPS if method == "motion" else 0
    if check_sweeps(sweeps) and method != "motion":
        raise InputError("sweeps refine the motion method's motion: use them with method "
                         "motion")
    return int(sweeps)


def exposures_by(method: str, extractor: Extractor, frames: Iterable[np.ndarray],
                 shutter: float, max_side: int | None, lag: int = DEFAULT_LAG,
                 progress=None, sweeps: int | None = None) -> Iterator[Exposure]:
    """The oriented exposures of ``frames`` made by ``method`` (:data:`METHODS`); ``sweeps``
    (the motion method's refinement between the blurry frames; None: the method's own,
    :func:`check_sweeps_with`) needs ``motion``."""
    method = check_method(method)
    sweeps = check_sweeps_with(method, sweeps)
    if method == "motion":
        return motion_exposures(extractor, frames, shutter, max_side, progress=progress,
                                sweeps=sweeps)
    return oriented_exposures(extractor, frames, shutter, lag, max_side, progress=progress)


def video_frames(video, *, fps: float | None = None, shutter: float | str = AUTO,
                 start: float | None = None, end: float | None = None,
                 max_side: int | None = DEFAULT_MAX_SIDE, model=None, device: str = "auto",
                 threads: int | None = None, projection: str = DEFAULT_PROJECTION,
                 ensemble: int = 1, lag: int = DEFAULT_LAG,
                 extractor: Extractor | None = None, method: str = DEFAULT_METHOD,
                 sweeps: int | None = None) -> Iterator[tuple[float, np.ndarray]]:
    """A blurry video -> its sharp slow-motion frames, one at a time: yields ``(time,
    frame)``, ``time`` in seconds of the input (``start`` + ...), ``frame`` float32 RGB
    ``(H, W, 3)`` in [0, 1], 7 per input frame interval, in the right order, shutter gaps
    filled (see the module docstring).

    ``video``: a video file (anything ffmpeg reads; ``start``/``end`` in seconds pick a part)
    or an iterable of RGB frames (uint8, or float in [0, 1]; ``fps`` gives their rate, else
    times are in frame intervals). ``shutter``: the exposed share of the frame interval, or
    ``"auto"``: estimated from the first frames (:func:`blurvid.shutter.estimate_shutter`;
    :data:`blurvid.ordering.DEFAULT_SHUTTER` where they do not say).
    ``max_side``: frames are scaled down to this long side first (None or 0: full size).
    ``model``/``device``/``threads``/``projection``/``ensemble`` as for
    :class:`blurvid.pipeline.Extractor` (or pass one as ``extractor``); ``lag``: exposures
    of lookahead before an order is frozen. ``method``: ``network`` (the single-photo network
    on every frame, ordered from the neighbours) or ``motion`` (each exposure solved told the
    camera's motion measured between the neighbouring frames, the network where something
    moves on its own: :mod:`blurvid.video_motion`; the default). ``sweeps`` (motion only): the
    motion inside each exposure also refined between the blurry frames in that many sweeps
    (None: :data:`blurvid.video_motion.SWEEPS`, 2, for the motion method; 0 turns them off:
    faster, softer; docs/video.md).
    """
    used = shutter_setting(shutter)  # None: estimated below
    method = check_method(method)
    sweeps = check_sweeps_with(method, sweeps)
    offset = 0.0
    if isinstance(video, (str, os.PathLike)):
        info = probe(video)
        first, total = info.select(start, end)
        if used is None:
            used = file_shutter(info, start, end).shutter
        frames: Iterable[np.ndarray] = read_frames(info, start, end)
        rate = info.fps if fps is None else fps
        offset = float(info.times[first])
    else:
        frames, rate, total = video, (fps or 1.0), None
        try:
            total = len(video)
        except TypeError:
            pass
        if used is None:  # (the frames the estimate reads are kept: scaled first)
            frames = (fit_max_side(np.asarray(f), max_side)[0] for f in frames)
            estimate, frames = estimated_shutter(frames)
            used = estimate.shutter
    shutter = used
    if extractor is None:
        extractor = Extractor(model, device=device, threads=threads, projection=projection,
                              ensemble=ensemble)
    exposures = exposures_by(method, extractor, frames, shutter, max_side, lag,
                             sweeps=sweeps)
    count = output_count(total, shutter) if total is not None else 2**62
    for time, frame in timeline_frames(exposures, count, shutter):
        yield offset + time / rate, frame.astype(np.float32) / 255.0
