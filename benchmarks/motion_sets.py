#!/usr/bin/env python3
"""Motion-guided reconstruction (blurvid.lab.motion, an experiment) against the bundled
generator on still photos and real footage, through the product's pipeline, in one run.

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
from blurvid.lab.motion import MotionExtractor, MotionRefiner  # noqa: E402
from blurvid.pipeline import Extractor  # noqa: E402


GENERATOR, MOTION = "generator (fast)", "motion-guided"


def build_methods(args, motion: bool = True) -> dict:
    """{name: Extractor}: the bundled generator, and (``motion``) the same generator session
    refined by :class:`blurvid.lab.motion.MotionRefiner` with ``--estimator`` and ``--fusion``."""
    plain = Extractor(device="cpu", threads=args.threads)
    methods = {GENERATOR: plain}
    if motion:
        refiner = MotionRefiner(args.estimator, args.fusion, device="cpu", threads=args.threads)
        methods[MOTION] = MotionExtractor(device="cpu", threads=args.threads, motion=refiner,
                                          session=plain.session)
    return methods


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
    p.add_argument("--memory", metavar="WxH", help="also the peak memory of one extract() of a "
                   "smooth synthetic photo of this size, each method in a subprocess of its own")
    p.add_argument("--memory-child", help=argparse.SUPPRESS)  # the method a subprocess measures
    args = p.parse_args()
    if args.memory_child:
        return memory_child(args)
    methods = build_methods(args)
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
    if args.memory:
        memory(list(methods), args)


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


def smooth_photo(size: str) -> np.ndarray:
    """A smooth random RGB photo (W x H): what a large photo costs, whatever its content."""
    w, h = parse_size(size)
    small = np.random.default_rng(0).random((max(2, h // 100), max(2, w // 100), 3))
    big = cv2.resize(small.astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(cv2.GaussianBlur(big, (0, 0), 3), 0, 1).astype(np.float32)


def memory_child(args) -> None:
    """In a subprocess: one extract() by the method ``args.memory_child``; prints its peak RSS
    (MiB) before and after, and the seconds it took."""
    import json
    import resource
    import time

    photo = smooth_photo(args.memory)
    ex = build_methods(args, motion=args.memory_child == MOTION)[args.memory_child]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    ex.extract(photo)
    print(json.dumps({"before_mib": before, "seconds": time.perf_counter() - start,
                      "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def memory(names: list[str], args) -> None:
    import json
    import subprocess

    print(f"Peak memory ({args.memory}, one extract() through the API, which returns the 7 RGB "
          "frames as float32; each method in its own process):\n")
    print("| method | peak RSS | before extract() | seconds |\n|---|---:|---:|---:|")
    for name in names:
        cmd = [sys.executable, __file__, "--estimator", args.estimator, "--fusion", args.fusion,
               "--threads", str(args.threads), "--memory", args.memory, "--memory-child", name]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(f"| {name} | {r['peak_mib'] / 1024:.2f} GiB | {r['before_mib'] / 1024:.2f} GiB | "
              f"{r['seconds']:.1f} |")


if __name__ == "__main__":
    main()
