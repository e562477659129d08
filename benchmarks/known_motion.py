#!/usr/bin/env python3
"""A yardstick that knows the motion: deconvolution with the synthesizer's true camera path.

    python benchmarks/known_motion.py --images ~/.cache/blurvid/photos/val -n 200 \\
        --size 256x256 --seed 1234 [--realistic] [--set KEY=VALUE ...] [--weight W ...] [--json]

For camera translation only (the synthesizer with rotation, zoom, perspective, parallax layers
and moving objects off; acceleration and shake are translations and allowed), every sub-frame
is the sharp scene shifted by the path, ``S_m(x) = S(x + d_m)``, so in linear light the photo
is ``B = K_all * S`` and frame i is ``F_i = K_i * S``, with the transfer functions
``K(w) = mean_m exp(i w.d_m)`` over all sub-frames or over frame i's group. Told ``d_m``, it
finds the scene by regularised least squares (:func:`deconvolve_frames`: a smoothness prior of
weight W, the photo's own pixels as the only data, so its edges do not ring) and renders the 7
frames from it. It is not a method a user could run (it is told the motion and the direction
of time, and W is picked on the set itself); it says how much of the 7 frames a classical
deconvolution recovers when the motion is known exactly: where a blind network stands
against a method that does not have to find the motion.

The samples are rendered exactly as ``blurvid synth`` with the same ``--images``, ``-n``,
``--size``, ``--seed``, ``--realistic`` and ``--set`` writes them (its INPUT row equals ``blurvid bench`` on
that folder). Prints Y PSNR per frame (order-invariant, like ``blurvid bench``) for INPUT and
the deconvolution at each W, and by blur length at the best W.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from blurvid.lab.bench import blur_length_table, by_blur_length, parse_size
from blurvid.color import from_linear, rgb_to_y, to_linear
from blurvid.deconvolution import gradient_power, transfer_functions
from blurvid.lab.data.synth import NUM_FRAMES, SynthConfig, parse_settings, render_samples
from blurvid.io import photos_in
from blurvid.metrics import frame_psnrs

WEIGHTS = (3e-3, 1e-2)


def check_translation_only(cfg: SynthConfig) -> None:
    """Raise ValueError unless every sub-frame is a shift of one image."""
    moving = {k: getattr(cfg, k) for k in ("max_rotation_px", "max_zoom_px", "perspective_px",
                                            "p_layer", "max_objects") if getattr(cfg, k)}
    if moving:
        raise ValueError("known motion needs camera translation only; set these to 0: "
                         + ", ".join(f"{k}={v}" for k, v in moving.items()))


def deconvolve_frames(blur: np.ndarray, path: np.ndarray, per_frame: int, weight: float,
                      pad: int, iters: int = 150) -> np.ndarray:
    """(7, h, w, 3) gamma-encoded frames from a gamma-encoded ``blur`` (h, w, 3) that is
    known to be the sub-frame shifts ``path`` (M, 2) of one scene.

    Per linear-light channel, the scene ``S`` on a grid ``pad`` px larger on every side (the
    photo saw content beyond its edges) minimises ``|crop(K_all * S) - B|^2 + weight *
    |grad S|^2`` by conjugate gradients from the mirrored photo; frame i is ``crop(K_i * S)``.
    Only the photo's own pixels are data, so its edges cause no ringing.
    """
    h, w = blur.shape[:2]
    grid = (h + 2 * pad, w + 2 * pad)
    k_all, k_frames = transfer_functions(path, grid, per_frame)
    smooth = gradient_power(grid)
    inside = (slice(pad, pad + h), slice(pad, pad + w))
    lin = to_linear(blur.astype(np.float32)).astype(np.float64)

    def normal(s):  # (A^T A + weight D^T D) s
        image = np.real(np.fft.ifft2(k_all * np.fft.fft2(s)))
        masked = np.zeros_like(image)
        masked[inside] = image[inside]
        spectrum = np.conj(k_all) * np.fft.fft2(masked) + weight * smooth * np.fft.fft2(s)
        return np.real(np.fft.ifft2(spectrum))

    out = np.empty((NUM_FRAMES, h, w, 3), np.float32)
    for c in range(3):
        data = np.zeros(grid)
        data[inside] = lin[..., c]
        rhs = np.real(np.fft.ifft2(np.conj(k_all) * np.fft.fft2(data)))
        s = np.pad(lin[..., c], pad, mode="reflect")
        r = rhs - normal(s)
        d, rr = r.copy(), float(np.sum(r * r))
        for _ in range(iters):
            q = normal(d)
            step = rr / max(float(np.sum(d * q)), 1e-30)
            s += step * d
            r -= step * q
            rr, old = float(np.sum(r * r)), rr
            if rr < 1e-20:
                break
            d = r + (rr / old) * d
        spectrum = np.fft.fft2(s)
        for i in range(NUM_FRAMES):
            out[i, ..., c] = np.real(np.fft.ifft2(k_frames[i] * spectrum))[inside]
    return from_linear(np.clip(out, 0, 1))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", required=True)
    ap.add_argument("-n", "--count", type=int, default=200)
    ap.add_argument("--size", default="256x256")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--realistic", action="store_true",
                    help="start from the realistic settings (then --set the non-translations "
                         "to 0: perspective_px, p_layer, max_objects, max_rotation_px, "
                         "max_zoom_px)")
    ap.add_argument("--set", dest="settings", action="append", default=[],
                    metavar="KEY=VALUE")
    ap.add_argument("--weight", type=float, nargs="+", default=list(WEIGHTS),
                    help="smoothness weights to try")
    ap.add_argument("--pad", type=int, default=32,
                    help="px of scene solved for beyond each edge (>= half the blur)")
    ap.add_argument("--iters", type=int, default=150, help="conjugate-gradient iterations")
    ap.add_argument("--json", action="store_true", help="print JSON instead of tables")
    args = ap.parse_args(argv)
    try:
        make = SynthConfig.realistic if args.realistic else SynthConfig
        cfg = make(size=parse_size(args.size), **parse_settings(args.settings))
        check_translation_only(cfg)
    except ValueError as exc:
        print(f"known_motion: {exc}", file=sys.stderr)
        return 1
    rows = []
    for blur, truth, info in render_samples(photos_in(args.images, "--images"), args.count,
                                            cfg, args.seed):
        truth_y = rgb_to_y(truth)
        row = {"blur_px": info["length"],
               "input": frame_psnrs(rgb_to_y(blur), truth_y)[0]}
        for weight in args.weight:
            frames = deconvolve_frames(blur, info["path"], cfg.subframes_per_frame, weight,
                                       args.pad, args.iters)
            row[weight] = frame_psnrs(rgb_to_y(frames), truth_y)[0]
        rows.append(row)

    def mean_frames(key, subset=rows):
        return np.mean([r[key] for r in subset], axis=0)

    inp = mean_frames("input")
    result = {"samples": len(rows), "input_frames": inp.round(3).tolist(),
              "input_mean": round(float(inp.mean()), 3), "known_motion": {}}
    for weight in args.weight:
        f = mean_frames(weight)
        result["known_motion"][str(weight)] = {"frames": f.round(3).tolist(),
                                               "mean": round(float(f.mean()), 3),
                                               "gain_mean": round(float(f.mean() - inp.mean()), 3),
                                               "gain_middle": round(float(f[3] - inp[3]), 3)}
    best = max(args.weight, key=lambda n: result["known_motion"][str(n)]["mean"])
    result["best_weight"] = best
    middle = NUM_FRAMES // 2
    per_sample = [{"name": str(i), "psnr_mean": np.mean(r[best]), "psnr_middle": r[best][middle],
                   "input_mean": np.mean(r["input"]), "input_middle": r["input"][middle]}
                  for i, r in enumerate(rows)]
    result["by_blur_px"] = by_blur_length(per_sample,
                                          {str(i): r["blur_px"] for i, r in enumerate(rows)})
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print("| Y PSNR | " + " | ".join(str(k + 1) for k in range(NUM_FRAMES)) + " | mean |")
    print("|---|" + "---:|" * (NUM_FRAMES + 1))
    print("| INPUT | " + " | ".join(f"{v:.2f}" for v in inp) + f" | {inp.mean():.2f} |")
    for weight in args.weight:
        f = mean_frames(weight)
        print(f"| known motion, W={weight:g} | " + " | ".join(f"{v:.2f}" for v in f)
              + f" | {f.mean():.2f} |")
    print()
    top = result["known_motion"][str(best)]
    print(f"best W {best:g}: gain {top['gain_mean']:+.2f} dB mean, "
          f"{top['gain_middle']:+.2f} dB middle; {len(rows)} samples")
    print()
    print(blur_length_table(result["by_blur_px"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
