"""The ``blurvid`` command line: a thin layer over the library.

Library code raises :class:`blurvid.errors.BlurvidError`; here each one becomes one line on
stderr and exit code 1 (``BLURVID_DEBUG=1`` shows the traceback). Stdout carries only results
(``--json``); progress goes to stderr.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import time
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)

from blurvid import __version__
from blurvid.errors import BlurvidError, DependencyError, InputError
from blurvid.pipeline import DEFAULT_PROJECTION, PROJECTIONS

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Turn one motion-blurred photo into the sharp frames hidden in its exposure.",
)
stderr = Console(stderr=True)


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


MODEL_HELP = ("An ONNX generator file, or a bundled model by name: fast (the default) or "
              "fast-int8 (int8, faster; docs/model-card.md).")


# The choices of --projection are the pipeline's (blurvid.consistency.PROJECTIONS).
Projection = Enum("Projection", {name: name for name in PROJECTIONS}, type=str)


PROJECTION_HELP = ("Make the frames average back to the photo: exact (the default; the "
                   "photo's noise comes back too), lowpass (brightness drifts only) or none "
                   "(the generator's frames as they are; better for noisy photos).")
ENSEMBLE_HELP = ("Combine the model's answers on 1, 2, 4 or 8 rotated/mirrored copies of the "
                 "photo: better frames, that many times the model's time.")


class ImageFormat(str, Enum):
    png = "png"
    jpg = "jpg"


def say(message: str) -> None:
    """One line on stderr, never wrapped or styled (paths stay whole, greppable)."""
    stderr.print(message, markup=False, highlight=False, soft_wrap=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    say(f"blurvid: error: {message}")
    return typer.Exit(code)


class _Rate(TextColumn):
    """Iterations per second (blank until rich has measured it)."""

    def __init__(self) -> None:
        super().__init__("")

    def render(self, task):
        from rich.text import Text

        return Text(f"{task.speed:.2f} it/s" if task.speed else "")


def progress_bar(show: bool = True, eta: bool = False) -> Progress:
    """A rich progress bar on stderr, shown only on a terminal (and when ``show``)."""
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
    if eta:
        columns += [TextColumn("{task.fields[info]}"), _Rate(), TimeElapsedColumn(),
                    TextColumn("ETA"), TimeRemainingColumn()]
    else:
        columns.append(TimeElapsedColumn())
    return Progress(*columns, console=stderr, transient=not eta,
                    disable=not (show and stderr.is_terminal))


def train_extra(what: str) -> None:
    """DependencyError naming the pip command unless PyTorch, onnx and PyYAML import."""
    try:
        import onnx  # noqa: F401
        import torch  # noqa: F401
        import yaml  # noqa: F401
    except ImportError as exc:
        raise DependencyError(f"{what} needs PyTorch and onnx ({exc.name} is missing): "
                              "pip install torch==2.13.0 'blurvid[train]'") from None


def reports_errors(command):
    """Map library errors to one line on stderr and exit code 1 (tracebacks with BLURVID_DEBUG=1)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        debug = os.environ.get("BLURVID_DEBUG", "") not in ("", "0")
        try:
            return command(*args, **kwargs)
        except typer.Exit:
            raise
        except BlurvidError as exc:
            if debug:
                raise
            raise fail(str(exc)) from None
        except KeyboardInterrupt:
            if debug:
                raise
            raise fail("interrupted", 130) from None
        except Exception as exc:  # an unexpected bug: still one line, traceback on request
            if debug:
                raise
            raise fail(f"internal error: {type(exc).__name__}: {exc} "
                       "(run with BLURVID_DEBUG=1 for the traceback)") from None

    return wrapper


