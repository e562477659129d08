"""Synthetic blurry videos with ground truth: one continuous camera path over a still photo,
rendered as consecutive exposures with a shutter gap.

Image formation as in :mod:`blurvid.lab.data.synth` (linear light, gamma 2.2, Poisson-Gaussian
noise, 8-bit): exposure ``t`` covers the times ``[t, t + s]`` (frame intervals; ``s`` the
shutter), sampled by ``M = 7 k`` sub-frames; its 7 true frames are the averages of groups of
``k`` sub-frames (centerd on ``t + s (2i + 1) / 14``, the times of
:func:`blurvid.ordering.frame_times`), the blurry frame their average. With ``timeline``, the
true frames at the video pipeline's output times (:func:`blurvid.ordering.output_times`,
each the average of ``k`` sub-frames over ``s / 7``, like a true frame) are rendered too, the
gap-filled ones included.

The camera path (output pixels at the crop center) is a sum of two sinusoids per axis with
random frequencies (0.05-0.35 radians per frame interval) and phases, so the camera speeds up,
slows down and turns like a handheld pan; it is scaled so that the mean blur per exposure (the
path length of the center over one exposure) is drawn from ``blur_range``. A small rotation
follows a sinusoid too. The blur of each exposure varies along the path (near zero where the
camera turns).

Layout of one sequence ``NAME`` (under ``root/NAME``): the blurvid layout (``blur/NAME_0000.png``,
``gt/NAME_0000_01.png ... _07.png``: ``blurvid bench --data root/NAME`` scores per-frame
extraction on it), ``truth/NAME_00000.png ...`` (the timeline truth, optional) and
``sequence.json`` (fps, shutter, per-exposure blur in px, the output times, the settings).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from blurvid.color import from_linear
from blurvid.consistency import NUM_FRAMES
from blurvid.io import check_outputs_free, read_image, write_bytes_atomic, write_images
from blurvid.lab.data.layouts import sample_paths
from blurvid.lab.data.synth import load_photo
from blurvid.ordering import output_times


@dataclass(frozen=True)
class SequenceConfig:
    """Settings of one synthetic blurry video (lengths in output pixels)."""

    size: tuple[int, int] = (320, 192)  # (width, height)
    exposures: int = 24
    fps: float = 25.0
    shutter: float = 0.5
    subframes_per_frame: int = 3  # k
    blur_range: tuple[float, float] = (4.0, 30.0)  # mean blur per exposure, drawn per sequence
    max_rotation_deg: float = 2.0  # amplitude of the rotation over the clip
    photo_scale: tuple[float, float] = (0.5, 1.0)
    noise_shot: tuple[float, float] = (0.0, 0.002)
    noise_read: tuple[float, float] = (0.0, 0.002)


def camera_path(rng: np.random.Generator, cfg: SequenceConfig):
    """Functions ``position(times) -> (N, 2)`` and ``angle(times) -> (N,)`` (radians) of the
    time in frame intervals, and the mean blur per exposure they were scaled to."""
    freqs = rng.uniform(0.05, 0.35, size=(2, 2))
    phases = rng.uniform(0, 2 * np.pi, size=(2, 2))
    weights = rng.uniform(0.3, 1.0, size=(2, 2))
    rot_freq, rot_phase = rng.uniform(0.03, 0.2), rng.uniform(0, 2 * np.pi)

    def raw(times):
        times = np.asarray(times, np.float64)[:, None, None]
        return (weights * np.sin(freqs * times + phases)).sum(axis=2)

    fine = np.linspace(0, cfg.exposures, cfg.exposures * 64 + 1)
    p = raw(fine)
    speed = np.linalg.norm(np.diff(p, axis=0), axis=1).sum() / cfg.exposures  # per interval
    target = rng.uniform(*cfg.blur_range)
    scale = target / (cfg.shutter * max(speed, 1e-9))
    rotation = np.deg2rad(rng.uniform(-1, 1) * cfg.max_rotation_deg)

    def position(times):
        return raw(times) * scale

    def angle(times):
        return rotation * np.sin(rot_freq * np.asarray(times, np.float64) + rot_phase)

    return position, angle, target


class _Camera:
    """Renders the linear-light view of the photo at any instant of the path."""

    def __init__(self, photo: np.ndarray, rng: np.random.Generator, cfg: SequenceConfig,
                 position, angle) -> None:
        self.w, self.h = cfg.size
        times = np.linspace(0, cfg.exposures + 1, 512)
        path = position(times)
        reach = np.abs(path).max(axis=0)
        corner = np.hypot(self.w, self.h) / 2
        need_w = self.w + 2 * reach[0] + 2 * corner * cfg.max_rotation_deg / 57 + 8
        need_h = self.h + 2 * reach[1] + 2 * corner * cfg.max_rotation_deg / 57 + 8
        ph, pw = photo.shape[:2]
        scale = max(rng.uniform(*cfg.photo_scale), need_w / pw, need_h / ph)
        src = cv2.resize(photo, (max(1, round(pw * scale)), max(1, round(ph * scale))),
                         interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        if rng.random() < 0.5:
            src = src[:, ::-1]
        self.src = np.ascontiguousarray(src)
        sh, sw = self.src.shape[:2]
        self.center_src = np.array([(sw - 1) / 2, (sh - 1) / 2])
        self.center_out = np.array([(self.w - 1) / 2, (self.h - 1) / 2])
        self.position, self.angle = position, angle

    def view(self, times) -> np.ndarray:
        """The average (linear light) of the views at ``times``."""
        out = np.zeros((self.h, self.w, 3), np.float32)
        for t, p, a in zip(times, self.position(times), self.angle(times)):
            rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
            offset = self.center_src + p - rot @ self.center_out
            mat = np.hstack([rot, offset[:, None]])
            out += cv2.warpAffine(self.src, mat, (self.w, self.h),
                                  flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                  borderMode=cv2.BORDER_REFLECT101)
        return out / len(times)


def _finish(linear: np.ndarray) -> np.ndarray:
    return np.round(from_linear(np.clip(linear, 0, 1)) * 255) / 255


def render_sequence(photo: np.ndarray, rng: np.random.Generator,
                    cfg: SequenceConfig = SequenceConfig(), timeline: bool = False):
    """Yield ``(blur, frames, blur_px)`` per exposure (float32 gamma-encoded, 8-bit values),
    then, with ``timeline``, one last item ``("timeline", truth)``: an iterator of the true
    frames at the output times. ``photo``: linear-light float32 RGB."""
    position, angle, _ = camera_path(rng, cfg)
    camera = _Camera(photo, rng, cfg, position, angle)
    k, s = cfg.subframes_per_frame, cfg.shutter
    m = NUM_FRAMES * k
    shot = rng.uniform(*cfg.noise_shot)
    read = rng.uniform(*cfg.noise_read)
    for t in range(cfg.exposures):
        times = t + s * (np.arange(m) + 0.5) / m
        groups = [camera.view(times[i * k:(i + 1) * k]) for i in range(NUM_FRAMES)]
        blur_lin = np.mean(groups, axis=0)
        if shot > 0 or read > 0:
            std = np.sqrt(shot * np.clip(blur_lin, 0, 1) + read * read)
            blur_lin = blur_lin + rng.standard_normal(blur_lin.shape).astype(np.float32) * std
        fine = position(np.linspace(t, t + s, 65))
        blur_px = float(np.linalg.norm(np.diff(fine, axis=0), axis=1).sum())
        yield (_finish(blur_lin).astype(np.float32),
               np.stack([_finish(g) for g in groups]).astype(np.float32), blur_px)
    if timeline:
        width = s / NUM_FRAMES

        def truth():
            for center in output_times(cfg.exposures, s):
                yield _finish(camera.view(center + width * ((np.arange(k) + 0.5) / k - 0.5)))

        yield "timeline", truth()


def write_sequence(root: str | Path, name: str, photo: np.ndarray, seed: int,
                   cfg: SequenceConfig = SequenceConfig(), timeline: bool = True,
                   force: bool = False) -> dict:
    """Render one sequence to ``root/name`` (see the module docstring); returns its record."""
    folder = Path(root) / name
    names = [f"{name}_{t:04d}" for t in range(cfg.exposures)]
    check_outputs_free([p for n in names for p in sample_paths(folder, n)]
                       + [folder / "sequence.json"], force)
    rng = np.random.default_rng(seed)
    blur_px = []
    for item, sample in zip(names + ["timeline"], render_sequence(photo, rng, cfg, timeline)):
        if isinstance(sample[0], str):
            times = output_times(cfg.exposures, cfg.shutter)
            paths = [folder / "truth" / f"{name}_{n:05d}.png" for n in range(len(times))]
            check_outputs_free(paths, force)
            write_images(paths, sample[1])
            continue
        blur, frames, px = sample
        write_images(sample_paths(folder, item), [blur, *frames])
        blur_px.append(round(px, 2))
    record = {"name": name, "seed": seed, "fps": cfg.fps, "shutter": cfg.shutter,
              "exposures": cfg.exposures, "width": cfg.size[0], "height": cfg.size[1],
              "blur_px": blur_px, "timeline": timeline,
              "output_times": [round(float(t), 6) for t in output_times(cfg.exposures,
                                                                        cfg.shutter)],
              "config": asdict(cfg)}
    write_bytes_atomic(folder / "sequence.json",
                       (json.dumps(record, indent=2) + "\n").encode("utf-8"))
    return record


def synthesize_sequences(photo_paths, count: int, root: str | Path,
                         cfg: SequenceConfig = SequenceConfig(), seed: int = 0,
                         timeline: bool = True, force: bool = False) -> list[dict]:
    """``count`` sequences ``seq_000 ...`` under ``root``, photo ``i % len`` for sequence
    ``i``, sequence ``i`` seeded with ``seed + i``."""
    paths = list(photo_paths)
    if not paths:
        raise ValueError("synthesizing sequences needs at least one photo")
    photos = {}
    records = []
    for i in range(count):
        p = paths[i % len(paths)]
        if p not in photos:
            photos[p] = load_photo(p)
        records.append(write_sequence(root, f"seq_{i:03d}", photos[p], seed + i, cfg,
                                      timeline, force))
    return records


class Sequence:
    """One sequence folder read back: ``record`` (its sequence.json), ``blur(t)``,
    ``truth_frames(t)`` (7, H, W, 3) and ``timeline(n)`` as float32 RGB."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.record = json.loads((self.folder / "sequence.json").read_text())
        self.name = self.record["name"]

    def __len__(self) -> int:
        return self.record["exposures"]

    def _paths(self, t: int) -> list[Path]:
        return sample_paths(self.folder, f"{self.name}_{t:04d}")

    def blur(self, t: int) -> np.ndarray:
        return read_image(self._paths(t)[0]).rgb

    def truth_frames(self, t: int) -> np.ndarray:
        return np.stack([read_image(p).rgb for p in self._paths(t)[1:]])

    def timeline(self, n: int) -> np.ndarray:
        return read_image(self.folder / "truth" / f"{self.name}_{n:05d}.png").rgb


def sequences_in(root: str | Path) -> list[Sequence]:
    """Every sequence folder (with a sequence.json) under ``root``, by name."""
    root = Path(root)
    if (root / "sequence.json").exists():
        return [Sequence(root)]
    return [Sequence(p.parent) for p in sorted(root.glob("*/sequence.json"))]
