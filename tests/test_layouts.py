"""Tests of the dataset readers on small fake trees built here."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from blurvid.color import from_linear, to_linear
from blurvid.lab.data.layouts import count_samples, detect_layout, read_dataset, windows
from blurvid.errors import InputError


def _frame(i, h=16, w=20, scene=0):
    """A smooth frame that moves a little with i; another scene looks entirely different."""
    y, x = np.mgrid[:h, :w].astype(np.float32)
    if scene:
        return np.stack([np.full((h, w), 0.9), (y / h) ** 2, 1 - x / w], -1).astype(np.float32)
    return np.stack([(x + i) / (w + 30), y / h, np.full((h, w), 0.3)], -1).astype(np.float32)


def _write(path, rgb):
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.rint(rgb[..., ::-1] * 255).astype(np.uint8))


def test_gopro_all_windows_and_gamma(tmp_path):
    for i in range(16):
        _write(tmp_path / "test" / "SEQ_A" / f"{i:06d}.png", _frame(i))
    assert detect_layout(tmp_path) == "gopro"
    samples = list(read_dataset(tmp_path))
    assert [s.name for s in samples] == ["test_SEQ_A_000000", "test_SEQ_A_000007"]
    frames = samples[1].frames
    assert frames.shape == (7, 16, 20, 3)
    np.testing.assert_allclose(samples[1].blur, frames.mean(axis=0), atol=1e-6)
    gamma = list(read_dataset(tmp_path, gamma=True))[1]
    np.testing.assert_allclose(gamma.blur, from_linear(to_linear(frames).mean(axis=0)), atol=1e-6)
    overlapping = list(read_dataset(tmp_path, stride=3))
    assert [s.name[-6:] for s in overlapping] == ["000000", "000003", "000006", "000009"]
    assert count_samples(tmp_path) is None  # windows are only known by reading


def test_gopro_pairs_middle_frame(tmp_path):
    for seq in ("S1", "S2"):
        for i in range(2):
            _write(tmp_path / "train" / seq / "blur" / f"{i:06d}.png", _frame(i))
            _write(tmp_path / "train" / seq / "blur_gamma" / f"{i:06d}.png", _frame(i + 1))
            _write(tmp_path / "train" / seq / "sharp" / f"{i:06d}.png", _frame(i + 2))
    assert detect_layout(tmp_path) == "gopro-pairs" and count_samples(tmp_path) == 4
    samples = list(read_dataset(tmp_path))
    assert len(samples) == 4 and samples[0].frames.shape == (1, 16, 20, 3)
    gamma = list(read_dataset(tmp_path, gamma=True))
    assert not np.array_equal(gamma[0].blur, samples[0].blur)


def test_dvd_pairs_and_videos(tmp_path):
    pairs = tmp_path / "pairs"
    for i in range(3):
        _write(pairs / "quantitative_datasets" / "IMG_0001" / "input" / f"{i:05d}.jpg", _frame(i))
        _write(pairs / "quantitative_datasets" / "IMG_0001" / "GT" / f"{i:05d}.jpg", _frame(i + 1))
    assert detect_layout(pairs) == "dvd" and count_samples(pairs) == 3
    assert list(read_dataset(pairs))[0].frames.shape[0] == 1

    videos = tmp_path / "videos"
    videos.mkdir()
    writer = cv2.VideoWriter(str(videos / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 30,
                             (20, 16))
    for i in range(15):
        writer.write(np.rint(_frame(i)[..., ::-1] * 255).astype(np.uint8))
    writer.release()
    assert detect_layout(videos) == "dvd"
    samples = list(read_dataset(videos))
    assert [s.name for s in samples] == ["clip_000000", "clip_000007"]
    assert detect_layout(videos / "clip.avi") == "frames"
    assert len(list(read_dataset(videos / "clip.avi"))) == 2


def test_frames_folder_skips_scene_cuts_and_bad_frames(tmp_path):
    for i in range(21):
        _write(tmp_path / f"f{i}.png", _frame(i, scene=1 if i >= 10 else 0))
    (tmp_path / "f16.png").write_bytes(b"not a png")
    assert detect_layout(tmp_path) == "frames"
    notes = []
    samples = list(read_dataset(tmp_path, on_skip=notes.append))
    # Natural order f0..f20; window 7-13 crosses the cut at 10, 14-20 holds the broken f16.
    assert [s.name for s in samples] == [f"{tmp_path.name}_000000"]
    assert any("scene cut" in n for n in notes) and any("f16.png" in n for n in notes)


def test_windows_directly():
    frames = [_frame(i) for i in range(7)] + [None] + [_frame(i) for i in range(7)]
    out = list(windows(iter(frames), "v", stride=1))
    assert [s.name for s in out] == ["v_000000", "v_000008"]


def test_blurvid_layout_and_errors(tmp_path):
    with pytest.raises(InputError, match="no known dataset layout"):
        detect_layout(tmp_path)
    with pytest.raises(InputError, match="not a folder"):
        detect_layout(tmp_path / "missing")
    with pytest.raises(InputError, match="unknown layout"):
        list(read_dataset(tmp_path, layout="imagenet"))
    _write(tmp_path / "ds" / "blur" / "a.png", _frame(0))
    for k in range(1, 8):
        _write(tmp_path / "ds" / "gt" / f"a_{k:02d}.png", _frame(k))
    assert detect_layout(tmp_path / "ds") == "blurvid"
    (sample,) = read_dataset(tmp_path / "ds")
    assert sample.frames.shape == (7, 16, 20, 3)
    (tmp_path / "ds" / "gt" / "a_03.png").write_bytes(b"broken")
    notes = []
    assert list(read_dataset(tmp_path / "ds", on_skip=notes.append)) == []
    assert "a_03.png" in notes[0]
