#!/usr/bin/env python3
"""Motion-guided reconstruction (blurvid.motion, an experiment) against the bundled generator on
still photos and real footage, through the product's pipeline, in one run.

    python benchmarks/motion_sets.py --estimator runs/fusion/path-estimator-snapshot.onnx \\
        --fusion runs/fusion/fusion.onnx --photos ~/.cache/blurvid/photos/val \\
        --footage ~/.cache/blurvid/footage/vtest.avi --max-samples 40 --threads 2

Still photos: as ``benchmarks/still_photos.py`` (Y PSNR of the 7 frames against the sharp
photo, as read and softened by a 1.2 px Gaussian; "1 vs 7" the motion invented). Real
footage: as ``blurvid bench --data VIDEO`` (windows of 7 frames averaged; order-invariant Y
PSNR / SSIM, mean and middle). Prints Markdown.
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from still_photos import still_psnr  # noqa: E402

from blurvid.color import from_linear  # noqa: E402
from blurvid.lab.bench import bench_quality, parse_size, time_runs  # noqa: E402
from blurvid.lab.data.layouts import read_dataset  # noqa: E402
from blurvid.lab.data.synth import list_images, load_photo  # noqa: E402
from blurvid.motion import MotionRefiner  # noqa: E402
from blurvid.pipeline import Extractor  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--estimator", required=True)
    p.add_argument("--fusion", required=True)
    p.add_argument("--photos", help="still photos (a folder)")
    p.add_argument("--footage", help="a video scored as blurvid bench does")
    p.add_argument("--max-samples", type=int, default=40)
    p.add_argument("--max-side", type=int, default=768)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--speed", metavar="WxH", help="also time one photo of this size (median of "
                   "--repeats runs after a warm-up, each method in turn)")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    plain = Extractor(device="cpu", threads=args.threads)
    refiner = MotionRefiner(args.estimator, args.fusion, device="cpu", threads=args.threads)
    motion = Extractor(device="cpu", threads=args.threads, motion=refiner,
                       session=plain.session)
    methods = {"generator (fast)": plain, "motion-guided": motion}
    print(f"`python benchmarks/motion_sets.py {' '.join(sys.argv[1:])}` on "
          f"{platform.machine()}\n")
    if args.photos:
        sharp = [from_linear(load_photo(path, max_side=args.max_side)).astype(np.float32)
                 for path in list_images(args.photos)]
        soft = [(np.round(np.clip(cv2.GaussianBlur(img, (0, 0), 1.2), 0, 1) * 255) / 255
                 ).astype(np.float32) for img in sharp]
        sharp = [(np.round(img * 255) / 255).astype(np.float32) for img in sharp]
        print(f"Still photos ({len(sharp)}, up to {args.max_side} px): Y PSNR against the "
              "photo\n")
        print("| method | sharp | softened 1.2 px | 1 vs 7 |\n|---|---:|---:|---:|")
        for name, ex in methods.items():
            s, ends = still_psnr(ex, sharp)
            print(f"| {name} | {s:.2f} dB | {still_psnr(ex, soft)[0]:.2f} dB | {ends:.2f} dB |")
        print()
    if args.footage:
        print(f"Real footage ({Path(args.footage).name}, {args.max_samples} windows): Y, "
              "order-invariant\n")
        print("| method | PSNR mean | PSNR middle | SSIM mean | reblur |\n|---|---:|---:|---:|---:|")
        for i, (name, ex) in enumerate(methods.items()):
            r = bench_quality(ex.extract, read_dataset(args.footage, "auto", args.max_samples))
            y = r["y"]
            if i == 0:
                print(f"| INPUT | {y['input_mean']:.3f} | {y['input_middle']:.3f} | "
                      f"{y['input_ssim_mean']:.4f} | |")
            print(f"| {name} | {y['psnr_mean']:.3f} | {y['psnr_middle']:.3f} | "
                  f"{y['ssim_mean']:.4f} | {r['reblur_psnr']:.1f} dB |")
        print()
    if args.speed:
        speed(methods, args.speed, args.repeats)


def speed(methods: dict, size: str, repeats: int) -> None:
    w, h = parse_size(size)
    image = np.random.default_rng(0).random((h, w, 3), dtype=np.float32)
    times = {name: float(np.median(time_runs(lambda: ex.extract(image), repeats)))
             for name, ex in methods.items()}
    base = next(iter(times.values()))
    print(f"Speed ({w}x{h}, median of {repeats}):\n")
    print("| method | seconds | ratio |\n|---|---:|---:|")
    for name, t in times.items():
        print(f"| {name} | {t:.2f} | {t / base:.2f}x |")


if __name__ == "__main__":
    main()
