"""Content-loss training of a generator on synthesised blur (stage 1 of the seed paper).

One readable loop: sample a batch from the synthesiser, order-invariant MSE on the luma of the 7
frames, Adam with cosine decay, validation on held-out photos every ``val_every`` steps, atomic
checkpoints (temp file + rename) that load with ``torch.load(weights_only=True)``.

Run: ``python -m blurvid.train.trainer --images DIR --val-images DIR --out runs/NAME``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from blurvid.color import rgb_to_y
from blurvid.data.synth import (IMAGE_SUFFIXES, SynthConfig, list_images, load_photo, render,
                                render_set)
from blurvid.errors import InputError
from blurvid.metrics import score_samples
from blurvid.train.export import read_checkpoint
from blurvid.train.losses import order_invariant_mse
from blurvid.train.models import build_generator


@dataclass
class TrainConfig:
    images: str  # folder of training photos
    val_images: str  # folder of validation photos (never trained on)
    out: str = "runs/fast"
    arch: str = "fast"
    arch_kwargs: dict = field(default_factory=dict)
    steps: int = 10000
    batch: int = 8
    crop: int = 128
    lr: float = 4e-4
    lr_min: float = 1e-6
    warmup: int = 200
    grad_clip: float = 1.0
    val_every: int = 1000
    val_samples: int = 48
    val_crop: int = 192
    seed: int = 0
    threads: int = 2
    max_minutes: float = 0.0  # 0: no limit; else stop (and save) after this long
    resume: bool = False


def atomic_torch_save(obj, path: Path) -> None:
    """Write a checkpoint to ``path`` via a temporary file in the same folder and a rename."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def to_luma_batch(samples) -> tuple[torch.Tensor, torch.Tensor]:
    """[(blur HxWx3, frames 7xHxWx3)] -> (N x 1 x H x W, N x 7 x H x W) luma tensors."""
    blur = np.stack([rgb_to_y(b) for b, _ in samples])[:, None]
    frames = np.stack([rgb_to_y(f) for _, f in samples])
    return torch.from_numpy(blur.astype(np.float32)), torch.from_numpy(frames.astype(np.float32))


VAL_SEED = 1234  # the validation set is the same for every run (and for benchmarks/)


def photo_paths(folder: str, option: str) -> list[Path]:
    """The photos in ``folder``, or an InputError naming the option when there are none."""
    path = Path(folder)
    if not path.is_dir():
        raise InputError(f"{option} {folder}: not a folder")
    photos = list_images(path)
    if not photos:
        raise InputError(f"{option} {folder}: no photos ({', '.join(IMAGE_SUFFIXES)})")
    return photos


def make_val_set(cfg: TrainConfig):
    return render_set(photo_paths(cfg.val_images, "--val-images"), cfg.val_samples,
                      SynthConfig(size=cfg.val_crop), seed=VAL_SEED)


@torch.no_grad()
def evaluate(model: torch.nn.Module, val_set) -> dict:
    """Order-invariant per-frame luma PSNR/SSIM of the model and of the INPUT baseline."""
    model.eval()
    try:
        return score_samples(lambda y: model(torch.from_numpy(y)).numpy(), val_set)
    finally:
        model.train()


def lr_at(step: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    return cfg.lr_min + 0.5 * (cfg.lr - cfg.lr_min) * (1 + math.cos(math.pi * progress))


def train(cfg: TrainConfig) -> Path:
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    model = build_generator(cfg.arch, **cfg.arch_kwargs)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    step, elapsed_before, best = 0, 0.0, -math.inf
    ckpt_path = out / "last.pt"
    if cfg.resume and ckpt_path.exists():
        state = read_checkpoint(ckpt_path)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        step, elapsed_before = state["step"], state["train_seconds"]
        best = state.get("best_psnr", best)
    photos = [load_photo(p) for p in photo_paths(cfg.images, "--images")]
    val_set = make_val_set(cfg)
    rng = np.random.default_rng(cfg.seed + step)
    synth = SynthConfig(size=cfg.crop)
    log = open(out / "log.jsonl", "a")
    start = time.time()
    losses = []

    def checkpoint(path: Path, metrics: dict | None) -> None:
        atomic_torch_save(
            {
                "arch": cfg.arch,
                "arch_kwargs": dict(cfg.arch_kwargs),
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "step": step,
                "train_seconds": elapsed_before + time.time() - start,
                "best_psnr": best,
                "config": dataclasses.asdict(cfg),
                "metrics": metrics or {},
                "torch": str(torch.__version__),
            },
            path,
        )

    while step < cfg.steps:
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg)
        blur, frames = to_luma_batch([render(photos[rng.integers(len(photos))], rng, synth)
                                      for _ in range(cfg.batch)])
        loss = order_invariant_mse(model(blur), frames)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        step += 1
        losses.append(loss.item())
        minutes = (time.time() - start) / 60
        out_of_time = cfg.max_minutes and minutes >= cfg.max_minutes
        if step % cfg.val_every == 0 or step == cfg.steps or out_of_time:
            metrics = evaluate(model, val_set)
            record = {"step": step, "loss": float(np.mean(losses)), "lr": lr_at(step, cfg),
                      "seconds": round(elapsed_before + time.time() - start, 1), **metrics}
            losses = []
            log.write(json.dumps(record) + "\n")
            log.flush()
            print(json.dumps(record), flush=True)
            if metrics["psnr_mean"] > best:
                best = metrics["psnr_mean"]
                checkpoint(out / "best.pt", metrics)
            checkpoint(ckpt_path, metrics)
        if out_of_time:
            break
    return out / "best.pt"


def main(argv: list[str] | None = None, prog: str | None = None) -> None:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    for f in dataclasses.fields(TrainConfig):
        if f.name == "arch_kwargs":
            parser.add_argument("--arch-kwargs", type=json.loads, default={})
            continue
        flag = "--" + f.name.replace("_", "-")
        if f.type == "bool":
            parser.add_argument(flag, action="store_true")
        else:
            kind = {"int": int, "float": float, "str": str}[f.type]
            required = f.default is dataclasses.MISSING
            parser.add_argument(flag, type=kind, required=required,
                                default=None if required else f.default)
    args = parser.parse_args(argv)
    train(TrainConfig(**vars(args)))


if __name__ == "__main__":
    main()
