"""What every command shares: one-line errors, progress on stderr, the options written once.

Library code raises :class:`blurvid.errors.BlurvidError`; :func:`reports_errors` turns each
into one line on stderr and exit code 1 (``BLURVID_DEBUG=1`` shows the traceback). Stdout
carries only results (``--json``); progress and notes go to stderr.

Exit codes, one rule: **2** for a command line that is wrong by itself (a missing or unknown
option, a value of the wrong type or outside its documented range, options that contradict
each other, an output suffix no writer takes), found before any file is read
(:func:`usage_error`, option callbacks, click's own checks); **1** for everything found in the
files (an unreadable input, a time range without frames in this video, an existing output,
an output that is the input, ...).
"""

from __future__ import annotations

import functools
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)
from rich.text import Text

from blurvid.consistency import PROJECTIONS
from blurvid.ensemble import ENSEMBLE_SIZES
from blurvid.errors import BlurvidError, DependencyError
from blurvid.pipeline import DEFAULT_PROJECTION

stderr = Console(stderr=True)

USER_PANEL = "Commands"
LAB_PANEL = "Lab: datasets, benchmarks, training, export"


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


# The choices of --projection are the pipeline's (blurvid.consistency.PROJECTIONS).
Projection = Enum("Projection", {name: name for name in PROJECTIONS}, type=str)


class ImageFormat(str, Enum):
    png = "png"
    jpg = "jpg"


MODEL_HELP = ("A bundled model by name: fast (the default), fast-int8 (int8, faster) or paper "
              "(the seed paper's network, ~40x slower); or an ONNX generator file (a bundled "
              "name always means the bundled model: write ./NAME for a file of that name).")
PROJECTION_HELP = ("Make the frames average back to the photo: exact (the default; the "
                   "photo's noise comes back too), lowpass (brightness drifts only) or none "
                   "(the generator's frames as they are; better for noisy photos).")
ENSEMBLE_HELP = ("Combine the model's answers on 1, 2, 4 or 8 rotated/mirrored copies of the "
                 "photo: better frames, that many times the model's time.")

MIN_MAX_SIDE = 32  # --max-side: 0 (full size) or at least this many pixels


def click_module(name: str):
    """A module of the click that Typer runs on (vendored in recent Typer)."""
    import importlib

    try:
        return importlib.import_module(f"typer._click.{name}")
    except ImportError:  # older Typer: the click package
        return importlib.import_module(f"click.{name}")


def click_exceptions():
    """The exceptions module of the click that Typer runs on."""
    return click_module("exceptions")


def usage_error(message: str, option: str) -> Exception:
    """A usage error about ``option`` (exit code 2, ``Invalid value for '--end': ...``): for
    checks of the command line that need more than one option, made before any file is read."""
    return typer.BadParameter(message, param_hint=f"'{option}'")


def _check_ensemble(value: int) -> int:
    if value not in ENSEMBLE_SIZES:
        raise typer.BadParameter(f"must be one of {', '.join(map(str, ENSEMBLE_SIZES))}, "
                                 f"got {value}")
    return value


def _check_max_side(value: int) -> int:
    if 0 < value < MIN_MAX_SIDE:
        raise typer.BadParameter(f"must be 0 (full size) or at least {MIN_MAX_SIDE}, "
                                 f"got {value}")
    return value


def max_side_option(help: str) -> object:
    """``--max-side``: 0 (full size) or at least :data:`MIN_MAX_SIDE` pixels."""
    return Annotated[int, typer.Option("--max-side", min=0, callback=_check_max_side,
                                       help=f"{help} (0: full size; else at least "
                                            f"{MIN_MAX_SIDE}).")]


# Options shared by several commands, defined once (same name, type, choices and help).
ModelOption = Annotated[Optional[str], typer.Option("--model", help=MODEL_HELP)]
DeviceOption = Annotated[Device, typer.Option("--device", help="Where ONNX Runtime runs.")]
ThreadsOption = Annotated[Optional[int], typer.Option("--threads", min=1, help="CPU threads.")]
ProjectionOption = Annotated[Projection, typer.Option("--projection", help=PROJECTION_HELP)]
EnsembleOption = Annotated[int, typer.Option("--ensemble", help=ENSEMBLE_HELP,
                                              callback=_check_ensemble)]
ForceOption = Annotated[bool, typer.Option("--force", metavar="",
                                           help="Overwrite existing output files.")]
JsonOption = Annotated[bool, typer.Option("--json", metavar="",
                                          help="Print a JSON summary on stdout.")]


def output_option(help: str) -> object:
    """``-o/--output`` (every command that writes spells it so)."""
    return Annotated[Path, typer.Option("-o", "--output", help=help)]


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


def needs(what: str, modules: tuple[str, ...], named: str, install: str) -> None:
    """DependencyError naming ``named`` and the pip command unless every module imports."""
    import importlib

    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise DependencyError(f"{what} needs {named} ({exc.name or name} is missing): "
                                  f"pip install {install}") from None


def train_extra(what: str) -> None:
    """DependencyError naming the pip command unless PyTorch, onnx and PyYAML import."""
    needs(what, ("onnx", "torch", "yaml"), "PyTorch and onnx", "torch==2.13.0 'blurvid[train]'")


CLOSED_PIPE_EXIT = 0  # the exit code of a run whose reader closed the pipe (docs/robustness.md)


def silence_closed_pipe() -> None:
    """The reader closed the pipe (``blurvid info | head -1``): it took what it wanted, so the
    run ends quietly with :data:`CLOSED_PIPE_EXIT`. That code is 0 because the other outcome
    of the same command is 0: whether a write meets the closed pipe or all the output reached
    the pipe before the reader left is a race, and only 0 makes both the same. Stdout and
    stderr are pointed at the null device, so what is still buffered neither fails nor prints
    when the interpreter flushes it at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        return
    for stream in (sys.stdout, sys.stderr):
        try:
            os.dup2(devnull, stream.fileno())
        except (AttributeError, OSError, ValueError):  # not a file (a test's capture)
            pass
    os.close(devnull)


def reports_errors(command):
    """Map library errors to one line on stderr and exit code 1 (tracebacks with
    BLURVID_DEBUG=1); a closed pipe ends the run quietly (:func:`silence_closed_pipe`); usage errors
    (:func:`usage_error`) go on to click (exit code 2)."""
    usage = click_exceptions().UsageError

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        debug = os.environ.get("BLURVID_DEBUG", "") not in ("", "0")
        try:
            return command(*args, **kwargs)
        except (typer.Exit, usage):
            raise
        except BrokenPipeError:  # the reader closed the pipe (click would exit 1 on it)
            silence_closed_pipe()
            raise typer.Exit(CLOSED_PIPE_EXIT) from None
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


__all__ = ["DEFAULT_PROJECTION", "Device", "ImageFormat", "Projection", "ModelOption",
           "DeviceOption", "ThreadsOption", "ProjectionOption", "EnsembleOption", "ForceOption",
           "JsonOption", "MIN_MAX_SIDE", "max_side_option", "usage_error", "click_exceptions",
           "click_module", "output_option", "say", "fail", "progress_bar", "needs", "train_extra",
           "reports_errors", "silence_closed_pipe", "CLOSED_PIPE_EXIT", "stderr", "USER_PANEL",
           "LAB_PANEL"]
