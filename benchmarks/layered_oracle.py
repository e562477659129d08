"""A solver told everything: the synthesizer's exact image formation as a sparse linear operator.

A yardstick for motion-guided reconstruction (issue 19), not a method: how much of the 7 frames
a regularized least-squares solve recovers when it knows every layer's motion exactly, which
no estimator does. :func:`blurvid.lab.data.synth.render` with ``scene=True`` records the
formation of each sub-frame ``j``: layers composited back to front, each a texture warped by a
homography (output pixel -> texture pixel), the nearer ones with a coverage ``alpha``. The
frame of group ``i`` is linear in the textures:

    F_i = (1/k) sum_{j in group i} sum_L  c_Lj * W_Lj x_L,   c_Lj = a_Lj * prod_{L' above L} (1 - a_L'j)

(``W_Lj`` the bilinear warp, ``a`` the layer's coverage in the output, 1 for the background;
cut-outs are solved un-premultiplied, on a grid at their on-screen scale: a cut-out drawn
smaller than its file is rendered by sampling the full-resolution file, aliased, which that
grid does not reproduce exactly, so for cut-outs the formation is close, not exact.) The photo is
``B = mean_i F_i`` (in linear light, before noise, quantization and JPEG). The solve:

    minimize  || mean_i F_i(x) - to_linear(Y) ||^2 + weight * sum_L || grad x_L ||^2

by conjugate gradients on the normal equations from a back-projection, on the gamma luma
``Y`` made linear (as :mod:`blurvid.deconvolution`); the frames are ``from_linear(F_i(x))``.
``camera_only`` keeps only the background layer, warped by the camera's exact homographies
(rotation, zoom, perspective), as if the nearer layers and cut-outs were part of it: dense
camera motion without layers.

Contract: :func:`formation_operators` -> 7 scipy CSR matrices ``(h*w, n)``;
:func:`solve_frames` -> float32 ``(7, h, w)`` gamma-encoded luma. numpy, scipy, no torch.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, cg

from blurvid.color import from_linear, to_linear
from blurvid.consistency import NUM_FRAMES
from blurvid.lab.data.synth import smooth_path_error


def _grid(layer: dict) -> tuple[tuple[int, int], np.ndarray]:
    """(grid shape, (M, 3, 3) output -> grid maps) of a layer: the texture's own grid, or for a
    cut-out (premultiplied) a grid at its on-screen scale (its maps scale by ``f``)."""
    th, tw = layer["texture"].shape[:2]
    maps = np.asarray(layer["maps"], np.float64)
    if not layer["premultiplied"]:
        return (th, tw), maps
    f = float(np.mean(1 / np.sqrt(np.abs(np.linalg.det(maps[:, :2, :2])))))
    f = min(f, 1.0)
    # texture pixel edges [-0.5, t - 0.5] -> grid [0.5, t f + 0.5]: one grid pixel of border
    # on every side, so no texture pixel's bilinear weight falls off the grid
    scale = np.array([[f, 0, 0.5 * f + 0.5], [0, f, 0.5 * f + 0.5], [0, 0, 1]])
    return (int(np.ceil(th * f)) + 2, int(np.ceil(tw * f)) + 2), scale @ maps


def _reflect101(i: np.ndarray, n: int) -> np.ndarray:
    """Indices reflected into [0, n) without repeating the edge (OpenCV's BORDER_REFLECT101)."""
    period = 2 * (n - 1)
    i = np.abs(i) % period
    return np.where(i >= n, period - i, i)


def _warp_entries(hmap: np.ndarray, shape: tuple[int, int], grid: tuple[int, int],
                  weight: np.ndarray, reflect: bool):
    """COO (rows, cols, values) of ``weight * bilinear warp``: output pixel p samples the grid
    at ``hmap @ p``; outside the grid: reflected as the synthesizer's warps do (``reflect``)
    or zero."""
    h, w = shape
    gh, gw = grid
    yy, xx = np.mgrid[0:h, 0:w]
    pts = np.stack([xx.ravel(), yy.ravel(), np.ones(h * w)])
    q = hmap @ pts
    u, v = q[0] / q[2], q[1] / q[2]
    rows = np.arange(h * w)
    keep = weight.ravel() > 1e-6
    if not reflect:
        keep &= (u > -1) & (u < gw) & (v > -1) & (v < gh)
    u, v, rows, wt = u[keep], v[keep], rows[keep], weight.ravel()[keep]
    x0, y0 = np.floor(u).astype(np.int64), np.floor(v).astype(np.int64)
    fx, fy = u - x0, v - y0
    out_r, out_c, out_v = [], [], []
    for dx, dy, b in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)),
                      (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        xs, ys = x0 + dx, y0 + dy
        if reflect:
            xs, ys = _reflect101(xs, gw), _reflect101(ys, gh)
        ok = (xs >= 0) & (xs < gw) & (ys >= 0) & (ys < gh) & (b > 0)
        out_r.append(rows[ok])
        out_c.append(ys[ok] * gw + xs[ok])
        out_v.append(wt[ok] * b[ok])
    return np.concatenate(out_r), np.concatenate(out_c), np.concatenate(out_v)


def formation_operators(scene: list[dict], shape: tuple[int, int], camera_only: bool = False):
    """``(ops, grids)``: the 7 group operators (CSR ``(h*w, n)``, ``n`` the layers' grid pixels
    stacked back to front) and each layer's grid shape. ``camera_only``: the background only."""
    layers = scene[:1] if camera_only else scene
    grids = [_grid(layer) for layer in layers]
    offsets = np.cumsum([0] + [g[0] * g[1] for g, _ in grids])
    m = len(layers[0]["maps"])
    per_group = m // NUM_FRAMES
    h, w = shape
    ops = []
    for i in range(NUM_FRAMES):
        rows, cols, vals = [], [], []
        for j in range(i * per_group, (i + 1) * per_group):
            cover = np.ones((h, w))  # what the layers in front leave visible
            coverage = []
            for layer in reversed(layers):  # front to back
                a = np.ones((h, w)) if layer["alpha"] is None else layer["alpha"][j]
                coverage.append(a * cover)
                cover = cover * (1 - a)
            coverage.reverse()
            for k, ((grid, maps), layer) in enumerate(zip(grids, layers)):
                r, c, v = _warp_entries(maps[j], shape, grid, coverage[k] / per_group,
                                        reflect=not layer["premultiplied"])
                rows.append(r)
                cols.append(c + offsets[k])
                vals.append(v)
        ops.append(sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows),
                                                          np.concatenate(cols))),
                                 shape=(h * w, int(offsets[-1]))))
    return ops, [g for g, _ in grids]


