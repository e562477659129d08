#!/usr/bin/env python3
"""Training speed (iterations/s) of the recipes, stage 1 and stage 2, data included.

    python benchmarks/train_speed.py --images ~/.cache/blurvid/photos/train [--steps 20]
        [--threads 2] [--device cpu] [--objects DIR] [--pipeline | --ablation [--recipe R]]

For train/fast.yaml and train/paper.yaml (batch and crop as in the recipes): builds the
trainer, renders batches with the synthesizer, runs 2 warm-up steps, then times ``--steps``
generator steps (with the discriminator step in stage 2) and, separately, the batch rendering.
Prints a Markdown table.

``--pipeline``: the fast recipe end to end (batches and steps together, as in training) for the
basic and realistic synthesizer, with the batches rendered in the training process
(``data.workers: 0``) or by one spawned worker, at 1 and ``--threads`` torch threads: which
setting keeps the model busy on this machine.

``--ablation``: seconds per generator step (with the discriminator step where the GAN is on) of
the loss arms on ``--recipe`` (default train/ablation.yaml): content only, + CBL (beta = 0.1),
+ GAN alone (alpha = 0.001, Table 2's full width), + CBL + GAN with a quarter-width and with
the full-width discriminator; model time only (the batches are rendered beforehand). The
weights do not matter: no checkpoint is loaded.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch

from blurvid.lab.train.config import load_config
from blurvid.lab.train.trainer import Trainer, make_data

ROOT = Path(__file__).resolve().parent.parent


def measure(recipe: str, stage: int, args, extra: tuple[str, ...] = ()) -> dict:
    cfg = load_config(ROOT / "train" / recipe, [f"content_only_steps={0 if stage == 2 else 10**9}",
                                                "model.init=null", *extra],
                      device=args.device, threads=args.threads, data__images=args.images)
    torch.set_num_threads(cfg.threads)
    trainer = Trainer(cfg)
    batches, _ = make_data(cfg)
    data = [tuple(map(torch.from_numpy, batches.next())) for _ in range(args.steps + 2)]
    start = time.perf_counter()
    for _ in range(args.steps):
        batches.next()
    data_s = (time.perf_counter() - start) / args.steps
    batches.close()
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


def pipeline(synth: str, workers: int, threads: int, args) -> dict:
    cfg = load_config(ROOT / "train" / "fast.yaml", [f"data.synth={synth}", "model.init=null"],
                      device=args.device,
                      threads=threads, data__images=args.images, data__val_samples=1,
                      data__objects=args.objects if synth == "realistic" else None,
                      data__workers=workers)
    torch.set_num_threads(threads)
    trainer = Trainer(cfg)
    batches, _ = make_data(cfg)
    try:
        for _ in range(3):  # warm-up (and the workers' start)
            trainer.optimize_parameters(*map(torch.from_numpy, batches.next()))
        start = time.perf_counter()
        for _ in range(args.steps):
            trainer.optimize_parameters(*map(torch.from_numpy, batches.next()))
        seconds = time.perf_counter() - start
    finally:
        batches.close()
    return {"synth": synth, "workers": workers, "threads": threads, "its": args.steps / seconds}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", required=True)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--objects", default=None, help="cut-outs for the realistic synthesizer")
    p.add_argument("--pipeline", action="store_true", help="end-to-end it/s of the fast recipe")
    p.add_argument("--ablation", action="store_true", help="s/step of the loss ablation's arms")
    p.add_argument("--recipe", default="ablation.yaml", help="recipe of train/ for --ablation")
    args = p.parse_args()
    if args.ablation:
        arms = [("content only", ("loss.beta=0", "loss.alpha=0")),
                ("+ CBL (beta 0.1)", ("loss.beta=0.1", "loss.alpha=0")),
                ("+ GAN (alpha 0.001), discriminator width 1 (Table 2)",
                 ("loss.beta=0", "loss.alpha=0.001", "loss.disc_width=1.0")),
                ("+ CBL + GAN, discriminator width 0.25",
                 ("loss.beta=0.1", "loss.alpha=0.001", "loss.disc_width=0.25")),
                ("+ CBL + GAN, discriminator width 1 (Table 2)",
                 ("loss.beta=0.1", "loss.alpha=0.001", "loss.disc_width=1.0"))]
        print(f"`python benchmarks/train_speed.py --images ... --ablation --recipe {args.recipe} "
              f"--steps {args.steps} --threads {args.threads} --device {args.device}` on "
              f"{platform.machine()}, torch {torch.__version__}\n")
        print(f"| arm of train/{args.recipe} | s / step (model) |")
        print("|---|---:|")
        for name, extra in arms:
            r = measure(args.recipe, 2, args, ("data.objects=null", "data.workers=0", *extra))
            print(f"| {name} | {r['step_s']:.3f} |", flush=True)
        return
    if args.pipeline:
        rows = [pipeline(s, w, t, args) for s in ("basic", "realistic") for w in (0, 1)
                for t in sorted({1, args.threads})]
        print(f"`python benchmarks/train_speed.py --images ... --objects ... --pipeline --steps "
              f"{args.steps} --threads {args.threads}` on {platform.machine()}, torch "
              f"{torch.__version__}\n")
        print("| synthesizer | data workers | torch threads | it/s (fast recipe, end to end) |")
        print("|---|---:|---:|---:|")
        for r in rows:
            print(f"| {r['synth']} | {r['workers']} | {r['threads']} | {r['its']:.2f} |")
        return
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
