"""A non-editable install (a built wheel) carries the bundled model and finds it."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "blurvid" / "models" / "blurvid-fast.onnx"


@pytest.mark.slow
@pytest.mark.skipif(not MODEL.is_file(), reason="no bundled model in this checkout")
def test_wheel_ships_and_finds_the_bundled_model(tmp_path):
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "--disable-pip-version-check",
         "-w", str(tmp_path / "dist"), str(ROOT)],
        capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("blurvid-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        assert "blurvid/models/blurvid-fast.onnx" in names
        assert zf.read("blurvid/models/blurvid-fast.onnx") == MODEL.read_bytes()
        assert "blurvid/models/blurvid-fast.onnx.sha256" in names
        assert not [n for n in names if n.startswith(("tests/", "runs/", "examples/"))]
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-compile",
                    "--disable-pip-version-check", "--target", str(site), str(wheel)],
                   check=True, timeout=300)
    code = ("import blurvid, blurvid.runtime as rt, numpy as np; "
            "p = rt.bundled_model_path(); s = rt.GeneratorSession(device='cpu', threads=1); "
            "assert s.checksum_verified; "
            "assert s.run(np.zeros((9, 11), np.float32)).shape == (7, 9, 11); "
            "print(blurvid.__file__); print(p)")
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    module_file, model_file = out.stdout.split()
    assert module_file.startswith(str(site)) and model_file.startswith(str(site))
