"""The camera's motion inside each exposure of a video, measured between its blurry frames.

One blurry photo cannot say how the camera moved to the pixel an exact solver needs; a video
can, because the motion between neighbouring frames is measurable. The model:

* Time in frame intervals; exposure ``k`` is open from ``k`` to ``k + s`` (``s`` the shutter,
  :func:`blurvid.ordering.frame_times`). For the exposure ``t`` being solved, ``tau`` is the
  time from its middle ``t + s / 2``.
* The camera is one affine map per instant (image-centred pixel coordinates, full size):
  the pixel ``p`` at ``tau`` shows what the exposure's middle frame shows at ``R(tau) p``,
  with ``R(tau) = I + sum_n A_n tau^n``, ``n = 1..degree`` (so ``R(0) = I``). Rotation,
  zoom and shear are small; translation is most of it. :class:`Trajectory` holds the
  ``A_n``.
* A flow between two BLURRY frames measures how their blur centroids moved, not their
  middle instants: the frame of exposure ``k`` looks like the sharp scene seen through the
  mean map ``Rbar_k = I + sum_n A_n mean_k(tau^n)`` over its window. Each flow from frame
  ``i`` to frame ``j`` is summarised by a robust affine fit ``G_ij`` (``p -> p + f(p)``,
  :func:`fit_affine`), and matching the scene point gives ``Rbar_j G_ij = Rbar_i``, which is
  linear in the ``A_n``: all pairs among the exposures ``t - 2 .. t + 2`` (up to 2 apart)
  are solved together by least squares (:func:`fit_trajectory`). At a clip's ends fewer
  neighbours exist and the degree is capped (``len(exposures) - 1``).
* The flows (:func:`flow_between`): a global shift by phase correlation first (DIS alone
  loses track of 40+ px between frames), then OpenCV's DIS on the aligned pair, on luma
  scaled to :data:`ANALYSIS_SIDE` px.

What moves on its own departs from the camera's map: :func:`fit_affine` returns the flow's
residual to the fit, from which the video method derives a per-pixel confidence.

Contract: luma images float32 ``(H, W)`` in [0, 1]; flows float32 ``(h, w, 2)`` in the
analysis grid's pixels; affine maps float64 3x3 in full-size image-centred coordinates.
numpy and OpenCV only.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from blurvid.consistency import NUM_FRAMES

ANALYSIS_SIDE = 640  # px: flows are measured on luma scaled to this long side at most
FIT_STEP = 8  # px of the analysis grid between the flow samples an affine fit uses
MAX_DEGREE = 4
_DIS_MIN_SIDE = 32  # OpenCV's DIS crashes on very small images: pad up to this


# ---------------------------------------------------------------------- flows


def analysis_scale(height: int, width: int, side: int = ANALYSIS_SIDE) -> float:
    """The factor (<= 1) that brings a ``height x width`` frame to ``side`` px long side."""
    return min(1.0, side / max(height, width))


def analysis_luma(luma: np.ndarray, scale: float) -> np.ndarray:
    """``luma`` (H, W) float in [0, 1] -> uint8 (h, w) at ``scale`` (area-averaged)."""
    y = np.asarray(luma, np.float32)
    if scale < 1:
        h, w = y.shape
        y = cv2.resize(y, (max(1, round(w * scale)), max(1, round(h * scale))),
                       interpolation=cv2.INTER_AREA)
    return np.clip(np.rint(y * 255.0), 0, 255).astype(np.uint8)


def _dis() -> cv2.DISOpticalFlow:
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    dis.setPatchSize(16)
    dis.setPatchStride(6)
    dis.setFinestScale(1)
    dis.setGradientDescentIterations(25)
    dis.setVariationalRefinementIterations(5)
    return dis


def _global_shift(first: np.ndarray, second: np.ndarray) -> tuple[float, float]:
    """(dx, dy): the translation from ``first`` to ``second`` (same-sized 2-D images) by phase
    correlation with a Hanning window; (0, 0) where it finds none."""
    # cropped to even sizes OpenCV transforms unpadded: on others phaseCorrelate (OpenCV 5.1)
    # reports a shift of half a pixel between two copies of one image
    h, w = (_even_dft_size(n) for n in first.shape)
    first, second = first[:h, :w], second[:h, :w]
    window = cv2.createHanningWindow((w, h), cv2.CV_64F) if min(h, w) > 1 else None
    (sx, sy), _ = cv2.phaseCorrelate(first.astype(np.float64), second.astype(np.float64), window)
    return (sx, sy) if np.isfinite(sx + sy) else (0.0, 0.0)


def _consensus_shift(first: np.ndarray, second: np.ndarray,
                     grid: tuple[int, int] = (3, 4)) -> tuple[float, float]:
    """(dx, dy): the translation from ``first`` to ``second`` most of the image agrees on:
    the median of :func:`_global_shift` over a ``grid`` of tiles (rows, columns for a
    landscape image, the other way round for a portrait one; fewer where a tile would be
    under 32 px, the whole image's where that leaves under 3 tiles). A phase correlation over
    the whole image follows whatever has the strongest edges: one object moving on its own
    over 1.5 % of the frame moved it by 6 px from the camera's shift (docs/experiments.md,
    part 4). Every tile counts alike, textured or flat."""
    h, w = first.shape
    rows, cols = grid if w >= h else grid[::-1]
    rows, cols = max(1, min(rows, h // 32)), max(1, min(cols, w // 32))
    if rows * cols < 3:
        return _global_shift(first, second)
    tiles = [(slice(i * h // rows, (i + 1) * h // rows), slice(j * w // cols, (j + 1) * w // cols))
             for i in range(rows) for j in range(cols)]
    shifts = [_global_shift(first[tile], second[tile]) for tile in tiles]
    sx, sy = np.median(np.array(shifts), axis=0)
    return float(sx), float(sy)


def _even_dft_size(n: int) -> int:
    """The largest even length <= ``n`` that OpenCV's DFT takes unpadded (``n`` when < 4)."""
    if n < 4:
        return n
    m = n - n % 2
    while m > 2 and cv2.getOptimalDFTSize(m) != m:
        m -= 2
    return m


