"""Writing a sequence of frames as a clip: MP4 (H.264), GIF, or a folder of PNG frames.

Contract: ``frames`` float ``(N, H, W, 3)`` RGB in [0, 1] (clipped), N >= 1; ``fps`` > 0.

* ``.mp4``: H.264 (libx264) in yuv420p with ``+faststart``, the format browsers play; odd
  widths/heights are padded by one replicated row/column (yuv420p needs even sizes). Written by
  the ffmpeg binary that imageio-ffmpeg ships. :func:`write_mp4` can add a part of another
  file's audio track (:class:`AudioTrack`, AAC), muxed before the file is renamed into place.
* ``.gif``: 8-bit palette, loops forever (Pillow). GIF delays are whole hundredths of a
  second and browsers slow delays under 2 down to 10: a GIF plays at most 50 fps. The
  commands keep every n-th frame of a faster clip (:func:`gif_step`), so it lasts as long as
  asked; :func:`write_clip` itself writes every frame it is given.
* a folder (a path without a suffix, or an existing folder): ``<stem>_01.png ...`` plus
  ``<stem>_timeline.json`` (per frame: file name and timestamp within the exposure).

Every file is written atomically: a hidden temporary file in the target folder, renamed into
place; a failure or Ctrl-C leaves nothing behind, not even the folder it made. Existing outputs
are refused unless ``force``.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from blurvid.errors import DependencyError, InputError, OutputError, first_line
from blurvid.footage import ffmpeg_reason
from blurvid.io import (atomic_output, check_outputs_free, frame_paths, named_output,
                        new_folders_removed_on_failure, to_uint, write_bytes_atomic, write_images)

VIDEO_SUFFIXES = (".mp4", ".gif")
# --fps bounds of the commands: 480 fps is 7x a 60 fps input (what --smooth makes of it) and
# twice the fastest common displays; above it a player drops most frames, and a clip of a few
# hundred frames would last a fraction of a second. 0.1 fps: one frame every 10 s.
MIN_FPS, MAX_FPS = 0.1, 480.0
GIF_MAX_FPS = 50.0  # 2 hundredths of a second per frame, the shortest delay browsers honour


def clip_kind(path: str | os.PathLike) -> str:
    """``mp4``, ``gif`` or ``frames`` (a folder) for an output path."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return suffix[1:]
    if path.is_dir() or suffix == "":
        return "frames"
    raise InputError(f"cannot write a clip to {path}: use a .mp4 or .gif file, or a folder")


class _Checked:
    """``frames`` (an array ``(N, H, W, 3)``, or any sized iterable of ``(H, W, 3)`` frames)
    checked as they pass: the same shape for every frame, float RGB; iterated once."""

    def __init__(self, frames, fps: float) -> None:
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}")
        if isinstance(frames, np.ndarray) and (frames.ndim != 4 or frames.shape[-1] != 3):
            raise ValueError(f"expected frames of shape (N, H, W, 3), got {frames.shape}")
        try:
            self.count = len(frames)
        except TypeError:
            raise ValueError("frames must be an array or a sized iterable") from None
        if self.count < 1:
            raise ValueError("expected at least one frame, got none")
        self.frames = frames
        self.shape: tuple[int, ...] | None = None

    def __len__(self) -> int:
        return self.count

    def __iter__(self):
        for frame in self.frames:
            frame = np.asarray(frame)
            if self.shape is None:
                if frame.ndim != 3 or frame.shape[-1] != 3 or min(frame.shape[:2]) < 1:
                    raise ValueError(f"expected frames of shape (N, H, W, 3), got a frame of "
                                     f"shape {frame.shape}")
                self.shape = frame.shape
            elif frame.shape != self.shape:
                raise ValueError(f"frames differ in shape: {frame.shape} after {self.shape}")
            yield frame


def clip_size(kind: str, width: int, height: int) -> tuple[int, int]:
    """``(width, height)`` a clip of ``kind`` (:func:`clip_kind`) is written at: an MP4's odd
    sides grow by one (:func:`even_size`); GIF and PNG frames keep the size."""
    if kind == "mp4":
        return width + width % 2, height + height % 2
    return width, height


def padding_note(kind: str, width: int, height: int) -> str | None:
    """What :func:`clip_size` changes, as a note for the user (None: nothing)."""
    out_w, out_h = clip_size(kind, width, height)
    if (out_w, out_h) == (width, height):
        return None
    grown = " and ".join(side for side, odd in (("row", out_h > height),
                                                 ("column", out_w > width)) if odd)
    return (f"padded from {width}x{height} to {out_w}x{out_h} (H.264 in yuv420p, the format "
            f"players take, needs even sizes: the last {grown} repeated)")


