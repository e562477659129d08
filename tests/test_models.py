"""Tests of the generators: the paper's Table 1, the fast design's cost and reach, any size."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from blurvid.lab.train.models import (FastGenerator, PaperGenerator, build_generator,  # noqa: E402
                                      count_macs, pad_to_multiple, receptive_field)


@pytest.fixture(autouse=True)
def _one_thread(torch_one_thread):
    """Every test here runs with one PyTorch thread."""


def test_paper_is_table_1():
    model = PaperGenerator()
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    shapes = [(c.in_channels, c.out_channels, c.kernel_size, c.stride) for c in convs]
    assert shapes[0] == (1, 16, (3, 3), (1, 1))
    assert shapes[1] == (16, 64, (3, 3), (1, 1))
    assert shapes[2:28] == [(64, 64, (3, 3), (1, 1))] * 26  # 13 residual blocks, 2 convs each
    assert shapes[28:] == [(64, 256, (3, 3), (1, 1)), (256, 256, (3, 3), (1, 1)),
                           (256, 7, (3, 3), (1, 1))]
    weights = torch.cat([c.weight.flatten() for c in convs])
    assert weights.mean().abs() < 1e-3 and abs(weights.std().item() - 0.01) < 5e-4
    assert all(c.bias.abs().max() == 0 for c in convs)


ARCH_KWARGS = {"paper": {"num_blocks": 1}, "fast": {}}


@pytest.mark.parametrize("arch", sorted(ARCH_KWARGS))
@pytest.mark.parametrize("hw", [(1, 1), (5, 3), (37, 53), (16, 32), (17, 65)])
def test_any_size_in_same_size_out(arch, hw):
    model = build_generator(arch, **ARCH_KWARGS[arch]).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 1, *hw))
    assert out.shape == (2, 7, *hw)


def test_fast_starts_near_the_identity_but_not_symmetric():
    torch.manual_seed(0)
    y = torch.rand(1, 1, 23, 31)
    with torch.no_grad():
        out = FastGenerator()(y)
    assert (out - y).abs().max() < 0.05  # every frame is about the blurry input
    # ... but frames k and 6-k differ: a symmetric start is a trap for the order-invariant
    # loss (see test_symmetric_frames_get_symmetric_gradients in test_losses.py).
    for k in range(3):
        assert (out[0, k] - out[0, 6 - k]).abs().max() > 1e-5


def test_fast_is_10x_cheaper_with_a_larger_receptive_field():
    # MACs grow with the pixel count; 48x80 is 1280x720 / 16 per side (rounded up to 16).
    fast = count_macs(build_generator("fast"), 48, 80)
    paper = count_macs(build_generator("paper"), 48, 80)
    assert paper / fast >= 10
    # paper: 31 full-resolution 3x3 convolutions on the longest path, 1 + 2 * 31 pixels.
    paper_rf = receptive_field(build_generator("paper"), size=81)
    assert paper_rf == 63
    assert receptive_field(build_generator("fast"), size=449) > 4 * paper_rf


def test_pad_to_multiple():
    x = torch.arange(15.0).reshape(1, 1, 3, 5)
    padded, h, w = pad_to_multiple(x, 4)
    assert padded.shape == (1, 1, 4, 8) and (h, w) == (3, 5)
    assert torch.equal(padded[..., :3, :5], x)
    assert torch.equal(padded[..., 3, :5], x[..., 2, :])  # edge replicated
    assert pad_to_multiple(x, 1)[0].shape == x.shape


def test_unknown_arch():
    with pytest.raises(ValueError, match="unknown architecture"):
        build_generator("huge")
