"""A blur synthesizer: smooth random camera motion over a still photo, averaged in linear light.

Image formation (seed paper eq. 2, docs/paper.md):

    B = g( (1/M) * sum_m S_m ),   GT_i = g( (1/k) * sum_{m in group i} S_m ),   M = 7 * k

``S_m`` are ``M`` sub-frames in linear light, rendered by warping one photo along a camera path
sampled at ``M`` instants uniformly spread over the exposure; ``g`` is the gamma-2.2 camera
response of :mod:`blurvid.color`. Ground-truth frame ``i`` is the **average of its group of k
sub-frames** (a short exposure of its own, like GoPro's 240 fps frames), not its center
sub-frame. After blurring: Poisson-Gaussian sensor noise in linear light and 8-bit quantization.

The camera path (per sample, a function of the time ``t`` in [-1/2, 1/2]):

* translation ``v * t + a * (t^2 - 1/12)`` (constant velocity plus acceleration: ``a`` is a
  normal 2-vector times U(0, ``max_acceleration``), ``|v| = 1`` before scaling) plus
  high-frequency shake (a sum of two sinusoids, 1.5-6 cycles per exposure);
* in-plane rotation ``omega * t`` about a random center and zoom ``exp(z * t)``.

The blur length (the path length of the image center, in output pixels) is drawn from
``blur_range``; ``p_sharp`` of the samples are almost still (<= 2 px), and ``p_static`` of them
(off by default) come from a camera that does not move at all (a tripod, a CCTV camera): only
the moving objects, if any, move.

Contract: :func:`render` takes a linear-light float32 photo ``(H, W, 3)`` and returns
``blur (h, w, 3)`` and ``frames (7, h, w, 3)``, float32 gamma-encoded in [0, 1].
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from blurvid.color import from_linear, to_linear
from blurvid.consistency import NUM_FRAMES
from blurvid.io import (IMAGE_SUFFIXES, check_outputs_free, contact_sheet,  # noqa: F401
                        list_images, write_bytes_atomic, write_image)
from blurvid.lab.data.layouts import sample_paths, write_sample



@dataclass(frozen=True)
class SynthConfig:
    """Settings of the synthesizer (all lengths in output pixels)."""

    size: int | tuple[int, int] = 128  # output crop side, or (width, height)
    subframes_per_frame: int = 3  # k: M = 7 * k sub-frames
    blur_range: tuple[float, float] = (2.0, 40.0)  # path length of the image center
    p_sharp: float = 0.05  # share of almost-still samples (0-2 px camera path)
    p_static: float = 0.0  # share of samples whose camera does not move at all (drawn first)
    max_rotation_px: float = 6.0  # rotation: extra displacement at the crop corner
    max_zoom_px: float = 6.0  # zoom: extra displacement at the crop corner
    max_shake_px: float = 2.0  # amplitude of the high-frequency shake
    max_acceleration: float = 1.0  # acceleration scale, relative to the velocity (0: constant)
    photo_scale: tuple[float, float] = (0.35, 1.0)  # random downscale of the source photo
    noise_shot: tuple[float, float] = (0.0, 0.01)  # Poisson part (variance ~ a * signal)
    noise_read: tuple[float, float] = (0.0, 0.004)  # Gaussian part (std)
    quantize: bool = True  # 8-bit quantization of blur and frames
    # Scene realism, off by default (the defaults above are the validation set's settings;
    # see :meth:`realistic`): every option draws random numbers only when it is on.
    perspective_px: float = 0.0  # pan/tilt: extra displacement at the crop corner
    p_layer: float = 0.0  # share of samples with a foreground layer that moves with parallax
    parallax: tuple[float, float] = (1.3, 2.5)  # foreground motion / background motion
    max_objects: int = 0  # independently moving cut-outs (needs `objects` in render)
    object_speed: tuple[float, float] = (0.0, 40.0)  # their path length over the exposure, px
    object_size: tuple[float, float] = (0.2, 0.55)  # their long side / the crop's short side
    p_jpeg: float = 0.0  # share of blurry images JPEG-compressed (after the noise)
    jpeg_quality: tuple[int, int] = (70, 95)

    @classmethod
    def realistic(cls, **overrides) -> "SynthConfig":
        """Handheld, dynamic-scene settings: perspective, parallax layers, moving objects, JPEG,
        and milder sensor noise than the basic settings (up to about 5/255 at mid-grey instead
        of about 12/255: a model trained on the heavy noise learned to smooth clean photos)."""
        values = dict(perspective_px=4.0, p_layer=0.35, max_objects=2, p_jpeg=0.3,
                      noise_shot=(0.0, 0.002), noise_read=(0.0, 0.002))
        values.update(overrides)
        return cls(**values)


# ``--set`` settings that switch off everything but one camera shift per sub-frame (perspective,
# parallax layers, moving objects, rotation, zoom): the blur a single path models exactly.
TRANSLATION_ONLY = ("perspective_px=0", "p_layer=0", "max_objects=0", "max_rotation_px=0",
                    "max_zoom_px=0")


def parse_settings(pairs: list[str]) -> dict:
    """``["KEY=VALUE", ...]`` -> SynthConfig overrides, each VALUE read as its field's type: a
    number, ``true``/``false``, or two comma-separated numbers for a range (``0,0.002``).
    Raises ValueError naming the key for an unknown key (``size`` is not a setting) or a
    value of the wrong kind."""
    import dataclasses

    defaults = {f.name: f.default for f in dataclasses.fields(SynthConfig)}
    del defaults["size"]
    settings: dict = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key, text = key.strip(), text.strip()
        if not sep or not key:
            raise ValueError(f"setting {pair!r}: expected KEY=VALUE")
        if key not in defaults:
            raise ValueError(f"setting {key!r}: unknown; known: {', '.join(sorted(defaults))}")
        default = defaults[key]
        try:
            if isinstance(default, bool):
                if text.lower() not in ("true", "false"):
                    raise ValueError
                value = text.lower() == "true"
            elif isinstance(default, tuple):
                parts = text.split(",")
                if len(parts) != 2:
                    raise ValueError
                value = tuple(type(d)(x.strip()) for d, x in zip(default, parts))
                if value[0] > value[1]:
                    raise ValueError
            elif isinstance(default, int):
                value = int(text)
            else:
                value = float(text)
        except ValueError:
            kind = ("true or false" if isinstance(default, bool)
                    else "two numbers LOW,HIGH" if isinstance(default, tuple)
                    else "an integer" if isinstance(default, int) else "a number")
            raise ValueError(f"setting {key}={text!r}: expected {kind}") from None
        if not isinstance(value, (bool, tuple)) and value < 0:
            raise ValueError(f"setting {key}={text!r}: must not be negative")
        if key.startswith("p_") and value > 1:
            raise ValueError(f"setting {key}={text!r}: a share, at most 1")
        if key == "subframes_per_frame" and value < 1:
            raise ValueError(f"setting {key}={text!r}: at least 1")
        settings[key] = value
    return settings


def load_photo(path: str | Path, max_side: int = 1600) -> np.ndarray:
    """Read a photo as linear-light float32 RGB ``(H, W, 3)``, downscaled so its long side <= max_side."""
    data = np.fromfile(str(path), dtype=np.uint8)
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot decode image {path}")
    h, w = bgr.shape[:2]
    scale = max_side / max(h, w)
    if scale < 1:
        bgr = cv2.resize(bgr, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
    return to_linear(rgb)


def output_size(cfg: SynthConfig) -> tuple[int, int]:
    """(width, height) of the rendered samples."""
    return (cfg.size, cfg.size) if isinstance(cfg.size, int) else (int(cfg.size[0]), int(cfg.size[1]))


def _camera_path(rng: np.random.Generator, cfg: SynthConfig, times: np.ndarray):
    """Per-instant (dx, dy, angle, log_zoom), displacement in output pixels at the crop center,
    and whether this is an almost-still camera (``p_sharp``)."""
    w, h = output_size(cfg)
    corner = np.hypot(w, h) / 2
    # p_static draws only when on, so the default settings keep their random stream
    static = cfg.p_static > 0 and rng.random() < cfg.p_static
    still = static or rng.random() < cfg.p_sharp
    if still:
        length = 0.0 if static else rng.uniform(0.0, 2.0)
        rot_px, zoom_px, shake = 0.0, 0.0, 0.0
    else:
        length = rng.uniform(*cfg.blur_range)
        rot_px = rng.uniform(-cfg.max_rotation_px, cfg.max_rotation_px) * (rng.random() < 0.5)
        zoom_px = rng.uniform(-cfg.max_zoom_px, cfg.max_zoom_px) * (rng.random() < 0.3)
        shake = rng.uniform(0, cfg.max_shake_px) * (rng.random() < 0.5)
    theta = rng.uniform(0, 2 * np.pi)
    velocity = np.array([np.cos(theta), np.sin(theta)])
    # acceleration: a second direction; the centerd quadratic keeps the mean position at 0
    accel = rng.normal(size=2) * rng.uniform(0, cfg.max_acceleration)
    path = np.outer(times, velocity) + np.outer(times**2 - 1 / 12, accel)
    if shake > 0:
        for _ in range(2):
            freq = rng.uniform(1.5, 6.0)
            phase = rng.uniform(0, 2 * np.pi, size=2)
            path += shake * np.sin(2 * np.pi * freq * times[:, None] + phase) / np.maximum(length, 1)
    steps = np.linalg.norm(np.diff(path, axis=0), axis=1).sum()
    path *= length / max(steps, 1e-6)
    angle = times * rot_px / corner  # radians
    log_zoom = times * zoom_px / corner
    return path, angle, log_zoom, still


def smooth_path_error(rng: np.random.Generator, count: int = NUM_FRAMES) -> np.ndarray:
    """A random smooth error of a path of ``count`` positions, ``(count, 2)`` px: linear plus
    quadratic in time, mean removed, rms exactly 1 px (the error
    :func:`blurvid.deconvolution.path_error` measures); scale it to the rms wanted. The
    stand-in for a motion estimate's error in the benchmarks and the clean-up network's data."""
    t = np.linspace(-1, 1, count)[:, None]
    c = rng.normal(size=(2, 2))
    err = c[0] * t + c[1] * (t ** 2 - np.mean(t ** 2))
    err -= err.mean(axis=0)
    return err / np.sqrt(np.mean(np.sum(err ** 2, axis=1)))


def load_object(path: str | Path, max_side: int = 512) -> np.ndarray:
    """A cut-out with alpha as float32 ``(H, W, 4)``: linear-light RGB premultiplied by alpha."""
    data = np.fromfile(str(path), dtype=np.uint8)
    bgra = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if bgra is None or bgra.ndim != 3 or bgra.shape[2] != 4:
        raise ValueError(f"{path} is not an image with an alpha channel")
    h, w = bgra.shape[:2]
    if max(h, w) > max_side:
        f = max_side / max(h, w)
        bgra = cv2.resize(bgra, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)
    scale = 65535.0 if bgra.dtype == np.uint16 else 255.0
    rgba = bgra[..., [2, 1, 0, 3]].astype(np.float32) / scale
    rgba[..., :3] = to_linear(rgba[..., :3]) * rgba[..., 3:]
    return rgba


def _blob_mask(rng: np.random.Generator, size: int) -> np.ndarray:
    """A soft random region (about 30-60% of the window): the foreground layer's alpha."""
    noise = cv2.resize(rng.standard_normal((6, 6)).astype(np.float32), (size, size),
                       interpolation=cv2.INTER_CUBIC)
    level = np.quantile(noise, rng.uniform(0.4, 0.7))
    mask = (noise > level).astype(np.float32)
    return cv2.GaussianBlur(mask, (0, 0), 1.5)


