"""benchmarks/video_order.py: order accuracy, PSNR and SSIM of a video's frames against the
truth (a stand-in extractor returns the true frames, flipped at random)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from video_order import score_sequence, y_ssim  # noqa: E402

from blurvid.lab.data.sequences import SequenceConfig, sequences_in, write_sequence  # noqa: E402
from tests.fakes import TruthExtractor, texture  # noqa: E402


def _truths(seq):
    return [seq.truth_frames(t) for t in range(len(seq))]


@pytest.fixture(scope="module")
def sequence(tmp_path_factory):
    root = tmp_path_factory.mktemp("seq")
    cfg = SequenceConfig(size=(96, 64), exposures=5, blur_range=(6, 10), subframes_per_frame=1)
    write_sequence(root, "seq_000", texture(200, 300) ** 2.2, seed=3, cfg=cfg)
    return sequences_in(root)[0]


def test_y_ssim_is_the_metrics_ssim_on_luma():
    rng = np.random.default_rng(0)
    a = rng.random((32, 40, 3)).astype(np.float32)
    assert y_ssim(a, a) == pytest.approx(1.0)
    assert y_ssim(a, a[::-1]) < 0.2


def test_psnr_and_ssim_of_the_chosen_order_against_the_truth(sequence):
    flips = [True, False, True, True, False]
    row = score_sequence(sequence, TruthExtractor(_truths(sequence), flips), lags=[2])
    scores = row["by_lag"][2]
    assert scores["right"].all()  # the true frames: the neighbours undo every flip
    # the true frames, 8-bit: near-perfect in the order chosen, so the oracle adds nothing
    assert (scores["chosen_ssim"] > 0.99).all() and (scores["chosen"] > 40).all()
    np.testing.assert_allclose(scores["chosen_ssim"], scores["oracle_ssim"])
    assert len(row["on_frame_ssim"]) == len(row["on_frame"]) > 0
    assert len(row["gap_ssim"]) == len(row["gap"]) == len(row["gap_hold_ssim"]) > 0
    assert min(row["on_frame_ssim"]) > 0.99
    # the flow-filled gap frames are closer to the truth than the nearer sharp frame
    assert np.mean(row["gap_ssim"]) > np.mean(row["gap_hold_ssim"])


def test_a_wrong_order_scores_lower_than_the_oracle(sequence, monkeypatch):
    import video_order

    from blurvid.video import Exposure, oriented_exposures

    def wrong(*args, **kwargs):  # every exposure's order flipped after the choice
        for e in oriented_exposures(*args, **kwargs):
            yield Exposure(e.index, e.frames[::-1].copy(), not e.reversed)

    monkeypatch.setattr(video_order, "oriented_exposures", wrong)
    row = score_sequence(sequence, TruthExtractor(_truths(sequence), [False] * 5), lags=[0])
    scores = row["by_lag"][0]
    assert not scores["right"].any()
    assert (scores["chosen_ssim"] < scores["oracle_ssim"] - 0.05).all()
    assert (scores["chosen"] < scores["oracle"] - 3).all()


def test_blurvid_bench_scores_a_sequence_folder(sequence):
    """The issue's "a layout blurvid bench can score": each exposure of a sequence is a sample
    of the blurvid layout (7 true frames), scored per-frame by the bench's reader."""
    from blurvid.lab.bench import bench_quality
    from blurvid.lab.data.layouts import detect_layout, read_dataset

    folder = sequence.folder
    assert detect_layout(folder) == "blurvid"
    samples = list(read_dataset(folder))
    assert len(samples) == 5 and all(len(s.frames) == 7 for s in samples)
    result = bench_quality(lambda rgb: np.repeat(rgb[None], 7, axis=0), iter(samples))
    assert result["samples"] == 5
    np.testing.assert_allclose(result["y"]["psnr_mean"], result["y"]["input_mean"], atol=1e-3)
