#!/usr/bin/env python3
"""Sharpness: how much fine detail the frames carry, against the true frames.

    python benchmarks/sharpness.py --data /tmp/valreal [--model fast --model other.onnx]
        [--projection none|lowpass|exact] [--max-samples 200] [--threads 2]

PSNR rewards a safe, soft answer; the seed paper's adversarial and contiguous blurry losses aim
at sharper frames. This reports, per model, the **gradient energy ratio**: the mean squared
luma gradient (central differences) of the 7 frames divided by that of the 7 true frames,
per sample, then the median over samples. 1.0 means as much detail as the truth, below 1
softer, above 1 more than the truth (noise, ringing or invented texture). The INPUT row is the
blurry photo (its 7 copies) against the same truth. ``--smooth S`` first blurs every image
(frames and truth alike) by a Gaussian of S px, so that pixel noise (which the blurry inputs
have and the true frames do not) stops counting as detail and edges still do. Prints a
Markdown table.
"""

from __future__ import annotations

import argparse
import platform

import numpy as np

from blurvid.color import rgb_to_y
from blurvid.lab.data.layouts import read_dataset
from blurvid.consistency import PROJECTIONS
from blurvid.pipeline import Extractor


def gradient_energy(luma: np.ndarray, smooth: float = 0.0) -> float:
    """Mean squared central-difference gradient of ``(..., H, W)`` luma (H, W >= 3), after a
    Gaussian blur of ``smooth`` px (0: none)."""
    if smooth > 0:
        import cv2

        planes = luma.reshape(-1, *luma.shape[-2:]).astype(np.float32)
        luma = np.stack([cv2.GaussianBlur(p, (0, 0), smooth) for p in planes])
    gy = (luma[..., 2:, 1:-1] - luma[..., :-2, 1:-1]) / 2
    gx = (luma[..., 1:-1, 2:] - luma[..., 1:-1, :-2]) / 2
    return float(np.mean(gx.astype(np.float64) ** 2 + gy.astype(np.float64) ** 2))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="a dataset blurvid bench reads")
    p.add_argument("--model", action="append", default=None,
                   help="a bundled name or an ONNX file (repeatable; default: fast)")
    p.add_argument("--projection", default="none", choices=PROJECTIONS)
    p.add_argument("--max-samples", type=int, default=200)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--smooth", type=float, default=0.0, help="Gaussian blur (px) before")
    args = p.parse_args()
    models = args.model or ["fast"]
    samples = [s for s in read_dataset(args.data, max_samples=args.max_samples)
               if s.frames.shape[0] == 7]

    def energy(rgb: np.ndarray) -> float:
        return gradient_energy(rgb_to_y(rgb), args.smooth)

    truth = [energy(s.frames) for s in samples]
    rows = {"INPUT": [energy(s.blur) / t for s, t in zip(samples, truth)]}
    for model in models:
        extractor = Extractor(model, device="cpu", threads=args.threads,
                              projection=args.projection)
        rows[model] = [energy(extractor.extract(s.blur)) / t
                       for s, t in zip(samples, truth)]
    print(f"`python benchmarks/sharpness.py --data {args.data} --projection {args.projection} "
          f"--smooth {args.smooth}"
          + "".join(f" --model {m}" for m in models) + f"` on {platform.machine()}, "
          f"{len(samples)} samples\n")
    print("| frames | gradient energy / truth (median) | quartiles |")
    print("|---|---:|---:|")
    for name, ratios in rows.items():
        q1, med, q3 = np.percentile(ratios, [25, 50, 75])
        print(f"| {name} | {med:.3f} | {q1:.3f} - {q3:.3f} |")


if __name__ == "__main__":
    main()
