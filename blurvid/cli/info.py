"""``blurvid info``: versions, ONNX Runtime providers and a model's metadata."""

from __future__ import annotations

import json
import platform

import cv2
import numpy as np
import typer

from blurvid import __version__
from blurvid.cli.common import JsonOption, ModelOption, reports_errors
from blurvid.errors import BlurvidError, DependencyError
from blurvid.runtime import GeneratorSession, import_onnxruntime


@reports_errors
def info(as_json: JsonOption = False, model: ModelOption = None) -> None:
    """Show versions, ONNX Runtime providers and a model's metadata.

    The model is the default one unless --model names another."""
    facts: dict = {
        "blurvid": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": np.__version__,
        "opencv": cv2.__version__,
    }
    try:
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
