"""Tests of the path estimator (blurvid.lab.train.path_estimator) and its training
(blurvid.lab.train.path_training): shapes, the order-invariant loss, augmentation consistency,
the in-graph autocorrelation, ONNX parity and exact resume."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from blurvid.lab.train.path_estimator import (MAX_LAG, NUM_FRAMES, TILE,  # noqa: E402
                                              PathEstimator, augment, export_form,
                                              group_centers, path_error2, path_loss)
from blurvid.lab.train import path_training  # noqa: E402

TINY = dict(width=8, ac_width=8, hidden=16)


@pytest.fixture(autouse=True)
def _one_thread(torch_one_thread):
    yield


def test_output_shapes_and_mean_removed():
    torch.manual_seed(0)
    model = PathEstimator(**TINY).eval()
    with torch.no_grad():
        path, log_sigma = model(torch.rand(3, 1, TILE, TILE))
    assert path.shape == (3, NUM_FRAMES, 2)
    assert log_sigma.shape == (3,)
    assert torch.allclose(path.sum(1), torch.zeros(3, 2), atol=1e-4)


def test_group_centers():
    path = np.arange(42, dtype=np.float64).reshape(21, 2)
    c = group_centers(path)
    assert c.shape == (7, 2)
    np.testing.assert_allclose(c.sum(0), 0, atol=1e-12)
    np.testing.assert_allclose(c[1] - c[0], [6, 6])  # groups of 3 sub-frames, step 2 per frame
    assert torch.allclose(group_centers(torch.from_numpy(path)), torch.from_numpy(c))


def test_loss_is_order_invariant_and_zero_for_the_truth():
    g = torch.Generator().manual_seed(1)
    p = torch.randn(5, 7, 2, generator=g) * 10
    t = torch.randn(5, 7, 2, generator=g) * 10
    assert torch.allclose(path_error2(p, t), path_error2(p, t.flip(1)))
    assert torch.allclose(path_error2(t, t), torch.zeros(5))
    assert torch.allclose(path_error2(t.flip(1), t), torch.zeros(5))
    assert torch.allclose(path_error2(t + 3.0, t), torch.zeros(5), atol=1e-5)  # mean-removed
    loss, err2 = path_loss(p, t)
    loss_r, _ = path_loss(p, t.flip(1))
    assert torch.allclose(loss, loss_r) and loss > 0
    # the NLL term is minimal where sigma equals the rms error
    e = float(err2[0].sqrt())
    values = [float(path_loss(p[:1], t[:1], torch.tensor([np.log(e * f)]))[0])
              for f in (0.5, 1.0, 2.0)]
    assert values[1] < values[0] and values[1] < values[2]


def _translate_blur(scene: np.ndarray, path: np.ndarray) -> np.ndarray:
    """Average of sub-frames where pixel p shows scene(p + d_m) (integer d, periodic scene):
    the synthesizer's convention, re-rendered exactly."""
    return np.mean([np.roll(scene, (-int(dy), -int(dx)), axis=(0, 1)) for dx, dy in path], 0)


@pytest.mark.parametrize("code", range(8))
def test_augmentation_keeps_image_and_path_consistent(code):
    rng = np.random.default_rng(code)
    scene = rng.random((24, 24))
    path = np.cumsum(rng.integers(-2, 3, size=(21, 2)), 0).astype(np.float32)
    blur = _translate_blur(scene, path)
    aug_blur, aug_path = augment(blur, path, code)
    aug_scene, same_path = augment(scene, path, code)
    np.testing.assert_array_equal(same_path, aug_path)
    np.testing.assert_allclose(aug_blur, _translate_blur(aug_scene, aug_path), atol=1e-12)
    if code:  # a real change of the path for an asymmetric path
        assert not np.array_equal(aug_path, path)


def test_augmentation_matches_the_synthesizer():
    """A horizontal flip of a rendered sample looks like the same scene flipped, rendered with
    the flipped path: the blur direction seen in the gradients follows the path."""
    from blurvid.lab.data.synth import SynthConfig, render

    rng = np.random.default_rng(3)
    import cv2

    photo = cv2.resize(rng.random((40, 40, 3)).astype(np.float32), (200, 200),
                       interpolation=cv2.INTER_CUBIC).clip(0, 1)
    cfg = SynthConfig(size=64, blur_range=(20, 20), p_sharp=0, max_rotation_px=0,
                      max_zoom_px=0, max_shake_px=0, max_acceleration=0, noise_shot=(0, 0),
                      noise_read=(0, 0), photo_scale=(1, 1))
    info: dict = {}
    blur, _ = render(photo, rng, cfg, info=info)
    y = blur.mean(-1)
    for code in range(8):
        img, path = augment(y, info["path"], code)
        d = path[-1] - path[0]
        d /= np.linalg.norm(d)
        # gradient energy is lowest along the blur direction
        gx = np.diff(img, axis=1)[:-1, :]
        gy = np.diff(img, axis=0)[:, :-1]
        along = np.mean((d[0] * gx + d[1] * gy) ** 2)
        across = np.mean((-d[1] * gx + d[0] * gy) ** 2)
        assert along < 0.3 * across, code


