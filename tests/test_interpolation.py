"""Tests of blurvid.interpolation (timeline, recursion, flow, blend)."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from blurvid.errors import InputError
from blurvid.interpolation import (blend, flow, frame_count, interpolate_frames, model_runs,
                                   recursive, timeline)

TINY = Path(__file__).parent / "data" / "tiny-fast.onnx"


@pytest.mark.parametrize("levels, count", [(1, 7), (2, 42), (3, 252)])
def test_timeline_counts_monotonic_distinct(levels, count):
    t = timeline(levels)
    assert len(t) == count == frame_count(levels)
    assert np.all(np.diff(t) > 0) and 0 < t[0] and t[-1] < 1


def test_timeline_level_2_exact():
    p = [round(x * 49) for x in timeline(2)]
    assert p == [1, 3, 5] + list(range(7, 43)) + [44, 46, 48]
    np.testing.assert_allclose(timeline(1), (2 * np.arange(7) + 1) / 14)


def test_bad_levels():
    for bad in (0, 5, 1.5, True):
        with pytest.raises(InputError, match="levels"):
            timeline(bad)


SPEED, WIDTH = 280, 300  # the bar's edge moves SPEED px over the exposure


def _moving_edge(t, w=WIDTH):
    """A bright bar whose left edge sits at 8 + SPEED t pixels: a sharp frame at time t."""
    x = np.arange(w)
    row = (x >= 8 + SPEED * t).astype(np.float32) * 0.8 + 0.1
    return np.repeat(np.repeat(row[None, :, None], 12, axis=0), 3, axis=2)


def _exposure(a, b, w=WIDTH):
    """What a camera sees over [a, b] (exactly): the share of the interval during which each
    column is bright, mixed in linear light."""
    from blurvid.color import from_linear

    x = np.arange(w)
    share = np.clip(((x - 8) / SPEED - a) / (b - a), 0.0, 1.0)
    row = from_linear(0.1**2.2 + share * (0.9**2.2 - 0.1**2.2)).astype(np.float32)
    return np.repeat(np.repeat(row[None, :, None], 12, axis=0), 3, axis=2)


def _oracle(reverse=False):
    """An ideal 'extractor': reads the exposure interval off the blurred edge and returns the
    7 frames that tile it (each a short exposure of its slot, like the training data), in
    reversed order if asked, as a real model may."""
    def extract(image):
        from blurvid.color import to_linear

        lin = (to_linear(image[0, :, 0]) - 0.1**2.2) / (0.9**2.2 - 0.1**2.2)
        ramp = np.where((lin > 1e-3) & (lin < 1 - 1e-3))[0]
        lo, hi = (ramp.min() - 8) / SPEED, (ramp.max() + 1 - 8) / SPEED
        w = (hi - lo) / 7
        frames = np.stack([_exposure(lo + k * w, lo + (k + 1) * w) for k in range(7)])
        return frames[::-1] if reverse else frames
    return extract


def _edges(frames):
    """Per frame: the first column past the middle of the edge's ramp (in linear light)."""
    from blurvid.color import to_linear

    lin = (to_linear(frames[:, 0, :, 0]) - 0.1**2.2) / (0.9**2.2 - 0.1**2.2)
    return [int((row > 0.5).argmax()) for row in lin]


@pytest.mark.parametrize("reverse", [False, True])
def test_recursive_orients_each_pair_and_follows_the_motion(reverse):
    extract = _oracle(reverse=reverse)
    level1 = extract(_exposure(0, 1))
    if reverse:
        level1 = level1[::-1]  # the level-1 order is the model's choice; fix it forward here
    calls = []
    frames = recursive(lambda im: (calls.append(1), extract(im))[1], level1, 2)
    assert len(calls) == 6 and frames.shape == (42, 12, WIDTH, 3)
    edges = _edges(frames)
    # Each frame's edge is where the timeline says it is: pairs oriented, times sorted.
    expected = 8 + SPEED * timeline(2)
    assert np.abs(np.array(edges) - expected).max() <= 3
    assert edges == sorted(edges)


def test_interpolate_frames_levels_and_methods():
    extract = _oracle()
    image = _exposure(0, 1)
    one = interpolate_frames(extract, image, 1)
    assert one.frames.shape[0] == 7 and one.level == 1
    for method in ("recursive", "flow", "blend"):
        clip = interpolate_frames(extract, image, 2, method)
        assert clip.frames.shape == (42, 12, WIDTH, 3) and clip.frames.dtype == np.float32
        np.testing.assert_array_equal(clip.times, timeline(2))
    with pytest.raises(InputError, match="unknown method"):
        interpolate_frames(extract, image, 2, "magic")
    assert model_runs(2, "recursive") == 7 and model_runs(3, "recursive") == 43
    assert model_runs(3, "flow") == 1


