#!/usr/bin/env python3
"""Training speed (iterations/s) of the recipes, stage 1 and stage 2, data included.

    python benchmarks/train_speed.py --images ~/.cache/blurvid/photos/train [--steps 20]
        [--threads 2] [--device cpu]

For train/fast.yaml and train/paper.yaml (batch and crop as in the recipes): builds the
trainer, renders batches with the synthesiser, runs 2 warm-up steps, then times ``--steps``
generator steps (with the discriminator step in stage 2) and, separately, the batch rendering.
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import torch

from blurvid.train.config import load_config
from blurvid.train.trainer import SyntheticBatches, Trainer

ROOT = Path(__file__).resolve().parent.parent


def measure(recipe: str, stage: int, args) -> dict:
    cfg = load_config(ROOT / "train" / recipe, [f"content_only_steps={0 if stage == 2 else 10**9}"],
                      device=args.device, threads=args.threads, data__images=args.images)
    torch.set_num_threads(cfg.threads)
    trainer = Trainer(cfg)
    batches = SyntheticBatches(cfg, np.random.default_rng(0))
    data = [batches.next() for _ in range(args.steps + 2)]
    start = time.perf_counter()
    for _ in range(args.steps):
        batches.next()
    data_s = (time.perf_counter() - start) / args.steps
    for batch in data[:2]:
        trainer.optimize_parameters(*batch)
    if trainer.device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for batch in data[2:]:
        trainer.optimize_parameters(*batch)
    if trainer.device.type == "cuda":
        torch.cuda.synchronize()
    step_s = (time.perf_counter() - start) / args.steps
    return {"recipe": recipe, "stage": stage, "arch": cfg.model.arch, "batch": cfg.data.batch,
            "crop": cfg.data.crop, "step_s": step_s, "data_s": data_s}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", required=True)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    rows = [measure("fast.yaml", 1, args), measure("paper.yaml", 1, args),
            measure("paper.yaml", 2, args)]
    print(f"`python benchmarks/train_speed.py --images ... --steps {args.steps} --threads "
          f"{args.threads} --device {args.device}` on {platform.machine()}, torch "
          f"{torch.__version__}\n")
    print("| recipe | stage | arch | batch x crop | s / step (model) | s / batch (data) | it/s (both, one process) |")
    print("|---|---|---|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['recipe']} | {r['stage']} | {r['arch']} | {r['batch']} x {r['crop']} | "
              f"{r['step_s']:.3f} | {r['data_s']:.3f} | {1 / (r['step_s'] + r['data_s']):.2f} |")


if __name__ == "__main__":
    main()