def test_autocorrelation_feature_matches_fft():
    model = PathEstimator(**TINY)
    y = torch.rand(2, 1, TILE, TILE)
    _, ac = model.features(y)
    yy = y - y.mean((2, 3), keepdim=True)
    b = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16
    yy = torch.nn.functional.conv2d(torch.nn.functional.pad(yy, (2, 2, 2, 2), mode="replicate"),
                                    torch.outer(b, b)[None, None])
    gx = torch.nn.functional.pad(yy[..., :, 1:] - yy[..., :, :-1], (0, 1, 0, 0))
    gy = torch.nn.functional.pad(yy[..., 1:, :] - yy[..., :-1, :], (0, 0, 0, 1))
    g = torch.cat([gx, gy], 1) * model.window
    ref = torch.fft.ifft2((torch.fft.fft2(g).abs() ** 2).sum(1)).real
    c = TILE // 2
    ref = torch.fft.fftshift(ref, dim=(-2, -1))[:, c - MAX_LAG:c + MAX_LAG + 1,
                                                 c - MAX_LAG:c + MAX_LAG + 1]
    ref = ref / ref[:, MAX_LAG:MAX_LAG + 1, MAX_LAG:MAX_LAG + 1]
    assert torch.allclose(ac[:, 0], ref, atol=1e-5)


def test_export_form_is_the_same_function():
    torch.manual_seed(2)
    model = PathEstimator(**TINY)
    with torch.no_grad():  # non-trivial batch-norm statistics
        for _ in range(3):
            model(torch.rand(4, 1, TILE, TILE))
    model.eval()
    fused = export_form(model)
    y = torch.rand(2, 1, TILE, TILE)
    with torch.no_grad():
        for a, b in zip(model(y), fused(y)):
            assert torch.allclose(a, b, atol=1e-5)


def test_onnx_export_parity(tmp_path):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    model = PathEstimator(**TINY).eval()
    out = tmp_path / "path.onnx"
    path_training.export_onnx(model, out)
    assert path_training.onnx_parity(model, out) < 1e-4
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["blur"]
    assert [o.name for o in session.get_outputs()] == ["path", "log_sigma"]
    for n in (1, 5):  # dynamic batch
        path, log_sigma = session.run(None, {"blur": np.zeros((n, 1, TILE, TILE), np.float32)})
        assert path.shape == (n, 7, 2) and log_sigma.shape == (n,)


def _tiny_data(n=12, seed=0):
    rng = np.random.default_rng(seed)
    return {"blur": rng.integers(0, 256, (n, TILE, TILE), dtype=np.uint8),
            "path": rng.normal(size=(n, 21, 2)).astype(np.float32) * 5,
            "length": rng.uniform(0, 40, n).astype(np.float32)}


def test_make_batch_is_a_function_of_the_step():
    data = _tiny_data()
    a = path_training.make_batch(data, 5, 4, seed=1)
    b = path_training.make_batch(data, 5, 4, seed=1)
    c = path_training.make_batch(data, 6, 4, seed=1)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])
    assert a[0].shape == (4, 1, TILE, TILE) and a[1].shape == (4, 7, 2)


def test_resume_is_exact(tmp_path):
    data = _tiny_data()
    settings = dict(TINY, steps=6, batch=3, warmup=2, val_every=100, save_every=2, seed=4)
    log = lambda m: None  # noqa: E731
    straight = path_training.train(data, tmp_path / "a", log=log, **settings)
    path_training.train(data, tmp_path / "b", stop_at=3, log=log, **settings)
    resumed = path_training.train(data, tmp_path / "b", log=log, **settings)
    assert straight["step"] == resumed["step"] == 6
    a = torch.load(tmp_path / "a" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "b" / "last.pt", weights_only=True)
    assert a["step"] == b["step"] == 6
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    with pytest.raises(ValueError, match="other settings"):
        path_training.train(data, tmp_path / "b", log=log, **{**settings, "lr": 1.0})
