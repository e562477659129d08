"""``blurvid bench``: quality against ground truth (``--data``) or speed and memory
(``--speed``)."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table as RichTable

from blurvid.cli.common import (DEFAULT_PROJECTION, Device, DeviceOption, EnsembleOption,
                                ModelOption, ProjectionOption, ThreadsOption, progress_bar,
                                reports_errors, say, stderr)
from blurvid.errors import InputError
from blurvid.pipeline import Extractor

# auto + blurvid.lab.data.layouts.LAYOUTS (a test keeps them equal; the lab is imported only
# when a lab command runs, so `blurvid extract` never loads it).
Layout = Enum("Layout", {name.replace("-", "_"): name for name in
                         ("auto", "blurvid", "gopro-pairs", "gopro", "dvd", "frames")}, type=str)


def show(console: Console, table) -> None:
    """A :class:`blurvid.lab.bench.Table` as a rich table."""
    rich = RichTable(title=table.title, title_justify="left")
    for i, column in enumerate(table.columns):
        if i < table.labels:
            rich.add_column(column, justify="left", no_wrap=i == 0)
        else:
            rich.add_column(column, justify="right")
    for row in table.rows:
        rich.add_row(*row)
    console.print(rich)


@reports_errors
def bench(
    data: Annotated[Optional[Path], typer.Option("--data",
                                                 help="Dataset folder or video (quality).")]
    = None,
    layout: Annotated[Layout, typer.Option("--layout", help="Dataset layout.")] = Layout.auto,
    gamma: Annotated[bool, typer.Option("--gamma", metavar="",
                                        help="Blur windows in linear light (gamma 2.2); "
                                             "GOPRO_Large: use blur_gamma.")] = False,
    max_samples: Annotated[Optional[int], typer.Option("--max-samples", min=1,
                                                       help="Score at most this many "
                                                            "samples.")] = None,
    speed: Annotated[bool, typer.Option("--speed", metavar="",
                                        help="Measure speed and memory instead.")] = False,
    size: Annotated[str, typer.Option("--size", help="Photo size for --speed (WxH).")]
    = "1280x720",
    repeats: Annotated[int, typer.Option("--repeats", min=1,
                                         help="Timed runs per model (--speed).")] = 5,
    model: ModelOption = None,
    device: DeviceOption = Device.auto,
    threads: ThreadsOption = None,
    projection: ProjectionOption = DEFAULT_PROJECTION,
    ensemble: EnsembleOption = 1,
    as_json: Annotated[bool, typer.Option("--json", metavar="", help="Print JSON on stdout.")]
    = False,
    markdown: Annotated[bool, typer.Option("--markdown", metavar="",
                                           help="Print the quality tables as Markdown (Y, "
                                                "then RGB).")] = False,
) -> None:
    """Score quality (--data DIR) or speed and memory (--speed)."""
    from blurvid.lab import bench as benchmarks  # the lab loads only when a lab command runs
    from blurvid.lab.data.layouts import count_samples, read_dataset

    stdout = Console()
    if not stdout.is_terminal:  # a file or a pipe: wide enough for the tables, no color codes
        stdout = Console(width=160, no_color=True)
    if speed:
        if device is Device.cuda:
            raise InputError("bench --speed measures the CPU; use --device cpu or auto")
        benchmarks.parse_size(size)
        models = [None] + ([model] if model is not None else [])
        with stderr.status("measuring") as status:
            result = benchmarks.bench_speed(models, size, threads or 2, repeats,
                                            progress=lambda w: status.update(f"measuring {w}"),
                                            projection=projection.value, ensemble=ensemble)
        if as_json:
            typer.echo(json.dumps(result, indent=2))
            return
        show(stdout, benchmarks.speed_rows(result))
        stdout.print(f"rough peak (numpy float32 matmul, {result['threads']} threads): "
                     f"{result['rough_peak_gflops']:.1f} GFLOP/s", highlight=False)
        return

    if data is None:
        raise InputError("bench needs --data DIR (quality) or --speed")
    total = count_samples(data, layout.value)
    total = min(total, max_samples) if max_samples and total is not None else total
    extractor = Extractor(model, device=device.value, threads=threads,
                          projection=projection.value, ensemble=ensemble)
    skipped: list[str] = []

    def skip(message: str) -> None:
        skipped.append(message)
        say(f"blurvid: note: {message}")

    progress = progress_bar()
    with progress:
        task = progress.add_task("scoring", total=total)
        result = benchmarks.bench_quality(
            extractor.extract, read_dataset(data, layout.value, max_samples, gamma=gamma,
                                            on_skip=skip),
            progress=lambda: progress.advance(task))
    result.update({"data": str(data), "model": str(extractor.session.model_path),
                   "device": extractor.session.device, "projection": projection.value,
                   "ensemble": ensemble, "skipped": skipped})
    lengths = benchmarks.read_blur_lengths(data) if data.is_dir() else None
    if lengths:  # a `blurvid synth` folder knows each sample's blur length
        result["by_blur_px"] = benchmarks.by_blur_length(result["y_per_sample"], lengths)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    if markdown:
        typer.echo(benchmarks.markdown_table(result, "y") + "\n\n"
                   + benchmarks.markdown_table(result, "rgb")
                   + ("\n\n" + benchmarks.blur_length_table(result["by_blur_px"])
                      if result.get("by_blur_px") else ""))
        return
    show(stdout, benchmarks.quality_rows(result, f"{data}: {result['samples']} samples, "
                                                 "order-invariant"))
    stdout.print(benchmarks.quality_summary(result), highlight=False)
    if result.get("by_blur_px"):
        show(stdout, benchmarks.blur_length_rows(result["by_blur_px"]))
