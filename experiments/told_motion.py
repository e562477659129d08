#!/usr/bin/env python3
"""Finding the motion vs undoing it: the shipped network, fine-tuned while told the motion.

    python experiments/told_motion.py train --images ~/.cache/blurvid/photos/train \\
        --init blurvid/models/blurvid-fast.onnx --out runs/told-motion.pt
    python experiments/told_motion.py score --images ~/.cache/blurvid/photos/val -n 200 \\
        --seed 1234 --told runs/told-motion.pt --blind runs/try-linear/last.pt

On the linear set of docs/experiments.md ("Where the gap comes from": constant-velocity camera
translation, noise-free) the blind network gains +2 dB where a deconvolution told the motion
gains +7. This separates the two halves of the blind task. ``train`` fine-tunes the shipped
``fast`` generator on those settings with the true displacement of the exposure ``(dx, dy)``
(the camera path's end minus its start, px / 40) as an extra input: a linear map adds it to the
features at 1/4, 1/8 and 1/16 resolution, zero at the start, so step 0 is the shipped network.
Data settings, learning-rate schedule, steps, batch, seed and gradient clipping are read from
the blind arm's recipe, ``experiments/recipes/try-linear.yaml`` (``--recipe``); Adam; data rendered by one
worker process. ``score`` renders the samples exactly as ``blurvid synth``
does with the same settings and seed, runs both networks in PyTorch (no projection) and
prints the order-invariant Y PSNR per frame and its gain over INPUT, also by blur length.
If the told network gets far more than the blind one, finding the motion is what the blind
network lacks; if not, undoing it at this size is.

An experiment, not a product path: the network reads its motion from here, never from a user.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from blurvid.io import list_images
from blurvid.lab.bench import blur_length_table, by_blur_length
from blurvid.lab.data.synth import SynthConfig, load_photo, render, render_samples
from blurvid.lab.export import load_generator
from blurvid.lab.train.config import load_config
from blurvid.lab.train.losses import order_invariant_mse
from blurvid.lab.train.models import FastGenerator, pad_to_multiple
from blurvid.lab.train.trainer import lr_at, synth_configs, to_luma_batch
from blurvid.metrics import frame_psnrs

RECIPE = "experiments/recipes/try-linear.yaml"  # the blind arm: its data settings, schedule and steps
MOTION_SCALE = 40.0  # px: the longest blur


def displacement(info: dict) -> np.ndarray:
    """The exposure's camera displacement (dx, dy) / MOTION_SCALE, float32 (2,)."""
    path = info["path"]
    return ((path[-1] - path[0]) / MOTION_SCALE).astype(np.float32)


