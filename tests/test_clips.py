"""Tests of blurvid.clips: play order, output kinds, MP4 / GIF / PNG folder, atomic writes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from blurvid.errors import InputError, OutputError, OutputExistsError
from blurvid.io import atomic_output
from blurvid.clips import clip_kind, default_fps, even_size, planned_outputs, sequence, write_clip


def test_sequence_boomerang_and_loops():
    frames, times = np.zeros((4, 1, 1, 3)), np.array([0.1, 0.2, 0.3, 0.4])
    order, t = sequence(frames, times, boomerang=True)
    assert order.tolist() == [0, 1, 2, 3, 2, 1]
    np.testing.assert_allclose(t, [0.1, 0.2, 0.3, 0.4, 0.3, 0.2])
    assert sequence(frames, times, loops=2)[0].tolist() == [0, 1, 2, 3] * 2
    with pytest.raises(InputError):
        sequence(frames, times, loops=0)
    assert default_fps(7) == 4 and default_fps(42) == 21 and default_fps(252) == 30
    # the lengths README.md and docs/interpolation.md state: 1.75 s, 2 s, then the 30 fps cap
    lengths = {n: n / default_fps(n) for n in (7, 42, 60, 82, 252, 1512)}
    assert lengths == {7: 1.75, 42: 2.0, 60: 2.0, 82: 82 / 30, 252: 8.4, 1512: 50.4}


def test_clip_kind(tmp_path):
    assert clip_kind(tmp_path / "a.mp4") == "mp4" and clip_kind(tmp_path / "a.GIF") == "gif"
    assert clip_kind(tmp_path / "frames") == "frames" and clip_kind(tmp_path) == "frames"
    with pytest.raises(InputError, match=r"\.mp4"):
        clip_kind(tmp_path / "a.avi")


def _frames(n=5, h=17, w=23):
    rng = np.random.default_rng(0)
    return rng.random((n, h, w, 3)).astype(np.float32)


def test_write_mp4_h264_yuv420p_odd_size(tmp_path):
    import imageio_ffmpeg

    path = tmp_path / "clip.mp4"
    assert write_clip(path, _frames(), fps=10) == [path]
    count, _ = imageio_ffmpeg.count_frames_and_secs(str(path))
    meta = next(imageio_ffmpeg.read_frames(str(path)))
    assert count == 5 and meta["codec"] == "h264" and meta["pix_fmt"].startswith("yuv420p")
    assert meta["size"] == (24, 18)  # padded to even
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]
    with pytest.raises(OutputExistsError):
        write_clip(path, _frames(), fps=10)
    write_clip(path, _frames(n=3), fps=10, force=True)
    assert imageio_ffmpeg.count_frames_and_secs(str(path))[0] == 3


def test_write_gif(tmp_path):
    from PIL import Image

    path = tmp_path / "clip.gif"
    write_clip(path, _frames(n=4), fps=8)
    with Image.open(path) as im:
        assert im.n_frames == 4 and im.info.get("loop") == 0


def test_write_frames_folder_with_timeline(tmp_path):
    out = tmp_path / "frames"
    written = write_clip(out, _frames(n=3), fps=5, times=[0.1, 0.5, 0.9], stem="shot",
                         info={"levels": 2})
    assert [p.name for p in written] == ["shot_01.png", "shot_02.png", "shot_03.png",
                                         "shot_timeline.json"]
    record = json.loads((out / "shot_timeline.json").read_text())
    assert record["levels"] == 2 and record["fps"] == 5
    assert record["frames"] == [{"file": "shot_01.png", "time": 0.1},
                                {"file": "shot_02.png", "time": 0.5},
                                {"file": "shot_03.png", "time": 0.9}]
    with pytest.raises(OutputExistsError, match="shot_01.png"):
        write_clip(out, _frames(n=3), fps=5, stem="shot")



def test_planned_outputs_name_every_file_write_clip_writes(tmp_path):
    assert planned_outputs(tmp_path / "c.mp4", "x", 3) == [tmp_path / "c.mp4"]
    folder = planned_outputs(tmp_path / "f", "x", 2)
    assert [p.name for p in folder] == ["x_01.png", "x_02.png", "x_timeline.json"]
    written = write_clip(tmp_path / "f", _frames(n=2), fps=4, stem="x")
    assert written == folder


def test_even_size_replicates_the_last_row_and_column():
    pixels = np.arange(2 * 3 * 5 * 3, dtype=np.uint8).reshape(2, 3, 5, 3)
    out = even_size(pixels)
    assert out.shape == (2, 4, 6, 3)
    np.testing.assert_array_equal(out[:, 3, :5], pixels[:, 2])
    np.testing.assert_array_equal(out[:, :3, 5], pixels[:, :, 4])
    assert even_size(out).shape == out.shape


def test_bad_frames_and_fps_are_refused(tmp_path):
    with pytest.raises(ValueError, match="shape"):
        write_clip(tmp_path / "a.gif", np.zeros((3, 4, 4)), fps=5)
    with pytest.raises(ValueError, match="fps"):
        write_clip(tmp_path / "a.gif", _frames(n=2), fps=0)
    assert not list(tmp_path.iterdir())


def test_a_failed_encoder_leaves_nothing_behind(tmp_path):
    """atomic_output: the temporary file is gone and the target untouched after an error."""
    target = tmp_path / "clip.gif"
    target.write_bytes(b"mine")
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            assert tmp.parent == tmp_path and tmp.suffix == ".gif" and tmp.name.startswith(".")
            tmp.write_bytes(b"half")
            raise RuntimeError("encoder died")
    assert target.read_bytes() == b"mine"
    assert [p.name for p in tmp_path.iterdir()] == ["clip.gif"]


def test_a_folder_where_the_clip_goes_is_an_error(tmp_path):
    (tmp_path / "clip.mp4").mkdir()
    with pytest.raises(OutputError, match="folder"):
        write_clip(tmp_path / "clip.mp4", _frames(n=2), fps=5, force=True)


@pytest.mark.parametrize("count, fps", [(42, 21), (7, 4), (252, 30), (10, 3)])
def test_gif_delays_add_up_to_the_requested_duration(count, fps):
    from blurvid.clips import gif_delays

    delays = gif_delays(count, fps)
    assert len(delays) == count and all(d % 10 == 0 and d >= 20 for d in delays)
    assert abs(sum(delays) - 1000 * count / fps) <= 10


def test_a_gif_plays_for_as_long_as_asked(tmp_path):
    from PIL import Image

    write_clip(tmp_path / "c.gif", _frames(n=42), fps=21)
    total = 0
    with Image.open(tmp_path / "c.gif") as im:
        for k in range(im.n_frames):
            im.seek(k)
            total += im.info["duration"]
    assert abs(total - 2000) <= 10  # was 42 x 40 ms = 1680 ms


def test_a_gif_has_one_palette_for_all_its_frames(tmp_path, monkeypatch):
    from PIL import GifImagePlugin, Image

    frames = _frames(n=3, h=20, w=30)
    frames[2] = frames[2][..., ::-1]  # other colors later on: still the first frame's palette
    write_clip(tmp_path / "c.gif", frames, fps=10)
    # Pillow keeps a frame in palette mode only while the palette does not change
    monkeypatch.setattr(GifImagePlugin, "LOADING_STRATEGY",
                        GifImagePlugin.LoadingStrategy.RGB_AFTER_DIFFERENT_PALETTE_ONLY)
    with Image.open(tmp_path / "c.gif") as im:
        modes = []
        for k in range(im.n_frames):
            im.seek(k)
            modes.append(im.mode)
    assert modes == ["P", "P", "P"]


@pytest.mark.parametrize("fps, step", [(25, 1), (50, 1), (50.5, 2), (100, 2), (175, 4),
                                       (210, 5), (480, 10)])
def test_gif_step_keeps_a_gif_at_50_fps_at_most(fps, step):
    from blurvid.clips import gif_delays, gif_step

    assert gif_step(fps) == step
    kept = len(range(0, 300, step))
    delays = gif_delays(kept, fps / step)
    assert min(delays) >= 20 and abs(sum(delays) - 1000 * 300 / fps) <= 1000 * step / fps + 10


def test_clip_size_is_what_the_file_holds():
    from blurvid.clips import clip_size, padding_note

    assert clip_size("mp4", 63, 45) == (64, 46) and clip_size("mp4", 64, 45) == (64, 46)
    assert clip_size("gif", 63, 45) == (63, 45) == clip_size("frames", 63, 45)
    assert padding_note("mp4", 64, 48) is None and padding_note("gif", 63, 45) is None
    assert "padded from 720x405 to 720x406" in padding_note("mp4", 720, 405)
    assert "the last row repeated" in padding_note("mp4", 720, 405)


def _stopping(stop, n=30, h=64, w=96):
    """``n`` uint8 frames, then ``stop`` raised (a damaged input, Ctrl-C; None: the end)."""
    rng = np.random.default_rng(1)
    for _ in range(n):
        yield rng.integers(0, 256, (h, w, 3), np.uint8)
    if stop is not None:
        raise stop


@pytest.mark.parametrize("stop", [InputError("a damaged input"), KeyboardInterrupt()])
def test_an_mp4_write_that_stops_says_nothing_and_leaves_nothing(tmp_path, capfd, stop):
    """ffmpeg is killed before its temporary file is removed, not told to finish it: none of
    its lines reach the terminal (before: "[mp4 @ 0x...] Unable to re-open ... output file
    for shifting data", "Error writing trailer"); no file, no folder the write made."""
    from blurvid.clips import write_mp4

    with pytest.raises(type(stop)):
        write_mp4(tmp_path / "new" / "clip.mp4", _stopping(stop), 25)
    assert capfd.readouterr().err == ""
    assert list(tmp_path.iterdir()) == []


def test_ffmpeg_failing_is_one_message_naming_the_output(tmp_path, capfd):
    """When ffmpeg itself fails, its first error line ends the message, which names the
    user's file (not the temporary one); nothing is printed, nothing left."""
    from blurvid.clips import write_mp4

    out = tmp_path / "clip.mp4"
    with pytest.raises(OutputError) as e:
        write_mp4(out, _stopping(None, n=3), 10, preset="nonsense")
    assert str(e.value) == (f"cannot write {out}: ffmpeg failed: x264 [error]: invalid preset "
                            "'nonsense'")
    assert capfd.readouterr().err == ""
    assert list(tmp_path.iterdir()) == []


def test_a_frames_write_that_stops_removes_only_a_folder_it_made(tmp_path, monkeypatch):
    """Ctrl-C or a failed timeline: the new folder (and new parents) go; a folder that
    existed, empty or holding a user's file, stays as it was."""
    import blurvid.clips as clips
    from blurvid.clips import Sized

    def frames():
        yield from _frames(n=2)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_clip(tmp_path / "a" / "frames", Sized(frames(), 3), 10)
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "empty").mkdir()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    for folder in (tmp_path / "empty", tmp_path / "mine"):
        with pytest.raises(KeyboardInterrupt):
            write_clip(folder, Sized(frames(), 3), 10)
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == [
        "empty", "mine", "mine/notes.txt"]

    def full(path, data):
        raise OutputError(f"cannot write {path}: No space left on device")

    monkeypatch.setattr(clips, "write_bytes_atomic", full)
    with pytest.raises(OutputError):
        write_clip(tmp_path / "b" / "frames", _frames(n=2), 10)
    assert not (tmp_path / "b").exists()
