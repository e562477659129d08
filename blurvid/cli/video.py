"""``blurvid video``: a blurry video in, a 7x slower (or 7x smoother) sharp video out."""

from __future__ import annotations

import json
import time
from enum import Enum
from itertools import islice
from pathlib import Path
from typing import Annotated, Optional

import typer

from blurvid.cli.common import (DEFAULT_PROJECTION, Device, DeviceOption, EnsembleOption,
                                ForceOption, JsonOption, ModelOption, ProjectionOption,
                                ThreadsOption, max_side_option, output_option,
                                progress_bar, reports_errors, say, stderr, usage_error)
from blurvid.cli.progress import PeriodicLines
from blurvid.consistency import NUM_FRAMES
from blurvid.errors import InputError
from blurvid.footage import probe, read_frames
from blurvid.io import check_not_inputs, check_outputs_free, check_writable, fitted_size
from blurvid.ordering import MIN_SHUTTER, output_count, output_times
from blurvid.pipeline import Extractor
from blurvid.shutter import AUTO, describe, shutter_setting
from blurvid.video import (DEFAULT_MAX_SIDE, DEFAULT_METHOD, METHODS, X264_PRESET,
                           check_sweeps_with, exposures_by, file_shutter, timeline_frames)
from blurvid.video_motion import SWEEPS
from blurvid.clips import (MAX_FPS, MIN_FPS, AudioTrack, Sized, clip_kind, clip_size, gif_note,
                           gif_step, padding_note, planned_outputs, write_clip, write_mp4)


VideoMethod = Enum("VideoMethod", {name: name for name in METHODS}, type=str)


