"""The motion method of ``blurvid video``: each exposure solved from its neighbours
(blurvid.exposure_solver, blurvid.video_motion), on clips whose motion is known
(blurvid.lab.data.video_synth), with the tiny test model as the network."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from blurvid import camera_motion as cm  # noqa: E402
from blurvid import exposure_solver as es  # noqa: E402
from blurvid import video_motion  # noqa: E402
from blurvid.color import rgb_to_y  # noqa: E402
from blurvid.consistency import NUM_FRAMES  # noqa: E402
from blurvid.errors import InputError  # noqa: E402
from blurvid.lab.data.video_synth import ClipSpec, render_clip  # noqa: E402
from blurvid.metrics import psnr  # noqa: E402
from blurvid.pipeline import Extractor  # noqa: E402
from blurvid.video import check_method, check_sweeps_with, exposures_by  # noqa: E402
from blurvid.video_motion import (SPARSE, MotionSolver, motion_exposures,  # noqa: E402
                                  prediction_confidence, trust_in)
from tests.fakes import texture  # noqa: E402

TINY = Path(__file__).parent / "data" / "tiny-fast.onnx"


@pytest.fixture(scope="module")
def extractor():
    return Extractor(TINY, device="cpu", threads=1)


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    path = tmp_path_factory.mktemp("scene") / "scene.png"
    cv2.imwrite(str(path), (texture(600, 800, seed=11) * 255).astype(np.uint8))
    return path


def _luma(frames):
    return np.stack([rgb_to_y(np.asarray(f) / 255.0) for f in frames])


def _gain(frames, truth, blur):
    """Luma PSNR gain over the blurry frame (mean over the 7 frames), frames in their order."""
    t, f = _luma(truth), _luma(frames)
    b = rgb_to_y(blur / 255.0)
    return float(np.mean([psnr(a, g) - psnr(b, g) for a, g in zip(f, t)]))


# ------------------------------------------------------------------ the exposure solver


def test_solve_exposure_told_a_pan_recovers_the_frames(photo):
    """Told the true motion, the tiled solver recovers the 7 frames far above the input."""
    clip = render_clip(photo, ClipSpec(kind="pan", frames=1, size=(160, 96), blur=14, seed=2))
    y = rgb_to_y(clip.blur[0] / 255.0).astype(np.float32)
    paths = es.tile_paths(clip.trajectory(0), y.shape)
    frames = es.solve_exposure(y, paths, weight=0.01)
    truth = _luma(clip.truth[0])
    gains = [psnr(f, t) - psnr(y, t) for f, t in zip(frames, truth)]
    assert frames.shape == (NUM_FRAMES, 96, 160) and frames.dtype == np.float32
    assert np.mean(gains) > 4.5, gains


def test_the_sparse_prior_beats_the_quadratic_one_told_a_handheld_motion():
    """Told the true motion of a handheld exposure (rotation included) of a real photo (the
    bundled example's middle frame), the motion method's sparse prior recovers far sharper
    frames than the quadratic one (measured: +9.9 dB over the input against +4.6; on the
    smooth test texture the two are alike, +5.2 and +5.4)."""
    photo = Path(__file__).parents[1] / "examples" / "gt" / "bridge_04.png"
    clip = render_clip(photo, ClipSpec(kind="handheld", frames=3, size=(160, 96), blur=20,
                                       seed=3))
    y = rgb_to_y(clip.blur[1] / 255.0).astype(np.float32)
    paths = es.tile_paths(clip.trajectory(1), y.shape)
    truth = _luma(clip.truth[1])
    gain = {}
    for name, sparse in (("quadratic", None), ("sparse", SPARSE)):
        frames = es.solve_exposure(y, paths, weight=0.01, sparse=sparse)
        gain[name] = np.mean([psnr(f, t) - psnr(y, t) for f, t in zip(frames, truth)])
    assert gain["sparse"] > gain["quadratic"] + 3.0 and gain["quadratic"] > 3.0, gain


def test_tile_paths_follow_the_trajectory_at_each_tile_centre():
    coeffs = np.zeros((1, 3, 3))
    coeffs[0, :2] = [[0.0, -0.02, 10.0], [0.02, 0.0, 0.0]]  # a pan and a turn
    t = cm.Trajectory(coeffs, 0.5, (256, 384))
    paths = es.tile_paths(t, (256, 384), tile=128, overlap=32)
    assert paths.shape[2:] == (NUM_FRAMES, 2)
    # the turn moves the top tiles left and the bottom ones right, relative to the middle
    spread = paths[..., -1, 0] - paths[..., 0, 0]
    assert spread[0].mean() > spread[-1].mean()


def test_confidence_is_low_where_the_flow_departs_and_one_elsewhere():
    residual = np.zeros((60, 80), np.float32)
    residual[20:35, 30:45] = 6.0
    residual[0, 0] = np.nan  # left the frame: trusted
    conf = es.confidence(residual, (120, 160))
    assert conf.shape == (120, 160) and conf.min() >= 0 and conf.max() <= 1
    assert conf[55, 75] < 0.1 and conf[5, 140] > 0.99 and conf[1, 1] > 0.99


def test_a_miss_that_a_small_motion_error_explains_keeps_full_confidence():
    """A prediction missing in proportion to the frame's edges (what a fraction of a px of
    motion error leaves) is trusted everywhere; a patch missing far beyond it is not."""
    rng = np.random.default_rng(4)
    blurry = cv2.GaussianBlur(rng.random((90, 160)).astype(np.float32), (0, 0), 2.0)
    blurry[:, 55:] = 0.5  # textured on the left third, flat on the rest
    edges = np.hypot(cv2.Sobel(blurry, cv2.CV_32F, 1, 0), cv2.Sobel(blurry, cv2.CV_32F, 0, 1))
    residual = 0.3 * edges / 8.0 + 0.002 * rng.random((90, 160)).astype(np.float32)
    conf = prediction_confidence(residual, (180, 320), blurry)
    assert conf.shape == (180, 320) and float(conf.min()) > 0.999
    without_edges = prediction_confidence(residual, (180, 320))  # the median alone
    assert float(without_edges.min()) < 0.9
    moved = residual.copy()
    moved[30:60, 60:100] += 0.2  # something moved on its own here
    conf = prediction_confidence(moved, (180, 320), blurry)
    assert conf[90, 160] < 0.05 and float(conf[:, :30].min()) > 0.99 and conf[170, 300] > 0.999


def test_blend_takes_the_solver_where_trusted_and_the_network_in_its_order():
    solved = np.stack([np.full((4, 5), k / 6, np.float32) for k in range(NUM_FRAMES)])
    network = solved[::-1] + 0.01  # the network's frames in the other order
    np.testing.assert_array_equal(es.blend(solved, network, np.ones((4, 5))), solved)
    out = es.blend(solved, network, np.zeros((4, 5)))
    np.testing.assert_allclose(out, solved + 0.01, atol=1e-6)  # put in the solver's order


def test_trust_grows_with_what_the_motion_explains():
    assert trust_in(0.9, 30) == 1.0 and trust_in(0.5, 30) == 0.0
    assert 0 < trust_in(0.7, 30) < 1
    assert trust_in(0.5, 15) > trust_in(0.5, 30)  # a short blur explains less of a frame
    assert trust_in(0.0, 0.2) == 1.0  # a still camera: the solve is the frame
    assert trust_in(0.0, 8, two_sided=True) == 1.0 and trust_in(0.0, 8) == 0.0


# ------------------------------------------------------------------ the method end to end


def _run(extractor, frames, shutter=0.5, solver=None):
    return list(motion_exposures(extractor, list(frames), shutter, solver=solver))


@pytest.mark.parametrize("sweeps", [0, 2])
def test_a_clip_with_known_motion_is_solved_well_above_the_network(extractor, photo, sweeps):
    """A handheld clip: the interior exposures' 7 frames gain over 3 dB on the input (the
    tiny test network gains nothing), in the right order; with the sweeps too."""
    clip = render_clip(photo, ClipSpec(kind="handheld", frames=7, size=(192, 128), blur=14,
                                       seed=4))
    exposures = _run(extractor, clip.blur, solver=MotionSolver(extractor, 0.5, sweeps=sweeps))
    assert [e.index for e in exposures] == list(range(7))
    assert all(e.frames.shape == (NUM_FRAMES, 128, 192, 3) and e.frames.dtype == np.uint8
               and not e.reversed for e in exposures)
    gains = [_gain(exposures[t].frames, clip.truth[t], clip.blur[t]) for t in range(2, 5)]
    assert min(gains) > 3.0, gains
    for t in range(2, 5):  # forward beats reversed
        f, g = _luma(exposures[t].frames), _luma(clip.truth[t])
        assert np.mean((f - g) ** 2) < np.mean((f[::-1] - g) ** 2)


class _ReversedEnds(MotionSolver):
    """Told each end exposure's path run backwards (the same blur)."""

    def final(self, frame, size):
        trajectory, weight, conf = super().final(frame, size)
        if trajectory is not None and frame.index not in self.two_sided:
            signs = np.array([(-1.0) ** n for n in range(1, trajectory.degree + 1)])
            trajectory = cm.Trajectory(trajectory.coeffs * signs[:, None, None],
                                       trajectory.shutter, trajectory.size)
        return trajectory, weight, conf


