"""Tests of the contiguous blurry loss (contextual loss with space) and the discriminator."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from blurvid.lab.train.cbl import (contextual_loss, contextual_similarity,  # noqa: E402
                               contiguous_blurry_loss, patch_features)
from blurvid.lab.train.discriminator import (Discriminator, discriminator_loss,  # noqa: E402
                                         generator_adversarial_loss)


def _features(b=2, n=40, c=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, n, c, generator=g, dtype=torch.float64), \
        torch.rand(b, n, 2, generator=g, dtype=torch.float64)


def reference_cx(x, y, cx_coords, cy_coords, h, s):
    """Slow, literal implementation of eqs. 5-8 (+ the spatial term) for one batch item."""
    n, m = len(x), len(y)
    mu = [sum(y[j][c] for j in range(m)) / m for c in range(len(y[0]))]

    def unit(v):
        v = [a - b for a, b in zip(v, mu)]
        norm = math.sqrt(sum(a * a for a in v)) or 1.0
        return [a / norm for a in v]

    def similarity(dist):
        cx = []
        for i in range(n):
            dmin = min(dist[i])
            w = [math.exp((1 - dist[i][k] / (dmin + 1e-5)) / h) for k in range(m)]
            cx.append([wk / sum(w) for wk in w])
        return cx

    xs, ys = [unit(v) for v in x], [unit(v) for v in y]
    feat = similarity([[max(0.0, 1 - sum(a * b for a, b in zip(xs[i], ys[j]))) for j in range(m)]
                       for i in range(n)])
    space = similarity([[math.dist(cx_coords[i], cy_coords[j]) for j in range(m)]
                        for i in range(n)])
    combined = [[(1 - s) * feat[i][j] + s * space[i][j] for j in range(m)] for i in range(n)]
    return sum(max(combined[i][j] for i in range(n)) for j in range(m)) / m


@pytest.mark.parametrize("s", [0.0, 0.3])
def test_matches_the_slow_reference(s):
    x, cx = _features(seed=1)
    y, cy = _features(seed=2)
    fast = contextual_similarity(x, y, cx, cy, bandwidth=0.5, spatial_weight=s)
    for b in range(2):
        slow = reference_cx(x[b].tolist(), y[b].tolist(), cx[b].tolist(), cy[b].tolist(), 0.5, s)
        assert fast[b].item() == pytest.approx(slow, rel=1e-9)


@pytest.mark.parametrize("s", [0.0, 0.5])
def test_identical_sets_give_cx_one_and_zero_loss(s):
    x, coords = _features()
    assert torch.allclose(contextual_similarity(x, x, coords, coords, spatial_weight=s),
                          torch.ones(2, dtype=torch.float64), atol=1e-6)
    assert contextual_loss(x, x, coords, coords, spatial_weight=s).item() < 1e-6


def test_permutation_invariant_without_space_but_not_with_it():
    x, coords = _features(n=30)
    perm = torch.randperm(30, generator=torch.Generator().manual_seed(3))
    y = x[:, perm]  # the same features at other positions
    assert contextual_loss(x, y, coords, coords, spatial_weight=0.0).item() < 1e-6
    assert contextual_loss(x, y, coords, coords, spatial_weight=0.5).item() > 0.1


def test_a_shift_costs_only_with_space():
    g = torch.Generator().manual_seed(4)
    image = torch.nn.functional.avg_pool2d(torch.rand(1, 1, 72, 72, generator=g), 3, 1, 1)
    a, b = image[..., 4:68, 4:68], image[..., 4:68, 8:72]  # b = a shifted by 4 px
    plain = contiguous_blurry_loss(a, b, spatial_weight=0.0,
                                   generator=torch.Generator().manual_seed(0))
    spatial = contiguous_blurry_loss(a, b, spatial_weight=0.5,
                                     generator=torch.Generator().manual_seed(0))
    unrelated = contiguous_blurry_loss(a, torch.rand(1, 1, 64, 64, generator=g),
                                       spatial_weight=0.0, generator=torch.Generator().manual_seed(0))
    assert plain < unrelated  # without space, a shifted copy is (nearly) the same context
    assert spatial > plain  # with space, the shift costs


def test_gradients_are_finite():
    pred = torch.rand(2, 7, 24, 24, requires_grad=True)
    target = torch.rand(2, 7, 24, 24)
    loss = contiguous_blurry_loss(pred, target, max_features=64, spatial_weight=0.2)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0
    # Identical frames: the loss is ~0 and its gradient still finite.
    same = target.clone().requires_grad_(True)
    zero = contiguous_blurry_loss(same, target, max_features=64)
    zero.backward()
    assert zero.item() < 1e-4 and torch.isfinite(same.grad).all()


def test_patch_features_positions_and_limits():
    a = torch.arange(100.0).reshape(1, 1, 10, 10)
    fa, fb, coords = patch_features(a, a.clone(), patch=3, stride=1, max_features=1000)
    assert fa.shape == (1, 64, 9) and torch.equal(fa, fb)
    # The center pixel of each patch is the patch's coordinate.
    rows = (coords[0, :, 0] * 9).round().long()
    cols = (coords[0, :, 1] * 9).round().long()
    assert torch.equal(fa[0, :, 4], (rows * 10 + cols).float())
    few = patch_features(a, a, patch=3, stride=1, max_features=5)[0]
    assert few.shape == (1, 5, 9)
    with pytest.raises(ValueError, match="smaller"):
        patch_features(a[..., :2, :2], a[..., :2, :2], patch=3)
    with pytest.raises(ValueError):
        contextual_similarity(torch.rand(1, 3, 2), torch.rand(1, 3, 2), bandwidth=0)
    with pytest.raises(ValueError, match="coords"):
        contextual_similarity(torch.rand(1, 3, 2), torch.rand(1, 3, 2), spatial_weight=0.5)


def test_discriminator_is_table_2():
    d = Discriminator()
    convs = [m for m in d.features if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64] * 2 + [128] * 4 + [256] * 5 + [512] * 5
    assert all(c.kernel_size == (3, 3) for c in convs)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in d.features) == 16
    fcs = [m for m in d.classifier if isinstance(m, torch.nn.Linear)]
    assert [f.out_features for f in fcs] == [4096, 4096, 2]


def test_discriminator_shapes_and_losses():
    d = Discriminator(width=0.125).train()
    for size in (64, 37):
        logits = d(torch.rand(3, 1, size, size))
        assert logits.shape == (3, 2)
    assert d.feature_maps(torch.rand(2, 1, 32, 32), stage=1).shape == (2, 16, 16, 16)
    real, fake = torch.tensor([[0.0, 5.0]]), torch.tensor([[5.0, 0.0]])
    assert discriminator_loss(real, fake) < 0.02  # D is right about both
    assert generator_adversarial_loss(fake) > 4.9  # -log D(G) is large when D wins
    assert generator_adversarial_loss(real) < 0.01


def test_coordinates_shared_by_the_batch_give_the_same_similarity():
    x, _ = _features(b=3, seed=3)
    y, coords = _features(b=3, seed=4)
    one = coords[:1]
    shared = contextual_similarity(x, y, one, one, spatial_weight=0.2)
    expanded = contextual_similarity(x, y, one.expand(3, -1, -1), one.expand(3, -1, -1),
                                     spatial_weight=0.2)
    torch.testing.assert_close(shared, expanded, rtol=1e-12, atol=0)
    with pytest.raises(ValueError, match="coordinates"):
        contextual_similarity(x, y, coords[:2], coords[:2], spatial_weight=0.2)
