"""The clean-up (fusion) network of issue 19 (blurvid.lab.train.fusion): fast checks."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from blurvid.consistency import NUM_FRAMES  # noqa: E402
from blurvid.lab.train import fusion  # noqa: E402


def _fake_cache(n=3, solves=2, size=24, seed=0):
    rng = np.random.default_rng(seed)
    f16 = np.float16
    truth = rng.random((n, NUM_FRAMES, size, size)).astype(f16)
    return {"y": truth.astype(np.float32).mean(axis=1, keepdims=True).astype(f16),
            "gen": (truth + rng.normal(0, 0.05, truth.shape)).astype(f16),
            "truth": truth,
            "sol": (truth[:, None] + rng.normal(0, 0.05, (n, solves) + truth.shape[1:])
                    ).astype(f16),
            "sigma": rng.uniform(0, 3, (n, solves)).astype(np.float32),
            "length": rng.uniform(2, 40, n).astype(np.float32)}


def test_step_zero_returns_the_generator_exactly(torch_one_thread):
    torch.manual_seed(0)
    model = fusion.FusionNet(8)
    y = torch.rand(2, 1, 21, 30)  # not a multiple of 4: padded inside, cropped back
    gen = torch.rand(2, NUM_FRAMES, 21, 30)
    sol = torch.rand(2, NUM_FRAMES, 21, 30)
    out = model(y, gen, sol, torch.tensor([0.0, 2.5]))
    assert out.shape == gen.shape
    assert torch.equal(out, gen)
    # ... and it can learn: the heads get a gradient
    (out - sol).pow(2).mean().backward()
    assert model.head.weight.grad.abs().sum() > 0


def test_project_exact_is_the_pipeline_projection_where_nothing_clips():
    from blurvid.consistency import project

    rng = np.random.default_rng(1)
    y = (0.2 + 0.6 * rng.random((1, 1, 16, 16))).astype(np.float32)
    frames = (y + rng.normal(0, 0.02, (1, NUM_FRAMES, 16, 16))).astype(np.float32)
    ours = fusion.project_exact(torch.from_numpy(frames), torch.from_numpy(y)).numpy()
    np.testing.assert_allclose(ours, project(frames, y, "exact"), atol=2e-6)
    frames_t = torch.from_numpy(frames).requires_grad_()
    fusion.project_exact(frames_t, torch.from_numpy(y)).sum().backward()
    assert torch.isfinite(frames_t.grad).all()


def test_solver_frames_follow_the_generator_order():
    from blurvid import deconvolution as dc

    rng = np.random.default_rng(2)
    y = rng.random((40, 40)).astype(np.float32)
    groups = np.stack([np.linspace(-4, 4, NUM_FRAMES), np.zeros(NUM_FRAMES)], axis=1)
    forward = dc.deconvolve_y(y, groups, dc.weight_for(0.0))
    assert np.array_equal(fusion.solve(y, groups, 0.0, forward), forward)
    backward = fusion.solve(y, groups[::-1], 0.0, forward)  # solved reversed, put back
    np.testing.assert_allclose(backward, forward, atol=1e-4)


def test_smooth_error_has_the_asked_rms():
    from blurvid import deconvolution as dc

    rng = np.random.default_rng(3)
    groups = np.stack([np.linspace(0, 12, NUM_FRAMES), np.linspace(0, 5, NUM_FRAMES)], axis=1)
    for rms in (0.5, 1.0, 2.5):
        err = fusion.smooth_error(groups, rms, rng)
        assert np.sqrt(np.mean(np.sum((err - groups - (err - groups).mean(0)) ** 2, 1))) \
            == pytest.approx(rms)
        assert dc.path_error(err, groups)[0] <= rms + 1e-9


def test_loss_is_order_invariant():
    g = torch.Generator().manual_seed(4)
    target = torch.rand(3, NUM_FRAMES, 6, 6, generator=g)
    pred = target + 0.1 * torch.rand(3, NUM_FRAMES, 6, 6, generator=g)
    a = fusion.order_invariant_mse(pred, target)
    b = fusion.order_invariant_mse(pred.flip(1), target)
    assert torch.allclose(a, b)
    assert float(fusion.order_invariant_mse(target.flip(1), target)) == 0.0


def test_batches_are_a_pure_function_of_seed_and_step():
    cache = _fake_cache()
    a = fusion.make_batch(cache, 5, 17, 4, 16)
    b = fusion.make_batch(cache, 5, 17, 4, 16)
    c = fusion.make_batch(cache, 5, 18, 4, 16)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["gen"], c["gen"])
    assert a["gen"].shape == (4, NUM_FRAMES, 16, 16) and a["sigma"].shape == (4,)


def test_resume_is_exact(tmp_path, torch_one_thread):
    cache = _fake_cache()
    opts = dict(width=4, batch=2, crop=16, steps=6, warmup=2, save_every=2, log_every=2)
    straight = fusion.train(cache, tmp_path / "a", log=lambda s: None, **opts)
    fusion.train(cache, tmp_path / "b", max_steps=3, log=lambda s: None, **opts)
    assert torch.load(tmp_path / "b" / "last.pt", weights_only=True)["step"] == 3
    resumed = fusion.train(cache, tmp_path / "b", log=lambda s: None, **opts)
    assert resumed["step"] == straight["step"] == 6
    for k, v in straight["model"].items():
        assert torch.equal(v, resumed["model"][k]), k
    assert [p.name for p in (tmp_path / "b").iterdir() if p.suffix == ".pt"] == ["last.pt"]
    model = fusion.load_model(tmp_path / "b" / "last.pt")
    out = fusion.fuse(model, cache["y"][0, 0].astype(np.float32),
                      cache["gen"][0].astype(np.float32), cache["sol"][0, 0].astype(np.float32),
                      1.0)
    assert out.shape == (NUM_FRAMES, 24, 24) and out.min() >= 0 and out.max() <= 1


def test_onnx_export_matches_pytorch_at_any_size(tmp_path):
    """Traced at 64x64, the ONNX network pads like PyTorch at sizes that are not multiples
    of 4 too (a pad skipped at trace time would be missing from the graph)."""
    ort = pytest.importorskip("onnxruntime")
    from blurvid.lab.train.fusion import FusionNet, export_onnx

    torch.manual_seed(0)
    model = FusionNet(width=4).eval()
    for p in model.head.parameters():  # not the zero head: make the output depend on it all
        torch.nn.init.normal_(p, std=0.1)
    path = export_onnx(model, tmp_path / "f.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    for h, w in ((64, 64), (50, 70), (9, 13)):
        feeds = {"y": rng.random((2, 1, h, w), np.float32),
                 "gen": rng.random((2, 7, h, w), np.float32),
                 "sol": rng.random((2, 7, h, w), np.float32),
                 "sigma": np.array([0.0, 2.5], np.float32)}
        (got,) = session.run(None, feeds)
        with torch.no_grad():
            want = model(*(torch.from_numpy(feeds[k]) for k in ("y", "gen", "sol", "sigma")))
        assert got.shape == (2, 7, h, w)
        np.testing.assert_allclose(got, want.numpy(), atol=1e-5)


def test_per_sample_comparison_against_a_reference():
    rows = [{"a": [1.0] * 7, "b": [0.5] * 7}, {"a": [2.0] * 7, "b": [3.0] * 7},
            {"a": [1.0] * 7, "b": [0.0] * 7}]
    d = fusion.against(rows, "a", "b")
    assert d["mean"] == pytest.approx(0.167, abs=1e-3)
    assert d["better"] == pytest.approx(2 / 3, abs=1e-3) and d["worst"] == -1.0
    assert d["se"] == pytest.approx(np.std([0.5, -1.0, 1.0], ddof=1) / np.sqrt(3), abs=1e-3)