def _perspective(mat: np.ndarray, g: float, h: float, center: np.ndarray) -> np.ndarray:
    """The 2x3 affine ``mat`` (output -> source) composed with a perspective term in centerd
    output coordinates: (u, v) -> (u, v) / (1 + g u + h v)."""
    t = np.array([[1, 0, -center[0]], [0, 1, -center[1]], [0, 0, 1]], np.float64)
    p = np.array([[1, 0, 0], [0, 1, 0], [g, h, 1]], np.float64)
    return np.vstack([mat, [0, 0, 1]]) @ np.linalg.inv(t) @ p @ t


def render(photo: np.ndarray, rng: np.random.Generator, cfg: SynthConfig = SynthConfig(),
           subframes: bool = False, objects: list[np.ndarray] | None = None,
           info: dict | None = None, scene: bool = False):
    """Render one (blur, frames) sample from a linear-light photo. See the module docstring.

    With ``subframes``, also return the M = 7k sub-frames in linear light (float32
    ``(M, h, w, 3)``, noise-free): the ground truth at any instant of the exposure.
    ``objects``: cut-outs (:func:`load_object`) for ``cfg.max_objects``. ``info``: a dict that
    receives the motion: ``path`` (M, 2) camera displacement in output pixels, ``angle`` and
    ``log_zoom`` (M,), ``perspective`` ``(g, h)``: the pan/tilt terms at the end of the
    exposure (at time ``t`` the warp uses ``2 t (g, h)``; ``(0, 0)`` without perspective),
    ``objects`` [(M, 2) positions], ``parallax`` (or None), ``length``.

    With ``scene`` (and ``info``), ``info["scene"]`` receives the exact image formation, for a
    solver told everything (benchmarks/layered_oracle.py): a list of layers, back to front,
    each ``{"texture": (th, tw, C) linear light (premultiplied for cut-outs), "maps": (M, 3, 3)
    output pixel -> texture pixel homographies, "alpha": (M, h, w) coverage in the output or
    None (the background), "premultiplied": bool}``; sub-frame ``j`` is the layers composited
    "over" in that order. Recording draws no random numbers: the samples stay the same.
    """
    m = NUM_FRAMES * cfg.subframes_per_frame
    times = (np.arange(m) + 0.5) / m - 0.5
    path, angle, log_zoom, still = _camera_path(rng, cfg, times)
    # Cut a window with room for the motion from the photo, then scale it (cheap: only the window).
    out_w, out_h = output_size(cfg)
    margin = int(np.ceil(np.abs(path).max() + max(out_w, out_h) * 0.1 + 4))
    extent = max(out_w, out_h) + 2 * margin  # window side in output pixels
    ph, pw = photo.shape[:2]
    scale = max(rng.uniform(*cfg.photo_scale), extent / min(ph, pw))
    side = min(int(np.ceil(extent / scale)), ph, pw)  # window side in photo pixels
    y0 = int(rng.integers(0, ph - side + 1))
    x0 = int(rng.integers(0, pw - side + 1))
    src = photo[y0 : y0 + side, x0 : x0 + side]
    if side != extent:
        interp = cv2.INTER_AREA if side > extent else cv2.INTER_LINEAR
        src = cv2.resize(src, (extent, extent), interpolation=interp)
    if rng.random() < 0.5:
        src = src[:, ::-1]
    if rng.random() < 0.25:
        src = np.rot90(src)
    src = np.ascontiguousarray(src)
    cx = cy = (extent - 1) / 2
    center = np.array([(out_w - 1) / 2, (out_h - 1) / 2])
    # Optional realism, drawn only when switched on (the default stream stays the same).
    persp = (0.0, 0.0)
    if cfg.perspective_px > 0:
        radius2 = (max(out_w, out_h) / 2) ** 2
        # (drawn either way, so the random stream does not depend on `still`; a still camera
        # does not pan or tilt either)
        persp = tuple(rng.uniform(-1, 1, 2) * 2 * cfg.perspective_px / radius2 * (not still))
    layer = None
    if cfg.p_layer > 0 and rng.random() < cfg.p_layer:
        ly, lx = (int(rng.integers(0, photo.shape[k] - side + 1)) for k in (0, 1))
        fg = photo[ly : ly + side, lx : lx + side]
        fg = cv2.resize(fg, (extent, extent), interpolation=cv2.INTER_AREA) if side != extent \
            else fg
        layer = (np.ascontiguousarray(fg), _blob_mask(rng, extent), rng.uniform(*cfg.parallax))
    movers = []
    if cfg.max_objects > 0 and objects:
        for _ in range(int(rng.integers(0, cfg.max_objects + 1))):
            cut = objects[int(rng.integers(len(objects)))]
            long_side = rng.uniform(*cfg.object_size) * min(out_w, out_h)
            f = long_side / max(cut.shape[:2])
            theta = rng.uniform(0, 2 * np.pi)
            speed = rng.uniform(*cfg.object_speed)
            start = np.array([rng.uniform(0, out_w), rng.uniform(0, out_h)])
            movers.append((cut, f, start, speed * np.array([np.cos(theta), np.sin(theta)]),
                           rng.uniform(-0.3, 0.3)))

    if info is not None:
        info.update(path=path.copy(), angle=angle.copy(), log_zoom=log_zoom.copy(),
                    perspective=persp,
                    length=float(np.linalg.norm(np.diff(path, axis=0), axis=1).sum()),
                    parallax=None if layer is None else float(layer[2]),
                    objects=[start + np.outer(times, v) for _, _, start, v, _ in movers])
    sub = np.empty((m, out_h, out_w, 3), np.float32)
    layers = None
    if scene and info is not None:
        layers = [{"texture": src, "maps": np.empty((m, 3, 3)), "alpha": None,
                   "premultiplied": False}]
        if layer is not None:
            layers.append({"texture": layer[0], "maps": np.empty((m, 3, 3)),
                           "alpha": np.empty((m, out_h, out_w), np.float32),
                           "premultiplied": False})
        for cut, *_ in movers:
            layers.append({"texture": cut[..., :3], "maps": np.empty((m, 3, 3)),
                           "alpha": np.empty((m, out_h, out_w), np.float32),
                           "premultiplied": True})
        info["scene"] = layers
    for j in range(m):
        c, s = np.cos(angle[j]), np.sin(angle[j])
        z = np.exp(log_zoom[j])
        rot = z * np.array([[c, -s], [s, c]])
        # output pixel p -> source pixel: center + rot @ (p - half) + path
        offset = np.array([cx, cy]) + path[j] - rot @ center
        mat = np.hstack([rot, offset[:, None]]).astype(np.float64)
        if persp != (0.0, 0.0):  # the perspective grows over the exposure, like the path
            bg_map = _perspective(mat, persp[0] * times[j] * 2, persp[1] * times[j] * 2, center)
            frame = cv2.warpPerspective(
                src, bg_map, (out_w, out_h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                borderMode=cv2.BORDER_REFLECT101)
        else:
            bg_map = np.vstack([mat, [0, 0, 1]])
            frame = cv2.warpAffine(src, mat, (out_w, out_h),
                                   flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                   borderMode=cv2.BORDER_REFLECT101)
        if layer is not None:  # nearer, so it moves further: parallax
            fg, alpha, factor = layer
            fg_offset = np.array([cx, cy]) + factor * path[j] - rot @ center
            fg_mat = np.hstack([rot, fg_offset[:, None]]).astype(np.float64)
            a = cv2.warpAffine(alpha, fg_mat, (out_w, out_h),
                               flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_REFLECT101)[..., None]
            frame = a * cv2.warpAffine(fg, fg_mat, (out_w, out_h),
                                       flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                       borderMode=cv2.BORDER_REFLECT101) + (1 - a) * frame
            if layers is not None:
                layers[1]["maps"][j] = np.vstack([fg_mat, [0, 0, 1]])
                layers[1]["alpha"][j] = a[..., 0]
        if layers is not None:
            layers[0]["maps"][j] = bg_map
        # later objects occlude earlier ones
        for k, (cut, f, start, velocity, spin) in enumerate(movers):
            pos = start + velocity * times[j]
            ang = spin * times[j]
            ca, sa = np.cos(ang) * f, np.sin(ang) * f
            h0, w0 = cut.shape[:2]
            obj_mat = np.array([[ca, -sa, 0.0], [sa, ca, 0.0]])
            obj_mat[:, 2] = pos - obj_mat[:, :2] @ np.array([(w0 - 1) / 2, (h0 - 1) / 2])
            rgba = cv2.warpAffine(cut, obj_mat, (out_w, out_h), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            frame = rgba[..., :3] + (1 - rgba[..., 3:]) * frame  # premultiplied "over"
            if layers is not None:  # obj_mat maps the cut-out to the output: inverted
                entry = layers[len(layers) - len(movers) + k]
                entry["maps"][j] = np.linalg.inv(np.vstack([obj_mat, [0, 0, 1]]))
                entry["alpha"][j] = rgba[..., 3]
        sub[j] = frame
    groups = sub.reshape(NUM_FRAMES, cfg.subframes_per_frame, out_h, out_w, 3)
    frames_lin = groups.mean(axis=1)
    blur_lin = frames_lin.mean(axis=0)
    a = rng.uniform(*cfg.noise_shot)
    b = rng.uniform(*cfg.noise_read)
    if a > 0 or b > 0:
        std = np.sqrt(a * np.clip(blur_lin, 0, 1) + b * b)
        blur_lin = blur_lin + rng.standard_normal(blur_lin.shape).astype(np.float32) * std
    blur = from_linear(np.clip(blur_lin, 0, 1))
    frames = from_linear(np.clip(frames_lin, 0, 1))
    if cfg.quantize:
        blur = np.round(blur * 255) / 255
        frames = np.round(frames * 255) / 255
    if cfg.p_jpeg > 0 and rng.random() < cfg.p_jpeg:
        quality = int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1))
        pixels = np.clip(np.rint(blur * 255), 0, 255).astype(np.uint8)[..., ::-1]
        ok, data = cv2.imencode(".jpg", np.ascontiguousarray(pixels),
                                [cv2.IMWRITE_JPEG_QUALITY, quality])
        blur = cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1].astype(np.float32) / 255
    if subframes:
        return blur.astype(np.float32), frames.astype(np.float32), sub
    return blur.astype(np.float32), frames.astype(np.float32)