def flow_between(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Dense flow float32 (h, w, 2) from ``first`` to ``second`` (uint8 (h, w) luma): where
    the pixel ``p`` of ``first`` is in ``second``, minus ``p``. A global shift by phase
    correlation first, then DIS on the aligned pair (tuned for blurred frames: 16 px patches,
    25 descent and 5 variational iterations, down to half resolution)."""
    if first.shape != second.shape or first.ndim != 2:
        raise ValueError(f"expected two (h, w) images of one size, got {first.shape} and "
                         f"{second.shape}")
    h, w = first.shape
    sx, sy = _global_shift(first, second)
    shift = np.float32([[1, 0, sx], [0, 1, sy]])
    aligned = cv2.warpAffine(second, shift, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                             borderMode=cv2.BORDER_REPLICATE)
    pad_h, pad_w = max(0, _DIS_MIN_SIDE - h), max(0, _DIS_MIN_SIDE - w)
    a, b = first, aligned
    if pad_h or pad_w:
        a, b = (cv2.copyMakeBorder(x, 0, pad_h, 0, pad_w, cv2.BORDER_REPLICATE) for x in (a, b))
    flow = _dis().calc(a, b, None)[:h, :w]
    flow += np.float32([sx, sy])
    return flow


# ---------------------------------------------------------------------- affine fits


def centred_grid(height: int, width: int, shape: tuple[int, int], step: int = 1):
    """Full-size image-centred coordinates (x, y) of the pixels (every ``step``-th) of an
    analysis grid of ``shape`` (h, w) covering a ``height x width`` frame: the analysis pixel
    ``q`` is the full-size point ``(q + 0.5) / s - 0.5``, ``s`` its axis's exact scale."""
    h, w = shape
    qy, qx = np.mgrid[0:h:step, 0:w:step].astype(np.float64)
    sx, sy = w / width, h / height  # the exact per-axis scale of the resize
    x = (qx + 0.5) / sx - 0.5 - (width - 1) / 2
    y = (qy + 0.5) / sy - 0.5 - (height - 1) / 2
    return x, y, (sx, sy)


@dataclass
class AffineFit:
    """An affine map ``G`` (3x3, full-size image-centred coordinates) fitted to a flow, the
    flow's residual to it (float32 (h, w), full-size px, on the analysis grid; NaN where the
    flow leaves the frame) and the rms of the inliers' residuals (px)."""

    matrix: np.ndarray
    residual: np.ndarray
    rms: float


def fit_affine(flow: np.ndarray, height: int, width: int, step: int = FIT_STEP,
               rounds: int = 6) -> AffineFit:
    """A robust affine fit to ``flow`` (the analysis grid's flow of a ``height x width``
    frame): iteratively reweighted least squares with Tukey's biweight on the residual
    (scale from its median), samples every ``step`` px whose target stays in the frame."""
    flow = np.asarray(flow, np.float32)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"flow must be (h, w, 2), got shape {flow.shape}")
    x, y, (sx, sy) = centred_grid(height, width, flow.shape[:2])
    fx, fy = flow[..., 0] / sx, flow[..., 1] / sy  # full-size px
    inside = ((x + fx >= -(width - 1) / 2) & (x + fx <= (width - 1) / 2)
              & (y + fy >= -(height - 1) / 2) & (y + fy <= (height - 1) / 2))
    sel = np.zeros_like(inside)
    sel[step // 2::step, step // 2::step] = True
    sel &= inside
    if sel.sum() < 6:
        sel = inside if inside.sum() >= 6 else np.ones_like(inside)
    px, py, tx, ty = x[sel], y[sel], x[sel] + fx[sel], y[sel] + fy[sel]
    design = np.stack([px, py, np.ones_like(px)], axis=1)
    weights = np.ones(px.size)
    coef = np.zeros((2, 3))
    for _ in range(rounds):
        sw = np.sqrt(weights)[:, None]
        coef_x = np.linalg.lstsq(design * sw, tx * sw[:, 0], rcond=None)[0]
        coef_y = np.linalg.lstsq(design * sw, ty * sw[:, 0], rcond=None)[0]
        coef = np.stack([coef_x, coef_y])
        res = np.hypot(design @ coef_x - tx, design @ coef_y - ty)
        sigma = max(1.4826 * np.median(res), 0.05)
        u = res / (4.685 * sigma)
        weights = np.where(u < 1, (1 - u * u) ** 2, 0.0) + 1e-6
    matrix = np.eye(3)
    matrix[:2] = coef
    full = np.hypot(coef[0, 0] * x + coef[0, 1] * y + coef[0, 2] - (x + fx),
                    coef[1, 0] * x + coef[1, 1] * y + coef[1, 2] - (y + fy)).astype(np.float32)
    full[~inside] = np.nan
    inl = weights > 0.5
    rms = float(np.sqrt(np.mean(res[inl] ** 2))) if inl.any() else float("inf")
    return AffineFit(matrix, full, rms)


def aligned_correlation(first: np.ndarray, second: np.ndarray, fit: AffineFit,
                        size: tuple[int, int]) -> float:
    """The normalised correlation of ``first`` with ``second`` (uint8 analysis luma of a
    ``size`` (height, width) video) brought onto it by the fit's map: near 1 for two frames
    of one scene, near 0 across a scene cut (where an affine fit to a meaningless flow can
    still look tight on its few inliers)."""
    h, w = first.shape
    height, width = size
    scale = np.diag([w / width, h / height, 1.0])
    mat = scale @ _pixel_map(fit.matrix, size) @ np.linalg.inv(scale)
    warped = cv2.warpAffine(second.astype(np.float32), mat[:2], (w, h),
                            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=-1)
    seen = warped >= 0
    if seen.sum() < 16:
        return 0.0
    a, b = first.astype(np.float32)[seen], warped[seen]
    a, b = a - a.mean(), b - b.mean()
    denom = float(np.sqrt(np.sum(a * a) * np.sum(b * b)))
    return float(np.sum(a * b) / denom) if denom > 0 else 0.0


# ---------------------------------------------------------------------- trajectory


def _window_moment(start: float, end: float, n: int) -> float:
    """The mean of ``tau^n`` over ``[start, end]`` (its value at ``start`` when empty)."""
    if end - start < 1e-12:
        return start**n
    return (end ** (n + 1) - start ** (n + 1)) / ((n + 1) * (end - start))


def exposure_window(offset: int, shutter: float) -> tuple[float, float]:
    """The time span (from the solved exposure's middle) of the exposure ``offset`` frames
    away."""
    return offset - shutter / 2, offset + shutter / 2


@dataclass
class Trajectory:
    """The camera inside one exposure: ``R(tau) = I + sum_n coeffs[n - 1] tau^n`` (3x3 affine
    maps, third row zero, image-centred full-size coordinates), ``tau`` in frame intervals
    from the exposure's middle; ``shutter`` its exposed share of the interval; ``size``
    (height, width) of the frames."""

    coeffs: np.ndarray  # (degree, 3, 3)
    shutter: float
    size: tuple[int, int]

    @classmethod
    def still(cls, shutter: float, size: tuple[int, int]) -> "Trajectory":
        return cls(np.zeros((0, 3, 3)), shutter, size)

    @property
    def degree(self) -> int:
        return len(self.coeffs)

    def at(self, tau: float) -> np.ndarray:
        out = np.eye(3)
        for n, a in enumerate(self.coeffs, start=1):
            out = out + a * tau**n
        return out

    def mean_map(self, start: float, end: float) -> np.ndarray:
        """The mean of ``R(tau)`` over ``[start, end]``."""
        out = np.eye(3)
        for n, a in enumerate(self.coeffs, start=1):
            out = out + a * _window_moment(start, end, n)
        return out

    def group_maps(self, frames: int = NUM_FRAMES) -> np.ndarray:
        """(frames, 3, 3): the mean map over each of the exposure's ``frames`` equal parts."""
        edges = np.linspace(-self.shutter / 2, self.shutter / 2, frames + 1)
        return np.stack([self.mean_map(a, b) for a, b in zip(edges[:-1], edges[1:])])

    def displacements(self, x: np.ndarray, y: np.ndarray, frames: int = NUM_FRAMES) -> np.ndarray:
        """(..., frames, 2): where the points (x, y) (image-centred, any shape) are sampled in
        the middle frame by each part of the exposure, minus the points: the group centres
        of the blur path at those points (the solver's ``groups``)."""
        maps = self.group_maps(frames)
        x, y = np.asarray(x, np.float64)[..., None], np.asarray(y, np.float64)[..., None]
        dx = maps[:, 0, 0] * x + maps[:, 0, 1] * y + maps[:, 0, 2] - x
        dy = maps[:, 1, 0] * x + maps[:, 1, 1] * y + maps[:, 1, 2] - y
        return np.stack([dx, dy], axis=-1)

    def blur_length(self) -> float:
        """px: the length of the polyline through the 7 group centres of the image centre's
        path (for a steady pan 6/7 of the path's length over the exposure)."""
        d = self.displacements(np.zeros(()), np.zeros(()))
        return float(np.linalg.norm(np.diff(d, axis=0), axis=1).sum())


def fit_trajectory(fits: dict[tuple[int, int], np.ndarray], shutter: float,
                   size: tuple[int, int], degree: int | None = None,
                   ridge: float = 1e-9) -> Trajectory:
    """The :class:`Trajectory` of exposure 0 from affine fits between exposures: ``fits[(i,
    j)]`` is ``G_ij`` (3x3) from the frame ``i`` frames away to the one ``j`` frames away
    (``i, j`` offsets from the solved exposure, e.g. ``(-1, 0)``, ``(0, 2)``). Solves
    ``Rbar_j G_ij = Rbar_i`` for all pairs by least squares, the linear part's equations
    weighted by the frame's half-diagonal (so every equation is in px). ``degree``: the
    polynomial's (default: the number of distinct exposures minus 1, at most
    :data:`MAX_DEGREE`)."""
    offsets = sorted({k for pair in fits for k in pair})
    if not fits:
        return Trajectory.still(shutter, size)
    cap = min(MAX_DEGREE, len(offsets) - 1)
    degree = cap if degree is None else max(1, min(int(degree), cap))
    h, w = size
    radius = 0.5 * np.hypot(h, w)
    col_weight = np.array([radius, radius, 1.0])
    rows, targets = [], []
    for (i, j), g in fits.items():
        g = np.asarray(g, np.float64)
        mi = [_window_moment(*exposure_window(i, shutter), n) for n in range(1, degree + 1)]
        mj = [_window_moment(*exposure_window(j, shutter), n) for n in range(1, degree + 1)]
        blocks = [mj[n] * g - mi[n] * np.eye(3) for n in range(degree)]  # (3, 3) each
        target = np.eye(3) - g
        for c in range(3):
            rows.append(np.concatenate([b[:, c] for b in blocks]) * col_weight[c])
            targets.append(target[:2, c] * col_weight[c])
    design = np.asarray(rows)  # (pairs * 3, 3 * degree)
    rhs = np.asarray(targets)  # (pairs * 3, 2): one column per row of A
    # columns scaled to unit norm, then a tiny ridge: under-determined terms stay at zero
    # instead of running off, determined ones are not shrunk
    norms = np.linalg.norm(design, axis=0)
    norms[norms == 0] = 1.0
    scaled = design / norms
    lhs = scaled.T @ scaled + ridge * np.eye(design.shape[1])
    sol = np.linalg.solve(lhs, scaled.T @ rhs) / norms[:, None]  # (3 * degree, 2)
    coeffs = np.zeros((degree, 3, 3))
    for n in range(degree):
        coeffs[n, :2, :] = sol[3 * n:3 * n + 3].T
    return Trajectory(coeffs, shutter, size)


# ---------------------------------------------------------------------- refinement

_NOISE_KERNEL = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)


