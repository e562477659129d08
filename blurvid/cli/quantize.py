"""``blurvid quantize``: an int8 copy of a generator (onnx + ONNX Runtime; no PyTorch)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from blurvid.cli.common import ForceOption, needs, output_option, reports_errors


@reports_errors
def quantize(
    model: Annotated[Path, typer.Argument(metavar="MODEL",
                                          help="A blurvid ONNX generator (float32).",
                                          show_default=False)],
    output: output_option("The int8 ONNX file to write."),
    calib_images: Annotated[Path, typer.Option("--calib-images",
                                               help="Photos to calibrate on (training photos, "
                                                    "never validation ones).",
                                               show_default=False)],
    samples: Annotated[int, typer.Option("--samples", min=1, help="Calibration crops.")] = 48,
    size: Annotated[int, typer.Option("--size", min=32, help="Calibration crop side.")] = 256,
    calibration: Annotated[str, typer.Option("--calibration",
                                             help="minmax, percentile or entropy.")]
    = "percentile",
    force: ForceOption = False,
) -> None:
    """Quantize a generator to int8 with ONNX Runtime.

    Measure it with `blurvid bench` before using it."""
    needs("quantization", ("onnx", "onnxruntime"), "onnx and ONNX Runtime",
          "onnx 'blurvid[cpu]'")
    from blurvid.lab.quantize import quantize_model  # needs onnx: imported once checked

    summary = quantize_model(model, output, calib_images, samples=samples, size=size,
                             calibration=calibration, force=force)
    typer.echo(json.dumps(summary, indent=2))
