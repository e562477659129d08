"""``blurvid video``: a blurry video in, a sharp slow-motion one out (tiny test model)."""

from __future__ import annotations

import errno
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("onnxruntime")
imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")

from blurvid.cli import app  # noqa: E402
from blurvid.footage import probe  # noqa: E402
from blurvid.ordering import output_count  # noqa: E402
from tests.console import blurvid, interrupted, temporary_files  # noqa: E402

TINY = Path(__file__).parent / "data" / "tiny-fast.onnx"
PAN = Path(__file__).parents[1] / "examples" / "video" / "pan.mp4"  # 75 frames, 320x208


def make_video(path, n=6, h=48, w=64, fps=25, audio=False):
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (h, w + 4 * n, 3), dtype=np.uint8)
    odd = {"pix_fmt_out": "yuv444p"} if h % 2 or w % 2 else {}  # yuv420p needs even sizes
    writer = imageio_ffmpeg.write_frames(str(path), (w, h), fps=fps, macro_block_size=1,
                                         ffmpeg_log_level="error", **odd)
    writer.send(None)
    for i in range(n):  # a pan, 4 px per frame
        writer.send(np.ascontiguousarray(base[:, 4 * i:4 * i + w]))
    writer.close()
    if audio:
        out = path.with_name("av" + path.suffix)
        subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-i", str(path),
                        "-f", "lavfi", "-i", "sine=d=1", "-c:v", "copy", "-shortest",
                        str(out)], check=True)
        return out
    return path


def run(*args):
    return CliRunner().invoke(app, ["video", *map(str, args), "--model", str(TINY),
                                    "--threads", "1"])


def test_slowmo_mp4_with_json(tmp_path):
    video = make_video(tmp_path / "clip.mp4")
    result = run(video, "-o", tmp_path / "slow.mp4", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    count = output_count(6, 0.5)
    assert summary["frames"] == count and summary["input_frames"] == 6
    assert summary["fps"] == 25 and summary["mode"] == "slowmo"
    info = probe(tmp_path / "slow.mp4")
    assert info.frame_count == count and info.fps == 25
    assert (info.width, info.height) == (64, 48)


def test_the_shutter_is_given_or_estimated_and_says_which(tmp_path):
    """The test clip pans steadily: its shutter cannot be estimated, 0.5 is assumed and the
    note says why; a given shutter is used as given."""
    video = make_video(tmp_path / "clip.mp4")
    result = run(video, "-o", tmp_path / "a.mp4", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["shutter"], summary["shutter_source"]) == (0.5, "assumed")
    assert "shutter 0.5 assumed" in result.stderr and "--shutter sets it" in result.stderr
    result = run(video, "-o", tmp_path / "g.mp4", "--json", "--shutter", "1")
    summary = json.loads(result.stdout)
    assert (summary["shutter"], summary["shutter_source"]) == (1.0, "given")
    assert summary["frames"] == output_count(6, 1.0) and "shutter" not in result.stderr


def test_smooth_png_folder_with_timeline(tmp_path):
    video = make_video(tmp_path / "clip.mp4")
    out = tmp_path / "frames"
    result = run(video, "-o", out, "--smooth", "--start", "0.04", "--end", "0.2",
                 "--shutter", "1")
    assert result.exit_code == 0, result.output
    timeline = json.loads((out / "clip_timeline.json").read_text())
    assert timeline["fps"] == 175 and len(timeline["frames"]) == 28  # 4 frames x 7
    times = [f["time"] for f in timeline["frames"]]
    assert times[0] == pytest.approx(0.04 + 1 / 14 / 25, abs=1e-5)
    assert np.allclose(np.diff(times), 1 / 175, atol=1e-5)
    assert len(list(out.glob("clip_*.png"))) == 28


def test_fps_and_max_side(tmp_path):
    video = make_video(tmp_path / "clip.mp4", n=2)
    result = run(video, "-o", tmp_path / "o.mp4", "--fps", "10", "--max-side", "32")
    assert result.exit_code == 0, result.output
    assert "scaled from 64x48 to 32x24" in result.stderr
    info = probe(tmp_path / "o.mp4")
    assert info.fps == 10 and (info.width, info.height) == (32, 24)


def test_audio_is_dropped_with_a_note(tmp_path):
    video = make_video(tmp_path / "clip.mkv", n=3, audio=True)
    result = run(video, "-o", tmp_path / "o.mp4")
    assert result.exit_code == 0, result.output
    assert "audio is dropped (the output's timing differs; --smooth keeps it)" in result.stderr
    assert not probe(tmp_path / "o.mp4").has_audio


def with_audio(video, silent_until=0.2):
    """``video`` with a 440 Hz tone that starts at ``silent_until`` seconds (Vorbis or Opus
    in Matroska: not a codec MP4 takes as it is)."""
    out = video.with_name("av.mkv")
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-i", str(video),
                    "-f", "lavfi", "-i",
                    f"sine=f=440:d=2,volume=volume=0:enable='lt(t,{silent_until})'",
                    "-c:v", "copy", "-shortest", str(out)], check=True)
    return out


