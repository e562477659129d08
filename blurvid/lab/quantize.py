"""Post-training int8 quantization of a blurvid ONNX generator (ONNX Runtime, static, QDQ).

Weights are quantized per output channel to int8, activations per tensor to uint8 with ranges
calibrated on luma crops of blurry images rendered by the synthesizer from calibration photos
(use training photos, never the validation ones). The result is an ordinary blurvid ONNX
generator with the same inputs, outputs and metadata (plus ``precision: int8`` and the
calibration facts) and its ``.sha256`` beside it. Whether it is good enough is measured, not
assumed: ``blurvid bench --data VAL --model int8.onnx`` against the float model (the model card
lists both).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from blurvid.color import rgb_to_y
from blurvid.errors import InputError, ModelError, OutputError, OutputExistsError
from blurvid.io import photos_in, write_bytes_atomic
from blurvid.lab.data.synth import SynthConfig, load_photo, render
from blurvid.runtime import file_sha256, write_checksum

FLOAT_NODES = ("/stem/Conv", "/head/Conv")


def calibration_luma(photos: list[Path], count: int, size: int, seed: int = 0,
                     realistic: bool = True) -> list[np.ndarray]:
    """``count`` blurry luma crops ``(1, 1, size, size)`` float32 rendered from ``photos``."""
    if not photos:
        raise InputError("calibration needs at least one photo")
    loaded = [load_photo(p) for p in photos]
    make = SynthConfig.realistic if realistic else SynthConfig
    cfg = make(size=size)
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        blur, _ = render(loaded[i % len(loaded)], rng, cfg)
        out.append(rgb_to_y(blur).astype(np.float32)[None, None])
    return out


def quantize_model(model_path: str | Path, out_path: str | Path, calib_images: str | Path,
                   samples: int = 48, size: int = 256, seed: int = 0,
                   force: bool = False, keep_float: tuple[str, ...] = FLOAT_NODES,
                   calibration: str = "percentile") -> dict:
    """Write an int8 (QDQ) copy of the ONNX generator ``model_path`` to ``out_path``.

    ``keep_float``: node names left in float32 (the first and last convolutions by default:
    the image-resolution ends, where 8-bit steps show); ``calibration``: ``minmax``,
    ``percentile`` or ``entropy`` (ONNX Runtime's calibration methods)."""
    import onnx
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                          QuantType, quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    model_path, out_path = Path(model_path), Path(out_path)
    if out_path.suffix.lower() != ".onnx":
        raise InputError(f"the output {out_path} must end in .onnx")
    if out_path.exists() and not force:
        raise OutputExistsError(f"{out_path} already exists; pass --force to overwrite it")
    if not model_path.is_file():
        raise InputError(f"{model_path}: no such model file")
    photos = photos_in(calib_images, "--calib-images")
    source = onnx.load(str(model_path))
    props = {p.key: p.value for p in source.metadata_props}
    if "blurvid_format" not in props:
        raise ModelError(f"{model_path} is not a blurvid generator (no blurvid metadata)")
    if props.get("precision") == "int8":
        raise InputError(f"{model_path} is already quantized")
    if calibration not in ("minmax", "percentile", "entropy"):
        raise InputError(f"calibration must be minmax, percentile or entropy, got {calibration!r}")
    batches = calibration_luma(photos, samples, size, seed)
    input_name = source.graph.input[0].name

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter(batches)

        def get_next(self):
            item = next(self.items, None)
            return None if item is None else {input_name: item}

    with tempfile.TemporaryDirectory(prefix="blurvid-quant-") as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quantized = Path(tmp) / "int8.onnx"
        quant_pre_process(str(model_path), str(prepared), skip_symbolic_shape=True)
        # ONNX Runtime prints its calibration progress on stdout; stdout carries only results.
        with contextlib.redirect_stdout(sys.stderr):
            quantize_static(str(prepared), str(quantized), Reader(), quant_format=QuantFormat.QDQ,
                            per_channel=True, activation_type=QuantType.QUInt8,
                            weight_type=QuantType.QInt8, nodes_to_exclude=list(keep_float),
                            op_types_to_quantize=["Conv"],
                            calibrate_method={"minmax": CalibrationMethod.MinMax,
                                              "percentile": CalibrationMethod.Percentile,
                                              "entropy": CalibrationMethod.Entropy}[calibration])
        proto = onnx.load(str(quantized))
    props.update({
        "precision": "int8",
        "quantization": json.dumps({"method": "onnxruntime static QDQ, per-channel int8 "
                                              "weights, uint8 activations, convolutions only",
                                    "calibration": calibration, "float_nodes": list(keep_float),
                                    "calibration_samples": samples, "calibration_size": size,
                                    "calibration_photos": len(photos), "seed": seed,
                                    "float_model_sha256": file_sha256(model_path)}),
    })
    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, props)
    data = proto.SerializeToString()
    digest = hashlib.sha256(data).hexdigest()
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(out_path, data)
        write_checksum(out_path, digest)
    except OSError as exc:
        raise OutputError(f"cannot write {out_path}: {exc.strerror or exc}") from exc
    return {"path": str(out_path), "bytes": len(data), "sha256": digest,
            "float_bytes": os.path.getsize(model_path), "calibration_samples": samples}
