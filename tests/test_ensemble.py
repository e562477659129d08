"""Tests of blurvid.ensemble: the 8 transforms, order alignment, the averaged run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from blurvid.ensemble import (ENSEMBLE_SIZES, TRANSFORMS, align_order, consensus_average,
                              dihedral, dihedral_inverse, ensemble_run)

RNG = np.random.default_rng(21)


def test_transforms_are_eight_distinct_and_invert():
    a = RNG.random((2, 1, 5, 6), dtype=np.float32)
    seen = []
    for index in range(8):
        t = dihedral(a, index)
        assert t.shape == ((2, 1, 6, 5) if TRANSFORMS[index][2] else a.shape)
        np.testing.assert_array_equal(dihedral_inverse(t, index), a)
        seen.append(t.tobytes())
    assert len(set(seen)) == 8
    # Rotations first (ensembles of 2 and 4 use no mirror image), then the mirror images.
    for index, turns in zip(range(4), (0, 2, 1, 3)):
        np.testing.assert_array_equal(dihedral(a, index), np.rot90(a, turns, axes=(-2, -1)))
    np.testing.assert_array_equal(dihedral(a, 4), a[..., ::-1])
    np.testing.assert_array_equal(dihedral(a, 5), a[..., ::-1, :])
    np.testing.assert_array_equal(dihedral(a, 6), np.swapaxes(a, -1, -2))
    with pytest.raises(ValueError, match="0..7"):
        dihedral(a, 8)
    with pytest.raises(ValueError, match="0..7"):
        dihedral_inverse(a, -1)


def test_align_order_reverses_only_when_closer():
    ref = RNG.random((7, 4, 4), dtype=np.float32)
    np.testing.assert_array_equal(align_order(ref[::-1] + 0.01, ref), ref + 0.01)
    np.testing.assert_array_equal(align_order(ref + 0.01, ref), ref + 0.01)
    # Batches: each sample on its own.
    batch = np.stack([ref, ref[::-1]])
    refs = np.stack([ref, ref])
    np.testing.assert_array_equal(align_order(batch, refs), refs)
    with pytest.raises(ValueError, match="same"):
        align_order(ref, ref[:, :3])


def test_consensus_average_mutes_an_outlier_copy():
    truth = RNG.random((7, 6, 6), dtype=np.float32)
    agreeing = np.stack([truth + RNG.normal(0, 0.01, truth.shape).astype(np.float32)
                         for _ in range(7)])
    outlier = 1.0 - truth  # a copy that got it all wrong
    copies = np.concatenate([agreeing, outlier[None]])
    combined = consensus_average(copies)
    assert combined.shape == truth.shape and combined.dtype == np.float32
    assert np.abs(combined - truth).mean() < 0.01  # the plain mean would be off by ~0.04
    assert np.abs(copies.mean(0) - truth).mean() > 0.03
    # Two copies, or copies that agree equally: the plain mean.
    np.testing.assert_allclose(consensus_average(copies[:2]), copies[:2].mean(0), atol=1e-6)
    same = np.stack([truth, truth, truth])
    np.testing.assert_allclose(consensus_average(same), truth, atol=1e-6)
    # Batches: weights per sample.
    batch = np.stack([copies, np.concatenate([outlier[None], agreeing])], axis=1)  # (8, 2, 7, 6, 6)
    out = consensus_average(batch)
    assert out.shape == (2, 7, 6, 6)
    assert np.abs(out[0] - truth).mean() < 0.01 and np.abs(out[1] - truth).mean() < 0.01
    with pytest.raises(ValueError, match="expected copies"):
        consensus_average(truth)


def shift_run(y: np.ndarray) -> np.ndarray:
    """A fake generator: frame k is the input moved (k - 3) px to the right (wrapping), so a
    flipped input gives frames in the other order."""
    x = y[:, 0] if y.ndim == 4 else y
    return np.stack([np.roll(x, k - 3, axis=-1) for k in range(7)], axis=-3)


def test_ensemble_of_a_pointwise_generator_is_that_generator():
    def pointwise(y):  # commutes with every flip and transpose
        x = y[:, 0] if y.ndim == 4 else y
        return np.stack([x * (0.5 + 0.1 * k) for k in range(7)], axis=-3)

    y = RNG.random((9, 11), dtype=np.float32)
    for size in ENSEMBLE_SIZES:
        np.testing.assert_allclose(ensemble_run(pointwise, size)(y), pointwise(y), atol=1e-6)
    batch = RNG.random((2, 1, 9, 11), dtype=np.float32)
    assert ensemble_run(pointwise, 8)(batch).shape == (2, 7, 9, 11)


def test_ensemble_puts_mirrored_answers_in_the_plain_order():
    # Turning the photo 180 degrees reverses the motion: without alignment the average of the
    # plain and the turned run would fold the frames onto each other (frame 1 = frame 7).
    y = RNG.random((8, 16), dtype=np.float32)
    plain = shift_run(y)
    two = ensemble_run(shift_run, 2)(y)
    np.testing.assert_allclose(two, plain, atol=1e-6)
    assert not np.allclose(two[0], two[6])


def test_ensemble_size_is_checked_and_one_is_the_plain_run():
    assert ensemble_run(shift_run, 1) is shift_run
    for bad in (0, 3, 16, True, 2.0):
        with pytest.raises(ValueError, match="ensemble must be one of 1, 2, 4, 8"):
            ensemble_run(shift_run, bad)


def test_extractor_ensemble_runs_the_model_that_many_times():
    pytest.importorskip("onnxruntime")
    from blurvid.errors import InputError
    from blurvid.pipeline import Extractor

    tiny = Path(__file__).parent / "data" / "tiny-fast.onnx"
    image = RNG.random((24, 40, 3), dtype=np.float32)
    plain = Extractor(tiny, device="cpu", threads=1, projection="none")
    eight = Extractor(tiny, device="cpu", threads=1, projection="none", ensemble=8)
    calls = []
    real = eight.session.run
    eight.session.run = lambda y: calls.append(y.shape) or real(y)
    frames = eight.extract(image)
    assert len(calls) == 8 and (40, 24) in calls  # transposed copies too
    assert frames.shape == (7, 24, 40, 3)
    difference = np.abs(frames - plain.extract(image))
    assert difference.max() > 0 and difference.mean() < 0.1
    for bad in (3, 2.0, True):
        with pytest.raises(InputError, match="ensemble must be one of"):
            Extractor(tiny, device="cpu", ensemble=bad)


def test_ensemble_works_window_by_window_when_tiled():
    pytest.importorskip("onnxruntime")
    from blurvid.pipeline import Extractor

    tiny = Path(__file__).parent / "data" / "tiny-fast.onnx"
    image = RNG.random((100, 150, 3), dtype=np.float32)
    tiled = Extractor(tiny, device="cpu", threads=1, tile=64, projection="none", ensemble=4)
    whole = Extractor(tiny, device="cpu", threads=1, tile=0, projection="none", ensemble=4)
    frames = tiled.extract(image)
    assert frames.shape == (7, 100, 150, 3) and np.isfinite(frames).all()
    # Each window combines its own copies (weights, order), so the random tiny model's answer
    # differs from the whole image's more than a plain run's does (~0.04 vs ~0.005 here).
    assert np.abs(frames - whole.extract(image)).mean() < 0.1
