"""blurvid.video: the streaming video pipeline (tiny test model; a stand-in extractor that
returns the true frames checks the ordering end to end)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")

from blurvid.color import rgb_to_y  # noqa: E402
from blurvid.ordering import frame_times, output_count, output_times  # noqa: E402
from blurvid.pipeline import Extractor  # noqa: E402
from blurvid.video import oriented_exposures, timeline_frames, video_frames  # noqa: E402
from blurvid.clips import write_mp4  # noqa: E402
from tests.fakes import TruthExtractor, texture  # noqa: E402

TINY = Path(__file__).parent / "data" / "tiny-fast.onnx"


def blurry_sequence(n=8, h=64, w=96, shutter=0.5, seed=3, timeline=False):
    """[(blur, frames, blur_px)] per exposure (and with ``timeline`` the true frames at the
    output times)."""
    from blurvid.lab.data.sequences import SequenceConfig, render_sequence

    cfg = SequenceConfig(size=(w, h), exposures=n, blur_range=(4, 8), subframes_per_frame=1,
                         shutter=shutter)
    items = list(render_sequence(texture(200, 300) ** 2.2, np.random.default_rng(seed), cfg,
                                 timeline=timeline))
    return (items[:-1], list(items[-1][1])) if timeline else items


def test_exposures_come_back_in_true_order():
    seq = blurry_sequence()
    flips = np.random.default_rng(0).random(len(seq)) < 0.5
    fake = TruthExtractor([f for _, f, _ in seq], flips)
    exposures = list(oriented_exposures(fake, [b for b, _, _ in seq], lag=3))
    assert [e.index for e in exposures] == list(range(len(seq)))
    assert [e.reversed for e in exposures] == list(flips)
    for e, (_, truth, _) in zip(exposures, seq):
        assert e.frames.dtype == np.uint8  # (the chroma is the input's: compare luma)
        assert np.abs(rgb_to_y(e.frames / 255.0) - rgb_to_y(truth)).mean() < 0.01


def test_streaming_holds_a_bounded_window():
    seq = blurry_sequence(n=10)
    consumed = []

    def source():
        for i, (blur, _, _) in enumerate(seq):
            consumed.append(i)
            yield blur

    fake = TruthExtractor([f for _, f, _ in seq], [False] * 10)
    stream = oriented_exposures(fake, source(), lag=2)
    first = next(stream)
    assert first.index == 0 and len(consumed) <= 5  # lag + 2 frames read, not the clip


def test_timeline_frames_hit_the_sharp_frames_and_fill_the_gaps():
    seq, truth = blurry_sequence(n=4, timeline=True)
    fake = TruthExtractor([f for _, f, _ in seq], [False] * 4)
    exposures = list(oriented_exposures(fake, [b for b, _, _ in seq]))
    count = output_count(4, 0.5)
    out = list(timeline_frames(iter(exposures), count, 0.5))
    assert len(out) == count == 25
    np.testing.assert_allclose([t for t, _ in out], output_times(4, 0.5))
    # output 0, 1, 2, 3 are frames 0, 2, 4, 6 of exposure 0; 4, 5, 6 are in the gap
    for n, k in enumerate((0, 2, 4, 6)):
        assert np.isclose(out[n][0], frame_times(0, 0.5)[k])
        assert np.array_equal(out[n][1], exposures[0].frames[k])
    assert len(truth) == count
    for n in (4, 5, 6):  # the gap: nearer the truth at that time than either end is
        gap = rgb_to_y(out[n][1] / 255.0)
        error = np.abs(gap - rgb_to_y(truth[n])).mean()
        for end in (exposures[0].frames[-1], exposures[1].frames[0]):
            assert error < np.abs(rgb_to_y(end / 255.0) - rgb_to_y(truth[n])).mean()


def test_full_shutter_outputs_exactly_the_sharp_frames():
    seq = blurry_sequence(n=3, shutter=1.0)
    fake = TruthExtractor([f for _, f, _ in seq], [False] * 3)
    exposures = list(oriented_exposures(fake, [b for b, _, _ in seq], shutter=1.0))
    out = list(timeline_frames(iter(exposures), output_count(3, 1.0), 1.0))
    assert len(out) == 21
    for n, (_, frame) in enumerate(out):
        assert np.array_equal(frame, exposures[n // 7].frames[n % 7])


def make_video(path, frames, fps=25):
    h, w = frames[0].shape[:2]
    writer = imageio_ffmpeg.write_frames(str(path), (w, h), fps=fps, macro_block_size=1,
                                         ffmpeg_log_level="error")
    writer.send(None)
    for f in frames:
        writer.send(np.ascontiguousarray(np.round(np.asarray(f) * 255).astype(np.uint8)))
    writer.close()
    return path


def test_video_frames_from_a_file_with_the_tiny_model(tmp_path):
    seq = blurry_sequence(n=6)
    video = make_video(tmp_path / "blurry.mp4", [b for b, _, _ in seq])
    out = list(video_frames(video, start=0.08, model=TINY, device="cpu", threads=1))
    assert len(out) == output_count(4, 0.5)  # frames 2..5
    times = np.array([t for t, _ in out])
    np.testing.assert_allclose(times, 0.08 + output_times(4, 0.5) / 25, atol=1e-6)
    frame = out[0][1]
    assert frame.dtype == np.float32 and frame.shape == (64, 96, 3)
    assert 0 <= frame.min() and frame.max() <= 1


def test_video_frames_from_arrays_and_max_side():
    seq = blurry_sequence(n=2)
    extractor = Extractor(TINY, device="cpu", threads=1)
    out = list(video_frames([b for b, _, _ in seq], extractor=extractor, max_side=48))
    assert len(out) == output_count(2, 0.5) and out[0][1].shape == (32, 48, 3)


def test_write_mp4_roundtrip(tmp_path):
    from blurvid.footage import probe

    frames = [np.full((33, 47, 3), 10 * i, np.uint8) for i in range(5)]
    assert write_mp4(tmp_path / "o.mp4", iter(frames), 30) == 5
    info = probe(tmp_path / "o.mp4")
    assert (info.frame_count, info.fps, info.width, info.height) == (5, 30.0, 48, 34)
    assert [p.name for p in tmp_path.iterdir()] == ["o.mp4"]  # no temporary file left


def test_write_mp4_with_audio_is_atomic(tmp_path):
    """A track is muxed in before the rename; a failed mux leaves nothing behind."""
    from blurvid.errors import OutputError
    from blurvid.footage import probe
    from blurvid.clips import AudioTrack

    frames = [np.full((32, 48, 3), 10 * i, np.uint8) for i in range(10)]
    silent = make_video(tmp_path / "silent.mp4", [f / 255.0 for f in frames])
    source = tmp_path / "av.mkv"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i",
                    "sine=d=1", str(source)], check=True)
    assert write_mp4(tmp_path / "o.mp4", iter(frames), 25,
                     audio=AudioTrack(source, 0.5, 0.4)) == 10
    info = probe(tmp_path / "o.mp4")
    assert info.has_audio and info.frame_count == 10
    (tmp_path / "keep.mp4").write_bytes(b"mine")
    with pytest.raises(OutputError, match="audio"):  # a source without audio
        write_mp4(tmp_path / "keep.mp4", iter(frames), 25, audio=AudioTrack(silent, 0, 0.4))
    assert (tmp_path / "keep.mp4").read_bytes() == b"mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["av.mkv", "keep.mp4", "o.mp4",
                                                         "silent.mp4"]


def test_ahead_runs_the_source_on_a_worker_thread_a_bounded_way_ahead():
    import threading

    from blurvid.video import _ahead

    made = []

    def source():
        for i in range(20):
            made.append(threading.current_thread().name)
            yield i

    stream = _ahead(source(), 1)
    assert next(stream) == 0
    time.sleep(0.2)
    assert len(made) <= 3  # the one handed over, one in the queue, one waiting to go in
    assert list(stream) == list(range(1, 20))
    assert set(made) == {"blurvid-video"}
    assert list(_ahead(iter(range(3)), 0)) == [0, 1, 2]


def test_ahead_raises_the_workers_error_here():
    from blurvid.errors import InputError
    from blurvid.video import _ahead

    def source():
        yield 1
        raise InputError("frame 1 is damaged")

    stream = _ahead(source(), 2)
    assert next(stream) == 1
    with pytest.raises(InputError, match="damaged"):
        next(stream)


def test_ahead_stops_and_closes_the_source_when_the_consumer_stops():
    import threading

    from blurvid.video import _ahead

    closed = []

    def source():
        try:
            yield from range(1000)
        finally:
            closed.append(threading.current_thread().name)

    before = threading.active_count()
    stream = _ahead(source(), 1)
    assert [next(stream), next(stream)] == [0, 1]
    stream.close()  # e.g. the encoder failed, or Ctrl-C
    assert closed == ["blurvid-video"] and threading.active_count() == before


def test_the_timeline_is_the_same_made_ahead_or_in_turn():
    seq = blurry_sequence(n=5)
    flips = [True, False, True, True, False]
    runs = []
    for ahead in (0, 1, 2):
        fake = TruthExtractor([f for _, f, _ in seq], flips)
        exposures = oriented_exposures(fake, [b for b, _, _ in seq], lag=2)
        runs.append(list(timeline_frames(exposures, output_count(5, 0.5), 0.5, ahead=ahead)))
    for other in runs[1:]:
        assert len(other) == len(runs[0]) == output_count(5, 0.5)
        for (t0, f0), (t1, f1) in zip(runs[0], other):
            assert t0 == t1 and np.array_equal(f0, f1)
