"""``blurvid bench``: quality against ground truth, and speed and memory.

Quality (:func:`bench_quality`): the model runs over a dataset's samples (readers in
:mod:`blurvid.lab.data.layouts`) and each sample is scored with
:func:`blurvid.metrics.score_sample` on Y (BT.601 full range) and on RGB: per frame index
PSNR and SSIM, mean and middle frame, order-invariant (per sample the better of forward and
reversed order; how often each won is reported), the INPUT row (the blurry photo against each
sharp frame) and the reblur PSNR (the mean of the 7 frames in linear light against the input,
the check a user can run on any photo). Per-sample Y means are kept (``y_per_sample``) so that
a ``blurvid synth`` folder's samples can be grouped by blur length (:func:`by_blur_length`).

Speed (:func:`bench_speed`): per model, in a subprocess of its own so its peak memory is its
own: ONNX Runtime session built once, warm-up, then the median of N calls of the whole
pipeline on a random photo of the given size; throughput in megapixels/s; with PyTorch
installed, the same generator in PyTorch eager mode (random weights of the model's
architecture: the speed does not depend on the weights), its multiply-accumulates and the
achieved GFLOP/s against the machine's rough peak (a float32 matrix product in numpy with
the same threads).
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from blurvid.color import rgb_to_y
from blurvid.errors import BlurvidError, InputError
from blurvid.metrics import score_sample, summarize
from blurvid.ensemble import check_ensemble_size
from blurvid.pipeline import DEFAULT_PROJECTION, Extractor, reblur_psnr
from blurvid.runtime import GeneratorSession


def bench_quality(extract: Callable[[np.ndarray], np.ndarray], samples: Iterable,
                  progress: Callable[[], None] | None = None) -> dict:
    """Score ``extract`` (RGB image -> (7, H, W, 3) frames) on ``samples``
    (:class:`blurvid.lab.data.layouts.Sample`; for samples with only the middle sharp frame, the
    model's middle frame is scored). Returns ``{"y": ..., "rgb": ..., "reblur_psnr",
    "order_wins": {"forward", "reversed"}, "samples", "names"}`` with :func:`summarize` blocks."""
    rows_y, rows_rgb, reblur, names, counts = [], [], [], [], set()
    for sample in samples:
        frames = extract(sample.blur)
        reblur.append(reblur_psnr(frames, sample.blur))
        counts.add(len(sample.frames))
        if len(sample.frames) == 1:  # a pair dataset: only the middle frame has ground truth
            frames = frames[len(frames) // 2 : len(frames) // 2 + 1]
        if len(counts) > 1:
            raise InputError("the dataset mixes samples with 7 frames and with 1 frame")
        rows_y.append(score_sample(rgb_to_y(frames), rgb_to_y(sample.frames),
                                   rgb_to_y(sample.blur)))
        rows_rgb.append(score_sample(frames, sample.frames, sample.blur))
        names.append(sample.name)
        if progress is not None:
            progress()
    if not rows_y:
        raise InputError("the dataset has no samples")
    reversed_count = sum(r["reversed"] for r in rows_y)
    return {
        "y": summarize(rows_y),
        "rgb": summarize(rows_rgb),
        "reblur_psnr": round(float(np.mean(reblur)), 3),
        "order_wins": {"forward": len(rows_y) - reversed_count, "reversed": reversed_count},
        "samples": len(rows_y),
        "names": names,
        "y_per_sample": [_sample_means(name, row) for name, row in zip(names, rows_y)],
    }


def _sample_means(name: str, row: dict) -> dict:
    middle = len(row["psnr"]) // 2
    return {"name": name, "psnr_mean": round(float(np.mean(row["psnr"])), 4),
            "psnr_middle": round(float(row["psnr"][middle]), 4),
            "input_mean": round(float(np.mean(row["input_psnr"])), 4),
            "input_middle": round(float(row["input_psnr"][middle]), 4)}


BLUR_BINS = (0.0, 5.0, 10.0, 20.0, 30.0, float("inf"))  # blur length, pixels


def read_blur_lengths(folder: str | Path) -> dict[str, float] | None:
    """Blur length (pixels) per sample name from a ``blurvid synth`` folder's ``synth.json``;
    ``None`` when the folder has none (real data). Raises :class:`InputError` if the file is
    there but unreadable."""
    path = Path(folder) / "synth.json"
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        return {str(s["name"]): float(s["blur_px"]) for s in record["per_sample"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: not a readable synth.json ({type(exc).__name__}: "
                         f"{exc})") from None


def by_blur_length(per_sample: list[dict], lengths: dict[str, float],
                   edges: tuple[float, ...] = BLUR_BINS) -> list[dict]:
    """Y PSNR of model and INPUT per blur-length bin ``[edges[i], edges[i + 1])``: rows of
    :func:`bench_quality`'s ``y_per_sample`` whose name has a length; empty bins left out; an
    open last bin has ``None`` as its upper edge (JSON has no infinity)."""
    if list(edges) != sorted(edges) or len(edges) < 2:
        raise ValueError(f"edges must be increasing, at least two: {edges}")
    out = []
    for low, high in zip(edges[:-1], edges[1:]):
        rows = [r for r in per_sample if r["name"] in lengths
                and low <= lengths[r["name"]] < high]
        if not rows:
            continue
        mean = {k: float(np.mean([r[k] for r in rows]))
                for k in ("psnr_mean", "input_mean", "psnr_middle", "input_middle")}
        out.append({"blur_px": [low, None if high == float("inf") else high],
                    "samples": len(rows),
                    **{k: round(v, 4) for k, v in mean.items()},
                    "gain_mean": round(mean["psnr_mean"] - mean["input_mean"], 4),
                    "gain_middle": round(mean["psnr_middle"] - mean["input_middle"], 4)})
    return out


def blur_span(row: dict) -> str:
    """A :func:`by_blur_length` row's bin as text: ``10-20 px`` or ``30+ px``."""
    low, high = row["blur_px"]
    return f"{low:g}+ px" if high is None else f"{low:g}-{high:g} px"


