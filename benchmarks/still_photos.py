#!/usr/bin/env python3
"""Still photos: a sharp photo taken without motion should come back as 7 copies of itself.

    python benchmarks/still_photos.py --images ~/.cache/blurvid/photos/val \\
        [--model fast --model other.onnx] [--max-side 768] [--soften 0 0.7 1.2] [--threads 2]
        [--projection none|lowpass|exact]

For every photo (read at up to ``--max-side`` px, optionally softened by a Gaussian of
``--soften`` px to mimic a soft lens, then quantized to 8 bits), runs the model and reports the
Y PSNR of the 7 frames against the photo itself (higher is better; identical frames would be
infinite): how much a model alters a scene that did not move. The last column, "1 vs 7", is
the Y PSNR between the first and the last frame on the photos as read (no softening): the
motion the model invents (a still scene has none: infinite). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import platform

import cv2
import numpy as np

from blurvid.color import from_linear, rgb_to_y
from blurvid.lab.data.synth import list_images, load_photo
from blurvid.metrics import psnr
from blurvid.consistency import PROJECTIONS
from blurvid.ensemble import ENSEMBLE_SIZES
from blurvid.pipeline import DEFAULT_PROJECTION, Extractor


def still_psnr(extractor: Extractor, photos: list[np.ndarray]) -> tuple[float, float]:
    """(mean Y PSNR of the 7 frames against the photo, mean Y PSNR of frame 1 against frame
    7), averaged over the photos."""
    scores, ends = [], []
    for img in photos:
        frames = rgb_to_y(extractor.extract(img))
        y = rgb_to_y(img)
        scores.append(float(np.mean([psnr(f, y) for f in frames])))
        ends.append(psnr(frames[0], frames[-1]))
    return float(np.mean(scores)), float(np.mean(ends))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", required=True)
    p.add_argument("--model", action="append", default=None,
                   help="a bundled name or an ONNX file (repeatable; default: fast)")
    p.add_argument("--max-side", type=int, default=768)
    p.add_argument("--soften", type=float, nargs="+", default=[0.0, 0.7, 1.2])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--projection", default=DEFAULT_PROJECTION, choices=PROJECTIONS)
    p.add_argument("--ensemble", type=int, default=1, choices=ENSEMBLE_SIZES,
                   help="self-ensemble size (blurvid.ensemble)")
    args = p.parse_args()
    models = args.model or ["fast"]
    sharp = [from_linear(load_photo(path, max_side=args.max_side)).astype(np.float32)
             for path in list_images(args.images)]
    print(f"`python benchmarks/still_photos.py --images {args.images} --max-side "
          f"{args.max_side} --soften {' '.join(map(str, args.soften))}"
          + "".join(f" --model {m}" for m in models) + f" --projection {args.projection}"
          + (f" --ensemble {args.ensemble}" if args.ensemble != 1 else "") + "` on "
          f"{platform.machine()}, "
          f"{len(sharp)} photos\n")
    print("| model | " + " | ".join(f"soften {s} px" for s in args.soften) + " | 1 vs 7 |")
    print("|---|" + "---:|" * (len(args.soften) + 1))
    for model in models:
        extractor = Extractor(model, device="cpu", threads=args.threads,
                              projection=args.projection, ensemble=args.ensemble)
        scores = {}  # sigma -> (mean PSNR to the photo, frame 1 vs 7); 0 is always measured
        for sigma in dict.fromkeys([0.0, *args.soften]):
            photos = [np.round(np.clip(cv2.GaussianBlur(img, (0, 0), sigma) if sigma else img,
                                       0, 1) * 255) / 255 for img in sharp]
            scores[sigma] = still_psnr(extractor, [p.astype(np.float32) for p in photos])
        row = [scores[sigma][0] for sigma in args.soften]
        ends = scores[0.0][1]
        print(f"| {model} | " + " | ".join(f"{v:.2f} dB" for v in row) + f" | {ends:.2f} dB |")


if __name__ == "__main__":
    main()