def test_blend_and_flow_hit_the_level_1_frames_at_their_centers():
    level1 = np.stack([_moving_edge(t) for t in (2 * np.arange(7) + 1) / 14])
    centers = timeline(1)
    np.testing.assert_allclose(blend(level1, centers), level1, atol=1e-6)
    np.testing.assert_allclose(flow(level1, centers), level1, atol=1e-6)
    mid = (centers[2] + centers[3]) / 2
    np.testing.assert_allclose(blend(level1, [mid])[0], (level1[2] + level1[3]) / 2, atol=1e-6)


def test_flow_follows_a_moving_texture():
    # Level-1 frames of a smooth texture moving 4 px per frame (a move optical flow can
    # follow): half-way between two of them the flow frame matches the texture shifted
    # half-way far better than the blend (which shows the two frames superimposed).
    import cv2

    rng = np.random.default_rng(4)
    texture = cv2.GaussianBlur(rng.random((96, 200, 3)).astype(np.float32), (0, 0), 2.0)
    texture = (texture - texture.min()) / (texture.max() - texture.min())

    def at(shift):  # the scene moved right by `shift` px (sub-pixel by linear interpolation)
        m = np.float32([[1, 0, shift], [0, 1, 0]])
        return cv2.warpAffine(texture, m, (200, 96), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REFLECT)[:, 40:160]

    level1 = np.stack([at(4 * k) for k in range(7)])
    mid = (timeline(1)[2] + timeline(1)[3]) / 2
    expected = at(10)[16:-16, 16:-16]
    warped = flow(level1, [mid])[0][16:-16, 16:-16]
    blended = blend(level1, [mid])[0][16:-16, 16:-16]
    assert np.abs(warped - expected).mean() < 0.5 * np.abs(blended - expected).mean()


@pytest.mark.parametrize("hw", [(1, 1), (5, 3), (12, 64), (15, 15)])
def test_flow_on_tiny_images(hw):
    """OpenCV's DIS segfaults below ~16 px a side; blurvid pads first."""
    frames = np.random.default_rng(1).random((7, *hw, 3)).astype(np.float32)
    out = flow(frames, timeline(2))
    assert out.shape == (42, *hw, 3) and np.isfinite(out).all()


def test_timeline_pairs_interleave_by_parity():
    # The argument of the docstring: overlapping pairs land on odd / even multiples of w / 7.
    w = Fraction(1, 7)
    pair = lambda k: [k * w + (2 * j + 1) * (2 * w / 7) / 2 for j in range(7)]  # noqa: E731
    assert not set(pair(0)) & set(pair(1)) and not set(pair(1)) & set(pair(2))


def test_streamed_frames_equal_the_whole_clip():
    from blurvid.interpolation import stream_frames

    rng = np.random.default_rng(5)
    image = rng.random((24, 32, 3)).astype(np.float32)

    def extract(img):  # a stand-in model: 7 shifted copies
        return np.stack([np.roll(img, k - 3, axis=1) for k in range(7)])

    for method in ("flow", "blend", "recursive"):
        whole = interpolate_frames(extract, image, 2, method)
        stream = stream_frames(extract, image, 2, method)
        assert len(stream) == 42
        np.testing.assert_array_equal(np.stack(list(stream)), whole.frames)
        np.testing.assert_array_equal(stream.frame(41), whole.frames[41])  # any order


def test_clip_memory_does_not_grow_with_levels_for_flow_and_refuses_what_does_not_fit():
    from blurvid.interpolation import check_clip_memory, clip_memory

    flows = {levels: clip_memory(720, 1280, levels, "flow") for levels in (2, 3, 4)}
    assert len(set(flows.values())) == 1 and flows[4] < 1 * 2**30
    assert clip_memory(720, 1280, 3, "recursive") > 252 * 720 * 1280 * 12
    with pytest.raises(InputError, match=r"level-4 recursive clip of 1280x720 needs about "
                                         r"[\d.]+ GiB.*--max-side.*--method flow"):
        check_clip_memory(720, 1280, 4, "recursive", available=8 * 2**30)
    assert check_clip_memory(720, 1280, 4, "flow", available=8 * 2**30) == flows[4]
    with pytest.raises(InputError, match="GIF"):
        check_clip_memory(720, 1280, 4, "flow", plays=1512, available=1 * 2**30)


