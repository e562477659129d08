"""Tests of the trainer: stages, checkpoints, exact resume, config recipes, the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from typer.testing import CliRunner  # noqa: E402

from blurvid.cli import app  # noqa: E402
from blurvid.ensemble import dihedral  # noqa: E402
from blurvid.errors import InputError, ModelError, OutputExistsError  # noqa: E402
from blurvid.lab.export import export_checkpoint, load_checkpoint  # noqa: E402
from blurvid.lab.train.config import load_config  # noqa: E402
from blurvid.lab.train.trainer import (Trainer, lr_at, reuse_transforms,  # noqa: E402
                                       synth_configs, train)
from blurvid.runtime import GeneratorSession, bundled_model_path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _photos(folder, n, seed):
    folder.mkdir()
    rng = np.random.default_rng(seed)
    for i in range(n):
        img = cv2.GaussianBlur(rng.integers(0, 256, (96, 128, 3), dtype=np.uint8), (5, 5), 2)
        cv2.imwrite(str(folder / f"p{i}.png"), img)
    return folder


@pytest.fixture
def tiny_cfg(tmp_path):
    def make(out="run", steps=4, **sets):
        overrides = [f"{k}={v}" for k, v in {
            "model.kwargs": "{width: 4, blocks: [1, 1, 1]}", "data.crop": 32, "data.batch": 2,
            "data.val_samples": 2, "data.val_crop": 32, "val_every": 2, "optim.warmup": 2,
            "threads": 1, "loss.disc_width": 0.0625, "loss.cbl_max_features": 64, **sets}.items()]
        return load_config(None, overrides, out=str(tmp_path / out), steps=steps,
                           data__images=str(tmp_path / "train"),
                           data__val_images=str(tmp_path / "val"))
    _photos(tmp_path / "train", 2, 0)
    _photos(tmp_path / "val", 1, 1)
    return make


def _log(run):
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


def test_two_stages_checkpoint_export(tiny_cfg, tmp_path):
    cfg = tiny_cfg(steps=4, content_only_steps=2, **{"loss.alpha": 0.001, "loss.beta": 0.1})
    best = train(cfg)
    run = tmp_path / "run"
    records = _log(run)
    assert [r["step"] for r in records] == [2, 4] and [r["stage"] for r in records] == [1, 2]
    assert "adversarial" in records[1] and "cbl" in records[1] and "disc" in records[1]
    assert "cbl" not in records[0]
    for r in records:
        assert np.isfinite(r["loss"]) and len(r["psnr_frames"]) == 7 and r["input_mean"] > 0
    assert (run / "log.csv").read_text().startswith("step,stage,loss")
    assert (run / "val.png").is_file() and (run / "best.onnx").is_file()
    assert (run / "best.onnx.sha256").is_file()
    model, state = load_checkpoint(run / "last.pt")
    assert state["step"] == 4 and state["disc"] is not None and best.is_file()
    assert not list(run.glob("*.tmp"))


def test_resume_continues_exactly(tiny_cfg, tmp_path):
    straight = Trainer(tiny_cfg("a", steps=6))
    straight.run()
    Trainer(tiny_cfg("b", steps=6)).run(stop_at=4)  # interrupted after the step-4 checkpoint
    resumed = Trainer(tiny_cfg("b", steps=6))
    resumed.run(resume=True)
    assert [r["step"] for r in _log(tmp_path / "b")] == [2, 4, 6]
    for (name, a), b in zip(straight.model.state_dict().items(),
                            resumed.model.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), name  # same data stream, same weights


def test_worker_processes_train_the_same_weights(tiny_cfg, tmp_path):
    inline = Trainer(tiny_cfg("a", steps=4))
    inline.run()
    pooled = Trainer(tiny_cfg("b", steps=4, **{"data.workers": 2}))
    pooled.run(stop_at=2)
    resumed = Trainer(tiny_cfg("b", steps=4, **{"data.workers": 2}))
    resumed.run(resume=True)  # workers restart at the saved data position
    assert load_checkpoint(tmp_path / "b" / "last.pt")[1]["data_position"] == [4]
    for (name, a), b in zip(inline.net.state_dict().items(), resumed.net.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), name


def test_init_from_checkpoint_and_training_only_synth_overrides(tiny_cfg, tmp_path):
    first = Trainer(tiny_cfg("a", steps=2))
    first.run()
    cfg = tiny_cfg("b", steps=2, **{"model.init": str(tmp_path / "a" / "last.pt"),
                                    "data.synth_overrides": "{p_sharp: 0.5}"})
    tuned = Trainer(cfg)
    assert tuned.step == 0  # a fine-tune starts its own schedule
    for a, b in zip(first.net.state_dict().values(), tuned.net.state_dict().values()):
        assert torch.equal(a, b)
    train_synth, val_synth = synth_configs(cfg)
    assert train_synth.p_sharp == 0.5 and val_synth.p_sharp == 0.05
    with pytest.raises(InputError, match="unknown key.*p_sharpp"):
        synth_configs(tiny_cfg("c", **{"data.synth_overrides": "{p_sharpp: 0.5}"}))
    # a validation set of other settings, for a controlled experiment
    both = tiny_cfg("e", **{"data.synth_overrides": "{max_acceleration: 0.0}",
                            "data.val_synth_overrides": "{max_acceleration: 0.0, p_sharp: 0}"})
    train_synth, val_synth = synth_configs(both)
    assert train_synth.max_acceleration == 0 and val_synth.max_acceleration == 0
    assert val_synth.p_sharp == 0 and train_synth.p_sharp == 0.05
    assert val_synth.size == both.data.val_crop
    with pytest.raises(InputError, match="val_synth_overrides: unknown key.*size"):
        synth_configs(tiny_cfg("f", **{"data.val_synth_overrides": "{size: 64}"}))
    with pytest.raises(InputError, match="model.init.*generator"):
        Trainer(tiny_cfg("d", **{"model.init": str(tmp_path / "a" / "last.pt"),
                                 "model.kwargs": "{width: 8, blocks: [1, 1, 1]}"}))


def test_init_from_an_onnx_model_starts_from_its_weights(tiny_cfg, tmp_path):
    """model.init takes an ONNX model (the bundled one, or one `blurvid export` wrote): its
    weights are read back, so a fine-tune needs no PyTorch copy of a shipped model."""
    first = Trainer(tiny_cfg("a", steps=2))
    first.run()
    onnx_path = tmp_path / "a.onnx"
    export_checkpoint(tmp_path / "a" / "last.pt", onnx_path)
    tuned = Trainer(tiny_cfg("b", steps=2, **{"model.init": str(onnx_path)}))
    assert tuned.step == 0
    for (name, a), b in zip(first.net.state_dict().items(), tuned.net.state_dict().values()):
        assert torch.equal(a, b), name
    tuned.run()  # and trains on from there
    assert load_checkpoint(tmp_path / "b" / "last.pt")[1]["step"] == 2
    with pytest.raises(InputError, match="model.init.*a fast .*width.*4.*generator, the config "
                                         "asks for fast.*width.*8"):
        Trainer(tiny_cfg("c", **{"model.init": str(onnx_path),
                                 "model.kwargs": "{width: 8, blocks: [1, 1, 1]}"}))
    with pytest.raises(ModelError, match="does not exist"):
        Trainer(tiny_cfg("d", **{"model.init": str(tmp_path / "missing.onnx")}))


def test_recipes_load_and_validate(tmp_path):
    fast = load_config(ROOT / "train" / "fast.yaml")
    paper = load_config(ROOT / "train" / "paper.yaml")
    assert fast.model.arch == "fast" and fast.loss.alpha == 0 and fast.loss.beta == 0
    assert paper.model.arch == "paper" and paper.data.batch == 4 and paper.data.crop == 128
    assert (paper.loss.alpha, paper.loss.beta, paper.optim.lr, paper.optim.lr_min) == \
        (0.001, 0.1, 1e-4, 1e-5)
    over = load_config(ROOT / "train" / "paper.yaml", ["loss.beta=0", "model.kwargs={num_blocks: 2}"])
    assert over.loss.beta == 0 and over.model.kwargs == {"num_blocks": 2}
    bad = tmp_path / "bad.yaml"
    bad.write_text("loss:\n  gamma: 3\n")
    with pytest.raises(InputError, match="unknown key"):
        load_config(bad)
    with pytest.raises(InputError, match="does not exist"):
        load_config(tmp_path / "none.yaml")
    with pytest.raises(InputError, match="section.key=value"):
        load_config(None, ["nonsense"])


@pytest.mark.parametrize("recipe", sorted([*(ROOT / "train").glob("*.yaml"), *(ROOT / "experiments" / "recipes").glob("*.yaml")]), ids=lambda p: p.name)
def test_every_recipe_builds_its_synthesizer(recipe):
    """Every recipe under train/ loads, its synthesizer overrides are real settings, and a
    fine-tune from a file of the repository points at the file that is there."""
    cfg = load_config(recipe)
    train_synth, val_synth = synth_configs(cfg)
    assert train_synth.size == cfg.data.crop and val_synth.size == cfg.data.val_crop
    if cfg.model.init and not cfg.model.init.startswith(("runs/", "/tmp/")):
        assert (ROOT / cfg.model.init).is_file(), cfg.model.init


def test_lr_schedule_warmup_then_cosine(tiny_cfg):
    cfg = load_config(None, ["optim.warmup=100", "optim.lr=1e-3", "optim.lr_min=1e-6"],
                      steps=1000)
    assert lr_at(0, cfg) == pytest.approx(1e-5)
    assert lr_at(99, cfg) == pytest.approx(1e-3)
    assert lr_at(550, cfg) == pytest.approx((1e-3 + 1e-6) / 2)
    assert lr_at(1000, cfg) == pytest.approx(1e-6)
    values = [lr_at(s, cfg) for s in range(100, 1001, 50)]
    assert values == sorted(values, reverse=True)


def test_cli_train_paper_recipe_and_resume(tmp_path):
    _photos(tmp_path / "photos", 2, 3)
    args = ["train", "--config", str(ROOT / "train" / "paper.yaml"), "--data", "synthetic",
            "--images", str(tmp_path / "photos"), "--val-images", str(tmp_path / "photos"),
            "--output", str(tmp_path / "run"), "--threads", "1",
            "--set", "model.kwargs={num_blocks: 1}", "--set", "data.crop=32",
            "--set", "data.val_samples=2", "--set", "data.val_crop=32", "--set", "val_every=2",
            "--set", "content_only_steps=1", "--set", "loss.disc_width=0.0625",
            "--set", "loss.cbl_max_features=64"]
    runner = CliRunner()
    first = runner.invoke(app, [*args, "--max-steps", "2"])
    assert first.exit_code == 0, first.stderr
    assert (tmp_path / "run" / "best.onnx").is_file()
    again = runner.invoke(app, [*args, "--max-steps", "5", "--resume", "--stop-at", "4"])
    assert again.exit_code == 0, again.stderr
    assert [r["step"] for r in _log(tmp_path / "run")] == [2, 4]
    assert load_checkpoint(tmp_path / "run" / "last.pt")[1]["config"]["steps"] == 5
    assert "adversarial" in _log(tmp_path / "run")[-1]  # stage 2 with the paper's losses
    missing = runner.invoke(app, ["train", "--images", str(tmp_path / "nope"),
                                  "--val-images", str(tmp_path / "photos"),
                                  "--output", str(tmp_path / "fresh")])
    assert missing.exit_code == 1 and "not a folder" in missing.stderr


def test_stop_at_saves_an_odd_step_and_resumes_on_the_same_schedule(tiny_cfg, tmp_path):
    straight = Trainer(tiny_cfg("a", steps=6))
    straight.run()
    train(tiny_cfg("b", steps=6), export=False, stop_at=3)  # 3 is not a validation step
    assert [r["step"] for r in _log(tmp_path / "b")] == [2, 3]
    assert load_checkpoint(tmp_path / "b" / "last.pt")[1]["step"] == 3
    resumed = Trainer(tiny_cfg("b", steps=6))
    resumed.run(resume=True)
    assert [r["step"] for r in _log(tmp_path / "b")] == [2, 3, 4, 6]
    for (name, a), b in zip(straight.net.state_dict().items(), resumed.net.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), name


def test_bf16_autocast_on_cpu(tiny_cfg, tmp_path):
    cfg = tiny_cfg("bf16", steps=2, amp="bf16")
    Trainer(cfg).run()
    assert np.isfinite(_log(tmp_path / "bf16")[-1]["loss"])
    with pytest.raises(InputError, match="fp16 needs"):
        Trainer(tiny_cfg("fp16", steps=2, amp="fp16"))


def test_bf16_gan_step_runs_the_discriminator_in_bf16(tiny_cfg, tmp_path):
    trainer = Trainer(tiny_cfg("gan", steps=2, amp="bf16", **{"loss.alpha": 0.001}))
    first_conv = next(m for m in trainer.disc_net.modules() if isinstance(m, torch.nn.Conv2d))
    dtypes = []
    first_conv.register_forward_hook(lambda _m, _i, out: dtypes.append(out.dtype))
    before = [p.clone() for p in trainer.disc_net.parameters()]
    trainer.run()
    assert dtypes and set(dtypes) == {torch.bfloat16}  # the G term and the D step
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.disc_net.parameters()))
    last = _log(tmp_path / "gan")[-1]
    assert np.isfinite(last["disc"]) and np.isfinite(last["adversarial"])


@pytest.mark.slow
def test_sigkill_then_resume(tmp_path):
    """A real kill: SIGKILL the training process after its step-4 checkpoint, resume, go on."""
    photos = _photos(tmp_path / "photos", 2, 5)
    out = tmp_path / "run"
    base = [sys.executable, "-m", "blurvid.cli", "train", "--images", str(photos),
            "--val-images", str(photos), "--output", str(out), "--threads", "1", "--no-export",
            "--set", "model.kwargs={width: 4, blocks: [1, 1, 1]}", "--set", "data.crop=32",
            "--set", "data.batch=2", "--set", "data.val_samples=2", "--set", "data.val_crop=32",
            "--set", "val_every=2"]
    proc = subprocess.Popen([*base, "--max-steps", "100000"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    log = out / "log.jsonl"
    deadline = time.time() + 120
    try:
        while time.time() < deadline:
            if log.exists() and len(log.read_text().splitlines()) >= 2:
                break
            time.sleep(0.05)
        else:
            pytest.fail("training wrote no checkpoint in time")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    killed_at = load_checkpoint(out / "last.pt")[1]["step"]  # never a corrupt file
    assert killed_at >= 2  # the step-2 checkpoint is complete before the step-4 log row
    resumed = subprocess.run([*base, "--max-steps", str(killed_at + 4), "--resume"],
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    steps = [json.loads(line)["step"] for line in log.read_text().splitlines()]
    assert steps[-1] == killed_at + 4 and steps == sorted(steps)
    # It went on from the checkpoint, and the log has each step once.
    assert steps == sorted(set(steps))
    csv_steps = [int(line.split(",")[0]) for line in
                 (out / "log.csv").read_text().splitlines()[1:]]
    assert csv_steps == steps


def test_cli_without_val_images_holds_photos_out(tmp_path):
    _photos(tmp_path / "photos", 5, 7)
    result = CliRunner().invoke(app, [
        "train", "--images", str(tmp_path / "photos"), "--output", str(tmp_path / "run"),
        "--max-steps", "2", "--threads", "1", "--no-export",
        "--set", "model.kwargs={width: 4, blocks: [1, 1, 1]}", "--set", "data.crop=32",
        "--set", "data.batch=2", "--set", "data.val_samples=2", "--set", "data.val_crop=32"])
    assert result.exit_code == 0, result.stderr
    assert "every 5th photo" in result.stderr
    assert _log(tmp_path / "run")[-1]["samples"] == 2


@pytest.mark.parametrize("init", ["blurvid/models/blurvid-fast.onnx", "fast"])
def test_the_bundled_model_starts_a_fine_tune(tiny_cfg, init, monkeypatch):
    """The recipes that fine-tune the shipped model name its ONNX file (or bundled name): the
    trainer's network then computes what the bundled model computes."""
    try:
        bundled_model_path("fast")
    except ModelError:
        pytest.skip("the bundled model is not installed")
    monkeypatch.chdir(ROOT)  # recipes name it relative to the repository
    trainer = Trainer(tiny_cfg("ft", **{"model.kwargs": "{}", "model.init": init}))
    y = np.random.default_rng(0).random((40, 56), dtype=np.float32)
    with torch.no_grad():
        ours = trainer.net.eval()(torch.from_numpy(y)[None, None]).numpy()[0]
    bundled = GeneratorSession(None, device="cpu").run(y)
    np.testing.assert_allclose(ours, bundled, atol=1e-4)