def test_a_clip_s_end_exposures_run_the_way_the_motion_toward_their_neighbour_does(
        extractor, photo, monkeypatch):
    """An end exposure's path is extrapolated from flows on one side, and a path and its
    reverse blur a frame alike: told its path reversed, its frames still run the right way
    (the ordering's cost toward the neighbour decides); without that check they do not."""
    clip = render_clip(photo, ClipSpec(kind="handheld", frames=7, size=(192, 128), blur=14,
                                       seed=4))

    def right_way(exposures):
        return [np.mean((_luma(exposures[t].frames) - _luma(clip.truth[t])) ** 2)
                < np.mean((_luma(exposures[t].frames)[::-1] - _luma(clip.truth[t])) ** 2)
                for t in (0, 6)]

    assert right_way(_run(extractor, clip.blur, solver=_ReversedEnds(extractor, 0.5))) == \
        [True, True]
    monkeypatch.setattr(video_motion, "orient", lambda frames, *args: frames)
    assert right_way(_run(extractor, clip.blur, solver=_ReversedEnds(extractor, 0.5))) == \
        [False, False]


def test_a_still_clip_stays_still(extractor, photo):
    frame = render_clip(photo, ClipSpec(kind="pan", frames=1, size=(128, 96), blur=0,
                                        seed=1)).blur[0]
    exposures = _run(extractor, [frame] * 5)
    for e in exposures:
        for f in e.frames:
            assert psnr(f / 255.0, frame / 255.0) > 40


