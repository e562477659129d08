"""The shutter estimated from a video's frames (blurvid.shutter), on clips whose shutter is
known (blurvid.lab.data.video_synth)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from blurvid.errors import InputError
from blurvid.lab.data.video_synth import ClipSpec, render_clip
from blurvid.ordering import DEFAULT_SHUTTER
from blurvid.shutter import (FINE, FRAMES, WINDOWS, ShutterEstimate, best_of, compared,
                             describe, estimate_shutter, shutter_setting)
from blurvid.video import estimated_shutter
from tests.fakes import texture


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    path = tmp_path_factory.mktemp("scene") / "scene.png"
    cv2.imwrite(str(path), (texture(600, 800, seed=11) * 255).astype(np.uint8))
    return path


def _handheld(photo, shutter, seed, frames=FRAMES):
    return render_clip(photo, ClipSpec(kind="handheld", frames=frames, size=(320, 180),
                                       blur=16, shutter=shutter, seed=seed)).blur


@pytest.mark.parametrize("value, expected", [("auto", None), ("AUTO", None), (None, None),
                                             ("0.5", 0.5), ("1", 1.0), (0.25, 0.25)])
def test_shutter_setting_reads_auto_or_a_share(value, expected):
    assert shutter_setting(value) == expected


@pytest.mark.parametrize("value", ["x", "0", "1.5", "-0.5", "", "1e-9", "0.005", "nan",
                                   "inf"])
def test_shutter_setting_refuses_anything_else(value):
    with pytest.raises(InputError, match="shutter"):
        shutter_setting(value)


def test_a_full_shutter_is_estimated_from_a_handheld_clip_s_first_window(photo):
    """A clip exposed for the whole frame interval: measured (not the default 0.5) from its
    first window, the rest of the frames not read."""
    source = iter(_handheld(photo, 1.0, seed=2, frames=FRAMES + 3))
    found = estimate_shutter(source)
    assert found.measured, found
    assert found.shutter == pytest.approx(1.0, abs=FINE / 2), found
    assert found.frames == FRAMES and len(list(source)) == 3
    assert "estimated from frames 1-6" in describe(found)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_a_half_shutter_is_estimated_from_handheld_clips(photo, seed):
    found = estimate_shutter(_handheld(photo, 0.5, seed=seed))
    assert found.measured and found.shutter == pytest.approx(0.5, abs=FINE / 2), found


def test_a_steady_pan_says_nothing_of_its_shutter(photo):
    """Every exposure blurred as its neighbours: the default, and the reason."""
    clip = render_clip(photo, ClipSpec(kind="pan", frames=FRAMES, size=(240, 136), blur=12,
                                       shutter=1.0, seed=3)).blur
    found = estimate_shutter(clip)
    assert not found.measured and found.shutter == DEFAULT_SHUTTER
    assert "steadily" in found.reason and "assumed" in describe(found)


def test_still_frames_say_nothing_and_every_window_is_read(photo):
    frame = render_clip(photo, ClipSpec(kind="pan", frames=1, size=(160, 96), blur=0,
                                        seed=1)).blur[0]
    found = estimate_shutter(frame for _ in range(FRAMES * WINDOWS + 5))
    assert not found.measured and found.shutter == DEFAULT_SHUTTER
    assert found.frames == FRAMES * WINDOWS  # no more is read


def test_a_short_last_window_keeps_the_reason_of_the_full_one(photo):
    clip = render_clip(photo, ClipSpec(kind="pan", frames=FRAMES + 1, size=(240, 136), blur=12,
                                       seed=3)).blur
    found = estimate_shutter(clip)
    assert not found.measured and "steadily" in found.reason and found.frames == FRAMES + 1


def test_frames_the_pipeline_takes_are_taken_and_others_refused_as_it_does(photo):
    rgb = _handheld(photo, 1.0, seed=2)
    rgba = [np.dstack([f, np.full(f.shape[:2], 255, np.uint8)]) for f in rgb]
    as_float = [f.astype(np.float32) / 255.0 for f in rgb]
    assert estimate_shutter(rgba[:2]).reason == estimate_shutter(as_float[:2]).reason
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        estimate_shutter([f.astype(np.float32) for f in rgb])  # 0-255 floats
    with pytest.raises(InputError, match="NaN"):
        estimate_shutter([np.full((32, 48, 3), np.nan, np.float32)] * 3)


@pytest.mark.parametrize("count", [0, 1, 2])
def test_too_few_frames_give_the_default(count):
    frames = [np.zeros((32, 48, 3), np.uint8)] * count
    found = estimate_shutter(frames)
    assert (found.shutter, found.measured, found.frames) == (DEFAULT_SHUTTER, False, count)


def test_estimated_shutter_gives_every_frame_back(photo):
    frames = [np.full((40, 64, 3), k, np.uint8) for k in range(FRAMES * WINDOWS + 4)]
    found, again = estimated_shutter(iter(frames))
    assert not found.measured
    assert [int(f[0, 0, 0]) for f in again] == list(range(len(frames)))


def test_best_of_breaks_near_ties_by_the_residual():
    scores = {0.375: (0.89, 0.0046), 0.5: (0.88, 0.0038), 0.75: (0.60, 0.0030)}
    assert best_of(scores) == 0.5  # within the tie, the prediction that misses least
    assert best_of({0.5: (0.5, 0.01), 1.0: (0.9, 0.02)}) == 1.0
    assert best_of({0.75: (0.90, 0.003), 0.875: (0.89, 0.002), 1.0: (0.7, 0.001)}) == 0.875


def test_best_of_prefers_the_default_among_near_ties():
    # the frames cannot tell the tied candidates apart: the common shutter, not the one
    # whose (short-biased) residual is least
    scores = {0.375: (0.61, 0.0018), 0.5: (0.60, 0.0021), 0.625: (0.51, 0.0030)}
    assert best_of(scores) == DEFAULT_SHUTTER == 0.5


def test_candidates_are_compared_on_the_exposures_each_decided():
    # exposure 2: nothing beyond the noise for the short candidate (undecided, 0), over-
    # sharpened solves at the long one miss by more than the noise (1.0): left out
    per_exposure = {0.5: {1: (1.0, 0.002, True), 2: (0.0, 0.0015, False), 3: (1.0, 0.002, True)},
                    0.625: {1: (0.98, 0.0022, True), 2: (1.0, 0.0017, True),
                            3: (0.97, 0.0022, True), 4: (1.0, 0.001, True)}}
    scores = compared(per_exposure)
    assert scores == {0.5: (1.0, 0.002), 0.625: (pytest.approx(0.975), pytest.approx(0.0022))}
    assert best_of(scores) == 0.5
    # undecided everywhere: every exposure both refined
    none = {0.5: {1: (0.0, 0.001, False)}, 1.0: {1: (-1.0, 0.002, False)}}
    assert compared(none) == {0.5: (0.0, 0.001), 1.0: (-1.0, 0.002)}
    assert compared({}) == {}


def test_a_later_candidate_does_not_change_what_the_others_are_compared_on(monkeypatch):
    """A fine candidate that refined fewer exposures than the coarse ones share is left out
    (else the coarse ones' figures would be re-averaged, or the comparison emptied)."""
    import blurvid.shutter as sh

    every = {1: (0.5, 0.003, True), 2: (0.9, 0.002, True), 3: (0.8, 0.002, True)}
    figures = {0.25: {i: (v[0] - 0.3, v[1], True) for i, v in every.items()},
               0.5: every,
               0.75: {i: (v[0] - 0.1, v[1], True) for i, v in every.items()},
               1.0: {i: (v[0] - 0.4, v[1], True) for i, v in every.items()},
               0.375: {1: (0.99, 0.001, True)},  # refined exposure 1 only
               0.625: {4: (0.99, 0.001, True)}}  # none of theirs
    monkeypatch.setattr(sh, "_flows", lambda lumas: (None, lumas))
    monkeypatch.setattr(sh, "steady", lambda base: False)
    monkeypatch.setattr(sh, "_score", lambda base, frames, s: figures[s])
    found = sh.window_shutter([np.zeros((8, 8), np.uint8)] * 6)
    assert set(found.scores) == {0.25, 0.5, 0.75, 1.0}
    assert found.measured and found.shutter == 0.5
    assert found.scores[0.5] == (pytest.approx(0.7333, abs=1e-4), pytest.approx(0.00233, abs=1e-5))


def test_describe_says_where_the_shutter_came_from():
    assert "assumed" in describe(ShutterEstimate(0.5, False, reason="x", frames=6))
    assert "0.75" in describe(ShutterEstimate(0.75, True, frames=6))
