#!/usr/bin/env python3
"""Interpolation quality against ground truth: recursive vs flow vs blend at level 2.

    python benchmarks/interpolation.py --images ~/.cache/blurvid/photos/val \\
        [--model PATH] [--samples 24] [--size 192] [--seed 77]

Each sample is rendered by blurvid.lab.data.synth with 49 sub-frames (7 per level-1 frame), so
every level-2 frame has a ground truth: the level-2 frame at time p/49 covers
[(p-1)/49, (p+1)/49] (see blurvid.interpolation), i.e. sub-frames p-1 and p, averaged in
linear light. The three methods share the same level-1 frames. A sample's orientation (the
model may return the frames reversed) is decided once, on the level-1 frames against their
ground truth, and applied to the whole level-2 timeline (which is symmetric in time).
Scores: PSNR on Y (BT.601), per method: mean over all 42 frames, over the frames between the
level-1 centers ("inner") and outside them ("ends"), and the level-1 frames themselves.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from blurvid.color import from_linear, rgb_to_y
from blurvid.lab.data.synth import SynthConfig, list_images, load_photo, render
from blurvid.interpolation import blend, flow, recursive, timeline
from blurvid.metrics import frame_psnrs, psnr
from blurvid.pipeline import Extractor

METHODS = ("recursive", "flow", "blend")


def level2_truth(sub_lin: np.ndarray) -> np.ndarray:
    """Ground-truth RGB frames at the level-2 timestamps from 49 linear sub-frames."""
    ps = np.rint(timeline(2) * 49).astype(int)
    return np.stack([from_linear(sub_lin[p - 1 : p + 1].mean(axis=0)) for p in ps])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", required=True)
    p.add_argument("--model", default=None)
    p.add_argument("--samples", type=int, default=24)
    p.add_argument("--size", type=int, default=192)
    p.add_argument("--seed", type=int, default=77)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()

    photos = [load_photo(path) for path in list_images(args.images)]
    cfg = SynthConfig(size=args.size, subframes_per_frame=7)
    rng = np.random.default_rng(args.seed)
    extractor = Extractor(args.model, device="cpu", threads=args.threads)
    times = timeline(2)
    centers = timeline(1)
    inner = (times > centers[0]) & (times < centers[-1])
    scores = {m: [] for m in METHODS}
    level1_scores = []
    start = time.perf_counter()
    for i in range(args.samples):
        blur, frames_gt, sub = render(photos[i % len(photos)], rng, cfg, subframes=True)
        level1 = extractor.extract(blur)
        l1_psnrs, reversed_ = frame_psnrs(rgb_to_y(level1), rgb_to_y(frames_gt))
        level1_scores.append(np.mean(l1_psnrs))
        truth = level2_truth(sub)
        if reversed_:
            truth = truth[::-1]
        outputs = {
            "recursive": recursive(extractor.extract, level1, 2),
            "flow": flow(level1, times),
            "blend": blend(level1, times),
        }
        for method, frames in outputs.items():
            scores[method].append([psnr(rgb_to_y(f), rgb_to_y(t)) for f, t in zip(frames, truth)])
    result = {"samples": args.samples, "size": args.size, "seed": args.seed,
              "model": str(extractor.session.model_path),
              "level1_psnr": round(float(np.mean(level1_scores)), 3),
              "seconds": round(time.perf_counter() - start, 1)}
    for method, rows in scores.items():
        arr = np.array(rows)
        result[method] = {"psnr": round(float(arr.mean()), 3),
                          "inner": round(float(arr[:, inner].mean()), 3),
                          "ends": round(float(arr[:, ~inner].mean()), 3)}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{args.samples} samples of {args.size}x{args.size} (seed {args.seed}), level 2 "
          f"(42 frames), Y PSNR against the ground truth at each frame's time\n")
    print("| method | all 42 frames | inner (between level-1 centers) | ends |")
    print("|---|---:|---:|---:|")
    for method in METHODS:
        r = result[method]
        print(f"| {method} | {r['psnr']:.2f} | {r['inner']:.2f} | {r['ends']:.2f} |")
    print(f"\nlevel-1 frames vs their ground truth: {result['level1_psnr']:.2f} dB; "
          f"{result['seconds']:.0f} s")


if __name__ == "__main__":
    main()
