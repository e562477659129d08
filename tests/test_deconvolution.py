"""blurvid/deconvolution.py: told the camera path, the solver recovers the 7 frames."""

import subprocess
import sys

import numpy as np
import pytest
from photos import wave_photo

from blurvid import deconvolution as dc
from blurvid.color import rgb_to_y
from blurvid.consistency import NUM_FRAMES
from blurvid.metrics import frame_psnrs


def _photo(seed=0, side=200):
    return wave_photo(seed, side)


@pytest.fixture(scope="module")
def sample():
    """A 96x96 synthesizer sample: a 12 px curved camera path, translation only, no noise
    (8-bit quantized)."""
    from blurvid.lab.data.synth import SynthConfig, render

    cfg = SynthConfig(size=96, max_acceleration=0.5, max_shake_px=0.0, max_rotation_px=0.0,
                      max_zoom_px=0.0, p_sharp=0.0, noise_shot=(0.0, 0.0),
                      noise_read=(0.0, 0.0), blur_range=(12.0, 12.0),
                      photo_scale=(1.0, 1.0))
    info: dict = {}
    blur, truth = render(_photo(), np.random.default_rng(1), cfg, info=info)
    return rgb_to_y(blur), rgb_to_y(truth), info["path"]


def test_known_path_recovers_the_frames_in_order(sample):
    y, truth, path = sample
    frames = dc.deconvolve_y(y, dc.group_centers(path))
    assert frames.shape == truth.shape and frames.dtype == np.float32
    known, reversed_ = frame_psnrs(frames, truth)
    inp, _ = frame_psnrs(y, truth)
    assert not reversed_  # told the path, it knows the direction of time
    # measured: INPUT 25.9 / 32.8 / 26.2 dB (first / middle / last frame; mean 29.0), the
    # solver 37.7 / 42.6 / 39.3 (mean 40.8, +11.8 dB); the thresholds leave about 2 dB
    assert np.mean(known) > np.mean(inp) + 10
    assert all(k > i + 8 for k, i in zip(known, inp))
    assert min(known) > max(inp) + 3  # every frame is sharper than the photo is close to any
    # the closed form alone (no steps on the edges) rings at the edges: 33.8 dB mean
    closed = dc.deconvolve_y(y, dc.group_centers(path), iters=0)
    assert np.mean(inp) + 3 < np.mean(frame_psnrs(closed, truth)[0]) < np.mean(known) - 5


def test_reversed_path_gives_reversed_frames(sample):
    y, _, path = sample
    groups = dc.group_centers(path)
    frames = dc.deconvolve_y(y, groups, 0.1)
    back = dc.deconvolve_y(y, groups[::-1], 0.1)
    np.testing.assert_allclose(back, frames[::-1], atol=2e-4)
    # the offset of the path is a gauge: the frames do not depend on it
    np.testing.assert_allclose(dc.deconvolve_y(y, groups + [3.7, -11.2], 0.1), frames,
                               atol=2e-4)


def test_zero_path_returns_the_photo():
    rng = np.random.default_rng(0)
    y = rng.uniform(0.05, 0.95, (40, 57)).astype(np.float32)
    frames = dc.deconvolve_y(y, np.zeros((NUM_FRAMES, 2)))
    assert frames.shape == (NUM_FRAMES, 40, 57) and frames.dtype == np.float32
    np.testing.assert_allclose(frames, np.broadcast_to(y, frames.shape), atol=1e-4)
    # without `keep` the prior smooths a still photo: that is what keep is for
    smooth = dc.deconvolve_y(y, np.zeros((NUM_FRAMES, 2)), keep=False)
    assert np.abs(smooth - y).max() > 0.05


def test_sparse_prior_on_a_smooth_photo(sample):
    y, truth, path = sample
    groups = dc.group_centers(path)
    quadratic = dc.deconvolve_y(y, groups, 0.01)
    sparse = dc.deconvolve_y(y, groups, 0.01, sparse=dc.SparsePrior())
    assert sparse.shape == truth.shape and sparse.dtype == np.float32
    q, q_rev = frame_psnrs(quadratic, truth)
    s, s_rev = frame_psnrs(sparse, truth)
    assert not q_rev and not s_rev
    # a smooth wave photo (no flat ground, no sharp edge): the sparse prior has nothing to
    # gain and loses a little; measured: INPUT 29.0 dB mean, quadratic 40.3, sparse 39.7
    assert np.mean(frame_psnrs(y, truth)[0]) + 9 < np.mean(s) and np.mean(s) > np.mean(q) - 1.5
    # no rounds: the quadratic solve itself
    same = dc.deconvolve_y(y, groups, 0.01, sparse=dc.SparsePrior(rounds=0))
    np.testing.assert_array_equal(same, quadratic)


