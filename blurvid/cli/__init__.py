"""The ``blurvid`` command line: a thin layer over the library, one module per command.

User commands (extract, interpolate, video, info) run the product; lab commands (bench, synth,
train, export, quantize) load :mod:`blurvid.lab` only when they run. Errors: see
:mod:`blurvid.cli.common`.
"""

from __future__ import annotations

import errno
import sys
from typing import Annotated

import typer

from blurvid import __version__
from blurvid.cli.bench import bench
from blurvid.cli.common import (CLOSED_PIPE_EXIT, LAB_PANEL, USER_PANEL, click_module,
                                click_exceptions, say, silence_closed_pipe)
from blurvid.cli.export import export
from blurvid.cli.extract import extract
from blurvid.cli.info import info
from blurvid.cli.interpolate import interpolate
from blurvid.cli.quantize import quantize
from blurvid.cli.synth import synth
from blurvid.cli.train import train
from blurvid.cli.video import video

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Turn one motion-blurred photo into the sharp frames hidden in its exposure.",
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", metavar="", callback=_print_version,
                                          is_eager=True, help="Print the version and exit.")]
    = False,
) -> None:
    """Turn one motion-blurred photo into the sharp frames hidden in its exposure."""


for command in (extract, interpolate, video, info):
    app.command(rich_help_panel=USER_PANEL)(command)
for command in (bench, synth, train, export, quantize):
    app.command(rich_help_panel=LAB_PANEL)(command)


def _rich_closed_pipe(console) -> None:
    """rich's ``Console.on_broken_pipe`` for the console script: rich would exit 1 on its own;
    a ``BrokenPipeError`` instead reaches the one handling of a closed pipe (exit 0)."""
    console.quiet = True  # nothing more from this console
    raise BrokenPipeError(errno.EPIPE, "the reader closed the pipe")


def main() -> None:
    """The console script: usage errors too become one line (``blurvid: error: ...``, exit
    code 2) instead of click's box; a reader closing the pipe ends the run quietly with exit
    code ``CLOSED_PIPE_EXIT`` (0), every time (:func:`blurvid.cli.common.silence_closed_pipe`)."""
    from rich.console import Console

    Console.on_broken_pipe = _rich_closed_pipe  # the help, bench's tables, progress, errors
    errors = click_exceptions()
    pacified = click_module("utils").PacifyFlushWrapper
    try:
        try:
            code = app(prog_name="blurvid", standalone_mode=False)
        except errors.NoArgsIsHelpError as exc:  # no arguments: Typer has printed the help
            sys.exit(exc.exit_code)
        except errors.UsageError as exc:
            where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            say(f"blurvid: error: {exc.format_message()}{where}")
            sys.exit(exc.exit_code)
        except errors.ClickException as exc:
            say(f"blurvid: error: {exc.format_message()}")
            sys.exit(exc.exit_code)
        except typer.Abort:
            say("blurvid: error: interrupted")
            sys.exit(130)
        sys.stdout.flush()  # what is still buffered meets a closed pipe here, not at exit
    except BrokenPipeError:
        silence_closed_pipe()
        sys.exit(CLOSED_PIPE_EXIT)
    except SystemExit:
        # click met the closed pipe outside a command (e.g. printing --help): it wrapped the
        # streams and exits 1; the run ends as any other whose reader left
        if isinstance(sys.stdout, pacified) or isinstance(sys.stderr, pacified):
            silence_closed_pipe()
            sys.exit(CLOSED_PIPE_EXIT)
        raise
    sys.exit(code or 0)