def _recursive_before(extract, frames, levels):
    """recursive() as it was before issue 26 (every deepest set kept, stacked, cast): the
    reference its frames must equal bit for bit."""
    from blurvid.consistency import reblur
    from blurvid.interpolation import _centers, _orient

    out = []

    def expand(seven, a, b, depth):
        if depth == 0:
            out.extend(zip(_centers(a, b), seven))
            return
        w = (b - a) / 7
        for k in range(6):
            sub = _orient(extract(reblur(seven[k: k + 2])), seven[k], seven[k + 1])
            expand(sub, a + k * w, a + (k + 2) * w, depth - 1)

    expand(frames, Fraction(0), Fraction(1), levels - 1)
    out.sort(key=lambda item: item[0])
    return np.stack([f for _, f in out]).astype(np.float32)


def test_recursive_holds_the_clip_once_and_makes_the_same_frames():
    """The clip is filled in place (it was held three times: the deepest sets, their stack
    and a float32 copy of it); the frames are those of before, bit for bit."""
    import tracemalloc

    rng = np.random.default_rng(7)
    image = rng.random((48, 64, 3)).astype(np.float32)

    def extract(img):  # a stand-in model: 7 shifted, dimmed copies
        return np.stack([np.roll(img, k - 3, axis=1) * (0.9 + 0.01 * k) for k in range(7)])

    level1 = extract(image).astype(np.float32)
    frame = image.nbytes
    tracemalloc.start()
    try:
        frames = recursive(extract, level1, 3)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert frames.shape == (252, 48, 64, 3) and frames.dtype == np.float32
    # the clip, level 1 and one set per level, the extraction under way: not 3 x the clip
    assert peak < (252 + 3 * 7 + 12) * frame
    np.testing.assert_array_equal(frames, _recursive_before(extract, level1, 3))
    for levels in (1, 2):
        np.testing.assert_array_equal(recursive(extract, level1, levels),
                                      _recursive_before(extract, level1, levels))


def test_recursive_memory_estimate_counts_what_is_held():
    """The estimate's parts are the arrays the code holds (frames of H x W x 3 float32)."""
    from blurvid.interpolation import (ENCODER_BYTES_PER_PIXEL, ENCODER_FIXED_BYTES,
                                       PROCESS_BYTES, clip_memory, memory_estimate,
                                       model_memory)

    frame = 720 * 1280 * 12
    for levels in (2, 3, 4):
        parts = memory_estimate(720, 1280, levels, "recursive")
        assert parts.shared == {"process": PROCESS_BYTES, "photo": 2 * frame,
                                "model": model_memory(720, 1280)}
        assert parts.making == {"clip": 7 * 6 ** (levels - 1) * frame,
                                "sets": 7 * (levels - 1) * frame, "extraction": 8 * frame}
        assert parts.writing["clip"] == parts.making["clip"]
        assert parts.writing["encoder"] == (ENCODER_FIXED_BYTES
                                            + ENCODER_BYTES_PER_PIXEL * 720 * 1280)
        assert clip_memory(720, 1280, levels, "recursive") == parts.total == (
            sum(parts.shared.values()) + max(sum(parts.making.values()),
                                             sum(parts.writing.values())))
    gif = memory_estimate(720, 1280, 2, "recursive", plays=82)
    assert gif.writing["palette frames"] == 82 * 720 * 1280 and "encoder" not in gif.writing
    assert "encoder" not in memory_estimate(720, 1280, 2, "recursive", kind="frames").writing
    # the model's working memory: per pixel of the window it runs on (tiled above 4 MP)
    assert model_memory(720, 1280, "paper") > 20 * model_memory(720, 1280)
    assert model_memory(3000, 4000) < 2 * model_memory(1500, 2000)  # tiled: windows of 1 MP
    assert model_memory(720, 1280, ensemble=8) > model_memory(720, 1280)


# Peak resident memory of `blurvid interpolate --method recursive` to MP4 (the process and its
# ffmpeg encoder together), the highest of the runs of benchmarks/clip_memory.py in
# docs/performance.md: MiB.
MEASURED_RECURSIVE_PEAKS = {(720, 1280, 2): 1023, (720, 1280, 3): 3311,
                            (3000, 4000, 2): 8463}


@pytest.mark.parametrize("key", sorted(MEASURED_RECURSIVE_PEAKS))
def test_recursive_estimate_is_within_a_quarter_above_the_measured_peak(key):
    from blurvid.interpolation import clip_memory

    estimate = clip_memory(*key, "recursive") / 2**20
    measured = MEASURED_RECURSIVE_PEAKS[key]
    assert measured <= estimate <= 1.25 * measured


