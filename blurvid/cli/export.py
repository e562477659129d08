"""``blurvid export``: a training checkpoint -> an ONNX generator (the 'train' extra)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from blurvid.cli.common import ForceOption, output_option, reports_errors, train_extra


@reports_errors
def export(
    checkpoint: Annotated[Path, typer.Argument(metavar="CHECKPOINT",
                                               help="A training checkpoint (.pt).",
                                               show_default=False)],
    output: output_option("The ONNX file to write."),
    force: ForceOption = False,
) -> None:
    """Export a training checkpoint to an ONNX generator.

    Needs the 'train' extra."""
    train_extra("export")
    from blurvid.lab.export import export_checkpoint  # needs PyTorch: imported once checked

    summary = export_checkpoint(checkpoint, output, force=force)
    typer.echo(json.dumps(summary, indent=2, default=str))
