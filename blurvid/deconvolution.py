"""Non-blind deconvolution: the 7 sharp frames of a photo whose camera path is known.

Image formation (:mod:`blurvid.consistency`, the synthesizer): in linear light the photo is the
mean of ``M = 7 k`` sub-frames, sub-frame ``m`` showing the scene shifted by the camera path,
``S_m(x) = S(x + d_m)``; frame ``i`` is the mean of its group of ``k``. For a translation, in
the Fourier domain

    B = K S,    F_i = K_i S,    K_i(w) = mean_{m in group i} exp(i w.d_m),   K = mean_i K_i.

Told the path, :func:`deconvolve_y` finds the scene ``S`` on a grid ``pad`` px larger than the
photo on every side (the photo saw scene beyond its edges) that minimizes

    |inside(K S - B)|^2 + W |D S|^2      (only the photo's own pixels are data)

with ``D`` the forward differences (a smoothness prior of weight ``W``, :func:`weight_for`;
``sparse``: made sparse afterwards, :class:`SparsePrior`):
first in closed form on the photo extended by reflection (Tikhonov / Wiener,
``S = conj(K) B / (|K|^2 + W |D|^2)``), then a few conjugate-gradient steps on the masked
problem preconditioned by that closed form (``known_motion``'s formulation; the closed form
alone rings at the edges). Frame ``i`` is ``K_i S``, plus (``keep``) the part of the photo the
prior smoothed away where the blur does not attenuate it (``|K|^4 M (B - K S)``), so that a
zero path gives the photo itself. A reversed path gives the frames reversed.

Paths. A path given to the solver is ``(7, 2)``: the centers (mean displacements) of the 7
sub-frame groups, in pixels ``(dx, dy)``, any constant offset (a gauge: the frames do not
depend on it). :func:`group_centers` makes one from a synthesizer path ``(M, 2)``;
:func:`densify` turns it back into sub-frame positions (piecewise-linear in time).

Boundaries. The FFT is circular and the photo saw scene beyond its edges. The luma is
extended by reflection ``pad`` px on every side (the path's reach and a fade,
:func:`default_pad`), faded to its mean over the outer half of that margin so the periodic
grid has no jump, and the margin is cropped off; the conjugate-gradient steps then let only
the photo's own pixels count. :func:`deconvolve_tiled` solves window by window (a path of
its own for each), each window with up to ``pad`` px of the photo around it as data and a
margin beyond that, and blends them with :mod:`blurvid.tiling`'s ramps.

Light: the photo is deconvolved in linear light, ``to_linear(Y)`` of the gamma-encoded luma
(:mod:`blurvid.color`); luma of gamma-encoded RGB is not the luma of linear RGB, an
approximation that costs 0.05 dB against solving the three channels (told path, translation
only; ``benchmarks/motion_guided.py --rgb``).

Speed: OpenCV's real DFT (packed layout) does the FFTs, 4-5x numpy's; about 17 + 2 per CG
step of them on a grid of the photo plus its margins. Measured (CPU seconds, one thread, a
loaded 2-core machine): 1280x720 in 0.17 s closed form only, 0.23-0.31 s with the default 5
steps; 0.45-0.5 s in 28 windows of 256 px. Quality against steps (told path, 48
translation-only 256x256 samples, gain over INPUT mean / middle, dB): 0 steps +3.47 / +1.82,
3 +5.09 / +3.38, 5 +5.33 / +3.60, 10 +5.52 / +3.76, 15 +5.54 / +3.78 (known_motion's CG
yardstick, RGB with the 21 true sub-frames, 60 steps: +5.76 / +3.97); at 1280x720 (8
samples) 0 steps +5.69, 3 +7.10, 5 +7.21, 10 +7.38 mean.

Contract: ``y`` float ``(H, W)`` gamma-encoded luma in [0, 1]; results float32 ``(7, H, W)``
gamma-encoded luma in [0, 1]; bad shapes or values raise ValueError. numpy and OpenCV only
(no lab code, no torch).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from blurvid.color import from_linear, to_linear
from blurvid.consistency import NUM_FRAMES
from blurvid.tiling import RampBlend, each_result, tile_spans

SUBFRAMES_PER_FRAME = 3  # sub-frames per frame of densify (the synthesizer's k)
DEFAULT_WEIGHT = 0.1  # smoothness weight for an exact path (weight_for(0))
DEFAULT_ITERS = 5  # conjugate-gradient steps on the edges after the closed form


# ------------------------------------------------------------------------------- paths


def _check_path(path, rows: int | None, name: str) -> np.ndarray:
    a = np.asarray(path, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != 2 or (rows is not None and a.shape[0] != rows) \
            or a.shape[0] < 1:
        want = f"({rows}, 2)" if rows is not None else "(M, 2)"
        raise ValueError(f"{name} must be {want} displacements (dx, dy), got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return a


def group_centers(path, frames: int = NUM_FRAMES) -> np.ndarray:
    """``(frames, 2)`` centers of the sub-frame groups of ``path`` ``(M, 2)`` (``M`` a multiple
    of ``frames``): the mean displacement of each frame's consecutive sub-frames."""
    a = _check_path(path, None, "path")
    if a.shape[0] % frames:
        raise ValueError(f"path has {a.shape[0]} sub-frames, not a multiple of {frames}")
    return a.reshape(frames, -1, 2).mean(axis=1)


