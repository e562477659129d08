"""blurvid.camera_motion: flows between blurry frames, affine fits, the trajectory inside an
exposure from window averages, and its refinement against the neighbours' sharp frames."""

import math

import cv2
import numpy as np
import pytest

from blurvid import camera_motion as cm
from blurvid.consistency import NUM_FRAMES
from tests.fakes import texture


def _affine(angle=0.0, zoom=0.0, tx=0.0, ty=0.0):
    m = np.eye(3)
    c, s = np.cos(angle) * (1 + zoom), np.sin(angle) * (1 + zoom)
    m[:2] = [[c, -s, tx], [s, c, ty]]
    return m


def _trajectory(shutter=0.5, size=(96, 128)):
    """A camera with curvature and a little rotation: R(tau) = I + A1 tau + A2 tau^2 + A3 tau^3."""
    coeffs = np.zeros((3, 3, 3))
    coeffs[0, :2] = [[0.0, -0.004, 18.0], [0.004, 0.0, -7.0]]
    coeffs[1, :2, 2] = [6.0, 9.0]
    coeffs[2, :2, 2] = [-8.0, 3.0]
    return cm.Trajectory(coeffs, shutter, size)


def _warp(image, centred_map):
    """``image`` sampled at ``M p``: the frame whose pixel p shows image's point M p."""
    h, w = image.shape[:2]
    px = cm._pixel_map(centred_map, (h, w))
    return cv2.warpAffine(image, px[:2], (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REFLECT101)


def test_fit_affine_recovers_a_known_map_despite_outliers():
    h, w = 90, 160
    g = _affine(0.01, 0.005, 12.5, -4.25)
    x, y, _ = cm.centred_grid(h, w, (h, w))
    tx = g[0, 0] * x + g[0, 1] * y + g[0, 2]
    ty = g[1, 0] * x + g[1, 1] * y + g[1, 2]
    flow = np.stack([tx - x, ty - y], axis=-1).astype(np.float32)
    flow[10:40, 20:60] += (9.0, -6.0)  # something moving on its own: 8 % of the frame
    fit = cm.fit_affine(flow, h, w, step=4)
    assert np.abs(fit.matrix[:2, :2] - g[:2, :2]).max() < 1e-4
    assert np.abs(fit.matrix[:2, 2] - g[:2, 2]).max() < 0.02
    assert np.nanmedian(fit.residual[10:40, 20:60]) > 8  # the outliers stand out
    assert np.nanmedian(fit.residual[50:, 80:]) < 0.01


def test_fit_affine_refuses_what_is_not_a_flow():
    with pytest.raises(ValueError, match="flow must be"):
        cm.fit_affine(np.zeros((10, 10), np.float32), 90, 160)


@pytest.mark.parametrize("height, width", [(533, 1280), (800, 1920), (501, 1280), (45, 63)])
def test_fit_affine_on_any_frame_size(height, width):
    """Wide frames scale to an analysis grid whose two axes round differently (a 1280x533
    frame: 640x266, not the 639 one scale gives): the fit takes the flow's own grid."""
    scale = cm.analysis_scale(height, width)
    small = cm.analysis_luma(np.zeros((height, width), np.float32), scale)
    flow = np.zeros(small.shape + (2,), np.float32)
    flow[..., 0] = 3.0 * small.shape[1] / width  # a 3 px shift in full-size pixels
    fit = cm.fit_affine(flow, height, width)
    np.testing.assert_allclose(fit.matrix[:2, 2], (3.0, 0.0), atol=1e-6)


def test_flow_between_finds_a_shift_of_40_px():
    """DIS alone loses track of large shifts; the phase correlation first finds it."""
    scene = (texture(200, 300, seed=3)[..., 1] * 255).astype(np.uint8)
    shift = np.float32([[1, 0, 31.4], [0, 1, -22.7]])
    moved = cv2.warpAffine(scene, shift, (300, 200), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                           borderMode=cv2.BORDER_REFLECT101)
    # moved(p) = scene(p + s): the point p of `moved` is at p + s in `scene`
    flow = cm.flow_between(moved, scene)
    inner = flow[40:-40, 60:-60].reshape(-1, 2)
    assert np.abs(np.median(inner, axis=0) - (31.4, -22.7)).max() < 0.25


def test_flow_between_refuses_images_of_two_sizes():
    with pytest.raises(ValueError):
        cm.flow_between(np.zeros((10, 12), np.uint8), np.zeros((10, 13), np.uint8))


def _pair_fits(trajectory, offsets):
    """Exact G_ij with Rbar_j G_ij = Rbar_i for every pair of offsets up to 2 apart."""
    s = trajectory.shutter
    mean = {k: trajectory.mean_map(*cm.exposure_window(k, s)) for k in offsets}
    return {(i, j): np.linalg.solve(mean[j], mean[i])
            for i in offsets for j in offsets if 0 < j - i <= 2}


@pytest.mark.parametrize("offsets", [(-2, -1, 0, 1, 2), (0, 1, 2, 3), (-3, -2, -1, 0)])
def test_fit_trajectory_recovers_the_camera_from_window_averages(offsets):
    """The flows between blurry frames see only window averages; with enough windows a
    polynomial camera comes back exactly (at a clip's ends too: one-sided windows)."""
    truth = _trajectory()
    fitted = cm.fit_trajectory(_pair_fits(truth, offsets), truth.shutter, truth.size)
    assert fitted.degree == min(cm.MAX_DEGREE, len(offsets) - 1)
    np.testing.assert_allclose(fitted.group_maps(), truth.group_maps(), atol=2e-6)


def test_fit_trajectory_caps_the_degree_with_few_windows():
    truth = _trajectory()
    fitted = cm.fit_trajectory(_pair_fits(truth, (0, 1)), truth.shutter, truth.size)
    assert fitted.degree == 1  # two windows: a velocity, no more
    assert np.all(np.isfinite(fitted.group_maps()))


def test_no_fits_is_a_still_camera():
    still = cm.fit_trajectory({}, 0.5, (10, 20))
    assert still.degree == 0 and still.blur_length() == 0
    np.testing.assert_array_equal(still.displacements(np.zeros(3), np.zeros(3)), 0)


def test_displacements_of_a_steady_pan():
    """R(tau) = I + v tau: the 7 group centres are v times the groups' middle times."""
    coeffs = np.zeros((1, 3, 3))
    coeffs[0, :2, 2] = (14.0, -7.0)
    pan = cm.Trajectory(coeffs, 0.5, (40, 60))
    d = pan.displacements(np.array(5.0), np.array(-3.0))
    mid = -0.25 + 0.5 * (np.arange(NUM_FRAMES) + 0.5) / NUM_FRAMES
    np.testing.assert_allclose(d, np.outer(mid, (14.0, -7.0)), atol=1e-12)
    assert pan.blur_length() == pytest.approx(np.hypot(14, 7) * 0.5 * 6 / 7)


def test_scaled_and_corrected_trajectories():
    t = _trajectory()
    half = cm.scaled(t, 0.5)
    assert half.size == (48, 64)
    np.testing.assert_allclose(half.displacements(np.array(10.0), np.array(4.0)),
                               0.5 * t.displacements(np.array(20.0), np.array(8.0)), atol=1e-9)
    correction = np.array([[0.5, -0.3, 0.2], [0.1, 0.4, -0.2]])
    corrected = cm.with_correction(t, correction)
    np.testing.assert_allclose(corrected.at(0.0), np.eye(3), atol=1e-12)  # R(0) = I kept
    taus = np.linspace(-0.25, 0.25, 5)
    phi = cm._legendre(2 * taus / 0.5, 3)
    for k, tau in enumerate(taus):
        added = corrected.at(tau)[:2, 2] - t.at(tau)[:2, 2]
        np.testing.assert_allclose(added, correction @ phi[:, k] - correction @
                                   cm._legendre(np.zeros(1), 3)[:, 0], atol=1e-9)


def test_consensus_shift_follows_the_scene_not_an_object_moving_on_its_own():
    """A bright object over 1.4 % of the frame moving by (8, 5) px drags a phase correlation
    of the whole frame off the scene's (1.5, -0.5); the tiles' median keeps the scene's."""
    h, w = 120, 214
    scene = (texture(h + 40, w + 40, seed=3)[..., 1] ** 2.2).astype(np.float32)
    moved = cv2.warpAffine(scene, np.float32([[1, 0, 1.5], [0, 1, -0.5]]),
                           (w + 40, h + 40), borderMode=cv2.BORDER_REFLECT101)
    first, second = scene[20:20 + h, 20:20 + w].copy(), moved[20:20 + h, 20:20 + w].copy()
    for image, (x, y) in ((first, (90, 50)), (second, (98, 55))):
        image[y:y + 14, x:x + 26] = 0.0
        image[y + 3:y + 11, x + 3:x + 23] = 1.0
    assert np.hypot(*np.subtract(cm._global_shift(first, second), (1.5, -0.5))) > 1.0
    assert np.allclose(cm._consensus_shift(first, second), (1.5, -0.5), atol=0.1)
    # a portrait frame gets its tiles the other way round (4 rows, 3 columns), not the
    # whole frame's correlation
    upright = np.ascontiguousarray(first.T), np.ascontiguousarray(second.T)
    assert np.hypot(*np.subtract(cm._global_shift(*upright), (-0.5, 1.5))) > 1.0
    assert np.allclose(cm._consensus_shift(*upright), (-0.5, 1.5), atol=0.1)
    # fewer than 3 tiles of 32 px: the whole frame's
    small = first[:40, :90], second[:40, :90]
    assert cm._consensus_shift(*small) == cm._global_shift(*small)


def test_refine_trajectory_finds_the_motion_inside_the_exposure():
    """The flows pin the window averages, not the path inside: told its neighbours' sharp
    frames, the refinement finds a path 1 px off to within 0.1 px."""
    h, w = 96, 128
    scene = texture(h, w, seed=5)[..., 1] ** 2.2
    truth = _trajectory(size=(h, w))
    blurry = np.mean([_warp(scene, truth.at(tau)) for tau in np.linspace(-0.25, 0.25, 64)],
                     axis=0)
    neighbours = {k: _warp(scene, truth.at(k)) for k in (-1, 1)}
    coeffs = truth.coeffs.copy()  # the same camera but for its translation's shape
    coeffs[0, :2, 2] += (5.0, -3.0)
    coeffs[1, :2, 2] += (16.0, -12.0)
    coeffs[2, :2, 2] += (-30.0, 20.0)
    wrong = cm.Trajectory(coeffs, truth.shutter, truth.size)

    def error(t):
        e, g = t.displacements(np.zeros(()), np.zeros(())), truth.displacements(np.zeros(()),
                                                                                 np.zeros(()))
        d = (e - e.mean(0)) - (g - g.mean(0))
        return float(np.sqrt(np.mean(np.sum(d**2, axis=-1))))

    assert error(wrong) > 0.7
    found = cm.refine_trajectory(wrong, blurry.astype(np.float32), neighbours)
    assert error(found.trajectory) < 0.1
    assert found.explained > 0.9 and found.residual.shape == (h, w)


def _relative(truth: cm.Trajectory, k: int) -> cm.Trajectory:
    """Exposure ``k``'s own trajectory (time from its middle): ``R_k(s) = R(k)^-1 R(k + s)``,
    the powers of ``k + s`` expanded."""
    back = np.linalg.inv(truth.at(k))
    coeffs = np.zeros_like(truth.coeffs)
    for n, a in enumerate(truth.coeffs, start=1):
        for m in range(1, n + 1):
            coeffs[m - 1] += math.comb(n, m) * k ** (n - m) * a
    coeffs = np.einsum("ij,njk->nik", back, coeffs)
    coeffs[:, 2] = 0.0
    return cm.Trajectory(coeffs, truth.shutter, truth.size)


def _error(t: cm.Trajectory, truth: cm.Trajectory) -> float:
    """px rms of the image centre's group centres, each path's mean removed."""
    e, g = (x.displacements(np.zeros(()), np.zeros(())) for x in (t, truth))
    d = (e - e.mean(0)) - (g - g.mean(0))
    return float(np.sqrt(np.mean(np.sum(d**2, axis=-1))))


def test_relative_trajectory_is_the_same_camera():
    truth = _trajectory()
    own = _relative(truth, 1)
    np.testing.assert_allclose(own.at(0.0), np.eye(3), atol=1e-12)
    for s in (-0.25, 0.1, 0.25):
        np.testing.assert_allclose(truth.at(1) @ own.at(s), truth.at(1 + s), atol=1e-9)


def _blurry_clip(scene, truth, offsets=(-2, -1, 0, 1, 2)):
    """Each exposure's blurry frame (linear), the camera ``truth`` over its window."""
    frames = {}
    for k in offsets:
        start, end = cm.exposure_window(k, truth.shutter)
        frames[k] = np.mean([_warp(scene, truth.at(tau))
                             for tau in np.linspace(start, end, 64)], axis=0).astype(np.float32)
    return frames


def _wrong_inside(truth: cm.Trajectory) -> cm.Trajectory:
    """The same camera at the neighbours' middles (where the refinements place them), but
    for its translation's shape inside the exposure: ``3 tau (tau^2 - 1) (tau^2 - 4)`` px in
    x and ``12 tau^2 (tau^2 - 1) (tau^2 - 4)`` in y, zero at 0, +-1, +-2."""
    coeffs = np.zeros((6, 3, 3))
    coeffs[:truth.degree] = truth.coeffs
    for power, value in ((1, 4.0), (3, -5.0), (5, 1.0)):
        coeffs[power - 1, 0, 2] += 3.0 * value
    for power, value in ((2, 4.0), (4, -5.0), (6, 1.0)):
        coeffs[power - 1, 1, 2] += 12.0 * value
    return cm.Trajectory(coeffs, truth.shutter, truth.size)


def test_refine_between_blurry_finds_the_motion_from_blurry_neighbours():
    """No sharp frame at all: told the neighbours' own paths, the blurry frames alone pin a
    path 1.8 px off to within 0.15 px."""
    h, w = 96, 128
    scene = texture(h, w, seed=5)[..., 1] ** 2.2
    truth = _trajectory(size=(h, w))
    frames = _blurry_clip(scene, truth)
    wrong = _wrong_inside(truth)
    for k in (-2, -1, 1, 2):
        np.testing.assert_allclose(wrong.at(k), truth.at(k), atol=1e-9)
    assert _error(wrong, truth) > 1.5
    neighbours = {k: (frames[k], _relative(truth, k)) for k in (-2, -1, 1, 2)}
    found = cm.refine_between_blurry(wrong, frames[0], neighbours)
    assert _error(found, truth) < 0.15
    # a neighbour's path not given: this trajectory over its window (here as wrong as it is)
    guessed = cm.refine_between_blurry(wrong, frames[0], {k: (f, None) for k, (f, _) in
                                                          neighbours.items()})
    assert _error(guessed, truth) > _error(found, truth)


def test_a_neighbours_mask_leaves_its_pixels_out():
    """A neighbour's mask (on its own grid) is carried onto this frame's: two neighbours whose
    frames show something else (a scene of their own), masked out, leave the path to the
    others; not masked, they spoil it."""
    h, w = 96, 128
    scene = texture(h, w, seed=5)[..., 1] ** 2.2
    truth = _trajectory(size=(h, w))
    frames = _blurry_clip(scene, truth)
    other = _blurry_clip(texture(h, w, seed=9)[..., 1] ** 2.2, truth)
    neighbours = {k: (other[k] if k > 0 else frames[k], _relative(truth, k))
                  for k in (-2, -1, 1, 2)}
    wrong = _wrong_inside(truth)
    masked = cm.refine_between_blurry(wrong, frames[0], neighbours,
                                      masks={k: np.zeros((h, w), bool) for k in (1, 2)})
    spoiled = cm.refine_between_blurry(wrong, frames[0], neighbours)
    assert _error(masked, truth) < 0.15 < _error(spoiled, truth)


def test_an_object_moving_on_its_own_does_not_pull_the_path(monkeypatch):
    """A bright object over 1.5 % of each frame, moving on its own and not masked: the
    neighbours' starting offsets come from the tiles' consensus and the path is found to
    under 1 px (0.84; 0.04 with the object masked); from a phase correlation of the whole
    frame, which follows the object, the fit settles 4.9 px off on a blur 3x too long."""
    h, w = 192, 288
    scene = texture(h, w, seed=5)[..., 1] ** 2.2
    truth = _trajectory(size=(h, w))
    frames = _blurry_clip(scene, truth)
    for k, frame in frames.items():  # drawn over each blurry frame, 9 px further each frame
        x, y = 120 + 9 * k, 80 + 5 * k
        frame[y:y + 16, x:x + 52] = 0.0
        frame[y + 4:y + 12, x + 4:x + 48] = 1.0
    neighbours = {k: (frames[k], _relative(truth, k)) for k in (-2, -1, 1, 2)}
    wrong = _wrong_inside(truth)
    found = cm.refine_between_blurry(wrong, frames[0], neighbours)
    monkeypatch.setattr(cm, "_consensus_shift", cm._global_shift)
    followed = cm.refine_between_blurry(wrong, frames[0], neighbours)
    assert _error(found, truth) < 1.0 and _error(followed, truth) > 3.0


@pytest.mark.parametrize("length, expected", [(0.0, 4 / 9), (2.0, 0.25), (10.0, 0.0617)])
def test_kernel_energy_of_a_straight_path(length, expected):
    """A point keeps 4/9 of white noise's variance (between pixels the interpolation
    averages), a straight path L px long about 2 / (3 L)."""
    points = np.stack([np.linspace(0.0, length, 32), np.zeros(32)], axis=1)
    assert cm.kernel_energy(points) == pytest.approx(expected, abs=2e-3)
    # where the path sits between pixels is averaged over
    assert cm.kernel_energy(points + (0.3, 0.7)) == pytest.approx(cm.kernel_energy(points))


def test_noise_does_not_lengthen_a_short_blur(monkeypatch):
    """Blurred along a longer path a noisy frame is less noisy; with the noise's expected
    share taken off the fit's cost, a 3.7 px blur in noise of 0.01 is found 4.1 px long, and
    6.1 px without (the noise taken as 0)."""
    h, w = 96, 128
    scene = (texture(h, w, seed=5)[..., 1] ** 2.2) * 0.5 + 0.2
    coeffs = np.zeros((2, 3, 3))
    coeffs[0, :2, 2], coeffs[1, :2, 2] = (8.0, -3.0), (4.0, 6.0)
    truth = cm.Trajectory(coeffs, 0.5, (h, w))
    rng = np.random.default_rng(5)
    frames = {k: (f + rng.normal(0.0, 0.01, f.shape)).astype(np.float32)
              for k, f in _blurry_clip(scene, truth).items()}
    neighbours = {k: (frames[k], _relative(truth, k)) for k in (-2, -1, 1, 2)}
    found = cm.refine_between_blurry(truth, frames[0], neighbours)
    monkeypatch.setattr(cm, "noise_level", lambda luma: 0.0)
    biased = cm.refine_between_blurry(truth, frames[0], neighbours)
    assert abs(found.blur_length() - truth.blur_length()) < 0.75
    assert biased.blur_length() - truth.blur_length() > 2.0


def test_refine_between_blurry_without_neighbours_finds_nothing():
    assert cm.refine_between_blurry(_trajectory(), np.zeros((96, 128), np.float32), {}) is None


def test_a_refined_trajectory_is_refined_with_its_neighbours_placed_by_another():
    """A correction holds inside its exposure; beyond it its polynomial runs off, so the
    neighbours are placed by the trajectory it corrects (``placed``)."""
    h, w = 96, 128
    scene = texture(h, w, seed=5)[..., 1] ** 2.2
    truth = _trajectory(size=(h, w))
    blurry = _blurry_clip(scene, truth, (0,))[0]
    neighbours = {k: _warp(scene, truth.at(k)) for k in (-1, 1)}
    corrected = cm.with_correction(truth, np.array([[0.0, 0.0, 0.3], [0.0, 0.0, -0.3]]))
    assert np.abs(corrected.at(1.0) - truth.at(1.0)).max() > 10  # runs off beyond
    assert _error(corrected, truth) > 0.2
    found = cm.refine_trajectory(corrected, blurry, neighbours, placed=truth)
    assert _error(found.trajectory, truth) < 0.1 and found.explained > 0.9
    assert cm.refine_trajectory(corrected, blurry, neighbours) is None  # out of view


@pytest.mark.parametrize("typical, still, floor, expected", [
    (0.001, 0.004, 0.0, 0.75),  # the blur explains three quarters of the miss
    (0.002, 0.004, 0.002, 1.0),  # all of it beyond the noise
    (0.006, 0.004, 0.0, -0.5),  # the blur predicts worse: a wrong motion
    (0.0027, 0.0047, 0.0047, 0.0),  # noise hides the evidence, the blur predicts better
    (0.00002, 0.0, 0.0, -1.0),  # a flat frame the blur predicts worse than none
    (0.0, 0.0, 0.0, 0.0),  # nothing at all to tell
])
def test_explained_share(typical, still, floor, expected):
    assert cm.explained_share(typical, still, floor) == pytest.approx(expected)


def test_refine_trajectory_without_neighbours_finds_nothing():
    t = _trajectory()
    assert cm.refine_trajectory(t, np.zeros((96, 128), np.float32), {}) is None
