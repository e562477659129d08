"""``blurvid interpolate``: one photo in, a clip of 7 * 6^(levels-1) frames out."""

from __future__ import annotations

import json
import time
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from blurvid.cli.common import (DEFAULT_PROJECTION, Device, DeviceOption, EnsembleOption,
                                ForceOption, JsonOption, ModelOption, ProjectionOption,
                                ThreadsOption, max_side_option, output_option, progress_bar,
                                reports_errors, say, usage_error)
from blurvid.consistency import NUM_FRAMES
from blurvid.interpolation import METHODS, check_clip_memory, frame_count, model_runs
from blurvid.errors import InputError
from blurvid.io import (check_not_inputs, check_outputs_free, check_writable, fit_max_side,
                        read_image)
from blurvid.pipeline import Extractor
from blurvid.clips import (MAX_FPS, MIN_FPS, Played, clip_kind, clip_size, default_fps, gif_note,
                           gif_step, padding_note, planned_outputs, sequence, write_clip)

# The choices of --method are the library's (blurvid.interpolation.METHODS).
Method = Enum("Method", {name: name for name in METHODS}, type=str)


@reports_errors
def interpolate(
    image_path: Annotated[Path, typer.Argument(metavar="INPUT", help="One blurry photo.",
                                               show_default=False)],
    output: output_option("clip.mp4, clip.gif, or a folder for numbered PNG frames."),
    levels: Annotated[int, typer.Option("--levels", min=1, max=4,
                                        help="1: the 7 frames; 2: 42 frames; "
                                             "L: 7 * 6^(L-1).")] = 2,
    method: Annotated[Method, typer.Option("--method",
                                           help="flow (optical flow; measures best), recursive "
                                                "(the paper's) or blend.")] = Method.flow,
    fps: Annotated[Optional[float], typer.Option("--fps", min=MIN_FPS, max=MAX_FPS,
                                                 help="Frame rate (default: played frames / 2 "
                                                      "within 4-30 fps: about 2 s up to 60 "
                                                      "frames, frames / 30 s beyond).")]
    = None,
    boomerang: Annotated[bool, typer.Option("--boomerang", metavar="",
                                            help="Play forward, then back.")]
    = False,
    loop: Annotated[int, typer.Option("--loop", min=1,
                                      help="Play the sequence this many times.")] = 1,
    max_side: max_side_option("Scale the photo down to this long side first") = 1920,
    model: ModelOption = None,
    device: DeviceOption = Device.auto,
    threads: ThreadsOption = None,
    projection: ProjectionOption = DEFAULT_PROJECTION,
    ensemble: EnsembleOption = 1,
    force: ForceOption = False,
    as_json: JsonOption = False,
) -> None:
    """Turn one photo into a clip: MP4, GIF or PNG frames.

    The clip has 7 * 6^(levels-1) frames."""
    try:
        kind = clip_kind(output)
    except InputError as exc:
        raise usage_error(str(exc), "-o") from None
    count = frame_count(levels)
    image = read_image(image_path)
    for note in image.notes:
        say(f"blurvid: note: {image_path}: {note}")
    rgb, scaled = fit_max_side(image.rgb, max_side)
    if scaled:
        say(f"blurvid: note: {image_path}: {scaled} for the clip (--max-side 0 keeps the "
            "full size)")
    bit_depth = image.bit_depth
    del image  # the photo as read: once scaled down, only ``rgb`` is needed (memory)
    h, w = rgb.shape[:2]
    padded = padding_note(kind, w, h)
    if padded:
        say(f"blurvid: note: {output}: {padded}")
    plays = count * loop if not boomerang else (2 * count - 2) * loop
    rate = fps or default_fps(plays)
    step = gif_step(rate) if kind == "gif" else 1
    if step > 1:
        say(f"blurvid: note: {output}: {gif_note(plays, rate, step)}")
    # Refuse to clobber (or to write over the input), to fail on an unwritable folder or to
    # run out of memory before any work (the model runs can take a while).
    targets = planned_outputs(output, image_path.stem, plays)
    check_not_inputs(targets, [image_path])
    check_outputs_free(targets, force)
    check_writable(targets[0].parent, output)
    check_clip_memory(h, w, levels, method.value,
                      len(range(0, plays, step)) if kind == "gif" else 0, kind=kind,
                      model=model, ensemble=ensemble)
    extractor = Extractor(model, device=device.value, threads=threads,
                          projection=projection.value, ensemble=ensemble)
    runs = model_runs(levels, method.value)
    start = time.perf_counter()
    progress = progress_bar(show=runs > 1)
    with progress:
        task = progress.add_task(f"level {levels}: model runs", total=runs)
        clip = extractor.stream(rgb, levels, method.value,
                                progress=lambda: progress.advance(task))
    order, times = sequence(clip, clip.times, boomerang=boomerang, loops=loop)
    order, times, rate = order[::step], times[::step], rate / step  # a GIF: <= 50 fps
    progress = progress_bar(show=len(order) > NUM_FRAMES)
    with progress:
        task = progress.add_task("writing frames", total=len(order))
        played = Played(clip, order, progress=lambda: progress.advance(task))
        written = write_clip(output, played, rate, times=times,
                             stem=image_path.stem, force=force, bit_depth=bit_depth,
                             info={"input": str(image_path), "levels": levels,
                                   "method": method.value})
    seconds = time.perf_counter() - start
    summary = {"input": str(image_path), "output": str(output), "files": len(written),
               "levels": levels, "method": method.value, "frames": int(len(order)),
               "distinct_frames": count, "fps": rate, "model_runs": runs,
               "width": clip_size(kind, w, h)[0], "height": clip_size(kind, w, h)[1],
               "device": extractor.session.device, "projection": extractor.projection,
               "ensemble": extractor.ensemble, "seconds": round(seconds, 3)}
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    else:
        say(f"{image_path} -> {output}: {len(order)} frames at {rate:g} fps "
            f"({count} distinct, {runs} model runs, {seconds:.2f} s)")