def test_a_reversed_clip_gives_the_frames_reversed(extractor, photo):
    clip = render_clip(photo, ClipSpec(kind="pan", frames=5, size=(160, 96), blur=12, seed=6,
                                       shutter=1.0))
    forward = _run(extractor, clip.blur, shutter=1.0)
    backward = _run(extractor, clip.blur[::-1], shutter=1.0)
    for t in (1, 2, 3):
        a = _luma(forward[t].frames)
        b = _luma(backward[len(clip.blur) - 1 - t].frames)[::-1]
        assert np.mean(np.abs(a - b)) < 0.01
        assert np.mean(np.abs(a - a[::-1])) > 0.01  # the frames do differ in time


class _Recording(MotionSolver):
    def final(self, frame, size):
        out = super().final(frame, size)
        self.confidences = getattr(self, "confidences", {})
        self.confidences[frame.index] = out[2]
        return out


def test_the_network_takes_over_where_something_moves_on_its_own(extractor, photo, tmp_path):
    """An object crossing a panning camera: the solve is trusted on the background and not
    on the object."""
    cutout = np.zeros((60, 60, 4), np.uint8)
    cv2.circle(cutout, (30, 30), 26, (40, 200, 230, 255), -1)
    cutout[..., :3] = (cutout[..., :3] * (0.6 + 0.4 * texture(60, 60, seed=2))).astype(np.uint8)
    obj = tmp_path / "object.png"
    cv2.imwrite(str(obj), cutout)
    spec = ClipSpec(kind="pan", frames=7, size=(240, 160), blur=10, seed=3, objects=1)
    clip = render_clip(photo, spec, [obj])
    solver = _Recording(extractor, spec.shutter)
    _run(extractor, clip.blur, solver=solver)
    t = 3
    conf = solver.confidences[t]
    assert conf is not None
    # where the object is in exposure t: its alpha over the exposure
    alpha = np.zeros((160, 240), np.float32)
    for tau in np.linspace(t, t + spec.shutter, 5):
        layer = np.zeros((160, 240, 3), np.float32)
        for mover in clip.movers:
            from blurvid.lab.data.video_synth import _draw
            ones = np.ones((160, 240, 3), np.float32)
            _draw(ones, mover, tau)  # 1 - alpha where the object covers
            layer += 1 - ones
        alpha = np.maximum(alpha, layer[..., 0])
    on_object = alpha > 0.5
    assert on_object.sum() > 200
    assert conf[on_object].mean() < 0.5 * conf[~on_object].mean()