def _fake_cgroups(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_available_memory_is_the_least_of_meminfo_and_the_cgroup_limit(tmp_path, monkeypatch):
    import blurvid.interpolation as interp

    GiB = 2**30
    meminfo = tmp_path / "meminfo"
    meminfo.write_text(f"MemTotal: {32 * GiB // 1024} kB\nMemAvailable: {16 * GiB // 1024} kB\n")
    proc = tmp_path / "cgroup"
    monkeypatch.setattr(interp, "MEMINFO", str(meminfo))
    monkeypatch.setattr(interp, "PROC_CGROUP", str(proc))
    monkeypatch.setattr(interp, "address_space_left", lambda: None)

    # cgroup v2: memory.max minus memory.current, the droppable file cache counted as free
    v2 = _fake_cgroups(tmp_path / "v2", {
        "cgroup.controllers": "cpu memory\n",
        "job/memory.max": f"{4 * GiB}\n", "job/memory.current": f"{1 * GiB}\n",
        "job/memory.stat": f"anon {GiB // 2}\ninactive_file {GiB // 4}\n"})
    monkeypatch.setattr(interp, "CGROUP_ROOT", str(v2))
    proc.write_text("0::/job\n")
    assert interp.available_memory() == 3 * GiB + GiB // 4
    (v2 / "job/memory.max").write_text("max\n")  # no limit: MemAvailable
    assert interp.available_memory() == 16 * GiB
    # a tighter limit above the process's own cgroup counts too
    _fake_cgroups(v2, {"outer/memory.max": f"{2 * GiB}\n",
                       "outer/memory.current": f"{3 * GiB // 2}\n",
                       "outer/job/memory.max": "max\n", "outer/job/memory.current": "0\n"})
    proc.write_text("0::/outer/job\n")
    assert interp.available_memory() == GiB // 2
    # in a container the path may name a cgroup outside its namespace: the mount's own files
    _fake_cgroups(v2, {"memory.max": f"{3 * GiB}\n", "memory.current": f"{2 * GiB}\n"})
    proc.write_text("0::/elsewhere/box\n")
    assert interp.available_memory() == GiB

    # cgroup v1: memory.limit_in_bytes minus memory.usage_in_bytes; "no limit" is a huge number
    v1 = _fake_cgroups(tmp_path / "v1", {
        "memory/job/memory.limit_in_bytes": f"{5 * GiB}\n",
        "memory/job/memory.usage_in_bytes": f"{2 * GiB}\n",
        "memory/job/memory.stat": "cache 0\ntotal_inactive_file 0\n",
        "memory/memory.limit_in_bytes": "9223372036854771712\n",
        "memory/memory.usage_in_bytes": f"{9 * GiB}\n"})
    monkeypatch.setattr(interp, "CGROUP_ROOT", str(v1))
    proc.write_text("5:cpu,cpuacct:/job\n4:memory:/job\n0::/job\n")
    assert interp.available_memory() == 3 * GiB
    (v1 / "memory/job/memory.limit_in_bytes").write_text("9223372036854771712\n")
    assert interp.available_memory() == 16 * GiB

    # a clip that fits MemAvailable but not the cgroup is refused, with the cgroup's figure
    (v1 / "memory/job/memory.limit_in_bytes").write_text(f"{3 * GiB}\n")
    with pytest.raises(InputError, match=r"level-3 recursive clip of 1280x720 needs about "
                                         r"[\d.]+ GiB, more than the 1\.0 GiB"):
        interp.check_clip_memory(720, 1280, 3, "recursive")


def test_available_memory_counts_the_address_space_limit(monkeypatch):
    import resource

    import blurvid.interpolation as interp

    statm = Path("/proc/self/statm")
    if not statm.exists():
        pytest.skip("needs /proc/self/statm (Linux)")
    import os

    mapped = int(statm.read_text().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    limit = mapped + 2 * 2**30  # ulimit -v: 2 GiB more than this process has mapped
    monkeypatch.setattr(resource, "getrlimit",
                        lambda which: (limit, resource.RLIM_INFINITY)
                        if which == resource.RLIMIT_AS else (resource.RLIM_INFINITY,) * 2)
    left = interp.address_space_left()
    assert 1 * 2**30 < left <= 2 * 2**30 and interp.available_memory() <= left
    monkeypatch.setattr(resource, "getrlimit", lambda which: (resource.RLIM_INFINITY,) * 2)
    assert interp.address_space_left() is None
