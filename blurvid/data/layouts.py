"""Dataset readers: folders of (blurry photo, 7 sharp frames) samples.

The **blurvid layout** (what ``examples/`` holds, what ``blurvid bench`` reads)::

    DIR/blur/<name>.png                      the blurry photo
    DIR/gt/<name>_01.png ... <name>_07.png   the 7 sharp frames whose average it is

Any image format :func:`blurvid.io.read_image` reads is accepted for both. Readers yield
:class:`Sample` objects lazily (one sample in memory at a time). Contract: ``blur`` float32
``(H, W, 3)`` and ``frames`` float32 ``(7, H, W, 3)``, RGB in [0, 1], the same H and W.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from blurvid.errors import InputError
from blurvid.io import IMAGE_SUFFIXES, check_outputs_free, read_image, write_images

NUM_FRAMES = 7
LAYOUTS = ("blurvid",)


@dataclass(frozen=True)
class Sample:
    """One blurry photo and its 7 sharp frames (see the module docstring)."""

    name: str
    blur: np.ndarray
    frames: np.ndarray


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))


def is_blurvid_layout(root: str | Path) -> bool:
    root = Path(root)
    return (root / "blur").is_dir() and (root / "gt").is_dir()


def detect_layout(root: str | Path) -> str:
    """The layout of ``root`` (one of :data:`LAYOUTS`), or an InputError saying what was
    expected."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"dataset {root} is not a folder")
    if is_blurvid_layout(root):
        return "blurvid"
    raise InputError(f"{root} matches no known dataset layout; the blurvid layout is "
                     "DIR/blur/<name>.png with DIR/gt/<name>_01.png ... <name>_07.png")


def blurvid_names(root: str | Path) -> list[tuple[str, Path, list[Path]]]:
    """(name, blur path, 7 frame paths) of every sample, checked to exist, sorted by name."""
    root = Path(root)
    if not is_blurvid_layout(root):
        detect_layout(root)  # raises the explanatory error
    blurs = _images_in(root / "blur")
    if not blurs:
        raise InputError(f"{root / 'blur'} holds no images")
    gt = {p.stem: p for p in _images_in(root / "gt")}
    out = []
    for blur in blurs:
        frames = [gt.get(f"{blur.stem}_{i:02d}") for i in range(1, NUM_FRAMES + 1)]
        missing = [f"{blur.stem}_{i:02d}" for i, f in enumerate(frames, 1) if f is None]
        if missing:
            raise InputError(f"{blur} has no ground truth {', '.join(missing)} in {root / 'gt'}")
        out.append((blur.stem, blur, frames))
    return out


def read_blurvid(root: str | Path, max_samples: int | None = None) -> Iterator[Sample]:
    """Samples of a blurvid-layout folder, lazily, in name order (at most ``max_samples``)."""
    entries = blurvid_names(root)
    for name, blur_path, frame_paths in entries[:max_samples]:
        blur = read_image(blur_path).rgb
        frames = np.stack([read_image(p).rgb for p in frame_paths])
        if frames.shape[1:] != blur.shape:
            raise InputError(f"{blur_path} is {blur.shape[1]}x{blur.shape[0]} but its frames "
                             f"are {frames.shape[2]}x{frames.shape[1]}")
        yield Sample(name=name, blur=blur, frames=frames)


def read_dataset(root: str | Path, layout: str = "auto",
                 max_samples: int | None = None) -> Iterator[Sample]:
    """Samples of ``root`` in ``layout`` (``auto``: detected)."""
    if layout == "auto":
        layout = detect_layout(root)
    if layout not in LAYOUTS:
        raise InputError(f"unknown layout {layout!r}; choose auto or one of {', '.join(LAYOUTS)}")
    return read_blurvid(root, max_samples)


def count_samples(root: str | Path, layout: str = "auto") -> int:
    if layout == "auto":
        layout = detect_layout(root)
    return len(blurvid_names(root))


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