def densify(groups, per_frame: int = SUBFRAMES_PER_FRAME) -> np.ndarray:
    """``(7 * per_frame, 2)`` sub-frame positions of the group centers ``groups`` ``(7, 2)``:
    piecewise-linear in time, group ``i`` at time ``(i + 0.5) / 7`` and sub-frame ``m`` at
    ``(m + 0.5) / M``, extrapolated linearly beyond the first and last centers. A straight
    path at constant speed comes back exactly (``group_centers(densify(g, k)) == g``)."""
    g = _check_path(groups, NUM_FRAMES, "groups")
    if int(per_frame) != per_frame or per_frame < 1:
        raise ValueError(f"per_frame must be a whole number >= 1, got {per_frame!r}")
    per_frame = int(per_frame)
    m = NUM_FRAMES * per_frame
    t = (np.arange(m) + 0.5) / m * NUM_FRAMES - 0.5  # in units of frames, group i at i
    seg = np.clip(np.floor(t).astype(int), 0, NUM_FRAMES - 2)
    frac = (t - seg)[:, None]
    return g[seg] * (1 - frac) + g[seg + 1] * frac


def _subframes(groups, per_frame: int) -> np.ndarray:
    """Sub-frame positions whose group means are exactly ``groups``: :func:`densify` with each
    group's offset corrected (densify's piecewise-linear means differ at bends)."""
    sub = densify(groups, per_frame)
    correction = np.asarray(groups, np.float64) - group_centers(sub)
    return sub + np.repeat(correction, per_frame, axis=0)


def path_length(groups) -> float:
    """Length in px of the path through the group centers (7, 2)."""
    g = _check_path(groups, NUM_FRAMES, "groups")
    return float(np.linalg.norm(np.diff(g, axis=0), axis=1).sum())


def path_error(estimate, truth) -> tuple[float, bool]:
    """``(rms px, reversed)``: the rms distance between two group-center paths ``(7, 2)``
    after removing each one's mean, for the estimate or its reversal, whichever is closer
    (a blurred photo does not say which way time ran)."""
    e = _check_path(estimate, NUM_FRAMES, "estimate")
    t = _check_path(truth, NUM_FRAMES, "truth")
    e, t = e - e.mean(axis=0), t - t.mean(axis=0)
    forward = float(np.sqrt(np.mean(np.sum((e - t) ** 2, axis=1))))
    backward = float(np.sqrt(np.mean(np.sum((e[::-1] - t) ** 2, axis=1))))
    return (backward, True) if backward < forward else (forward, False)


# ---------------------------------------------------------------------- transfer functions


def transfer_functions(path, shape: tuple[int, int], per_frame: int) -> tuple:
    """(K_all (H, W), K_frames (7, H, W)) complex transfer functions of the sub-frame shifts
    ``path`` (M, 2) in pixels (dx, dy), ``M = 7 * per_frame``, on an FFT grid of ``shape``
    (H, W) (``np.fft.fft2``'s frequencies): ``K_i = mean over group i of exp(i w.d_m)``."""
    a = _check_path(path, NUM_FRAMES * per_frame, "path")
    h, w = shape
    wy = 2 * np.pi * np.fft.fftfreq(h)
    wx = 2 * np.pi * np.fft.fftfreq(w)
    frames = _group_transfer(a, wy, wx, per_frame, np.complex128)
    return frames.mean(axis=0), frames


def _group_transfer(sub: np.ndarray, wy: np.ndarray, wx: np.ndarray, per_frame: int,
                    dtype) -> np.ndarray:
    """(7, len(wy), len(wx)) group transfer functions: a shift is separable,
    ``exp(i (wx dx + wy dy)) = exp(i wy dy) exp(i wx dx)``, so each group's sum is a product of
    a (len(wy), k) and a (k, len(wx)) matrix."""
    ey = np.exp(1j * np.outer(wy, sub[:, 1])).astype(dtype)  # (H, M)
    ex = np.exp(1j * np.outer(sub[:, 0], wx)).astype(dtype)  # (M, Wr)
    out = np.empty((NUM_FRAMES, len(wy), len(wx)), dtype)
    for i in range(NUM_FRAMES):
        g = slice(i * per_frame, (i + 1) * per_frame)
        np.matmul(ey[:, g], ex[g], out=out[i])
        out[i] /= per_frame
    return out


def gradient_power(shape: tuple[int, int], real: bool = False) -> np.ndarray:
    """|D_x|^2 + |D_y|^2 of circular forward differences on an FFT grid (H, W) (``real``: the
    rfft grid, W // 2 + 1 columns): the Fourier form of the smoothness prior D^T D."""
    h, w = shape
    fx = np.fft.rfftfreq(w) if real else np.fft.fftfreq(w)
    fy = np.fft.fftfreq(h)
    return (4 * np.sin(np.pi * fy)[:, None] ** 2 + 4 * np.sin(np.pi * fx)[None, :] ** 2)


# -------------------------------------------------------------------------- weights

WEIGHT_EXACT = 0.1  # the smoothness weight for an exact path