def render_samples(photo_paths, count: int, cfg: SynthConfig = SynthConfig(), seed: int = 1234,
                   objects: list[np.ndarray] | None = None, scene: bool = False):
    """Yield ``count`` samples ``(blur, frames, info)`` (``info``: :func:`render`'s motion
    record): photo ``i % len(photo_paths)`` for sample ``i``, one generator seeded with
    ``seed`` draws everything, so the same call gives the same samples. The one stream behind
    :func:`render_set`, :func:`synthesize_dataset` and the benchmarks that re-render a
    ``blurvid synth`` folder with its motion. ``scene``: ``info["scene"]`` also holds the
    exact image formation (:func:`render`)."""
    paths = list(photo_paths)
    if not paths:
        raise ValueError("rendering samples needs at least one photo")
    photos = [load_photo(p) for p in paths]
    rng = np.random.default_rng(seed)
    for i in range(count):
        info: dict = {}
        blur, frames = render(photos[i % len(photos)], rng, cfg, objects=objects, info=info,
                              scene=scene)
        yield blur, frames, info


def render_set(photo_paths, count: int, cfg: SynthConfig = SynthConfig(), seed: int = 1234,
               objects: list[np.ndarray] | None = None):
    """A fixed list of ``count`` samples ``(blur, frames)`` (a validation set):
    :func:`render_samples` without the motion, the same samples as ``synthesize_dataset`` with
    that seed."""
    return [(blur, frames) for blur, frames, _ in
            render_samples(photo_paths, count, cfg, seed, objects)]


