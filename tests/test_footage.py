"""blurvid.footage: probing and streaming videos; one-line errors for bad input."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")

from blurvid.errors import InputError  # noqa: E402
from blurvid.footage import probe, read_frames  # noqa: E402


def make_video(path, frames, fps=25, params=None):
    h, w = frames[0].shape[:2]
    writer = imageio_ffmpeg.write_frames(str(path), (w, h), fps=fps, macro_block_size=1,
                                         ffmpeg_log_level="error", output_params=params)
    writer.send(None)
    for f in frames:
        writer.send(np.ascontiguousarray(f))
    writer.close()
    return path


def ramp(n=10, h=32, w=48):
    return [np.full((h, w, 3), 10 * i, np.uint8) for i in range(n)]


def ffmpeg(*args):
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error",
                    "-y", *map(str, args)], check=True)


def test_probe_and_frames(tmp_path):
    video = make_video(tmp_path / "a.mp4", ramp())
    info = probe(video)
    assert (info.width, info.height, info.fps, info.frame_count) == (48, 32, 25.0, 10)
    assert info.rotation == 0 and not info.has_audio
    np.testing.assert_allclose(info.times, np.arange(10) / 25, atol=1e-6)
    frames = list(read_frames(info))
    assert len(frames) == 10 and frames[0].shape == (32, 48, 3) and frames[0].dtype == np.uint8
    means = [f.mean() for f in frames]
    assert means == sorted(means)  # in order


def test_time_range_picks_frames(tmp_path):
    info = probe(make_video(tmp_path / "a.mp4", ramp()))
    assert info.select(0.1, 0.3) == (3, 5)  # 0.12 ... 0.28 s
    frames = list(read_frames(info, 0.1, 0.3))
    assert len(frames) == 5
    with pytest.raises(InputError, match="no frame between"):
        info.select(5.0)
    with pytest.raises(InputError, match="empty"):
        info.select(0.3, 0.1)


def test_an_empty_time_range_gives_both_ends_in_one_format(tmp_path):
    info = probe(make_video(tmp_path / "a.mp4", ramp(3)))
    with pytest.raises(InputError, match=r"the time range 2 s to 1 s is empty"):  # was 1.0 s
        info.select(2, 1.0)


def test_a_still_image_is_told_from_a_video(tmp_path):
    import cv2

    frame = ramp(1, 30, 40)[0]
    for name in ("a.png", "a.jpg"):
        cv2.imwrite(str(tmp_path / name), frame)
        info = probe(tmp_path / name)
        assert info.frame_count == 1 and info.still, (name, info.container)
    one = probe(make_video(tmp_path / "one.mp4", ramp(1)))
    assert one.frame_count == 1 and not one.still and "mp4" in one.container


def test_rotation_metadata_is_applied(tmp_path):
    video = make_video(tmp_path / "a.mp4", ramp(4))
    ffmpeg("-display_rotation", "90", "-i", video, "-c", "copy", tmp_path / "r.mp4")
    info = probe(tmp_path / "r.mp4")
    assert info.rotation == 90 and (info.width, info.height) == (32, 48)
    assert next(iter(read_frames(info))).shape == (48, 32, 3)


def test_audio_is_seen(tmp_path):
    video = make_video(tmp_path / "a.mp4", ramp(5))
    ffmpeg("-i", video, "-f", "lavfi", "-i", "sine=d=0.2", "-c:v", "copy", "-shortest",
           tmp_path / "av.mkv")
    assert probe(tmp_path / "av.mkv").has_audio


def test_start_is_the_first_frame_time_in_the_file(tmp_path):
    """Video that begins 0.2 s after the audio: ``times`` count from the first frame, ``start``
    says where it lies in the file (where the audio lines up)."""
    video = make_video(tmp_path / "a.mp4", ramp(5))
    assert probe(video).start == pytest.approx(0.0, abs=1e-3)
    ffmpeg("-itsoffset", "0.2", "-i", video, "-f", "lavfi", "-i", "sine=d=1", "-map", "0:v",
           "-map", "1:a", "-c:v", "copy", "-t", "1", tmp_path / "late.mp4")
    info = probe(tmp_path / "late.mp4")
    assert info.start == pytest.approx(0.2, abs=1e-3)
    np.testing.assert_allclose(info.times, np.arange(5) / 25, atol=1e-6)


@pytest.mark.parametrize("make, message", [
    (lambda p: p, "no such file"),
    (lambda p: (p.write_bytes(b""), p)[1], "empty"),
    (lambda p: (p.write_text("not a video"), p)[1], "not a video ffmpeg can read"),
    (lambda p: (p.mkdir(), p)[1], "is a folder"),
])
def test_unreadable_inputs_are_one_line_errors(tmp_path, make, message):
    path = make(tmp_path / "x.mp4")
    with pytest.raises(InputError, match=message) as exc:
        probe(path)
    assert "\n" not in str(exc.value)


def test_no_video_stream(tmp_path):
    ffmpeg("-f", "lavfi", "-i", "sine=d=0.2", tmp_path / "a.m4a")
    with pytest.raises(InputError, match="no video stream"):
        probe(tmp_path / "a.m4a")


def test_zero_length_video(tmp_path):
    ffmpeg("-f", "lavfi", "-i", "color=s=32x32:d=0.04", "-frames:v", "0", "-c:v", "libx264",
           tmp_path / "z.mp4")
    with pytest.raises(InputError, match="no video frames|not a video"):
        probe(tmp_path / "z.mp4")


def test_variable_frame_rate_is_refused(tmp_path):
    # every other frame half an interval late: intervals of 20 and 60 ms
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=25", "-t", "0.8", "-vf",
           "settb=1/1000,setpts='(N+0.5*mod(N,2))/25/TB'", "-fps_mode", "passthrough",
           "-enc_time_base", "1/1000", "-c:v", "libx264", tmp_path / "vfr.mkv")
    with pytest.raises(InputError, match="variable frame rate") as exc:
        probe(tmp_path / "vfr.mkv")
    assert "\n" not in str(exc.value)
