"""Tests of blurvid.metrics: PSNR, order-invariant frame PSNRs, SSIM."""

from __future__ import annotations

import math

import numpy as np
import pytest

from blurvid.color import rgb_to_y
from blurvid.metrics import frame_psnrs, mse, psnr, score_samples, ssim

RNG = np.random.default_rng(11)


# ------------------------------------------------------------------------ PSNR


def test_psnr_reference_values():
    a = np.zeros((8, 8))
    assert psnr(a, a + 0.1) == pytest.approx(20.0, abs=1e-9)   # mse 0.01
    assert psnr(a, a + 0.01) == pytest.approx(40.0, abs=1e-9)  # mse 1e-4
    half = a.copy()
    half[:4] = 0.2  # mse 0.5 * 0.04 = 0.02
    assert psnr(a, half) == pytest.approx(10 * math.log10(1 / 0.02), abs=1e-9)
    assert psnr(a, a + 25.5, data_range=255.0) == pytest.approx(20.0, abs=1e-9)
    assert mse(a, a + 0.1) == pytest.approx(0.01, abs=1e-15)


def test_psnr_identical_is_inf():
    a = RNG.random((5, 5))
    assert psnr(a, a.copy()) == math.inf


def test_psnr_float32_computed_in_float64():
    a = np.full((100, 100), 0.3, np.float32)
    b = a + np.float32(1e-4)
    assert psnr(a, b) == pytest.approx(80.0, abs=0.01)


def test_psnr_shape_mismatch():
    with pytest.raises(ValueError):
        psnr(np.zeros((4, 4)), np.zeros((4, 5)))
    with pytest.raises(ValueError):
        mse(np.zeros((4, 4)), np.zeros((16,)))


# ------------------------------------------------------------------------ frame_psnrs


def _sample(f=7, h=9, w=10):
    truth = RNG.random((f, h, w))
    frames = np.clip(truth + 0.05 * RNG.standard_normal(truth.shape), 0, 1)
    return frames, truth


def test_frame_psnrs_forward():
    frames, truth = _sample()
    scores, rev = frame_psnrs(frames, truth)
    assert rev is False
    assert scores == pytest.approx([psnr(f, t) for f, t in zip(frames, truth)])


def test_frame_psnrs_order_invariance():
    frames, truth = _sample()
    fwd, rev_fwd = frame_psnrs(frames, truth)
    scores, rev = frame_psnrs(frames[::-1], truth)
    assert rev is True
    assert scores == pytest.approx(fwd)
    assert rev_fwd is False
    # without order invariance the reversed prediction scores badly
    strict, strict_rev = frame_psnrs(frames[::-1], truth, order_invariant=False)
    assert strict_rev is False
    assert sum(strict) < sum(fwd)


def test_frame_psnrs_identical_is_inf():
    _, truth = _sample()
    scores, rev = frame_psnrs(truth.copy(), truth)
    assert scores == [math.inf] * 7 and rev is False


def test_frame_psnrs_input_broadcast():
    _, truth = _sample()
    blurry = truth.mean(axis=0)
    scores, rev = frame_psnrs(blurry, truth)
    assert rev is False
    assert len(scores) == 7
    assert scores == pytest.approx([psnr(blurry, t) for t in truth])


def test_frame_psnrs_shape_mismatch():
    frames, truth = _sample()
    with pytest.raises(ValueError):
        frame_psnrs(frames[:6], truth)
    with pytest.raises(ValueError):
        frame_psnrs(frames[0, :5], truth)


# ------------------------------------------------------------------------ SSIM


def _skimage_ssim(a, b):
    metrics = pytest.importorskip("skimage.metrics")
    return metrics.structural_similarity(a, b, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                         use_sample_covariance=False)


@pytest.mark.parametrize("shape, noise", [((32, 40), 0.1), ((11, 11), 0.3), ((64, 23), 0.02)])
def test_ssim_matches_skimage_random(shape, noise):
    a = RNG.random(shape)
    b = np.clip(a + noise * RNG.standard_normal(shape), 0, 1)
    assert ssim(a, b) == pytest.approx(_skimage_ssim(a, b), abs=1e-4)
    # float32 input gives the same answer (computed in float64)
    assert ssim(a.astype(np.float32), b.astype(np.float32)) == pytest.approx(
        _skimage_ssim(a.astype(np.float32), b.astype(np.float32)), abs=1e-4)


def test_ssim_matches_skimage_natural():
    data = pytest.importorskip("skimage.data")
    img = data.camera()[::2, ::2] / 255.0  # 256 x 256, keeps the test fast
    blurred = (img + np.roll(img, 1, axis=1) + np.roll(img, -1, axis=1)) / 3
    noisy = np.clip(img + 0.05 * RNG.standard_normal(img.shape), 0, 1)
    for other in (blurred, noisy):
        assert ssim(img, other) == pytest.approx(_skimage_ssim(img, other), abs=1e-4)


