#!/usr/bin/env python3
"""A classical blind kernel estimate as the camera path (issue 19; docs/experiments.md, 2026-11-30).

Is the path estimator's 4 px limit the tile's evidence or the network? The standard classical
answer for a uniform blur uses the whole photo: Cho & Lee's multi-scale alternation (SIGGRAPH
Asia 2009), here in numpy on the linear luma:

1. coarse to fine (the photo at 1/4, 1/2, 1/sqrt 2, 1), the kernel upsampled between scales;
2. at each scale, a few rounds of: the latent image by Tikhonov deconvolution with the current
   kernel (FFT, gradient prior); a bilateral then a shock filter to predict its sharp edges;
   only the strongest predicted gradients kept (a share that shrinks round by round); the
   kernel by regularized least squares in the gradient domain (FFT), cropped, small values
   cut, the connected part at its center kept, normalized.

The kernel is a density of the camera's positions, not an order: it is turned into 7 group
centers by ordering its mass along its principal axis and splitting it into 7 equal parts
(their centroids; a path and its reversal are scored alike). Scored on translation-only
realistic samples (the single-path model exact) against the true group centers, beside the
path estimator ONNX on the same samples, and through the non-blind solver.

    python experiments/classical_kernel.py --estimator runs/fusion/path-estimator-snapshot.onnx \\
        [-n 48] [--size 256] [--ksize 45] [--cut 0.15]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from blurvid import deconvolution as dc
from blurvid.color import rgb_to_y, to_linear
from blurvid.consistency import NUM_FRAMES
from blurvid.io import photos_in
from blurvid.lab.data.synth import TRANSLATION_ONLY, SynthConfig, parse_settings, render_samples
from blurvid.lab.motion import estimate_paths
from blurvid.metrics import frame_psnrs



def otf(kernel: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The kernel's transfer function on an FFT grid (its center at the origin)."""
    pad = np.zeros(shape)
    kh, kw = kernel.shape
    pad[:kh, :kw] = kernel
    return np.fft.fft2(np.roll(pad, (-(kh // 2), -(kw // 2)), axis=(0, 1)))


def gradients(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return (np.roll(img, -1, axis=1) - img, np.roll(img, -1, axis=0) - img)


def latent(blur: np.ndarray, kernel: np.ndarray, weight: float) -> np.ndarray:
    """Tikhonov deconvolution with a gradient prior (FFT; the photo reflected to hide edges)."""
    h, w = blur.shape
    big = cv2.copyMakeBorder(blur, h // 4, h // 4, w // 4, w // 4, cv2.BORDER_REFLECT)
    k = otf(kernel, big.shape)
    d = np.abs(otf(np.array([[1.0, -1.0]]), big.shape)) ** 2 \
        + np.abs(otf(np.array([[1.0], [-1.0]]), big.shape)) ** 2
    out = np.real(np.fft.ifft2(np.conj(k) * np.fft.fft2(big) / (np.abs(k) ** 2 + weight * d)))
    return out[h // 4:h // 4 + h, w // 4:w // 4 + w]


def shock(img: np.ndarray, steps: int = 3, dt: float = 0.5) -> np.ndarray:
    """Osher-Rudin shock filter: edges steepened, ``I_t = -sign(laplacian I) |grad I|``."""
    out = img.astype(np.float32).copy()
    for _ in range(steps):
        gx = cv2.Sobel(out, cv2.CV_32F, 1, 0, ksize=3) / 8
        gy = cv2.Sobel(out, cv2.CV_32F, 0, 1, ksize=3) / 8
        out = out - dt * np.sign(cv2.Laplacian(out, cv2.CV_32F)) * np.hypot(gx, gy)
    return out


CUT = 0.15  # kernel values under this share of the peak are cut (--cut; 0.05 lets noise in)


def clean_kernel(k: np.ndarray, cut: float = CUT) -> np.ndarray:
    """Non-negative, values under ``cut`` of the peak cut, the connected part holding the peak
    kept, sum 1."""
    k = np.maximum(k, 0)
    k[k < k.max() * cut] = 0
    count, labels = cv2.connectedComponents((k > 0).astype(np.uint8), connectivity=8)
    if count > 2:
        peak = np.unravel_index(np.argmax(k), k.shape)
        k[labels != labels[peak]] = 0
    return k / max(k.sum(), 1e-12)


def kernel_from(pred: np.ndarray, blur: np.ndarray, size: int, keep: float,
                beta: float, cut: float = CUT) -> np.ndarray:
    """The kernel (size, size) of ``blur`` given its predicted sharp image, from the ``keep``
    share of the strongest predicted gradients (least squares in the gradient domain)."""
    px, py = gradients(pred)
    bx, by = gradients(blur)
    mag = np.hypot(px, py)
    mask = mag >= np.quantile(mag, 1 - keep)
    border = np.zeros_like(mask)
    border[size // 2:-(size // 2) or None, size // 2:-(size // 2) or None] = True
    mask &= border
    num = np.zeros(blur.shape, complex)
    den = np.zeros(blur.shape)
    for p, b in ((px, bx), (py, by)):
        fp, fb = np.fft.fft2(p * mask), np.fft.fft2(b * border)
        num += np.conj(fp) * fb
        den += np.abs(fp) ** 2
    k = np.real(np.fft.ifft2(num / (den + beta * den.mean())))
    k = np.roll(k, (size // 2, size // 2), axis=(0, 1))[:size, :size]
    return clean_kernel(k, cut)


def estimate_kernel(lin: np.ndarray, ksize: int = 45, rounds: int = 7,
                    latent_weight: float = 0.003, beta: float = 0.01,
                    cut: float = CUT) -> np.ndarray:
    """Cho & Lee's multi-scale alternation (the module docstring): a (ksize, ksize) kernel."""
    kernel = None
    for scale in (0.25, 0.5, 0.7071, 1.0):
        size = max(5, int(round(ksize * scale)) | 1)
        blur = lin if scale == 1 else cv2.resize(lin, None, fx=scale, fy=scale,
                                                 interpolation=cv2.INTER_AREA)
        if kernel is None:
            kernel = np.zeros((size, size))
            kernel[size // 2, size // 2 - 1:size // 2 + 2] = 1 / 3
            kernel[size // 2 - 1:size // 2 + 2, size // 2] += 1 / 3
            kernel /= kernel.sum()
        else:
            kernel = clean_kernel(cv2.resize(kernel, (size, size),
                                             interpolation=cv2.INTER_LINEAR), cut)
        for r in range(rounds):
            sharp = latent(blur, kernel, latent_weight)
            sharp = cv2.bilateralFilter(sharp.astype(np.float32), 5, 0.5, 2.0)
            keep = max(0.02, 0.08 * 0.8 ** r)  # the strongest edges first, then more
            kernel = kernel_from(shock(sharp), blur, size, keep, beta, cut)
    return kernel


def kernel_to_groups(kernel: np.ndarray) -> np.ndarray:
    """(7, 2) group centers (px, mean removed) of a kernel: its mass ordered along its
    principal axis, split into 7 equal parts, their centroids. The kernel's offsets are the
    negated camera displacements (a sub-frame sees the scene at p + path), hence the sign."""
    ys, xs = np.nonzero(kernel)
    w = kernel[ys, xs]
    pts = -np.stack([xs - kernel.shape[1] // 2, ys - kernel.shape[0] // 2], axis=1).astype(float)
    mean = (w[:, None] * pts).sum(0) / w.sum()
    cov = ((pts - mean).T * w) @ (pts - mean) / w.sum()
    axis = np.linalg.eigh(cov)[1][:, -1]
    order = np.argsort((pts - mean) @ axis)
    cum = np.cumsum(w[order]) / w.sum()
    part = np.minimum((cum - w[order] / w.sum() / 2) * NUM_FRAMES, NUM_FRAMES - 1).astype(int)
    groups = np.zeros((NUM_FRAMES, 2))
    for i in range(NUM_FRAMES):
        sel = order[part == i]
        groups[i] = (w[sel, None] * pts[sel]).sum(0) / max(w[sel].sum(), 1e-12) if len(sel) \
            else mean
    return groups - groups.mean(0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", default=str(Path.home() / ".cache/blurvid/photos/val"))
    ap.add_argument("--estimator", help="a path estimator ONNX model, scored on the same samples")
    ap.add_argument("-n", "--count", type=int, default=48)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--ksize", type=int, default=45)
    ap.add_argument("--weight", type=float, default=0.3, help="the solver's smoothness weight")
    ap.add_argument("--latent-weight", type=float, default=0.003)
    ap.add_argument("--beta", type=float, default=0.01, help="the kernel's L2 weight")
    ap.add_argument("--cut", type=float, default=CUT)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    cfg = SynthConfig.realistic(size=args.size, **parse_settings(TRANSLATION_ONLY))
    session = None
    if args.estimator:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        session = ort.InferenceSession(args.estimator, opts, providers=["CPUExecutionProvider"])
    rows = []
    for blur, truth, info in render_samples(photos_in(args.images, "--images"), args.count,
                                            cfg, args.seed):
        y, ty = rgb_to_y(blur), rgb_to_y(truth)
        true = dc.group_centers(info["path"])
        kernel = estimate_kernel(to_linear(y).astype(np.float64), args.ksize, args.rounds,
                                 args.latent_weight, args.beta, args.cut)
        est = {"kernel": kernel_to_groups(kernel)}
        if session is not None:
            est["estimator"] = dc.one_path(estimate_paths(session, y)[0])
        row = {"length": info["length"], "input": np.mean(frame_psnrs(y, ty)[0])}
        for name, g in est.items():
            row[name] = dc.path_error(g, true)[0]
            row[name + " len"] = dc.path_length(g) - dc.path_length(true)
            row[name + " gain"] = np.mean(frame_psnrs(dc.deconvolve_y(y, g, args.weight),
                                                      ty)[0]) - row["input"]
        row["told gain"] = np.mean(frame_psnrs(dc.deconvolve_y(y, true, dc.weight_for(0)),
                                               ty)[0]) - row["input"]
        rows.append(row)
        print(f"{len(rows)}/{args.count} {info['length']:5.1f} px: "
              + " ".join(f"{n} {row[n]:.2f} px ({row[n + ' gain']:+.2f} dB)" for n in est),
              file=sys.stderr)
    names = list(est)
    print(f"{len(rows)} translation-only realistic samples, {args.size} px, seed {args.seed}; "
          f"path rms error (px, order-invariant; mean and median over the samples), length "
          f"error (px, mean), solver gain over INPUT "
          f"(mean of 7 frames, W {args.weight:g}; told the true path W {dc.weight_for(0):g})\n")
    print("| blur | samples | " + " | ".join(f"{n} rms mean / median / length err / gain"
                                             for n in names) + " | told path gain |")
    print("|---|---:|" + "---:|" * (len(names) + 1))
    for low, high in ((0, 5), (5, 10), (10, 20), (20, 30), (30, 99), (0, 99)):
        sel = [r for r in rows if low <= r["length"] < high]
        if not sel:
            continue
        span = "all" if (low, high) == (0, 99) else f"{low}-{high if high < 99 else ''} px"
        cells = [f"{np.mean([r[n] for r in sel]):.2f} / "
                 f"{np.median([r[n] for r in sel]):.2f} / "
                 f"{np.mean([r[n + ' len'] for r in sel]):+.2f} / "
                 f"{np.mean([r[n + ' gain'] for r in sel]):+.2f}" for n in names]
        print(f"| {span} | {len(sel)} | " + " | ".join(cells)
              + f" | {np.mean([r['told gain'] for r in sel]):+.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