def noise_level(luma: np.ndarray) -> float:
    """The standard deviation of the noise in a luma image (float, [0, 1]): Immerkaer's
    operator (a second difference that cancels smooth content), its median absolute value
    scaled to a Gaussian's sigma. A blurry frame has little fine texture to confuse it."""
    r = cv2.filter2D(np.asarray(luma, np.float32), -1, _NOISE_KERNEL)[1:-1, 1:-1]
    return float(1.4826 * np.median(np.abs(r)) / 6.0)


REFINE_TERMS = 3  # correction terms per axis (orthonormal polynomials of degree 1..3)
REFINE_BOUND = 3.0  # px (at the working scale): the largest correction allowed
REFINE_ROUNDS = 6
# the refinement between blurry frames (refine_between_blurry) starts from the flows' path,
# which can be several px off on a long, shaky blur: a wider correction; in 5 rounds on every
# third pixel where that leaves CROSS_SAMPLES pixels to fit, else every second (on the
# benchmark's 640x360 clips as close as every second pixel in 8 rounds, 2.5x faster; on a
# 128x96 frame every third pixel misses by 0.8 px what every second finds to 0.05:
# docs/experiments.md, 2026-12-06, part 3)
CROSS_TERMS = 4
CROSS_BOUND = 6.0
CROSS_ROUNDS = 5
CROSS_SAMPLES = 20000
_ENERGY_NUDGE = 0.05  # px: the step of the blur energy's (one-sided) numerical gradient


