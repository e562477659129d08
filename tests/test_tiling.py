"""Tests of blurvid.tiling and of tiled extraction (seamless, same as untiled)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from blurvid.tiling import DEFAULT_TILE, auto_tile, ramp, run_tiled, tile_spans

TINY = Path(__file__).parent / "data" / "tiny-fast.onnx"


@pytest.mark.parametrize("length", [1, 5, 64, 65, 100, 1000, 1037])
@pytest.mark.parametrize("tile, overlap, align", [(64, 16, 1), (100, 32, 1), (256, 128, 1),
                                                  (64, 16, 16), (128, 32, 16), (1024, 128, 16)])
def test_spans_cover_everything_with_overlap(length, tile, overlap, align):
    spans = tile_spans(length, tile, overlap, align)
    assert spans[0][0] == 0 and spans[-1][1] == length
    covered = np.zeros(length, int)
    for start, end in spans:
        assert 0 <= start < end <= length and start % align == 0
        assert min(tile, length) <= end - start <= max(min(tile, length), tile + align - 1)
        covered[start:end] += 1
    assert covered.min() >= 1
    for (_, e0), (s1, _) in zip(spans, spans[1:]):
        assert e0 - s1 >= overlap  # neighbours share at least `overlap` pixels


def test_spans_bad_arguments():
    with pytest.raises(ValueError):
        tile_spans(10, 8, 8)
    with pytest.raises(ValueError):
        tile_spans(100, 32, 20, align=16)
    with pytest.raises(ValueError):
        tile_spans(0, 8, 2)


def test_ramp():
    w = ramp(0, 10, 10, 4)
    assert np.all(w == 1)  # a window spanning the image: no ramps
    inner = ramp(10, 20, 40, 4)
    assert inner[0] == pytest.approx(0.5) and inner[-1] == pytest.approx(0.5)
    assert np.all(inner > 0) and inner.max() == 1


def test_run_tiled_of_a_pointwise_function_is_exact():
    """Any pointwise fn gives the same result tiled or not: the weights sum to 1 everywhere."""
    y = np.random.default_rng(0).random((123, 201), dtype=np.float32)
    fn = lambda x: np.concatenate([x * k for k in range(1, 8)], axis=1)  # noqa: E731
    calls = []
    out = run_tiled(lambda x: (calls.append(x.shape), fn(x))[1], y, tile=64, overlap=16)
    assert len({c for c in calls}) > 1  # the last windows are longer (aligned starts)
    assert out.shape == (7, 123, 201) and len(calls) > 4
    np.testing.assert_allclose(out, fn(y[None, None])[0], rtol=1e-5, atol=1e-6)


def test_windows_that_choose_the_other_temporal_order_are_put_back_in_line():
    """A generator may answer one window forward and the next reversed (a blurred photo does
    not say which way time ran); the blend must not mix frame 1 of one with frame 7 of the
    other."""
    y = np.random.default_rng(1).random((130, 200), dtype=np.float32)
    fn = lambda x: np.concatenate([x * k for k in range(1, 8)], axis=1)  # noqa: E731
    count = [0]

    def fickle(x):
        count[0] += 1
        out = fn(x)
        return out[:, ::-1] if count[0] % 2 == 0 else out  # every second window reversed

    out = run_tiled(fickle, y, tile=64, overlap=16)
    assert count[0] > 4
    np.testing.assert_allclose(out, fn(y[None, None])[0], rtol=1e-5, atol=1e-6)


def test_tiled_extraction_matches_untiled():
    pytest.importorskip("onnxruntime")
    from blurvid.color import rgb_to_ycbcr
    from blurvid.pipeline import Extractor

    import cv2

    rng = np.random.default_rng(1)
    image = cv2.GaussianBlur(rng.random((300, 420, 3)).astype(np.float32), (0, 0), 3)
    ycc = rgb_to_ycbcr(image)
    whole = Extractor(TINY, device="cpu", threads=1, tile=0, projection="none").luma_frames(ycc)
    tiled = Extractor(TINY, device="cpu", threads=1, tile=256, projection="none").luma_frames(ycc)
    diff = np.abs(whole - tiled)
    # Aligned windows see the whole image's grid; differences come only from the context a
    # window lacks near its inner edges, which the blend weights down: no seams.
    assert diff.mean() < 1e-3 and diff.max() < 0.05


def test_extractor_rejects_bad_tile():
    pytest.importorskip("onnxruntime")
    from blurvid.errors import InputError
    from blurvid.pipeline import Extractor

    for bad in (-1, 10, 1.5):
        with pytest.raises(InputError, match="tile"):
            Extractor(TINY, device="cpu", tile=bad)


def test_auto_tile_by_size_and_architecture():
    assert auto_tile(1000, 1000, "paper") == 0  # 1.0 MP: one run
    assert auto_tile(1200, 1000, "paper") == DEFAULT_TILE  # the full-resolution network tiles
    assert auto_tile(1200, 1000, "fast") == 0
    assert auto_tile(2000, 2000, "fast") == 0 and auto_tile(2100, 2000, "fast") == DEFAULT_TILE
    assert auto_tile(2100, 2000, None) == DEFAULT_TILE  # a model without metadata: as fast


def test_each_result_keeps_the_jobs_order_on_threads_or_in_turn():
    from blurvid.tiling import each_result

    jobs = [(3, 1), (0, 2), (5, 5)]
    for threads in (1, 2, 4):
        assert list(each_result(lambda j: j[0] * j[1], jobs, threads)) == [
            ((3, 1), 3), ((0, 2), 0), ((5, 5), 25)]
    assert list(each_result(lambda j: j, [], 2)) == []
