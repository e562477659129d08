"""``blurvid extract``: photos in, ``<stem>_01 ... <stem>_07`` frames out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, List, Optional

import typer

from blurvid.cli.common import (DEFAULT_PROJECTION, Device, DeviceOption, EnsembleOption,
                                ForceOption, ImageFormat, JsonOption, ModelOption,
                                ProjectionOption, ThreadsOption, output_option, progress_bar,
                                reports_errors, say)
from blurvid.errors import BlurvidError
from blurvid.io import collect_inputs, plan_frame_outputs, read_image
from blurvid.pipeline import Extractor, extract_to_files


@reports_errors
def extract(
    inputs: Annotated[List[Path], typer.Argument(metavar="PHOTO",
                                                 help="Blurry photos, or folders of them.",
                                                 show_default=False)],
    output: output_option("Folder for the frames."),
    model: ModelOption = None,
    device: DeviceOption = Device.auto,
    threads: ThreadsOption = None,
    projection: ProjectionOption = DEFAULT_PROJECTION,
    ensemble: EnsembleOption = 1,
    tile: Annotated[Optional[int], typer.Option("--tile", min=0,
                                      help="Tiled inference window in px (0: off; default: "
                                           "tiles of 1024 above 4 megapixels).")] = None,
    fmt: Annotated[ImageFormat, typer.Option("--format", help="Frame file format.")]
    = ImageFormat.png,
    sheet: Annotated[bool, typer.Option("--sheet", metavar="",
                                        help="Also write <stem>_sheet: input + 7 frames.")]
    = False,
    force: ForceOption = False,
    as_json: JsonOption = False,
) -> None:
    """Write the 7 sharp frames of each photo, in temporal order.

    The files are OUTDIR/<stem>_01 ... <stem>_07 for every input photo."""
    files, notes = collect_inputs(inputs)
    for note in notes:
        say(f"blurvid: note: {note}")
    plans = plan_frame_outputs(files, output, fmt.value, sheet, force)
    extractor = Extractor(model, device=device.value, threads=threads, tile=tile,
                          projection=projection.value, ensemble=ensemble)
    if device is Device.auto and extractor.session.device != "cpu":  # news only on a GPU
        say(f"blurvid: note: --device auto: running on {extractor.session.device} "
            f"({', '.join(extractor.session.providers)})")
    results, failures = [], []
    progress = progress_bar()  # a bar for the batch, and one for the windows of a big photo
    with progress:
        batch = progress.add_task("extracting", total=len(plans), visible=len(plans) > 1)
        for plan in plans:
            path = plan.source
            progress.update(batch, description=f"extracting {path.name}")
            try:
                loaded = [read_image(path)]
                h, w = loaded[0].rgb.shape[:2]
                windows = progress.add_task(f"{path.name}: windows",
                                            total=extractor.window_count(h, w),
                                            visible=extractor.window_count(h, w) > 1)
                # The loaded photo is handed over, not kept: its float copy is freed early.
                done = extract_to_files(extractor, loaded.pop(), plan.frames,
                                        plan.sheet,
                                        progress=lambda: progress.advance(windows))
                progress.remove_task(windows)
                for note in done["notes"]:
                    say(f"blurvid: note: {path}: {note}")
                results.append({
                    "input": str(path),
                    "frames": [str(t) for t in plan.frames],
                    "sheet": str(plan.sheet) if plan.sheet else None,
                    "width": done["width"],
                    "height": done["height"],
                    "seconds": round(done["seconds"], 3),
                    "reblur_psnr": round(done["reblur_psnr"], 2),
                    "notes": done["notes"],
                })
            except BlurvidError as exc:
                failures.append({"input": str(path), "error": str(exc)})
                say(f"blurvid: error: {exc}")
            progress.advance(batch)
    if as_json:
        typer.echo(json.dumps({
            "model": str(extractor.session.model_path),
            "device": extractor.session.device,
            "projection": extractor.projection,
            "ensemble": extractor.ensemble,
            "outputs": results,
            "failed": failures,
        }, indent=2))
    else:
        for r in results:
            say(f"{r['input']} -> {Path(r['frames'][0]).parent}/"
                f"{Path(r['frames'][0]).name[:-7]}_01..07 ({r['seconds']:.2f} s)")
    if failures:
        raise typer.Exit(1)
