"""Property-based tests (Hypothesis): colour round trips, padding, tiling, the image loader."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from blurvid.color import rgb_to_ycbcr, ycbcr_to_rgb
from blurvid.errors import InputError
from blurvid.tiling import tile_spans

@given(arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(1, 6), st.just(3)),
              elements=st.floats(0, 1, allow_nan=False)))
def test_ycbcr_round_trip(rgb):
    np.testing.assert_allclose(ycbcr_to_rgb(rgb_to_ycbcr(rgb)), rgb, atol=1e-12)


@given(arrays(np.float64, st.tuples(st.integers(1, 5), st.just(3)),
              elements=st.floats(0, 1, allow_nan=False)))
def test_ycbcr_ranges(rgb):
    ycc = rgb_to_ycbcr(rgb)
    assert (ycc >= -1e-12).all() and (ycc <= 1 + 1e-12).all()


@given(st.integers(1, 5000), st.integers(64, 1100), st.integers(0, 200), st.sampled_from([1, 16]))
def test_tiles_cover_each_pixel(length, tile, overlap, align):
    if overlap > tile - align:
        return
    spans = tile_spans(length, tile, overlap, align)
    covered = np.zeros(length, int)
    for start, end in spans:
        assert start % align == 0
        covered[start:end] += 1
    assert covered.min() >= 1
    assert spans[0][0] == 0 and spans[-1][1] == length
    assert all(s1 > s0 for (s0, _), (s1, _) in zip(spans, spans[1:]))  # strictly increasing


@given(st.integers(1, 40), st.integers(1, 40), st.integers(1, 20))
def test_pad_crop_shape_preserved(h, w, multiple):
    torch = pytest.importorskip("torch")
    from blurvid.lab.train.models import pad_to_multiple

    x = torch.rand(1, 1, h, w)
    padded, oh, ow = pad_to_multiple(x, multiple)
    assert padded.shape[-2] % multiple == 0 and padded.shape[-1] % multiple == 0
    assert (oh, ow) == (h, w) and torch.equal(padded[..., :h, :w], x)


def _seed_files():
    import cv2

    img = (np.arange(12 * 16 * 3) % 256).astype(np.uint8).reshape(12, 16, 3)
    return [cv2.imencode(ext, img)[1].tobytes() for ext in (".png", ".jpg", ".bmp", ".tiff", ".webp")]


SEEDS = _seed_files()


@given(st.sampled_from(range(len(SEEDS))), st.lists(st.tuples(st.integers(0, 10_000),
                                                               st.integers(0, 255)), max_size=8),
       st.integers(0, 10_000), st.binary(max_size=64))
def test_loader_fuzz_never_crashes(tmp_path, seed, flips, cut, junk):
    """Mutated image files either decode to a valid image or raise InputError: nothing else."""
    from blurvid.io import read_image

    data = bytearray(SEEDS[seed])
    for pos, value in flips:
        data[pos % len(data)] = value
    data = bytes(data[: max(1, cut)] if cut < len(data) else data) + junk
    path = tmp_path / "fuzz.img"
    path.write_bytes(data)
    try:
        image = read_image(path)
    except InputError as exc:
        event("refused with InputError")
        assert "\n" not in str(exc) and str(path) in str(exc)
    else:
        event("decoded")
        assert image.rgb.ndim == 3 and image.rgb.shape[2] == 3 and image.rgb.dtype == np.float32
        assert np.isfinite(image.rgb).all() and image.rgb.min() >= 0 and image.rgb.max() <= 1
