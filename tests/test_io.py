"""Tests of blurvid.io: decoding, orientation, bad inputs, naming, atomic writes."""

from __future__ import annotations

import errno
from pathlib import Path
import os

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

import blurvid.io as bio
from blurvid.errors import InputError, OutputError, OutputExistsError
from blurvid.io import (IMAGE_SUFFIXES, LoadedImage, check_outputs_free, collect_inputs,
                        contact_sheet, frame_paths, read_image, sheet_path, to_uint, write_image)

RNG = np.random.default_rng(1234)


def _u8(h=24, w=32, c=3):
    return RNG.integers(0, 256, (h, w, c) if c else (h, w), dtype=np.uint8)


def _u16(h=24, w=32, c=3):
    return RNG.integers(0, 65536, (h, w, c) if c else (h, w), dtype=np.uint16)


def _pattern(h=48, w=64):
    """Smooth, strongly asymmetric RGB uint8 image (JPEG-friendly, rotation-revealing)."""
    y, x = np.mgrid[:h, :w]
    img = np.stack([x * 255 // (w - 1), y * 255 // (h - 1), np.full_like(x, 60)], -1)
    img[: h // 3, : w // 4] = (250, 250, 250)  # a bright block in the top-left corner
    return img.astype(np.uint8)


def _imwrite(path, bgr_or_grey):
    ok, buf = cv2.imencode(path.suffix, bgr_or_grey)
    assert ok
    path.write_bytes(buf.tobytes())


def _no_temp_files(folder):
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")] == []


def _one_line_naming(exc_info, path):
    msg = str(exc_info.value)
    assert "\n" not in msg
    assert str(path) in msg
    return msg


# ------------------------------------------------------------------------ round trips


def test_png_8bit_round_trip(tmp_path):
    u = _u8()
    p = tmp_path / "a.png"
    write_image(p, u / 255.0)
    img = read_image(p)
    assert isinstance(img, LoadedImage)
    assert img.path == p
    assert img.bit_depth == 8
    assert img.rgb.dtype == np.float32 and img.rgb.shape == (24, 32, 3)
    assert img.rgb.flags.c_contiguous
    np.testing.assert_array_equal(to_uint(img.rgb, 8), u)
    assert img.notes == ()


def test_png_16bit_round_trip(tmp_path):
    u = _u16()
    p = tmp_path / "a16.png"
    write_image(p, u / 65535.0, bit_depth=16)
    raw = cv2.imdecode(np.fromfile(p, np.uint8), cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint16
    img = read_image(p)
    assert img.bit_depth == 16
    np.testing.assert_array_equal(to_uint(img.rgb, 16), u)


def test_tiff_16bit_round_trip(tmp_path):
    u = _u16()
    p = tmp_path / "a16.tiff"
    write_image(p, u / 65535.0, bit_depth=16)
    img = read_image(p)
    assert img.bit_depth == 16
    np.testing.assert_array_equal(to_uint(img.rgb, 16), u)


def test_channel_order_is_rgb(tmp_path):
    p = tmp_path / "red.png"
    bgr = np.zeros((4, 4, 3), np.uint8)
    bgr[..., 2] = 255  # red in OpenCV's BGR order
    _imwrite(p, bgr)
    rgb = read_image(p).rgb
    np.testing.assert_array_equal(rgb[0, 0], [1.0, 0.0, 0.0])


def test_jpeg_is_written_8bit_even_if_16_asked(tmp_path):
    u = _pattern()
    p = tmp_path / "a.jpg"
    write_image(p, u / 255.0, bit_depth=16, jpeg_quality=98)
    img = read_image(p)
    assert img.bit_depth == 8
    assert np.abs(to_uint(img.rgb, 8).astype(int) - u).mean() < 2.0


@pytest.mark.parametrize("depth", [8, 16])
def test_grey_input(tmp_path, depth):
    g = _u8(c=0) if depth == 8 else _u16(c=0)
    p = tmp_path / f"grey{depth}.png"
    _imwrite(p, g)
    img = read_image(p)
    assert img.rgb.shape == (24, 32, 3)
    assert img.bit_depth == depth
    for ch in range(3):
        np.testing.assert_array_equal(to_uint(img.rgb[..., ch], depth), g)
    assert any("greyscale" in n for n in img.notes)


def test_write_grey_array(tmp_path):
    g = _u8(c=0)
    p = tmp_path / "g.png"
    write_image(p, g / 255.0)
    raw = cv2.imdecode(np.fromfile(p, np.uint8), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(raw, g)


@pytest.mark.parametrize("depth", [8, 16])
def test_rgba_input_drops_alpha(tmp_path, depth):
    bgra = _u8(c=4) if depth == 8 else _u16(c=4)
    p = tmp_path / "rgba.png"
    _imwrite(p, bgra)
    img = read_image(p)
    assert img.rgb.shape == (24, 32, 3)
    assert img.bit_depth == depth
    np.testing.assert_array_equal(to_uint(img.rgb, depth), bgra[..., 2::-1])
    assert "alpha channel dropped" in img.notes


def test_grey_alpha_input(tmp_path):
    la = _u8(c=2)
    p = tmp_path / "la.png"
    Image.fromarray(la, "LA").save(p)
    img = read_image(p)
    for ch in range(3):
        np.testing.assert_array_equal(to_uint(img.rgb[..., ch], 8), la[..., 0])
    assert "alpha channel dropped" in img.notes
    assert any("greyscale" in n for n in img.notes)


def test_non_ascii_file_name(tmp_path):
    u = _u8()
    p = tmp_path / "фото 日本 ü.png"
    write_image(p, u / 255.0)
    assert p.exists()
    img = read_image(str(p))
    np.testing.assert_array_equal(to_uint(img.rgb, 8), u)


# ------------------------------------------------------------------------ EXIF orientation


def _save_with_orientation(path, rgb, orientation, fmt, **kw):
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(rgb).save(path, fmt, exif=exif, **kw)


@pytest.mark.parametrize("orientation, turn", [(6, lambda a: np.rot90(a, -1)),
                                               (3, lambda a: a[::-1, ::-1])])
def test_jpeg_exif_orientation(tmp_path, orientation, turn):
    src = _pattern()
    p = tmp_path / f"o{orientation}.jpg"
    _save_with_orientation(p, src, orientation, "JPEG", quality=95)
    img = read_image(p)
    expected = turn(src)
    assert img.rgb.shape == expected.shape
    diff = np.abs(to_uint(img.rgb, 8).astype(int) - expected)
    assert diff.mean() < 2.0 and np.percentile(diff, 99) < 12
    # and the same as Pillow's own upright decode
    with Image.open(p) as im:
        upright = np.asarray(ImageOps.exif_transpose(im).convert("RGB")).astype(int)
    assert np.abs(to_uint(img.rgb, 8).astype(int) - upright).max() <= 3
    assert f"EXIF orientation {orientation} applied" in img.notes


@pytest.mark.parametrize("orientation", range(1, 9))
def test_all_orientations_match_pillow(tmp_path, orientation):
    src = _u8(10, 14)  # lossless PNG (eXIf chunk): exact comparison
    p = tmp_path / f"o{orientation}.png"
    _save_with_orientation(p, src, orientation, "PNG")
    with Image.open(p) as im:
        upright = np.asarray(ImageOps.exif_transpose(im))
    img = read_image(p)
    np.testing.assert_array_equal(to_uint(img.rgb, 8), upright)


def test_tiff_orientation_not_applied_twice(tmp_path):
    src = _pattern(20, 30)
    p = tmp_path / "o3.tif"
    Image.fromarray(src).save(p, "TIFF", tiffinfo={0x0112: 3})
    np.testing.assert_array_equal(to_uint(read_image(p).rgb, 8), src[::-1, ::-1])
    p6 = tmp_path / "o6.tif"
    Image.fromarray(src).save(p6, "TIFF", tiffinfo={0x0112: 6})
    np.testing.assert_array_equal(to_uint(read_image(p6).rgb, 8), np.rot90(src, -1))


# ------------------------------------------------------------------------ bad inputs


def test_missing_file(tmp_path):
    p = tmp_path / "nope.jpg"
    with pytest.raises(InputError, match="does not exist") as e:
        read_image(p)
    _one_line_naming(e, p)


def test_directory(tmp_path):
    with pytest.raises(InputError, match="folder") as e:
        read_image(tmp_path)
    _one_line_naming(e, tmp_path)


def test_zero_size(tmp_path):
    p = tmp_path / "empty.png"
    p.touch()
    with pytest.raises(InputError, match="empty") as e:
        read_image(p)
    _one_line_naming(e, p)


def test_text_file_named_jpg(tmp_path):
    p = tmp_path / "notes.jpg"
    p.write_text("this is not a picture\n" * 20)
    with pytest.raises(InputError, match="not an image") as e:
        read_image(p)
    _one_line_naming(e, p)


def test_random_bytes(tmp_path):
    p = tmp_path / "noise.png"
    p.write_bytes(RNG.integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(InputError) as e:
        read_image(p)
    _one_line_naming(e, p)


@pytest.mark.parametrize("suffix, fraction", [(".jpg", 0.5), (".jpg", 0.97), (".png", 0.5),
                                              (".png", 0.97)])
def test_truncated(tmp_path, suffix, fraction):
    ok, buf = cv2.imencode(suffix, _pattern(120, 160)[..., ::-1])
    data = buf.tobytes()
    p = tmp_path / f"cut{suffix}"
    p.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(InputError, match="truncated|corrupt|not an image") as e:
        read_image(p)
    _one_line_naming(e, p)


def test_png_with_corrupt_data(tmp_path):
    ok, buf = cv2.imencode(".png", _pattern(120, 160))
    data = bytearray(buf.tobytes())
    mid = len(data) // 2
    data[mid : mid + 64] = bytes(64)  # breaks the IDAT stream and its CRC
    p = tmp_path / "bad.png"
    p.write_bytes(bytes(data))
    with pytest.raises(InputError) as e:
        read_image(p)
    _one_line_naming(e, p)


def test_unreadable_file(tmp_path, monkeypatch):
    p = tmp_path / "locked.png"
    write_image(p, _u8() / 255.0)

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(p))

    # works as root too (where chmod 000 would not stop reading)
    monkeypatch.setattr(bio, "open", denied, raising=False)
    with pytest.raises(InputError, match="permission denied") as e:
        read_image(p)
    _one_line_naming(e, p)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a non-root POSIX user")
def test_unreadable_file_chmod(tmp_path):
    p = tmp_path / "locked.png"
    write_image(p, _u8() / 255.0)
    p.chmod(0)
    try:
        with pytest.raises(InputError, match="permission denied"):
            read_image(p)
    finally:
        p.chmod(0o644)


def test_broken_symlink(tmp_path):
    p = tmp_path / "link.png"
    try:
        p.symlink_to(tmp_path / "gone.png")
    except OSError:
        pytest.skip("symlinks not available")
    with pytest.raises(InputError, match="symbolic link"):
        read_image(p)


# ------------------------------------------------------------------------ collect_inputs


def _touch_image(path):
    write_image(path, _u8(4, 4) / 255.0)
    return path


def test_collect_folder_sorted_non_recursive_with_notes(tmp_path):
    d = tmp_path / "photos"
    d.mkdir()
    for name in ["b.png", "a.JPG", "c.tiff"]:
        (d / name).write_bytes(b"x")  # contents are read_image's business, not collect's
    (d / "readme.txt").write_text("hi")
    (d / ".DS_Store").write_bytes(b"")
    (d / "sub").mkdir()
    (d / "sub" / "deep.png").write_bytes(b"x")
    files, notes = collect_inputs([d])
    assert [f.name for f in files] == ["a.JPG", "b.png", "c.tiff"]
    assert all(f.parent == d for f in files)
    assert any("readme.txt" in n for n in notes)
    assert any("sub" in n for n in notes)
    assert not any("DS_Store" in n for n in notes)
    assert not any("deep.png" in str(f) for f in files)


def test_collect_mixed_files_duplicates_order(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    x = _touch_image(d / "x.png")
    _touch_image(d / "y.png")
    odd = tmp_path / "photo.unknown"
    odd.write_bytes(b"x")
    files, notes = collect_inputs([odd, str(x), d, tmp_path / "d" / ".." / "d" / "x.png"])
    assert files == [odd, x, d / "y.png"]
    assert notes == []


def test_collect_missing_path(tmp_path):
    p = tmp_path / "missing"
    with pytest.raises(InputError, match="does not exist") as e:
        collect_inputs([p])
    _one_line_naming(e, p)


def test_collect_folder_without_images(tmp_path):
    d = tmp_path / "docs"
    d.mkdir()
    (d / "a.txt").write_text("a")
    with pytest.raises(InputError, match="contains no images") as e:
        collect_inputs([d])
    msg = _one_line_naming(e, d)
    assert ".jpg" in msg and ".png" in msg


def test_collect_empty_folder(tmp_path):
    with pytest.raises(InputError, match="contains no images"):
        collect_inputs([tmp_path])


def test_image_suffixes():
    assert set(IMAGE_SUFFIXES) == {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp"}


# ------------------------------------------------------------------------ naming


def test_frame_paths_naming(tmp_path):
    paths = frame_paths(tmp_path, "shot", "png")
    assert [p.name for p in paths] == [f"shot_0{i}.png" for i in range(1, 8)]
    assert all(p.parent == tmp_path for p in paths)
    assert frame_paths(tmp_path, "shot", "jpg", count=3)[-1] == tmp_path / "shot_03.jpg"
    assert frame_paths(tmp_path, "shot", "jpeg", count=1) == [tmp_path / "shot_01.jpg"]
    assert len(frame_paths(tmp_path, "s", "png", count=12)) == 12
    assert sheet_path(tmp_path, "shot", "png") == tmp_path / "shot_sheet.png"


@pytest.mark.parametrize("stem, expected", [
    ("../evil", "evil"),
    ("../../etc/passwd", "passwd"),
    ("/abs/path/x", "x"),
    ("a\\..\\b", "b"),
    ("dir/", "dir"),
    ("", "image"),
    (".", "image"),
    ("..", "image"),
    ("../", "image"),
    ("ok name.v2", "ok name.v2"),
])
def test_frame_paths_sanitise(tmp_path, stem, expected):
    out = tmp_path / "out"
    for p in frame_paths(out, stem, "png") + [sheet_path(out, stem, "jpg")]:
        assert p.parent == out
        assert p.name.startswith(expected + "_")
        assert os.path.realpath(p).startswith(os.path.realpath(out) + os.sep)


def test_frame_paths_bad_format(tmp_path):
    with pytest.raises(InputError, match="png or jpg"):
        frame_paths(tmp_path, "a", "gif")
    with pytest.raises(InputError):
        sheet_path(tmp_path, "a", "tif")


def test_check_outputs_free(tmp_path):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    check_outputs_free([a, b], force=False)
    b.write_bytes(b"x")
    with pytest.raises(OutputExistsError) as e:
        check_outputs_free([a, b], force=False)
    assert str(e.value) == f"{b} already exists; use --force to overwrite it"
    check_outputs_free([a, b], force=True)
    with pytest.raises(OutputError):
        check_outputs_free([tmp_path], force=True)


# ------------------------------------------------------------------------ writing


def test_to_uint_rounding_and_clipping():
    x = np.array([-1.0, 0.0, 0.4 / 255, 0.6 / 255, 0.5, 1.0, 2.0, np.nan])
    np.testing.assert_array_equal(to_uint(x, 8), [0, 0, 0, 1, 128, 255, 255, 0])
    assert to_uint(x, 8).dtype == np.uint8
    y = to_uint(np.array([0.5, 1.0]), 16)
    assert y.dtype == np.uint16 and list(y) == [32768, 65535]
    with pytest.raises(ValueError):
        to_uint(x, 12)
    with pytest.raises(TypeError):
        to_uint(np.array([1, 2]), 8)


def test_write_clips(tmp_path):
    p = tmp_path / "c.png"
    write_image(p, np.array([[[-0.5, 0.5, 1.5]]]))
    np.testing.assert_allclose(read_image(p).rgb[0, 0], [0.0, 128 / 255, 1.0], rtol=1e-6)


def test_write_is_atomic_and_leaves_no_temp(tmp_path):
    out = tmp_path / "new" / "deeper"  # parents are created
    p = out / "x_01.png"
    write_image(p, _u8() / 255.0)
    assert p.is_file()
    assert _no_temp_files(out)
    # overwriting an existing file goes through the same path
    write_image(p, np.zeros((5, 5, 3)))
    assert read_image(p).rgb.shape == (5, 5, 3)
    assert _no_temp_files(out)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_written_file_respects_umask(tmp_path):
    old = os.umask(0o022)
    try:
        p = tmp_path / "m.png"
        write_image(p, np.zeros((2, 2, 3)))
    finally:
        os.umask(old)
    assert p.stat().st_mode & 0o777 == 0o644


def test_write_parent_is_a_file(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    p = blocker / "x_01.png"
    with pytest.raises(OutputError) as e:
        write_image(p, np.zeros((4, 4, 3)))
    _one_line_naming(e, p)
    deeper = blocker / "sub" / "x_01.png"
    with pytest.raises(OutputError):
        write_image(deeper, np.zeros((4, 4, 3)))
    assert sorted(q.name for q in tmp_path.iterdir()) == ["file.txt"]


def test_write_failure_mid_write_keeps_old_file_and_no_temp(tmp_path, monkeypatch):
    p = tmp_path / "x_01.png"
    write_image(p, np.ones((4, 4, 3)))
    before = p.read_bytes()

    def full_disk(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(bio.os, "fsync", full_disk)
    with pytest.raises(OutputError) as e:
        write_image(p, np.zeros((4, 4, 3)))
    msg = _one_line_naming(e, p)
    assert msg == f"cannot write {p}: {os.strerror(errno.ENOSPC)}"
    monkeypatch.undo()
    assert p.read_bytes() == before
    assert _no_temp_files(tmp_path)
    assert [q.name for q in tmp_path.iterdir()] == ["x_01.png"]


@pytest.mark.parametrize("workers", [1, 3])
def test_write_images_is_all_or_nothing(tmp_path, monkeypatch, workers):
    paths = [tmp_path / f"f_{i:02d}.png" for i in range(1, 8)]
    frames = [np.full((4, 5, 3), i / 10) for i in range(7)]
    # An image that cannot be encoded stops the group before any file is written.
    with pytest.raises(ValueError):
        bio.write_images(paths, frames[:6] + [np.zeros((4, 5, 2))], workers=workers)
    assert list(tmp_path.iterdir()) == []

    # A full disk on the 4th file removes the 3 already written, and leaves no temp file.
    real_fsync, calls = os.fsync, []

    def fsync_fails_on_fourth(fd):
        calls.append(fd)
        if len(calls) == 4:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(bio.os, "fsync", fsync_fails_on_fourth)
    monkeypatch.setattr(bio, "_fsync_dir", lambda folder: None)
    # (On threads the 4th fsync may be another file's.)
    with pytest.raises(OutputError, match="f_04.png" if workers == 1 else "cannot write"):
        bio.write_images(paths, frames, workers=workers)
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []

    bio.write_images(paths, frames, bit_depth=16, workers=workers)
    assert sorted(p.name for p in tmp_path.iterdir()) == [p.name for p in paths]
    for i, path in enumerate(paths):  # each image went to its own path
        assert read_image(path).rgb[0, 0, 0] == pytest.approx(i / 10, abs=1e-4)
    with pytest.raises(ValueError, match="7 paths for 6 images"):
        bio.write_images(paths, frames[:6], workers=workers)
    with pytest.raises(ValueError, match="more images than the 7 paths"):
        bio.write_images(paths, frames + frames[:1], workers=workers)
    with pytest.raises(ValueError, match="workers must be"):
        bio.write_images(paths, frames, workers=0)


@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_during_a_group_leaves_nothing(tmp_path, workers):
    paths = [tmp_path / f"f_{i}.png" for i in range(3)]

    def frames():
        yield np.zeros((4, 4, 3))
        yield np.ones((4, 4, 3))
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        bio.write_images(paths, frames(), workers=workers)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_as_a_temporary_file_is_made_leaves_nothing(tmp_path, monkeypatch, workers):
    """Ctrl-C between a temporary file's creation and its caller taking it (the race a real
    SIGINT hits now and then): it is removed all the same, and so is the folder the write
    made; a folder that existed stays."""
    real = bio._write_temp

    def interrupted(*args, **kwargs):
        real(*args, **kwargs)
        raise KeyboardInterrupt  # as the file is handed back

    monkeypatch.setattr(bio, "_write_temp", interrupted)
    with pytest.raises(KeyboardInterrupt):
        bio.write_images([tmp_path / "new" / "deeper" / "f_1.png"], [np.zeros((4, 4, 3))],
                         workers=workers)
    with pytest.raises(KeyboardInterrupt):
        bio.write_bytes_atomic(tmp_path / "t.json", b"{}")
    (tmp_path / "kept").mkdir()
    with pytest.raises(KeyboardInterrupt):
        bio.write_images([tmp_path / "kept" / "f_1.png"], [np.zeros((4, 4, 3))])
    assert [p.name for p in tmp_path.rglob("*")] == ["kept"]


@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES, errno.ENOENT])
def test_check_writable_names_the_output_and_the_true_reason(tmp_path, monkeypatch, code):
    """The user's output (a file, a folder, a folder still to be made) and the file system's
    reason; never blurvid's probe file, never "permission denied" for a read-only mount."""
    mount = tmp_path / "mount"
    mount.mkdir()
    real_open = bio.os.open

    def refuse(path, *args, **kwargs):  # what a read-only mount does (root ignores chmod)
        if str(path).startswith(str(mount)):
            raise OSError(code, os.strerror(code), str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(bio.os, "open", refuse)
    reason = os.strerror(code)
    for folder, output, message in [
        (mount, mount / "c.mp4", f"cannot write {mount / 'c.mp4'}: cannot create files in "
                                 f"{mount}: {reason}"),
        (mount, None, f"cannot write {mount}: {reason}"),
        (mount / "new" / "frames", None, f"cannot write {mount / 'new' / 'frames'}: cannot "
                                         f"create a folder in {mount}: {reason}"),
        (mount / "new", mount / "new" / "c.mp4", f"cannot write {mount / 'new' / 'c.mp4'}: "
                                                 f"cannot create a folder in {mount}: {reason}"),
    ]:
        with pytest.raises(OutputError) as e:
            bio.check_writable(folder, output)
        assert str(e.value) == message
    monkeypatch.undo()
    bio.check_writable(mount / "new", mount / "new" / "c.mp4")  # a writable one passes
    assert list(tmp_path.rglob("*")) == [mount]  # and nothing is left


def test_huge_dimensions_refused_before_decoding(tmp_path):
    import struct
    import zlib

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    # Valid PNG headers claiming 12000 x 10000 (120 MP) and 20000 x 20000 (400 MP) pixels.
    for w, h, needle in ((12000, 10000, "12000x10000 (120 megapixels)"),
                         (20000, 20000, "too large: 400 megapixels"),
                         (100000, 100000, "too large: 10,000 megapixels")):
        header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
        png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) \
            + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
        path = tmp_path / f"huge{w}.png"
        path.write_bytes(png)
        with pytest.raises(InputError) as e:
            read_image(path)
        msg = _one_line_naming(e, path)
        assert needle in msg and "up to 100 megapixels" in msg


def test_write_over_a_folder(tmp_path):
    d = tmp_path / "x_01.png"
    d.mkdir()
    with pytest.raises(OutputError):
        write_image(d, np.zeros((4, 4, 3)))
    assert _no_temp_files(tmp_path)


def test_write_unsupported_suffix(tmp_path):
    with pytest.raises(OutputError, match="unsupported"):
        write_image(tmp_path / "x.gif", np.zeros((4, 4, 3)))
    assert list(tmp_path.iterdir()) == []


def test_write_bad_arguments(tmp_path):
    with pytest.raises(ValueError):
        write_image(tmp_path / "x.png", np.zeros((4, 4, 2)))
    with pytest.raises(ValueError):
        write_image(tmp_path / "x.png", np.zeros((4, 4, 3)), bit_depth=12)
    with pytest.raises(ValueError):
        write_image(tmp_path / "x.jpg", np.zeros((4, 4, 3)), jpeg_quality=101)


def test_jpeg_quality_changes_size(tmp_path):
    img = _u8(64, 64) / 255.0
    write_image(tmp_path / "lo.jpg", img, jpeg_quality=20)
    write_image(tmp_path / "hi.jpg", img, jpeg_quality=95)
    assert (tmp_path / "lo.jpg").stat().st_size < (tmp_path / "hi.jpg").stat().st_size
    with Image.open(tmp_path / "hi.jpg") as im:
        assert im.format == "JPEG"


# ------------------------------------------------------------------------ contact sheet


def test_contact_sheet():
    imgs = [np.zeros((10, 7, 3), np.float32) for _ in range(8)]
    sheet = contact_sheet(imgs, gap=4)
    assert sheet.shape == (10, 8 * 7 + 7 * 4, 3)
    assert sheet.dtype == np.float32
    assert (sheet[:, 7:11] == 1.0).all()  # white gap
    assert (sheet[:, :7] == 0.0).all() and (sheet[:, 11:18] == 0.0).all()
    assert contact_sheet(imgs[:1]).shape == (10, 7, 3)
    assert contact_sheet(imgs, gap=0).shape == (10, 56, 3)


def test_contact_sheet_mixed_widths_and_grey():
    sheet = contact_sheet([np.zeros((5, 3, 3)), np.full((5, 6), 0.25)], gap=2)
    assert sheet.shape == (5, 11, 3)
    assert (sheet[:, 5:] == 0.25).all()
    u = contact_sheet([np.zeros((2, 2, 3), np.uint8)] * 2, gap=1)
    assert u.dtype == np.uint8 and (u[:, 2] == 255).all()


def test_contact_sheet_errors():
    with pytest.raises(ValueError):
        contact_sheet([])
    with pytest.raises(ValueError):
        contact_sheet([np.zeros((5, 3, 3)), np.zeros((6, 3, 3))])


def test_sheet_written_round_trip(tmp_path):
    frames = [RNG.random((12, 9, 3)).astype(np.float32) for _ in range(8)]
    p = sheet_path(tmp_path, "shot", "png")
    write_image(p, contact_sheet(frames))
    assert read_image(p).rgb.shape == (12, 8 * 9 + 7 * 4, 3)


def test_photos_in_names_the_option(tmp_path):
    from blurvid.io import photos_in

    with pytest.raises(InputError, match="--images is required"):
        photos_in(None, "--images")
    with pytest.raises(InputError, match="--images .*: not a folder"):
        photos_in(tmp_path / "none", "--images")
    with pytest.raises(InputError, match="--calib-images .*: no photos"):
        photos_in(tmp_path, "--calib-images")
    (tmp_path / "b.png").write_bytes(b"x")
    (tmp_path / "a.JPG").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("x")
    assert [p.name for p in photos_in(tmp_path, "--images")] == ["a.JPG", "b.png"]


def test_grey_in_grey_out_and_an_animation_is_noted(tmp_path):
    """A greyscale photo's frames are written greyscale (one channel, 16 bits kept); a GIF of
    several frames says that its first one is used."""
    from PIL import Image

    from blurvid.pipeline import Extractor, extract_to_files

    grey16 = (np.random.default_rng(2).random((24, 32)) * 65535).astype(np.uint16)
    src = tmp_path / "g.png"
    cv2.imwrite(str(src), grey16)
    image = read_image(src)
    assert image.grey and image.bit_depth == 16
    targets = [tmp_path / f"g_{i}.png" for i in range(1, 8)]
    tiny = Path(__file__).parent / "data" / "tiny-fast.onnx"
    extract_to_files(Extractor(tiny, device="cpu", threads=1), image, targets,
                     tmp_path / "sheet.png")
    frame = cv2.imread(str(targets[3]), cv2.IMREAD_UNCHANGED)
    assert frame.ndim == 2 and frame.dtype == np.uint16 and frame.shape == (24, 32)
    assert cv2.imread(str(tmp_path / "sheet.png")).shape[0] == 24

    frames = [Image.fromarray(np.full((8, 8, 3), v, np.uint8)) for v in (10, 200)]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    assert any("2 frames: the first one is used" in n for n in read_image(tmp_path / "a.gif").notes)


def test_a_video_is_told_from_its_first_bytes():
    from blurvid.io import video_container

    assert video_container(b"\x00\x00\x00\x20ftypisom" + bytes(500)) == "MP4/MOV"
    assert video_container(b"\x00\x00\x00\x18ftypheic" + bytes(500)) is None  # a HEIF photo
    assert video_container(b"\x1a\x45\xdf\xa3" + bytes(500)) == "Matroska/WebM"
    assert video_container(b"RIFF\x00\x00\x00\x00AVI " + bytes(500)) == "AVI"
    gif = bytearray(b"GIF89a" + bytes(500))
    gif[188] = gif[376] = 0x47
    assert video_container(bytes(gif)) is None  # a GIF starts with 0x47 too
    assert video_container(b"\x89PNG\r\n\x1a\n" + bytes(500)) is None
