"""Smoke test of the content-loss trainer: a few steps on tiny photos, checkpoint, export."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from blurvid.train.export import export_checkpoint, load_checkpoint  # noqa: E402
from blurvid.train.trainer import TrainConfig, lr_at, train  # noqa: E402


def _photos(folder, n, seed):
    folder.mkdir()
    rng = np.random.default_rng(seed)
    for i in range(n):
        img = cv2.GaussianBlur(rng.integers(0, 256, (96, 128, 3), dtype=np.uint8), (5, 5), 2)
        cv2.imwrite(str(folder / f"p{i}.png"), img)
    return folder


def test_train_checkpoint_resume_export(tmp_path):
    cfg = TrainConfig(images=str(_photos(tmp_path / "train", 2, 0)),
                      val_images=str(_photos(tmp_path / "val", 1, 1)),
                      out=str(tmp_path / "run"), arch_kwargs={"width": 4, "blocks": (1, 1, 1)},
                      steps=4, batch=2, crop=32, warmup=2, val_every=2, val_samples=2,
                      val_crop=32, threads=1)
    best = train(cfg)
    run = tmp_path / "run"
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4]
    for r in records:
        assert np.isfinite(r["loss"]) and len(r["psnr_frames"]) == 7 and len(r["ssim_frames"]) == 7
        assert r["input_mean"] > 0
    model, state = load_checkpoint(run / "last.pt")
    assert state["step"] == 4 and state["arch"] == "fast"
    assert best.is_file() and not list(run.glob("*.tmp"))
    # The head was trained away from its zero init: the model is not the identity any more.
    assert model.head.weight.abs().sum() > 0

    # Resume continues from step 4 to 6 and appends to the log.
    train(TrainConfig(**{**cfg.__dict__, "steps": 6, "resume": True}))
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4, 6]

    summary = export_checkpoint(best, tmp_path / "model.onnx")
    assert summary["parity_max_abs_diff"] <= 1e-4 and summary["arch"] == "fast"


def test_lr_schedule_warmup_then_cosine():
    cfg = TrainConfig(images="", val_images="", steps=1000, warmup=100, lr=1e-3, lr_min=1e-6)
    assert lr_at(0, cfg) == pytest.approx(1e-5)
    assert lr_at(99, cfg) == pytest.approx(1e-3)
    assert lr_at(100, cfg) == pytest.approx(1e-3)
    assert lr_at(550, cfg) == pytest.approx((1e-3 + 1e-6) / 2)
    assert lr_at(1000, cfg) == pytest.approx(1e-6)
    values = [lr_at(s, cfg) for s in range(100, 1001, 50)]
    assert values == sorted(values, reverse=True)
