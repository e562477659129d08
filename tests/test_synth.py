"""Tests of blurvid.lab.data.synth: shapes, ranges, the image-formation identity, determinism."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from blurvid.color import from_linear, to_linear
from blurvid.lab.data.synth import SynthConfig, list_images, load_photo, render, render_set

RNG = np.random.default_rng(11)


def _photo(h=300, w=400):
    """A textured linear-light photo (smooth gradients plus blocks, so motion shows)."""
    y, x = np.mgrid[:h, :w].astype(np.float32)
    img = np.stack([x / w, y / h, 0.5 + 0.5 * np.sin(x / 7) * np.cos(y / 5)], -1)
    img[(x // 32 + y // 32) % 2 == 0] *= 0.3
    return to_linear(img.astype(np.float32))


@pytest.mark.parametrize("size", [32, (48, 24)])
def test_shapes_dtype_range(size):
    cfg = SynthConfig(size=size)
    blur, frames = render(_photo(), np.random.default_rng(0), cfg)
    w, h = (size, size) if isinstance(size, int) else size
    assert blur.shape == (h, w, 3) and frames.shape == (7, h, w, 3)
    assert blur.dtype == frames.dtype == np.float32
    for a in (blur, frames):
        assert a.min() >= 0 and a.max() <= 1
        np.testing.assert_allclose(a * 255, np.round(a * 255), atol=1e-3)  # 8-bit quantized


def test_blur_is_the_linear_light_average_of_the_frames():
    cfg = SynthConfig(size=64, noise_shot=(0, 0), noise_read=(0, 0), quantize=False,
                      blur_range=(20, 30), p_sharp=0.0)
    blur, frames = render(_photo(), np.random.default_rng(1), cfg)
    np.testing.assert_allclose(blur, from_linear(to_linear(frames).mean(axis=0)), atol=1e-5)
    # A real motion: the outer frames differ from each other and from the blur.
    assert np.abs(frames[0] - frames[6]).mean() > 0.01
    assert np.abs(frames[3] - blur).mean() > 0.002


def test_blur_length_grows_the_frame_spread():
    h, w = 300, 400
    y, x = np.mgrid[:h, :w].astype(np.float32)
    ramps = np.stack([x / w, y / h, (x + y) / (w + h)], -1)  # |difference| grows with motion

    def spread(lo, hi):
        cfg = SynthConfig(size=64, blur_range=(lo, hi), p_sharp=0.0, quantize=False,
                          noise_shot=(0, 0), noise_read=(0, 0), max_shake_px=0,
                          photo_scale=(1, 1))
        rng = np.random.default_rng(2)
        return np.mean([np.abs(f[0] - f[6]).mean() for _, f in
                        (render(ramps, rng, cfg) for _ in range(4))])

    assert spread(0.5, 1.0) < spread(10, 12) < spread(35, 40)


def test_same_seed_same_sample():
    a = render(_photo(), np.random.default_rng(5), SynthConfig(size=32))
    b = render(_photo(), np.random.default_rng(5), SynthConfig(size=32))
    c = render(_photo(), np.random.default_rng(6), SynthConfig(size=32))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_small_photo_is_upscaled_to_fit():
    blur, frames = render(_photo(40, 50), np.random.default_rng(0), SynthConfig(size=64))
    assert blur.shape == (64, 64, 3) and np.isfinite(frames).all()


def test_load_photo_and_render_set(tmp_path):
    srgb = (np.linspace(0, 255, 200 * 150 * 3) % 256).astype(np.uint8).reshape(150, 200, 3)
    for name in ("b.png", "a.jpg"):
        cv2.imwrite(str(tmp_path / name), srgb)
    (tmp_path / "notes.txt").write_text("x")
    paths = list_images(tmp_path)
    assert [p.name for p in paths] == ["a.jpg", "b.png"]
    photo = load_photo(paths[1], max_side=100)
    assert photo.shape == (75, 100, 3) and photo.dtype == np.float32
    assert photo.max() <= 1 and photo.min() >= 0
    first = render_set(paths, 3, SynthConfig(size=32), seed=9)
    again = render_set(paths, 3, SynthConfig(size=32), seed=9)
    assert len(first) == 3
    assert all(np.array_equal(x[0], y[0]) for x, y in zip(first, again))
    with pytest.raises(ValueError, match="at least one photo"):
        render_set([], 3)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"nope")
    with pytest.raises(ValueError, match="cannot decode"):
        load_photo(bad)


def _photo_folder(tmp_path):
    """A folder with one 160x120 test photo."""
    photos = tmp_path / "photos"
    photos.mkdir()
    y, x = np.mgrid[:120, :160]
    cv2.imwrite(str(photos / "p.png"), np.stack([x % 256, y * 2 % 256, (x + y) % 256], -1)
                .astype(np.uint8))
    return photos


def test_synth_cli_writes_the_layout_deterministically(tmp_path):
    from typer.testing import CliRunner

    from blurvid.cli import app
    from blurvid.lab.data.layouts import read_dataset

    photos = _photo_folder(tmp_path)
    runner = CliRunner()
    args = ["synth", "--images", str(photos), "-n", "3", "--size", "40x24", "--seed", "5"]
    first = runner.invoke(app, [*args, "-o", str(tmp_path / "a")])
    assert first.exit_code == 0, first.stderr
    assert runner.invoke(app, [*args, "-o", str(tmp_path / "b")]).exit_code == 0
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len(files) == 3 * 8 + 2  # blur + 7 frames per sample, preview.png, synth.json
    for rel in files:  # same seed, same bytes
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
    samples = list(read_dataset(tmp_path / "a"))
    assert [s.name for s in samples] == ["sample_0000", "sample_0001", "sample_0002"]
    assert samples[0].blur.shape == (24, 40, 3)
    # The same samples as render_set (the trainer's validation set) with the same seed.
    expected = render_set([photos / "p.png"], 3, SynthConfig(size=(40, 24)), seed=5)
    np.testing.assert_allclose(samples[2].frames, expected[2][1], atol=0.5 / 255)
    again = runner.invoke(app, [*args, "-o", str(tmp_path / "a")])
    assert again.exit_code == 1 and "already exists" in again.stderr
    (tmp_path / "empty").mkdir()
    empty = runner.invoke(app, ["synth", "--images", str(tmp_path / "empty"), "-n", "1", "-o",
                                str(tmp_path / "c")])
    assert empty.exit_code == 1 and "no photos" in empty.stderr


def _cutout(h=30, w=40):
    """A bright disc with a soft alpha edge (premultiplied linear RGBA)."""
    y, x = np.mgrid[:h, :w].astype(np.float32)
    alpha = np.clip(1.5 - np.hypot((x - w / 2) / (w / 3), (y - h / 2) / (h / 3)), 0, 1)
    rgba = np.zeros((h, w, 4), np.float32)
    rgba[..., 0], rgba[..., 1], rgba[..., 3] = 0.9 * alpha, 0.2 * alpha, alpha
    return rgba


@pytest.mark.parametrize("options", [
    {"perspective_px": 6.0},
    {"p_layer": 1.0},
    {"max_objects": 2, "object_speed": (20.0, 30.0)},
    {"perspective_px": 4.0, "p_layer": 1.0, "max_objects": 3},
])
def test_every_mode_keeps_blur_the_average_of_the_frames(options):
    cfg = SynthConfig(size=48, noise_shot=(0, 0), noise_read=(0, 0), quantize=False,
                      p_sharp=0.0, **options)
    for seed in range(3):
        blur, frames = render(_photo(), np.random.default_rng(seed), cfg, objects=[_cutout()])
        np.testing.assert_allclose(blur, from_linear(to_linear(frames).mean(axis=0)), atol=1e-5)
        assert np.isfinite(frames).all() and frames.min() >= 0 and frames.max() <= 1


def test_objects_move_and_occlude():
    cfg = SynthConfig(size=64, max_objects=1, object_speed=(30, 30), blur_range=(0.0, 0.0),
                      p_sharp=0.0, noise_shot=(0, 0), noise_read=(0, 0), quantize=False)
    grey = np.full((200, 200, 3), 0.2, np.float32)  # a still grey scene
    seen = 0
    for seed in range(8):
        _, frames = render(grey, np.random.default_rng(seed), cfg, objects=[_cutout()])
        red = frames[..., 0] - frames[..., 1]  # the disc is red
        if red[0].max() > 0.3 and red[6].max() > 0.3:
            first = np.argwhere(red[0] > 0.3).mean(axis=0)
            last = np.argwhere(red[6] > 0.3).mean(axis=0)
            assert np.hypot(*(last - first)) > 10  # it moved (the camera did not)
            seen += 1
    assert seen >= 2


def test_default_stream_unchanged_and_jpeg():
    base = render(_photo(), np.random.default_rng(3), SynthConfig(size=32))
    again = render(_photo(), np.random.default_rng(3), SynthConfig(size=32), objects=[_cutout()])
    assert np.array_equal(base[0], again[0])  # objects are ignored unless max_objects > 0
    jpeg = render(_photo(), np.random.default_rng(3), SynthConfig(size=32, p_jpeg=1.0,
                                                                   jpeg_quality=(20, 20)))
    assert np.array_equal(jpeg[1], base[1])  # the same scene, only the blur is compressed
    assert 0 < np.abs(jpeg[0] - base[0]).mean() < 0.05


def test_load_object(tmp_path):
    from blurvid.lab.data.synth import load_object

    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[5:15, 5:25] = (0, 0, 255, 255)  # BGRA: red, opaque
    cv2.imwrite(str(tmp_path / "o.png"), rgba)
    obj = load_object(tmp_path / "o.png")
    assert obj.shape == (20, 30, 4) and obj[10, 10, 3] == 1 and obj[0, 0, 3] == 0
    assert obj[10, 10, 0] == pytest.approx(1.0) and obj[0, 0, :3].max() == 0
    cv2.imwrite(str(tmp_path / "rgb.png"), rgba[..., :3])
    with pytest.raises(ValueError, match="alpha"):
        load_object(tmp_path / "rgb.png")


def test_synth_blur_lengths_span_the_range(tmp_path):
    from blurvid.lab.data.synth import synthesize_dataset

    photo = tmp_path / "p.png"
    y, x = np.mgrid[:150, :200]
    cv2.imwrite(str(photo), np.stack([x % 256, y % 256, (x * y) % 256], -1).astype(np.uint8))
    record = synthesize_dataset([photo], 16, tmp_path / "out", SynthConfig(size=32), seed=1)
    lengths = [m["blur_px"] for m in record["per_sample"]]
    assert len(lengths) == 16 and min(lengths) < 12 and max(lengths) > 30  # 2-40 px drawn
    assert record["blur_px"]["max"] <= 40.5
    saved = __import__("json").loads((tmp_path / "out" / "synth.json").read_text())
    assert saved["per_sample"] == record["per_sample"]


def test_a_still_camera_does_not_pan_or_tilt():
    """p_sharp samples are still: the perspective term (camera pan/tilt) is off for them."""
    photo = np.random.default_rng(2).random((120, 140, 3)).astype(np.float32)
    still = SynthConfig.realistic(size=48, p_sharp=1.0, p_layer=0.0, max_objects=0, p_jpeg=0.0)
    flat = SynthConfig.realistic(size=48, p_sharp=1.0, p_layer=0.0, max_objects=0, p_jpeg=0.0,
                                 perspective_px=0.0)
    for seed in range(3):
        a = render(photo, np.random.default_rng(seed), still)
        b = render(photo, np.random.default_rng(seed), flat)
        np.testing.assert_array_equal(a[1], b[1])
    moving = SynthConfig.realistic(size=48, p_sharp=0.0, p_layer=0.0, max_objects=0, p_jpeg=0.0)
    flat_moving = SynthConfig.realistic(size=48, p_sharp=0.0, p_layer=0.0, max_objects=0,
                                        p_jpeg=0.0, perspective_px=0.0)
    a = render(photo, np.random.default_rng(0), moving)
    b = render(photo, np.random.default_rng(0), flat_moving)
    assert not np.array_equal(a[1], b[1])  # a moving camera does


def test_a_static_camera_does_not_move_at_all():
    """p_static samples: the 7 frames of a scene without moving objects are identical (a
    tripod), and the blur is that frame plus the noise; p_sharp samples move up to 2 px."""
    photo = np.random.default_rng(3).random((120, 140, 3)).astype(np.float32)
    static = SynthConfig.realistic(size=48, p_static=1.0, max_objects=0, p_jpeg=0.0,
                                   noise_shot=(0.0, 0.0), noise_read=(0.0, 0.0))
    for seed in range(4):
        info: dict = {}
        blur, frames = render(photo, np.random.default_rng(seed), static, info=info)
        assert info["length"] == 0.0
        for frame in frames[1:]:
            np.testing.assert_array_equal(frame, frames[0])
        np.testing.assert_allclose(blur, frames[3], atol=1.5 / 255)
    almost = SynthConfig.realistic(size=48, p_sharp=1.0, max_objects=0, p_jpeg=0.0)
    lengths = [_length(photo, seed, almost) for seed in range(8)]
    assert max(lengths) > 0.1 and max(lengths) <= 2.0 + 1e-6


def test_static_camera_objects_still_move(tmp_path):
    """A static camera with moving cut-outs: the background stays, the objects move."""
    photo = np.random.default_rng(4).random((120, 140, 3)).astype(np.float32)
    cut = np.zeros((30, 30, 4), np.float32)
    cut[5:25, 5:25] = (0.9, 0.1, 0.1, 1.0)
    cfg = SynthConfig.realistic(size=64, p_static=1.0, max_objects=2, p_jpeg=0.0,
                                object_speed=(20.0, 30.0))
    moved = 0
    for seed in range(6):
        info: dict = {}
        _, frames = render(photo, np.random.default_rng(seed), cfg, objects=[cut], info=info)
        assert info["length"] == 0.0
        if info["objects"]:
            moved += 1
            assert not np.array_equal(frames[0], frames[6])
    assert moved > 0


def test_p_static_off_keeps_the_random_stream():
    photo = np.random.default_rng(5).random((100, 100, 3)).astype(np.float32)
    a = render(photo, np.random.default_rng(7), SynthConfig(size=32))
    b = render(photo, np.random.default_rng(7), SynthConfig(size=32, p_static=0.0))
    np.testing.assert_array_equal(a[0], b[0])


def _length(photo, seed, cfg):
    info: dict = {}
    render(photo, np.random.default_rng(seed), cfg, info=info)
    return info["length"]


def test_max_acceleration_zero_gives_a_straight_path_at_constant_speed():
    photo = np.random.default_rng(5).random((120, 120, 3)).astype(np.float32)
    cfg = SynthConfig(size=32, max_acceleration=0.0, max_shake_px=0.0, p_sharp=0.0)
    for seed in range(5):
        info: dict = {}
        render(photo, np.random.default_rng(seed), cfg, info=info)
        steps = np.diff(info["path"], axis=0)
        np.testing.assert_allclose(steps, np.broadcast_to(steps[0], steps.shape), atol=1e-9)
        np.testing.assert_allclose(info["path"].mean(axis=0), 0.0, atol=1e-9)  # centerd
    # the default keeps its random stream (uniform(0, 1.0) as before the setting existed)
    a = render(photo, np.random.default_rng(3), SynthConfig(size=32))
    b = render(photo, np.random.default_rng(3), SynthConfig(size=32, max_acceleration=1.0))
    np.testing.assert_array_equal(a[1], b[1])
    info = {}
    render(photo, np.random.default_rng(3), SynthConfig(size=32, p_sharp=0.0), info=info)
    steps = np.diff(info["path"], axis=0)
    assert np.abs(steps - steps[0]).max() > 1e-3  # accelerating by default


def test_parse_settings_types_and_errors():
    from blurvid.lab.data.synth import parse_settings

    assert parse_settings([]) == {}
    assert parse_settings(["max_acceleration=0", "noise_read = 0,0.001", "quantize=False",
                           "max_objects=3", "jpeg_quality=70,80"]) == {
        "max_acceleration": 0.0, "noise_read": (0.0, 0.001), "quantize": False,
        "max_objects": 3, "jpeg_quality": (70, 80)}
    SynthConfig(**parse_settings(["p_layer=1", "parallax=1.5,2"]))  # valid settings build
    for bad, message in [("max_accel=1", "unknown; known: .*max_acceleration"),
                         ("size=3", "unknown"), ("max_acceleration", "KEY=VALUE"),
                         ("max_acceleration=fast", "a number"),
                         ("noise_read=0.1", "two numbers"), ("noise_read=0.3,0.1", "two numbers"),
                         ("quantize=yes", "true or false"), ("max_objects=1.5", "an integer"),
                         ("max_shake_px=-1", "negative"), ("p_sharp=2", "at most 1"),
                         ("subframes_per_frame=0", "at least 1")]:
        with pytest.raises(ValueError, match=message):
            parse_settings([bad])


def test_synth_cli_set_changes_the_settings_and_records_them(tmp_path):
    import json

    from typer.testing import CliRunner

    from blurvid.cli import app

    photos = _photo_folder(tmp_path)
    runner = CliRunner()
    args = ["synth", "--images", str(photos), "-n", "2", "--size", "40x24", "--seed", "5"]
    done = runner.invoke(app, [*args, "--set", "max_acceleration=0", "--set",
                               "noise_read=0,0", "-o", str(tmp_path / "a")])
    assert done.exit_code == 0, done.stderr
    config = json.loads((tmp_path / "a" / "synth.json").read_text())["config"]
    assert config["max_acceleration"] == 0.0 and config["noise_read"] == [0.0, 0.0]
    bad = runner.invoke(app, [*args, "--set", "max_acceleration=x", "-o", str(tmp_path / "b")])
    assert bad.exit_code == 1 and "--set" in bad.stderr and "a number" in bad.stderr
    assert not (tmp_path / "b").exists()
