"""Reading videos: what a clip holds (:func:`probe`) and its frames, streamed (:func:`read_frames`).

Everything goes through the ffmpeg binary that imageio-ffmpeg ships, so any container and
codec it reads works (mp4, mov, mkv, avi, webm, ...).

* :func:`probe` runs one demuxing pass that copies the video packets without decoding them
  (``-c copy -f framecrc``: fast, a few KB of text): the exact frame count and every frame's
  presentation time, the frame rate, the size after the rotation metadata is applied, the
  rotation itself and whether there is audio. Refused, each with a one-line
  :class:`~blurvid.errors.InputError` naming the file: a missing file or a folder, a file ffmpeg
  cannot read, a file without a video stream, a video without frames, and a **variable frame
  rate** (the video pipeline times every exposure on a constant frame interval). A still
  image (PNG, JPEG, one-frame GIF, ...) probes as a one-frame video whose ``still`` is true.
* :func:`read_frames` decodes the frames as uint8 RGB ``(H, W, 3)`` arrays, upright (ffmpeg
  applies the rotation metadata), one at a time: memory holds one frame whatever the length.
  ``start``/``end`` (seconds) pick the frames whose presentation time lies in ``[start, end)``.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from blurvid.errors import DependencyError, InputError

# A frame interval further than this from the median one is irregular; a clip with more than
# VFR_SHARE of irregular intervals has a variable frame rate (one dropped frame does not count).
VFR_TOLERANCE = 0.2
VFR_SHARE = 0.02
PROBE_TIMEOUT_S = 600


def _ffmpeg() -> str:
    try:
        import imageio_ffmpeg
    except ImportError:
        raise DependencyError("reading videos needs imageio-ffmpeg: "
                              "pip install imageio-ffmpeg") from None
    return imageio_ffmpeg.get_ffmpeg_exe()


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` found: ``width`` x ``height`` (upright, after ``rotation``),
    ``fps``, ``frame_count``, ``duration`` (s, frame count / fps), ``times`` (each frame's
    presentation time in seconds from the first frame, increasing), ``has_audio``,
    ``codec``, ``start`` (the first frame's time in seconds from the start of the file, the
    reference of ffmpeg's ``-ss``: where the other streams, e.g. the audio, line up),
    ``container`` (ffmpeg's name of the demuxer: ``mov,mp4,...``, ``png_pipe``, ...)."""

    path: Path
    width: int
    height: int
    fps: float
    frame_count: int
    duration: float
    rotation: int
    has_audio: bool
    codec: str
    times: np.ndarray
    start: float = 0.0
    container: str = ""

    @property
    def still(self) -> bool:
        """One frame in an image format (PNG, JPEG, WebP, TIFF, BMP, a one-frame GIF...), not
        a video: ffmpeg reads images through its image demuxers."""
        image = (self.container == "image2" or self.container.endswith("_pipe")
                 or self.container in ("gif", "apng"))
        return image and self.frame_count == 1

    def select(self, start: float | None = None, end: float | None = None) -> tuple[int, int]:
        """(first frame index, frame count) of the frames whose time lies in ``[start, end)``
        (None: the clip's start / end). InputError for a range that holds no frame."""
        start = 0.0 if start is None else float(start)
        stop = np.inf if end is None else float(end)
        if start < 0 or (end is not None and stop <= start):
            raise InputError(f"the time range {start:g} s to {stop:g} s is empty; --start must "
                             f"be >= 0 and --end after --start")
        eps = 0.25 / self.fps
        chosen = np.flatnonzero((self.times >= start - eps) & (self.times < stop - eps))
        if not len(chosen):
            raise InputError(f"{self.path}: no frame between {start:g} s and "
                             f"{'the end' if end is None else f'{stop:g} s'} (the video lasts "
                             f"{self.duration:.2f} s)")
        return int(chosen[0]), int(len(chosen))