def test_a_folder_holding_a_run_is_refused_unless_resumed_or_forced(tiny_cfg, tmp_path):
    train(tiny_cfg("r", steps=2), export=False)
    before = (tmp_path / "r" / "last.pt").read_bytes()
    with pytest.raises(OutputExistsError, match="--resume to continue it or --force"):
        Trainer(tiny_cfg("r", steps=4)).run()
    assert (tmp_path / "r" / "last.pt").read_bytes() == before  # nothing touched
    Trainer(tiny_cfg("r", steps=4)).run(force=True)
    assert [r["step"] for r in _log(tmp_path / "r")] == [2, 4]  # the old rows are gone
    assert load_checkpoint(tmp_path / "r" / "last.pt")[1]["step"] == 4


def test_cli_train_refuses_a_run_folder_in_one_line(tiny_cfg, tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "log.jsonl").write_text("{}\n")
    result = CliRunner().invoke(app, ["train", "--images", str(tmp_path / "train"),
                                      "--val-images", str(tmp_path / "val"),
                                      "--output", str(tmp_path / "run"), "--max-steps", "1"])
    assert result.exit_code == 1
    assert result.stderr.strip().count("\n") == 0 and "already holds a run" in result.stderr
    assert (tmp_path / "run" / "log.jsonl").read_text() == "{}\n"


