"""Tests of the ``blurvid`` command line (Typer's CliRunner; a subprocess where exit codes and
stream separation of the real console script matter). Uses tests/data/tiny-fast.onnx."""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("onnxruntime")

from blurvid.cli import app  # noqa: E402
from blurvid.io import read_image  # noqa: E402
from tests.console import blurvid, interrupted, temporary_files  # noqa: E402

TINY = Path(__file__).parent / "data" / "tiny-fast.onnx"
RNG = np.random.default_rng(3)
FRAME_NAMES = [f"_{i:02d}.png" for i in range(1, 8)]


def run(*args, env=None):
    return CliRunner().invoke(app, [str(a) for a in args], env=env)


def extract(*args):
    return run("extract", "--model", TINY, "--threads", 1, *args)


def _photo(path: Path, h=40, w=56, depth=8, channels=3) -> Path:
    top = 255 if depth == 8 else 65535
    dtype = np.uint8 if depth == 8 else np.uint16
    img = RNG.integers(0, top + 1, (h, w, channels) if channels > 1 else (h, w), dtype=dtype)
    ok, buf = cv2.imencode(path.suffix, img)
    assert ok
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.tobytes())
    return path


def _frames(folder: Path, stem: str) -> list[Path]:
    return [folder / f"{stem}{n}" for n in FRAME_NAMES]


def _one_error_line(result, *needles):
    lines = result.stderr.strip().splitlines()
    errors = [ln for ln in lines if ln.startswith("blurvid: error:")]
    assert errors, result.stderr
    for needle in needles:
        assert any(needle in ln for ln in errors), (needle, result.stderr)
    assert "Traceback" not in result.stderr
    return errors


# ------------------------------------------------------------------------------ success


