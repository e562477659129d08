"""benchmarks/layered_oracle.py: the synthesizer's exact image formation as a linear operator
(the yardstick of a solver told every layer's motion) and the scene it is built from."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from layered_oracle import formation_operators, perturb_scene, solve_frames  # noqa: E402

from blurvid.color import rgb_to_y, to_linear  # noqa: E402
from blurvid.lab.data.synth import SynthConfig, render  # noqa: E402
from blurvid.metrics import frame_psnrs  # noqa: E402
from tests.photos import wave_photo  # noqa: E402

CLEAN = dict(noise_shot=(0, 0), noise_read=(0, 0), quantize=False, p_sharp=0.0)


def _cutout(side=40):
    """An opaque disc (hard edge: its colors are the same premultiplied or not)."""
    y, x = np.mgrid[:side, :side]
    alpha = (np.hypot(x - side / 2 + 0.5, y - side / 2 + 0.5) < side / 2 - 2).astype(np.float32)
    rgba = np.zeros((side, side, 4), np.float32)
    rgba[..., 0], rgba[..., 1], rgba[..., 2], rgba[..., 3] = 0.8, 0.3 * (x % 7 < 3), 0.1, 1
    return rgba * alpha[..., None]


def _render(cfg, seed, objects=None):
    info: dict = {}
    blur, frames = render(wave_photo(seed), np.random.default_rng(seed), cfg, objects=objects,
                          info=info, scene=True)
    return blur, frames, info


def test_recording_the_scene_leaves_the_sample_unchanged():
    cfg = SynthConfig.realistic(size=48, p_layer=1.0)
    blur, frames, info = _render(cfg, 4, [_cutout()])
    again = render(wave_photo(4), np.random.default_rng(4), cfg, objects=[_cutout()])
    assert np.array_equal(blur, again[0]) and np.array_equal(frames, again[1])
    scene = info["scene"]
    assert scene[0]["alpha"] is None and scene[0]["maps"].shape == (21, 3, 3)
    assert all(layer["alpha"].shape == (21, 48, 48) for layer in scene[1:])


@pytest.mark.parametrize("options", [
    {"perspective_px": 5.0},  # the camera's homographies
    {"p_layer": 1.0, "max_rotation_px": 4.0},  # a parallax layer over it
    # a cut-out at its own scale (48 px * 40/48 over a 40 px disc): its grid is the cut's
    {"max_objects": 1, "object_speed": (20.0, 30.0), "object_size": (40 / 48, 40 / 48)},
])
def test_the_operator_applied_to_the_true_textures_gives_the_true_frames(options):
    cfg = SynthConfig(size=48, **CLEAN, **options)
    for seed in range(3):
        _, frames, info = _render(cfg, seed, [_cutout()])
        ops, grids = formation_operators(info["scene"], (48, 48))
        assert len(ops) == 7 and ops[0].shape == (48 * 48, sum(h * w for h, w in grids))
        textures = []
        for layer, (gh, gw) in zip(info["scene"], grids):
            tex = layer["texture"]
            if layer["premultiplied"]:  # the opaque disc: its grid has a pixel of border
                tex = np.pad(tex, ((1, gh - tex.shape[0] - 1), (1, gw - tex.shape[1] - 1),
                                   (0, 0)))
            textures.append(tex.reshape(-1, 3))
        x = np.concatenate(textures)
        truth = to_linear(frames)
        alphas = [layer["alpha"] for layer in info["scene"] if layer["premultiplied"]]
        for i, op in enumerate(ops):
            err = np.abs((op @ x).reshape(48, 48, 3) - truth[i]).max(axis=-1)
            # exact but on a cut-out's edge, where the renderer blends premultiplied colors
            edge = np.zeros((48, 48), bool)
            for a in alphas:
                group = a[3 * i:3 * i + 3]
                edge |= ((group > 1e-6) & (group < 1 - 1e-6)).any(axis=0)
            assert err[~edge].max() < 2e-5 and edge.mean() < 0.2


def test_told_the_exact_formation_the_solver_recovers_the_frames():
    cfg = SynthConfig(size=64, blur_range=(14.0, 18.0), **CLEAN, perspective_px=3.0)
    blur, frames, info = _render(cfg, 2)
    y, truth = rgb_to_y(blur), rgb_to_y(frames)
    gain = np.mean(frame_psnrs(solve_frames(y, info["scene"], 0.03), truth)[0]) \
        - np.mean(frame_psnrs(y, truth)[0])
    assert gain > 3.0  # 3.95 dB measured; a wrong operator (maps reversed in half) is far below
    reversed_scene = [{**layer, "maps": layer["maps"][::-1]} for layer in info["scene"]]
    np.testing.assert_allclose(solve_frames(y, reversed_scene, 0.03),
                               solve_frames(y, info["scene"], 0.03)[::-1], atol=1e-4)


def test_camera_only_is_the_background_alone():
    cfg = SynthConfig(size=48, blur_range=(10.0, 12.0), **CLEAN, p_layer=1.0)
    blur, _, info = _render(cfg, 5)
    y = rgb_to_y(blur)
    assert len(info["scene"]) == 2
    camera = solve_frames(y, info["scene"], 0.03, iters=50, camera_only=True)
    np.testing.assert_allclose(camera, solve_frames(y, info["scene"][:1], 0.03, iters=50))
    assert np.abs(camera - solve_frames(y, info["scene"], 0.03, iters=50)).max() > 0.01


def test_perturbed_motion_is_off_by_the_stated_rms():
    """Each layer's content moves by the stated rms in OUTPUT pixels, also a cut-out drawn at a
    third of its size (an error added on the texture side would be 3x off there)."""
    cfg = SynthConfig(size=48, **CLEAN, p_layer=1.0, max_rotation_px=4.0, max_objects=1,
                      object_size=(0.3, 0.3))
    for seed in range(4):
        _, _, info = _render(cfg, seed, [_cutout()])
        same = perturb_scene(info["scene"], 0.0, np.random.default_rng(0))
        assert all(np.allclose(a["maps"], b["maps"]) for a, b in zip(same, info["scene"]))
        moved = perturb_scene(info["scene"], 1.5, np.random.default_rng(0))
        for before, after in zip(info["scene"], moved):
            p = np.array([20.0, 30.0, 1.0])
            shift = []
            for b, a in zip(before["maps"], after["maps"]):
                q = np.linalg.inv(b) @ (a @ p)  # where the output pixel's content now is
                shift.append(q[:2] / q[2] - p[:2])
            shift = np.array(shift) - np.mean(shift, axis=0)
            assert np.sqrt(np.mean(np.sum(shift ** 2, axis=1))) == pytest.approx(1.5, rel=1e-6)
            assert after["alpha"] is before["alpha"]


def test_bad_input():
    cfg = SynthConfig(size=32, **CLEAN)
    blur, _, info = _render(cfg, 0)
    with pytest.raises(ValueError, match="y must be"):
        solve_frames(blur, info["scene"], 0.03)
