"""Tests of blurvid.color: BT.601 full-range YCbCr, luma merge, gamma."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from blurvid.color import (GAMMA, STANDARD, from_linear, merge_y, rgb_to_y, rgb_to_ycbcr,
                           to_linear, ycbcr_to_rgb)

RNG = np.random.default_rng(7)


@pytest.mark.parametrize("dtype, atol", [(np.float32, 1e-5), (np.float64, 1e-12)])
def test_round_trip(dtype, atol):
    rgb = RNG.random((5, 17, 13, 3)).astype(dtype)
    ycc = rgb_to_ycbcr(rgb)
    assert ycc.dtype == dtype and ycc.shape == rgb.shape
    back = ycbcr_to_rgb(ycc)
    assert back.dtype == dtype
    np.testing.assert_allclose(back, rgb, rtol=0, atol=atol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_inverse_round_trip(dtype):
    ycc = RNG.random((40, 3)).astype(dtype)  # any YCbCr maps back and forth (no clipping)
    np.testing.assert_allclose(rgb_to_ycbcr(ycbcr_to_rgb(ycc)), ycc, rtol=0,
                               atol=1e-5 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("rgb, ycc", [
    ((1, 1, 1), (1.0, 0.5, 0.5)),
    ((0, 0, 0), (0.0, 0.5, 0.5)),
    ((1, 0, 0), (0.299, 0.5 - 0.168736, 1.0)),
    ((0, 1, 0), (0.587, 0.5 - 0.331264, 0.5 - 0.418688)),
    ((0, 0, 1), (0.114, 1.0, 0.5 - 0.081312)),
    ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
])
def test_reference_values(rgb, ycc):
    got = rgb_to_ycbcr(np.array(rgb, dtype=np.float64))
    np.testing.assert_allclose(got, ycc, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ycbcr_to_rgb(np.array(ycc, dtype=np.float64)), rgb, atol=1e-9)
    assert rgb_to_y(np.array(rgb, dtype=np.float64)) == pytest.approx(ycc[0], abs=1e-12)


def test_red_cb_value():
    assert rgb_to_ycbcr(np.array([1.0, 0.0, 0.0]))[1] == pytest.approx(0.331264, abs=1e-12)


def test_standard_and_gamma_constants():
    assert "601" in STANDARD
    assert GAMMA == 2.2


def test_rgb_to_y_matches_ycbcr():
    rgb = RNG.random((9, 11, 3))
    np.testing.assert_allclose(rgb_to_y(rgb), rgb_to_ycbcr(rgb)[..., 0], atol=1e-14)
    assert rgb_to_y(rgb.astype(np.float32)).dtype == np.float32


def test_agrees_with_pillow_on_uint8():
    """Pillow's integer JPEG conversion; ours * 255, rounded, is within one level."""
    u = RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    u[0, :8] = [[255, 255, 255], [0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255],
                [128, 128, 128], [255, 255, 0], [0, 255, 255]]
    pil = np.asarray(Image.fromarray(u, "RGB").convert("YCbCr")).astype(int)
    ours = np.rint(rgb_to_ycbcr(u / 255.0) * 255).astype(int)
    assert np.abs(pil - ours).max() <= 1


def test_merge_y_shapes_and_clip():
    rgb = RNG.random((6, 8, 3)).astype(np.float32)
    ycc = rgb_to_ycbcr(rgb)
    # one frame: identity on the source's own luma
    one = merge_y(ycc[..., 0], ycc)
    assert one.shape == (6, 8, 3) and one.dtype == np.float32
    np.testing.assert_allclose(one, rgb, atol=1e-5)
    # a stack of frames, with out-of-range luma: clipped to [0, 1]
    y = np.stack([ycc[..., 0], np.full((6, 8), 2.0, np.float32), np.full((6, 8), -1.0,
                                                                          np.float32)])
    out = merge_y(y, ycc)
    assert out.shape == (3, 6, 8, 3)
    assert out.min() >= 0.0 and out.max() <= 1.0
    np.testing.assert_allclose(out[0], rgb, atol=1e-5)
    np.testing.assert_allclose(out[1], 1.0)
    np.testing.assert_allclose(out[2], 0.0)
    # every frame keeps the source's chroma (where nothing was clipped)
    mid = merge_y(np.full((2, 6, 8), 0.5, np.float32), rgb_to_ycbcr(np.full((6, 8, 3), 0.5,
                                                                             np.float32)))
    np.testing.assert_allclose(rgb_to_ycbcr(mid)[..., 1:], 0.5, atol=1e-6)


def test_merge_y_size_mismatch():
    with pytest.raises(ValueError):
        merge_y(np.zeros((2, 5, 5)), np.zeros((5, 6, 3)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linear_round_trip(dtype):
    x = RNG.random((100,)).astype(dtype)
    lin = to_linear(x)
    assert lin.dtype == dtype
    np.testing.assert_allclose(from_linear(lin), x, rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=1e-6 if dtype == np.float32 else 1e-12)
    np.testing.assert_allclose(to_linear(np.array([0.0, 0.5, 1.0])), [0.0, 0.5**2.2, 1.0])
    assert to_linear(np.array([-0.2]))[0] == 0.0
    assert from_linear(np.array([-0.2]))[0] == 0.0
    # linear light is darker in the mid-tones
    assert (to_linear(np.array([0.2, 0.5, 0.8])) < [0.2, 0.5, 0.8]).all()


@pytest.mark.parametrize("func", [rgb_to_ycbcr, ycbcr_to_rgb, rgb_to_y])
def test_bad_input(func):
    with pytest.raises(TypeError):
        func(np.zeros((4, 4, 3), dtype=np.uint8))
    with pytest.raises(TypeError):
        func(np.zeros((4, 4, 3), dtype=np.int64))
    with pytest.raises(TypeError):
        func([[0.0, 0.0, 0.0]])
    with pytest.raises(ValueError):
        func(np.zeros((4, 4, 4)))
    with pytest.raises(ValueError):
        func(np.zeros((4, 4)))
    with pytest.raises(ValueError):
        func(np.zeros(()))


@pytest.mark.parametrize("shape", [(7, 13, 17), (9, 4), (1, 1, 1)])
def test_merge_y_float32_fast_path_matches_float64(shape):
    rng = np.random.default_rng(3)
    y = rng.uniform(-0.2, 1.2, shape)  # out of range too: the result is clipped
    ycc = rng.uniform(0, 1, shape[-2:] + (3,))
    reference = merge_y(y, ycc)  # float64: the numpy path
    fast = merge_y(y.astype(np.float32), ycc.astype(np.float32))
    assert fast.dtype == np.float32 and fast.shape == reference.shape
    np.testing.assert_allclose(fast, reference, atol=2e-6)
    assert fast.min() >= 0 and fast.max() <= 1


def test_linear_transforms_write_in_place_when_asked():
    x = np.linspace(-0.2, 1.0, 50, dtype=np.float32)
    expected = to_linear(x)
    assert x[0] == np.float32(-0.2)  # the default leaves the input alone
    buf = x.copy()
    out = to_linear(buf, out=buf)
    assert out is buf
    np.testing.assert_array_equal(buf, expected)
    back = from_linear(buf, out=buf)
    assert back is buf
    np.testing.assert_allclose(back, np.clip(x, 0, None), atol=1e-6)
