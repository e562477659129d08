"""The ``blurvid`` command line: a thin layer over the library, one module per command.

User commands (extract, interpolate, video, info) run the product; lab commands (bench, synth,
train, export, quantize) load :mod:`blurvid.lab` only when they run. Errors: see
:mod:`blurvid.cli.common`.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from blurvid import __version__
from blurvid.cli.bench import bench
from blurvid.cli.common import LAB_PANEL, USER_PANEL, click_exceptions, say
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


def main() -> None:
    """The console script: usage errors too become one line (``blurvid: error: ...``, exit
    code 2) instead of click's box; a closed pipe on stdout ends the run quietly."""
    errors = click_exceptions()
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
    sys.exit(code or 0)
