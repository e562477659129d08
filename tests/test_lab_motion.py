"""Motion-guided reconstruction in the lab (blurvid.lab.motion, an experiment run through the
product's pipeline as ``MotionExtractor(motion=...)``).

The models are exported here from small random PyTorch networks (the product code does not
depend on which weights ship); the bundled files, when present, are checked separately."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from blurvid import deconvolution as dc  # noqa: E402
from blurvid.consistency import NUM_FRAMES  # noqa: E402
from blurvid.errors import ModelError  # noqa: E402
from blurvid.lab import motion  # noqa: E402
from blurvid.lab.train import fusion, path_training  # noqa: E402
from blurvid.lab.train.path_estimator import PathEstimator  # noqa: E402
from tests.photos import wave_photo  # noqa: E402


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """(estimator.onnx, fusion.onnx with a random head, fusion model, identity fusion.onnx)."""
    folder = tmp_path_factory.mktemp("motion")
    torch.manual_seed(0)
    est = PathEstimator(width=4, ac_width=4, hidden=16).eval()
    path_training.export_onnx(est, folder / "path.onnx")
    net = fusion.FusionNet(width=4).eval()
    fusion.export_onnx(net, folder / "identity.onnx")  # zero head: returns gen
    for name, p in net.named_parameters():  # every ReLU alive: the output depends on
        if name.startswith("head"):          # ~20 px around each pixel, as a trained one's
            torch.nn.init.normal_(p, std=0.05)
        elif name.endswith("bias"):
            torch.nn.init.uniform_(p, 0.0, 0.1)
    fusion.export_onnx(net, folder / "fusion.onnx")
    return folder / "path.onnx", folder / "fusion.onnx", net, folder / "identity.onnx"


def _scene(h, w, seed=0):
    rng = np.random.default_rng(seed)
    y = np.clip(wave_photo(seed, max(h, w))[:h, :w, 0] + rng.normal(0, 0.02, (h, w)), 0, 1)
    gen = np.clip(y[None] + rng.normal(0, 0.03, (NUM_FRAMES, h, w)), 0, 1)
    return y.astype(np.float32), gen.astype(np.float32)


def test_one_window_is_the_lab_pipeline(models):
    """At 256 px (one window, one tile) the refiner's frames are the lab's: the estimator's
    one path and median sigma, the solver with weight_for(sigma) in the generator's order, the
    network told min(sigma, 3)."""
    est_path, fus_path, net, _ = models
    refiner = motion.MotionRefiner(est_path, fus_path, device="cpu", threads=1)
    y, gen = _scene(200, 256)
    got = refiner.refine(y, gen.copy())
    session = fusion._estimator_session(est_path)
    groups, sigma = fusion._estimator_path(session, y)
    want = fusion.fuse(net, y, gen, fusion.solve(y, groups, sigma, gen), min(sigma, 3.0))
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert len(refiner.paths) == 1


def test_an_identity_network_returns_the_generator_at_any_size(models):
    """Windows and bands blend without seams: a network that returns ``gen`` gives ``gen``
    back exactly, whatever the size (several windows, several tiles)."""
    est_path, _, _, identity = models
    refiner = motion.MotionRefiner(est_path, identity, device="cpu", threads=2)
    for h, w in ((37, 41), (300, 530), (600, 260)):
        y, gen = _scene(h, w, seed=h)
        got = refiner.refine(y, gen.copy())
        np.testing.assert_allclose(got, gen, atol=1e-6)
        assert len(refiner.paths) == refiner.window_count(h, w)


@pytest.mark.parametrize("shape", [(300, 200), (200, 300), (250, 250)])
def test_tiles_match_the_whole_image(models, monkeypatch, shape):
    """The clean-up network tile by tile (rows and columns) gives its output on the whole."""
    est_path, fus_path, _, _ = models
    refiner = motion.MotionRefiner(est_path, fus_path, device="cpu", threads=2)
    y, gen = _scene(*shape, seed=3)
    whole = refiner.refine(y, gen.copy())
    monkeypatch.setattr(motion, "FUSE_TILE", 96)
    np.testing.assert_allclose(refiner.refine(y, gen.copy()), whole, atol=1e-5)
    monkeypatch.setattr(motion, "FUSE_MARGIN", 4)  # too little context shows at the seams
    assert np.abs(refiner.refine(y, gen.copy()) - whole).max() > 1e-4


def test_the_solver_windows_follow_the_generator_order(models):
    est_path, fus_path, _, _ = models
    refiner = motion.MotionRefiner(est_path, fus_path, device="cpu", threads=1)
    y, gen = _scene(128, 128, seed=5)
    lin = np.power(y, 2.2).astype(np.float32)
    sol, (length, sigma) = refiner.window(y, lin, gen, (0, 128), (0, 128))
    flipped, _ = refiner.window(y, lin, gen[::-1].copy(), (0, 128), (0, 128))
    np.testing.assert_array_equal(flipped, sol[::-1])
    assert length >= 0 and sigma > 0


def test_wrong_model_files_are_refused(models, tmp_path):
    est_path, fus_path, _, _ = models
    with pytest.raises(ModelError, match="not a blurvid path estimator"):
        motion.MotionRefiner(fus_path, fus_path, device="cpu")
    with pytest.raises(ModelError, match="not a blurvid clean-up network"):
        motion.MotionRefiner(est_path, est_path, device="cpu")
    with pytest.raises(ModelError, match="does not exist"):
        motion.MotionRefiner(tmp_path / "none.onnx", fus_path, device="cpu")


def test_refine_checks_shapes(models):
    est_path, fus_path, _, _ = models
    refiner = motion.MotionRefiner(est_path, fus_path, device="cpu", threads=1)
    y, gen = _scene(40, 40)
    with pytest.raises(ValueError, match="expected y"):
        refiner.refine(y, gen[:3])


def test_extractor_refines_the_projected_frames_then_projects(models):
    """MotionExtractor(motion=...): the refiner sees the generator's exactly projected frames
    and its output is projected as the extractor says (the frames average back to the
    photo); without a refiner it is the product's Extractor, which has no motion option."""
    from blurvid.consistency import project, reblur_psnr
    from blurvid.pipeline import Extractor

    est_path, fus_path, _, _ = models
    refiner = motion.MotionRefiner(est_path, fus_path, device="cpu", threads=1)
    plain = Extractor(device="cpu", threads=1)
    seen = {}

    class Spy:
        def window_count(self, h, w):
            return refiner.window_count(h, w)

        def refine(self, y, gen, progress=None):
            seen["gen"] = gen.copy()
            return refiner.refine(y, gen, progress)

    refined = motion.MotionExtractor(device="cpu", threads=1, motion=Spy(),
                                     session=plain.session)
    rgb = np.clip(wave_photo(1, 96) + 0.1, 0, 1)
    ycbcr = plain.to_ycbcr(rgb)
    y = ycbcr[..., 0]
    got = refined.luma_frames(ycbcr)
    projected_gen = plain.luma_frames(ycbcr)  # the default projection is exact
    np.testing.assert_allclose(seen["gen"], projected_gen, atol=1e-6)
    want = project(refiner.refine(y, projected_gen.copy()), y, "exact")
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert reblur_psnr(got, y) > 50
    assert refined.window_count(96, 96) == 1 + 1
    alone = motion.MotionExtractor(device="cpu", threads=1, session=plain.session)
    np.testing.assert_array_equal(alone.luma_frames(ycbcr), projected_gen)
    assert alone.window_count(96, 96) == plain.window_count(96, 96) == 1
    with pytest.raises(TypeError):
        Extractor(device="cpu", threads=1, motion=refiner, session=plain.session)


def test_deconvolve_region_is_deconvolve_tiled_window():
    """One window of a larger photo, its surroundings as data, equals deconvolve_y on the
    whole photo where the window is the whole photo."""
    y, _ = _scene(96, 96, seed=7)
    groups = np.stack([np.linspace(-4, 4, 7), np.linspace(1, -1, 7)], axis=1)
    lin = np.power(y, 2.2).astype(np.float32)
    np.testing.assert_allclose(dc.deconvolve_region(lin, (0, 96), (0, 96), groups, 0.1),
                               dc.deconvolve_y(y, groups, 0.1), atol=2e-6)
    with pytest.raises(ValueError, match="outside"):
        dc.deconvolve_region(lin, (0, 97), (0, 96), groups, 0.1)