def audio_of(path, rate=44100):
    """The first audio track of ``path`` decoded to mono float samples."""
    done = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-i",
                           str(path), "-map", "0:a:0", "-f", "s16le", "-ac", "1", "-ar",
                           str(rate), "-"], capture_output=True, check=True)
    return np.frombuffer(done.stdout, np.int16).astype(np.float64) / 32768


def rms(samples):
    return float(np.sqrt(np.mean(samples ** 2)))


@pytest.mark.parametrize("start", [None, 0.2])
def test_smooth_keeps_the_audio_of_the_range(tmp_path, start):
    video = with_audio(make_video(tmp_path / "clip.mp4", n=10))
    out = tmp_path / "smooth.mp4"
    extra = ["--start", start] if start is not None else []
    result = run(video, "-o", out, "--smooth", "--json", *extra)
    assert result.exit_code == 0, result.output
    assert "audio is dropped" not in result.stderr
    summary = json.loads(result.stdout)
    assert summary["audio_kept"] and not summary["audio_dropped"]
    info = probe(out)
    assert info.has_audio and info.frame_count == summary["frames"]
    samples = audio_of(out)
    duration = summary["frames"] / summary["fps"]  # 7 x 175 fps: as long as the input range
    assert abs(len(samples) / 44100 - duration) < 0.025
    head = rms(samples[441:2205])  # 10-50 ms into the output
    if start is None:  # the input's first 0.2 s are silent
        assert head < 0.005 and rms(samples[-2205:]) > 0.05  # (the tone: 0.088)
    else:  # trimmed: the tone from the first frame on
        assert head > 0.05
    assert sorted(p.name for p in tmp_path.iterdir()) == ["av.mkv", "clip.mp4", "smooth.mp4"]


