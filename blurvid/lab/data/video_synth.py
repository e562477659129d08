"""Synthetic blurry videos with their truth: the benchmark clips of the video method.

A clip is rendered in linear light from one sharp photo (the scene, a plane) seen by a camera
that moves as handheld video does, optionally with cut-outs moving on their own in front.
Times are in frame intervals; exposure ``t`` opens at ``t`` and closes at ``t + shutter``
(:func:`blurvid.ordering.frame_times`), its 7 true frames are the means of the 7 sevenths of
the exposure, its blurry frame the mean of the 7 (then 8-bit sRGB-like gamma, as a video
stores it).

Camera. The screen pixel ``p`` (x, y) at time ``tau`` shows the scene point
``C(tau) p = c(tau) + R(theta(tau)) (p - p0)`` (``p0`` the screen centre): an affine map per
instant, :meth:`Clip.camera` (3x3). ``c`` is a pan at constant velocity plus shake, a sum of
sinusoids (3-12 Hz at 30 fps for ``handheld``: periods of 2.5-10 frames, velocity changes
comparable to the pan; 15-40 Hz for ``vibration``: several periods per exposure, aliased);
``theta`` a small drift plus shake (a few tenths of a degree). The exposure's blur (the
length of the screen centre's path over the exposure) is scaled into ``blur`` px.

Objects. Each is a cut-out (premultiplied linear RGBA, :func:`blurvid.lab.data.synth.load_object`)
drawn at about a quarter of the frame's height, moving on the screen on a path of its own
(a constant velocity plus a slow curve, 5-30 px per exposure) and spinning slowly.

Truth for the motion: :meth:`Clip.latent_map` gives, for exposure ``t`` and an instant
``tau``, the affine map ``C(m)^-1 C(tau)`` (``m`` the exposure's middle): where the pixel
``p`` at ``tau`` samples the scene as the frame at the exposure's middle shows it; that is the
camera's motion the video method has to find (objects excepted).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from blurvid.camera_motion import Trajectory
from blurvid.color import from_linear
from blurvid.consistency import NUM_FRAMES
from blurvid.lab.data.synth import load_object, load_photo

KINDS = ("pan", "handheld", "vibration")
FPS = 30.0  # the frame rate the shake's frequencies are given at
MAX_SUBFRAME_STEP = 0.35  # px: the screen moves at most this much between rendered sub-frames


@dataclass
class ClipSpec:
    """One clip to render. ``kind``: ``pan`` (smooth: constant velocity, slow turn),
    ``handheld`` (pan plus shake of 3-12 Hz) or ``vibration`` (15-40 Hz); ``blur``: the
    mean blur length per exposure in px; ``shutter``: exposed share of the frame interval;
    ``objects``: cut-outs moving on their own; ``size``: (width, height); ``noise``: the
    standard deviation of Gaussian noise added to the blurry frames (display-encoded, before
    their 8-bit rounding: a camera's noise as a compressed video keeps it)."""

    kind: str = "handheld"
    frames: int = 6
    size: tuple[int, int] = (640, 360)
    blur: float = 20.0
    shutter: float = 0.5
    objects: int = 0
    seed: int = 0
    noise: float = 0.0


@dataclass
class _Mover:
    rgba: np.ndarray  # premultiplied linear RGBA of the cut-out
    start: np.ndarray  # screen position of its centre at time 0
    velocity: np.ndarray  # px per frame interval
    curve: np.ndarray  # px per frame interval squared
    spin: float  # rad per frame interval


@dataclass
class Clip:
    """A rendered clip: ``blur`` uint8 (N, H, W, 3) RGB, ``truth`` uint8 (N, 7, H, W, 3) RGB,
    and the camera that made it (:meth:`camera`, :meth:`latent_map`)."""

    spec: ClipSpec
    blur: np.ndarray
    truth: np.ndarray
    center: np.ndarray  # screen centre p0
    pan: np.ndarray  # px per frame interval
    shake: list = field(default_factory=list)  # (amplitude (2,), frequency per frame, phase (2,))
    rotation: tuple = (0.0, 0.0, 0.0, 0.0, 0.0)  # theta0, drift per frame, amp, freq, phase
    offset: np.ndarray = field(default_factory=lambda: np.zeros(2))  # texture position at t=0
    scene: np.ndarray | None = field(default=None, repr=False)  # linear RGB texture
    movers: list = field(default_factory=list, repr=False)
    step: float = 1.0  # frame intervals between rendered sub-frames

    def instant(self, tau: float) -> np.ndarray:
        """The sharp linear-RGB frame at time ``tau`` (float32 (H, W, 3))."""
        w, h = self.spec.size
        sub = cv2.warpAffine(self.scene, self.camera(tau)[:2], (w, h),
                             flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                             borderMode=cv2.BORDER_REFLECT101)
        for mover in self.movers:
            _draw(sub, mover, tau)
        return sub

    def frame_at(self, time: float, span: float) -> np.ndarray:
        """uint8 RGB: the mean of the sharp frames over ``[time - span / 2, time + span / 2]``
        (what a frame of the output at ``time`` should show; an exposure's frame ``g`` is
        ``frame_at(t + s (2 g + 1) / 14, s / 7)``)."""
        count = max(1, int(np.ceil(span / self.step)))
        acc = np.zeros((self.spec.size[1], self.spec.size[0], 3), np.float32)
        for j in range(count):
            acc += self.instant(time - span / 2 + span * (j + 0.5) / count)
        return _to_u8(acc / count)

    def position(self, tau) -> np.ndarray:
        """Scene position of the screen centre at times ``tau`` (...,) -> (..., 2)."""
        tau = np.asarray(tau, np.float64)[..., None]
        pos = self.offset + self.pan * tau
        for amp, freq, phase in self.shake:
            pos = pos + amp * (np.sin(2 * np.pi * freq * tau + phase) - np.sin(phase))
        return pos

    def angle(self, tau) -> np.ndarray:
        theta0, drift, amp, freq, phase = self.rotation
        tau = np.asarray(tau, np.float64)
        return theta0 + drift * tau + amp * np.sin(2 * np.pi * freq * tau + phase)

    def camera(self, tau: float) -> np.ndarray:
        """The 3x3 affine map screen pixel -> scene point at time ``tau``."""
        a = float(self.angle(tau))
        rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        out = np.eye(3)
        out[:2, :2] = rot
        out[:2, 2] = self.position(tau) - rot @ self.center
        return out

    def latent_map(self, exposure: int, tau: float) -> np.ndarray:
        """3x3: pixel ``p`` at time ``tau`` shows what pixel ``M p`` of the exposure's middle
        instant shows (camera only)."""
        middle = exposure + self.spec.shutter / 2
        return np.linalg.solve(self.camera(middle), self.camera(tau))

    def group_maps(self, exposure: int, samples: int = 32) -> np.ndarray:
        """(7, 3, 3): the true mean of :meth:`latent_map` over each seventh of the exposure, in
        image-centred coordinates (as :class:`blurvid.camera_motion.Trajectory` has them)."""
        shift, back = np.eye(3), np.eye(3)
        shift[:2, 2], back[:2, 2] = self.center, -self.center
        out = []
        for g in range(NUM_FRAMES):
            taus = exposure + self.spec.shutter * (g + (np.arange(samples) + 0.5) / samples) \
                / NUM_FRAMES
            mean = np.mean([self.latent_map(exposure, tau) for tau in taus], axis=0)
            out.append(back @ mean @ shift)
        return np.stack(out)

    def trajectory(self, exposure: int) -> "KnownTrajectory":
        """The true camera motion of an exposure, as the solver takes it."""
        h, w = self.spec.size[1], self.spec.size[0]
        return KnownTrajectory(np.zeros((0, 3, 3)), self.spec.shutter, (h, w),
                               self.group_maps(exposure))


class KnownTrajectory(Trajectory):
    """A :class:`blurvid.camera_motion.Trajectory` told its 7 group maps (the truth)."""

    def __init__(self, coeffs, shutter, size, maps) -> None:
        super().__init__(coeffs, shutter, size)
        self.maps = maps

    def group_maps(self, frames: int = NUM_FRAMES) -> np.ndarray:
        if frames != NUM_FRAMES:
            raise ValueError(f"the truth has {NUM_FRAMES} groups")
        return self.maps


def _check(spec: ClipSpec) -> None:
    if spec.kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {spec.kind!r}")
    if not 0 < spec.shutter <= 1:
        raise ValueError(f"shutter must be in (0, 1], got {spec.shutter}")
    if spec.frames < 1 or spec.blur < 0:
        raise ValueError("frames must be >= 1 and blur >= 0")


def _design_camera(spec: ClipSpec, rng: np.random.Generator, center: np.ndarray) -> dict:
    """Pan, shake and rotation scaled so the exposures' mean blur is about ``spec.blur``."""
    heading = rng.uniform(0, 2 * np.pi)
    pan = np.array([np.cos(heading), np.sin(heading)])
    shake = []
    if spec.kind == "pan":
        bands, rel = [], 0.0
    elif spec.kind == "handheld":
        bands, rel = [(3.0, 12.0)] * 3, rng.uniform(0.6, 1.2)
    else:
        bands, rel = [(15.0, 40.0)] * 2, rng.uniform(0.6, 1.0)
    for lo, hi in bands:
        freq = rng.uniform(lo, hi) / FPS  # cycles per frame interval
        direction = rng.standard_normal(2)
        direction /= np.linalg.norm(direction)
        # velocity amplitude (px per frame) relative to the pan's speed of 1
        amp = direction * rel / (2 * np.pi * freq) / np.sqrt(len(bands))
        shake.append((amp, freq, rng.uniform(0, 2 * np.pi, 2)))
    rot_freq = (rng.uniform(3, 12) if spec.kind != "vibration" else rng.uniform(15, 40)) / FPS
    rotation = (0.0, rng.uniform(-1, 1) * np.deg2rad(0.15), np.deg2rad(rng.uniform(0.1, 0.4)),
                rot_freq, rng.uniform(0, 2 * np.pi))
    return dict(pan=pan, shake=shake, rotation=rotation)


def _scale_to_blur(clip: Clip, spec: ClipSpec) -> None:
    """Scale the translation so the screen centre moves ``spec.blur`` px per exposure on
    average (rotation kept)."""
    lengths = []
    for t in range(spec.frames):
        tau = np.linspace(t, t + spec.shutter, 64)
        lengths.append(np.linalg.norm(np.diff(clip.position(tau), axis=0), axis=1).sum())
    scale = spec.blur / max(np.mean(lengths), 1e-9) if spec.blur > 0 else 0.0
    clip.pan = clip.pan * scale
    clip.shake = [(amp * scale, freq, phase) for amp, freq, phase in clip.shake]


def _movers(spec: ClipSpec, rng: np.random.Generator, objects: list[Path]) -> list[_Mover]:
    w, h = spec.size
    out = []
    for _ in range(spec.objects):
        rgba = load_object(objects[int(rng.integers(len(objects)))])
        side = h * rng.uniform(0.22, 0.32)
        f = side / max(rgba.shape[:2])
        size = (max(2, round(rgba.shape[1] * f)), max(2, round(rgba.shape[0] * f)))
        rgba = cv2.resize(rgba, size, interpolation=cv2.INTER_AREA)
        speed = rng.uniform(5, 30) / spec.shutter  # 5-30 px per exposure
        heading = rng.uniform(0, 2 * np.pi)
        velocity = speed * np.array([np.cos(heading), np.sin(heading)])
        # start so the object crosses the middle of the clip near the screen's centre
        mid = (spec.frames - 1) / 2
        start = np.array([w / 2, h / 2]) + rng.uniform(-0.2, 0.2, 2) * [w, h] - velocity * mid
        out.append(_Mover(rgba, start, velocity, rng.uniform(-1, 1, 2) * speed * 0.05,
                          rng.uniform(-1, 1) * 0.02))
    return out


def _draw(canvas: np.ndarray, mover: _Mover, tau: float) -> None:
    """Composite the cut-out over ``canvas`` (linear RGB, in place) at time ``tau``."""
    h, w = canvas.shape[:2]
    oh, ow = mover.rgba.shape[:2]
    centre = mover.start + mover.velocity * tau + mover.curve * tau * tau
    a = mover.spin * tau
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    mat = np.hstack([rot, (centre - rot @ np.array([(ow - 1) / 2, (oh - 1) / 2]))[:, None]])
    layer = cv2.warpAffine(mover.rgba, mat, (w, h), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    canvas *= 1.0 - layer[..., 3:]
    canvas += layer[..., :3]


def _to_u8(linear: np.ndarray, noise: float = 0.0, rng=None) -> np.ndarray:
    encoded = from_linear(np.clip(linear, 0, 1))
    if noise > 0:
        encoded = encoded + rng.normal(0.0, noise, encoded.shape).astype(np.float32)
    return np.clip(np.rint(encoded * 255), 0, 255).astype(np.uint8)


def render_clip(photo: str | Path, spec: ClipSpec, objects: list[Path] = ()) -> Clip:
    """Render ``spec`` from the sharp ``photo`` (and cut-outs from ``objects`` when
    ``spec.objects`` > 0). Deterministic for a given spec and files."""
    _check(spec)
    if spec.objects and not objects:
        raise ValueError("spec.objects > 0 needs cut-out files")
    rng = np.random.default_rng(spec.seed)
    w, h = spec.size
    center = np.array([(w - 1) / 2, (h - 1) / 2])
    clip = Clip(spec, np.empty(0), np.empty(0), center, **_design_camera(spec, rng, center))
    _scale_to_blur(clip, spec)
    movers = _movers(spec, rng, list(objects))
    end = spec.frames - 1 + spec.shutter
    trace = clip.position(np.linspace(0, end, 512))
    corners = np.array([[0, 0], [w, 0], [0, h], [w, h]], np.float64) - center
    reach = np.abs(corners).max(axis=0) * 1.02 + 8  # rotation margin
    lo, hi = trace.min(axis=0) - reach, trace.max(axis=0) + reach
    scene = load_photo(photo)
    f = max((hi - lo)[0] / scene.shape[1], (hi - lo)[1] / scene.shape[0])
    if f > 1:  # the photo is too small for the camera's travel: enlarge it
        scene = cv2.resize(scene, (int(np.ceil(scene.shape[1] * f)) + 1,
                                   int(np.ceil(scene.shape[0] * f)) + 1),
                           interpolation=cv2.INTER_CUBIC)
    clip.offset = np.array([scene.shape[1], scene.shape[0]]) / 2 - (lo + hi) / 2
    speed = max(np.abs(np.diff(trace, axis=0)).max() / (end / 511), 1e-6)
    fastest = speed + 0.5 * max(w, h) * abs(clip.angle(0) - clip.angle(1e-3)) / 1e-3
    fastest = max([fastest] + [np.linalg.norm(m.velocity) * 1.3 for m in movers])
    per_group = max(1, int(np.ceil(fastest * spec.shutter / NUM_FRAMES / MAX_SUBFRAME_STEP)))
    count = NUM_FRAMES * per_group
    clip.scene, clip.movers, clip.step = scene, movers, spec.shutter / count
    blur = np.empty((spec.frames, h, w, 3), np.uint8)
    truth = np.empty((spec.frames, NUM_FRAMES, h, w, 3), np.uint8)
    noise_rng = np.random.default_rng([spec.seed, 1])
    for t in range(spec.frames):
        groups = np.zeros((NUM_FRAMES, h, w, 3), np.float32)
        for j in range(count):
            groups[j // per_group] += clip.instant(t + spec.shutter * (j + 0.5) / count)
        groups /= per_group
        truth[t] = _to_u8(groups)
        blur[t] = _to_u8(groups.mean(axis=0), spec.noise, noise_rng)
    clip.blur, clip.truth = blur, truth
    return clip
