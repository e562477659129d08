"""Tests of the generators: the paper's Table 1, the fast design's cost and reach, any size."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from blurvid.lab.train.models import (FastGenerator, PaperGenerator, build_generator,  # noqa: E402
                                  count_macs, fast_grows, grow_from, pad_to_multiple,
                                  receptive_field)


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


ARCH_KWARGS = {"paper": {"num_blocks": 1}, "fast": {}, "fast-fine": {"fine_width": 8}}


@pytest.mark.parametrize("arch", sorted(ARCH_KWARGS))
@pytest.mark.parametrize("hw", [(1, 1), (5, 3), (37, 53), (16, 32), (17, 65)])
def test_any_size_in_same_size_out(arch, hw):
    model = build_generator(arch.split("-")[0], **ARCH_KWARGS[arch]).eval()
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


def test_a_grown_fast_generator_starts_as_the_one_it_grew_from():
    torch.manual_seed(0)
    small = FastGenerator(width=8, blocks=(1, 1, 1)).eval()
    for p in small.parameters():  # not the near-identity start: a network that does something
        torch.nn.init.normal_(p, std=0.05)
    grown = FastGenerator(width=8, blocks=(1, 1, 1), fine_width=4).eval()
    missing = grow_from(grown, small.state_dict())
    assert missing and all(name.startswith("fine_") for name in missing)
    y = torch.rand(2, 1, 37, 45)
    with torch.no_grad():
        assert torch.equal(grown(y), small(y))
    deeper = FastGenerator(width=8, blocks=(2, 1, 3), fine_width=4).eval()
    missing = grow_from(deeper, small.state_dict())
    assert {name.split(".")[0] for name in missing} == {"enc1", "dec1", "middle", "fine_fuse",
                                                        "fine_block", "fine_head"}
    assert deeper.middle[2].conv2.weight.abs().max() == 0  # a new block starts as the identity
    assert deeper.middle[2].conv1.weight.abs().max() > 0
    with torch.no_grad():
        assert torch.allclose(deeper(y), small(y), atol=1e-6)
    # The refinement adds MACs at 1/2 resolution and no reach: same grid, same padding.
    assert count_macs(grown, 48, 80) > count_macs(small, 48, 80)
    assert grown.pad_multiple == small.pad_multiple


def test_grow_from_refuses_weights_that_do_not_fit():
    grown = FastGenerator(width=8, blocks=(1, 1, 1), fine_width=4)
    with pytest.raises(RuntimeError, match="size mismatch"):
        grow_from(grown, FastGenerator(width=16, blocks=(1, 1, 1)).state_dict())
    partial = {k: v for k, v in FastGenerator(width=8, blocks=(1, 1, 1)).state_dict().items()
               if not k.startswith("head")}
    with pytest.raises(ValueError, match="missing.*head"):
        grow_from(grown, partial)
    with pytest.raises(ValueError, match="unexpected"):
        grow_from(FastGenerator(width=8, blocks=(1, 1, 1)), grown.state_dict())


@pytest.mark.parametrize("small, large, grows", [
    ({}, {"fine_width": 32}, True),
    ({}, {"blocks": [1, 2, 6]}, True),
    ({"fine_width": 8}, {"fine_width": 8, "blocks": (2, 1, 4)}, True),
    ({}, {"blocks": [1, 1, 3]}, False),  # fewer blocks
    ({}, {"width": 32}, False),  # other widths do not fit
    ({"fine_width": 8}, {"fine_width": 16}, False),
    ({"fine_width": 8}, {}, False),
])
def test_fast_grows(small, large, grows):
    assert fast_grows(small, large) is grows
