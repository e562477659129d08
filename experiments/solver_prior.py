#!/usr/bin/env python3
"""The exposure solver told the true camera motion: its prior, steps and tiles compared.

    python experiments/solver_prior.py 27:1 27:2 27:8 \\
        --variants "quadratic, 128 px (tile=128,iters=8,rounds=0)" \\
                   "sparse 2x4, 128 px (tile=128,iters=8,steps=4)" "default ()"

Each clip (``SEED:CLIP`` of ``benchmarks/video_motion.py``'s sets) is rendered as the
benchmark renders it; every exposure is solved by :func:`blurvid.exposure_solver.solve_exposure`
told the clip's TRUE trajectory (what the motion measurement could give at most), with the
motion method's weight (:func:`blurvid.video_motion.noise_weight` of ``WEIGHT_REFINED``),
once per variant. A variant is ``name (key=value,...)``: ``tile``, ``overlap``, ``iters``
(conjugate-gradient steps of the quadratic solve), ``weight`` (a factor on the motion
method's smoothness weight), and the :class:`SparsePrior` fields
``rounds`` (0: the quadratic prior alone), ``steps``, ``power``, ``scale``, ``floor``;
what a variant does not set is the motion method's default. Printed: each exposure's gain
over INPUT per variant, then per variant the mean gain (exposure frames mean / middle, luma
dB, frames in the trajectory's order) and the seconds its solves took (the machine's load
included).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from dataclasses import fields, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import video_motion as bench  # noqa: E402  (benchmarks/video_motion.py)

from blurvid import deconvolution as dc  # noqa: E402
from blurvid import exposure_solver as es  # noqa: E402
from blurvid.io import photos_in  # noqa: E402
from blurvid.lab.data.video_synth import render_clip  # noqa: E402
from blurvid.metrics import psnr  # noqa: E402
from blurvid.video_motion import SPARSE, WEIGHT_REFINED, noise_weight  # noqa: E402

SPARSE_FIELDS = {f.name for f in fields(dc.SparsePrior)}


def parse_variant(text: str) -> tuple[str, dict]:
    """``"name (k=v,...)"`` -> (name, {k: v})."""
    match = re.fullmatch(r"\s*(.*?)\s*\(([^()]*)\)\s*", text)
    if not match:
        raise SystemExit(f"a variant is 'name (key=value,...)', got {text!r}")
    settings = {}
    for item in filter(None, (s.strip() for s in match.group(2).split(","))):
        key, value = (s.strip() for s in item.split("="))
        if key not in SPARSE_FIELDS | {"tile", "overlap", "iters", "weight"}:
            raise SystemExit(f"unknown setting {key!r} in {text!r}")
        settings[key] = float(value) if key in ("power", "scale", "floor", "weight") \
            else int(value)
    return match.group(1), settings


def solve(y: np.ndarray, trajectory, settings: dict) -> tuple[np.ndarray, float]:
    """The 7 frames of ``y`` told ``trajectory`` with ``settings``; and the seconds."""
    tile = settings.get("tile", es.TILE)
    overlap = settings.get("overlap", es.OVERLAP)
    sparse = replace(SPARSE, **{k: v for k, v in settings.items() if k in SPARSE_FIELDS})
    paths = es.tile_paths(trajectory, y.shape, tile, overlap)
    started = time.perf_counter()
    weight = settings.get("weight", 1.0) * noise_weight(WEIGHT_REFINED, y)
    frames = es.solve_exposure(y, paths, weight=weight, tile=tile,
                               overlap=overlap, iters=settings.get("iters", es.ITERS),
                               threads=2, sparse=sparse if sparse.rounds else None)
    return frames, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "blurvid/photos"
    parser.add_argument("clips", nargs="+", help="SEED:CLIP of the benchmark's sets")
    parser.add_argument("--variants", nargs="+", required=True)
    parser.add_argument("--images", type=Path, default=cache / "val")
    parser.add_argument("--objects", type=Path, default=cache / "objects")
    args = parser.parse_args()
    variants = [parse_variant(v) for v in args.variants]
    photos = photos_in(args.images, "--images")
    objects = sorted(p for p in args.objects.iterdir() if p.suffix.lower() == ".png") \
        if args.objects.is_dir() else []
    gains = {name: ([], []) for name, _ in variants}
    seconds = {name: 0.0 for name, _ in variants}
    for item in args.clips:
        seed, n = (int(v) for v in item.split(":"))
        spec = bench.clip_specs(False, seed)[n]
        clip = render_clip(photos[n % len(photos)], spec, objects)
        for t in range(spec.frames):
            y = bench._y(clip.blur[t]).astype(np.float32)
            truth = [bench._y(f) for f in clip.truth[t]]
            inputs = [psnr(y, f) for f in truth]
            row = []
            for name, settings in variants:
                frames, took = solve(y, clip.trajectory(t), settings)
                seconds[name] += took
                scores = [psnr(frames[k], truth[k]) for k in range(len(truth))]
                gains[name][0].append(np.mean(scores) - np.mean(inputs))
                gains[name][1].append(scores[3] - inputs[3])
                row.append(f"{gains[name][0][-1]:+.2f}")
            print(f"{item} exposure {t}: INPUT {np.mean(inputs):.2f} dB | " + " | ".join(row),
                  flush=True)
    print("\n| variant | gain over INPUT, mean / middle | solve seconds |\n|---|---:|---:|")
    for name, _ in variants:
        mean, middle = gains[name]
        print(f"| {name} | {np.mean(mean):+.2f} / {np.mean(middle):+.2f} | "
              f"{seconds[name]:.1f} |")


if __name__ == "__main__":
    main()