def synthesize_dataset(photo_paths, count: int, out, cfg: SynthConfig = SynthConfig(),
                       seed: int = 0, force: bool = False, progress=None,
                       objects: list[np.ndarray] | None = None) -> dict:
    """Write ``count`` samples in the blurvid layout to ``out`` (``sample_0000`` ...), a
    ``preview.png`` (up to 8 rows: the blur, then frames 1, 4 and 7) and ``synth.json`` (the
    settings). Photo ``i % len(photo_paths)`` makes sample ``i``, one generator seeded with
    ``seed`` draws everything: the same call writes the same bytes. Returns the record."""
    out = Path(out)
    paths = list(photo_paths)
    if not paths:
        raise ValueError("synthesize_dataset needs at least one photo")
    width = max(4, len(str(count - 1)))
    names = [f"sample_{i:0{width}d}" for i in range(count)]
    # Refuse to clobber before any work.
    check_outputs_free([p for n in names for p in sample_paths(out, n)]
                       + [out / "preview.png", out / "synth.json"], force)
    rows, motions = [], []
    samples = render_samples(paths, count, cfg, seed, objects)
    for i, (name, (blur, frames, info)) in enumerate(zip(names, samples)):
        write_sample(out, name, blur, frames, force=force)
        motions.append({"name": name, "photo": Path(paths[i % len(paths)]).name,
                        "blur_px": round(info["length"], 2), "parallax": info["parallax"],
                        "moving_objects": len(info["objects"])})
        if len(rows) < 8:
            rows.append(contact_sheet([blur, frames[0], frames[3], frames[6]]))
        if progress is not None:
            progress()
    gap = np.ones((4, rows[0].shape[1], 3), np.float32)
    preview = np.concatenate([x for r in rows for x in (r, gap)][:-1])
    write_image(out / "preview.png", preview)
    lengths = [m["blur_px"] for m in motions]
    record = {"samples": count, "seed": seed, "config": asdict(cfg),
              "photos": [Path(p).name for p in paths],
              "blur_px": {"min": min(lengths), "median": float(np.median(lengths)),
                          "max": max(lengths)},
              "per_sample": motions}
    write_bytes_atomic(out / "synth.json",
                       (json.dumps(record, indent=2, default=list) + "\n").encode("utf-8"))
    return record
