"""Tests of blurvid.pipeline: the public extract API, color recombination, reblur."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("onnxruntime")

import blurvid  # noqa: E402
from blurvid.color import rgb_to_ycbcr  # noqa: E402
from blurvid.errors import InputError  # noqa: E402
from blurvid.pipeline import Extractor, as_rgb_float, get_extractor, reblur, reblur_psnr  # noqa: E402

TINY = Path(__file__).parent / "data" / "tiny-fast.onnx"
RNG = np.random.default_rng(8)


@pytest.fixture(scope="module")
def extractor():
    return Extractor(TINY, device="cpu", threads=1, projection="none")


def test_extract_shapes_and_range(extractor):
    image = RNG.random((29, 41, 3), dtype=np.float32)
    frames = extractor.extract(image)
    assert frames.shape == (7, 29, 41, 3) and frames.dtype == np.float32
    assert frames.min() >= 0 and frames.max() <= 1


def test_frames_keep_the_input_chroma(extractor):
    # Mid-grey luma keeps every frame inside the RGB gamut, so no clipping touches the chroma.
    ycc = np.stack([np.full((16, 24), 0.5), RNG.uniform(0.45, 0.55, (16, 24)),
                    RNG.uniform(0.45, 0.55, (16, 24))], -1)
    from blurvid.color import ycbcr_to_rgb

    image = ycbcr_to_rgb(ycc).astype(np.float32)
    frames = extractor.extract(image)
    luma = extractor.luma_frames(rgb_to_ycbcr(image))
    for frame, y in zip(frames, luma):
        out = rgb_to_ycbcr(frame.astype(np.float64))
        inside = (frame > 1e-4).all(-1) & (frame < 1 - 1e-4).all(-1)
        assert inside.mean() > 0.9
        np.testing.assert_allclose(out[..., 0][inside], y[inside], atol=1e-5)
        np.testing.assert_allclose(out[..., 1:][inside], ycc[..., 1:][inside], atol=1e-5)


def test_input_dtypes_agree(extractor):
    u8 = RNG.integers(0, 256, (12, 18, 3), dtype=np.uint8)
    as_float = extractor.extract(u8.astype(np.float32) / 255)
    np.testing.assert_array_equal(extractor.extract(u8), as_float)
    u16 = u8.astype(np.uint16) * 257
    np.testing.assert_allclose(extractor.extract(u16), as_float, atol=1e-6)
    grey = extractor.extract(u8[..., 0])
    np.testing.assert_allclose(grey[..., 0], grey[..., 2], atol=1e-6)
    rgba = np.concatenate([u8, np.zeros((12, 18, 1), np.uint8)], -1)
    np.testing.assert_array_equal(extractor.extract(rgba), as_float)


def test_extract_from_path_matches_array(extractor, tmp_path):
    u8 = RNG.integers(0, 256, (10, 14, 3), dtype=np.uint8)
    path = tmp_path / "p.png"
    cv2.imwrite(str(path), u8[..., ::-1])
    np.testing.assert_array_equal(extractor.extract(path), extractor.extract(u8))
    np.testing.assert_array_equal(extractor.extract(str(path)), extractor.extract(u8))


@pytest.mark.parametrize("bad", [np.zeros((0, 4, 3)), np.zeros((4, 4, 2)), np.zeros((2, 3, 4, 5)),
                                 np.full((4, 4, 3), np.nan), np.zeros((4, 4, 3), np.int32),
                                 [[0.5]]])
def test_bad_arrays(bad):
    with pytest.raises(InputError):
        as_rgb_float(bad)


def test_bad_path(extractor, tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        extractor.extract(tmp_path / "missing.png")


def test_module_level_extract_reuses_one_session():
    image = RNG.random((9, 13, 3), dtype=np.float32)
    first = blurvid.extract(image, model=TINY, device="cpu", threads=1)
    assert get_extractor(TINY, "cpu", 1) is get_extractor(TINY, "cpu", 1)
    np.testing.assert_array_equal(blurvid.extract(image, model=TINY, device="cpu", threads=1),
                                  first)


def test_reblur_of_identical_frames_is_the_frame_and_psnr():
    frame = RNG.random((8, 9, 3)).astype(np.float32)
    np.testing.assert_allclose(reblur(np.stack([frame] * 7)), frame, atol=1e-6)
    assert reblur_psnr(np.stack([frame] * 7), frame) > 100
    # Averaging is in linear light: black and white average to 0.5 ** (1 / 2.2), not 0.5.
    frames = np.stack([np.zeros((2, 2, 3)), np.ones((2, 2, 3))])
    np.testing.assert_allclose(reblur(frames), 0.5 ** (1 / 2.2))


def test_extract_to_files_matches_extract_and_reblur(extractor, tmp_path):
    from blurvid.io import LoadedImage, frame_paths, read_image
    from blurvid.pipeline import extract_to_files

    rgb = RNG.random((37, 29, 3)).astype(np.float32)
    paths = frame_paths(tmp_path, "x")
    done = extract_to_files(extractor, LoadedImage(tmp_path / "x.png", rgb.copy(), 16, ("n",)),
                            paths, tmp_path / "x_sheet.png")
    frames = extractor.extract(rgb)
    assert done["reblur_psnr"] == pytest.approx(reblur_psnr(frames, rgb), abs=1e-3)
    assert (done["width"], done["height"], done["bit_depth"], done["notes"]) == (29, 37, 16, ["n"])
    for path, frame in zip(paths, frames):
        assert np.abs(read_image(path).rgb - frame).max() <= 0.5 / 65535 + 1e-6
    assert read_image(tmp_path / "x_sheet.png").rgb.shape == (37, 8 * 29 + 7 * 4, 3)


@pytest.mark.parametrize("mode", ["lowpass", "exact"])
def test_projection_in_strips_equals_one_pass(mode):
    from blurvid.consistency import project

    image = cv2.GaussianBlur(RNG.random((600, 40, 3), dtype=np.float32), (0, 0), 2)
    plain = Extractor(TINY, device="cpu", threads=1, projection="none")
    projected = Extractor(TINY, device="cpu", threads=1, projection=mode)
    y = rgb_to_ycbcr(image)[..., 0]
    expected = project(plain.luma_frames(rgb_to_ycbcr(image)), y, mode)
    got = projected.luma_frames(rgb_to_ycbcr(image))  # 600 rows: three strips
    np.testing.assert_allclose(got, expected, atol=1e-6)


@pytest.mark.parametrize("mode", ["none", "lowpass", "exact"])
def test_post_processing_on_several_threads_equals_one(mode):
    # 300 rows: five strips of 64 rows, the last one short, spread over three threads.
    image = cv2.GaussianBlur(RNG.random((300, 48, 3), dtype=np.float32), (0, 0), 2)
    one = Extractor(TINY, device="cpu", threads=1, projection=mode).extract(image)
    several = Extractor(TINY, device="cpu", threads=3, projection=mode)
    np.testing.assert_array_equal(several.extract(image), one)
    np.testing.assert_array_equal(several.extract(image), one)  # the pool is reused


def test_an_error_in_a_post_processing_thread_reaches_the_caller():
    extractor = Extractor(TINY, device="cpu", threads=2, projection="none")
    seen = []

    def work(rows):
        seen.append(rows.start)
        if rows.start == 128:
            raise ValueError("strip 128 failed")

    with pytest.raises(ValueError, match="strip 128 failed"):
        extractor._map_strips(work, 300)
    assert sorted(seen) == [0, 64, 128, 192, 256]


def test_exact_projection_passes_the_reblur_check(extractor):
    image = cv2.GaussianBlur(RNG.random((40, 56, 3), dtype=np.float32), (0, 0), 1.5)
    exact = Extractor(TINY, device="cpu", threads=1, projection="exact").extract(image)
    assert reblur_psnr(exact, image) > reblur_psnr(extractor.extract(image), image) + 10
    assert reblur_psnr(exact, image) > 45
    api = blurvid.extract(image, model=TINY, device="cpu", projection="exact")
    np.testing.assert_array_equal(api, exact)
    with pytest.raises(InputError, match="projection must be one of"):
        Extractor(TINY, device="cpu", projection="sharpen")


def test_post_processing_options_share_one_session():
    a = get_extractor(TINY, "cpu", 1, projection="exact", ensemble=1)
    b = get_extractor(TINY, "cpu", 1, projection="none", ensemble=2)
    assert a is not b and a.session is b.session
    assert get_extractor(TINY, "cpu", 1, projection="none", ensemble=2) is b


def test_reblur_psnr_takes_any_image_the_api_takes(tmp_path):
    import cv2

    photo = (RNG.random((12, 16, 3)) * 255).astype(np.uint8)
    frames = np.repeat((photo.astype(np.float32) / 255)[None], 7, axis=0)
    path = tmp_path / "p.png"
    cv2.imwrite(str(path), photo[..., ::-1])
    as_float = blurvid.reblur_psnr(frames, photo.astype(np.float32) / 255)
    assert as_float > 50
    assert blurvid.reblur_psnr(frames, photo) == pytest.approx(as_float)
    assert blurvid.reblur_psnr(frames, path) == pytest.approx(as_float)
    with pytest.raises(InputError, match="photo's size"):
        blurvid.reblur_psnr(frames[:, :5], photo)


def test_a_float_image_outside_0_1_is_refused_not_whitened():
    with pytest.raises(InputError, match=r"\[0, 1\].*divide by 255"):
        blurvid.extract(RNG.random((9, 13, 3), dtype=np.float32) * 255, model=TINY,
                        device="cpu", threads=1)
    slightly = np.clip(RNG.random((9, 13, 3), dtype=np.float32), 0, 1) * (1 + 1e-4)
    assert blurvid.extract(slightly, model=TINY, device="cpu", threads=1).shape == (7, 9, 13, 3)


def test_window_count_is_the_number_of_progress_calls():
    extractor = Extractor(TINY, device="cpu", threads=1, tile=64)
    ycbcr = rgb_to_ycbcr(RNG.random((150, 230, 3), dtype=np.float32))
    calls = []
    extractor.luma_frames(ycbcr, progress=lambda: calls.append(1))
    assert len(calls) == extractor.window_count(150, 230) > 1
    whole = Extractor(TINY, device="cpu", threads=1)
    calls.clear()
    whole.luma_frames(ycbcr, progress=lambda: calls.append(1))
    assert len(calls) == whole.window_count(150, 230) == 1
