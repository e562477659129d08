"""Tests of the training losses."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from blurvid.lab.train.losses import order_invariant_mse  # noqa: E402


def test_order_invariant_mse_takes_the_better_order_per_sample():
    target = torch.rand(2, 7, 4, 5)
    pred = target.clone()
    pred[1] = target[1].flip(0)  # sample 1 predicted in reversed order: still perfect
    loss, oriented = order_invariant_mse(pred, target)
    assert loss == 0 and torch.equal(oriented, target)  # each sample in its chosen order
    noisy = pred + 0.1
    loss, oriented = order_invariant_mse(noisy, target)
    assert loss == pytest.approx(0.01, rel=1e-5)
    assert torch.equal(oriented[0], noisy[0]) and torch.equal(oriented[1], noisy[1].flip(0))
    # Plain MSE would punish the reversed sample.
    assert torch.mean((pred - target) ** 2) > 0.01


def test_order_invariant_mse_shape_mismatch():
    with pytest.raises(ValueError, match="shapes differ"):
        order_invariant_mse(torch.zeros(1, 7, 2, 2), torch.zeros(1, 6, 2, 2))


def test_symmetric_frames_get_symmetric_gradients():
    """Why the fast generator's head does not start at zero: if frame k equals frame 6-k for
    every sample, forward and reversed order tie, the gradient splits evenly, and frames k and
    6-k receive identical gradients, so training can never make them differ."""
    target = torch.rand(3, 7, 4, 4)
    base = torch.rand(3, 1, 4, 4).expand(3, 7, 4, 4).clone().requires_grad_(True)
    order_invariant_mse(base, target)[0].backward()
    for k in range(3):
        assert torch.allclose(base.grad[:, k], base.grad[:, 6 - k])
    # A slightly asymmetric prediction gets asymmetric gradients: the tie is broken.
    start = base.detach() + 0.01 * torch.arange(7.0).view(1, 7, 1, 1)
    start.requires_grad_(True)
    order_invariant_mse(start, target)[0].backward()
    assert not torch.allclose(start.grad[:, 0], start.grad[:, 6])
