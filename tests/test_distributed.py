"""Two training processes with DDP over gloo on the CPU (torchrun): replicas stay identical."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx")

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.distributed
def test_two_processes_gloo_keep_replicas_identical(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        cv2.imwrite(str(photos / f"p{i}.png"),
                    cv2.GaussianBlur(rng.integers(0, 256, (80, 96, 3), dtype=np.uint8), (5, 5), 2))
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "blurvid.cli", "train", "--data", "synthetic", "--images", str(photos),
           "--val-images", str(photos), "--output", str(out), "--max-steps", "4", "--threads", "1",
           "--no-export",
           "--set", "model.kwargs={width: 4, blocks: [1, 1, 1]}", "--set", "data.crop=32",
           "--set", "data.batch=2", "--set", "data.val_samples=2", "--set", "data.val_crop=32",
           "--set", "val_every=2", "--set", "content_only_steps=2", "--set", "loss.alpha=0.001",
           "--set", "loss.beta=0.1", "--set", "loss.disc_width=0.0625",
           "--set", "loss.cbl_max_features=64"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4]  # one writer: rank 0
    assert all(r["world_size"] == 2 and r["replicas_in_sync"] for r in records)
    assert "adversarial" in records[-1] and "cbl" in records[-1]
    assert (out / "last.pt").is_file()