def _gradient_normal(grids: list[tuple[int, int]]) -> sp.csr_matrix:
    """D^T D of forward differences within each layer's grid (block diagonal)."""
    blocks = []
    for gh, gw in grids:
        dx = sp.diags([-np.ones(gw - 1), np.ones(gw - 1)], [0, 1], shape=(gw - 1, gw))
        dy = sp.diags([-np.ones(gh - 1), np.ones(gh - 1)], [0, 1], shape=(gh - 1, gh))
        d = sp.vstack([sp.kron(sp.eye(gh), dx), sp.kron(dy, sp.eye(gw))])
        blocks.append((d.T @ d).tocsr())
    return sp.block_diag(blocks, format="csr")


def solve_frames(y: np.ndarray, scene: list[dict], weight: float, iters: int = 200,
                 camera_only: bool = False) -> np.ndarray:
    """(7, h, w) gamma luma frames of the gamma luma ``y`` (h, w) told the exact formation."""
    if y.ndim != 2:
        raise ValueError(f"y must be (H, W), got {y.shape}")
    ops, grids = formation_operators(scene, y.shape, camera_only)
    a = sum(ops) / NUM_FRAMES
    at = a.T.tocsr()
    b = to_linear(np.clip(y, 0, 1)).astype(np.float64).ravel()
    reg = _gradient_normal(grids) * weight
    normal = LinearOperator((a.shape[1],) * 2, matvec=lambda x: at @ (a @ x) + reg @ x,
                            dtype=np.float64)
    rhs = at @ b
    hits = at @ np.ones_like(b)
    x0 = np.where(hits > 1e-6, rhs / np.maximum(hits, 1e-6), b.mean())
    x, _ = cg(normal, rhs, x0=x0, maxiter=iters, rtol=1e-8)
    frames = np.stack([(op @ x).reshape(y.shape) for op in ops])
    return from_linear(np.clip(frames, 0, 1)).astype(np.float32)


def perturb_scene(scene: list[dict], rms: float, rng: np.random.Generator) -> list[dict]:
    """``scene`` with every layer's motion off by its own smooth error in time
    (:func:`~blurvid.lab.data.synth.smooth_path_error` over the sub-frames, ``rms`` px rms, in
    output pixels): a motion estimate of that accuracy, layer by layer. The coverage maps stay
    exact."""
    out = []
    for layer in scene:
        m = len(layer["maps"])
        err = rms * smooth_path_error(rng, m)
        shift = np.tile(np.eye(3), (m, 1, 1))
        shift[:, :2, 2] = -err  # output p -> p - err: the layer's content moved by err
        out.append({**layer, "maps": np.asarray(layer["maps"]) @ shift})
    return out
