"""blurvid.ordering: the shutter timeline, the order costs and the dynamic programming."""

from __future__ import annotations

import numpy as np
import pytest

from blurvid.color import rgb_to_y
from blurvid.errors import InputError
from blurvid.ordering import (FORWARD, REVERSED, FixedLagOrder, frame_times, link_costs,
                              motion, output_count, output_times, probe_size, thumbnail,
                              unary_costs, viterbi)


def test_timeline():
    np.testing.assert_allclose(frame_times(2, 1.0), 2 + (2 * np.arange(7) + 1) / 14)
    np.testing.assert_allclose(frame_times(0, 0.5), (2 * np.arange(7) + 1) / 28)
    # a full shutter: the output frames are the 7 frames of every exposure
    assert output_count(3, 1.0) == 21
    np.testing.assert_allclose(output_times(3, 1.0), np.concatenate([frame_times(t, 1.0)
                                                                     for t in range(3)]))
    # 180 degrees: 7 per interval, ending on the last exposure's last frame
    times = output_times(3, 0.5)
    assert len(times) == output_count(3, 0.5) == 18
    np.testing.assert_allclose(np.diff(times), 1 / 7)
    assert np.isclose(times[0], frame_times(0, 0.5)[0])
    assert np.isclose(times[-1], frame_times(2, 0.5)[-1])
    # frames 0, 2, 4, 6 of each exposure are output times
    assert np.isclose(times[:, None], frame_times(1, 0.5)[None, ::2]).any(axis=0).all()
    for bad in (0, -0.5, 1.5):
        with pytest.raises(InputError, match="shutter"):
            output_count(3, bad)


def test_viterbi_finds_the_global_minimum():
    rng = np.random.default_rng(0)
    for _ in range(20):
        n = 6
        unary, links = rng.random((n, 2)), rng.random((n - 1, 2, 2))
        best = min(((sum(unary[t, s[t]] for t in range(n))
                     + sum(links[t, s[t], s[t + 1]] for t in range(n - 1))), s)
                   for s in np.ndindex(*(2,) * n))[1]
        assert tuple(viterbi(unary, links)) == best


def test_fixed_lag_matches_the_whole_clip_when_the_lag_is_long():
    rng = np.random.default_rng(1)
    unary, links = rng.random((30, 2)), rng.random((29, 2, 2))
    whole = viterbi(unary, links)
    order, out = FixedLagOrder(lag=29), []
    for t in range(30):
        out += order.push(unary[t], links[t - 1] if t else None)
    out += order.finish()
    assert out == list(whole)
    order, out = FixedLagOrder(lag=2), []  # short lag: still one state per exposure
    for t in range(30):
        out += order.push(unary[t], links[t - 1] if t else None)
    assert len(out + order.finish()) == 30


def texture(h=64, w=96, seed=0):
    import cv2

    noise = np.random.default_rng(seed).random((h // 4, w // 4)).astype(np.float32)
    return cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 1)


def shifted(image, dx):
    return np.roll(image, dx, axis=1)


def test_costs_prefer_the_true_order_on_a_pan():
    scene = texture(w=160)
    # exposure t: frames at x = 12 t + 0, 1, ..., 6 (shutter 0.5: gap of 6 px)
    ends = [(shifted(scene, 12 * t), shifted(scene, 12 * t + 6)) for t in range(2)]
    blur = [shifted(scene, 12 * t + 3) for t in range(2)]
    flow = motion(blur[0], blur[1])
    assert abs(np.median(flow[..., 0]) - 12) < 1
    links = link_costs(ends[0], ends[1], flow, 0.5)
    assert links.argmin() == 0  # both forward
    unary = unary_costs(ends[0], flow, 0.5)
    assert unary[FORWARD] < unary[REVERSED]
    flipped = unary_costs(ends[0][::-1], flow, 0.5)
    assert flipped[REVERSED] < flipped[FORWARD]


def test_the_order_of_a_synthetic_sequence_is_recovered():
    from blurvid.lab.data.sequences import SequenceConfig, render_sequence

    scene = np.stack([texture(200, 300, s) for s in range(3)], axis=-1)
    cfg = SequenceConfig(size=(96, 64), exposures=12, blur_range=(4, 8), subframes_per_frame=1)
    seq = list(render_sequence(scene ** 2.2, np.random.default_rng(3), cfg))
    truth = np.random.default_rng(4).random(len(seq)) < 0.5
    size = probe_size(64, 96)
    ends, blurs = [], []
    for (blur, frames, _), flip in zip(seq, truth):
        frames = frames[::-1] if flip else frames
        ends.append((thumbnail(rgb_to_y(frames[0]), size), thumbnail(rgb_to_y(frames[-1]), size)))
        blurs.append(thumbnail(rgb_to_y(blur), size))
    flows = [motion(a, b) for a, b in zip(blurs[:-1], blurs[1:])]
    unary = [unary_costs(ends[t], flows[min(t, len(flows) - 1)]) for t in range(len(seq))]
    links = [link_costs(ends[t], ends[t + 1], flows[t]) for t in range(len(seq) - 1)]
    states = viterbi(np.array(unary), np.array(links))
    assert (states == truth).mean() >= 11 / 12