def _print_version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Turn one motion-blurred photo into the sharp frames hidden in its exposure."""


@app.command()
@reports_errors
def extract(
    inputs: List[Path] = typer.Argument(..., help="Blurry photos, or folders of them."),
    output: Path = typer.Option(..., "-o", "--output", help="Folder for the frames."),
    model: Optional[Path] = typer.Option(None, "--model", help=MODEL_HELP),
    device: Device = typer.Option(Device.auto, "--device", help="Where ONNX Runtime runs."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="CPU threads."),
    projection: Projection = typer.Option(DEFAULT_PROJECTION, "--projection", help=PROJECTION_HELP),
    ensemble: int = typer.Option(1, "--ensemble", help=ENSEMBLE_HELP),
    tile: Optional[int] = typer.Option(None, "--tile", min=0,
                                       help="Tiled inference window in px (0: off; default: "
                                            "tiles of 1024 above 4 megapixels)."),
    fmt: ImageFormat = typer.Option(ImageFormat.png, "--format", help="Frame file format."),
    sheet: bool = typer.Option(False, "--sheet", help="Also write <stem>_sheet: input + 7 frames."),
    force: bool = typer.Option(False, "--force", help="Overwrite existing output files."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
) -> None:
    """Write OUTDIR/<stem>_01 ... <stem>_07 (temporal order) for every input photo."""
    from blurvid.io import check_outputs_free, collect_inputs, frame_paths, read_image, sheet_path
    from blurvid.pipeline import Extractor, extract_to_files

    files, notes = collect_inputs(inputs)
    for note in notes:
        say(f"blurvid: note: {note}")
    if output.exists() and not output.is_dir():
        raise InputError(f"output {output} exists and is not a folder")
    # Plan every output first: clashing stems and existing files are refused before any work.
    plans, owners = [], {}
    for path in files:
        frames = frame_paths(output, path.stem, fmt.value)
        targets = frames + ([sheet_path(output, path.stem, fmt.value)] if sheet else [])
        if frames[0] in owners:
            raise InputError(f"{path} and {owners[frames[0]]} would both write {frames[0]}; "
                             "rename one or process them separately")
        owners[frames[0]] = path
        check_outputs_free(targets, force)
        plans.append((path, frames, targets[-1] if sheet else None))

    extractor = Extractor(model, device=device.value, threads=threads, tile=tile,
                          projection=projection.value, ensemble=ensemble)
    if device is Device.auto:
        say(f"blurvid: note: --device auto: running on {extractor.session.device} "
            f"({', '.join(extractor.session.providers)})")
    results, failures = [], []
    progress = progress_bar(show=len(plans) > 1)
    with progress:
        task = progress.add_task("extracting", total=len(plans))
        for path, targets, sheet_target in plans:
            progress.update(task, description=f"extracting {path.name}")
            try:
                # The loaded photo is handed over, not kept: its float copy is freed early.
                done = extract_to_files(extractor, read_image(path), targets, sheet_target)
                for note in done["notes"]:
                    say(f"blurvid: note: {path}: {note}")
                results.append({
                    "input": str(path),
                    "frames": [str(t) for t in targets],
                    "sheet": str(sheet_target) if sheet_target else None,
                    "width": done["width"],
                    "height": done["height"],
                    "seconds": round(done["seconds"], 3),
                    "reblur_psnr": round(done["reblur_psnr"], 2),
                    "notes": done["notes"],
                })
            except BlurvidError as exc:
                failures.append({"input": str(path), "error": str(exc)})
                say(f"blurvid: error: {exc}")
            progress.advance(task)
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


class Method(str, Enum):
    recursive = "recursive"
    flow = "flow"
    blend = "blend"


@app.command()
@reports_errors
def interpolate(
    image_path: Path = typer.Argument(..., metavar="INPUT", help="One blurry photo."),
    output: Path = typer.Option(..., "-o", "--output",
                                help="clip.mp4, clip.gif, or a folder for numbered PNG frames."),
    levels: int = typer.Option(2, "--levels", min=1, max=4,
                               help="1: the 7 frames; 2: 42 frames; L: 7 * 6^(L-1)."),
    method: Method = typer.Option(Method.flow, "--method",
                                  help="flow (optical flow; measures best), recursive (the "
                                       "paper's) or blend."),
    fps: Optional[float] = typer.Option(None, "--fps", min=0.1,
                                        help="Frame rate (default: the clip lasts ~2 s)."),
    boomerang: bool = typer.Option(False, "--boomerang", help="Play forward, then back."),
    loop: int = typer.Option(1, "--loop", min=1, help="Play the sequence this many times."),
    max_side: int = typer.Option(1920, "--max-side", min=0,
                                 help="Scale the photo down to this long side first "
                                      "(0: full size; every frame is held in memory)."),
    model: Optional[Path] = typer.Option(None, "--model", help=MODEL_HELP),
    device: Device = typer.Option(Device.auto, "--device", help="Where ONNX Runtime runs."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="CPU threads."),
    projection: Projection = typer.Option(DEFAULT_PROJECTION, "--projection", help=PROJECTION_HELP),
    ensemble: int = typer.Option(1, "--ensemble", help=ENSEMBLE_HELP),
    force: bool = typer.Option(False, "--force", help="Overwrite existing output files."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
) -> None:
    """Turn one photo into a clip of 7 * 6^(levels-1) frames (MP4, GIF or PNG frames)."""
    from blurvid.interpolation import frame_count, model_runs
    from blurvid.io import check_outputs_free, read_image
    from blurvid.pipeline import Extractor
    from blurvid.video import default_fps, planned_outputs, sequence, write_clip

    count = frame_count(levels)
    image = read_image(image_path)
    for note in image.notes:
        say(f"blurvid: note: {image_path}: {note}")
    rgb = image.rgb
    h, w = rgb.shape[:2]
    if max_side and max(h, w) > max_side:
        import cv2

        scale = max_side / max(h, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        say(f"blurvid: note: {image_path}: scaled from {w}x{h} to {size[0]}x{size[1]} for the "
            "clip (--max-side 0 keeps the full size)")
    plays = count * loop if not boomerang else (2 * count - 2) * loop
    # Refuse to clobber before any work (the model runs can take a while).
    check_outputs_free(planned_outputs(output, image_path.stem, plays), force)
    extractor = Extractor(model, device=device.value, threads=threads,
                          projection=projection.value, ensemble=ensemble)
    runs = model_runs(levels, method.value)
    start = time.perf_counter()
    progress = progress_bar(show=runs > 1)
    with progress:
        task = progress.add_task(f"level {levels}: model runs", total=runs)
        clip = extractor.interpolate(rgb, levels, method.value,
                                     progress=lambda: progress.advance(task))
    order, times = sequence(clip.frames, clip.times, boomerang=boomerang, loops=loop)
    rate = fps or default_fps(len(order))
    written = write_clip(output, clip.frames[order], rate, times=times, stem=image_path.stem,
                         force=force, bit_depth=image.bit_depth,
                         info={"input": str(image_path), "levels": levels,
                               "method": method.value})
    seconds = time.perf_counter() - start
    summary = {"input": str(image_path), "output": str(output), "files": len(written),
               "levels": levels, "method": method.value, "frames": int(len(order)),
               "distinct_frames": count, "fps": rate, "model_runs": runs,
               "device": extractor.session.device, "projection": extractor.projection,
               "ensemble": extractor.ensemble, "seconds": round(seconds, 3)}
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    else:
        say(f"{image_path} -> {output}: {len(order)} frames at {rate:g} fps "
            f"({count} distinct, {runs} model runs, {seconds:.2f} s)")


class Layout(str, Enum):
    auto = "auto"
    blurvid = "blurvid"
    gopro_pairs = "gopro-pairs"
    gopro = "gopro"
    dvd = "dvd"
    frames = "frames"


def _quality_table(result: dict, title: str):
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    table.add_column("row", no_wrap=True)
    count = len(result["y"]["psnr_frames"])
    for i in range(1, count + 1):
        table.add_column(str(i) if count > 1 else "middle frame", justify="right")
    table.add_column("mean", justify="right")
    table.add_column("middle", justify="right")
    for space in ("y", "rgb"):
        block = result[space]
        for row, metric, frames, prefix, digits in (
                ("model", "PSNR", "psnr_frames", "psnr", 2),
                ("INPUT", "PSNR", "input_frames", "input", 2),
                ("model", "SSIM", "ssim_frames", "ssim", 3),
                ("INPUT", "SSIM", "input_ssim_frames", "input_ssim", 3)):
            table.add_row(f"{row} {'RGB' if space == 'rgb' else 'Y'} {metric}",
                          *(f"{v:.{digits}f}" for v in block[frames]),
                          f"{block[prefix + '_mean']:.{digits}f}",
                          f"{block[prefix + '_middle']:.{digits}f}")
    return table


@app.command()
@reports_errors
def bench(
    data: Optional[Path] = typer.Option(None, "--data",
                                        help="Dataset folder or video (quality)."),
    layout: Layout = typer.Option(Layout.auto, "--layout", help="Dataset layout."),
    gamma: bool = typer.Option(False, "--gamma",
                               help="Blur windows in linear light (gamma 2.2); GOPRO_Large: "
                                    "use blur_gamma."),
    max_samples: Optional[int] = typer.Option(None, "--max-samples", min=1,
                                              help="Score at most this many samples."),
    speed: bool = typer.Option(False, "--speed", help="Measure speed and memory instead."),
    size: str = typer.Option("1280x720", "--size", help="Photo size for --speed (WxH)."),
    repeats: int = typer.Option(5, "--repeats", min=1, help="Timed runs per model (--speed)."),
    model: Optional[Path] = typer.Option(None, "--model", help=MODEL_HELP),
    device: Device = typer.Option(Device.auto, "--device", help="Where ONNX Runtime runs."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="CPU threads."),
    projection: Projection = typer.Option(DEFAULT_PROJECTION, "--projection", help=PROJECTION_HELP),
    ensemble: int = typer.Option(1, "--ensemble", help=ENSEMBLE_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON on stdout."),
    markdown: bool = typer.Option(False, "--markdown",
                                  help="Print the quality tables as Markdown (Y, then RGB)."),
) -> None:
    """Quality against ground truth (--data DIR) or speed and memory (--speed)."""
    from rich.console import Console

    from blurvid.lab import bench as benchmarks

    stdout = Console()
    if not stdout.is_terminal:  # a file or a pipe: wide enough for the tables, no colour codes
        stdout = Console(width=160, no_color=True)
    if speed:
        if device is Device.cuda:
            raise InputError("bench --speed measures the CPU; use --device cpu or auto")
        benchmarks.parse_size(size)
        models = [None] + ([str(model)] if model is not None else [])
        with stderr.status("measuring") as status:
            result = benchmarks.bench_speed(models, size, threads or 2, repeats,
                                            progress=lambda what: status.update(f"measuring {what}"),
                                            projection=projection.value, ensemble=ensemble)
        if as_json:
            typer.echo(json.dumps(result, indent=2))
            return
        from rich.table import Table

        table = Table(title=f"{result['size']}, {result['threads']} threads, projection "
                            f"{result['projection']}, ensemble {result['ensemble']}, "
                            f"median of {repeats} "
                            f"({result['machine']})", title_justify="left")
        for col in ("model", "arch", "engine", "median s", "min s", "MP/s", "peak RSS MB",
                    "GMAC", "GFLOP/s"):
            table.add_column(col, justify="left" if col in ("model", "arch", "engine") else "right")
        for r in result["rows"]:
            table.add_row(Path(r["model"]).name, str(r["arch"]), r["engine"],
                          f"{r['median_s']:.3f}", f"{r['min_s']:.3f}",
                          f"{r['megapixels_per_s']:.2f}", f"{r['peak_rss_mb']:.0f}",
                          f"{r['gmac']:.2f}" if r.get("gmac") is not None else "-",
                          f"{r['gflops_achieved']:.1f}" if r.get("gflops_achieved") else "-")
        stdout.print(table)
        stdout.print(f"rough peak (numpy float32 matmul, {result['threads']} threads): "
                     f"{result['rough_peak_gflops']:.1f} GFLOP/s", highlight=False)
        return

    if data is None:
        raise InputError("bench needs --data DIR (quality) or --speed")
    from blurvid.lab.data.layouts import count_samples, read_dataset
    from blurvid.pipeline import Extractor

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
    stdout.print(_quality_table(result, f"{data}: {result['samples']} samples, "
                                        "order-invariant"))
    y = result["y"]
    stdout.print(f"model - INPUT (Y): {y['psnr_mean'] - y['input_mean']:+.2f} dB mean, "
                 f"{y['psnr_middle'] - y['input_middle']:+.2f} dB middle frame; order: forward "
                 f"{result['order_wins']['forward']}, reversed {result['order_wins']['reversed']}; "
                 f"reblur PSNR {result['reblur_psnr']:.2f} dB", highlight=False)
    if result.get("by_blur_px"):
        from rich.table import Table

        table = Table(title="Y PSNR by blur length (synth.json)", title_justify="left")
        for col in ("blur length", "samples", "model mean", "INPUT mean", "gain",
                    "middle gain"):
            table.add_column(col, justify="left" if col == "blur length" else "right")
        for b in result["by_blur_px"]:
            table.add_row(benchmarks.blur_span(b), str(b["samples"]), f"{b['psnr_mean']:.2f}",
                          f"{b['input_mean']:.2f}", f"{b['gain_mean']:+.2f}",
                          f"{b['gain_middle']:+.2f}")
        stdout.print(table)


@app.command()
@reports_errors
def synth(
    images: Path = typer.Option(..., "--images", help="Folder of sharp photos."),
    count: int = typer.Option(..., "-n", "--count", min=1, help="Number of samples."),
    output: Path = typer.Option(..., "-o", "--output", help="Dataset folder (blurvid layout)."),
    seed: int = typer.Option(0, "--seed", help="Random seed: the same seed writes the same bytes."),
    size: str = typer.Option("256x256", "--size", help="Sample size WxH."),
    realistic: bool = typer.Option(False, "--realistic",
                                   help="Perspective, parallax layers, moving objects, JPEG."),
    objects: Optional[Path] = typer.Option(None, "--objects",
                                           help="Cut-outs with alpha for moving objects."),
    setting: list[str] = typer.Option([], "--set", metavar="KEY=VALUE",
                                      help="A synthesiser setting (repeatable), e.g. "
                                           "max_acceleration=0 or noise_read=0,0; the names: "
                                           "docs/data.md."),
    force: bool = typer.Option(False, "--force", help="Overwrite existing files."),
) -> None:
    """Write synthetic blur samples in the blurvid layout (blur/, gt/, preview.png)."""
    from blurvid.lab.bench import parse_size
    from blurvid.lab.data.synth import SynthConfig, load_object, parse_settings, synthesise_dataset
    from blurvid.io import list_images, photos_in

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
            synthesise_dataset(photos, count, output, make(size=(w, h), **settings), seed=seed,
                               force=force, progress=lambda: progress.advance(task),
                               objects=cutouts)
        except ValueError as exc:  # an undecodable photo
            raise InputError(str(exc)) from None
    seconds = time.perf_counter() - start
    say(f"{count} samples ({w}x{h}) from {len(photos)} photos in {output} "
        f"({seconds:.1f} s, {count / seconds:.1f} samples/s)")


@app.command()
@reports_errors
def info(as_json: bool = typer.Option(False, "--json", help="Print JSON on stdout."),
         model: Optional[str] = typer.Option(None, "--model",
                                             help="A bundled model by name (fast, fast-int8, "
                                                  "paper) or an ONNX file; default: fast.")
         ) -> None:
    """Versions, ONNX Runtime providers and a model's metadata (the default model's unless
    --model)."""
    import cv2
    import numpy as np

    facts: dict = {
        "blurvid": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": np.__version__,
        "opencv": cv2.__version__,
    }
    try:
        from blurvid.runtime import GeneratorSession, import_onnxruntime

        ort = import_onnxruntime()
        facts["onnxruntime"] = ort.__version__
        facts["providers_available"] = ort.get_available_providers()
        try:
            facts.update(GeneratorSession(model, device="auto").describe())
        except BlurvidError as exc:
            if model is not None:  # asked for by name: a bad one is the user's error
                raise
            facts["model_error"] = str(exc)
    except DependencyError as exc:
        facts["onnxruntime"] = None
        facts["onnxruntime_error"] = str(exc)
    if as_json:
        typer.echo(json.dumps(facts, indent=2, default=str))
        return
    for key, value in facts.items():
        if isinstance(value, dict):
            typer.echo(f"{key}:")
            for k, v in value.items():
                typer.echo(f"  {k}: {v}")
        else:
            typer.echo(f"{key}: {value}")


@app.command()
@reports_errors
def export(
    checkpoint: Path = typer.Argument(..., help="A training checkpoint (.pt)."),
    output: Path = typer.Option(..., "-o", "--output", help="The ONNX file to write."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
) -> None:
    """Export a training checkpoint to an ONNX generator (needs the 'train' extra)."""
    train_extra("export")
    from blurvid.lab.export import export_checkpoint

    summary = export_checkpoint(checkpoint, output, force=force)
    typer.echo(json.dumps(summary, indent=2, default=str))


@app.command()
@reports_errors
def quantize(
    model: Path = typer.Argument(..., help="A blurvid ONNX generator (float32)."),
    output: Path = typer.Option(..., "-o", "--output", help="The int8 ONNX file to write."),
    calib_images: Path = typer.Option(..., "--calib-images",
                                      help="Photos to calibrate on (training photos, never "
                                           "validation ones)."),
    samples: int = typer.Option(48, "--samples", min=1, help="Calibration crops."),
    size: int = typer.Option(256, "--size", min=32, help="Calibration crop side."),
    calibration: str = typer.Option("percentile", "--calibration",
                                    help="minmax, percentile or entropy."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
) -> None:
    """Quantise a generator to int8 with ONNX Runtime (needs the 'train' extra); measure it
    with `blurvid bench` before using it."""
    train_extra("quantisation")
    from blurvid.lab.quantize import quantize_model

    summary = quantize_model(model, output, calib_images, samples=samples, size=size,
                             calibration=calibration, force=force)
    typer.echo(json.dumps(summary, indent=2))


@app.command()
@reports_errors
def train(
    config: Optional[Path] = typer.Option(None, "--config", help="A YAML recipe (train/*.yaml)."),
    data: Optional[str] = typer.Option(None, "--data",
                                       help="'synthetic' (with --images) or a dataset folder."),
    images: Optional[Path] = typer.Option(None, "--images", help="Training photos (synthetic)."),
    val_images: Optional[Path] = typer.Option(None, "--val-images",
                                              help="Held-out photos for validation (synthetic)."),
    objects: Optional[Path] = typer.Option(None, "--objects",
                                           help="Cut-outs with alpha (realistic synthesiser)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Run folder (logs, checkpoints)."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", "--steps", min=1,
                                            help="Total generator steps."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda or auto."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="CPU threads."),
    max_minutes: Optional[float] = typer.Option(None, "--max-minutes", min=0,
                                                help="Time budget in minutes: stop (validated and "
                                                     "saved) when spent; the cosine schedule "
                                                     "ends by then."),
    stop_at: Optional[int] = typer.Option(None, "--stop-at", min=1,
                                          help="Stop (validated and saved) after this step; "
                                               "the schedule still spans all steps."),
    overrides: List[str] = typer.Option([], "--set", help="Override: section.key=value."),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUT/last.pt."),
    force: bool = typer.Option(False, "--force", help="Start over in an OUT that holds a run "
                                                      "(its checkpoints and logs are deleted)."),
    no_export: bool = typer.Option(False, "--no-export", help="Skip the ONNX export at the end."),
) -> None:
    """Train a generator (needs the 'train' extra): stage 1 content, stage 2 + GAN + CBL."""
    train_extra("training")
    from blurvid.lab.train.config import load_config
    from blurvid.lab.train.trainer import train as run_training

    cfg = load_config(config, overrides, out=str(out) if out else None, steps=max_steps,
                      device=device, threads=threads, max_minutes=max_minutes,
                      data__source=data, data__images=str(images) if images else None,
                      data__val_images=str(val_images) if val_images else None,
                      data__objects=str(objects) if objects else None)
    if cfg.data.source == "synthetic" and cfg.data.val_images is None:
        say("blurvid: note: no --val-images: every 5th photo of --images is held out for "
            "validation")
    progress = progress_bar(eta=True)
    with progress:
        task = progress.add_task(f"training {cfg.model.arch}", total=cfg.steps, info="")

        def report(step: int, logs: dict) -> None:
            progress.update(task, completed=step, info=f"loss {logs['loss']:.4g}")

        best = run_training(cfg, resume=resume, export=not no_export, progress=report,
                            stop_at=stop_at, force=force)
    say(f"blurvid: best checkpoint {best}" + ("" if no_export else
                                              f", exported to {best.with_suffix('.onnx')}"))


def main() -> None:
    app(prog_name="blurvid")


if __name__ == "__main__":
    main()