def test_smooth_without_audio_writes_none(tmp_path):
    video = make_video(tmp_path / "clip.mp4", n=3)
    result = run(video, "-o", tmp_path / "o.mp4", "--smooth", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert not summary["audio_kept"] and not summary["audio_dropped"]
    assert not probe(tmp_path / "o.mp4").has_audio


def test_smooth_to_frames_drops_the_audio_with_a_note(tmp_path):
    video = with_audio(make_video(tmp_path / "clip.mp4", n=3))
    result = run(video, "-o", tmp_path / "frames", "--smooth")
    assert result.exit_code == 0, result.output
    assert "audio is dropped (a folder of frames holds no audio)" in result.stderr


def test_existing_output_is_refused_without_force(tmp_path):
    video = make_video(tmp_path / "clip.mp4", n=2)
    (tmp_path / "o.mp4").write_bytes(b"keep")
    result = run(video, "-o", tmp_path / "o.mp4")
    assert result.exit_code == 1 and "already exists" in result.stderr
    assert (tmp_path / "o.mp4").read_bytes() == b"keep"
    assert run(video, "-o", tmp_path / "o.mp4", "--force").exit_code == 0


@pytest.mark.parametrize("make, message", [
    (lambda p: p / "missing.mp4", "no such file"),
    (lambda p: (p / "x.mp4").write_text("text") and p / "x.mp4", "not a video"),
])
def test_bad_inputs_are_one_line_errors(tmp_path, make, message):
    result = run(make(tmp_path), "-o", tmp_path / "o.mp4")
    errors = [line for line in result.stderr.splitlines() if line.startswith("blurvid: error:")]
    assert result.exit_code == 1 and len(errors) == 1 and message in errors[0]
    assert not (tmp_path / "o.mp4").exists()


def test_time_range_outside_the_video(tmp_path):
    video = make_video(tmp_path / "clip.mp4", n=2)
    result = run(video, "-o", tmp_path / "o.mp4", "--start", "9")
    assert result.exit_code == 1 and "no frame between" in result.stderr


def gif_delays_of(path):
    from PIL import Image

    with Image.open(path) as im:
        delays = []
        for k in range(im.n_frames):
            im.seek(k)
            delays.append(im.info["duration"])
    return delays


def test_a_smooth_gif_plays_at_50_fps_at_most_and_keeps_its_duration(tmp_path):
    """--smooth makes 175 fps; a GIF cannot play faster than 50 (delays of 2 hundredths):
    every 4th frame is kept, and the summary, --json and the file agree."""
    video = make_video(tmp_path / "clip.mp4")
    result = run(video, "-o", tmp_path / "o.gif", "--smooth", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    made = output_count(6, 0.5)  # 39 frames at 175 fps: 0.223 s
    assert summary["fps"] == 175 / 4 and summary["frames"] == len(range(0, made, 4)) == 10
    delays = gif_delays_of(tmp_path / "o.gif")
    assert len(delays) == summary["frames"] and min(delays) >= 20  # was 39 x 20 ms: 0.78 s
    assert abs(sum(delays) - 1000 * summary["frames"] / summary["fps"]) <= 10
    assert abs(sum(delays) - 1000 * made / 175) <= 1000 * 4 / 175
    assert "a GIF plays at most 50 fps" in result.stderr and "every 4th" in result.stderr


def test_an_odd_sized_video_is_padded_for_mp4_and_says_so(tmp_path):
    video = make_video(tmp_path / "odd.mp4", n=2, h=45, w=63)
    result = run(video, "-o", tmp_path / "o.mp4", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    info = probe(tmp_path / "o.mp4")
    assert (summary["width"], summary["height"]) == (info.width, info.height) == (64, 46)
    assert "padded from 63x45 to 64x46" in result.stderr and "even sizes" in result.stderr
    result = run(video, "-o", tmp_path / "frames", "--json")  # PNG frames keep the size
    assert result.exit_code == 0, result.output
    assert (json.loads(result.stdout)["width"], json.loads(result.stdout)["height"]) == (63, 45)
    assert "padded" not in result.stderr


@pytest.mark.parametrize("link", ["same", "hard", "symbolic"])
def test_the_input_is_never_written_over_even_with_force(tmp_path, link):
    video = make_video(tmp_path / "clip.mp4", n=2)
    before = video.read_bytes()
    out = video if link == "same" else tmp_path / "o.mp4"
    if link == "hard":
        os.link(video, out)
    elif link == "symbolic":
        out.symlink_to(video)
    result = run(video, "-o", out, "--force")
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("blurvid: error:")]
    assert result.exit_code == 1 and len(errors) == 1, result.output
    assert "never writes over its input" in errors[0]
    assert video.read_bytes() == before


@pytest.mark.parametrize("name", ["photo.png", "photo.jpg"])
def test_a_still_image_is_refused_pointing_to_extract(tmp_path, name):
    import cv2

    cv2.imwrite(str(tmp_path / name), np.full((30, 40, 3), 128, np.uint8))
    result = run(tmp_path / name, "-o", tmp_path / "o.mp4")  # was a 4-frame 0.16 s MP4
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("blurvid: error:")]
    assert result.exit_code == 1 and len(errors) == 1, result.output
    assert "still image" in errors[0] and "blurvid extract" in errors[0]
    assert not (tmp_path / "o.mp4").exists()


@pytest.mark.parametrize("args", [
    ["--max-side", "1"], ["--max-side", "31"], ["--fps", "100000"], ["--fps", "0"],
    ["--start", "2", "--end", "1"], ["--end", "0"], ["--ensemble", "3"], ["-o", "x.avi"],
    ["--start", "-1"], ["--shutter", "x"], ["--shutter", "0"], ["--shutter", "1.5"],
    ["--shutter", "0.001"], ["--shutter", "nan"], ["--sweeps", "9"], ["--sweeps", "-1"],
    ["--sweeps", "2", "--method", "network"],
])
def test_bad_option_values_are_usage_errors_found_before_reading_the_input(tmp_path, args):
    """Exit code 2 for a command line that is wrong by itself: the input is not even read
    (it does not exist here: that would be exit code 1)."""
    out = ["-o", tmp_path / "o.mp4"] if "-o" not in args else []
    result = run(tmp_path / "missing.mp4", *out, *args)
    assert result.exit_code == 2, result.output
    assert not list(tmp_path.iterdir())


# ------------------------------------------------- Ctrl-C and damaged inputs (a real terminal)


def _only_error_line(stderr: str) -> str:
    """The one line a failed run prints: no ffmpeg line (``[mp4 @ 0x...] ...``), no other
    (blurvid's notes before it, e.g. the shutter's, and the progress lines a run of over
    ~30 s prints off a terminal, aside)."""
    lines = [line for line in stderr.strip().splitlines()
             if not line.startswith(("blurvid: note: ", "blurvid: input frame "))]
    assert len(lines) == 1 and lines[0].startswith("blurvid: error: "), stderr
    return lines[0]


def test_ctrl_c_while_writing_an_mp4_says_one_line_and_leaves_nothing(tmp_path):
    """SIGINT to the process group mid-encoding: ffmpeg (in a group of its own) is ended by
    blurvid, not told to finish a file that is being removed ("Unable to re-open ... for
    shifting data", "Error writing trailer" before)."""
    out = tmp_path / "out" / "slow.mp4"

    def encoding():  # ffmpeg has written some of the file
        return any(p.stat().st_size > 100_000 for p in temporary_files(tmp_path))

    done = interrupted("video", PAN, "-o", out, "--model", TINY, "--threads", 1,
                       ready=encoding)
    assert done.returncode == 130
    assert _only_error_line(done.stderr) == "blurvid: error: interrupted"
    assert not (tmp_path / "out").exists()  # nor the folder the run made


def test_ctrl_c_while_writing_frames_removes_the_folder_it_made(tmp_path):
    out = tmp_path / "frames"
    done = interrupted("video", PAN, "-o", out, "--model", TINY, "--threads", 1,
                       ready=lambda: out.is_dir() and any(out.iterdir()))
    assert done.returncode == 130
    assert _only_error_line(done.stderr) == "blurvid: error: interrupted"
    assert not out.exists(), list(out.iterdir())


def test_a_damaged_video_says_one_line_and_leaves_nothing(tmp_path):
    """Bytes in the middle of the file overwritten: probed fine, 3 frames lost in decoding;
    the encoder is stopped without a word, its temporary file and new folder removed."""
    data = bytearray(PAN.read_bytes())
    third = len(data) // 3
    data[third:third + 20_000] = np.random.default_rng(0).integers(0, 256, 20_000,
                                                                   np.uint8).tobytes()
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    done = blurvid("video", damaged, "-o", tmp_path / "out" / "slow.mp4", "--model", TINY,
                   "--threads", 1, "--max-side", 64)
    assert done.returncode == 1
    lines = [ln for ln in done.stderr.splitlines() if not ln.startswith("blurvid: note:")]
    assert _only_error_line("\n".join(lines)).endswith("(a damaged file?)")
    assert [p.name for p in tmp_path.iterdir()] == ["damaged.mp4"]


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="Linux's /proc")
@pytest.mark.parametrize("target, message", [
    ("/proc/x.mp4", "cannot write /proc/x.mp4: cannot create files in /proc: "),
    ("/proc/new/frames", "cannot write /proc/new/frames: cannot create a folder in /proc: "),
])
def test_an_output_in_a_folder_that_takes_no_files_names_it_and_the_reason(tmp_path, target,
                                                                           message):
    """/proc takes no new files (ENOENT): the message names the user's output and the file
    system's reason, never blurvid's probe file; before any work."""
    result = run(make_video(tmp_path / "clip.mp4", n=2), "-o", target)
    assert result.exit_code == 1
    line = _only_error_line(result.stderr)
    assert line == f"blurvid: error: {message}{os.strerror(errno.ENOENT)}"
    assert "write-check" not in result.stderr


