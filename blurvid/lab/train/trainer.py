"""Training: stage 1 content loss, stage 2 content + alpha * adversarial + beta * CBL.

One readable loop in the shape of BasicSR's ``optimize_parameters``: per step, a batch of
(blurry luma, 7 sharp luma frames); the generator step (order-invariant content loss, and in
stage 2 the non-saturating adversarial loss and the contiguous blurry loss, both on the
frames in the order the content loss chose per sample); then, in stage 2 with ``alpha > 0``,
the discriminator step on real vs generated frames. See :mod:`blurvid.lab.train.config` for the
settings and ``train/*.yaml`` for the recipes.

Data: ``data.source: synthetic`` renders every batch on the fly from ``data.images`` with
:mod:`blurvid.lab.data.synth` (validation: ``data.val_images``, or else every 5th photo of
``data.images`` is held out); a dataset folder (:mod:`blurvid.lab.data.layouts`) is read into memory
and random crops (with flips) are drawn from it, every 10th sample held out for validation.

Checkpoints (``last.pt`` every validation, ``best.pt`` at the best validation PSNR) are written
atomically (temp file + rename) and loaded with ``torch.load(weights_only=True)``; they hold the
generator, the discriminator, both optimizers, the schedule, the step, the torch and numpy RNG
states (the synthetic data stream continues exactly where it was) and the config. At the end
``best.pt`` is exported to ``best.onnx``.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch

from blurvid.consistency import NUM_FRAMES
from blurvid.ensemble import dihedral
from blurvid.errors import InputError, OutputExistsError
from blurvid.io import contact_sheet, list_images, photos_in, write_image
from blurvid.lab.data.layouts import read_dataset
from blurvid.lab.data.synth import SynthConfig, load_object, render_set
from blurvid.lab.export import export_checkpoint, read_checkpoint, read_weights
from blurvid.lab.train.batches import Batches, DatasetSource, synthetic_spec, to_luma_arrays
from blurvid.lab.train.cbl import contiguous_blurry_loss
from blurvid.lab.train.config import TrainConfig, to_dict
from blurvid.lab.train.discriminator import (Discriminator, discriminator_loss,
                                             generator_adversarial_loss)
from blurvid.lab.train.losses import order_invariant_mse
from blurvid.lab.train.models import build_generator
from blurvid.metrics import score_samples

VAL_SEED = 1234  # the validation set is the same for every run (and for `blurvid synth`)
RUN_FILES = ("last.pt", "best.pt", "best.onnx", "best.onnx.sha256", "log.jsonl", "log.csv",
             "val.png", "config.json")  # what a run writes in its folder (tensorboard/ aside)
LOG_FIELDS = ("step", "stage", "loss", "content", "adversarial", "cbl", "disc", "lr",
              "psnr_mean", "psnr_middle", "input_mean", "ssim_mean", "reversed_share", "seconds")


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
    blur, frames = to_luma_arrays(samples)
    return torch.from_numpy(blur), torch.from_numpy(frames)


def synth_configs(cfg: TrainConfig) -> tuple[SynthConfig, SynthConfig]:
    """(training, validation) synthesizer settings: ``data.synth`` picks the engine's mode
    (basic or realistic); ``data.synth_overrides`` change the training settings only, so the
    validation set has the mode's documented settings unless ``data.val_synth_overrides``
    changes them (a controlled experiment on another distribution)."""
    if cfg.data.synth not in ("basic", "realistic"):
        raise InputError(f"data.synth must be basic or realistic, got {cfg.data.synth!r}")
    make = SynthConfig.realistic if cfg.data.synth == "realistic" else SynthConfig
    known = {f.name for f in dataclasses.fields(SynthConfig)} - {"size", "blur_range"}

    def build(name: str, overrides: dict, **fixed) -> SynthConfig:
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise InputError(f"data.{name}: unknown key(s) {', '.join(unknown)}; known: "
                             f"{', '.join(sorted(known))}")
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
        try:
            return make(**fixed, **values)
        except TypeError as exc:
            raise InputError(f"data.{name}: {exc}") from None

    train = build("synth_overrides", cfg.data.synth_overrides, size=cfg.data.crop,
                  blur_range=tuple(cfg.data.blur_range))
    return train, build("val_synth_overrides", cfg.data.val_synth_overrides,
                        size=cfg.data.val_crop)


def object_paths(cfg: TrainConfig) -> list[Path]:
    """The cut-outs of ``data.objects`` (none when unset; an empty folder gives none)."""
    if not cfg.data.objects:
        return []
    folder = Path(cfg.data.objects).expanduser()
    if not folder.is_dir():
        raise InputError(f"data.objects {folder}: not a folder")
    return list_images(folder)


def _center_crop(sample, size: int):
    blur, frames = sample
    h, w = blur.shape[:2]
    c = min(size, h, w)
    y0, x0 = (h - c) // 2, (w - c) // 2
    return blur[y0:y0 + c, x0:x0 + c], frames[:, y0:y0 + c, x0:x0 + c]


def make_data(cfg: TrainConfig, start: int = 0, rank: int = 0):
    """(batches from index ``start``, validation samples) for ``cfg.data``; close the batches
    when done (they may own worker processes)."""
    if cfg.data.source == "synthetic":
        train_photos = photos_in(cfg.data.images, "--images")
        if cfg.data.val_images is not None:
            val_photos = photos_in(cfg.data.val_images, "--val-images")
        else:  # hold out every 5th photo (by photo, never by crop); one photo serves both
            val_photos = train_photos[4::5] or train_photos[:1]
            train_photos = [p for p in train_photos if p not in val_photos] or train_photos
        train_synth, val_synth = synth_configs(cfg)
        objects = object_paths(cfg)
        val = render_set(val_photos, cfg.data.val_samples, val_synth, seed=VAL_SEED,
                         objects=[load_object(p) for p in objects])
        spec = synthetic_spec(train_photos, train_synth, objects, cfg.data.batch, cfg.seed, rank)
        if cfg.data.workers < 0:
            raise InputError(f"data.workers must be >= 0, got {cfg.data.workers}")
        return Batches(spec=spec, workers=cfg.data.workers, start=start), val
    samples = [(s.blur, s.frames) for s in read_dataset(cfg.data.source)]
    if not samples:
        raise InputError(f"{cfg.data.source}: no samples to train on")
    if any(len(f) != NUM_FRAMES for _, f in samples):
        raise InputError(f"{cfg.data.source} gives only the middle sharp frame (a pair "
                         "dataset); train on 7-frame windows (gopro, dvd videos, frames)")
    val = [_center_crop(s, cfg.data.val_crop) for s in samples[::10]][: cfg.data.val_samples]
    train = [s for i, s in enumerate(samples) if i % 10 or len(samples) < 2]
    source = DatasetSource(train, cfg.data.crop, cfg.data.batch, cfg.seed, rank)
    return Batches(source=source, start=start), val


@torch.no_grad()
def evaluate(model: torch.nn.Module, val_set) -> dict:
    """Order-invariant per-frame luma PSNR/SSIM of the model and of the INPUT baseline."""
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        return score_samples(lambda y: model(torch.from_numpy(y).to(device)).float().cpu().numpy(),
                             val_set)
    finally:
        model.train(was_training)


def lr_at(step: int, cfg: TrainConfig, minutes: float = 0.0) -> float:
    """Cosine schedule with linear warm-up (``optim.schedule: cosine``). With a time budget
    (``max_minutes``), the schedule's progress is the larger of the steps' and the time's
    (``minutes`` trained so far), so it ends by whichever runs out first."""
    o = cfg.optim
    if step < o.warmup:
        return o.lr * (step + 1) / o.warmup
    progress = min(1.0, (step - o.warmup) / max(1, cfg.steps - o.warmup))
    if cfg.max_minutes > 0:
        progress = max(progress, min(1.0, minutes / cfg.max_minutes))
    return o.lr_min + 0.5 * (o.lr - o.lr_min) * (1 + math.cos(math.pi * progress))


def reuse_transforms(seed: int, index: int, reuse: int) -> list[int]:
    """The :data:`blurvid.ensemble.TRANSFORMS` indices under which rendered batch ``index`` is
    trained ``reuse`` times: as rendered first, then distinct rotations/mirrors drawn from
    ``(seed, index)`` (the same on a resume)."""
    rng = np.random.default_rng([seed, 8, index])
    return [0, *(1 + rng.permutation(7)[: reuse - 1]).tolist()]


def _save_picture(path: Path, model, val_set, count: int = 3) -> None:
    """Rows of: blurry input, predicted frames 1, 4, 7, true frames 1, 4, 7 (luma)."""
    blur, truth = to_luma_batch(val_set[:count])
    with torch.no_grad():
        was = model.training
        model.eval()
        device = next(model.parameters()).device
        pred = model(blur.to(device)).float().cpu().clamp(0, 1)
        model.train(was)
    _, pred = order_invariant_mse(pred, truth)
    rows = [contact_sheet([b[0].numpy(), *(p[k].numpy() for k in (0, 3, 6)),
                           *(t[k].numpy() for k in (0, 3, 6))]) for b, p, t in zip(blur, pred, truth)]
    gap = np.ones((4, rows[0].shape[1], 3), np.float32)
    write_image(path, np.concatenate([x for r in rows for x in (r, gap)][:-1]))


def _plain(value):
    """``value`` with its lists as tuples (YAML and JSON give lists, Python code tuples)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return tuple(_plain(v) for v in value)
    return value