def gif_step(fps: float) -> int:
    """Keep every ``gif_step(fps)``-th frame of a clip at ``fps`` for a GIF: at most
    :data:`GIF_MAX_FPS` (a GIF cannot play faster), lasting as long (1 up to 50 fps)."""
    return max(1, math.ceil(fps / GIF_MAX_FPS - 1e-9))


def gif_note(count: int, fps: float, step: int) -> str:
    """A note saying what :func:`gif_step` kept of ``count`` frames at ``fps``."""
    kept = len(range(0, count, step))
    nth = {2: "2nd", 3: "3rd"}.get(step, f"{step}th")
    return (f"a GIF plays at most {GIF_MAX_FPS:g} fps (its delays are whole hundredths of a "
            f"second; browsers slow shorter ones down): every {nth} of the {count} frames at "
            f"{fps:g} fps is kept, {kept} frames at {fps / step:g} fps lasting "
            f"{kept * step / fps:.2f} s ({count / fps:.2f} s with every frame, as an MP4 "
            "keeps them)")


def even_size(frames_u8: np.ndarray) -> np.ndarray:
    """Pad (N, H, W, 3) (or one (H, W, 3) frame) to even H and W by replicating the last
    row/column."""
    h, w = frames_u8.shape[-3:-1]
    pad = ((0, h % 2), (0, w % 2), (0, 0))
    return np.pad(frames_u8, ((0, 0),) * (frames_u8.ndim - 3) + pad, mode="edge")


@dataclass(frozen=True)
class AudioTrack:
    """The first audio stream of ``source`` from ``start`` seconds (from the start of the file,
    as ffmpeg's ``-ss`` counts) for ``duration`` seconds, for :func:`write_mp4`."""

    source: Path
    start: float
    duration: float


AUDIO_BITRATE = "192k"  # AAC: any input codec fits an MP4 (PCM, Vorbis, ... do not)
MUX_TIMEOUT_S = 600


def _mux_audio(video: Path, audio: AudioTrack, out: Path, ffmpeg: str) -> None:
    """``video``'s frames (copied) with ``audio`` (trimmed sample-accurately, AAC) -> ``out``."""
    cmd = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", str(video),
           "-ss", f"{max(0.0, audio.start):.6f}", "-t", f"{audio.duration:.6f}",
           "-i", str(audio.source), "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy",
           "-c:a", "aac", "-b:a", AUDIO_BITRATE, "-movflags", "+faststart", "-f", "mp4",
           str(out)]
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=MUX_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise OutputError(f"cannot add the audio of {audio.source}: {exc}") from None
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise OutputError(f"cannot add the audio of {audio.source}: "
                          f"{lines[-1] if lines else 'ffmpeg failed'}")


def _own_process_group() -> dict:
    """Popen arguments that start a child in a process group of its own: Ctrl-C in a terminal
    (SIGINT to the foreground group) reaches blurvid only, which then ends the child itself
    and removes what it was writing, instead of the child writing a file's end, or its error
    lines, while blurvid cleans up."""
    if os.name == "nt":
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    return {"start_new_session": True}


class _Encoder:
    """The ffmpeg binary encoding raw RGB frames from a pipe into the H.264 MP4 ``tmp``,
    started by the first frame (its size): in a process group of its own
    (:func:`_own_process_group`), its messages captured in a temporary file and only
    summarised, naming ``path`` (the user's file, not ``tmp``), in an :class:`OutputError`
    when it fails."""

    def __init__(self, ffmpeg: str, tmp: Path, path: Path, fps: float,
                 preset: str | None) -> None:
        self.ffmpeg, self.tmp, self.path, self.fps, self.preset = ffmpeg, tmp, path, fps, preset
        self.process: subprocess.Popen | None = None
        self.log = tempfile.TemporaryFile()

    def _start(self, width: int, height: int) -> None:
        rate = Fraction(float(self.fps)).limit_denominator()
        # what imageio_ffmpeg.write_frames ran (quality 8 -> crf 10), without its stderr
        cmd = [self.ffmpeg, "-y", "-f", "rawvideo", "-vcodec", "rawvideo",
               "-s", f"{width}x{height}", "-pix_fmt", "rgb24", "-r", str(rate), "-i", "-",
               "-an", "-vcodec", "libx264", "-pix_fmt", "yuv420p", "-crf", "10", "-v", "error",
               *(["-preset", self.preset] if self.preset else []), "-movflags", "+faststart",
               str(self.tmp)]
        try:
            self.process = subprocess.Popen(cmd, stdin=subprocess.PIPE,
                                            stdout=subprocess.DEVNULL, stderr=self.log,
                                            **_own_process_group())
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: cannot run ffmpeg: "
                              f"{exc.strerror or exc}") from None

    def send(self, pixels: np.ndarray) -> None:
        """One uint8 RGB frame (the first one starts ffmpeg)."""
        if self.process is None:
            self._start(pixels.shape[1], pixels.shape[0])
        try:
            self.process.stdin.write(np.ascontiguousarray(pixels))
        except OSError:  # ffmpeg has stopped (a full disk, ...): its reason
            self.finish()
            raise OutputError(f"cannot write {self.path}: ffmpeg stopped") from None

    def finish(self) -> None:
        """End of the frames: wait for ffmpeg to write the file; OutputError if it fails."""
        try:
            self.process.stdin.close()
        except OSError:
            pass  # it has stopped: its exit status and messages tell why
        code = self.process.wait()
        if code != 0:
            reason = self._reason() or f"exit status {code}"
            raise OutputError(f"cannot write {self.path}: ffmpeg failed: {reason}")
        self.log.close()

    def abort(self) -> None:
        """Stop ffmpeg at once (an error or Ctrl-C here): killed and waited for, so that it
        writes nothing more (the temporary file is then removed) and says nothing."""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait()
            try:
                self.process.stdin.close()
            except OSError:
                pass
        self.log.close()

    def _reason(self) -> str:
        self.log.seek(0)
        text = self.log.read()[-65536:].decode("utf-8", "replace")
        return ffmpeg_reason(text.replace(str(self.tmp), str(self.path)), first=True)