def _legendre(x: np.ndarray, terms: int) -> np.ndarray:
    """(terms, ...) orthonormal Legendre polynomials of degree 1..terms on [-1, 1]."""
    p = [np.ones_like(x), x]
    for n in range(1, terms):
        p.append(((2 * n + 1) * x * p[n] - n * p[n - 1]) / (n + 1))
    return np.stack([np.sqrt(2 * n + 1) * p[n] for n in range(1, terms + 1)])


def _legendre_monomials(terms: int, shutter: float) -> np.ndarray:
    """(terms, terms + 1): monomial coefficients in ``tau`` (powers 0..terms) of the
    orthonormal polynomials of :func:`_legendre` in ``x = 2 tau / shutter``."""
    taus = np.linspace(-shutter / 2, shutter / 2, terms + 1)
    values = _legendre(2 * taus / shutter, terms)  # (terms, terms + 1)
    vander = np.vander(taus, terms + 1, increasing=True)  # (terms + 1, powers)
    return np.linalg.solve(vander, values.T).T


def scaled(trajectory: Trajectory, factor: float,
           size: tuple[int, int] | None = None) -> Trajectory:
    """The trajectory in an image scaled by ``factor`` (translations scale, the linear part
    does not); ``size`` (height, width) of that image (default: the size times ``factor``,
    rounded)."""
    coeffs = trajectory.coeffs.copy()
    coeffs[:, :2, 2] *= factor
    h, w = trajectory.size
    if size is None:
        size = (max(1, round(h * factor)), max(1, round(w * factor)))
    return Trajectory(coeffs, trajectory.shutter, size)


def with_correction(trajectory: Trajectory, correction: np.ndarray) -> Trajectory:
    """``trajectory`` plus a translation ``correction`` (2, terms) in :func:`_legendre`
    terms over its exposure, less the correction's value at the middle (``R(0) = I``)."""
    terms = correction.shape[1]
    mono = _legendre_monomials(terms, trajectory.shutter)  # (terms, powers)
    poly = correction @ mono  # (2, powers): translation per power of tau
    degree = max(trajectory.degree, terms)
    coeffs = np.zeros((degree, 3, 3))
    coeffs[:trajectory.degree] = trajectory.coeffs
    for n in range(1, terms + 1):
        coeffs[n - 1, :2, 2] += poly[:, n]
    return Trajectory(coeffs, trajectory.shutter, trajectory.size)


