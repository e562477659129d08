#!/usr/bin/env python3
"""Issue 19: a path estimator that CLASSIFIES each tile's motion among discrete straight kernels
(still, or 20 lengths of 2-40 px x 16 angles) instead of regressing the 7 group centers; the
route of Sun et al. (CVPR 2015) around the regression to a middling length that the regressor
shows (docs/experiments.md, 2026-11-30). The trunk is the regressor's (PathEstimator), started
from its weights; the head's last layer is new.

    python experiments/kernel_classifier.py train --init runs/path/best.pt --out runs/kernel-cls \
        --minutes 25
    python experiments/kernel_classifier.py eval --ckpt runs/kernel-cls/last.pt \
        [--val runs/path/cache/val2.npz]

Target of a tile: the straight line fitted to its true group centers (least squares against
the frame index: direction, length = 6 x the speed), binned; "still" below 1 px. Loss: cross
entropy (label smoothing 0.05). Decoding: the most likely class's line. The evaluation prints
the regressor's accuracy table (blurvid.lab.train.path_training.evaluate) for the classifier,
and the floor of the bins (the truth's own class decoded).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from blurvid.lab.train import path_training as pt
from blurvid.lab.train.path_estimator import PathEstimator

N_LEN, N_ANG = 20, 16
LENS = 2.0 * np.arange(1, N_LEN + 1)  # bin centers, px
CLASSES = 1 + N_LEN * N_ANG
INDEX = np.arange(7) - 3.0


def line_params(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(length px, angle in [0, pi)) of the straight line fitted to (B, 7, 2) centers."""
    v = (INDEX[None, :, None] * t).sum(1) / (INDEX ** 2).sum()
    return 6 * np.linalg.norm(v, axis=1), np.arctan2(v[:, 1], v[:, 0]) % np.pi


def to_class(length: np.ndarray, angle: np.ndarray) -> np.ndarray:
    li = np.clip(np.round(length / 2.0) - 1, 0, N_LEN - 1).astype(int)
    ai = np.floor(angle / (np.pi / N_ANG) + 0.5).astype(int) % N_ANG
    return np.where(length < 1.0, 0, 1 + li * N_ANG + ai)


def class_paths(c: np.ndarray) -> np.ndarray:
    """(B,) classes -> (B, 7, 2) mean-removed group centers of their lines."""
    li, ai = (c - 1) // N_ANG, (c - 1) % N_ANG
    length = np.where(c == 0, 0.0, LENS[np.clip(li, 0, N_LEN - 1)])
    ang = ai * np.pi / N_ANG
    d = np.stack([np.cos(ang), np.sin(ang)], 1) * length[:, None]
    return INDEX[None, :, None] / 6.0 * d[:, None, :]