@reports_errors
def video(
    video_path: Annotated[Path, typer.Argument(metavar="INPUT", show_default=False,
                                               help="A video (mp4, mov, mkv, avi, webm, ...).")],
    output: output_option("out.mp4 (H.264), out.gif, or a folder for numbered PNG frames "
                          "and a timeline JSON."),
    slowmo: Annotated[bool, typer.Option("--slowmo/--smooth",
                                         help="--slowmo: play at the input's frame rate, 7x "
                                              "longer (the audio is dropped); --smooth: 7x "
                                              "the frame rate, the same duration (an MP4 "
                                              "keeps the audio).")] = True,
    fps: Annotated[Optional[float], typer.Option("--fps", min=MIN_FPS, max=MAX_FPS,
                                                 help="Output frame rate (overrides "
                                                      "--slowmo/--smooth).")] = None,
    start: Annotated[Optional[float], typer.Option("--start", min=0.0,
                                                   help="First second of the input to use.")]
    = None,
    end: Annotated[Optional[float], typer.Option("--end", min=0.0,
                                                 help="Second of the input to stop at.")]
    = None,
    max_side: max_side_option("Scale the frames down to this long side first")
    = DEFAULT_MAX_SIDE,
    shutter: Annotated[str, typer.Option("--shutter",
                                         help="Share of the frame interval each frame was "
                                              "exposed (0.5: a 180-degree shutter; 1: no "
                                              "gap), or auto: estimated from the first "
                                              "frames where the camera's motion changes "
                                              "(0.5 where they do not say).")] = AUTO,
    method: Annotated[VideoMethod, typer.Option(
        "--method", help="motion: each frame solved told the camera's motion measured "
                         "between its neighbours, the network where something moves on its "
                         "own; network: the single-photo network on every frame, ordered "
                         "from its neighbours (about 3x faster, softer; docs/video.md).")]
    = VideoMethod(DEFAULT_METHOD),
    sweeps: Annotated[Optional[int], typer.Option(
        "--sweeps", help="With --method motion: refine the motion inside each frame "
                         "between the blurry frames, in this many sweeps over the clip "
                         f"(default {SWEEPS}; 0 turns it off: 0.4-0.7 s less per 720p "
                         "frame, softer; docs/video.md).", show_default=False)] = None,
    model: ModelOption = None,
    device: DeviceOption = Device.auto,
    threads: ThreadsOption = None,
    projection: ProjectionOption = DEFAULT_PROJECTION,
    ensemble: EnsembleOption = 1,
    force: ForceOption = False,
    as_json: JsonOption = False,
) -> None:
    """Turn a blurry video into a sharp one: 7 frames per input frame.

    Each input frame is solved told the camera's motion measured between its neighbours (the
    default), or made by the network and put in the right temporal order."""
    try:
        given = shutter_setting(shutter)
    except InputError as exc:
        raise usage_error(str(exc), "--shutter") from None
    try:
        sweeps = check_sweeps_with(method.value, sweeps)
    except InputError as exc:
        raise usage_error(str(exc), "--sweeps") from None
    if end is not None and end <= (start or 0.0):
        raise usage_error(f"--end {end:g} is not after --start {start or 0.0:g}: the time "
                          "range is empty", "--end")
    try:
        kind = clip_kind(output)
    except InputError as exc:
        raise usage_error(str(exc), "-o") from None
    info = probe(video_path)
    if info.still:
        raise InputError(f"{video_path} is a still image, not a video: `blurvid extract` "
                         "gives its 7 sharp frames, `blurvid interpolate` a clip of them")
    first, inputs = info.select(start, end)

    def check_targets(count: int) -> None:  # the outputs of a clip of ``count`` frames
        targets = planned_outputs(output, video_path.stem, count)
        check_not_inputs(targets, [video_path])
        check_outputs_free(targets, force)
        check_writable(targets[0].parent, output)

    if given is None:
        # what is wrong with the outputs whatever the shutter (the fewest frames) is said
        # before the wait
        check_targets(output_count(inputs, MIN_SHUTTER))
        estimate = file_shutter(info, start, end)
        used = estimate.shutter
        say(f"blurvid: note: {video_path}: {describe(estimate)}")
    else:
        used, estimate = given, None
    count = output_count(inputs, used)
    rate = fps or (info.fps if slowmo else info.fps * NUM_FRAMES)
    real_time = abs(rate - info.fps * NUM_FRAMES) <= 1e-6 * rate  # --smooth: same duration
    keep_audio = info.has_audio and real_time and kind == "mp4"
    if info.has_audio and not keep_audio:
        why = (f"a {'GIF' if kind == 'gif' else 'folder of frames'} holds no audio"
               if real_time else "the output's timing differs; --smooth keeps it")
        say(f"blurvid: note: {video_path}: the audio is dropped ({why})")
    h, w = info.height, info.width
    fit_w, fit_h = fitted_size(h, w, max_side)
    if (fit_w, fit_h) != (w, h):
        say(f"blurvid: note: {video_path}: frames scaled from {w}x{h} to "
            f"{fit_w}x{fit_h} (--max-side 0 keeps "
            "the full size)")
    padded = padding_note(kind, fit_w, fit_h)
    if padded:
        say(f"blurvid: note: {output}: {padded}")
    out_w, out_h = clip_size(kind, fit_w, fit_h)  # the size written
    step = gif_step(rate) if kind == "gif" else 1
    if step > 1:
        say(f"blurvid: note: {output}: {gif_note(count, rate, step)}")
    check_targets(count)
    extractor = Extractor(model, device=device.value, threads=threads,
                          projection=projection.value, ensemble=ensemble)
    offset = float(info.times[first])
    seconds_of = (output_times(inputs, used) / info.fps + offset).round(6)
    flipped = [0]
    started = time.perf_counter()
    progress = progress_bar(show=inputs > 1, eta=True)
    lines = PeriodicLines("input frame", inputs) if not stderr.is_terminal else None
    with progress:
        task = progress.add_task("input frames", total=inputs, info="")

        def advance() -> None:
            progress.advance(task)
            if lines is not None and inputs > 1:
                lines.advance()

        def exposures():
            stream = exposures_by(method.value, extractor, read_frames(info, start, end),
                                  used, max_side, progress=advance, sweeps=sweeps)
            for exposure in stream:
                flipped[0] += exposure.reversed
                yield exposure

        frames = (frame for _, frame in timeline_frames(exposures(), count, used))
        if kind == "mp4":
            # the audio from the first output frame's time, as long as the output lasts
            audio = (AudioTrack(video_path, info.start + float(seconds_of[0]), count / rate)
                     if keep_audio else None)
            written_frames = write_mp4(output, frames, rate, preset=X264_PRESET, audio=audio)
            written = [output]
        else:
            if kind == "gif":
                frames = (f.astype("float32") / 255.0 for f in islice(frames, 0, None, step))
            written = write_clip(output, Sized(frames, len(range(0, count, step))), rate / step,
                                 times=seconds_of,
                                 stem=video_path.stem, force=force,
                                 info={"input": str(video_path), "input_fps": info.fps,
                                       "shutter": used, "time_unit": "seconds of the input"})
            written_frames = count
    if written_frames != count:
        raise InputError(f"{video_path}: made {written_frames} frames, {count} expected")
    seconds = time.perf_counter() - started
    count, rate = len(range(0, count, step)), rate / step  # what the file holds
    summary = {"input": str(video_path), "output": str(output), "files": len(written),
               "input_frames": inputs, "input_fps": round(info.fps, 6),
               "start": round(offset, 6), "frames": count, "fps": round(rate, 6),
               "mode": "slowmo" if slowmo else "smooth", "shutter": used,
               "shutter_source": ("given" if estimate is None else
                                  "estimated" if estimate.measured else "assumed"),
               "method": method.value, "sweeps": sweeps,
               "reversed_exposures": flipped[0], "width": out_w,
               "height": out_h, "audio_dropped": info.has_audio and not keep_audio,
               "audio_kept": keep_audio,
               "device": extractor.session.device, "projection": extractor.projection,
               "ensemble": extractor.ensemble, "seconds": round(seconds, 3),
               "input_frames_per_second": round(inputs / seconds, 3)}
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    else:
        # (the motion method's frames run the way its measured motion does: none reversed)
        flips = f"{flipped[0]} exposures reversed, " if method.value == "network" else ""
        say(f"{video_path} -> {output}: {inputs} input frames -> {count} frames at {rate:g} "
            f"fps ({count / rate:.2f} s; {flips}{inputs / seconds:.2f} input frames/s, "
            f"{seconds:.1f} s)")