def write_mp4(path: str | os.PathLike, frames, fps: float, preset: str | None = None,
              audio: AudioTrack | None = None) -> int:
    """Stream ``frames`` (float RGB in [0, 1] or uint8 RGB, one at a time) to an H.264 MP4
    (yuv420p, odd sizes padded by one replicated row/column, ``+faststart``), atomically;
    ``preset``: x264's speed/size trade-off (None: its default, ``medium``); ``audio``: a
    track to add (the frames are encoded first, then muxed with it into a second temporary
    file, which is renamed into place). Returns the number of frames written; OutputError
    when there are none.

    ffmpeg runs in a process group of its own with its messages captured: on an error or
    Ctrl-C (a ``KeyboardInterrupt`` here) it is killed before the temporary file is removed,
    so nothing is left and none of its lines reach the terminal; when ffmpeg itself fails,
    its reason ends the :class:`OutputError`'s message."""
    try:
        import imageio_ffmpeg
    except ImportError:
        raise DependencyError("writing MP4 needs imageio-ffmpeg: pip install imageio-ffmpeg") from None
    path = Path(path)
    written = 0
    try:
        ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as exc:
        raise OutputError(f"cannot write {path}: ffmpeg failed: {first_line(exc)}") from None
    with atomic_output(path) as tmp:
        encoder = _Encoder(ffmpeg, tmp, path, fps, preset)
        try:
            for frame in frames:
                encoder.send(even_size(_as_u8(np.asarray(frame))))
                written += 1
            if not written:
                raise OutputError(f"cannot write {path}: no frames")
            encoder.finish()
        except BaseException:
            encoder.abort()
            raise
        if audio is not None:
            muxed = tmp.with_name(tmp.stem + ".av" + tmp.suffix)
            try:
                _mux_audio(tmp, audio, muxed, ffmpeg)
                os.replace(muxed, tmp)
            finally:
                muxed.unlink(missing_ok=True)
    return written


def write_gif(path: Path, frames, fps: float) -> None:
    """``frames`` as a looping GIF. One 256-color palette (median cut of the first frame) for
    the whole clip, without dithering: each frame is mapped to it as it comes (15x faster
    than Pillow's palette per frame: 3.5 s against 52 s for 42 frames of 720p, measured
    2026-11-30 on the 2-core CI machine), colors do not flicker from frame to frame and
    dithering noise does not crawl. A GIF of a moving scene stays large either way (20 MB for
    those 42 frames): MP4 is the compact format."""
    pixels = (np.asarray(f) for f in frames)
    first = Image.fromarray(_as_u8(next(pixels)))
    palette = first.quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    images = (Image.fromarray(_as_u8(p)).quantize(palette=palette, dither=Image.Dither.NONE)
              for p in pixels)
    with atomic_output(path) as tmp:
        first.quantize(palette=palette, dither=Image.Dither.NONE).save(
            tmp, format="GIF", save_all=True, append_images=images,
            duration=gif_delays(len(frames), fps), loop=0, optimize=False,
            palette=bytes(palette.getpalette()))  # a global table only, no local ones


def _as_u8(frame: np.ndarray) -> np.ndarray:
    return frame if frame.dtype == np.uint8 else to_uint(frame, 8)