def test_sparse_prior_on_a_grid_too_large_to_keep_the_kernels(sample, monkeypatch):
    """Past _KEEP_KERNELS the frames' kernels are remade from the frequencies at the end: the
    sparse prior's buffers must not take their names."""
    y, _, path = sample
    groups = dc.group_centers(path)
    kept = dc.deconvolve_y(y, groups, 0.01, sparse=dc.SparsePrior())
    monkeypatch.setattr(dc, "_KEEP_KERNELS", 0)
    remade = dc.deconvolve_y(y, groups, 0.01, sparse=dc.SparsePrior())
    np.testing.assert_allclose(remade, kept, atol=1e-5)


def test_sparse_prior_on_edges_and_flat_ground():
    """A piecewise-constant scene (a hyper-Laplacian prior's ideal) blurred 15 px: the sparse
    prior rings less on the flat ground and keeps the edges."""
    import cv2

    from blurvid.color import from_linear, to_linear

    rng = np.random.default_rng(3)
    scene = np.full((120, 120), 0.2, np.float32)
    for _ in range(12):
        r, c, hh, ww = rng.integers(0, 100, 4)
        scene[r:r + 10 + hh // 3, c:c + 10 + ww // 3] = rng.uniform(0.05, 0.9)
    groups = np.stack([np.linspace(-7, 7, NUM_FRAMES), np.linspace(-2, 2, NUM_FRAMES)], 1)
    sub = dc.densify(groups)
    lin = to_linear(scene)
    big = np.pad(lin, 20, mode="reflect")
    shifted = [cv2.warpAffine(big, np.float32([[1, 0, dx], [0, 1, dy]]), big.shape[::-1],
                              flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_REFLECT)
               for dx, dy in sub]
    blurry = from_linear(np.mean(shifted, axis=0)[20:-20, 20:-20])
    truth = np.stack([from_linear(np.mean(shifted[i * 3:(i + 1) * 3], axis=0)[20:-20, 20:-20])
                      for i in range(NUM_FRAMES)])
    quadratic = dc.deconvolve_y(blurry, groups, 0.01)
    sparse = dc.deconvolve_y(blurry, groups, 0.01, sparse=dc.SparsePrior())
    q = np.mean(frame_psnrs(quadratic, truth)[0])
    s = np.mean(frame_psnrs(sparse, truth)[0])
    inp = np.mean(frame_psnrs(blurry, truth)[0])
    # measured: INPUT 19.6 dB, quadratic 24.1 (rings on the flat ground), sparse 36.2
    assert inp + 3 < q < s - 8


def test_group_centers_and_densify_round_trip():
    t = np.arange(NUM_FRAMES)[:, None]
    straight = np.hstack([t * 2.5 - 3.0, t * -1.0 + 4.0])
    for k in (1, 3, 5):
        sub = dc.densify(straight, k)
        assert sub.shape == (NUM_FRAMES * k, 2)
        np.testing.assert_allclose(dc.group_centers(sub), straight, atol=1e-12)
    # a synthesizer-like curved path: t v + a (t^2 - 1/12), 21 sub-frames over [-1/2, 1/2]
    times = (np.arange(21) + 0.5) / 21 - 0.5
    curved = np.outer(times, [20.0, 5.0]) + np.outer(times ** 2 - 1 / 12, [-6.0, 12.0])
    groups = dc.group_centers(curved)
    np.testing.assert_allclose(groups, curved.reshape(NUM_FRAMES, 3, 2).mean(1))
    # piecewise-linear in time: within 0.1 px of the true sub-frames here (0.09 measured)
    assert np.abs(dc.densify(groups, 3) - curved).max() < 0.1
    assert np.abs(dc.group_centers(dc.densify(groups, 3)) - groups).max() < 0.1
    # the solver's sub-frames keep the group centers exactly
    np.testing.assert_allclose(dc.group_centers(dc._subframes(groups, 3)), groups, atol=1e-12)
    assert dc.path_length(straight) == pytest.approx(6 * np.hypot(2.5, 1.0))


def test_path_error_is_order_invariant():
    t = np.arange(NUM_FRAMES)[:, None] * 1.0
    path = np.hstack([t * 3, t ** 2 / 4])
    assert dc.path_error(path + 5, path) == (0.0, False)
    err, rev = dc.path_error(path[::-1] - 2, path)
    assert err == pytest.approx(0.0, abs=1e-12) and rev
    wobble = np.array([[1.0, 0.0], [-1.0, 0.0]] * 3 + [[0.0, 0.0]])
    assert dc.path_error(path + wobble, path)[0] == pytest.approx(np.sqrt(6 / 7), abs=0.05)


def test_transfer_functions_of_one_shift():
    shape = (8, 10)
    path = np.tile([[1.0, 2.0]], (NUM_FRAMES * 3, 1))
    k_all, k_frames = dc.transfer_functions(path, shape, 3)
    assert k_all.shape == shape and k_frames.shape == (NUM_FRAMES,) + shape
    image = np.random.default_rng(0).random(shape)
    shifted = np.real(np.fft.ifft2(k_all * np.fft.fft2(image)))
    np.testing.assert_allclose(shifted, np.roll(image, (-2, -1), axis=(0, 1)), atol=1e-12)


def test_tiled_with_one_path_matches_the_whole_photo(sample):
    y, truth, path = sample
    groups = dc.group_centers(path)
    whole = dc.deconvolve_y(y, groups, 0.1)
    rows, cols = dc.tile_grid(y.shape, 64, 32)
    assert len(rows) > 1 and len(cols) > 1
    paths = np.broadcast_to(groups, (len(rows), len(cols), NUM_FRAMES, 2)).copy()
    paths[0, 1] = paths[0, 1, ::-1]  # one window's estimate runs the other way
    tiled = dc.deconvolve_tiled(y, paths, 64, 32, weight=0.1)
    assert tiled.shape == whole.shape and tiled.dtype == np.float32
    # each window sees the photo around it: about as good as the whole photo (measured 40.7
    # dB and 40.8) and close to it away from the photo's edges (where the scene beyond is a
    # guess): 0.27 / 255 mean, 3.3 / 255 at most (3 CG steps do not converge all the way)
    assert np.mean(frame_psnrs(tiled, truth)[0]) > np.mean(frame_psnrs(whole, truth)[0]) - 0.5
    inner = np.abs(tiled - whole)[:, 12:-12, 12:-12]
    assert inner.mean() < 1 / 255 and inner.max() < 6 / 255
    single = dc.deconvolve_tiled(y, groups[None, None], 128, 32, weight=0.1)
    np.testing.assert_array_equal(single, whole)
    # threads change nothing but the time
    np.testing.assert_array_equal(dc.deconvolve_tiled(y, paths, 64, 32, 0.1, threads=2), tiled)
    np.testing.assert_array_equal(dc.deconvolve_y(y, groups, 0.1, threads=3), whole)


def test_orient_paths_follows_the_first_window():
    t = np.arange(NUM_FRAMES)[:, None] * 1.0
    path = np.hstack([t * 2, t])
    paths = np.stack([np.stack([path, path[::-1] + 4]), np.stack([path[::-1], path])])
    oriented = dc.orient_paths(paths)
    for r in range(2):
        for c in range(2):
            assert dc.path_error(oriented[r, c], path) == (0.0, False)


def test_weight_for_the_path_uncertainty():
    assert dc.weight_for(0) == pytest.approx(0.1) == dc.DEFAULT_WEIGHT
    assert dc.weight_for(1) == pytest.approx(0.4)
    assert dc.weight_for(2) == pytest.approx(0.9)
    assert dc.weight_for(0.5) < dc.weight_for(1.5) < dc.weight_for(3)
    with pytest.raises(ValueError):
        dc.weight_for(-1)


def test_odd_sizes_and_float64():
    y = np.random.default_rng(1).random((33, 21))
    groups = np.stack([np.linspace(-4, 4, NUM_FRAMES), np.zeros(NUM_FRAMES)], 1)
    frames = dc.deconvolve_y(y, groups, 0.3, pad=7, iters=2)
    assert frames.shape == (NUM_FRAMES, 33, 21) and frames.dtype == np.float32
    assert np.isfinite(frames).all() and frames.min() >= 0 and frames.max() <= 1


@pytest.mark.parametrize("call, match", [
    (lambda: dc.deconvolve_y(np.zeros((8, 8, 3), np.float32), np.zeros((7, 2))), "luma"),
    (lambda: dc.deconvolve_y(np.zeros((8, 8), np.uint8), np.zeros((7, 2))), "float"),
    (lambda: dc.deconvolve_y(np.zeros((8, 8), np.float32), np.zeros((6, 2))), r"\(7, 2\)"),
    (lambda: dc.deconvolve_y(np.zeros((8, 8), np.float32), np.zeros((7, 3))), r"\(7, 2\)"),
    (lambda: dc.deconvolve_y(np.full((8, 8), np.nan, np.float32), np.zeros((7, 2))), "NaN"),
    (lambda: dc.deconvolve_y(np.zeros((8, 8), np.float32), np.zeros((7, 2)), 0.0), "weight"),
    (lambda: dc.deconvolve_y(np.zeros((8, 8), np.float32), np.zeros((7, 2)), pad=-1), "pad"),
    (lambda: dc.deconvolve_tiled(np.zeros((100, 100), np.float32), np.zeros((1, 1, 7, 2)),
                                 64, 16), "paths"),
    (lambda: dc.deconvolve_tiled(np.zeros((100, 100), np.float32), np.zeros((2, 2, 7, 2)),
                                 64, 16, weight=np.ones(3)), "weight"),
    (lambda: dc.deconvolve_y(np.zeros((8, 8), np.float32), np.zeros((7, 2)), threads=0),
     "threads"),
    (lambda: dc.group_centers(np.zeros((20, 2))), "multiple"),
    (lambda: dc.SparsePrior(rounds=-1), "rounds"),
    (lambda: dc.SparsePrior(steps=1.5), "steps"),
    (lambda: dc.SparsePrior(power=0.0), "power"),
    (lambda: dc.SparsePrior(scale=float("nan")), "scale"),
    (lambda: dc.SparsePrior(floor=0.0), "floor"),
    (lambda: dc.SparsePrior(scale="x"), "scale"),
    (lambda: dc.SparsePrior(power=2.5), "power"),
    (lambda: dc.deconvolve_y(np.zeros((8, 8), np.float32), np.zeros((7, 2)), sparse=2),
     "SparsePrior"),
    (lambda: dc.densify(np.zeros((7, 2)), 0), "per_frame"),
])
def test_bad_input_raises_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_no_lab_or_torch_import():
    code = ("import sys, blurvid.deconvolution; "
            "bad = [m for m in sys.modules if m.startswith(('blurvid.lab', 'torch'))]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------- benchmarks/motion_guided.py


def _motion_guided():
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import motion_guided

    return motion_guided


def test_benchmark_table_runs(tmp_path, capsys):
    import json

    import cv2

    for k in range(2):
        pixels = (np.clip(_photo(k, 120), 0, 1) ** (1 / 2.2) * 255).astype(np.uint8)
        cv2.imwrite(str(tmp_path / f"p{k}.png"), pixels)
    mg = _motion_guided()
    assert mg.main(["--images", str(tmp_path), "-n", "3", "--size", "64x48", "--realistic",
                    "--translation", "--no-model", "--rgb", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["samples"] == 3 and len(result["methods"]) == 2
    told = result["methods"]["told path, W=0.1"]
    assert told["gain_mean"] > 0 and len(told["frames"]) == NUM_FRAMES
    assert mg.main(["--images", str(tmp_path), "--set", "nonsense=1"]) == 1
    assert "nonsense" in capsys.readouterr().err


def test_estimate_paths_on_overlapping_windows():
    from blurvid.lab.motion import estimate_paths

    mg = _motion_guided()
    seen = []

    class Output:
        def __init__(self, name):
            self.name = name

    class Session:  # the estimator's contract: blur (N, 1, 128, 128) -> path, log_sigma
        def get_outputs(self):
            return [Output("path"), Output("log_sigma")]

        def run(self, names, feeds):
            blur = feeds["blur"]
            seen.append(blur.shape)
            n = len(blur)
            path = np.arange(n, dtype=np.float32)[:, None, None] + np.zeros((n, 7, 2), np.float32)
            return [path, np.zeros(n, np.float32)]

    y = np.random.default_rng(0).random((256, 200)).astype(np.float32)
    paths, sigma = estimate_paths(Session(), y, tile=128, stride=64)
    rows, cols = dc.tile_grid(y.shape, 128, 64)
    assert paths.shape == (len(rows), len(cols), NUM_FRAMES, 2) == (3, 3, NUM_FRAMES, 2)
    assert seen == [(9, 1, 128, 128)] and np.allclose(sigma, 1.0)
    assert paths[1, 0, 0, 0] == 3  # windows in raster order
    small, _ = estimate_paths(Session(), y[:90, :70], tile=128, stride=64)
    assert small.shape == (1, 1, NUM_FRAMES, 2)  # reflected up to the model's 128 px
    groups = np.stack([np.linspace(-5, 5, NUM_FRAMES), np.zeros(NUM_FRAMES)], 1)
    both = np.stack([np.stack([groups, groups[::-1] + 3])])
    np.testing.assert_allclose(dc.one_path(both), groups, atol=1e-12)
    rng = np.random.default_rng(0)
    for rms in (0.5, 2.0):
        assert dc.path_error(mg.smooth_error(groups, rms, rng), groups)[0] == pytest.approx(rms)
