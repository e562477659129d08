"""benchmarks/known_motion.py: the known-motion yardstick recovers the frames, in order."""

import sys
from pathlib import Path

import numpy as np
import pytest
from photos import wave_photo

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from known_motion import check_translation_only, deconvolve_frames, main  # noqa: E402

from blurvid.color import rgb_to_y  # noqa: E402
from blurvid.lab.data.synth import SynthConfig, render  # noqa: E402
from blurvid.metrics import frame_psnrs  # noqa: E402


def _photo(seed=0, side=300):
    return wave_photo(seed, side)


def test_known_motion_recovers_the_frames_in_order():
    cfg = SynthConfig(size=64, max_acceleration=0.5, max_shake_px=0.0, max_rotation_px=0.0,
                      max_zoom_px=0.0, p_sharp=0.0, noise_shot=(0.0, 0.0),
                      noise_read=(0.0, 0.0), quantize=False, blur_range=(12.0, 12.0),
                      photo_scale=(1.0, 1.0))
    info: dict = {}
    blur, truth = render(_photo(), np.random.default_rng(1), cfg, info=info)
    frames = deconvolve_frames(blur, info["path"], cfg.subframes_per_frame, 1e-3, pad=16)
    assert frames.shape == truth.shape
    y, truth_y = rgb_to_y(frames), rgb_to_y(truth)
    known, reversed_ = frame_psnrs(y, truth_y)
    inp, _ = frame_psnrs(rgb_to_y(blur), truth_y)
    assert not reversed_  # it knows the direction of time
    assert known[0] > inp[0] + 8 and known[6] > inp[6] + 8  # the outer frames, far from B
    assert known[3] > inp[3] + 5 and np.mean(known) > np.mean(inp) + 8
    # told the reversed path, the frames come out in reversed order
    back = deconvolve_frames(blur, info["path"][::-1], cfg.subframes_per_frame, 1e-3, pad=16)
    np.testing.assert_allclose(back, frames[::-1], atol=1e-4)


def test_refuses_motion_that_is_not_a_translation(capsys):
    with pytest.raises(ValueError, match="max_rotation_px"):
        check_translation_only(SynthConfig())
    check_translation_only(SynthConfig(max_rotation_px=0, max_zoom_px=0))
    assert main(["--images", "nowhere", "--set", "p_layer=0.5"]) == 1
    assert "p_layer" in capsys.readouterr().err


def test_realistic_needs_its_non_translations_off(capsys, tmp_path):
    assert main(["--images", str(tmp_path), "--realistic"]) == 1
    assert "perspective_px" in capsys.readouterr().err
