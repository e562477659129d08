"""Dataset readers: every layout becomes the same in-memory samples.

A :class:`Sample` is a blurry photo and its ground truth: ``frames`` float32 ``(7, H, W, 3)``
(the 7 sharp frames whose average is the blur) or ``(1, H, W, 3)`` for datasets that only give
the middle sharp frame (``GOPRO_Large``, DVD's ``quantitative_datasets``: benchmarks score the
middle frame there). RGB in [0, 1]; ``blur`` float32 ``(H, W, 3)``. Readers yield lazily.

Layouts (``--layout``; ``auto`` detects them in this order):

``blurvid``
    ``DIR/blur/<name>.png`` and ``DIR/gt/<name>_01.png ... <name>_07.png`` (``examples/``,
    ``blurvid synth``).
``gopro-pairs`` (GOPRO_Large, Nah et al. 2017)
    ``DIR/{train,test}/<SEQ>/{blur,blur_gamma,sharp}/<frame>.png``: blur/sharp pairs, the sharp
    image being the middle frame. ``blur`` is used (``blur_gamma`` with ``gamma=True``).
``gopro`` (GoPro_Large_all: the 240 fps frames)
    ``DIR/{train,test}/<SEQ>/<NNNNNN>.png`` -> windows of 7 consecutive frames.
``dvd`` (Su et al. 2017)
    ``DIR/quantitative_datasets/<video>/{input,GT}/<frame>.jpg`` pairs (middle frame), or
    ``DIR/<video>.mov|.mp4`` high-fps videos -> windows of 7 frames.
``frames``
    any folder of consecutive frames, or a video file -> windows of 7 frames.

Windows of 7 consecutive sharp frames: non-overlapping by default (``stride=7``); the blur is
their average, plain or in linear light (``gamma=True``: gamma 2.2, :mod:`blurvid.color`);
a window that crosses a scene cut (the mean absolute difference of two neighbours is over
``cut_threshold`` and over 4x the window's median difference) is skipped. A frame that cannot
be read is reported to ``on_skip`` and its window skipped, not fatal for the dataset.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from blurvid.color import from_linear, to_linear
from blurvid.consistency import NUM_FRAMES
from blurvid.errors import InputError
from blurvid.footage import probe, read_frames
from blurvid.io import check_outputs_free, list_images, read_image, write_images

LAYOUTS = ("blurvid", "gopro-pairs", "gopro", "dvd", "frames")
VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".m4v", ".webm")


@dataclass(frozen=True)
class Sample:
    """One blurry photo and its sharp frames (7, or 1: the middle one). See the module doc."""

    name: str
    blur: np.ndarray
    frames: np.ndarray


def _videos_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())


def _subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _splits(root: Path) -> list[Path]:
    return [root / s for s in ("train", "test") if (root / s).is_dir()]


def is_blurvid_layout(root: str | Path) -> bool:
    root = Path(root)
    return (root / "blur").is_dir() and (root / "gt").is_dir()


def detect_layout(root: str | Path) -> str:
    """The layout of ``root`` (one of :data:`LAYOUTS`), or an InputError listing them."""
    root = Path(root)
    if root.is_file() and root.suffix.lower() in VIDEO_SUFFIXES:
        return "frames"
    if not root.is_dir():
        raise InputError(f"dataset {root} is not a folder or a video file")
    if is_blurvid_layout(root):
        return "blurvid"
    for split in _splits(root):
        for seq in _subdirs(split):
            if (seq / "sharp").is_dir() and ((seq / "blur").is_dir()
                                             or (seq / "blur_gamma").is_dir()):
                return "gopro-pairs"
            if list_images(seq):
                return "gopro"
    if (root / "quantitative_datasets").is_dir() or _videos_in(root):
        return "dvd"
    if len(list_images(root)) >= NUM_FRAMES:
        return "frames"
    raise InputError(
        f"{root} matches no known dataset layout: blurvid (blur/ + gt/), gopro-pairs "
        "(GOPRO_Large: train|test/<SEQ>/blur + sharp), gopro (GoPro_Large_all: "
        "train|test/<SEQ>/NNNNNN.png), dvd (quantitative_datasets/<video>/input + GT, or "
        "videos), frames (a folder of at least 7 consecutive frames, or a video file)")


# ----------------------------------------------------------------------------- blurvid


def blurvid_names(root: str | Path) -> list[tuple[str, Path, list[Path]]]:
    """(name, blur path, 7 frame paths) of every blurvid-layout sample, sorted by name."""
    root = Path(root)
    if not is_blurvid_layout(root):
        raise InputError(f"{root} is not in the blurvid layout (blur/ and gt/)")
    blurs = list_images(root / "blur")
    if not blurs:
        raise InputError(f"{root / 'blur'} holds no images")
    gt = {p.stem: p for p in list_images(root / "gt")}
    out = []
    for blur in blurs:
        frames = [gt.get(f"{blur.stem}_{i:02d}") for i in range(1, NUM_FRAMES + 1)]
        missing = [f"{blur.stem}_{i:02d}" for i, f in enumerate(frames, 1) if f is None]
        if missing:
            raise InputError(f"{blur} has no ground truth {', '.join(missing)} in {root / 'gt'}")
        out.append((blur.stem, blur, frames))
    return out


def _read_blurvid(root: Path, on_skip) -> Iterator[Sample]:
    for name, blur_path, frame_paths in blurvid_names(root):
        try:
            blur = read_image(blur_path).rgb
            frames = np.stack([read_image(p).rgb for p in frame_paths])
        except InputError as exc:
            on_skip(str(exc))
            continue
        if frames.shape[1:] != blur.shape:
            on_skip(f"{blur_path} is {blur.shape[1]}x{blur.shape[0]} but its frames are "
                    f"{frames.shape[2]}x{frames.shape[1]}")
            continue
        yield Sample(name=name, blur=blur, frames=frames)


# ------------------------------------------------------------------------------ pairs


def _pair_samples(pairs: list[tuple[str, Path, Path]], on_skip) -> Iterator[Sample]:
    for name, blur_path, sharp_path in pairs:
        try:
            blur, sharp = read_image(blur_path).rgb, read_image(sharp_path).rgb
        except InputError as exc:
            on_skip(str(exc))
            continue
        if blur.shape != sharp.shape:
            on_skip(f"{blur_path} and {sharp_path} differ in size")
            continue
        yield Sample(name=name, blur=blur, frames=sharp[None])


def _gopro_pairs(root: Path, gamma: bool) -> list[tuple[str, Path, Path]]:
    pairs = []
    for split in _splits(root):
        for seq in _subdirs(split):
            blur_dir = seq / ("blur_gamma" if gamma else "blur")
            if not blur_dir.is_dir() or not (seq / "sharp").is_dir():
                continue
            sharp = {p.stem: p for p in list_images(seq / "sharp")}
            for b in list_images(blur_dir):
                if b.stem in sharp:
                    pairs.append((f"{split.name}_{seq.name}_{b.stem}", b, sharp[b.stem]))
    return pairs


def _dvd_pairs(root: Path) -> list[tuple[str, Path, Path]]:
    pairs = []
    base = root / "quantitative_datasets"
    for video in _subdirs(base) if base.is_dir() else []:
        if not (video / "input").is_dir() or not (video / "GT").is_dir():
            continue
        gt = {p.stem: p for p in list_images(video / "GT")}
        for b in list_images(video / "input"):
            if b.stem in gt:
                pairs.append((f"{video.name}_{b.stem}", b, gt[b.stem]))
    return pairs


# ---------------------------------------------------------------------------- windows


def _natural_key(path: Path):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]


def _video_frames(path: Path, on_skip) -> Iterator[np.ndarray]:
    """The video's frames as float RGB in [0, 1], read as ``blurvid video`` reads them
    (:mod:`blurvid.footage`: upright, every frame); an unreadable video is skipped."""
    try:
        frames = read_frames(probe(path))
    except InputError as exc:
        on_skip(str(exc))
        return
    for rgb in frames:
        yield rgb.astype(np.float32) / 255.0


def _image_frames(paths: list[Path], on_skip) -> Iterator[np.ndarray | None]:
    for p in paths:
        try:
            yield read_image(p).rgb
        except InputError as exc:
            on_skip(str(exc))
            yield None  # breaks the window: frames on either side are not consecutive


def windows(frames, name: str, stride: int = NUM_FRAMES, gamma: bool = False,
            cut_threshold: float = 0.08, on_skip: Callable[[str], None] = lambda m: None,
            ) -> Iterator[Sample]:
    """Samples from a stream of consecutive frames (None = an unreadable frame): windows of 7,
    ``stride`` apart, blur = their average (in linear light with ``gamma``), windows across a
    scene cut or an unreadable frame skipped. Sample names: ``<name>_<first frame index>``."""
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    buffer: list[tuple[int, np.ndarray | None]] = []
    skip = 0
    for index, frame in enumerate(frames):
        if skip:
            skip -= 1
            continue
        buffer.append((index, frame))
        if len(buffer) < NUM_FRAMES:
            continue
        first = buffer[0][0]
        window = [f for _, f in buffer]
        if stride < NUM_FRAMES:
            buffer = buffer[stride:]
        else:
            buffer, skip = [], stride - NUM_FRAMES
        if any(f is None for f in window) or len({f.shape for f in window}) != 1:
            continue
        stack = np.stack(window)
        diffs = np.abs(np.diff(stack, axis=0)).mean(axis=(1, 2, 3))
        if diffs.max() > cut_threshold and diffs.max() > 4 * max(np.median(diffs), 1e-4):
            on_skip(f"{name}: window at frame {first} crosses a scene cut; skipped")
            continue
        blur = from_linear(to_linear(stack).mean(axis=0)) if gamma else stack.mean(axis=0)
        yield Sample(name=f"{name}_{first:06d}", blur=blur.astype(np.float32),
                     frames=stack.astype(np.float32))


def _frame_sources(root: Path, layout: str) -> list[tuple[str, object]]:
    """(name, path) of every frame sequence: a folder of images or a video file."""
    if root.is_file():
        return [(root.stem, root)]
    if layout == "gopro":
        return [(f"{split.name}_{seq.name}", seq) for split in _splits(root)
                for seq in _subdirs(split) if list_images(seq)]
    if layout == "dvd":
        return [(v.stem, v) for v in _videos_in(root)]
    return [(root.name, root)]


def _source_frames(source, on_skip):
    if Path(source).is_file():
        return _video_frames(Path(source), on_skip)
    return _image_frames(sorted(list_images(Path(source)), key=_natural_key), on_skip)


# ------------------------------------------------------------------------------ entry


def read_dataset(root: str | Path, layout: str = "auto", max_samples: int | None = None,
                 gamma: bool = False, stride: int = NUM_FRAMES,
                 on_skip: Callable[[str], None] = lambda message: None) -> Iterator[Sample]:
    """Samples of ``root`` in ``layout`` (``auto``: :func:`detect_layout`), lazily, at most
    ``max_samples``. ``gamma``: GOPRO_Large's ``blur_gamma`` / gamma-2.2 window averages.
    ``on_skip`` receives one line per skipped file or window."""
    root = Path(root)
    if layout == "auto":
        layout = detect_layout(root)
    if layout not in LAYOUTS:
        raise InputError(f"unknown layout {layout!r}; choose auto or one of {', '.join(LAYOUTS)}")

    def generate() -> Iterator[Sample]:
        if layout == "blurvid":
            yield from _read_blurvid(root, on_skip)
            return
        if layout == "gopro-pairs":
            yield from _pair_samples(_gopro_pairs(root, gamma), on_skip)
            return
        if layout == "dvd" and (root / "quantitative_datasets").is_dir():
            yield from _pair_samples(_dvd_pairs(root), on_skip)
            return
        for name, source in _frame_sources(root, layout):
            yield from windows(_source_frames(source, on_skip), name, stride, gamma,
                               on_skip=on_skip)

    count = 0
    for sample in generate():
        if max_samples is not None and count >= max_samples:
            return
        count += 1
        yield sample


def count_samples(root: str | Path, layout: str = "auto") -> int | None:
    """Number of samples without reading images, where the layout allows (else None)."""
    root = Path(root)
    if layout == "auto":
        layout = detect_layout(root)
    if layout == "blurvid":
        return len(blurvid_names(root))
    if layout == "gopro-pairs":
        return len(_gopro_pairs(root, False))
    if layout == "dvd" and (root / "quantitative_datasets").is_dir():
        return len(_dvd_pairs(root))
    return None


# ----------------------------------------------------------------------------- writing


def sample_paths(root: str | Path, name: str) -> list[Path]:
    """Where a sample goes in the blurvid layout: the blur, then its 7 frames (PNG)."""
    root = Path(root)
    return [root / "blur" / f"{name}.png",
            *(root / "gt" / f"{name}_{i:02d}.png" for i in range(1, NUM_FRAMES + 1))]


def write_sample(root: str | Path, name: str, blur: np.ndarray, frames: np.ndarray,
                 force: bool = False) -> list[Path]:
    """Write one sample in the blurvid layout (8-bit PNG, atomically, all files or none)."""
    paths = sample_paths(root, name)
    check_outputs_free(paths, force)
    write_images(paths, [blur, *frames])
    return paths
