#!/usr/bin/env python3
"""A tried-and-dropped classical path estimator (2026-11-30, docs/experiments.md): the camera
path from the blurry photo's power spectrum, |B|^2 = |K|^2 |S|^2.

The luma's gradients (a whitened scene) in Hann windows of 96 px (Welch average), log power,
radially normalized (the mean over angles at each radius removed, so an isotropic scene
spectrum drops out), against the model log(|K_p|^2 + eps) normalized the same way, for paths p
of 7 group centers: a grid search over straight lines (0-44 px, every 6 degrees). It prints,
per sample, the true path's cost and the best line's: where the truth costs more than a wrong
line, the spectral model itself is wrong (scene anisotropy, JPEG, noise), not the search.

    python experiments/spectral_path.py [EPS]     # translation-only realistic, 12 samples
"""
import sys
import numpy as np
from blurvid.color import rgb_to_y, to_linear
from blurvid.deconvolution import _subframes, group_centers, path_error, path_length
from blurvid.io import photos_in
from blurvid.lab.data.synth import TRANSLATION_ONLY, SynthConfig, parse_settings, render_samples

N = 96  # spectrum grid (windows of N px)

def spectrum(y_lin, win=N, stride=None):
    """Welch power spectrum of the gradient image (whitens 1/f^2 scenes), log, radially normalized."""
    stride = stride or win // 2
    h, w = y_lin.shape
    hann = np.outer(np.hanning(win), np.hanning(win))
    gx = np.diff(y_lin, axis=1, append=y_lin[:, -1:])
    gy = np.diff(y_lin, axis=0, append=y_lin[-1:])
    acc = np.zeros((win, win))
    n = 0
    for r in range(0, h - win + 1, stride):
        for c in range(0, w - win + 1, stride):
            for g in (gx, gy):
                t = g[r:r+win, c:c+win]
                t = (t - t.mean()) * hann
                acc += np.abs(np.fft.fft2(t)) ** 2
            n += 1
    return acc / n

def freq_grid(win=N):
    f = np.fft.fftfreq(win)
    wy, wx = np.meshgrid(2*np.pi*f, 2*np.pi*f, indexing="ij")
    r = np.hypot(wy, wx)
    return wy, wx, r

WY, WX, R = freq_grid()
# use a half-plane, low-mid frequencies
MASK = (R > 0.08) & (R < 1.6) & ((WY > 0) | ((WY == 0) & (WX > 0)))
RBINS = np.digitize(R, np.linspace(0, np.pi*1.5, 40))

def radial_normalize(logp):
    out = logp.copy()
    for b in np.unique(RBINS[MASK]):
        sel = MASK & (RBINS == b)
        out[sel] -= out[sel].mean()
    return out

WYm, WXm = WY[MASK], WX[MASK]
BINm = RBINS[MASK]
UB = np.unique(BINm)
BIN_IDX = np.searchsorted(UB, BINm)
BIN_COUNT = np.bincount(BIN_IDX)

def model_logk(sub, eps):
    ph = np.exp(1j * (np.outer(sub[:, 0], WXm) + np.outer(sub[:, 1], WYm)))
    k = ph.mean(axis=0)
    lk = np.log(np.abs(k) ** 2 + eps)
    return lk - (np.bincount(BIN_IDX, lk) / BIN_COUNT)[BIN_IDX]

def line_groups(theta, length):
    t = (np.arange(7) + 0.5) / 7 - 0.5
    return np.outer(t * length * 7 / 6 * 6 / 7, [np.cos(theta), np.sin(theta)])  # centers span 6/7 of length

def estimate(blur_rgb, eps=1e-2, iters=60, verbose=False):
    y = to_linear(rgb_to_y(blur_rgb).astype(np.float64))
    p = spectrum(y)
    lp = np.log(p + 1e-12 * p.mean())
    m = lp[MASK]
    m = m - (np.bincount(BIN_IDX, m) / BIN_COUNT)[BIN_IDX]
    w = np.ones_like(m)
    def cost(groups):
        d = model_logk(_subframes(groups, 3), eps) - m
        return float(np.sum(w * d * d))
    best = None
    for L in np.arange(0, 46, 2.0):
        for th in np.deg2rad(np.arange(0, 180, 6)):
            g = line_groups(th, L) * 6 / 7
            c = cost(g)
            if best is None or c < best[0]:
                best = (c, g)
    c0, g = best
    x = g.ravel().copy()
    step = 0.5
    # simple coordinate/finite-difference gradient descent with backtracking
    f = cost(x.reshape(7, 2))
    for it in range(iters):
        grad = np.zeros_like(x)
        for k in range(x.size):
            e = np.zeros_like(x); e[k] = 0.05
            grad[k] = (cost((x + e).reshape(7, 2)) - cost((x - e).reshape(7, 2))) / 0.1
        gn = np.linalg.norm(grad)
        if gn < 1e-9: break
        while step > 1e-3:
            xn = x - step * grad / gn
            fn = cost(xn.reshape(7, 2))
            if fn < f:
                x, f = xn, fn; step *= 1.5; break
            step *= 0.5
        else:
            break
    return x.reshape(7, 2), best[1], (c0, f)


def ang(g):
    d = g[-1] - g[0]
    return np.rad2deg(np.arctan2(d[1], d[0])) % 180


if __name__ == "__main__":
    import os
    cfg = SynthConfig.realistic(size=(256, 256), **parse_settings(TRANSLATION_ONLY))
    eps = float(sys.argv[1]) if len(sys.argv) > 1 else 1e-2
    for blur, truth, info in render_samples(photos_in(os.path.expanduser("~/.cache/blurvid/photos/val"), "--images"), 12, cfg, 1234):
        g = group_centers(info["path"])
        est, line, (c0, f) = estimate(blur, eps=eps, iters=0)
        # cost of the truth
        y = to_linear(rgb_to_y(blur).astype(np.float64)); p = spectrum(y); lp = np.log(p + 1e-12*p.mean()); m = lp[MASK]; m = m - (np.bincount(BIN_IDX, m)/BIN_COUNT)[BIN_IDX]
        ct = float(np.sum((model_logk(_subframes(g, 3), eps) - m)**2))
        print(f"true L {path_length(g):5.1f} ang {ang(g):5.1f} | line L {path_length(line):5.1f} ang {ang(line):5.1f} | cost line {c0:8.1f} truth {ct:8.1f} err {path_error(line,g)[0]:.2f}")