class KernelClassifier(PathEstimator):
    """PathEstimator's trunk; the head's last layer outputs CLASSES logits."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        hidden = self.head[-1].in_features
        self.head[-1] = torch.nn.Linear(hidden, CLASSES)

    def forward(self, y):  # logits (N, CLASSES)
        return self.head_output(y)


def build(cfg: dict) -> KernelClassifier:
    return KernelClassifier(width=cfg["width"], ac_width=cfg["ac_width"], hidden=cfg["hidden"],
                            norm=bool(cfg.get("norm", 1)), smooth=bool(cfg.get("smooth", 0)))


@torch.no_grad()
def predict(model, blur_u8: np.ndarray, batch: int = 100) -> np.ndarray:
    model.eval()
    out = []
    for i in range(0, len(blur_u8), batch):
        y = torch.from_numpy(blur_u8[i:i + batch, None].astype(np.float32) / 255.0)
        out.append(model(y).argmax(1).numpy())
    return np.concatenate(out)


def train(args) -> None:
    torch.set_num_threads(1)
    state = torch.load(args.init, map_location="cpu", weights_only=True)
    cfg = dict(state["config"])
    model = build(cfg)
    trunk = {k: v for k, v in state["model"].items() if not k.startswith("head.2.")}
    missing = model.load_state_dict(trunk, strict=False)
    print("new:", missing.missing_keys, file=sys.stderr)
    data = pt.load_cache(args.cache)
    val = pt.load_cache(args.val)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    start, step, log = time.time(), 0, open(out / "log.jsonl", "a")
    while time.time() - start < args.minutes * 60 and step < args.steps:
        lr = args.lr * 0.5 * (1 + math.cos(math.pi * step / args.steps))
        for g in opt.param_groups:
            g["lr"] = lr
        y, t = pt.make_batch(data, step, 32, 7)
        target = torch.from_numpy(to_class(*line_params(t.astype(np.float64))))
        model.train()
        loss = F.cross_entropy(model(torch.from_numpy(y)), target, label_smoothing=0.05)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        if step % 500 == 0:
            m = pt.evaluate(None, val, pred=(class_paths(predict(model, val["blur"])),
                                             np.zeros(len(val["blur"]))))
            rec = {"step": step, "loss": float(loss.detach()), "val_rms": m["rms"],
                   "minutes": round((time.time() - start) / 60, 1)}
            print(json.dumps(rec), flush=True)
            log.write(json.dumps(rec) + "\n")
            log.flush()
    torch.save({"model": model.state_dict(), "config": cfg, "step": step}, out / "last.pt")


def evaluate(args) -> None:
    state = torch.load(args.ckpt, map_location="cpu", weights_only=True)
    model = build(state["config"])
    model.load_state_dict(state["model"])
    val = pt.load_cache(args.val)
    from blurvid.lab.train.path_estimator import group_centers

    t = group_centers(val["path"].astype(np.float64))
    zeros = np.zeros(len(t))
    print(f"{args.ckpt}: step {state['step']}; classifier (argmax class's line)")
    print(pt.format_table(pt.evaluate(None, val, pred=(class_paths(predict(model, val['blur'])),
                                                       zeros))))
    reg = pt.load_model(args.regressor)[0]
    p, log_sigma = pt.predict(reg, val["blur"])
    with torch.no_grad():
        prob = torch.cat([model(torch.from_numpy(val["blur"][i:i + 100, None]
                                                 .astype(np.float32) / 255)).softmax(1)
                          for i in range(0, len(val["blur"]), 100)]).numpy()
    for threshold in (0.3, 0.5, 0.7):
        still = prob[:, 0] > threshold
        m = pt.evaluate(None, val, pred=(np.where(still[:, None, None], 0.0, p), log_sigma))
        print(f"\nthe regressor ({args.regressor}), its path zeroed where P(still) > "
              f"{threshold} ({100 * still.mean():.0f} % of the tiles): {m['rms']:.2f} px rms")
    print(f"the regressor alone: {pt.evaluate(None, val, pred=(p, log_sigma))['rms']:.2f} px")
    print("\nfloor of the bins (the truth's own class decoded)")
    print(pt.format_table(pt.evaluate(None, val, pred=(class_paths(to_class(*line_params(t))),
                                                       zeros))))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train")
    t.add_argument("--init", default="runs/path/best.pt")
    t.add_argument("--cache", default="runs/path/cache/train")
    t.add_argument("--val", default="runs/path/cache/val2.npz")
    t.add_argument("--out", default="runs/kernel-cls")
    t.add_argument("--minutes", type=float, default=25)
    t.add_argument("--steps", type=int, default=9000)
    t.add_argument("--lr", type=float, default=1e-3)
    e = sub.add_parser("eval")
    e.add_argument("--ckpt", default="runs/kernel-cls/last.pt")
    e.add_argument("--val", default="runs/path/cache/val2.npz")
    e.add_argument("--regressor", default="runs/path/best.pt")
    args = ap.parse_args()
    train(args) if args.command == "train" else evaluate(args)


if __name__ == "__main__":
    main()
