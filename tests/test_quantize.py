"""Tests of the int8 quantization of a generator (ONNX Runtime static QDQ)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from blurvid.errors import InputError, OutputExistsError  # noqa: E402
from blurvid.metrics import psnr  # noqa: E402
from blurvid.runtime import GeneratorSession  # noqa: E402
from blurvid.lab.quantize import quantize_model  # noqa: E402

TINY = Path(__file__).parent / "data" / "tiny-fast.onnx"


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        img = cv2.GaussianBlur(rng.integers(0, 256, (90, 120, 3), dtype=np.uint8), (7, 7), 3)
        cv2.imwrite(str(folder / f"p{i}.png"), img)
    return folder


def test_int8_model_runs_close_to_float_with_its_metadata(photos, tmp_path):
    out = tmp_path / "int8.onnx"
    summary = quantize_model(TINY, out, photos, samples=4, size=64)
    assert summary["bytes"] == out.stat().st_size and (tmp_path / "int8.onnx.sha256").is_file()
    session = GeneratorSession(out, device="cpu")  # checks the sha256 sidecar
    meta = session.metadata
    assert meta["precision"] == "int8" and meta["arch"] == "fast"
    assert json.loads(meta["quantization"])["calibration_samples"] == 4
    y = cv2.GaussianBlur(np.random.default_rng(1).random((48, 72), dtype=np.float32), (0, 0), 2)
    expected = GeneratorSession(TINY, device="cpu").run(y)
    got = session.run(y)
    assert got.shape == expected.shape == (7, 48, 72)
    assert psnr(np.clip(got, 0, 1), np.clip(expected, 0, 1)) > 30
    assert not np.array_equal(got, expected)  # it really is another computation


def test_refusals(photos, tmp_path):
    out = tmp_path / "int8.onnx"
    quantize_model(TINY, out, photos, samples=2, size=32)
    with pytest.raises(OutputExistsError):
        quantize_model(TINY, out, photos, samples=2, size=32)
    with pytest.raises(InputError, match="already quantized"):
        quantize_model(out, tmp_path / "again.onnx", photos, samples=2, size=32)
    with pytest.raises(InputError, match="not a folder"):
        quantize_model(TINY, tmp_path / "x.onnx", tmp_path / "none", samples=2, size=32)
    with pytest.raises(InputError, match="must end in .onnx"):
        quantize_model(TINY, tmp_path / "x.bin", photos)
    with pytest.raises(InputError, match="calibration must be"):
        quantize_model(TINY, tmp_path / "y.onnx", photos, calibration="guess")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no photos"):
        quantize_model(TINY, tmp_path / "z.onnx", empty)
    assert not (tmp_path / "z.onnx").exists() and not (tmp_path / "x.onnx").exists()


@pytest.mark.slow
def test_speed_bench_times_an_int8_model_with_onnxruntime_only(photos, tmp_path):
    pytest.importorskip("torch")
    from blurvid.lab.bench import bench_speed

    out = tmp_path / "int8.onnx"
    quantize_model(TINY, out, photos, samples=2, size=32)
    result = bench_speed([str(out), str(TINY)], "48x32", threads=1, repeats=1, with_torch=True)
    engines = [(Path(r["model"]).name, r["engine"]) for r in result["rows"]]
    assert engines == [("int8.onnx", "onnxruntime"), ("tiny-fast.onnx", "onnxruntime"),
                       ("tiny-fast.onnx", "torch")]


def test_cli_prints_only_json_on_stdout(photos, tmp_path):
    from typer.testing import CliRunner

    from blurvid.cli import app

    out = tmp_path / "int8.onnx"
    result = CliRunner().invoke(app, ["quantize", str(TINY), "-o", str(out), "--calib-images",
                                      str(photos), "--samples", "2", "--size", "32"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["path"] == str(out)


def test_the_quantize_command_needs_no_torch(photos, tmp_path):
    """`blurvid quantize` needs onnx and ONNX Runtime only: it runs with torch unimportable."""
    import os
    import subprocess
    import sys

    code = ("import sys; sys.modules['torch'] = None; from blurvid.cli import main; "
            "sys.argv = ['blurvid', *sys.argv[1:]]; main()")
    out = subprocess.run([sys.executable, "-c", code, "quantize", str(TINY), "-o",
                          str(tmp_path / "q.onnx"), "--calib-images", str(photos),
                          "--samples", "2", "--size", "32"], capture_output=True, text=True,
                         timeout=300, env={**os.environ,
                                           "PYTHONPATH": str(Path(__file__).parents[1])})
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout)["bytes"] == (tmp_path / "q.onnx").stat().st_size