def _truncate_logs(out: Path, step: int) -> None:
    """Drop log rows after ``step`` (written after the checkpoint a killed run resumes from),
    so the resumed run's rows are not doubled."""
    for name, keep in (("log.jsonl", lambda line: json.loads(line)["step"] <= step),
                       ("log.csv", None)):
        path = out / name
        if not path.exists():
            continue
        lines = path.read_text().splitlines(keepends=True)
        if keep is None:  # CSV: the header, then rows whose first field is the step
            kept = lines[:1] + [ln for ln in lines[1:] if int(ln.split(",", 1)[0]) <= step]
        else:
            kept = [ln for ln in lines if ln.strip() and keep(ln)]
        if len(kept) != len(lines):
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text("".join(kept))
            os.replace(tmp, path)


def _tensorboard(out: Path):
    """A TensorBoard writer in ``out/tensorboard`` if the tensorboard package is installed."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(out / "tensorboard"))


class Trainer:
    """The models, optimizers and loop of one run (see the module docstring)."""

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg
        self.device = torch.device(cfg.device if cfg.device != "auto" else
                                   ("cuda" if torch.cuda.is_available() else "cpu"))
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise InputError("--device cuda: PyTorch sees no CUDA device here; use --device cpu")
        # Distributed (torchrun sets WORLD_SIZE, RANK, LOCAL_RANK): one process per device,
        # NCCL on GPUs, gloo on CPUs; rank 0 validates, logs and writes checkpoints.
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        if self.world > 1:
            import torch.distributed as dist

            if self.device.type == "cuda":
                local = int(os.environ.get("LOCAL_RANK", "0"))
                torch.cuda.set_device(local)
                self.device = torch.device("cuda", local)
            if not dist.is_initialized():
                dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        if cfg.amp not in ("off", "bf16", "fp16"):
            raise InputError(f"amp must be off, bf16 or fp16, got {cfg.amp!r}")
        if cfg.amp == "fp16" and self.device.type != "cuda":
            raise InputError("amp fp16 needs --device cuda (use bf16 on the CPU)")
        if not 1 <= cfg.data.reuse <= 8:
            raise InputError(f"data.reuse must be 1..8, got {cfg.data.reuse}")
        if cfg.val_every % cfg.data.reuse:
            raise InputError(f"val_every ({cfg.val_every}) must be a multiple of data.reuse "
                             f"({cfg.data.reuse}): a resume starts at a fresh batch")
        torch.manual_seed(cfg.seed)  # the same initial weights on every rank
        self.net = build_generator(cfg.model.arch, **cfg.model.kwargs).to(self.device)
        if self.device.type == "cuda" and cfg.channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        self.scaler = torch.amp.GradScaler("cuda", enabled=cfg.amp == "fp16")
        self.scaler_d = torch.amp.GradScaler("cuda", enabled=cfg.amp == "fp16")
        self.model = self._wrap(self.net)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=cfg.optim.lr)
        self.disc_net = self.disc = None
        if cfg.loss.alpha > 0:
            self.disc_net = Discriminator(width=cfg.loss.disc_width).to(self.device)
            self.disc = self._wrap(self.disc_net)
            self.opt_d = torch.optim.Adam(self.disc_net.parameters(), lr=cfg.optim.disc_lr,
                                          betas=(0.5, 0.999))
        self.step, self.seconds_before, self.best = 0, 0.0, -math.inf
        self.lr = cfg.optim.lr if cfg.optim.schedule == "plateau" else lr_at(0, cfg)
        self.plateau_bad = 0
        # Each rank draws its own batches (the shard); the data position is the next batch
        # index (blurvid.lab.train.batches: batch i is a function of (seed, rank, i)).
        self.data_position = 0
        if cfg.model.init:  # a checkpoint or an ONNX model (e.g. the bundled one)
            init = read_weights(cfg.model.init)
            init_kwargs, kwargs = dict(init.get("arch_kwargs") or {}), dict(cfg.model.kwargs)
            if init.get("arch") != cfg.model.arch or _plain(init_kwargs) != _plain(kwargs):
                raise InputError(f"model.init {cfg.model.init}: a {init.get('arch')} "
                                 f"{init_kwargs} generator, the config asks for "
                                 f"{cfg.model.arch} {kwargs}")
            self.net.load_state_dict(init["model"])

    def _wrap(self, module: torch.nn.Module) -> torch.nn.Module:
        if self.world == 1:
            return module
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(module, device_ids=[self.device.index]
                                       if self.device.type == "cuda" else None)

    def _all_gather(self, obj) -> list:
        if self.world == 1:
            return [obj]
        import torch.distributed as dist

        out = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def _any_rank(self, flag: bool) -> bool:
        """True on every rank if ``flag`` is true on rank 0 (one decision for all)."""
        if self.world == 1:
            return flag
        import torch.distributed as dist

        t = torch.tensor([1.0 if flag else 0.0], device=self.device)
        dist.broadcast(t, src=0)
        return bool(t.item())

    # -------------------------------------------------------------------- one step
    def optimize_parameters(self, blur: torch.Tensor, truth: torch.Tensor) -> dict:
        cfg, stage2 = self.cfg, self.step >= self.cfg.content_only_steps
        blur, truth = blur.to(self.device), truth.to(self.device)
        amp = cfg.amp != "off"
        dtype = torch.bfloat16 if cfg.amp == "bf16" else torch.float16
        with torch.autocast(self.device.type, dtype=dtype, enabled=amp):
            pred = self.model(blur)
        pred = pred.float()  # losses in float32
        content, chosen = order_invariant_mse(pred, truth)
        loss, logs = content, {"content": content.item()}
        if stage2 and cfg.loss.beta > 0:
            cbl = contiguous_blurry_loss(chosen, truth, max_features=cfg.loss.cbl_max_features,
                                         bandwidth=cfg.loss.cbl_bandwidth,
                                         spatial_weight=cfg.loss.cbl_spatial_weight)
            loss = loss + cfg.loss.beta * cbl
            logs["cbl"] = cbl.item()
        fake_frames = chosen.reshape(-1, 1, *chosen.shape[-2:])
        if stage2 and self.disc is not None:
            # The bare discriminator (not its DDP wrapper): this backward must reach G only.
            for p in self.disc_net.parameters():
                p.requires_grad_(False)
            with torch.autocast(self.device.type, dtype=dtype, enabled=amp):
                fake_logits = self.disc_net(fake_frames)
            adv = generator_adversarial_loss(fake_logits.float())
            for p in self.disc_net.parameters():
                p.requires_grad_(True)
            loss = loss + cfg.loss.alpha * adv
            logs["adversarial"] = adv.item()
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if cfg.optim.grad_clip > 0:
            self.scaler.unscale_(self.opt)
            torch.nn.utils.clip_grad_norm_(self.net.parameters(), cfg.optim.grad_clip)
        self.scaler.step(self.opt)
        self.scaler.update()
        if stage2 and self.disc is not None:
            real = truth.reshape(-1, 1, *truth.shape[-2:])
            # One forward pass over real and generated frames (DDP wants one per backward).
            # Under the generator's mixed precision too: in float32 the discriminator made a
            # GAN step 10x a content step on an H100 (docs/training.md).
            with torch.autocast(self.device.type, dtype=dtype, enabled=amp):
                logits = self.disc(torch.cat([real, fake_frames.detach()])).float()
            d_loss = discriminator_loss(logits[: len(real)], logits[len(real):])
            self.opt_d.zero_grad(set_to_none=True)
            self.scaler_d.scale(d_loss).backward()
            self.scaler_d.step(self.opt_d)
            self.scaler_d.update()
            logs["disc"] = d_loss.item()
        logs["loss"] = loss.item()
        logs["stage"] = 2 if stage2 and (cfg.loss.alpha > 0 or cfg.loss.beta > 0) else 1
        return logs

    # ------------------------------------------------------------- checkpoints
    def state(self, metrics: dict, seconds: float, positions: list[int]) -> dict:
        return {
            "arch": self.cfg.model.arch,
            "arch_kwargs": dict(self.cfg.model.kwargs),
            "model": self.net.state_dict(),
            "optimizer": self.opt.state_dict(),
            "disc": self.disc_net.state_dict() if self.disc is not None else None,
            "disc_optimizer": self.opt_d.state_dict() if self.disc is not None else None,
            "step": self.step,
            "train_seconds": seconds,
            "best_psnr": self.best,
            "lr": self.lr,
            "plateau_bad": self.plateau_bad,
            "torch_rng": torch.get_rng_state(),
            "data_position": positions,  # the next batch index, one per rank
            "config": json.loads(json.dumps(to_dict(self.cfg))),
            "metrics": metrics,
            "torch": str(torch.__version__),
        }

    def load(self, path: Path) -> None:
        state = read_checkpoint(path)
        self.net.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        if self.disc is not None and state.get("disc") is not None:
            self.disc_net.load_state_dict(state["disc"])
            self.opt_d.load_state_dict(state["disc_optimizer"])
        self.step, self.seconds_before = state["step"], state["train_seconds"]
        self.best = state.get("best_psnr", -math.inf)
        self.lr = state.get("lr", self.lr)
        self.plateau_bad = state.get("plateau_bad", 0)
        if "torch_rng" in state:
            torch.set_rng_state(state["torch_rng"])
        positions = state.get("data_position") or []
        # Another world size (or an older checkpoint): each rank continues at the step count.
        self.data_position = positions[self.rank] if len(positions) == self.world else self.step

    def _schedule_after_validation(self, psnr: float) -> None:
        o = self.cfg.optim
        if o.schedule != "plateau":
            return
        if psnr > self.best:
            self.plateau_bad = 0
        else:
            self.plateau_bad += 1
            if self.plateau_bad >= o.plateau_patience and self.lr > o.lr_min:
                self.lr = max(o.lr_min, self.lr * o.plateau_factor)
                self.plateau_bad = 0

    # -------------------------------------------------------------------- loop
    def run(self, resume: bool = False, progress=None, stop_at: int | None = None,
            force: bool = False) -> Path:
        """Train up to ``cfg.steps``, or stop (validated and saved) after step ``stop_at``.
        A folder that already holds a run is continued with ``resume``, started over (its
        run files deleted) with ``force``, and otherwise refused (:class:`OutputExistsError`):
        a new run never mixes its log with an old one or overwrites its checkpoints."""
        cfg = self.cfg
        torch.set_num_threads(cfg.threads)
        out = Path(cfg.out)
        lead = self.rank == 0
        if not resume:
            existing = [n for n in RUN_FILES if (out / n).exists()]
            if existing and not force:
                raise OutputExistsError(f"{out} already holds a run ({', '.join(existing)}); "
                                        "pass --resume to continue it or --force to start over")
            self._all_gather(None)  # every rank has looked before the lead deletes
            if existing and lead:
                for name in existing:
                    (out / name).unlink()
        made = lead and not out.exists()
        if lead:
            out.mkdir(parents=True, exist_ok=True)
        self._all_gather(None)  # the folder exists before any rank looks
        try:
            last = out / "last.pt"
            if resume and last.exists():
                self.load(last)
                if lead:
                    _truncate_logs(out, self.step)
            batches, val_set = make_data(cfg, start=self.data_position, rank=self.rank)
        except BaseException:
            if made and not any(out.iterdir()):  # a run that never started leaves no folder
                out.rmdir()
            raise
        jsonl = csv_file = writer = None
        if lead:
            (out / "config.json").write_text(json.dumps(to_dict(cfg), indent=2) + "\n")
            jsonl = open(out / "log.jsonl", "a")
            new_csv = not (out / "log.csv").exists()
            csv_file = open(out / "log.csv", "a", newline="")
            writer = csv.DictWriter(csv_file, fieldnames=LOG_FIELDS, extrasaction="ignore")
            if new_csv:
                writer.writeheader()
        board = _tensorboard(out) if lead else None
        start, sums, count = time.time(), {}, 0

        def minutes_trained() -> float:  # this run's training time, resumes included
            return (self.seconds_before + time.time() - start) / 60

        held, copies = None, []  # the rendered batch and its remaining transforms (data.reuse)
        try:
            while self.step < min(cfg.steps, stop_at or cfg.steps):
                if cfg.optim.schedule == "cosine":
                    self.lr = lr_at(self.step, cfg, minutes_trained())
                for g in self.opt.param_groups:
                    g["lr"] = self.lr
                if not copies:
                    held = batches.next()
                    copies = reuse_transforms(cfg.seed, batches.position - 1, cfg.data.reuse)
                transform = copies.pop(0)
                blur, truth = (np.ascontiguousarray(dihedral(a, transform)) for a in held)
                logs = self.optimize_parameters(torch.from_numpy(blur), torch.from_numpy(truth))
                self.step += 1
                for k, v in logs.items():
                    sums[k] = sums.get(k, 0.0) + v
                count += 1
                if progress is not None and lead:
                    progress(self.step, logs)
                out_of_time = self._any_rank(
                    bool(cfg.max_minutes) and minutes_trained() >= cfg.max_minutes)
                if self.step % cfg.val_every == 0 or self.step in (cfg.steps, stop_at) \
                        or out_of_time:
                    # Every rank: its data position, and a fingerprint of its weights.
                    positions = self._all_gather(batches.position)
                    prints = self._all_gather(
                        [float(p.detach().double().sum()) for p in self.net.parameters()])
                    if lead:
                        metrics = evaluate(self.net, val_set)
                        seconds = self.seconds_before + time.time() - start
                        record = {"step": self.step, **{k: v / count for k, v in sums.items()},
                                  "lr": self.lr, "seconds": round(seconds, 1), **metrics}
                        record["stage"] = int(round(record.get("stage", 1)))
                        if self.world > 1:
                            record["world_size"] = self.world
                            record["replicas_in_sync"] = all(p == prints[0] for p in prints)
                        jsonl.write(json.dumps(record) + "\n")
                        jsonl.flush()
                        writer.writerow(record)
                        csv_file.flush()
                        if board is not None:
                            for key in LOG_FIELDS[2:-1]:
                                if isinstance(record.get(key), (int, float)):
                                    board.add_scalar(key, record[key], self.step)
                            board.flush()
                        _save_picture(out / "val.png", self.net, val_set)
                        self._schedule_after_validation(metrics["psnr_mean"])
                        if metrics["psnr_mean"] > self.best:
                            self.best = metrics["psnr_mean"]
                            atomic_torch_save(self.state(metrics, seconds, positions),
                                              out / "best.pt")
                        atomic_torch_save(self.state(metrics, seconds, positions), last)
                    sums, count = {}, 0
                    # The plateau schedule is decided on rank 0: share the learning rate.
                    self.lr = self._all_gather(self.lr)[0]
                if out_of_time:
                    break
        finally:
            batches.close()
            if jsonl is not None:
                jsonl.close()
                csv_file.close()
            if board is not None:
                board.close()
        return out / "best.pt"


def train(cfg: TrainConfig, resume: bool = False, export: bool = True, progress=None,
          stop_at: int | None = None, force: bool = False) -> Path:
    """Run training; export ``best.pt`` to ``best.onnx`` at the end. Returns ``best.pt``.
    ``stop_at``: validate, save and stop after that step (the schedule still runs to
    ``cfg.steps``; ``resume`` goes on from there). ``force``: start over in a folder that
    holds a run (see :meth:`Trainer.run`)."""
    import torch.distributed as dist

    trainer = Trainer(cfg)
    try:
        best = trainer.run(resume=resume, progress=progress, stop_at=stop_at, force=force)
        if export and trainer.rank == 0 and best.exists():
            export_checkpoint(best, best.with_suffix(".onnx"), force=True)
        if trainer.world > 1:
            # Every rank finishes before the group goes: a rank that tears gloo down while
            # another is still in it can abort ("terminate called without an active
            # exception", seen once in CI under load). Only on success: a rank that failed
            # must not wait for the others here.
            dist.barrier()
    finally:
        if trainer.world > 1 and dist.is_initialized():
            dist.destroy_process_group()
    return best