def gif_delays(count: int, fps: float) -> list[int]:
    """Per-frame delays in ms for ``count`` frames at ``fps``: GIF stores hundredths of a
    second, so each delay is a multiple of 10 ms, chosen so that frame k starts at
    ``round(k / fps)`` hundredths: the clip lasts ``count / fps`` (to 10 ms) instead of
    drifting by the rounding of every frame. Delays under 20 ms, which browsers slow down to
    100 ms, are avoided: above 50 fps every frame gets 20 ms (the clip plays slower)."""
    starts = [round(100 * k / fps) for k in range(count + 1)]
    delays = [10 * (b - a) for a, b in zip(starts[:-1], starts[1:])]
    return delays if min(delays) >= 20 else [20] * count


def frames_outputs(folder: Path, stem: str, count: int) -> tuple[list[Path], Path]:
    """The PNG paths and the timeline JSON path for ``count`` frames in ``folder``."""
    return frame_paths(folder, stem, "png", count), named_output(folder, stem, "timeline.json")


def planned_outputs(path: str | os.PathLike, stem: str, count: int) -> list[Path]:
    """Every file :func:`write_clip` would write (to check for clobbering first)."""
    path = Path(path)
    if clip_kind(path) == "frames":
        pngs, timeline = frames_outputs(path, stem, count)
        return [*pngs, timeline]
    return [path]


def write_clip(path: str | os.PathLike, frames, fps: float, times=None,
               stem: str = "frame", force: bool = False, bit_depth: int = 8,
               info: dict | None = None) -> list[Path]:
    """Write ``frames`` to ``path`` (see the module docstring); return the files written.

    ``frames``: an array ``(N, H, W, 3)`` or a sized iterable of ``(H, W, 3)`` frames (e.g.
    a :class:`blurvid.interpolation.ClipStream`), consumed once, one frame at a time, so a
    clip of any length is written in bounded memory (a GIF keeps every frame as 8-bit
    palette pixels until it is written). ``times``: per-frame timestamps for the folder's
    timeline JSON (None: not recorded); ``info``: extra fields for that JSON. Raises
    :class:`OutputExistsError` before writing anything if an output exists and ``force`` is
    false.
    """
    path = Path(path)
    frames = _Checked(frames, fps)
    kind = clip_kind(path)
    targets = planned_outputs(path, stem, len(frames))
    check_outputs_free(targets, force)
    if kind == "frames":
        pngs, timeline = targets[:-1], targets[-1]
        with new_folders_removed_on_failure(path):
            write_images(pngs, frames, bit_depth=bit_depth)
            record = {**(info or {}), "fps": fps, "frames": [
                {"file": p.name, **({"time": round(float(t), 6)} if times is not None else {})}
                for p, t in zip(pngs, times if times is not None else [None] * len(pngs))]}
            try:
                write_bytes_atomic(timeline,
                                   (json.dumps(record, indent=2) + "\n").encode("utf-8"))
            except BaseException:
                for p in pngs:
                    p.unlink(missing_ok=True)
                raise
        return targets
    if kind == "mp4":
        write_mp4(path, frames, fps)
    else:
        write_gif(path, frames, fps)
    return [path]


def sequence(frames, times: np.ndarray, boomerang: bool = False,
             loops: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The play order of ``frames`` (anything with a length): forward, or forward then back
    (``boomerang``, ends not repeated), repeated ``loops`` times. Returns (frame indices,
    timestamps)."""
    if loops < 1:
        raise InputError(f"loop count must be at least 1, got {loops}")
    order = list(range(len(frames)))
    if boomerang and len(order) > 2:
        order = order + order[-2:0:-1]
    order = order * loops
    return np.array(order), np.asarray(times)[order]


class Sized:
    """An iterator with a known length (what :func:`write_clip` takes)."""

    def __init__(self, frames, count: int) -> None:
        self.frames, self.count = frames, count

    def __len__(self) -> int:
        return self.count

    def __iter__(self):
        return iter(self.frames)


class Played:
    """``clip`` (anything with ``frame(n)``, e.g. a ClipStream) in the play ``order``: a sized
    iterable of frames for :func:`write_clip`, each made when it is written; ``progress`` is
    called after each frame is handed on."""

    def __init__(self, clip, order: np.ndarray, progress=None) -> None:
        self.clip, self.order, self.progress = clip, order, progress

    def __len__(self) -> int:
        return len(self.order)

    def __iter__(self):
        for n in self.order:
            yield self.clip.frame(int(n))
            if self.progress is not None:
                self.progress()


def default_fps(count: int) -> float:
    """The frame rate for ``count`` played frames: ``count / 2`` rounded, kept within 4-30 fps.
    Clips of 8 to 60 frames last about 2 s; shorter ones play at 4 fps (7 frames: 1.75 s),
    longer ones at 30 fps and last ``count / 30`` s (252 frames: 8.4 s)."""
    return float(min(30, max(4, round(count / 2))))