def weight_for(rms_px: float) -> float:
    """The smoothness weight for a path known to about ``rms_px`` px (the rms error of its
    group centers, mean removed: :func:`path_error`): ``0.1 (1 + rms_px)^2``.

    A weight tuned for the exact path collapses under error, a matched one holds. Measured
    with ``benchmarks/motion_guided.py --realistic --translation -n 48 --sweep`` (256x256,
    seed 1234, default steps; the true path plus a random smooth error, linear + quadratic in
    time, of exactly that rms), the best of 11 weights from 0.07 to 3 for each error, the gain
    over INPUT it gives (mean / middle frame, dB) and this formula:

    ====== ========= ============== ==========
    rms px best W    gain           weight_for
    ====== ========= ============== ==========
    0      0.1       +5.30 / +3.56  0.1
    0.5    0.2       +4.01 / +2.62  0.225
    1      0.3-0.45  +2.67 / +1.48  0.4
    1.5    0.7       +1.35 / +0.36  0.625
    2      1         +0.80 / -0.18  0.9
    3      2         -0.46 / -1.33  1.6
    ====== ========= ============== ==========

    Near the best weight the gain is flat (within about 0.1 dB over a factor of 1.5). From
    about 2 px rms on, the middle frame is worse than the photo at any weight (fall back to
    another method there)."""
    r = float(rms_px)
    if not np.isfinite(r) or r < 0:
        raise ValueError(f"rms_px must be a finite number >= 0, got {rms_px!r}")
    return WEIGHT_EXACT * (1.0 + r) ** 2


# ---------------------------------------------------------------------------- solver
#
# The FFTs are OpenCV's real DFT (4-5x numpy's on one thread) in its packed "CCS" layout: a
# real (gh, gw) array (gh, gw even) holding the half spectrum of numpy's rfft2. Columns 1 to
# gw - 2 are the complex columns 1 to gw/2 - 1, as (re, im) pairs, every row; columns 0 and
# gw - 1 (frequencies 0 and gw/2, Hermitian along the rows) hold rows 0 and gh/2 as real
# values and rows 1 to gh/2 - 1 as (re, im) pairs. cv2.mulSpectrums multiplies two such
# spectra; a real even filter (the same value in both slots) multiplies one elementwise.


def _fast_len(n: int) -> int:
    """The smallest even 2^a 3^b 5^c >= n (fast FFT sizes, even for the packed layout)."""
    n = max(2, int(n))
    best = 1 << (n - 1).bit_length()
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            p = p35 * 2
            while p < n:
                p *= 2
            best = min(best, p)
            p35 *= 3
        p5 *= 5
    return best


