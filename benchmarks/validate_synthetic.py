#!/usr/bin/env python3
"""Validation of an ONNX generator on synthetic blur rendered from photos it never trained on.

    python benchmarks/validate_synthetic.py --images ~/.cache/blurvid/photos/val \\
        [--model blurvid/models/blurvid-fast.onnx] [--samples 200] [--size 256] [--seed 1234]

Renders ``--samples`` (blur, 7 sharp frames) pairs with blurvid.data.synth's default settings
from the photos in ``--images`` (``scripts/fetch-photos`` puts held-out photos in ``val/``),
runs the model with ONNX Runtime on the CPU, and prints a Markdown table: per-frame PSNR and
SSIM on Y (BT.601), order-invariant, for the model and for INPUT (the blurry image against
each sharp frame), plus the reblur PSNR (mean of the 7 RGB frames in linear light vs the
input). ``--json`` prints the numbers as JSON instead.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from blurvid.data.synth import SynthConfig, list_images, render_set
from blurvid.metrics import score_samples
from blurvid.pipeline import Extractor, reblur_psnr


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", required=True, help="folder of held-out photos")
    p.add_argument("--model", default=None, help="ONNX generator (default: the bundled one)")
    p.add_argument("--samples", type=int, default=200)
    p.add_argument("--size", type=int, default=256, help="side of the rendered samples")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()

    photos = list_images(args.images)
    start = time.perf_counter()
    samples = render_set(photos, args.samples, SynthConfig(size=args.size), seed=args.seed)
    extractor = Extractor(args.model, device="cpu", threads=args.threads)
    scores = score_samples(lambda y: extractor.session.run(y), samples)
    reblur = [reblur_psnr(extractor.extract(blur), blur) for blur, _ in samples]
    scores["reblur_psnr_mean"] = round(float(np.mean(reblur)), 3)
    scores["reblur_psnr_min"] = round(float(np.min(reblur)), 3)
    scores["model"] = str(extractor.session.model_path)
    scores["photos"] = len(photos)
    scores["seconds"] = round(time.perf_counter() - start, 1)
    if args.json:
        print(json.dumps(scores, indent=2))
        return

    header = " | ".join(f"{i}" for i in range(1, 8))
    print(f"{args.samples} samples of {args.size}x{args.size} from {len(photos)} photos "
          f"(seed {args.seed}), Y channel, order-invariant "
          f"(reversed order won in {100 * scores['reversed_share']:.0f}% of samples)\n")
    print(f"| row | metric | {header} | mean | middle |")
    print("|---|---|" + "---:|" * 9)
    rows = [("model", "PSNR", "psnr_frames", "psnr"), ("INPUT", "PSNR", "input_frames", "input"),
            ("model", "SSIM", "ssim_frames", "ssim"),
            ("INPUT", "SSIM", "input_ssim_frames", "input_ssim")]
    for name, metric, frames_key, prefix in rows:
        digits = 2 if metric == "PSNR" else 4
        cells = " | ".join(f"{v:.{digits}f}" for v in scores[frames_key])
        print(f"| {name} | {metric} | {cells} | {scores[prefix + '_mean']:.{digits}f} | "
              f"{scores[prefix + '_middle']:.{digits}f} |")
    gain = scores["psnr_mean"] - scores["input_mean"]
    gain_mid = scores["psnr_middle"] - scores["input_middle"]
    print(f"\nmodel - INPUT: {gain:+.2f} dB mean over 7 frames, {gain_mid:+.2f} dB middle frame; "
          f"reblur PSNR (RGB) mean {scores['reblur_psnr_mean']:.2f} dB, "
          f"min {scores['reblur_psnr_min']:.2f} dB; {scores['seconds']:.0f} s")


if __name__ == "__main__":
    main()