def _pixel_map(centred: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A 3x3 map in image-centred coordinates -> the same map on pixel coordinates."""
    h, w = size
    to_px, from_px = np.eye(3), np.eye(3)
    to_px[:2, 2] = ((w - 1) / 2, (h - 1) / 2)
    from_px[:2, 2] = (-(w - 1) / 2, -(h - 1) / 2)
    return to_px @ centred @ from_px


@dataclass
class Refinement:
    """What :func:`refine_trajectory` found: the refined ``trajectory``; ``residual`` the per-pixel
    ``|prediction - blurry|`` (float32 (h, w), the smallest over the neighbours, NaN where
    none reaches); ``explained``: 1 - its median / (the median of the same prediction's
    without the blur), the frame's noise taken out of both: near 1 when the motion inside the
    exposure explains the frame, near 0 or below when not; where nothing beyond the noise is
    left to explain (a noisy or flat frame) 0 if the blur predicts at least as well as no blur,
    -1 if worse."""

    trajectory: Trajectory
    residual: np.ndarray
    explained: float
    # whether the prediction without the blur misses by more than the noise: else there was
    # nothing beyond the noise to explain and ``explained`` is 0 or -1 (undecided)
    decided: bool = True


def refine_trajectory(trajectory: Trajectory, blurry: np.ndarray,
                      neighbours: dict[int, np.ndarray], terms: int = REFINE_TERMS,
                      rounds: int = REFINE_ROUNDS, bound: float = REFINE_BOUND,
                      step: int = 2, mask: np.ndarray | None = None,
                      placed: Trajectory | None = None) -> Refinement | None:
    """Refine the motion inside an exposure so that its neighbours' sharp frames, blurred
    along it, predict its blurry frame.

    ``trajectory`` at the working scale of ``blurry`` (linear luma (h, w)); ``neighbours``:
    ``{offset: sharp linear luma (h, w)}``, the middle frames of the exposures ``offset``
    frames away (already solved). The prediction from neighbour ``k`` is the mean over the
    exposure of ``L_k(R(o_k)^-1 (R(tau) p + c(tau)) + o_k)``: ``c(tau)`` a translation
    correction of ``terms`` orthonormal polynomial terms per axis shared by all neighbours,
    ``o_k`` an offset per neighbour (its alignment). Gauss-Newton with Huber weights on
    every ``step``-th pixel; the correction is bounded to ``bound`` px. ``mask`` (h, w) bool:
    the pixels to fit (e.g. where the flows follow the camera's model; None: all).
    ``placed``: the trajectory whose maps at the neighbours' offsets place them (default
    ``trajectory``; a refined trajectory's correction holds inside its exposure only, and
    its polynomial runs off beyond it). Returns a :class:`Refinement`, or None when there was
    too little to fit."""
    h, w = blurry.shape
    if not neighbours or min(h, w) < 2 * step + 2:
        return None
    taus = _instants(trajectory)
    stacks = {offset: _stack(latent) for offset, latent in neighbours.items()}
    target = np.ascontiguousarray(blurry[::step, ::step], np.float32)
    places = _places(placed or trajectory, stacks)
    found = _fit_correction(trajectory, places, stacks,
                            {offset: (target, None) for offset in stacks}, taus, terms, rounds,
                            bound, step, mask)
    if found is None:
        return None
    correction, offsets = found
    refined = with_correction(trajectory, correction)
    delta = correction @ _legendre(2 * taus / trajectory.shutter, terms)
    residual = _prediction_residual(trajectory, places, delta, blurry, stacks, offsets, taus)
    # the same prediction without the blur (the neighbours' sharp frames, aligned): how much
    # of the frame the motion inside the exposure explains
    unblurred = _prediction_residual(trajectory, places, np.zeros((2, 1)), blurry, stacks,
                                     offsets, np.zeros(1))
    both = np.isfinite(residual) & np.isfinite(unblurred)
    if mask is not None and (both & mask).sum() > 100:
        both &= mask
    # medians, not rms: an object moving on its own over a part of the frame does not decide
    # how well the camera's motion explains the rest
    typical, still = ((float(np.median(a[both])) if both.any() else 0.0)
                      for a in (residual, unblurred))
    # the frame's own noise is in both and no motion explains it: the median of |N(0, s)|
    floor = 0.6745 * noise_level(blurry)
    return Refinement(refined, residual, explained_share(typical, still, floor),
                      still - floor > 1e-9)


def refine_between_blurry(trajectory: Trajectory, blurry: np.ndarray,
                          neighbours: dict[int, tuple[np.ndarray, Trajectory]],
                          terms: int = CROSS_TERMS, rounds: int = CROSS_ROUNDS,
                          bound: float = CROSS_BOUND, step: int | None = None,
                          mask: np.ndarray | None = None,
                          masks: dict[int, np.ndarray] | None = None) -> Trajectory | None:
    """Refine the motion inside an exposure from its neighbours' BLURRY frames alone.

    Two blurry frames of one scene, each blurred along the other's path, are the same image
    (for a translation: ``B_t * k_k = (L * k_t) * k_k = B_k * k_t``; the camera's rotation
    between neighbouring frames is a few tenths of a degree, so it holds locally). So the
    correction ``c(tau)`` of :func:`refine_trajectory` is fitted so that each neighbour's
    blurry frame ``B_k``, blurred along this exposure's path, matches this frame blurred along
    the neighbour's own path: no sharp frame is needed, so no error of a first solve enters
    (the refinement against solved neighbours inherits their ringing when their paths were
    off by pixels, as the flows' paths are on a long, shaky full-shutter blur).

    ``trajectory`` and ``blurry`` (linear luma (h, w)) as for :func:`refine_trajectory`;
    ``neighbours``: ``{offset: (blurry linear luma (h, w), its own trajectory or None)}``
    (its own: the exposure ``offset`` frames away, at the same scale; None: this
    ``trajectory`` over that exposure's window). ``step``: every how many pixels are fitted
    (None: 3 where that leaves :data:`CROSS_SAMPLES`, else 2). ``mask``: this frame's pixels
    to fit, as for :func:`refine_trajectory`; ``masks``: ``{offset: bool (h, w)}`` the same
    on a neighbour's own grid (where the neighbour's flows follow the camera's model: what
    moves on its own is elsewhere in each frame, and a pair compares both places). Returns
    the refined trajectory, or None when there was too little to fit."""
    h, w = blurry.shape
    if step is None:
        step = 3 if h * w >= 9 * CROSS_SAMPLES else 2
    if not neighbours or min(h, w) < 2 * step + 2:
        return None
    taus = _instants(trajectory)
    stacks = {offset: _stack(frame) for offset, (frame, _) in neighbours.items()}
    # each target sampled at least as finely as the neighbour's own blur needs (a long blur
    # sampled for a short one would be copies a few px apart, not a blur)
    targets = {offset: _blurred_along(blurry, trajectory if own is None else own,
                                      offset if own is None else 0,
                                      max(len(taus), len(_instants(own or trajectory))), step)
               for offset, (_, own) in neighbours.items()}
    # each neighbour's noise variance: blurred along this path, what is left of it in the
    # miss shrinks as the path lengthens, which the fit must not take for a better match
    noise = {offset: noise_level(frame) ** 2 for offset, (frame, _) in neighbours.items()}
    places = _places(trajectory, stacks)
    for offset, keep in (masks or {}).items():  # each neighbour's mask onto this frame's grid
        if offset in targets and keep is not None:
            px = _pixel_map(places[offset], (h, w)) @ np.diag([float(step), float(step), 1.0])
            image, seen = targets[offset]
            gh, gw = image.shape
            mapped = cv2.warpAffine(np.asarray(keep, np.uint8), px[:2], (gw, gh),
                                    flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP,
                                    borderMode=cv2.BORDER_CONSTANT, borderValue=1)
            targets[offset] = (image, seen & (mapped > 0))
    found = _fit_correction(trajectory, places, stacks, targets, taus, terms, rounds, bound,
                            step, mask, noise=noise)
    return None if found is None else with_correction(trajectory, found[0])


def kernel_energy(points: np.ndarray) -> float:
    """The sum of squares of the blur kernel that averages an image over the positions
    ``points`` (N, 2) px with bilinear interpolation (as a warp samples it), averaged over
    where the path sits between pixels (a warp's positions fall anywhere, and between pixels
    the interpolation itself averages): exactly ``mean_ij B(x_i - x_j) B(y_i - y_j)`` with
    ``B`` the autocorrelation of the linear interpolation's tent, the cubic B-spline. 4/9
    for one point, about 2/(3 L) for a straight path L px long sampled every pixel or
    finer. A blur's output keeps this share of white noise's variance."""
    p = np.asarray(points, np.float64)
    d = np.abs(p[:, None, :] - p[None, :, :])
    spline = np.where(d < 1.0, 2.0 / 3.0 - d * d + 0.5 * d ** 3,
                      np.where(d < 2.0, (2.0 - np.minimum(d, 2.0)) ** 3 / 6.0, 0.0))
    return float(np.mean(spline[..., 0] * spline[..., 1]))


def _centre_path(trajectory: Trajectory, taus: np.ndarray) -> np.ndarray:
    """(len(taus), 2): where the image centre goes at each instant (its translation)."""
    return np.stack([trajectory.at(float(tau))[:2, 2] for tau in taus])


def _instants(trajectory: Trajectory) -> np.ndarray:
    """The instants (from the middle) at which a refinement samples the exposure: one per
    0.75 px of blur, 8 to 32."""
    samples = int(np.clip(np.ceil(trajectory.blur_length() / 0.75), 8, 32))
    return -trajectory.shutter / 2 + trajectory.shutter * (np.arange(samples) + 0.5) / samples


def _stack(image: np.ndarray) -> np.ndarray:
    """float32 (h, w, 4): the image, its x and y gradients and ones (what a warp reaches)."""
    image = np.asarray(image, np.float32)
    gy, gx = np.gradient(image)
    return cv2.merge([image, gx.astype(np.float32), gy.astype(np.float32),
                      np.ones_like(image)])


def _blurred_along(image: np.ndarray, trajectory: Trajectory, offset: int, samples: int,
                   step: int) -> tuple[np.ndarray, np.ndarray]:
    """``(image blurred along trajectory's exposure offset frames away, relative to that
    exposure's middle; bool: where every sample saw the image)`` on every ``step``-th pixel."""
    h, w = image.shape
    coarse = np.diag([float(step), float(step), 1.0])
    gh, gw = (h + step - 1) // step, (w + step - 1) // step
    back = np.linalg.inv(trajectory.at(offset))
    start, end = exposure_window(offset, trajectory.shutter)
    source = cv2.merge([np.asarray(image, np.float32), np.ones((h, w), np.float32)])
    acc = np.zeros((gh, gw, 2), np.float32)
    for sigma in start + (end - start) * (np.arange(samples) + 0.5) / samples:
        px = _sample_map(trajectory, back, sigma, np.zeros(2), np.zeros(2), (h, w)) @ coarse
        acc += cv2.warpAffine(source, px[:2], (gw, gh),
                              flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    acc /= samples
    return acc[..., 0].copy(), acc[..., 1] > 0.999


def _places(trajectory: Trajectory, neighbours: dict) -> dict[int, np.ndarray]:
    """``{offset: the inverse of trajectory's map at offset}``: where each neighbour sits."""
    return {offset: np.linalg.inv(trajectory.at(offset)) for offset in neighbours}


def _fit_correction(trajectory: Trajectory, places: dict[int, np.ndarray],
                    stacks: dict[int, np.ndarray],
                    targets: dict[int, tuple[np.ndarray, np.ndarray | None]],
                    taus: np.ndarray, terms: int, rounds: int, bound: float, step: int,
                    mask: np.ndarray | None,
                    noise: dict[int, float] | None = None) -> tuple[np.ndarray, dict] | None:
    """The Gauss-Newton fit both refinements share: ``(correction (2, terms), {offset: the
    neighbour's offset})`` such that each neighbour's ``stacks[offset]`` (:func:`_stack`),
    placed by ``places[offset]`` (:func:`_places`),
    blurred along ``trajectory`` plus the correction at the instants ``taus``, matches
    ``targets[offset]`` (``(image on every step-th pixel, bool where valid or None)``);
    None when too little of the frame is left to fit.

    ``noise``: ``{offset: the variance of the noise in the neighbour's image}``: blurred along
    the path, the neighbour's noise adds ``variance * E`` to each pixel's squared miss
    (``E``: :func:`kernel_energy` of the path), less for a longer path; that expected share is
    taken off the fit's cost, so a longer path is not preferred for averaging the noise away
    (the cross-relation's noise bias: a noisy frame with a short blur came out with its blur
    twice too long)."""
    h, w = next(iter(stacks.values())).shape[:2]
    samples = len(taus)
    base = _centre_path(trajectory, taus)  # (samples, 2): the path's own, at the centre
    phi = _legendre(2 * taus / trajectory.shutter, terms)  # (terms, samples)
    names = sorted(stacks)
    n_params = 2 * terms + 2 * len(names)
    params = np.zeros(n_params)
    gh, gw = next(iter(targets.values()))[0].shape
    usable = (np.ones((gh, gw), bool) if mask is None
              else np.asarray(mask, bool)[::step, ::step]).ravel()
    coarse = np.diag([float(step), float(step), 1.0])  # the sampled grid -> pixels
    # each neighbour's offset starts where its unblurred prediction lines up with its target
    # (phase correlation): Gauss-Newton's reach is a few px of texture, a neighbour placed by a
    # trajectory that is off inside its window can be off by more; the tiles' median, so that
    # an object moving on its own does not place it (from there a longer blur fits best)
    for k, offset in enumerate(names):
        back = places[offset]
        px = _pixel_map(back, (h, w)) @ coarse
        plain = cv2.warpAffine(stacks[offset][..., 0], px[:2], (gw, gh),
                               flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_REFLECT101)
        sx, sy = _consensus_shift(targets[offset][0], plain)
        params[2 * terms + 2 * k: 2 * terms + 2 * k + 2] = _lin_offset(back, sx, sy, step)
    sigma, best, damping = None, None, 1e-3
    for iteration in range(rounds + 1):
        c = params[:2 * terms].reshape(2, terms)
        delta = c @ phi  # (2, samples) correction per sample
        if noise is not None:  # the path's blur energy and its gradient in c
            energy = kernel_energy(base + delta.T)
            slope = np.zeros(2 * terms)
            for m_ in range(2 * terms):
                nudge = np.zeros((2, terms))
                nudge[m_ // terms, m_ % terms] = _ENERGY_NUDGE
                slope[m_] = (kernel_energy(base + (delta + nudge @ phi).T) - energy) \
                    / _ENERGY_NUDGE
        jtj = np.zeros((n_params, n_params))
        jtr = np.zeros(n_params)
        residuals, jacobians = [], []
        for k, offset in enumerate(names):
            back = places[offset]
            o = params[2 * terms + 2 * k: 2 * terms + 2 * k + 2]
            lin = back[:2, :2]
            warped = np.empty((samples, gh, gw, 4), np.float32)
            for j, tau in enumerate(taus):
                px = _sample_map(trajectory, back, tau, delta[:, j], o, (h, w)) @ coarse
                cv2.warpAffine(stacks[offset], px[:2], (gw, gh), dst=warped[j],
                               flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            acc = warped.mean(axis=0)
            target, seen = targets[offset]
            valid = (acc[..., 3] > 0.999).ravel() & usable
            if seen is not None:
                valid &= seen.ravel()
            # d(sample)/d(c_x) = lin[:, 0] phi, d/d(c_y) = lin[:, 1] phi
            gxw = np.tensordot(phi, warped[..., 1], axes=(1, 0)) / samples  # (terms, gh, gw)
            gyw = np.tensordot(phi, warped[..., 2], axes=(1, 0)) / samples
            cols = np.zeros((n_params, int(valid.sum())), np.float32)
            for m_ in range(terms):
                cols[m_] = (gxw[m_] * lin[0, 0] + gyw[m_] * lin[1, 0]).ravel()[valid]
                cols[terms + m_] = (gxw[m_] * lin[0, 1] + gyw[m_] * lin[1, 1]).ravel()[valid]
            cols[2 * terms + 2 * k] = acc[..., 1].ravel()[valid]
            cols[2 * terms + 2 * k + 1] = acc[..., 2].ravel()[valid]
            residuals.append(acc[..., 0].ravel()[valid] - target.ravel()[valid])
            jacobians.append(cols)
        r = np.concatenate(residuals)
        if r.size < n_params * 10:  # too little left in view: the best step so far
            if best is None:
                return None
            break
        if sigma is None:  # the Huber scale, fixed at the start so costs compare
            sigma = max(1.4826 * float(np.median(np.abs(r))), 1e-6)
        weight = np.minimum(1.0, 1.345 * sigma / np.maximum(np.abs(r), 1e-12))
        cost = float(np.mean(weight * r * r))
        if noise is not None:  # the noise's expected share of the misses, off the cost
            start, lam = 0, 0.0
            for offset, res in zip(names, residuals):
                lam += noise[offset] * float(weight[start:start + res.size].sum())
                start += res.size
            cost -= lam * energy / r.size
        if best is not None and cost > best[0]:  # the step made it worse: back, and damp
            params = best[1].copy()
            cost, jtj, jtr = best[0], best[2], best[3]
            damping *= 10.0
        else:
            start = 0
            for cols, res in zip(jacobians, residuals):
                wk = weight[start:start + res.size]
                start += res.size
                jw = cols * wk
                jtj += jw @ cols.T
                jtr += jw @ res
            if noise is not None:
                jtr[:2 * terms] -= 0.5 * lam * slope
            best = (cost, params.copy(), jtj, jtr)
            damping = max(damping / 3.0, 1e-6)
        if iteration == rounds:
            break
        # Levenberg-Marquardt: the step shrinks toward gradient descent while it fails
        # (a floor on the diagonal: a still camera leaves the correction no first-order
        # effect, and a step along such a direction is noise, not a fit)
        diagonal = np.diag(jtj) + 1e-9 * float(np.mean(np.diag(jtj))) + 1e-30
        step_ = -np.linalg.solve(jtj + damping * np.diag(diagonal), jtr)
        params = best[1] + step_
        corr = params[:2 * terms].reshape(2, terms) @ phi
        reach = float(np.abs(corr - corr.mean(axis=1, keepdims=True)).max())
        if reach > bound:  # keep the correction within its bound
            params[:2 * terms] *= bound / reach
        if np.abs(step_[:2 * terms]).max() < 1e-3:
            break
    params = best[1]
    offsets = {k: params[2 * terms + 2 * i: 2 * terms + 2 * i + 2] for i, k in enumerate(names)}
    return params[:2 * terms].reshape(2, terms), offsets


def explained_share(typical: float, still: float, floor: float) -> float:
    """How much of a frame a motion explains: ``1 - (typical - floor) / (still - floor)``
    from the median miss of the prediction along the motion (``typical``), that of the same
    prediction without the blur (``still``) and the median miss the frame's noise alone makes
    (``floor``). Where nothing beyond the noise is left to explain (a noisy or a flat frame):
    0 (undecided) if the blur predicts at least as well as no blur, -1 if worse."""
    if still - floor > 1e-9:
        return 1.0 - max(typical - floor, 0.0) / (still - floor)
    return 0.0 if typical <= still else -1.0


def _sample_map(trajectory: Trajectory, back: np.ndarray, tau: float, delta: np.ndarray,
                offset: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """3x3 pixel map: where a neighbour (placed by ``back``, the inverse of the trajectory at
    its offset, and moved by ``offset``) is sampled for the instant ``tau`` of the exposure,
    its path corrected by ``delta`` (2,)."""
    m = back @ trajectory.at(tau)
    m[:2, 2] += back[:2, :2] @ delta + offset
    return _pixel_map(m, size)


def _lin_offset(back: np.ndarray, sx: float, sy: float, step: int) -> np.ndarray:
    """The neighbour offset (its pixels) that moves its prediction by (sx, sy) coarse px."""
    return back[:2, :2] @ np.array([sx, sy]) * step


def _prediction_residual(trajectory: Trajectory, places: dict[int, np.ndarray],
                         delta: np.ndarray, blurry: np.ndarray,
                         stacks: dict, offsets: dict,
                         taus: np.ndarray) -> np.ndarray:
    """The residual map (h, w) ``|prediction - blurry|`` of each neighbour's prediction
    along ``trajectory`` plus the correction ``delta`` (2, samples) at the sampled instants
    ``taus`` (as :func:`refine_trajectory` predicts), the smallest over the neighbours per
    pixel."""
    h, w = blurry.shape
    best = np.full((h, w), np.nan, np.float32)
    for offset, stack in stacks.items():
        back = places[offset]
        acc = np.zeros((h, w, 4), np.float32)
        for j, tau in enumerate(taus):
            px = _sample_map(trajectory, back, tau, delta[:, j], offsets[offset], (h, w))
            acc += cv2.warpAffine(stack, px[:2], (w, h),
                                  flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                  borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        acc /= len(taus)
        diff = np.abs(acc[..., 0] - blurry).astype(np.float32)
        diff[acc[..., 3] < 0.999] = np.nan
        best = np.fmin(best, diff)
    return best