def _pack(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """rfft2-layout complex (gh, gw/2 + 1) -> packed real (gh, gw) (see above)."""
    gh, nx = z.shape
    gw = 2 * (nx - 1)
    if out is None:
        out = np.empty((gh, gw), np.float32)
    out[:, 1:-1].view(np.complex64)[...] = z[:, 1:-1]
    half = gh // 2
    for col, src in ((0, z[:, 0]), (gw - 1, z[:, -1])):
        out[0, col] = src[0].real
        out[1:-1:2, col] = src[1:half].real
        out[2:-1:2, col] = src[1:half].imag
        out[-1, col] = src[half].real
    return out


def _pack_real(r: np.ndarray) -> np.ndarray:
    """A real filter on the rfft2 grid (gh, gw/2 + 1) -> packed (gh, gw), the value in both
    slots of a pair: an elementwise multiplier of packed spectra."""
    gh, nx = r.shape
    out = np.empty((gh, 2 * (nx - 1)), np.float32)
    inner = out[:, 1:-1].reshape(gh, nx - 2, 2)
    inner[..., 0] = r[:, 1:-1]  # two strided copies: far faster than one broadcast
    inner[..., 1] = r[:, 1:-1]
    half = gh // 2
    for col, src in ((0, r[:, 0]), (-1, r[:, -1])):
        out[0, col] = src[0]
        out[1:-1:2, col] = src[1:half]
        out[2:-1:2, col] = src[1:half]
        out[-1, col] = src[half]
    return out


def _packed_power(k: np.ndarray) -> np.ndarray:
    """|K|^2 of a packed spectrum ``k`` as a packed real filter (the value in both slots)."""
    sq = k * k
    out = np.empty_like(k)
    pair = sq[:, 1:-1].reshape(k.shape[0], -1, 2)
    inner = out[:, 1:-1].reshape(k.shape[0], -1, 2)
    np.add(pair[..., 0], pair[..., 1], out=inner[..., 0])
    inner[..., 1] = inner[..., 0]
    for col in (0, -1):
        out[0, col], out[-1, col] = sq[0, col], sq[-1, col]
        both = sq[1:-1:2, col] + sq[2:-1:2, col]
        out[1:-1:2, col] = both
        out[2:-1:2, col] = both
    return out


def _unpack(c: np.ndarray) -> np.ndarray:
    """Packed real (gh, gw) -> rfft2-layout complex (gh, gw/2 + 1) (:func:`_pack` inverted)."""
    gh, gw = c.shape
    half = gh // 2
    z = np.empty((gh, gw // 2 + 1), np.complex64)
    z[:, 1:-1] = c[:, 1:-1].view(np.complex64)
    for col, dst in ((0, 0), (gw - 1, -1)):
        v = np.empty(gh, np.complex64)
        v[0] = c[0, col]
        v[1:half] = c[1:-1:2, col] + 1j * c[2:-1:2, col]
        v[half] = c[-1, col]
        v[half + 1:] = np.conj(v[1:half][::-1])
        z[:, dst] = v
    return z


def _shifts(sub: np.ndarray, wy: np.ndarray, wx: np.ndarray, out: np.ndarray,
            tmp: np.ndarray) -> np.ndarray:
    """``out`` (gh, gw): the packed spectrum of the mean over the shifts ``sub`` (m, 2) of
    ``exp(i (wx dx + wy dy))`` (``wy`` gh, ``wx`` gw/2 + 1 frequencies): a sum of outer
    products (a shift is separable), written in place; ``tmp``: complex64 (gh, gw/2 - 1)."""
    m = len(sub)
    ey = np.exp(1j * np.outer(sub[:, 1], wy) - np.log(m)).astype(np.complex64)  # (m, gh)
    ex = np.exp(1j * np.outer(sub[:, 0], wx)).astype(np.complex64)  # (m, gw/2 + 1)
    inner = out[:, 1:-1].view(np.complex64)
    np.multiply(ey[0][:, None], ex[0][None, 1:-1], out=inner)
    for j in range(1, m):
        np.multiply(ey[j][:, None], ex[j][None, 1:-1], out=tmp)
        inner += tmp
    half = len(wy) // 2
    for col, edge in ((0, ey.sum(axis=0)), (-1, (ey * ex[:, -1:]).sum(axis=0))):
        out[0, col] = edge[0].real
        out[1:-1:2, col] = edge[1:half].real
        out[2:-1:2, col] = edge[1:half].imag
        out[-1, col] = edge[half].real
    return out


_KEEP_KERNELS = 1 << 22  # grids up to this many px keep the 7 frames' spectra (else remade)


@dataclass(frozen=True)
class SparsePrior:
    """A sparse gradient prior ``W sum phi(|D S|)``, ``phi(g) = |g|^power`` (a hyper-Laplacian:
    natural images' gradients are mostly near zero with a few large ones), by iteratively
    reweighted least squares: ``rounds`` times, each difference's weight becomes
    ``(max(|g|, floor) / scale)^(power - 2)`` of the scene solved so far and ``steps``
    conjugate-gradient steps follow. ``scale`` (linear light): the gradient at which the
    quadratic prior's weight is kept; below it smoothed more, edges above it less. ``floor``:
    the weight's cap on flat ground (about the noise's gradient)."""

    rounds: int = 2
    steps: int = 8
    power: float = 0.8
    scale: float = 0.01
    floor: float = 0.005

    def __post_init__(self) -> None:
        for name in ("rounds", "steps"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
                raise ValueError(f"{name} must be a whole number >= 0, got {v!r}")
        for name, top in (("power", 2.0), ("scale", np.inf), ("floor", np.inf)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
                    or not (np.isfinite(v) and 0 < v <= top):
                raise ValueError(f"{name} must be a finite number > 0"
                                 f"{' and <= 2' if name == 'power' else ''}, got {v!r}")


def _solve(ext: np.ndarray, inside: tuple[slice, slice], groups: np.ndarray, weight: float,
           per_frame: int, iters: int, keep: bool = True, pool=None,
           sparse: SparsePrior | None = None) -> np.ndarray:
    """(7, h, w) linear-light frames of the extended linear luma ``ext`` (gh, gw even) whose
    photo part is ``ext[inside]``.

    The scene ``S`` on the whole grid minimizes ``|inside(K S - B)|^2 + W |D S|^2``:
    closed form on ``ext`` (the reflected, faded photo), then ``iters`` steps of conjugate
    gradients on the masked problem (only the photo's own pixels are data), preconditioned by
    ``1 / (|K|^2 + W |D|^2)`` (the exact inverse without the mask, so few steps suffice), all
    on spectra (2 FFTs a step). ``keep``: add back to every frame the part of the photo the
    prior smoothed away where the blur does not attenuate (``|K|^4 M (B - K S)``), so a zero
    path gives the photo itself. Grid-sized arrays are allocated once (fresh pages cost more
    than the arithmetic). ``pool``: a thread pool for the 7 frames' kernels and frames.
    ``sparse``: then the prior made sparse (:class:`SparsePrior`): per-pixel weights on the
    differences, each round's conjugate gradients (4 FFTs a step) started from the last."""

    gh, gw = ext.shape
    (r0, r1), (c0, c1) = (inside[0].start, inside[0].stop), (inside[1].start, inside[1].stop)
    sub = _subframes(groups, per_frame)
    wy = 2 * np.pi * np.fft.fftfreq(gh)
    wx = 2 * np.pi * np.fft.rfftfreq(gw)
    tmp = np.empty((gh, len(wx) - 2), np.complex64)

    def frame_kernel(i, out=None, work=None):
        out = np.empty((gh, gw), np.float32) if out is None else out
        work = np.empty_like(tmp) if work is None else work
        return _shifts(sub[i * per_frame:(i + 1) * per_frame], wy, wx, out, work)

    keep_kernels = gh * gw <= _KEEP_KERNELS
    kernels = []
    k_all = np.zeros((gh, gw), np.float32)
    k_i = np.empty((gh, gw), np.float32)
    if keep_kernels and pool is not None:
        kernels = list(pool.map(frame_kernel, range(NUM_FRAMES)))
        for kernel in kernels:
            k_all += kernel
    else:
        for i in range(NUM_FRAMES):
            kernel = frame_kernel(i, None if keep_kernels else k_i, tmp)
            k_all += kernel
            if keep_kernels:
                kernels.append(kernel)
    k_all *= np.float32(1 / NUM_FRAMES)
    prior = _pack_real((weight * gradient_power((gh, gw), real=True)).astype(np.float32))
    power = _packed_power(k_all)  # |K|^2
    keep_filter = power * power if keep else None
    precond = power + prior
    precond[0, 0] = max(float(precond[0, 0]), 1e-12)
    np.reciprocal(precond, out=precond)

    data = cv2.dft(ext)
    scene = cv2.mulSpectrums(data, k_all, 0, conjB=True)
    scene *= precond
    spec = np.empty((gh, gw), np.float32)
    image = np.empty((gh, gw), np.float32)

    def masked_residual() -> np.ndarray:  # the spectrum of M (B - K S), M: the photo's pixels
        cv2.mulSpectrums(scene, k_all, 0, spec)
        cv2.idft(spec, image, cv2.DFT_SCALE | cv2.DFT_REAL_OUTPUT)
        np.subtract(ext, image, out=image)
        image[:r0] = 0
        image[r1:] = 0
        image[:, :c0] = 0
        image[:, c1:] = 0
        return cv2.dft(image)

    rounds = sparse.rounds if sparse is not None else 0
    if iters > 0 or rounds > 0:
        # Parseval on the half spectrum: every packed value stands for two, but the four
        # self-conjugate ones (frequencies (0 or gh/2, 0 or gw/2)) for one.
        corners = (0, 0), (gh - 1, 0), (0, gw - 1), (gh - 1, gw - 1)

        def dot(a, b):
            return 2 * float(np.dot(a.ravel(), b.ravel())) \
                - sum(float(a[c]) * float(b[c]) for c in corners)

        def data_normal(x, out):  # K^H M K x, M: the photo's pixels
            cv2.mulSpectrums(x, k_all, 0, spec)
            cv2.idft(spec, image, cv2.DFT_SCALE | cv2.DFT_REAL_OUTPUT)
            image[:r0] = 0
            image[r1:] = 0
            image[:, :c0] = 0
            image[:, c1:] = 0
            cv2.dft(image, spec)
            return cv2.mulSpectrums(spec, k_all, 0, out, conjB=True)

        if rounds:  # the sparse prior's differences and their weights, on the grid
            gx, gy = np.empty((gh, gw), np.float32), np.empty((gh, gw), np.float32)
            # (not wx, wy: the frequencies the frames' kernels are remade from)
            weight_x = np.empty((gh, gw), np.float32)
            weight_y = np.empty((gh, gw), np.float32)

        def differences(x):  # circular forward differences of the spectrum x -> gx, gy
            cv2.idft(x, image, cv2.DFT_SCALE | cv2.DFT_REAL_OUTPUT)
            np.subtract(image[:, 1:], image[:, :-1], out=gx[:, :-1])
            np.subtract(image[:, 0], image[:, -1], out=gx[:, -1])
            np.subtract(image[1:], image[:-1], out=gy[:-1])
            np.subtract(image[0], image[-1], out=gy[-1])

        def weighted_prior(x, out):  # W D^T diag(w) D x, the sparse prior's normal part
            differences(x)
            np.multiply(gx, weight_x, out=gx)
            np.multiply(gy, weight_y, out=gy)
            np.subtract(gx[:, :-1], gx[:, 1:], out=image[:, 1:])  # D^T: g[j - 1] - g[j]
            np.subtract(gx[:, -1], gx[:, 0], out=image[:, 0])
            image[1:] += gy[:-1]
            image[1:] -= gy[1:]
            image[0] += gy[-1]
            image[0] -= gy[0]
            np.multiply(image, np.float32(weight), out=image)
            return cv2.dft(image, out)

        def conjugate_gradients(steps, reweighted, precond):
            q = np.empty_like(scene)
            # r = K^H M (B - K S) - prior S: the masked problem's residual at the scene
            r = cv2.mulSpectrums(masked_residual(), k_all, 0, conjB=True)
            if reweighted:
                weighted_prior(scene, q)
            else:
                np.multiply(prior, scene, out=q)
            r -= q
            z = r * precond
            d = z.copy()
            rz = dot(r, z)
            extra = np.empty_like(scene) if reweighted else None
            for _ in range(steps):
                if not rz > 1e-30:
                    break
                data_normal(d, q)
                if reweighted:
                    q += weighted_prior(d, extra)
                else:
                    np.multiply(prior, d, out=spec)
                    q += spec
                step = np.float32(rz / max(dot(d, q), 1e-30))
                np.multiply(d, step, out=spec)
                scene[...] += spec
                np.multiply(q, step, out=spec)
                r -= spec
                np.multiply(r, precond, out=z)
                rz, old = dot(r, z), rz
                d *= np.float32(rz / old)
                d += z

        if iters > 0:
            conjugate_gradients(iters, False, precond)
        if rounds:
            for _ in range(rounds):
                differences(scene)
                for g, w in ((gx, weight_x), (gy, weight_y)):
                    np.abs(g, out=w)
                    np.maximum(w, np.float32(sparse.floor), out=w)
                    w *= np.float32(1 / sparse.scale)
                    cv2.pow(w, sparse.power - 2, w)
                mean_w = 0.5 * (float(weight_x.mean()) + float(weight_y.mean()))
                # preconditioner: the weights' mean in place of the weights
                np.multiply(prior, np.float32(mean_w), out=precond)
                precond += power
                precond[0, 0] = max(float(precond[0, 0]), 1e-12)
                np.reciprocal(precond, out=precond)
                conjugate_gradients(sparse.steps, True, precond)
    if keep:  # the photo's own residual M (B - K S), filtered
        residual = masked_residual()
        residual *= keep_filter
    del data, precond, prior, power, k_all
    frames = np.empty((NUM_FRAMES, r1 - r0, c1 - c0), np.float32)

    def make_frame(i, spec=None, image=None):
        spec = np.empty((gh, gw), np.float32) if spec is None else spec
        image = np.empty((gh, gw), np.float32) if image is None else image
        kernel = kernels[i] if kernels else frame_kernel(i, np.empty_like(spec))
        cv2.mulSpectrums(scene, kernel, 0, spec)
        if keep:
            spec += residual
        cv2.idft(spec, image, cv2.DFT_SCALE | cv2.DFT_REAL_OUTPUT)
        frames[i] = image[inside]

    if pool is not None:
        list(pool.map(make_frame, range(NUM_FRAMES)))
    else:
        for i in range(NUM_FRAMES):
            if not kernels:
                frame_kernel(i, k_i, tmp)
            cv2.mulSpectrums(scene, kernels[i] if kernels else k_i, 0, spec)
            if keep:
                spec += residual
            cv2.idft(spec, image, cv2.DFT_SCALE | cv2.DFT_REAL_OUTPUT)
            frames[i] = image[inside]
    return frames


def default_pad(groups) -> int:
    """Margin (px) of scene solved for beyond each edge: the path's reach from its center
    (half the blur for a straight path) and 8 px for the fade to the mean, at least 16."""
    g = _check_path(groups, NUM_FRAMES, "groups")
    reach = float(np.abs(g - g.mean(axis=0)).max())
    return int(max(16, np.ceil(reach * 1.15 + 8)))


def _taper(n: int, fade: int) -> np.ndarray:
    """Weights of a length-``n`` grid axis: 1, with a raised cosine from 0 over the first
    and back to 0 over the last ``fade`` px (either side of the circular wrap point)."""
    w = np.ones(n, np.float32)
    if fade > 0:
        rise = (0.5 - 0.5 * np.cos(np.pi * (np.arange(fade) + 0.5) / fade)).astype(np.float32)
        w[:fade] = np.minimum(w[:fade], rise)
        w[n - fade:] = np.minimum(w[n - fade:], rise[::-1])
    return w


def _extend(lin: np.ndarray, top: int, left: int, grid: tuple[int, int], fade: int) -> np.ndarray:
    """``lin`` (h, w) placed at ``(top, left)`` of a ``grid`` array, reflected into the
    margins, faded to its mean over the ``fade`` px next to the grid's edges."""
    h, w = lin.shape
    gh, gw = grid
    ext = np.pad(lin, ((top, gh - h - top), (left, gw - w - left)), mode="symmetric")
    mean = np.float32(lin.mean())
    ext -= mean
    ext *= _taper(gh, min(fade, top, gh - h - top))[:, None]
    ext *= _taper(gw, min(fade, left, gw - w - left))[None, :]
    ext += mean
    return ext


def _check_y(y) -> np.ndarray:
    if not isinstance(y, np.ndarray) or not np.issubdtype(y.dtype, np.floating):
        kind = f"{type(y).__name__} of {y.dtype}" if isinstance(y, np.ndarray) \
            else type(y).__name__
        raise ValueError(f"y must be a float numpy array (H, W), got {kind}")
    if y.ndim != 2 or min(y.shape) < 2:
        raise ValueError(f"y must be a luma image (H, W) of at least 2x2 px, got shape {y.shape}")
    if not np.isfinite(y).all():
        raise ValueError("y contains NaN or infinite values")
    return y


def _check_weight(weight) -> float:
    w = float(weight)
    if not np.isfinite(w) or w <= 0:
        raise ValueError(f"weight must be a finite number > 0, got {weight!r}")
    return w


def _check_pad(pad, groups: np.ndarray) -> int:
    pad = default_pad(groups) if pad is None else pad
    if isinstance(pad, bool) or int(pad) != pad or pad < 0:
        raise ValueError(f"pad must be a whole number >= 0, got {pad!r}")
    return int(pad)


def _check_threads(threads) -> int:
    if isinstance(threads, bool) or int(threads) != threads or threads < 1:
        raise ValueError(f"threads must be a whole number >= 1, got {threads!r}")
    return int(threads)


def _check_sparse(sparse) -> SparsePrior | None:
    if sparse is not None and not isinstance(sparse, SparsePrior):
        raise ValueError(f"sparse must be a SparsePrior or None, got {sparse!r}")
    return sparse


def _check_iters(iters) -> int:
    if isinstance(iters, bool) or int(iters) != iters or iters < 0:
        raise ValueError(f"iters must be a whole number >= 0, got {iters!r}")
    return int(iters)


def _window(lin: np.ndarray, rows: tuple[int, int], cols: tuple[int, int], groups: np.ndarray,
            weight: float, pad: int, per_frame: int, iters: int, keep: bool,
            pool=None, sparse: SparsePrior | None = None) -> np.ndarray:
    """(7, r1 - r0, c1 - c0) linear frames of the window ``lin[r0:r1, c0:c1]`` of the linear
    luma ``lin`` (H, W). Its data: the window and up to ``pad`` px of the photo around it;
    the scene is solved for ``pad`` px beyond the data (reflected, then faded to the mean on
    the FFT grid's margin)."""
    (r0, r1), (c0, c1) = rows, cols
    big_h, big_w = lin.shape
    a0, a1 = max(0, r0 - pad), min(big_h, r1 + pad)  # the data: the window and its context
    b0, b1 = max(0, c0 - pad), min(big_w, c1 + pad)
    grid = (_fast_len(a1 - a0 + 2 * pad), _fast_len(b1 - b0 + 2 * pad))
    top, left = (grid[0] - (a1 - a0)) // 2, (grid[1] - (b1 - b0)) // 2
    ext = _extend(lin[a0:a1, b0:b1], top, left, grid, fade=max(1, pad // 2))
    frames = _solve(ext, (slice(top, top + a1 - a0), slice(left, left + b1 - b0)), groups,
                    weight, per_frame, iters, keep, pool, sparse)
    return frames[:, r0 - a0:r1 - a0, c0 - b0:c1 - b0]


def deconvolve_y(y: np.ndarray, groups, weight: float = DEFAULT_WEIGHT, pad: int | None = None,
                 per_frame: int = SUBFRAMES_PER_FRAME, iters: int = DEFAULT_ITERS,
                 keep: bool = True, threads: int = 1,
                 sparse: SparsePrior | None = None) -> np.ndarray:
    """The 7 frames (float32 (7, H, W), gamma-encoded luma in [0, 1]) of a gamma-encoded luma
    photo ``y`` (H, W) blurred by the camera path ``groups`` (7, 2) (group centers, px; any
    offset; the frames come in the path's order).

    ``weight``: smoothness weight (:func:`weight_for` of the path's uncertainty); ``pad``:
    scene margin solved beyond each edge (None: :func:`default_pad`); ``per_frame``:
    sub-frames per frame the path is densified to (:func:`densify`); ``iters``:
    conjugate-gradient steps on the edges after the closed form (0: closed form only);
    ``keep``: the frames keep the photo's detail where the blur does not attenuate it (a zero
    path returns the photo); ``threads``: worker threads for the 7 frames (the FFTs use
    OpenCV's own, ``cv2.setNumThreads``); ``sparse``: the prior made sparse after the steps
    (:class:`SparsePrior`; None: quadratic). Raises ValueError for bad shapes or values."""
    y = _check_y(y)
    groups = _check_path(groups, NUM_FRAMES, "groups")
    weight = _check_weight(weight)
    pad = _check_pad(pad, groups)
    iters = _check_iters(iters)
    sparse = _check_sparse(sparse)
    h, w = y.shape
    threads = _check_threads(threads)
    lin = to_linear(y.astype(np.float32))
    if threads > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(threads) as pool:
            frames = _window(lin, (0, h), (0, w), groups, weight, pad, per_frame, iters, keep,
                             pool, sparse)
    else:
        frames = _window(lin, (0, h), (0, w), groups, weight, pad, per_frame, iters, keep,
                         sparse=sparse)
    return from_linear(np.clip(frames, 0.0, 1.0, out=frames), out=frames)


def deconvolve_region(lin: np.ndarray, rows: tuple[int, int], cols: tuple[int, int], groups,
                      weight: float = DEFAULT_WEIGHT, pad: int | None = None,
                      iters: int = DEFAULT_ITERS) -> np.ndarray:
    """:func:`deconvolve_y` on the window ``[r0:r1, c0:c1]`` of a larger photo, given in
    LINEAR light ``lin`` (H, W) (:func:`blurvid.color.to_linear` of the luma, computed once
    for all windows): up to ``pad`` px of the photo around the window are data, so the window's
    edges do not ring. Returns float32 (7, r1 - r0, c1 - c0) gamma-encoded luma in [0, 1]."""
    lin = np.asarray(lin)
    if lin.ndim != 2 or lin.dtype != np.float32:
        raise ValueError(f"lin must be float32 (H, W), got {lin.dtype} {lin.shape}")
    groups = _check_path(groups, NUM_FRAMES, "groups")
    (r0, r1), (c0, c1) = rows, cols
    if not (0 <= r0 < r1 <= lin.shape[0] and 0 <= c0 < c1 <= lin.shape[1]):
        raise ValueError(f"window rows {rows} cols {cols} outside a {lin.shape} photo")
    frames = _window(lin, (r0, r1), (c0, c1), groups, _check_weight(weight),
                     _check_pad(pad, groups), SUBFRAMES_PER_FRAME, _check_iters(iters), True)
    frames = np.clip(frames, 0.0, 1.0)
    return from_linear(frames, out=frames)


def tile_grid(shape: tuple[int, int], tile: int, overlap: int) -> tuple[list, list]:
    """``(rows, cols)``: the ``(start, end)`` spans of the windows :func:`deconvolve_tiled`
    cuts from an image of ``shape`` (H, W) (:func:`blurvid.tiling.tile_spans`); its ``paths``
    hold one path per ``(row, col)``."""
    h, w = shape
    return tile_spans(h, tile, overlap), tile_spans(w, tile, overlap)


def orient_paths(paths) -> np.ndarray:
    """``paths`` (R, C, 7, 2) with each window's path forward or reversed so that it agrees
    with the windows above and to the left (already oriented): a blurred photo does not say
    which way time ran, each window's estimate picks a direction of its own, and windows of
    opposite directions would blend frame 1 into frame 7."""
    p = np.array(paths, dtype=np.float64)
    if p.ndim != 4 or p.shape[2:] != (NUM_FRAMES, 2):
        raise ValueError(f"paths must be (rows, cols, {NUM_FRAMES}, 2), got shape {p.shape}")
    centerd = p - p.mean(axis=2, keepdims=True)
    for r in range(p.shape[0]):
        for c in range(p.shape[1]):
            refs = [centerd[rr, cc] for rr, cc in ((r - 1, c), (r, c - 1)) if rr >= 0 and cc >= 0]
            if not refs:
                continue
            ref = np.mean(refs, axis=0)
            here = centerd[r, c]
            if np.sum((here[::-1] - ref) ** 2) < np.sum((here - ref) ** 2):
                p[r, c] = p[r, c, ::-1]
                centerd[r, c] = here[::-1]
    return p


def deconvolve_tiled(y: np.ndarray, paths, tile: int, overlap: int, weight=DEFAULT_WEIGHT,
                     pad: int | None = None, per_frame: int = SUBFRAMES_PER_FRAME,
                     iters: int = DEFAULT_ITERS, keep: bool = True,
                     threads: int = 1, orient: bool = True,
                     sparse: SparsePrior | None = None) -> np.ndarray:
    """:func:`deconvolve_y` window by window, each window with a path of its own: ``paths``
    (R, C, 7, 2) for the windows of :func:`tile_grid` ``(y.shape, tile, overlap)``, first
    put in one temporal direction (:func:`orient_paths`); ``weight`` one number or (R, C).
    Each window is solved with up to ``pad`` px of the photo around it as data (reflection
    only at the photo's edges; None: the largest :func:`default_pad` of the paths), and the
    windows are blended in linear light with :func:`blurvid.tiling.ramp` weights. With one
    window this is :func:`deconvolve_y`. ``threads``: windows solved in parallel; ``orient``
    False: the paths are in one time order already (measured from a video) and no window is
    flipped; ``sparse``: as for :func:`deconvolve_y`. Returns float32 (7, H, W) gamma-encoded
    luma."""
    y = _check_y(y)
    h, w = y.shape
    rows, cols = tile_grid((h, w), tile, overlap)
    p = np.asarray(paths, dtype=np.float64)
    if p.shape != (len(rows), len(cols), NUM_FRAMES, 2):
        raise ValueError(f"paths must be ({len(rows)}, {len(cols)}, {NUM_FRAMES}, 2) for a "
                         f"{w}x{h} image in windows of {tile} px overlapping {overlap}, got "
                         f"shape {p.shape}")
    if not np.isfinite(p).all():
        raise ValueError("paths contain NaN or infinite values")
    if orient:
        p = orient_paths(p)
    weights = np.broadcast_to(np.asarray(weight, dtype=np.float64), (len(rows), len(cols))) \
        if np.ndim(weight) in (0, 2) else None
    if weights is None or np.shape(weight) not in ((), (len(rows), len(cols))):
        raise ValueError(f"weight must be a number or ({len(rows)}, {len(cols)}), got shape "
                         f"{np.shape(weight)}")
    for v in weights.ravel():
        _check_weight(v)
    pad = max(default_pad(g) for g in p.reshape(-1, NUM_FRAMES, 2)) if pad is None \
        else _check_pad(pad, p[0, 0])
    iters = _check_iters(iters)
    sparse = _check_sparse(sparse)
    threads = _check_threads(threads)
    lin = to_linear(y.astype(np.float32))
    if len(rows) == 1 and len(cols) == 1:
        return deconvolve_y(y, p[0, 0], float(weights[0, 0]), pad, per_frame, iters, keep,
                            threads, sparse)
    jobs = [(i, j) for i in range(len(rows)) for j in range(len(cols))]

    def solve(job):
        i, j = job
        return _window(lin, rows[i], cols[j], p[i, j], float(weights[i, j]), pad, per_frame,
                       iters, keep, sparse=sparse)

    blended = RampBlend(h, w, overlap)

    def blend(job, frames):
        blended.add(rows[job[0]], cols[job[1]], frames)

    for job, frames in each_result(solve, jobs, threads):
        blend(job, frames)
    out = blended.result()
    return from_linear(np.clip(out, 0.0, 1.0, out=out), out=out)


def one_path(paths: np.ndarray) -> np.ndarray:
    """The windows' paths (R, C, 7, 2) put in one direction and averaged (mean removed)."""
    oriented = orient_paths(paths)
    oriented -= oriented.mean(axis=2, keepdims=True)
    return oriented.reshape(-1, NUM_FRAMES, 2).mean(axis=0)