def test_files_and_folders_give_seven_frames_each(tmp_path):
    a = _photo(tmp_path / "in" / "a.png")
    b = _photo(tmp_path / "in" / "b.jpg", h=33, w=21)
    folder = tmp_path / "more"
    _photo(folder / "c.png", h=17, w=19)
    _photo(folder / "d.bmp", h=24, w=24)
    (folder / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    result = extract(a, b, folder, "-o", out)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""  # results go to stdout only with --json
    expected = {p.name for stem in "abcd" for p in _frames(out, stem)}
    assert {p.name for p in out.iterdir()} == expected
    assert "skipped" in result.stderr and "notes.txt" in result.stderr
    for stem, (h, w) in {"a": (40, 56), "b": (33, 21), "c": (17, 19), "d": (24, 24)}.items():
        for path in _frames(out, stem):
            assert read_image(path).rgb.shape == (h, w, 3)


def test_frames_are_the_library_output_in_temporal_order(tmp_path):
    import blurvid

    src = _photo(tmp_path / "p.png", h=23, w=31)
    out = tmp_path / "out"
    assert extract(src, "-o", out).exit_code == 0
    expected = blurvid.extract(src, model=TINY, device="cpu", threads=1)
    for frame, path in zip(expected, _frames(out, "p")):
        written = read_image(path).rgb
        assert np.abs(written - frame).max() <= 0.5 / 255 + 1e-6
    # The tiny model's frames differ from each other: the order on disk is meaningful.
    assert np.abs(expected[0] - expected[6]).max() > 1e-3


def test_second_run_refuses_to_overwrite_unless_forced(tmp_path):
    src = _photo(tmp_path / "a.png")
    out = tmp_path / "out"
    assert extract(src, "-o", out).exit_code == 0
    first = _frames(out, "a")[0]
    first.write_bytes(b"the user's own file")
    result = extract(src, "-o", out)
    assert result.exit_code == 1
    _one_error_line(result, str(first), "--force")
    assert first.read_bytes() == b"the user's own file"
    result = extract(src, "-o", out, "--force")
    assert result.exit_code == 0, result.stderr
    assert read_image(first).rgb.shape == (40, 56, 3)
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_existing_output_checked_before_any_work(tmp_path):
    a, b = _photo(tmp_path / "a.png"), _photo(tmp_path / "b.png")
    out = tmp_path / "out"
    out.mkdir()
    clash = out / "b_07.png"
    clash.write_bytes(b"keep")
    result = extract(a, b, "-o", out)
    assert result.exit_code == 1
    _one_error_line(result, str(clash))
    assert sorted(p.name for p in out.iterdir()) == ["b_07.png"]  # a's frames not written


def test_json_summary(tmp_path):
    src = _photo(tmp_path / "a.png")
    out = tmp_path / "out"
    result = extract(src, "-o", out, "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["device"] == "cpu" and summary["model"] == str(TINY)
    assert summary["failed"] == []
    (entry,) = summary["outputs"]
    assert entry["input"] == str(src)
    assert entry["frames"] == [str(p) for p in _frames(out, "a")]
    assert (entry["width"], entry["height"]) == (56, 40)
    assert isinstance(entry["reblur_psnr"], float) and entry["reblur_psnr"] > 10

    assert (summary["projection"], summary["ensemble"]) == ("exact", 1)


def test_ensemble_option(tmp_path):
    src = _photo(tmp_path / "a.png")
    plain = extract(src, "-o", tmp_path / "plain", "--projection", "none")
    assert plain.exit_code == 0, plain.stderr
    result = extract(src, "-o", tmp_path / "e", "--projection", "none", "--ensemble", "4", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["ensemble"] == 4
    first = [cv2.imread(str(p)) for p in _frames(tmp_path / "plain", "a")]
    second = [cv2.imread(str(p)) for p in _frames(tmp_path / "e", "a")]
    assert any((a != b).any() for a, b in zip(first, second))
    bad = extract(src, "-o", tmp_path / "bad", "--ensemble", "3")
    assert bad.exit_code == 2  # a usage error (the one line: test_usage_errors_...)
    assert not (tmp_path / "bad").exists()


def test_sheet_and_jpg_format(tmp_path):
    src = _photo(tmp_path / "a.png", h=20, w=30)
    out = tmp_path / "out"
    result = extract(src, "-o", out, "--sheet", "--format", "jpg")
    assert result.exit_code == 0, result.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([f"a_{i:02d}.jpg" for i in range(1, 8)] + ["a_sheet.jpg"])
    sheet = read_image(out / "a_sheet.jpg").rgb
    assert sheet.shape == (20, 8 * 30 + 7 * 4, 3)  # input + 7 frames, 4 px gaps


def test_16bit_input_gives_16bit_frames(tmp_path):
    src = _photo(tmp_path / "deep.png", depth=16)
    out = tmp_path / "out"
    assert extract(src, "-o", out).exit_code == 0
    raw = cv2.imread(str(_frames(out, "deep")[0]), cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint16


def test_rgba_and_grey_inputs_with_notes(tmp_path):
    rgba = _photo(tmp_path / "rgba.png", channels=4)
    grey = _photo(tmp_path / "grey.png", channels=1)
    out = tmp_path / "out"
    result = extract(rgba, grey, "-o", out)
    assert result.exit_code == 0, result.stderr
    assert "alpha channel dropped" in result.stderr
    assert "greyscale" in result.stderr
    frame = read_image(_frames(out, "grey")[3]).rgb
    assert np.allclose(frame[..., 0], frame[..., 1], atol=2 / 255)  # grey stays grey


def test_device_auto_is_quiet_on_the_cpu(tmp_path):
    """The note names the device only when --device auto picked a GPU (news worth a line)."""
    result = run("extract", _photo(tmp_path / "a.png"), "-o", tmp_path / "out", "--model", TINY)
    assert result.exit_code == 0
    assert "--device auto" not in result.stderr


def test_progress_and_notes_never_reach_stdout(tmp_path):
    srcs = [_photo(tmp_path / f"{n}.png") for n in "abc"]
    result = extract(*srcs, "-o", tmp_path / "out", "--json")
    assert result.exit_code == 0
    json.loads(result.stdout)  # nothing but the JSON document


# ------------------------------------------------------------------------------ bad input


def test_missing_input(tmp_path):
    out = tmp_path / "out"
    result = extract(tmp_path / "nope.png", "-o", out)
    assert result.exit_code == 1
    _one_error_line(result, "nope.png", "does not exist")
    assert not out.exists()


@pytest.mark.parametrize("kind", ["text", "empty", "truncated"])
def test_bad_image_in_a_batch(tmp_path, kind):
    good = _photo(tmp_path / "good.png")
    bad = tmp_path / "bad.png"
    if kind == "text":
        bad.write_text("this is not a picture\n")
    elif kind == "empty":
        bad.write_bytes(b"")
    else:
        data = _photo(tmp_path / "whole.jpg", h=64, w=64).read_bytes()
        bad = tmp_path / "bad.jpg"
        bad.write_bytes(data[: len(data) // 2])
    out = tmp_path / "out"
    result = extract(bad, good, "-o", out)
    assert result.exit_code == 1
    _one_error_line(result, str(bad))
    # The good image is still processed; nothing is written for the bad one.
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in _frames(out, "good"))


def test_single_bad_image_writes_nothing(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    out = tmp_path / "out"
    result = extract(bad, "-o", out, "--json")
    assert result.exit_code == 1
    summary = json.loads(result.stdout)
    assert summary["outputs"] == [] and summary["failed"][0]["input"] == str(bad)
    assert not out.exists() or list(out.iterdir()) == []


def test_full_disk_midway_leaves_no_partial_photo(tmp_path, monkeypatch):
    import errno

    import blurvid.io as bio

    a, b = _photo(tmp_path / "a.png"), _photo(tmp_path / "b.png")
    real = bio._write_temp

    def write(path, data, *rest):
        if path.name == "b_05.png":
            raise bio.OutputError(f"cannot write {path}: {os.strerror(errno.ENOSPC)}")
        return real(path, data, *rest)

    monkeypatch.setattr(bio, "_write_temp", write)
    out = tmp_path / "out"
    result = extract(a, b, "-o", out)
    assert result.exit_code == 1
    _one_error_line(result, "b_05.png", os.strerror(errno.ENOSPC))
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in _frames(out, "a"))


def test_unwritable_output_folder(tmp_path, monkeypatch):
    import blurvid.io as bio

    src = _photo(tmp_path / "a.png")
    out = tmp_path / "locked"
    out.mkdir()
    real_open = bio.os.open

    def refuse(path, *args, **kwargs):  # what a read-only folder does (root ignores chmod)
        if str(path).startswith(str(out)):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(bio.os, "open", refuse)
    result = extract(src, "-o", out)
    assert result.exit_code == 1
    _one_error_line(result, str(out), "Permission denied")
    assert list(out.iterdir()) == []


def test_folder_without_images(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "readme.txt").write_text("hi")
    result = extract(folder, "-o", tmp_path / "out")
    assert result.exit_code == 1
    _one_error_line(result, str(folder), "no images")


def test_unreadable_folder(tmp_path, monkeypatch):
    folder = tmp_path / "locked"
    _photo(folder / "a.png")
    real_iterdir = Path.iterdir

    def iterdir(self):
        if self == folder:
            raise PermissionError(13, "Permission denied")
        return real_iterdir(self)

    monkeypatch.setattr(Path, "iterdir", iterdir)
    result = extract(folder, "-o", tmp_path / "out")
    assert result.exit_code == 1
    _one_error_line(result, str(folder), "permission denied")
    assert not (tmp_path / "out").exists()


def test_output_is_a_file(tmp_path):
    src = _photo(tmp_path / "a.png")
    target = tmp_path / "out.png"
    target.write_bytes(b"mine")
    result = extract(src, "-o", target)
    assert result.exit_code == 1
    _one_error_line(result, str(target), "not a folder")
    assert target.read_bytes() == b"mine"


def test_two_inputs_with_the_same_stem(tmp_path):
    a = _photo(tmp_path / "x" / "same.png")
    b = _photo(tmp_path / "y" / "same.png")
    out = tmp_path / "out"
    result = extract(a, b, "-o", out)
    assert result.exit_code == 1
    _one_error_line(result, "same_01.png")
    assert not out.exists()


@pytest.mark.parametrize("name, needle", [("missing.onnx", "does not exist"),
                                          ("weights.pt", "PyTorch checkpoint"),
                                          ("garbage.onnx", "not a valid ONNX model")])
def test_bad_model(tmp_path, name, needle):
    src = _photo(tmp_path / "a.png")
    model = tmp_path / name
    if name != "missing.onnx":
        model.write_bytes(b"\x00garbage" * 10)
    out = tmp_path / "out"
    result = run("extract", src, "-o", out, "--model", model)
    assert result.exit_code == 1
    _one_error_line(result, needle)
    assert not out.exists()


def test_cuda_without_cuda_is_a_clear_error(tmp_path):
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this machine has a CUDA provider")
    result = extract(_photo(tmp_path / "a.png"), "-o", tmp_path / "out", "--device", "cuda")
    assert result.exit_code == 1
    _one_error_line(result, "CUDA", "--device cpu")


def test_bad_option_values(tmp_path):
    src = _photo(tmp_path / "a.png")
    for args in (["--device", "tpu"], ["--format", "gif"], ["--threads", "0"]):
        result = extract(src, "-o", tmp_path / "out", *args)
        assert result.exit_code == 2, args  # usage error from the CLI parser
        assert not (tmp_path / "out").exists()


def test_onnxruntime_missing_says_which_pip_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    result = extract(_photo(tmp_path / "a.png"), "-o", tmp_path / "out")
    assert result.exit_code == 1
    _one_error_line(result, "pip install 'blurvid[cpu]'")


# -------------------------------------------------------------------- other commands


def test_info_json():
    result = run("info", "--json")
    assert result.exit_code == 0, result.stderr
    facts = json.loads(result.stdout)
    assert facts["blurvid"] and facts["onnxruntime"]
    assert "CPUExecutionProvider" in facts["providers_available"]
    if "model_error" not in facts:  # the bundled model is installed
        assert facts["metadata"]["arch"] in ("fast", "paper")
        assert facts["providers_active"]


def test_info_names_the_model_asked_for():
    result = run("info", "--json", "--model", "paper")
    assert result.exit_code == 0, result.stderr
    facts = json.loads(result.stdout)
    assert facts["metadata"]["arch"] == "paper" and facts["model"].endswith("blurvid-paper.onnx")
    bad = run("info", "--model", "nope")
    assert bad.exit_code == 1
    _one_error_line(bad, "no model file or bundled model named 'nope'")


def test_version():
    from blurvid import __version__

    result = run("--version")
    assert result.exit_code == 0 and result.stdout.strip() == __version__


def test_console_script_exit_codes_and_streams(tmp_path):
    """The real entry point: one line on stderr, exit 1; BLURVID_DEBUG=1 shows the traceback."""
    cmd = [sys.executable, "-m", "blurvid.cli", "extract", str(tmp_path / "nope.png"),
           "-o", str(tmp_path / "out")]
    env = {k: v for k, v in os.environ.items() if k != "BLURVID_DEBUG"}
    quiet = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert quiet.returncode == 1 and quiet.stdout == ""
    assert quiet.stderr.strip().count("\n") == 0 and "does not exist" in quiet.stderr
    loud = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                          env={**env, "BLURVID_DEBUG": "1"})
    assert loud.returncode != 0 and "Traceback" in loud.stderr and "InputError" in loud.stderr


# ---------------------------------------------------------------------------- interpolate


def interpolate(*args):
    return run("interpolate", "--model", TINY, "--threads", 1, *args)


def test_interpolate_mp4_level_2(tmp_path):
    import imageio_ffmpeg

    src = _photo(tmp_path / "shot.png", h=33, w=45)
    clip = tmp_path / "clip.mp4"
    result = interpolate(src, "--levels", 2, "-o", clip, "--json", "--method", "recursive")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["frames"] == 42 and summary["model_runs"] == 7 and summary["fps"] == 21
    count, _ = imageio_ffmpeg.count_frames_and_secs(str(clip))
    meta = next(imageio_ffmpeg.read_frames(str(clip)))
    assert count == 42 >= 28 and meta["codec"] == "h264"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "shot.png"]  # no temp
    again = interpolate(src, "-o", clip)
    assert again.exit_code == 1
    _one_error_line(again, str(clip), "--force")
    again = interpolate(src, "-o", clip, "--force", "--boomerang", "--fps", 10, "--json")
    assert again.exit_code == 0
    assert json.loads(again.stdout)["method"] == "flow"  # the default: it measures best
    assert imageio_ffmpeg.count_frames_and_secs(str(clip))[0] == 82


def test_interpolate_refuses_a_clip_over_the_cgroup_limit_before_the_model_runs(
        tmp_path, monkeypatch):
    """Plenty of MemAvailable, but a container limit (cgroup v2 memory.max) the clip would
    not fit in: refused up front, in one line, before the model is even loaded."""
    import blurvid.interpolation as interp

    command = sys.modules["blurvid.cli.interpolate"]  # blurvid.cli.interpolate: the command

    meminfo = tmp_path / "meminfo"
    meminfo.write_text(f"MemAvailable: {64 * 2**20} kB\n")  # 64 GiB
    cgroups = tmp_path / "cgroup-fs"
    (cgroups / "box").mkdir(parents=True)
    (cgroups / "cgroup.controllers").write_text("memory\n")
    (cgroups / "box" / "memory.max").write_text(f"{200 * 2**20}\n")
    (cgroups / "box" / "memory.current").write_text(f"{100 * 2**20}\n")
    (tmp_path / "self-cgroup").write_text("0::/box\n")
    monkeypatch.setattr(interp, "MEMINFO", str(meminfo))
    monkeypatch.setattr(interp, "CGROUP_ROOT", str(cgroups))
    monkeypatch.setattr(interp, "PROC_CGROUP", str(tmp_path / "self-cgroup"))
    monkeypatch.setattr(interp, "address_space_left", lambda: None)

    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(command, "Extractor", no_model)
    src = _photo(tmp_path / "shot.png", h=60, w=80)
    clip = tmp_path / "clip.mp4"
    result = interpolate(src, "--levels", 3, "--method", "recursive", "-o", clip)
    assert result.exit_code == 1, result.stderr
    errors = _one_error_line(result, "level-3 recursive clip of 80x60 needs about",
                             "more than the 0.1 GiB", "--method flow")
    assert len(errors) == 1 and result.stderr.strip().count("\n") == 0
    assert not clip.exists()
    # the same clip with the limit lifted gets past the check (to the stand-in model)
    (cgroups / "box" / "memory.max").write_text("max\n")
    result = interpolate(src, "--levels", 3, "--method", "recursive", "-o", clip)
    assert "the model was loaded" in result.stderr and "needs about" not in result.stderr


def test_interpolate_to_frames_folder_with_timeline(tmp_path):
    src = _photo(tmp_path / "shot.png", h=20, w=24)
    out = tmp_path / "frames"
    result = interpolate(src, "-o", out, "--method", "blend")
    assert result.exit_code == 0, result.stderr
    record = json.loads((out / "shot_timeline.json").read_text())
    times = [f["time"] for f in record["frames"]]
    assert len(times) == 42 and times == sorted(times) and record["method"] == "blend"
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"shot_{i:02d}.png" for i in range(1, 43)] + ["shot_timeline.json"])


def test_interpolate_scales_large_photos_down(tmp_path):
    src = _photo(tmp_path / "wide.png", h=30, w=80)
    out = tmp_path / "frames"
    result = interpolate(src, "-o", out, "--levels", 1, "--max-side", 40)
    assert result.exit_code == 0, result.stderr
    assert "scaled from 80x30 to 40x15" in result.stderr
    assert read_image(out / "wide_01.png").rgb.shape == (15, 40, 3)


def test_interpolate_bad_input(tmp_path):
    src = _photo(tmp_path / "a.png")
    assert interpolate(src, "-o", tmp_path / "c.mp4", "--levels", 9).exit_code == 2
    result = interpolate(src, "-o", tmp_path / "c.avi")
    assert result.exit_code == 2  # a usage error (the one line: test_usage_errors_...)
    result = interpolate(tmp_path / "missing.png", "-o", tmp_path / "c.mp4")
    assert result.exit_code == 1
    _one_error_line(result, "does not exist")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]