def test_reuse_transforms_are_distinct_and_reproducible():
    for reuse in range(1, 9):
        t = reuse_transforms(3, 17, reuse)
        assert t[0] == 0 and len(t) == reuse and len(set(t)) == reuse
        assert all(0 <= k < 8 for k in t) and t == reuse_transforms(3, 17, reuse)
    assert reuse_transforms(3, 17, 8) != reuse_transforms(3, 18, 8)


def test_reuse_trains_each_rendered_batch_several_times(tiny_cfg, tmp_path):
    trainer = Trainer(tiny_cfg("reuse", steps=4, **{"data.reuse": 2}))
    seen = []
    original = trainer.optimize_parameters
    trainer.optimize_parameters = lambda b, t: seen.append((b.clone(), t.clone())) or original(b, t)
    trainer.run()
    assert len(seen) == 4 and trainer.step == 4
    k = reuse_transforms(trainer.cfg.seed, 0, 2)[1]
    for a, b in zip(seen[0], seen[1]):  # step 2 is step 1's batch, turned by transform k
        np.testing.assert_array_equal(dihedral(a.numpy(), k), b.numpy())
    assert not torch.equal(seen[1][0], seen[2][0])  # step 3 is a new batch
    assert load_checkpoint(tmp_path / "reuse" / "last.pt")[1]["data_position"] == [2]
    with pytest.raises(InputError, match="multiple of data.reuse"):
        Trainer(tiny_cfg("bad", steps=4, val_every=3, **{"data.reuse": 2}))
    with pytest.raises(InputError, match="data.reuse must be 1..8"):
        Trainer(tiny_cfg("bad", steps=4, **{"data.reuse": 9}))