def test_ssim_identical_is_one():
    a = RNG.random((20, 30))
    assert ssim(a, a.copy()) == pytest.approx(1.0, abs=1e-12)
    flat = np.full((16, 16), 0.4)
    assert ssim(flat, flat) == pytest.approx(1.0, abs=1e-12)


def test_ssim_decreases_with_noise():
    base = np.clip(RNG.random((48, 48)) * 0.5 + 0.25, 0, 1)
    noise = RNG.standard_normal(base.shape)
    scores = [ssim(base, np.clip(base + s * noise, 0, 1)) for s in (0.0, 0.02, 0.05, 0.1, 0.3)]
    assert scores[0] == pytest.approx(1.0)
    assert all(x > y for x, y in zip(scores, scores[1:]))


def test_ssim_symmetric_and_data_range():
    a = RNG.random((24, 24))
    b = np.clip(a + 0.1 * RNG.standard_normal(a.shape), 0, 1)
    assert ssim(a, b) == pytest.approx(ssim(b, a), abs=1e-12)
    assert ssim(a * 255, b * 255, data_range=255.0) == pytest.approx(ssim(a, b), abs=1e-9)


def test_ssim_errors():
    with pytest.raises(ValueError):
        ssim(np.zeros((20, 20)), np.zeros((20, 21)))
    with pytest.raises(ValueError):
        ssim(np.zeros((10, 20)), np.zeros((10, 20)))  # smaller than the 11x11 window
    with pytest.raises(ValueError):
        ssim(np.zeros((3, 20, 20)), np.zeros((3, 20, 20)))
    with pytest.raises(ValueError):
        ssim(np.zeros((20, 20)), np.zeros((20, 20)), data_range=0)


# ------------------------------------------------------------------------ score_samples


def _samples(n=3, h=24, w=20, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        frames = rng.random((7, h, w, 3), dtype=np.float32)
        out.append((frames.mean(axis=0), frames))
    return out


def test_score_samples_perfect_predictor_and_input_row():
    samples = _samples()
    truth = {id(b): np.stack([rgb_to_y(f) for f in fr]) for b, fr in samples}
    calls = []

    def oracle(y):  # returns the true luma frames of the batch it is given
        calls.append(y.shape)
        return np.stack([truth[id(b)] for b, _ in samples[: y.shape[0]]])

    scores = score_samples(oracle, samples, batch_size=8)
    assert calls == [(3, 1, 24, 20)]
    assert scores["samples"] == 3 and scores["reversed_share"] == 0
    assert scores["psnr_frames"] == [float("inf")] * 7
    assert scores["ssim_frames"] == [1.0] * 7 and scores["ssim_middle"] == 1.0
    # The INPUT row is the blur's luma against each frame, computed independently here.
    expected = np.mean([frame_psnrs(rgb_to_y(b), np.stack([rgb_to_y(f) for f in fr]))[0]
                        for b, fr in samples], axis=0)
    np.testing.assert_allclose(scores["input_frames"], expected, atol=1e-4)
    assert scores["input_middle"] == pytest.approx(expected[3], abs=1e-4)
    assert scores["input_ssim_mean"] < 1


def test_score_samples_reversed_prediction_counts_and_scores_the_same():
    samples = _samples(n=2)
    lumas = [np.stack([rgb_to_y(f) for f in fr]) for _, fr in samples]
    forward = score_samples(lambda y: np.stack(lumas) * 0.9, samples)
    backward = score_samples(lambda y: np.stack(lumas)[:, ::-1] * 0.9, samples)
    assert forward["reversed_share"] == 0 and backward["reversed_share"] == 1
    assert forward["psnr_frames"] == backward["psnr_frames"]
    assert forward["ssim_frames"] == backward["ssim_frames"]


def test_score_samples_clips_and_checks_shapes():
    samples = _samples(n=1)
    luma = np.stack([rgb_to_y(f) for f in samples[0][1]])[None]
    assert score_samples(lambda y: luma + 5.0 * (luma > 2), samples)["psnr_mean"] == np.inf
    clipped = score_samples(lambda y: np.full_like(luma, 7.0), samples)
    ones = score_samples(lambda y: np.ones_like(luma), samples)
    assert clipped["psnr_frames"] == ones["psnr_frames"]
    with pytest.raises(ValueError, match="expected"):
        score_samples(lambda y: luma[:, :3], samples)
    with pytest.raises(ValueError, match="at least one"):
        score_samples(lambda y: y, [])