def test_interpolate_gives_the_size_written_and_says_why_it_was_padded(tmp_path):
    src = _photo(tmp_path / "odd.png", h=33, w=45)
    result = interpolate(src, "--levels", 1, "-o", tmp_path / "c.mp4", "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    import imageio_ffmpeg

    meta = next(imageio_ffmpeg.read_frames(str(tmp_path / "c.mp4")))
    assert (summary["width"], summary["height"]) == tuple(meta["size"]) == (46, 34)
    assert "padded from 45x33 to 46x34" in result.stderr and "even sizes" in result.stderr
    result = interpolate(src, "--levels", 1, "-o", tmp_path / "c.gif", "--json")
    assert result.exit_code == 0 and "padded" not in result.stderr
    assert (json.loads(result.stdout)["width"], json.loads(result.stdout)["height"]) == (45, 33)


def test_interpolate_to_a_gif_above_50_fps_keeps_its_duration(tmp_path):
    from PIL import Image

    src = _photo(tmp_path / "a.png", h=20, w=24)
    result = interpolate(src, "-o", tmp_path / "c.gif", "--fps", 120, "--json")  # 42 frames
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["fps"] == 40 and summary["frames"] == 14  # every 3rd frame
    with Image.open(tmp_path / "c.gif") as im:
        delays = []
        for k in range(im.n_frames):
            im.seek(k)
            delays.append(im.info["duration"])
    assert len(delays) == 14 and min(delays) >= 20  # was 42 x 20 ms: 0.84 s, not 0.35 s
    assert abs(sum(delays) - 1000 * 42 / 120) <= 10
    assert "a GIF plays at most 50 fps" in result.stderr


def test_interpolate_never_writes_over_its_input(tmp_path):
    photo = tmp_path / "a.gif"
    photo.write_bytes(_photo(tmp_path / "a.png").read_bytes())  # a PNG named .gif: a photo
    (tmp_path / "link.gif").symlink_to(photo)
    before = photo.read_bytes()
    for out in (photo, tmp_path / "link.gif"):
        result = interpolate(photo, "-o", out, "--force", "--levels", 1)
        assert result.exit_code == 1
        _one_error_line(result, str(out), "never writes over its input")
    assert photo.read_bytes() == before and (tmp_path / "link.gif").is_symlink()


def test_extract_never_writes_over_an_input(tmp_path):
    """`extract a.png out/a_01.png -o out --force`: a's first frame would replace the second
    input; refused before any work, even with --force."""
    src = _photo(tmp_path / "a.png")
    other = _photo(tmp_path / "out" / "a_01.png")
    before = other.read_bytes()
    result = extract(src, other, "-o", tmp_path / "out", "--force")
    assert result.exit_code == 1
    _one_error_line(result, str(other), "never writes over its input")
    assert other.read_bytes() == before and sorted(p.name for p in other.parent.iterdir()) == [
        "a_01.png"]


def test_extract_of_a_video_points_to_blurvid_video(tmp_path):
    import imageio_ffmpeg

    clip = tmp_path / "clip.mp4"
    writer = imageio_ffmpeg.write_frames(str(clip), (32, 24), fps=10, ffmpeg_log_level="error")
    writer.send(None)
    for _ in range(3):
        writer.send(np.zeros((24, 32, 3), np.uint8))
    writer.close()
    result = extract(clip, "-o", tmp_path / "out")
    assert result.exit_code == 1
    _one_error_line(result, str(clip), "is a video", "blurvid video")


def test_train_and_export_without_torch_say_which_pip_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    for args in (["export", str(tmp_path / "x.pt"), "-o", str(tmp_path / "x.onnx")],
                 ["train", "--images", str(tmp_path), "--val-images", str(tmp_path)]):
        result = run(*args)
        assert result.exit_code == 1
        _one_error_line(result, "pip install torch==2.13.0 'blurvid[train]'")


# ------------------------------------------------------------ the console script itself


@pytest.mark.parametrize("args, needle", [
    (["extract"], "Missing argument"),
    (["extract", "x.png"], "Missing option '-o'"),
    (["extract", "x.png", "-o", "out", "--nope"], "No such option: --nope"),
    (["interpolate", "x.png", "-o", "c.mp4", "--levels", "9"], "--levels"),
    (["interpolate", "x.png", "-o", "c.avi"], "use a .mp4 or .gif file"),
    (["interpolate", "x.png", "-o", "c.mp4", "--max-side", "8"], "at least 32, got 8"),
    (["extract", "x.png", "-o", "out", "--ensemble", "3"], "must be one of 1, 2, 4, 8"),
    (["video", "x.mp4", "-o", "c.mp4", "--start", "2", "--end", "1.0"],
     "--end 1 is not after --start 2"),
    (["video", "x.mp4", "-o", "c.mp4", "--fps", "100000"], "--fps"),
    (["video", "x.mp4", "-o", "c.mp4", "--start", "-1"], "--start"),
])
def test_usage_errors_are_one_line_with_exit_code_2(tmp_path, args, needle):
    out = blurvid(*args, cwd=tmp_path)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("blurvid: error: ") and needle in lines[0]
    assert "╭" not in out.stderr and not out.stdout


def test_the_command_list_shows_each_command_in_one_whole_sentence():
    """``blurvid --help`` lists each command with the first paragraph of its help: it must be
    one sentence on one line, whole on its row of an 80-column terminal (not cut or broken
    mid-sentence; details go in a later paragraph, shown by ``blurvid COMMAND --help``)."""
    import inspect

    import typer.main

    out = run("--help", env={"COLUMNS": "80"})
    assert out.exit_code == 0
    lines = out.stdout.splitlines()
    assert max(map(len, lines)) <= 80
    commands = typer.main.get_command(app).commands
    assert len(commands) == 9
    for name, command in commands.items():
        first = inspect.cleandoc(command.help).split("\n\n")[0]
        assert "\n" not in first and first.endswith(".") and ". " not in first, (name, first)
        row = [ln for ln in lines if ln.startswith(f"│ {name} ")]
        assert len(row) == 1 and first in row[0], (name, row)
        after = lines[lines.index(row[0]) + 1]
        assert after.startswith("╰") or re.match(r"│ [a-z]", after), (name, after)  # not wrapped


@pytest.mark.parametrize("args", [["info", "--model", "paper"], ["--help"]])
def test_a_reader_closing_the_pipe_ends_quietly(tmp_path, args):
    """``blurvid info --model paper | head -1`` exits 0 with nothing on stderr, every run
    (CLOSED_PIPE_EXIT, docs/robustness.md): whether a write meets the closed pipe or all the
    output reached the pipe before the reader left is a race (it was exit 1 or 0 by run).
    Five runs through ``head -1``, and one whose reader leaves before reading anything, so
    that a write always meets the closed pipe."""
    from blurvid.cli.common import CLOSED_PIPE_EXIT

    code = "import sys; from blurvid.cli import main; sys.argv = ['blurvid', *sys.argv[1:]]; main()"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    command = " ".join([sys.executable, "-c", f'"{code}"', *args])
    for run in range(5):
        rc = tmp_path / f"rc{run}"
        out = subprocess.run(f"({command} 2>{tmp_path}/err{run}; echo $? >{rc}) | head -1",
                             shell=True, capture_output=True, text=True, timeout=120, env=env)
        assert out.stdout.endswith("\n") and not out.stderr  # head printed its line
        assert not (tmp_path / f"err{run}").read_text(), run
        assert int(rc.read_text()) == CLOSED_PIPE_EXIT == 0, run
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    proc.stdout.close()  # before the first line is written
    assert not proc.stderr.read() and proc.wait(timeout=120) == CLOSED_PIPE_EXIT


def test_a_folder_named_like_a_bundled_model_does_not_shadow_it(tmp_path, monkeypatch):
    """`extract ... -o paper/ --model paper` twice: the second run still finds the model."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "fast").mkdir()
    result = run("info", "--model", "fast", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["model"].endswith("blurvid-fast.onnx")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_an_unwritable_output_fails_before_inference(tmp_path):
    photo = _photo(tmp_path / "p.png")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        for result in (extract(photo, "-o", locked / "frames"),
                       run("interpolate", photo, "--model", TINY, "-o", locked / "c.mp4")):
            assert result.exit_code == 1
            _one_error_line(result, "cannot write")
            assert "ffmpeg" not in result.stderr
    finally:
        locked.chmod(0o700)


def test_a_file_where_the_output_folder_goes_fails_before_inference(tmp_path):
    photo = _photo(tmp_path / "p.png")
    (tmp_path / "blocker").write_text("mine")
    result = run("interpolate", photo, "--model", TINY, "-o", tmp_path / "blocker" / "c.mp4")
    assert result.exit_code == 1
    _one_error_line(result, "is not a folder")
    assert (tmp_path / "blocker").read_text() == "mine"


@pytest.mark.parametrize("target", ["c.mp4", "new/frames", "."])  # ".": the mount itself
def test_a_read_only_output_is_named_with_its_reason(tmp_path, monkeypatch, target):
    """A read-only mount (os.open refuses with EROFS; root ignores chmod): the user's output
    and "Read-only file system", not "permission denied" nor blurvid's probe file."""
    import blurvid.io as bio

    photo = _photo(tmp_path / "p.png")
    mount = tmp_path / "mount"
    mount.mkdir()
    real_open = bio.os.open

    def refuse(path, *args, **kwargs):
        if str(path).startswith(str(mount)):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(bio.os, "open", refuse)
    out = mount / target
    result = run("interpolate", photo, "--model", TINY, "-o", out)
    assert result.exit_code == 1
    where = {"c.mp4": f"cannot create files in {mount}: ", "new/frames":
             f"cannot create a folder in {mount}: ", ".": ""}[target]
    errors = _one_error_line(result)
    assert errors == [f"blurvid: error: cannot write {out}: {where}Read-only file system"]
    assert list(mount.iterdir()) == []


def _smooth_photo(path: Path, h=240, w=320) -> Path:
    """A photo whose 252-frame clip (--levels 3) takes seconds to write."""
    noise = RNG.integers(0, 256, (h // 4, w // 4, 3), dtype=np.uint8)
    cv2.imwrite(str(path), cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC))
    return path


@pytest.mark.parametrize("name", ["clip.mp4", "frames"])
def test_ctrl_c_while_interpolate_writes_says_one_line_and_leaves_nothing(tmp_path, name):
    """SIGINT to the process group (Ctrl-C in a terminal) as the clip is written: one line,
    exit code 130, no ffmpeg line, no temporary file, not the folders the run made."""
    photo = _smooth_photo(tmp_path / "p.png")
    done = interrupted("interpolate", photo, "-o", tmp_path / "out" / name, "--levels", 3,
                       "--model", TINY, "--threads", 1,
                       ready=lambda: any(temporary_files(tmp_path)))
    assert done.returncode == 130
    assert done.stderr.strip().splitlines() == ["blurvid: error: interrupted"], done.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["p.png"]


def test_training_logs_a_line_per_interval_off_a_terminal():
    from blurvid.cli.train import LogLines

    now = [0.0]
    lines = LogLines(total=100, interval=30, clock=lambda: now[0])
    said = []
    for step in range(1, 101):
        now[0] += 1.0  # one step a second
        said.append(lines.report(step, loss=0.5))
    printed = [s for s in said if s]
    assert len(printed) == 4  # at 30, 60, 90 s and the last step
    assert printed[0] == "blurvid: step 30/100, 1.00 it/s, loss 0.5, ETA 0:01:10"
    assert printed[-1].startswith("blurvid: step 100/100")