def test_frames_of_different_sizes_are_refused(extractor):
    frames = [np.zeros((64, 96, 3), np.uint8), np.zeros((64, 96, 3), np.uint8),
              np.zeros((64, 80, 3), np.uint8)]
    with pytest.raises(InputError, match="frame 2 is 80x64"):
        _run(extractor, frames)


def test_an_unknown_method_is_refused(extractor):
    with pytest.raises(InputError, match="network, motion"):
        check_method("magic")
    with pytest.raises(InputError):
        exposures_by("magic", extractor, [], 0.5, None)
    with pytest.raises(InputError, match="method motion"):  # the sweeps refine its motion
        exposures_by("network", extractor, [], 0.5, None, sweeps=2)
    # by default each method makes its own: two sweeps for the motion method, none for the
    # network (whose frames come as they did)
    assert check_sweeps_with("motion", None) == 2 and check_sweeps_with("network", None) == 0
    assert check_sweeps_with("network", 0) == 0 and check_sweeps_with("motion", 0) == 0


def test_an_empty_or_one_frame_clip(extractor):
    assert _run(extractor, []) == []
    one = _run(extractor, [np.full((48, 64, 3), 100, np.uint8)])
    assert len(one) == 1 and one[0].frames.shape == (NUM_FRAMES, 48, 64, 3)


@pytest.mark.parametrize("sweeps", [0, 2])
def test_memory_stays_bounded_over_a_long_clip(extractor, sweeps):
    """Frames, fits and first solves are let go as the clip streams past: what is held after
    60 frames is what is held after 15."""
    held = []

    class Counting(MotionSolver):
        def final(self, frame, size):
            held.append(len(self.fits) + len(self.first) + len(self.latents) + len(self.paths)
                        + len(self.two_sided) + len(self.cuts))
            return super().final(frame, size)

    rng = np.random.default_rng(0)
    base = (texture(64, 400, seed=1) * 255).astype(np.uint8)

    def frames():
        for i in range(60):  # a pan of 3 px a frame, with a little noise
            yield np.clip(base[:, 3 * i:3 * i + 96].astype(int) + rng.integers(-2, 3, (64, 96, 3)),
                          0, 255).astype(np.uint8)

    solver = Counting(extractor, 0.5, sweeps=sweeps)
    count = sum(1 for _ in motion_exposures(extractor, frames(), 0.5, solver=solver))
    assert count == 60
    # flat while streaming (from the window's length on), and the end's flush adds little
    assert len(set(held[2 * solver.lookahead:50])) == 1 and max(held) <= 1.2 * held[30]


@pytest.mark.parametrize("h, w", [(8, 8), (16, 16), (31, 20), (32, 32), (2, 64), (48, 64)])
def test_tiny_frames_go_through(extractor, h, w):
    """Frames too small to measure a motion on are the network's; none crash."""
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (h, w, 3), np.uint8) for _ in range(5)]
    exposures = _run(extractor, frames)
    assert [e.index for e in exposures] == list(range(5))
    assert all(e.frames.shape == (NUM_FRAMES, h, w, 3) for e in exposures)


