"""``blurvid train``: train a generator (the 'train' extra: PyTorch)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, List, Optional

import typer

from blurvid.cli.common import (Device, ThreadsOption, progress_bar, reports_errors, say, stderr,
                                train_extra)
from blurvid.cli.progress import duration
from blurvid.io import photos_in


class LogLines:
    """A progress line on stderr at most every ``interval`` seconds (and at the last step):
    what a log file gets instead of a progress bar."""

    def __init__(self, total: int, interval: float = 30.0, clock=time.monotonic) -> None:
        self.total, self.interval, self.clock = total, interval, clock
        self.start = self.last = clock()
        self.first_step: int | None = None

    def report(self, step: int, loss: float) -> str | None:
        now = self.clock()
        if self.first_step is None:
            self.first_step = step - 1
        if now - self.last < self.interval and step < self.total:
            return None
        self.last = now
        rate = (step - self.first_step) / max(now - self.start, 1e-9)
        eta = (self.total - step) / rate if rate > 0 else float("inf")
        line = (f"blurvid: step {step}/{self.total}, {rate:.2f} it/s, loss {loss:.4g}, "
                f"ETA {duration(eta)}")
        say(line)
        return line


@reports_errors
def train(
    config: Annotated[Optional[Path], typer.Option("--config",
                                                   help="A YAML recipe (train/*.yaml).")] = None,
    data: Annotated[Optional[str], typer.Option("--data",
                                                help="'synthetic' (with --images) or a dataset "
                                                     "folder.")] = None,
    images: Annotated[Optional[Path], typer.Option("--images",
                                                   help="Training photos (synthetic).")] = None,
    val_images: Annotated[Optional[Path], typer.Option("--val-images",
                                                       help="Held-out photos for validation "
                                                            "(synthetic).")] = None,
    objects: Annotated[Optional[Path], typer.Option("--objects",
                                                    help="Cut-outs with alpha (realistic "
                                                         "synthesizer).")] = None,
    output: Annotated[Optional[Path], typer.Option("-o", "--output",
                                                   help="Run folder (logs, checkpoints).")]
    = None,
    max_steps: Annotated[Optional[int], typer.Option("--max-steps", "--steps", min=1,
                                                     help="Total generator steps.")] = None,
    device: Annotated[Optional[Device], typer.Option("--device",
                                                     help="Where PyTorch trains (default: the "
                                                          "recipe's).")] = None,
    threads: ThreadsOption = None,
    max_minutes: Annotated[Optional[float], typer.Option(
        "--max-minutes", min=0, help="Time budget in minutes: stop (validated and saved) when "
                                     "spent; the cosine schedule ends by then.")] = None,
    stop_at: Annotated[Optional[int], typer.Option(
        "--stop-at", min=1, help="Stop (validated and saved) after this step; the schedule "
                                 "still spans all steps.")] = None,
    overrides: Annotated[List[str], typer.Option("--set",
                                                 help="Override: section.key=value.")] = [],
    resume: Annotated[bool, typer.Option("--resume", metavar="",
                                         help="Continue from OUTPUT/last.pt.")] = False,
    force: Annotated[bool, typer.Option("--force", metavar="",
                                        help="Start over in an OUTPUT that holds a run (its "
                                             "checkpoints and logs are deleted).")] = False,
    no_export: Annotated[bool, typer.Option("--no-export", metavar="",
                                            help="Skip the ONNX export at the end.")] = False,
) -> None:
    """Train a generator (needs the 'train' extra).

    Stage 1: content loss; stage 2: + GAN + CBL."""
    train_extra("training")
    # needs PyTorch: imported once checked
    from blurvid.lab.train.config import load_config
    from blurvid.lab.train.trainer import train as run_training

    cfg = load_config(config, overrides, out=str(output) if output else None, steps=max_steps,
                      device=device.value if device else None, threads=threads,
                      max_minutes=max_minutes,
                      data__source=data, data__images=str(images) if images else None,
                      data__val_images=str(val_images) if val_images else None,
                      data__objects=str(objects) if objects else None)
    if cfg.data.source == "synthetic":  # check the photos before any note or folder
        photos_in(cfg.data.images, "--images")
    if cfg.data.source == "synthetic" and cfg.data.val_images is None:
        say("blurvid: note: no --val-images: every 5th photo of --images is held out for "
            "validation")
    progress = progress_bar(eta=True)
    lines = LogLines(cfg.steps)  # off a terminal (logs, CI, nohup): a line per interval
    with progress:
        task = progress.add_task(f"training {cfg.model.arch}", total=cfg.steps, info="")

        def report(step: int, logs: dict) -> None:
            progress.update(task, completed=step, info=f"loss {logs['loss']:.4g}")
            if not stderr.is_terminal:
                lines.report(step, logs["loss"])

        best = run_training(cfg, resume=resume, export=not no_export, progress=report,
                            stop_at=stop_at, force=force)
    say(f"blurvid: best checkpoint {best}" + ("" if no_export else
                                              f", exported to {best.with_suffix('.onnx')}"))