def ffmpeg_reason(text: str, first: bool = False) -> str:
    """The most telling line of ffmpeg's messages, its ``[demuxer @ 0x...]`` prefixes dropped
    ("" when there are none): the last error line, or the ``first`` one (where one failure
    sets off others: an encoder that will not open, then every stage after it)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    errors = [line for line in lines
              if re.search(r"error|invalid|no such|denied|does not contain|not found|"
                           r"read-only|no space|quota", line, re.I)]
    line = (errors[0] if first else errors[-1]) if errors else (lines[-1] if lines else "")
    return re.sub(r"^(\[[^\]]*\]\s*)+", "", line)


def _first_error(text: str) -> str:
    """:func:`ffmpeg_reason`, for a file that could not be read."""
    return ffmpeg_reason(text) or "ffmpeg could not read it"


def _check_file(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path} is a folder, not a video")
    if path.stat().st_size == 0:
        raise InputError(f"{path} is empty (0 bytes)")


def probe(path: str | os.PathLike) -> VideoInfo:
    """Read what ``path`` holds without decoding it (see the module docstring)."""
    path = Path(path)
    _check_file(path)
    cmd = [_ffmpeg(), "-hide_banner", "-nostdin", "-i", str(path), "-map", "0:v:0?",
           "-c", "copy", "-f", "framecrc", "-"]
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=PROBE_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InputError(f"{path}: cannot read it: {exc}") from None
    err = done.stderr.decode("utf-8", "replace")
    head = err.split("Stream mapping:")[0]
    video = re.search(r"Stream #0:\d+.*?: Video: (\S+).*", head)
    if done.returncode != 0 and video is None:
        raise InputError(f"{path} is not a video ffmpeg can read: {_first_error(err)}")
    if video is None:
        raise InputError(f"{path} has no video stream")
    line = video.group(0)
    container = re.search(r"Input #0, (.+?), from ", head)
    tb_match = re.search(rb"#tb 0: (\d+)/(\d+)", done.stdout)
    pts = []
    for row in done.stdout.splitlines():
        if row.startswith(b"0,"):
            fields = row.split(b",")
            try:
                pts.append(int(fields[2]))
            except (IndexError, ValueError):
                continue
    if not pts:
        raise InputError(f"{path} holds no video frames (a zero-length video)")
    if done.returncode != 0:
        raise InputError(f"{path} is damaged: {_first_error(err)}")
    size = re.search(r", (\d{2,6})x(\d{2,6})[ ,]", line) or re.search(r" (\d+)x(\d+)", line)
    width, height = int(size.group(1)), int(size.group(2))
    rotation = 0
    turn = (re.search(r"rotation of (-?[\d.]+) degrees", head)
            or re.search(r"rotate\s*:\s*(-?\d+)", head))
    if turn:
        rotation = int(round(float(turn.group(1)))) % 360
    if rotation in (90, 270):
        width, height = height, width
    header_fps = re.search(r"([\d.]+) fps", line)
    tbr = re.search(r"([\d.]+)k? tbr", line)
    times = _frame_times(pts, tb_match)
    start = 0.0 if times is None else _first_time(pts, tb_match)
    fps = _frame_rate(path, times, float(header_fps.group(1)) if header_fps else
                      (float(tbr.group(1)) if tbr else 0.0))
    count = len(pts)
    if times is None:
        times = np.arange(count) / fps
    return VideoInfo(path=path, width=width, height=height, fps=fps, frame_count=count,
                     duration=count / fps, rotation=rotation,
                     has_audio=bool(re.search(r"Stream #0:\d+.*?: Audio: ", head)),
                     codec=video.group(1).rstrip(","), times=times, start=start,
                     container=container.group(1) if container else "")


def _first_time(pts: list[int], tb_match) -> float:
    """The first frame's presentation time in seconds from the start of the file (ffmpeg
    writes the copied packets' times from the file's start time)."""
    num, den = int(tb_match.group(1)), int(tb_match.group(2))
    return max(0.0, min(pts) * num / den)


def _frame_times(pts: list[int], tb_match) -> np.ndarray | None:
    """Presentation times in seconds from the first frame (None when the container has none)."""
    if tb_match is None or any(p < -(2**62) for p in pts):
        return None
    num, den = int(tb_match.group(1)), int(tb_match.group(2))
    ticks = np.sort(np.array(pts, np.int64))
    if len(ticks) > 1 and np.any(np.diff(ticks) == 0):
        return None
    return (ticks - ticks[0]).astype(np.float64) * num / den


def _frame_rate(path: Path, times: np.ndarray | None, header: float) -> float:
    """The constant frame rate, from the frame times (else the header); InputError for a
    variable frame rate."""
    if times is not None and len(times) > 2:
        steps = np.diff(times)
        median = float(np.median(steps))
        if median <= 0:
            raise InputError(f"{path}: the frame times do not increase; cannot time the frames")
        irregular = np.abs(steps - median) > VFR_TOLERANCE * median
        if irregular.mean() > VFR_SHARE:
            raise InputError(
                f"{path} has a variable frame rate (frame intervals from "
                f"{1000 * steps.min():.1f} to {1000 * steps.max():.1f} ms); convert it to a "
                f"constant rate first, e.g. ffmpeg -i {path.name} -vf fps=30 constant.mp4")
        measured = 1.0 / median
        # the header's rate when it agrees (it is exact, e.g. 30000/1001 written as 29.97)
        return header if header > 0 and abs(header - measured) < 0.01 * measured else measured
    if header > 0:
        return header
    raise InputError(f"{path}: cannot tell its frame rate")


@contextmanager
def _quiet_imageio():
    """imageio-ffmpeg logs a warning when the rotation changes the frame size: expected here."""
    logger = logging.getLogger("imageio_ffmpeg")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def read_frames(info: VideoInfo, start: float | None = None,
                end: float | None = None) -> Iterator[np.ndarray]:
    """The frames of ``info.path`` whose time lies in ``[start, end)`` (seconds): uint8 RGB
    ``(H, W, 3)`` arrays, upright, decoded one at a time (exactly ``info.select(start,
    end)[1]`` of them). InputError if the video ends early or cannot be decoded."""
    first, count = info.select(start, end)
    _ffmpeg()
    import imageio_ffmpeg

    frame_bytes = info.width * info.height * 3
    reader = imageio_ffmpeg.read_frames(
        str(info.path), input_params=["-nostdin"],
        output_params=["-map", "0:v:0", "-an", "-sn", "-fps_mode", "passthrough"])
    seen = 0
    try:
        with _quiet_imageio():
            meta = next(reader)
        if tuple(meta["size"]) != (info.width, info.height):
            raise InputError(f"{info.path}: decoded frames are {meta['size'][0]}x"
                             f"{meta['size'][1]}, expected {info.width}x{info.height}")
        for index, data in enumerate(reader):
            if index >= first + count:
                break
            if index < first:
                continue
            if len(data) != frame_bytes:
                break
            seen += 1
            yield np.frombuffer(data, np.uint8).reshape(info.height, info.width, 3)
    except (OSError, RuntimeError, StopIteration) as exc:
        raise InputError(f"{info.path}: cannot decode frame {first + seen}: "
                         f"{str(exc).strip().splitlines()[0] if str(exc).strip() else exc}") from None
    finally:
        reader.close()
    if seen < count:
        raise InputError(f"{info.path}: the video ended after {first + seen} frames, "
                         f"{first + count} expected (a damaged file?)")