@dataclass(frozen=True)
class Table:
    """A result table as data: rendered as Markdown (:meth:`markdown`, what the docs quote)
    or by the CLI on a terminal (rich). The first column is a label, the others numbers."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    labels: int = 1  # leading text columns (left-aligned); the rest are numbers

    def markdown(self) -> str:
        lines = ["| " + " | ".join(self.columns) + " |",
                 "|" + "---|" * self.labels + "---:|" * (len(self.columns) - self.labels)]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        return "\n".join(lines)


def blur_length_rows(bins: list[dict]) -> Table:
    """:func:`by_blur_length` as a table (Y PSNR, dB)."""
    return Table("Y PSNR by blur length (synth.json)",
                 ("blur length", "samples", "model mean", "INPUT mean", "gain", "middle gain"),
                 tuple((blur_span(b), str(b["samples"]), f"{b['psnr_mean']:.2f}",
                        f"{b['input_mean']:.2f}", f"{b['gain_mean']:+.2f}",
                        f"{b['gain_middle']:+.2f}") for b in bins))


def blur_length_table(bins: list[dict]) -> str:
    """:func:`by_blur_length` as a Markdown table (Y PSNR, dB)."""
    return blur_length_rows(bins).markdown()


def quality_rows(result: dict, title: str) -> Table:
    """A :func:`bench_quality` result, Y and RGB, PSNR and SSIM, model and INPUT: per frame
    index, mean and middle frame (the terminal's table; :func:`markdown_table` for docs)."""
    count = len(result["y"]["psnr_frames"])
    columns = ("row", *((str(i) for i in range(1, count + 1)) if count > 1
                        else ("middle frame",)), "mean", "middle")
    rows = []
    for space in ("y", "rgb"):
        block = result[space]
        for row, metric, frames, prefix, digits in (
                ("model", "PSNR", "psnr_frames", "psnr", 2),
                ("INPUT", "PSNR", "input_frames", "input", 2),
                ("model", "SSIM", "ssim_frames", "ssim", 3),
                ("INPUT", "SSIM", "input_ssim_frames", "input_ssim", 3)):
            rows.append((f"{row} {'RGB' if space == 'rgb' else 'Y'} {metric}",
                         *(f"{v:.{digits}f}" for v in block[frames]),
                         f"{block[prefix + '_mean']:.{digits}f}",
                         f"{block[prefix + '_middle']:.{digits}f}"))
    return Table(title, columns, tuple(rows))


def quality_summary(result: dict) -> str:
    """One line under :func:`quality_rows`: the gain, the order wins, the reblur PSNR."""
    y = result["y"]
    return (f"model - INPUT (Y): {y['psnr_mean'] - y['input_mean']:+.2f} dB mean, "
            f"{y['psnr_middle'] - y['input_middle']:+.2f} dB middle frame; order: forward "
            f"{result['order_wins']['forward']}, reversed {result['order_wins']['reversed']}; "
            f"reblur PSNR {result['reblur_psnr']:.2f} dB")


def speed_rows(result: dict) -> Table:
    """A :func:`bench_speed` result as a table, one row per model and engine."""
    title = (f"{result['size']}, {result['threads']} threads, projection "
             f"{result['projection']}, ensemble {result['ensemble']}, median of "
             f"{result['repeats']} ({result['machine']})")
    rows = tuple((Path(r["model"]).name, str(r["arch"]), r["engine"], f"{r['median_s']:.3f}",
                  f"{r['min_s']:.3f}", f"{r['megapixels_per_s']:.2f}",
                  f"{r['peak_rss_mb']:.0f}",
                  f"{r['gmac']:.2f}" if r.get("gmac") is not None else "-",
                  f"{r['gflops_achieved']:.1f}" if r.get("gflops_achieved") else "-")
                 for r in result["rows"])
    return Table(title, ("model", "arch", "engine", "median s", "min s", "MP/s",
                         "peak RSS MB", "GMAC", "GFLOP/s"), rows, labels=3)


def parse_size(text: str) -> tuple[int, int]:
    """'1280x720' -> (1280, 720)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise InputError(f"size must look like 1280x720, got {text!r}") from None
    if w < 1 or h < 1:
        raise InputError(f"size must be positive, got {text!r}")
    return w, h


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def time_runs(run: Callable[[], object], repeats: int) -> list[float]:
    """Seconds of each of ``repeats`` calls of ``run`` after one untimed warm-up call."""
    run()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return times


def speed_worker(model: str | None, size: str, threads: int, repeats: int, engine: str,
                 projection: str, ensemble: int = 1) -> dict:
    """One measurement (runs inside the subprocess): see the module docstring."""
    w, h = parse_size(size)
    image = np.random.default_rng(0).random((h, w, 3), dtype=np.float32)

    start = time.perf_counter()
    extractor = Extractor(model, device="cpu", threads=threads, projection=projection,
                          ensemble=ensemble)
    meta = extractor.session.metadata
    if engine == "torch" and meta.get("precision", "float32") != "float32":
        return {"skip": True}  # PyTorch eager would time the float network, not this model
    if engine == "torch":
        import torch

        from blurvid.lab.train.models import build_generator

        torch.set_num_threads(threads)
        kwargs = {k: tuple(v) if isinstance(v, list) else v
                  for k, v in json.loads(meta.get("arch_kwargs") or "{}").items()}
        net = build_generator(meta["arch"], **kwargs).eval()

        def run_luma(y):
            with torch.inference_mode():
                return net(torch.from_numpy(y)[None, None]).numpy()[0]

        extractor.session.run = run_luma  # same pipeline around a PyTorch generator
    setup_s = time.perf_counter() - start
    times = time_runs(lambda: extractor.extract(image), repeats)
    return {"engine": engine, "arch": meta.get("arch"), "median_s": statistics.median(times),
            "min_s": min(times), "setup_s": setup_s, "peak_rss_mb": _peak_rss_mb(),
            "model": str(extractor.session.model_path)}


def _run_worker(model: str | None, size: str, threads: int, repeats: int, engine: str,
                projection: str, ensemble: int) -> dict:
    cmd = [sys.executable, "-m", "blurvid.lab.bench", "--speed-worker", model or "", size,
           str(threads), str(repeats), engine, projection, str(ensemble)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise BlurvidError(f"the speed measurement of {model or 'the bundled model'} "
                           f"({engine}) failed: {tail}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def rough_peak_gflops(threads: int, n: int = 2048, repeats: int = 3) -> float:
    """Achieved GFLOP/s of a float32 n x n matrix product in numpy (a rough machine peak).

    numpy's BLAS picks its thread count at start-up, so this runs in a subprocess with
    OMP/OPENBLAS/MKL thread limits set to ``threads``.
    """
    code = ("import numpy as np, time; a = np.random.rand({n}, {n}).astype(np.float32); "
            "a @ a; best = min((lambda t0: (a @ a, time.perf_counter() - t0)[1])"
            "(time.perf_counter()) for _ in range({r})); print(2 * {n} ** 3 / best / 1e9)"
            ).format(n=n, r=repeats)
    env = {**os.environ, **{k: str(threads) for k in
                            ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True)
    return float(out.stdout.strip())


def _macs(model_meta: dict, w: int, h: int) -> float | None:
    try:
        from blurvid.lab.train.models import build_generator, count_macs
    except ImportError:
        return None
    kwargs = {k: tuple(v) if isinstance(v, list) else v
              for k, v in json.loads(model_meta.get("arch_kwargs") or "{}").items()}
    return count_macs(build_generator(model_meta["arch"], **kwargs), h, w) / 1e9


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def bench_speed(models: list[str | None], size: str = "1280x720", threads: int = 2,
                repeats: int = 5, with_torch: bool | None = None,
                progress: Callable[[str], None] | None = None,
                projection: str | None = None, ensemble: int = 1) -> dict:
    """Speed rows for every model (None: the bundled one), ONNX Runtime and, when torch is
    installed (or ``with_torch``), PyTorch eager; plus the machine's rough peak. The pipeline
    includes ``projection`` (default: the extractor's default) and a self-ensemble of
    ``ensemble`` runs (:mod:`blurvid.ensemble`)."""

    check_ensemble_size(ensemble, InputError)  # here, not as a failed subprocess
    if projection is None:

        projection = DEFAULT_PROJECTION
    w, h = parse_size(size)
    if with_torch is None:
        with_torch = torch_available()
    engines = ["onnxruntime"] + (["torch"] if with_torch else [])
    rows = []
    for model in models:
        for engine in engines:
            if progress is not None:
                progress(f"{Path(model).name if model else 'bundled model'} ({engine})")
            row = _run_worker(model, size, threads, repeats, engine, projection, ensemble)
            if row.get("skip"):
                continue
            row["megapixels_per_s"] = w * h / 1e6 / row["median_s"]
            rows.append(row)
    peak = rough_peak_gflops(threads)
    if with_torch:

        for row in rows:
            macs = _macs(GeneratorSession(row["model"], device="cpu").metadata, w, h)
            row["gmac"] = macs * ensemble if macs else macs
            row["gflops_achieved"] = 2 * row["gmac"] / row["median_s"] if macs else None
    return {"size": f"{w}x{h}", "threads": threads, "repeats": repeats, "projection": projection,
            "ensemble": ensemble,
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
                       f"Python {platform.python_version()}",
            "rough_peak_gflops": round(peak, 1), "rows": rows}


def main(argv: list[str]) -> None:
    if len(argv) == 8 and argv[0] == "--speed-worker":
        _, model, size, threads, repeats, engine, projection, ensemble = argv
        print(json.dumps(speed_worker(model or None, size, int(threads), int(repeats), engine,
                                      projection, int(ensemble))))
        return
    raise SystemExit("usage: python -m blurvid.lab.bench --speed-worker MODEL SIZE THREADS "
                     "REPEATS ENGINE PROJECTION ENSEMBLE (use `blurvid bench`)")


def markdown_table(result: dict, channel: str = "y") -> str:
    """A :func:`bench_quality` result as a Markdown table (per frame, mean; model, INPUT, gain,
    SSIM) plus one line with the order wins and the reblur PSNR: what the docs quote."""
    block = result[channel]
    n = len(block["psnr_frames"])
    middle = n // 2
    label = channel.upper() if channel == "y" else "RGB"
    columns = (label, *(f"{i + 1}" + (" (middle)" if i == middle and n > 1 else "")
                        for i in range(n)), "mean")

    def row(name, values, mean, fmt):
        return (name, *(fmt.format(v) for v in values), fmt.format(mean))

    gains = [a - b for a, b in zip(block["psnr_frames"], block["input_frames"])]
    table = Table("", columns, (
        row("model PSNR", block["psnr_frames"], block["psnr_mean"], "{:.2f}"),
        row("INPUT PSNR", block["input_frames"], block["input_mean"], "{:.2f}"),
        row("gain (dB)", gains, block["psnr_mean"] - block["input_mean"], "{:+.2f}"),
        row("model SSIM", block["ssim_frames"], block["ssim_mean"], "{:.3f}"),
        row("INPUT SSIM", block["input_ssim_frames"], block["input_ssim_mean"], "{:.3f}")))
    wins = result.get("order_wins", {})
    return (table.markdown() + "\n\n"
            + f"{result['samples']} samples; order: forward {wins.get('forward', 0)}, "
              f"reversed {wins.get('reversed', 0)}; reblur PSNR {result['reblur_psnr']:.2f} dB")

if __name__ == "__main__":
    main(sys.argv[1:])