class ToldMotionGenerator(FastGenerator):
    """``fast`` with the displacement added to its features at every scale (zero at start)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        c1 = self.stem.out_channels
        self.motion = nn.ModuleList([nn.Linear(2, c) for c in (c1, 2 * c1, 4 * c1)])
        for layer in self.motion:
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, y: torch.Tensor, motion: torch.Tensor) -> torch.Tensor:
        m1, m2, m3 = (layer(motion)[:, :, None, None] for layer in self.motion)
        x, h, w = pad_to_multiple(y, self.pad_multiple)
        s1 = self.enc1(F.relu(self.stem(F.pixel_unshuffle(x, 4)) + m1))
        s2 = self.enc2(F.relu(self.down1(s1) + m2))
        s3 = self.middle(F.relu(self.down2(s2) + m3))
        d2 = self.dec2(self.up2(s3) + s2)
        d1 = self.dec1(self.up1(d2) + s1)
        out = x + F.pixel_shuffle(self.head(d1), 4)
        return out[..., :h, :w]


class LinearBatches(torch.utils.data.IterableDataset):
    """Endless (blur N x 1 x s x s, frames N x 7 x s x s, motion N x 2) batches."""

    def __init__(self, images: str, synth: SynthConfig, batch: int, seed: int) -> None:
        self.paths, self.synth, self.batch, self.seed = list_images(images), synth, batch, seed

    def __iter__(self):
        photos = [load_photo(p) for p in self.paths]
        cfg = self.synth
        rng = np.random.default_rng(self.seed)
        while True:
            samples, motions = [], []
            for _ in range(self.batch):
                info: dict = {}
                samples.append(render(photos[rng.integers(len(photos))], rng, cfg, info=info))
                motions.append(displacement(info))
            blur, frames = to_luma_batch(samples)
            yield blur, frames, torch.from_numpy(np.stack(motions))


def train(args) -> int:
    recipe = load_config(args.recipe, steps=args.steps)
    steps = recipe.steps
    torch.manual_seed(recipe.seed)
    torch.set_num_threads(1)
    base, _ = load_generator(args.init)
    net = ToldMotionGenerator()
    missing = net.load_state_dict(base.state_dict(), strict=False)
    assert not missing.unexpected_keys and all(k.startswith("motion.")
                                               for k in missing.missing_keys)
    net.train()
    optimizer = torch.optim.Adam(net.parameters(), lr=recipe.optim.lr)
    loader = torch.utils.data.DataLoader(
        LinearBatches(args.images, synth_configs(recipe)[0], recipe.data.batch, recipe.seed),
        batch_size=None, num_workers=1, multiprocessing_context="spawn", prefetch_factor=4)
    start, losses = time.perf_counter(), []
    for step, (blur, frames, motion) in enumerate(loader):
        if step == steps:
            break
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, recipe)
        loss, _ = order_invariant_mse(net(blur, motion), frames)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), recipe.optim.grad_clip)
        optimizer.step()
        losses.append(loss.item())
        if (step + 1) % 1000 == 0:
            print(f"step {step + 1}: loss {np.mean(losses[-1000:]):.6f} "
                  f"({time.perf_counter() - start:.0f} s)", file=sys.stderr, flush=True)
    torch.save({"model": net.state_dict(), "steps": steps}, args.out)
    print(f"{steps} steps in {(time.perf_counter() - start) / 60:.1f} min -> {args.out}",
          file=sys.stderr)
    return 0


def score(args) -> int:
    torch.set_num_threads(args.threads)
    told = ToldMotionGenerator()
    told.load_state_dict(torch.load(args.told, map_location="cpu", weights_only=True)["model"])
    blind, _ = load_generator(args.blind)
    told.eval()
    synth = dataclasses.replace(synth_configs(load_config(args.recipe))[0],
                                size=(args.size, args.size))
    rows = []
    with torch.no_grad():
        for sample in render_samples(list_images(args.images), args.count, synth, args.seed):
            blur, frames = to_luma_batch([sample[:2]])
            motion = torch.from_numpy(displacement(sample[2]))[None]
            truth = frames[0].numpy()
            rows.append({"blur_px": sample[2]["length"],
                         "input": frame_psnrs(blur[0, 0].numpy(), truth)[0],
                         "blind": frame_psnrs(blind(blur)[0].clamp(0, 1).numpy(), truth)[0],
                         "told": frame_psnrs(told(blur, motion)[0].clamp(0, 1).numpy(),
                                             truth)[0]})

    print("| Y PSNR | " + " | ".join(str(k + 1) for k in range(7)) + " | mean | gain mean / middle |")
    print("|---|" + "---:|" * 9)
    inp = np.mean([r["input"] for r in rows], axis=0)
    print("| INPUT | " + " | ".join(f"{v:.2f}" for v in inp) + f" | {inp.mean():.2f} | |")
    for name in ("blind", "told"):
        got = np.mean([r[name] for r in rows], axis=0)
        print(f"| {name} | " + " | ".join(f"{v:.2f}" for v in got)
              + f" | {got.mean():.2f} | {got.mean() - inp.mean():+.2f} / {got[3] - inp[3]:+.2f} |")
    diff = np.array([np.mean(r["told"]) - np.mean(r["blind"]) for r in rows])
    print(f"\n{len(rows)} samples, PyTorch, no projection; told - blind per sample: "
          f"{diff.mean():+.3f} dB (standard error {diff.std(ddof=1) / np.sqrt(len(diff)):.3f}), "
          f"told better on {np.mean(diff > 0):.0%}")
    lengths = {str(i): r["blur_px"] for i, r in enumerate(rows)}
    for name in ("blind", "told"):
        per_sample = [{"name": str(i), "psnr_mean": np.mean(r[name]), "psnr_middle": r[name][3],
                       "input_mean": np.mean(r["input"]), "input_middle": r["input"][3]}
                      for i, r in enumerate(rows)]
        print(f"\n{name}, by blur length:\n")
        print(blur_length_table(by_blur_length(per_sample, lengths)))
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train")
    t.add_argument("--images", required=True)
    t.add_argument("--init", required=True,
                   help="the network to extend: a checkpoint or an ONNX model (or bundled name)")
    t.add_argument("--out", required=True)
    t.add_argument("--recipe", default=RECIPE, help="the blind arm's recipe")
    t.add_argument("--steps", type=int, default=None, help="default: the recipe's")
    s = sub.add_parser("score")
    s.add_argument("--images", required=True)
    s.add_argument("--told", required=True)
    s.add_argument("--blind", required=True)
    s.add_argument("-n", "--count", type=int, default=200)
    s.add_argument("--size", type=int, default=256)
    s.add_argument("--seed", type=int, default=1234)
    s.add_argument("--threads", type=int, default=2)
    s.add_argument("--recipe", default=RECIPE, help="the data settings to render")
    args = ap.parse_args(argv)
    return train(args) if args.command == "train" else score(args)


if __name__ == "__main__":
    sys.exit(main())
