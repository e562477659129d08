"""Tests of the projection that makes the frames average back to the photo."""

from __future__ import annotations

import numpy as np
import pytest

from blurvid.color import from_linear, to_linear
from blurvid.consistency import PROJECTIONS, project

RNG = np.random.default_rng(11)


def _linear_mean(frames, axis=0):
    return from_linear(to_linear(frames).mean(axis=axis))


def test_exact_projection_restores_the_mean():
    frames = RNG.uniform(0.2, 0.8, (7, 24, 32)).astype(np.float32)
    photo = RNG.uniform(0.3, 0.7, (24, 32)).astype(np.float32)
    out = project(frames, photo, "exact")
    assert out.shape == frames.shape and out.dtype == np.float32
    assert 0 <= out.min() and out.max() <= 1
    assert np.abs(_linear_mean(out) - photo).max() < 1e-5
    # away from clipping, the differences between frames (the motion) are kept in linear light
    near = np.clip(_linear_mean(frames) + 0.01, 0, 1).astype(np.float32)
    lin_in, lin_out = to_linear(frames), to_linear(project(frames, near, "exact"))
    assert np.allclose(lin_out[1] - lin_out[0], lin_in[1] - lin_in[0], atol=1e-5)


def test_projection_of_consistent_frames_changes_nothing():
    frames = RNG.uniform(0.1, 0.9, (7, 16, 16)).astype(np.float32)
    photo = _linear_mean(frames).astype(np.float32)
    for mode in PROJECTIONS:
        assert np.allclose(project(frames, photo, mode), frames, atol=1e-5), mode


def test_lowpass_keeps_noise_out_and_fixes_a_drift():
    truth = np.full((7, 64, 64), 0.5, np.float32)
    noise = RNG.normal(0, 0.02, (64, 64)).astype(np.float32)
    photo = 0.5 + noise  # a noisy photo of a flat grey
    drifted = truth * 0.9  # frames too dark
    low = project(drifted, photo, "lowpass")
    exact = project(drifted, photo, "exact")
    assert abs(low.mean() - 0.5) < 2e-3  # the drift is gone
    assert low.std() < 0.3 * noise.std()  # most of the noise stayed out
    assert exact.std() > 0.8 * noise.std()  # the exact projection puts it back


def test_batched_shapes_and_none():
    frames = RNG.uniform(-0.1, 1.1, (2, 7, 8, 8)).astype(np.float32)
    photo = RNG.uniform(0, 1, (2, 1, 8, 8)).astype(np.float32)
    out = project(frames, photo, "exact")
    assert out.shape == frames.shape
    assert np.array_equal(project(frames, photo, "none"), np.clip(frames, 0, 1))


@pytest.mark.parametrize("frames_shape, photo_shape", [((7, 8, 8), (8, 9)),
                                                       ((2, 7, 8, 8), (3, 1, 8, 8)),
                                                       ((7, 8, 8), (1, 8, 8))])
def test_bad_shapes(frames_shape, photo_shape):
    with pytest.raises(ValueError):
        project(np.zeros(frames_shape, np.float32), np.zeros(photo_shape, np.float32))


def test_unknown_mode():
    with pytest.raises(ValueError, match="projection must be one of"):
        project(np.zeros((7, 4, 4)), np.zeros((4, 4)), "magic")