def test_time_budget_ends_the_cosine_schedule():
    cfg = load_config(None, ["optim.warmup=10", "optim.lr=1e-3", "optim.lr_min=1e-6"],
                      steps=100000, max_minutes=10.0)
    assert lr_at(50, cfg, minutes=0.0) == pytest.approx(lr_at(50, load_config(None, [
        "optim.warmup=10", "optim.lr=1e-3", "optim.lr_min=1e-6"], steps=100000)))
    assert lr_at(50, cfg, minutes=5.0) == pytest.approx((1e-3 + 1e-6) / 2)  # half the time
    assert lr_at(50, cfg, minutes=10.0) == pytest.approx(1e-6)
    assert lr_at(50, cfg, minutes=20.0) == pytest.approx(1e-6)


def test_train_without_photos_fails_first_and_leaves_no_folder(tmp_path):
    """`blurvid train -o runs/x` without --images: one error line before any note, no folder."""
    result = CliRunner().invoke(app, ["train", "--max-steps", "5", "-o", str(tmp_path / "x")])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        line for line in result.stderr.strip().splitlines() if line.startswith("blurvid: error:")]
    assert "--images" in result.stderr and "every 5th photo" not in result.stderr
    assert not (tmp_path / "x").exists()


def test_a_run_whose_data_fails_leaves_no_empty_folder(tmp_path, tiny_cfg):
    cfg = tiny_cfg("never")
    (Path(cfg.data.images) / "broken.jpg").write_bytes(b"not a photo")
    out = Path(cfg.out)
    try:
        Trainer(cfg).run()
    except Exception:
        pass
    else:
        pytest.skip("the broken photo was not read before training started")
    assert not out.exists()