def test_each_method_writes_a_clip_and_says_so(tmp_path):
    """motion (with two sweeps) is the default; network on request; --sweeps 0."""
    video = make_video(tmp_path / "clip.mp4", n=6)
    result = run(video, "-o", tmp_path / "fast.mp4", "--method", "network", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["method"] == "network" and summary["frames"] == output_count(6, 0.5)
    assert summary["sweeps"] == 0
    result = run(video, "-o", tmp_path / "sharp.mp4", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["method"] == "motion" and summary["reversed_exposures"] == 0
    assert summary["sweeps"] == 2
    # the summary line counts reversed exposures for the network only (the motion method's
    # frames run the way the measured motion does)
    lines = {m: run(video, "-o", tmp_path / f"{m}.gif", "--method", m).stderr.splitlines()[-1]
             for m in ("network", "motion")}
    assert "exposures reversed" in lines["network"]
    assert "exposures reversed" not in lines["motion"] and "input frames/s" in lines["motion"]
    assert probe(tmp_path / "sharp.mp4").frame_count == summary["frames"] == output_count(6, 0.5)
    # off a terminal (the test's stderr is not one): a progress line, at the end at least
    assert "blurvid: input frame 6/6" in result.stderr
    result = run(video, "-o", tmp_path / "x.mp4", "--method", "magic")
    assert result.exit_code == 2 and "magic" in result.stderr
    result = run(video, "-o", tmp_path / "plain.mp4", "--sweeps", "0", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["method"] == "motion" and summary["sweeps"] == 0
    assert probe(tmp_path / "plain.mp4").frame_count == output_count(6, 0.5)


def test_progress_lines_come_every_interval_off_a_terminal():
    from blurvid.cli.progress import PeriodicLines

    now = [0.0]
    lines = PeriodicLines("input frame", 100, interval=30, clock=lambda: now[0])
    said = []
    for _ in range(100):
        now[0] += 2.0  # 0.5 input frames a second
        said.append(lines.advance())
    printed = [s for s in said if s]
    assert len(printed) == 7  # every 30 s (15 frames) and the last
    assert printed[0] == "blurvid: input frame 15/100, 0.50/s, ETA 0:02:50"
    assert printed[-1].startswith("blurvid: input frame 100/100")
