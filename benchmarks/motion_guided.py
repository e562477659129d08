#!/usr/bin/env python3
"""Motion-guided reconstruction (issue 19) side by side on the same samples: INPUT, the bundled
model, the non-blind solver (:mod:`blurvid.deconvolution`) told the true camera path,
known_motion's CG yardstick, and the solver with a path from an estimator.

    python benchmarks/motion_guided.py --images ~/.cache/blurvid/photos/val --realistic \\
        [--objects ~/.cache/blurvid/photos/objects] -n 200 --size 256x256 --seed 1234 \\
        [--translation] [--set KEY=VALUE ...] [--estimator PATH.onnx] [--yardstick] \\
        [--rgb] [--oracle] [--threads 1] [--json]
    python benchmarks/motion_guided.py --images ... --realistic --translation -n 48 --sweep
    python benchmarks/motion_guided.py --images ... --speed [--threads 2]

Samples are rendered exactly as ``blurvid synth`` with the same ``--images``, ``-n``,
``--size``, ``--seed``, ``--realistic``, ``--objects`` and ``--set`` writes them
(:func:`blurvid.lab.data.synth.render_samples`, as benchmarks/known_motion.py), with each
sample's motion. ``--translation`` switches off every non-translation (perspective, parallax
layers, moving objects, rotation, zoom): the solver's model is then exact. On the realistic
set the told path is the image center's camera path, a translation that only approximates
rotation, zoom, perspective, parallax and moving objects.

Rows (Y PSNR per frame, order-invariant like ``blurvid bench``; gains over INPUT):

* INPUT: the blurry photo against each sharp frame;
* model: the bundled generator (``blurvid.pipeline.Extractor``, default projection) on the
  blurry RGB photo;
* told path: :func:`blurvid.deconvolution.deconvolve_y` on the photo's luma given the true
  path's group centers and ``--weight`` (default: :func:`~blurvid.deconvolution.weight_for`
  of 0 px, the exact path); ``--rgb`` adds the same per RGB channel (the cost of deconvolving
  luma instead of the three channels);
* told path per window (realistic settings): the same per 128 px window (``--est-tile``,
  ``--est-overlap``; :func:`blurvid.deconvolution.deconvolve_tiled`), each told the camera's
  translation, rotation and zoom at its center (:func:`window_paths`; perspective, parallax
  and moving objects are left out: one path per window cannot hold them, ``--oracle`` does);
* CG yardstick (``--yardstick``, slow): known_motion's solver (RGB, ``--yardstick-iters``);
* told the exact formation (``--oracle``, slow): :mod:`layered_oracle`'s sparse solver given
  every layer's exact motion and coverage (camera, parallax layer, cut-outs); the same given
  only the camera's exact homographies (no layers); and given every layer's motion off by a
  smooth error of ``--oracle-errors`` px rms (the coverage still exact): how accurate a
  dense or layered motion estimate must be;
* estimated path (``--estimator``): the ONNX estimator (input ``blur`` float32 (N, 1, 128, 128)
  gamma luma -> ``path`` (N, 7, 2) group centers in px, optional ``log_sigma`` (N,), its
  predicted rms error) on overlapping 128 px windows
  (:func:`blurvid.lab.motion.estimate_paths`); the solver per window
  (:func:`blurvid.deconvolution.deconvolve_tiled`, weight from each window's ``log_sigma``),
  and with one path for the photo (the windows' mean). Its accuracy (rms error of the group
  centers after removing the mean, forward or reversed; path length error) is
  reported against the center's true path, by blur length.

The clean-up network's rows (the generator's and the solver's frames merged) come from
``python -m blurvid.lab.train.fusion eval`` on the same samples; path refinement was tried and
dropped (docs/experiments.md). ``--sweep`` prints the table that sets ``weight_for``: gains
with the true path perturbed by a smooth error of a given rms (px) against the smoothness
weight. ``--speed`` times the solver on a 1280x720 photo.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from blurvid import deconvolution as dc  # noqa: E402
from blurvid.color import rgb_to_y  # noqa: E402
from blurvid.consistency import NUM_FRAMES  # noqa: E402
from blurvid.io import list_images, photos_in  # noqa: E402
from blurvid.lab.bench import blur_span, by_blur_length, parse_size  # noqa: E402
from blurvid.lab.data.synth import (TRANSLATION_ONLY, SynthConfig, load_object,  # noqa: E402
                                    load_photo, parse_settings, render_samples,
                                    smooth_path_error)
from blurvid.lab.motion import estimate_paths  # noqa: E402
from blurvid.metrics import frame_psnrs  # noqa: E402

MIDDLE = NUM_FRAMES // 2
SWEEP_RMS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0)
ORACLE_WEIGHT = 0.03  # the exact formation's smoothness weight; W = 0.03 (1 + rms)^2 with an
# error of rms px (the sweep: docs/experiments.md, "A solver told everything")
SWEEP_WEIGHTS = (0.07, 0.1, 0.15, 0.2, 0.3, 0.45, 0.7, 1.0, 1.5, 2.0, 3.0)


# ------------------------------------------------------------------------------ estimator


# ------------------------------------------------------------------------------ helpers


def smooth_error(groups: np.ndarray, rms: float, rng: np.random.Generator) -> np.ndarray:
    """``groups`` (7, 2) plus a random linear + quadratic error in time whose rms after
    removing the mean is exactly ``rms`` px (the error :func:`~blurvid.deconvolution.path_error`
    measures; :func:`~blurvid.lab.data.synth.smooth_path_error`). No draw for ``rms`` 0."""
    if rms == 0:
        return groups.copy()
    return groups + rms * smooth_path_error(rng)


def window_paths(info: dict, shape: tuple[int, int], tile: int, overlap: int) -> np.ndarray:
    """(R, C, 7, 2) true group centers at the center of each window of
    :func:`blurvid.deconvolution.tile_grid`: the camera's translation plus its rotation and
    zoom about the image center (the synthesizer's warp, ``info``); perspective, parallax
    layers and moving objects are left out (one path per window cannot hold them)."""
    h, w = shape
    center = np.array([(w - 1) / 2, (h - 1) / 2])
    rows, cols = dc.tile_grid(shape, tile, overlap)
    angle = np.asarray(info["angle"], np.float64)
    zoom = np.exp(np.asarray(info["log_zoom"], np.float64))
    cos, sin = zoom * np.cos(angle), zoom * np.sin(angle)
    out = np.empty((len(rows), len(cols), NUM_FRAMES, 2))
    for i, (r0, r1) in enumerate(rows):
        for j, (c0, c1) in enumerate(cols):
            x, y = np.array([(c0 + c1 - 1) / 2, (r0 + r1 - 1) / 2]) - center
            # output pixel p -> source center + rot (p - center) + path: a shift of
            # (rot - I) (p - center) + path at p
            sub = np.stack([cos * x - sin * y - x, sin * x + cos * y - y], axis=1) + info["path"]
            out[i, j] = dc.group_centers(sub)
    return out


def make_config(args) -> SynthConfig:
    settings = list(TRANSLATION_ONLY if args.translation else ()) + list(args.settings)
    make = SynthConfig.realistic if args.realistic else SynthConfig
    return make(size=parse_size(args.size), **parse_settings(settings))


def set_threads(threads: int) -> None:
    import cv2

    cv2.setNumThreads(threads)


def summary(rows: list[dict], key: str) -> dict:
    f = np.mean([r[key] for r in rows], axis=0)
    inp = np.mean([r["input"] for r in rows], axis=0)
    return {"frames": [round(float(v), 3) for v in f], "mean": round(float(f.mean()), 3),
            "middle": round(float(f[MIDDLE]), 3),
            "gain_mean": round(float(f.mean() - inp.mean()), 3),
            "gain_middle": round(float(f[MIDDLE] - inp[MIDDLE]), 3),
            "frames_above_input": int(np.sum(f > inp))}


def blur_bins(rows: list[dict], key: str) -> list[dict]:
    per_sample = [{"name": str(i), "psnr_mean": float(np.mean(r[key])),
                   "psnr_middle": r[key][MIDDLE], "input_mean": float(np.mean(r["input"])),
                   "input_middle": r["input"][MIDDLE]} for i, r in enumerate(rows)]
    return by_blur_length(per_sample, {str(i): r["blur_px"] for i, r in enumerate(rows)})


def accuracy_bins(rows: list[dict]) -> list[dict]:
    """Estimator accuracy per blur-length bin (the bins of :func:`by_blur_length`)."""
    from blurvid.lab.bench import BLUR_BINS

    out = []
    for low, high in zip(BLUR_BINS[:-1], BLUR_BINS[1:]):
        sel = [r for r in rows if low <= r["blur_px"] < high]
        if not sel:
            continue
        rms = np.array([r["est_rms"] for r in sel])
        length = np.array([r["est_length_err"] for r in sel])
        entry = {"blur_px": [low, None if high == float("inf") else high], "samples": len(sel),
                 "rms_mean": round(float(rms.mean()), 3),
                 "rms_median": round(float(np.median(rms)), 3),
                 "length_err_mean": round(float(length.mean()), 3),
                 "length_err_abs": round(float(np.abs(length).mean()), 3),
                 "tiles_rms_mean": round(float(np.mean([r["est_tiles_rms"] for r in sel])), 3)}
        if sel[0].get("est_sigma") is not None:
            entry["sigma_pred_mean"] = round(float(np.mean([r["est_sigma"] for r in sel])), 3)
        out.append(entry)
    return out


# ------------------------------------------------------------------------------ modes


def run_table(args, cfg: SynthConfig, samples) -> dict:
    arms: dict = {}
    if not args.no_model:
        from blurvid.pipeline import Extractor

        extractor = Extractor(threads=args.threads)
        arms["model"] = lambda blur, y, info: rgb_to_y(extractor.extract(blur))
    weight = args.weight if args.weight is not None else dc.weight_for(0.0)

    def told(blur, y, info):
        return dc.deconvolve_y(y, dc.group_centers(info["path"]), weight)

    arms[f"told path, W={weight:g}"] = told
    if args.realistic and not args.translation:
        def told_windows(blur, y, info):
            paths = window_paths(info, y.shape, args.est_tile, args.est_overlap)
            return dc.deconvolve_tiled(y, paths, args.est_tile, args.est_overlap, weight)

        arms[f"told path per {args.est_tile} px window (rotation, zoom), W={weight:g}"] = \
            told_windows
    if args.rgb:
        def told_rgb(blur, y, info):
            g = dc.group_centers(info["path"])
            rgb = np.stack([dc.deconvolve_y(np.ascontiguousarray(blur[..., c]), g, weight)
                            for c in range(3)], axis=-1)
            return rgb_to_y(rgb)

        arms[f"told path, W={weight:g}, per RGB channel"] = told_rgb
    if args.yardstick:
        from known_motion import deconvolve_frames

        def yardstick(blur, y, info):
            return rgb_to_y(deconvolve_frames(blur, info["path"], cfg.subframes_per_frame,
                                              args.yardstick_weight, 32, args.yardstick_iters))

        arms[f"CG yardstick (known_motion, RGB, W={args.yardstick_weight:g}, "
             f"{args.yardstick_iters} iters)"] = yardstick
    if args.oracle:
        from layered_oracle import perturb_scene, solve_frames

        w0 = args.oracle_weight

        def oracle(rms: float, camera_only: bool = False):
            w = w0 * (1 + rms) ** 2

            def run(blur, y, info):
                scene = info["scene"]
                if rms:  # one error per sample and size, the same for every run
                    seed = int(1e6 * info["length"]) % 2**31
                    scene = perturb_scene(scene, rms, np.random.default_rng(seed))
                return solve_frames(y, scene, w, args.oracle_iters, camera_only)
            return run

        arms[f"told the exact formation: every layer's motion and coverage, W={w0:g}"] = oracle(0)
        arms[f"told the exact camera motion (rotation, zoom, perspective), no layers, "
             f"W={w0:g}"] = oracle(0, camera_only=True)
        for rms in args.oracle_errors:
            arms[f"told every layer's motion to {rms:g} px rms (coverage exact), "
                 f"W={w0 * (1 + rms) ** 2:g}"] = oracle(rms)
    session, cache = None, {}
    if args.estimator:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = args.threads
        opts.inter_op_num_threads = 1
        session = ort.InferenceSession(str(args.estimator), opts,
                                       providers=["CPUExecutionProvider"])
        stride = args.est_tile - args.est_overlap

        def estimated(blur, y, info):  # runs first: the estimate is kept for the next arm
            paths, sigma = estimate_paths(session, y, args.est_tile, stride)
            cache["paths"], cache["sigma"] = paths, sigma
            w = np.vectorize(dc.weight_for)(sigma) if sigma is not None \
                else np.full(paths.shape[:2], args.est_weight)
            return dc.deconvolve_tiled(y, paths, args.est_tile, args.est_overlap, w)

        def estimated_one(blur, y, info):
            paths, sigma = cache["paths"], cache["sigma"]
            w = dc.weight_for(float(np.median(sigma))) if sigma is not None else args.est_weight
            return dc.deconvolve_y(y, dc.one_path(paths), w)

        arms["estimated path, per window"] = estimated
        arms["estimated path, one for the photo"] = estimated_one
    rows, times = [], {name: 0.0 for name in arms}
    for k, (blur, truth, info) in enumerate(samples):
        truth_y = rgb_to_y(truth)
        y = rgb_to_y(blur)
        row = {"blur_px": float(info["length"]), "input": frame_psnrs(y, truth_y)[0]}
        for name, fn in arms.items():
            start = time.perf_counter()
            frames = fn(blur, y, info)
            times[name] += time.perf_counter() - start
            row[name] = frame_psnrs(np.clip(frames, 0, 1), truth_y)[0]
        if session is not None:
            true_groups = dc.group_centers(info["path"])
            est = dc.one_path(cache["paths"])
            row["est_rms"] = dc.path_error(est, true_groups)[0]
            row["est_length_err"] = dc.path_length(est) - dc.path_length(true_groups)
            row["est_tiles_rms"] = float(np.mean([dc.path_error(p, true_groups)[0] for p in
                                                  cache["paths"].reshape(-1, NUM_FRAMES, 2)]))
            row["est_sigma"] = None if cache["sigma"] is None \
                else float(np.median(cache["sigma"]))
        rows.append(row)
        if not args.json:
            print(f"{k + 1}/{args.count}", file=sys.stderr, end="\r")
    if not rows:
        raise ValueError("no samples")
    inp = np.mean([r["input"] for r in rows], axis=0)
    result = {"samples": len(rows), "settings": {k: v for k, v in vars(cfg).items()},
              "input": {"frames": [round(float(v), 3) for v in inp],
                        "mean": round(float(inp.mean()), 3),
                        "middle": round(float(inp[MIDDLE]), 3)},
              "methods": {}, "by_blur_px": {}}
    for name in arms:
        result["methods"][name] = {**summary(rows, name),
                                   "ms_per_sample": round(times[name] / len(rows) * 1000, 1)}
        result["by_blur_px"][name] = blur_bins(rows, name)
    if session is not None:
        rms = np.array([r["est_rms"] for r in rows])
        length = np.array([r["est_length_err"] for r in rows])
        result["estimator"] = {"path": str(args.estimator), "rms_mean": round(float(rms.mean()), 3),
                               "rms_median": round(float(np.median(rms)), 3),
                               "length_err_mean": round(float(length.mean()), 3),
                               "length_err_abs": round(float(np.abs(length).mean()), 3),
                               "by_blur_px": accuracy_bins(rows)}
    return result


def print_table(result: dict) -> None:
    print(f"{result['samples']} samples; Y PSNR (dB), order-invariant")
    print()
    print("| method | " + " | ".join(str(k + 1) for k in range(NUM_FRAMES))
          + " | mean | middle | gain mean | gain middle | ms/sample |")
    print("|---|" + "---:|" * (NUM_FRAMES + 5))
    inp = result["input"]
    print("| INPUT | " + " | ".join(f"{v:.2f}" for v in inp["frames"])
          + f" | {inp['mean']:.2f} | {inp['middle']:.2f} | | | |")
    for name, m in result["methods"].items():
        print(f"| {name} | " + " | ".join(f"{v:.2f}" for v in m["frames"])
              + f" | {m['mean']:.2f} | {m['middle']:.2f} | {m['gain_mean']:+.2f} | "
              f"{m['gain_middle']:+.2f} | {m['ms_per_sample']:.0f} |")
    print()
    names = list(result["methods"])
    bins = {name: {blur_span(b): b for b in result["by_blur_px"][name]} for name in names}
    spans = [blur_span(b) for b in result["by_blur_px"][names[0]]] if names else []
    print("gain over INPUT by blur length, mean / middle (dB)")
    print()
    print("| blur length | samples | INPUT mean | " + " | ".join(names) + " |")
    print("|---|---:|---:|" + "---:|" * len(names))
    for span in spans:
        first = bins[names[0]][span]
        print(f"| {span} | {first['samples']} | {first['input_mean']:.2f} | " + " | ".join(
            f"{bins[n][span]['gain_mean']:+.2f} / {bins[n][span]['gain_middle']:+.2f}"
            for n in names) + " |")
    if "estimator" in result:
        e = result["estimator"]
        print()
        print(f"estimator {e['path']}: rms path error {e['rms_mean']:.2f} px mean, "
              f"{e['rms_median']:.2f} median (one path per photo, against the center's path); "
              f"length error {e['length_err_mean']:+.2f} px mean, {e['length_err_abs']:.2f} "
              f"mean absolute")
        print()
        has_sigma = any("sigma_pred_mean" in b for b in e["by_blur_px"])
        print("| blur length | samples | rms mean | rms median | per window rms | length err "
              "| abs length err |" + (" predicted sigma |" if has_sigma else ""))
        print("|---|---:|---:|---:|---:|---:|---:|" + ("---:|" if has_sigma else ""))
        for b in e["by_blur_px"]:
            print(f"| {blur_span(b)} | {b['samples']} | {b['rms_mean']:.2f} | "
                  f"{b['rms_median']:.2f} | {b['tiles_rms_mean']:.2f} | "
                  f"{b['length_err_mean']:+.2f} | {b['length_err_abs']:.2f} |"
                  + (f" {b.get('sigma_pred_mean', float('nan')):.2f} |" if has_sigma else ""))


def run_sweep(args, samples) -> dict:
    """Gain (mean / middle) against the smoothness weight, the true path perturbed by a smooth
    error of each rms: the measurements behind :func:`blurvid.deconvolution.weight_for`."""
    rng = np.random.default_rng(0)
    rows = []
    for k, (blur, truth, info) in enumerate(samples):
        truth_y, y = rgb_to_y(truth), rgb_to_y(blur)
        groups = dc.group_centers(info["path"])
        row = {"input": frame_psnrs(y, truth_y)[0]}
        for rms in SWEEP_RMS:
            path = smooth_error(groups, rms, rng)
            for w in SWEEP_WEIGHTS:
                row[(rms, w)] = frame_psnrs(dc.deconvolve_y(y, path, w), truth_y)[0]
        rows.append(row)
        print(f"{k + 1}/{args.count}", file=sys.stderr, end="\r")
    inp = np.mean([r["input"] for r in rows], axis=0)
    table = {}
    for rms in SWEEP_RMS:
        table[str(rms)] = {}
        for w in SWEEP_WEIGHTS:
            f = np.mean([r[(rms, w)] for r in rows], axis=0)
            table[str(rms)][str(w)] = [round(float(f.mean() - inp.mean()), 3),
                                       round(float(f[MIDDLE] - inp[MIDDLE]), 3)]
    return {"samples": len(rows), "gain_mean_middle": table,
            "weight_for": {str(r): round(dc.weight_for(r), 3) for r in SWEEP_RMS}}


def print_sweep(result: dict) -> None:
    print(f"{result['samples']} samples; gain over INPUT, mean / middle (dB); the true path "
          "plus a smooth error of the given rms")
    print()
    print("| path error (rms px) | " + " | ".join(f"W {w:g}" for w in SWEEP_WEIGHTS)
          + " | weight_for |")
    print("|---|" + "---:|" * (len(SWEEP_WEIGHTS) + 1))
    for rms, cells in result["gain_mean_middle"].items():
        best = max(cells, key=lambda w: cells[w][0])
        print(f"| {rms} | " + " | ".join(
            (f"**{m:+.2f} / {d:+.2f}**" if w == best else f"{m:+.2f} / {d:+.2f}")
            for w, (m, d) in cells.items()) + f" | {result['weight_for'][rms]:g} |")


def run_speed(args) -> dict:
    """Median seconds of the solver on a 1280x720 photo (the first of --images, resized) with
    a 20 px curved path: one path for the photo, and per 256 px window."""
    import cv2

    photo = load_photo(photos_in(args.images, "--images")[0])
    rgb = cv2.resize(photo, (1280, 720), interpolation=cv2.INTER_AREA)
    from blurvid.color import from_linear
    y = rgb_to_y(from_linear(np.clip(rgb, 0, 1))).astype(np.float32)
    t = np.linspace(-0.5, 0.5, NUM_FRAMES)[:, None]
    groups = t * np.array([16.0, 12.0]) + (t ** 2) * np.array([-4.0, 6.0])
    rows, cols = dc.tile_grid(y.shape, 256, 64)
    paths = np.broadcast_to(groups, (len(rows), len(cols), NUM_FRAMES, 2))
    th = args.threads
    calls = {"deconvolve_y (one path)": lambda: dc.deconvolve_y(y, groups, threads=th),
             "deconvolve_y, closed form only (iters=0)":
                 lambda: dc.deconvolve_y(y, groups, iters=0, threads=th),
             f"deconvolve_tiled (256 px windows, overlap 64: {len(rows) * len(cols)})":
                 lambda: dc.deconvolve_tiled(y, paths, 256, 64, threads=th)}
    out = {"size": "1280x720", "threads": args.threads, "seconds": {}, "cpu_seconds": {}}
    for name, fn in calls.items():
        fn()
        wall, cpu = [], []
        for _ in range(args.repeats):
            w0, c0 = time.perf_counter(), time.process_time()
            fn()
            wall.append(time.perf_counter() - w0)
            cpu.append(time.process_time() - c0)
        out["seconds"][name] = round(float(np.median(wall)), 3)
        out["cpu_seconds"][name] = round(float(np.median(cpu)), 3)
    out["load_average"] = [round(v, 2) for v in os.getloadavg()]
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", required=True)
    ap.add_argument("--objects", type=Path, help="cut-outs with alpha (realistic moving objects)")
    ap.add_argument("-n", "--count", type=int, default=200)
    ap.add_argument("--size", default="256x256")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--realistic", action="store_true", help="the realistic settings")
    ap.add_argument("--translation", action="store_true",
                    help="camera translation only: --set " + " ".join(TRANSLATION_ONLY))
    ap.add_argument("--set", dest="settings", action="append", default=[],
                    metavar="KEY=VALUE")
    ap.add_argument("--weight", type=float, help="the told-path solver's smoothness weight "
                                                 "(default: weight_for(0))")
    ap.add_argument("--rgb", action="store_true",
                    help="also the told path per RGB channel (the cost of luma only)")
    ap.add_argument("--no-model", action="store_true", help="leave out the bundled model")
    ap.add_argument("--yardstick", action="store_true", help="known_motion's CG solver (slow)")
    ap.add_argument("--yardstick-weight", type=float, default=0.1)
    ap.add_argument("--yardstick-iters", type=int, default=60)
    ap.add_argument("--oracle", action="store_true",
                    help="the solver told the exact formation (benchmarks/layered_oracle.py; "
                         "about 2 s a sample per arm)")
    ap.add_argument("--oracle-iters", type=int, default=200)
    ap.add_argument("--oracle-weight", type=float, default=ORACLE_WEIGHT,
                    help="smoothness weight with the exact formation (times (1 + rms)^2 "
                         "with an error)")
    ap.add_argument("--oracle-errors", type=float, nargs="*", default=[1.0, 2.0],
                    metavar="PX", help="also each layer's motion off by PX rms")
    ap.add_argument("--estimator", type=Path, help="a path estimator ONNX model")
    ap.add_argument("--est-tile", type=int, default=128)
    ap.add_argument("--est-overlap", type=int, default=64)
    ap.add_argument("--est-weight", type=float, default=0.3,
                    help="smoothness weight when the estimator gives no log_sigma")
    ap.add_argument("--sweep", action="store_true", help="weight against path error table")
    ap.add_argument("--speed", action="store_true", help="time the solver on 1280x720")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="OpenCV and ONNX Runtime threads")
    ap.add_argument("--json", action="store_true", help="print JSON instead of tables")
    args = ap.parse_args(argv)
    set_threads(args.threads)
    try:
        if args.speed:
            result = run_speed(args)
            print(json.dumps(result, indent=2))
            return 0
        cfg = make_config(args)
        objects = [load_object(p) for p in list_images(args.objects)] if args.objects else None
        samples = render_samples(photos_in(args.images, "--images"), args.count, cfg,
                                 args.seed, objects, scene=args.oracle)
        if args.sweep:
            result = run_sweep(args, samples)
            print(json.dumps(result, indent=2)) if args.json else print_sweep(result)
            return 0
        result = run_table(args, cfg, samples)
    except ValueError as exc:
        print(f"motion_guided: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
