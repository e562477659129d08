"""``blurvid synth``: synthetic blur samples with ground truth, in the blurvid layout."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from blurvid.cli.common import ForceOption, output_option, progress_bar, reports_errors, say
from blurvid.errors import InputError
from blurvid.io import list_images, photos_in


@reports_errors
def synth(
    images: Annotated[Path, typer.Option("--images", help="Folder of sharp photos.",
                                         show_default=False)],
    count: Annotated[int, typer.Option("-n", "--count", min=1, help="Number of samples.",
                                       show_default=False)],
    output: output_option("Dataset folder (blurvid layout)."),
    seed: Annotated[int, typer.Option("--seed", help="Random seed: the same seed writes the "
                                                     "same bytes.")] = 0,
    size: Annotated[str, typer.Option("--size", help="Sample size WxH.")] = "256x256",
    realistic: Annotated[bool, typer.Option("--realistic", metavar="",
                                            help="Perspective, parallax layers, moving "
                                                 "objects, JPEG.")] = False,
    objects: Annotated[Optional[Path], typer.Option("--objects",
                                                    help="Cut-outs with alpha for moving "
                                                         "objects.")] = None,
    setting: Annotated[list[str], typer.Option("--set", metavar="KEY=VALUE",
                                               help="A synthesizer setting (repeatable), e.g. "
                                                    "max_acceleration=0 or noise_read=0,0; the "
                                                    "names: docs/data.md.")] = [],
    force: ForceOption = False,
) -> None:
    """Write synthetic blur samples in the blurvid layout.

    The layout: blur/, gt/ and preview.png."""
    from blurvid.lab.bench import parse_size  # the lab loads only when a lab command runs
    from blurvid.lab.data.synth import (SynthConfig, load_object, parse_settings,
                                        synthesize_dataset)

    w, h = parse_size(size)
    try:
        settings = parse_settings(setting)
    except ValueError as exc:
        raise InputError(f"--set: {exc}") from None
    photos = photos_in(images, "--images")
    if objects is not None and not objects.is_dir():
        raise InputError(f"--objects {objects}: not a folder")
    progress = progress_bar()
    start = time.perf_counter()
    with progress:
        task = progress.add_task("rendering", total=count)
        try:
            cutouts = [load_object(p) for p in list_images(objects)] if objects else None
            make = SynthConfig.realistic if realistic else SynthConfig
            synthesize_dataset(photos, count, output, make(size=(w, h), **settings), seed=seed,
                               force=force, progress=lambda: progress.advance(task),
                               objects=cutouts)
        except ValueError as exc:  # an undecodable photo
            raise InputError(str(exc)) from None
    seconds = time.perf_counter() - start
    say(f"{count} samples ({w}x{h}) from {len(photos)} photos in {output} "
        f"({seconds:.1f} s, {count / seconds:.1f} samples/s)")
