"""Tests of the dataset reader (blurvid layout) and `blurvid bench` (quality and speed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("onnxruntime")

from blurvid.lab.bench import (blur_length_table, bench_quality, by_blur_length,  # noqa: E402
                           parse_size, read_blur_lengths)
from blurvid.cli import app  # noqa: E402
from blurvid.color import rgb_to_y, to_linear  # noqa: E402
from blurvid.lab.data.layouts import count_samples, detect_layout, read_dataset  # noqa: E402
from blurvid.lab.data.synth import SynthConfig, render  # noqa: E402
from blurvid.errors import InputError  # noqa: E402
from blurvid.io import write_image  # noqa: E402
from blurvid.metrics import frame_psnrs, ssim  # noqa: E402

TINY = Path(__file__).parent / "data" / "tiny-fast.onnx"


def _dataset(root: Path, n=2, w=40, h=32):
    rng = np.random.default_rng(0)
    y, x = np.mgrid[:120, :160].astype(np.float32)
    photo = to_linear(np.stack([x / 160, y / 120, 0.5 + 0.4 * np.sin(x / 5 + y / 7)], -1))
    for i in range(n):
        blur, frames = render(photo, rng, SynthConfig(size=(w, h), p_sharp=0.0,
                                                      noise_shot=(0, 0), noise_read=(0, 0)))
        write_image(root / "blur" / f"s{i}.png", blur)
        for k, f in enumerate(frames, 1):
            write_image(root / "gt" / f"s{i}_{k:02d}.png", f)
    return root


def test_reader_yields_samples_in_order(tmp_path):
    root = _dataset(tmp_path / "ds", n=3)
    assert detect_layout(root) == "blurvid" and count_samples(root) == 3
    samples = list(read_dataset(root))
    assert [s.name for s in samples] == ["s0", "s1", "s2"]
    assert samples[0].blur.shape == (32, 40, 3) and samples[0].frames.shape == (7, 32, 40, 3)
    assert [s.name for s in read_dataset(root, max_samples=2)] == ["s0", "s1"]


def test_reader_errors(tmp_path):
    with pytest.raises(InputError, match="no known dataset layout"):
        detect_layout(tmp_path)
    with pytest.raises(InputError, match="not a folder"):
        detect_layout(tmp_path / "missing")
    root = _dataset(tmp_path / "ds", n=1)
    (root / "gt" / "s0_05.png").unlink()
    with pytest.raises(InputError, match="s0_05"):
        list(read_dataset(root))
    with pytest.raises(InputError, match="unknown layout"):
        list(read_dataset(root, layout="gopro-ish"))


def test_bench_quality_matches_hand_computed_scores(tmp_path):
    root = _dataset(tmp_path / "ds", n=2)
    samples = list(read_dataset(root))
    lookup = {id(s.blur): s.frames for s in samples}
    # An "extractor" returning the ground truth reversed: perfect, and the reversed order wins.
    result = bench_quality(lambda blur: lookup[id(blur)][::-1], samples)
    assert result["samples"] == 2 and result["order_wins"] == {"forward": 0, "reversed": 2}
    assert result["y"]["psnr_mean"] == float("inf") and result["rgb"]["ssim_mean"] == 1.0
    # The INPUT row, by hand.
    s = samples[0]
    by_hand = frame_psnrs(rgb_to_y(s.blur), rgb_to_y(s.frames))[0]
    other = frame_psnrs(rgb_to_y(samples[1].blur), rgb_to_y(samples[1].frames))[0]
    np.testing.assert_allclose(result["y"]["input_frames"], (np.array(by_hand) + other) / 2,
                               atol=1e-3)
    ssim_rgb = np.mean([ssim(s.blur[..., c], s.frames[3][..., c]) for c in range(3)])
    ssim_rgb1 = np.mean([ssim(samples[1].blur[..., c], samples[1].frames[3][..., c])
                         for c in range(3)])
    assert result["rgb"]["input_ssim_middle"] == pytest.approx((ssim_rgb + ssim_rgb1) / 2,
                                                               abs=1e-4)
    assert result["reblur_psnr"] > 40  # noise-free: the true frames average back to the blur


def test_bench_cli_json_and_table(tmp_path):
    root = _dataset(tmp_path / "ds", n=2)
    runner = CliRunner()
    result = runner.invoke(app, ["bench", "--data", str(root), "--model", str(TINY),
                                 "--threads", "1", "--json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["samples"] == 2 and len(data["y"]["psnr_frames"]) == 7
    assert len(data["rgb"]["ssim_frames"]) == 7 and "input_middle" in data["y"]
    table = runner.invoke(app, ["bench", "--data", str(root), "--model", str(TINY),
                                "--max-samples", "1"])
    assert table.exit_code == 0
    assert "INPUT Y PSNR" in table.stdout and "model RGB SSIM" in table.stdout
    assert "1 samples" in table.stdout
    bad = runner.invoke(app, ["bench", "--data", str(tmp_path)])
    assert bad.exit_code == 1 and "no known dataset layout" in bad.stderr
    md = runner.invoke(app, ["bench", "--data", str(root), "--model", str(TINY), "--markdown"])
    assert md.exit_code == 0, md.stderr
    lines = md.stdout.splitlines()
    assert lines[0] == "| Y | 1 | 2 | 3 | 4 (middle) | 5 | 6 | 7 | mean |"
    assert lines[1] == "|---|" + "---:|" * 8 and lines[2].startswith("| model PSNR |")
    assert any(line.startswith("| RGB |") for line in lines) and "reblur PSNR" in md.stdout
    gains = next(line for line in lines if line.startswith("| gain (dB) |"))
    assert len(gains.split("|")) == 11
    nothing = runner.invoke(app, ["bench"])
    assert nothing.exit_code == 1 and "--data" in nothing.stderr


def test_by_blur_length_reference_values():
    rows = [{"name": n, "psnr_mean": pm, "input_mean": im, "psnr_middle": pd, "input_middle": idd}
            for n, pm, im, pd, idd in [("a", 30, 27, 31, 29), ("b", 28, 27, 30, 29),
                                       ("c", 22, 21, 24, 24), ("d", 20, 20, 20, 20)]]
    lengths = {"a": 3.0, "b": 4.99, "c": 35.0, "z": 12.0}  # d has no length, z no row
    bins = by_blur_length(rows, lengths)
    assert [b["blur_px"] for b in bins] == [[0.0, 5.0], [30.0, None]]  # empty bins left out
    first, last = bins
    assert first["samples"] == 2 and first["psnr_mean"] == 29 and first["input_mean"] == 27
    assert first["gain_mean"] == 2 and first["gain_middle"] == 1.5
    assert last["samples"] == 1 and last["gain_mean"] == 1 and last["gain_middle"] == 0
    assert by_blur_length(rows, {"a": 5.0})[0]["blur_px"] == [5.0, 10.0]  # [low, high)
    table = blur_length_table(bins).splitlines()
    assert table[2] == "| 0-5 px | 2 | 29.00 | 27.00 | +2.00 | +1.50 |"
    assert table[3].startswith("| 30+ px | 1 |")
    with pytest.raises(ValueError, match="increasing"):
        by_blur_length(rows, lengths, edges=(10.0, 5.0))


def test_read_blur_lengths(tmp_path):
    assert read_blur_lengths(tmp_path) is None  # real data: no synth.json
    (tmp_path / "synth.json").write_text(json.dumps(
        {"per_sample": [{"name": "s0", "blur_px": 3.5}, {"name": "s1", "blur_px": 21}]}))
    assert read_blur_lengths(tmp_path) == {"s0": 3.5, "s1": 21.0}
    (tmp_path / "synth.json").write_text('{"per_sample": [{"name": "s0"}]}')
    with pytest.raises(InputError, match="not a readable synth.json"):
        read_blur_lengths(tmp_path)
    (tmp_path / "synth.json").write_text("{nonsense")
    with pytest.raises(InputError, match="not a readable synth.json"):
        read_blur_lengths(tmp_path)


def test_bench_cli_reports_by_blur_length_on_synth_folders(tmp_path):
    root = _dataset(tmp_path / "ds", n=2)
    runner = CliRunner()
    args = ["bench", "--data", str(root), "--model", str(TINY), "--threads", "1"]
    plain = json.loads(runner.invoke(app, args + ["--json"]).stdout)
    assert "by_blur_px" not in plain  # no synth.json: nothing to group by
    per_sample = plain["y_per_sample"]
    assert [r["name"] for r in per_sample] == ["s0", "s1"]
    assert np.mean([r["input_mean"] for r in per_sample]) == \
        pytest.approx(plain["y"]["input_mean"], abs=1e-3)
    (root / "synth.json").write_text(json.dumps(
        {"per_sample": [{"name": "s0", "blur_px": 3.0}, {"name": "s1", "blur_px": 25.0}]}))
    data = json.loads(runner.invoke(app, args + ["--json"]).stdout)
    assert [(b["blur_px"], b["samples"]) for b in data["by_blur_px"]] == \
        [([0.0, 5.0], 1), ([20.0, 30.0], 1)]
    assert data["by_blur_px"][0]["input_mean"] == pytest.approx(per_sample[0]["input_mean"])
    md = runner.invoke(app, args + ["--markdown"]).stdout
    assert "| blur length | samples |" in md and "| 20-30 px | 1 |" in md
    table = runner.invoke(app, args)
    assert table.exit_code == 0 and "by blur length" in table.stdout


@pytest.mark.slow
def test_bench_speed_cli(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["bench", "--speed", "--size", "48x32", "--repeats", "1",
                                 "--model", str(TINY), "--json"])
    if "bundled model" in result.stderr:
        pytest.skip("no bundled model in this checkout")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["size"] == "48x32" and data["rough_peak_gflops"] > 0
    engines = {(Path(r["model"]).name, r["engine"]) for r in data["rows"]}
    assert ("tiny-fast.onnx", "onnxruntime") in engines
    for r in data["rows"]:
        assert r["median_s"] > 0 and r["peak_rss_mb"] > 10 and r["megapixels_per_s"] > 0


def test_parse_size():
    assert parse_size("1280x720") == (1280, 720)
    for bad in ("1280", "ax3", "0x5"):
        with pytest.raises(InputError):
            parse_size(bad)