def test_no_motion_is_measured_across_a_scene_cut(extractor, photo, tmp_path):
    """Two scenes back to back: no fit joins them, and the exposures on each side are solved
    from their own side (as well as each scene's clip alone, within 1 dB)."""
    other = tmp_path / "other.png"
    cv2.imwrite(str(other), (texture(600, 800, seed=23) * 255).astype(np.uint8))
    spec = ClipSpec(kind="pan", frames=4, size=(160, 96), blur=10, seed=3)
    a, b = render_clip(photo, spec), render_clip(other, spec)
    solver = MotionSolver(extractor, spec.shutter)
    joined = _run(extractor, np.concatenate([a.blur, b.blur]), solver=solver)
    assert 4 in solver.cuts
    assert not any(i < 4 <= j for i, j in solver.fits)
    alone = _run(extractor, a.blur)
    for t in (1, 2):
        assert _gain(joined[t].frames, a.truth[t], a.blur[t]) > \
            _gain(alone[t].frames, a.truth[t], a.blur[t]) - 1.0


class _Schedule(MotionSolver):
    """Logs each step the streaming solver runs: ``(step, exposure, sweep number)``."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.log: list[tuple[str, int, int]] = []

    def measure(self, frame, size):
        self.log.append(("measure", frame.index, 0))
        return super().measure(frame, size)

    def sweep(self, frame, window):
        done = sum(1 for step, t, _ in self.log if step == "sweep" and t == frame.index)
        self.log.append(("sweep", frame.index, done + 1))
        return super().sweep(frame, window)

    def first_pass(self, frame, size):
        self.log.append(("first_pass", frame.index, 0))
        return super().first_pass(frame, size)

    def final(self, frame, size):
        self.log.append(("final", frame.index, 0))
        return super().final(frame, size)


@pytest.mark.parametrize("frames", [5, 20])
def test_each_step_runs_when_what_it_needs_is_done(extractor, photo, frames):
    """Streaming (20 frames) and at a clip's end (5, under the lookahead): every exposure is
    measured, swept twice, solved first and finished, in that order; a sweep of ``t`` comes
    after the same sweep of the exposures before it and the sweep before of those after it
    (Gauss-Seidel), and the final solve after its neighbours' first solves."""
    clip = render_clip(photo, ClipSpec(kind="handheld", frames=frames, size=(128, 96), blur=8,
                                       seed=2))
    solver = _Schedule(extractor, 0.5)  # (the default: two sweeps)
    assert solver.sweeps == 2 and solver.lookahead == 8
    _run(extractor, clip.blur, solver=solver)
    at = {entry: n for n, entry in enumerate(solver.log)}
    assert len(at) == len(solver.log)  # no step twice
    for t in range(frames):
        order = [("measure", t, 0), ("sweep", t, 1), ("sweep", t, 2), ("first_pass", t, 0),
                 ("final", t, 0)]
        assert [at[e] for e in order] == sorted(at[e] for e in order), t
        for o in (-2, -1, 1, 2):
            if 0 <= t + o < frames:
                assert at[("first_pass", t + o, 0)] < at[("final", t, 0)]
                for s in (1, 2):
                    if o < 0:  # the same sweep of those before
                        assert at[("sweep", t + o, s)] < at[("sweep", t, s)]
                    else:  # the sweep before of those after, not this one
                        assert at[("sweep", t + o, s)] > at[("sweep", t, s)]
                        assert at[("sweep" if s > 1 else "measure", t + o, s - 1 if s > 1
                                   else 0)] < at[("sweep", t, s)]


def test_bad_sweeps_are_refused():
    for bad in (-1, 9, 1.5, True, "2"):
        with pytest.raises(InputError, match="sweeps"):
            MotionSolver(None, 0.5, sweeps=bad)


def test_without_the_sweeps_the_lookahead_is_shorter(extractor, photo):
    clip = render_clip(photo, ClipSpec(kind="handheld", frames=7, size=(128, 96), blur=8,
                                       seed=2))
    solver = _Schedule(extractor, 0.5, sweeps=0)
    assert solver.lookahead == 4
    _run(extractor, clip.blur, solver=solver)
    assert not any(step == "sweep" for step, _, _ in solver.log)
    assert all(t in solver.paths for t in range(7) if solver.first.get(t) is not None)
