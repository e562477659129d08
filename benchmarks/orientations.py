#!/usr/bin/env python3
"""Does a model answer the same whichever way the photo is turned? Y PSNR per orientation.

    python benchmarks/orientations.py --data examples --model fast [--model OTHER.onnx ...]
        [--max-samples 20] [--threads 2]

For each sample of ``--data`` (any layout ``blurvid bench`` reads) and each of the 8
rotations/mirrors of :data:`blurvid.ensemble.TRANSFORMS`: the generator on the turned luma,
turned back, clipped, scored against the true frames (mean Y PSNR over the 7 frames,
order-invariant, no projection). A model without a handedness scores about the same in every
column; the self-ensemble (``--ensemble``) combines these 8 answers. Prints a Markdown table:
the mean over samples per orientation, and the spread (best minus worst column).
"""

from __future__ import annotations

import argparse

import numpy as np

from blurvid.color import rgb_to_y
from blurvid.lab.data.layouts import read_dataset
from blurvid.ensemble import TRANSFORMS, dihedral, dihedral_inverse
from blurvid.metrics import frame_psnrs
from blurvid.runtime import GeneratorSession, resolve_model

NAMES = ("photo", "rot180", "rot90", "rot270", "mirror 1", "mirror 2", "mirror 3", "mirror 4")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--model", action="append", required=True)
    p.add_argument("--max-samples", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    samples = [s for s in read_dataset(args.data, max_samples=args.max_samples)
               if len(s.frames) == 7]
    lumas = [(rgb_to_y(s.blur).astype(np.float32),
              np.stack([rgb_to_y(f) for f in s.frames]).astype(np.float32)) for s in samples]
    assert len(NAMES) == len(TRANSFORMS)
    input_db = np.mean([np.mean(frame_psnrs(y, truth)[0]) for y, truth in lumas])
    print(f"`python benchmarks/orientations.py --data {args.data} "
          f"{' '.join('--model ' + m for m in args.model)} --max-samples {args.max_samples}`: "
          f"{len(lumas)} samples, no projection, INPUT {input_db:.2f} dB\n")
    print(f"| model | {' | '.join(NAMES)} | spread |")
    print(f"|---|{'---:|' * (len(NAMES) + 1)}")
    for model in args.model:
        session = GeneratorSession(resolve_model(model), device="cpu", threads=args.threads)
        scores = np.zeros((len(lumas), len(TRANSFORMS)))
        for i, (y, truth) in enumerate(lumas):
            for k in range(len(TRANSFORMS)):
                out = session.run(np.ascontiguousarray(dihedral(y, k)))
                frames = np.clip(np.ascontiguousarray(dihedral_inverse(out, k)), 0, 1)
                scores[i, k] = np.mean(frame_psnrs(frames, truth)[0])
        mean = scores.mean(0)
        print(f"| {model} | {' | '.join(f'{v:.2f}' for v in mean)} | "
              f"{mean.max() - mean.min():.2f} |", flush=True)


if __name__ == "__main__":
    main()
