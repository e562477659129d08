"""The clean-up (fusion) network of motion-guided reconstruction (issue 19, stage 4): an
experiment.

A small U-Net sees the photo's luma ``y``, the generator's 7 frames (the bundled model, the
exact projection, :meth:`blurvid.pipeline.Extractor.luma_frames`), the non-blind solver's 7
frames (:func:`blurvid.deconvolution.deconvolve_y`, put in the generator's temporal order
first: :func:`align_order`) and the path's uncertainty ``sigma`` (px rms, a constant map), and
returns the final 7 frames

    out = gen + m * (sol - gen) + r

where ``m`` (a per-pixel, per-frame blend) and ``r`` (a residual) come from two heads that start
at zero: at step 0 the network returns the generator's frames exactly, and it can only learn
to take the solver where that helps (static, well-modelled regions) and keep the generator
elsewhere (moving objects, perspective, a bad path).

Training data: realistic crops (``SynthConfig.realistic``, objects on), the solver told the
TRUE camera path (the image center's group centers) plus a smooth random error
(:func:`smooth_error`, linear + quadratic in time) of ``sigma`` px rms drawn in [0, 3], with
the weight :func:`blurvid.deconvolution.weight_for` ``(sigma)``: an estimator's path simulated.

Run as a module (``python -m blurvid.lab.train.fusion COMMAND ...``):

* ``cache --out runs/fusion/cache --photos ~/.cache/blurvid/photos/train --objects ... --count
  2000 --workers 2``: pre-render ``--count`` samples of ``--size`` px in ``--workers`` shards
  (``shard_XX.npz``; shard ``s`` draws from ``render_samples(..., seed=[seed, s])``'s stream and
  ``default_rng([seed, s, 1])`` for the path errors): ``y`` (N, 1, S, S), ``gen`` (N, 7, S, S),
  ``truth`` (N, 7, S, S), ``sol`` (N, K, 7, S, S; K = ``--solves`` path errors per sample, each
  aligned to ``gen``'s order), float16; ``sigma`` (N, K), ``length`` (N,) float32.
  ``--estimator X.onnx``: the first solve of each sample uses that estimator's own path and
  predicted sigma instead of a simulated error; ``--p-static P``: still-camera samples.
* ``train --cache runs/fusion/cache --run runs/fusion``: the loop (Adam, cosine schedule over
  ``--steps``; batch ``i`` a pure function of ``(seed, i)``: sample, path error, random crop,
  flips, time reversal); one checkpoint ``RUN/last.pt`` replaced in place every
  ``--save-every`` steps and when ``--max-minutes`` runs out; rerun the same command to resume
  exactly. ``RUN/log.jsonl``: the loss per ``--log-every`` steps. ``--no-solver 1``: the
  control, the solver's frames replaced by the generator's (a second pass over the generator).
  ``--init CKPT``: a new run starting from those weights; ``--project 1``: the loss after the
  exact projection (:func:`project_exact`), the way the pipeline uses the output.
* ``eval --ckpt runs/fusion/last.pt --images ~/.cache/blurvid/photos/val --objects ...``: the
  table on the realistic validation set (``-n 200 --size 256x256 --seed 1234``, as the model
  card): INPUT, the generator (with and without the projection), the solver told the true path perturbed by ``--sigmas`` px rms
  (``ERR:TOLD``: an error of ERR px, the solver's weight and the fusion's sigma set for TOLD),
  the fusion at each, and (``--estimator X.onnx``) the estimator's path; order-invariant Y PSNR
  per frame, gains, by blur length. ``--json OUT`` keeps the numbers.
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing as mp
import os
import sys
import time
import warnings
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from blurvid import deconvolution as dc
from blurvid.color import GAMMA, rgb_to_y
from blurvid.consistency import NUM_FRAMES, project
from blurvid.ensemble import align_order
from blurvid.io import list_images, photos_in, write_bytes_atomic
from blurvid.lab.bench import BLUR_BINS, parse_size
from blurvid.lab.data.synth import (SynthConfig, load_object, parse_settings, render_samples,
                                    smooth_path_error)
from blurvid.lab.motion import estimate_paths
from blurvid.lab.train import losses
from blurvid.lab.train.models import pad_to_multiple
from blurvid.metrics import frame_psnrs
from blurvid.pipeline import Extractor

MAX_SIGMA = 3.0  # px rms: the largest path error trained on; the sigma input is sigma / this
MIDDLE = NUM_FRAMES // 2
IN_CHANNELS = 1 + NUM_FRAMES + NUM_FRAMES + 1  # y, gen - y, sol - gen, sigma


# ------------------------------------------------------------------------------ paths


def smooth_error(groups: np.ndarray, rms: float, rng: np.random.Generator) -> np.ndarray:
    """``groups`` (7, 2) plus a random smooth error of exactly ``rms`` px rms."""
    return np.asarray(groups, np.float64) + rms * smooth_path_error(rng)


def solve(y: np.ndarray, groups: np.ndarray, sigma: float, gen: np.ndarray) -> np.ndarray:
    """The solver's frames for the luma ``y`` told ``groups`` known to ``sigma`` px rms
    (weight :func:`~blurvid.deconvolution.weight_for`), in ``gen``'s temporal order."""

    frames = dc.deconvolve_y(np.ascontiguousarray(y, np.float32), groups, dc.weight_for(sigma))
    return align_order(frames, gen)


# ------------------------------------------------------------------------------ model


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1)


class FusionNet(nn.Module):
    """A 3-level U-Net (widths ``w``, ``2w``, ``4w``; 1/4 resolution at the bottom) over
    ``[y, gen - y, sol - gen, sigma / 3]``, two zero-initialized heads: the blend ``m`` and the
    residual ``r`` (see the module docstring). Any H, W (edge-padded to a multiple of 4)."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        w = width
        self.width = width
        self.enc1 = nn.Sequential(_conv(IN_CHANNELS, w), nn.ReLU(inplace=True),
                                  _conv(w, w), nn.ReLU(inplace=True))
        self.enc2 = nn.Sequential(_conv(w, 2 * w, 2), nn.ReLU(inplace=True),
                                  _conv(2 * w, 2 * w), nn.ReLU(inplace=True))
        self.enc3 = nn.Sequential(_conv(2 * w, 4 * w, 2), nn.ReLU(inplace=True),
                                  _conv(4 * w, 4 * w), nn.ReLU(inplace=True),
                                  _conv(4 * w, 4 * w), nn.ReLU(inplace=True))
        self.dec2 = nn.Sequential(_conv(6 * w, 2 * w), nn.ReLU(inplace=True),
                                  _conv(2 * w, 2 * w), nn.ReLU(inplace=True))
        self.dec1 = nn.Sequential(_conv(3 * w, w), nn.ReLU(inplace=True),
                                  _conv(w, w), nn.ReLU(inplace=True))
        self.head = _conv(w, 2 * NUM_FRAMES)  # blend m (first 7) and residual r (last 7)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, y: torch.Tensor, gen: torch.Tensor, sol: torch.Tensor,
                sigma: torch.Tensor) -> torch.Tensor:
        """``y`` (N, 1, H, W), ``gen`` and ``sol`` (N, 7, H, W) in the same temporal order,
        ``sigma`` (N,) px -> (N, 7, H, W) frames (not clipped)."""
        diff = sol - gen
        s = (sigma.to(y.dtype) / MAX_SIGMA).view(-1, 1, 1, 1) * torch.ones_like(y)
        # always padded (by 0 px on a multiple of 4), so an ONNX export traced at one size
        # pads at every size
        x, h, w = pad_to_multiple(torch.cat([y, gen - y, diff, s], dim=1), 4)
        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        d2 = self.dec2(torch.cat([F.interpolate(e3, size=e2.shape[-2:], mode="bilinear",
                                                align_corners=False), e2], dim=1))
        d1 = self.dec1(torch.cat([F.interpolate(d2, size=e1.shape[-2:], mode="bilinear",
                                                align_corners=False), e1], dim=1))
        out = self.head(d1)[..., :h, :w]
        m, r = out[:, :NUM_FRAMES], out[:, NUM_FRAMES:]
        return gen + m * diff + r


def project_exact(frames: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """:func:`blurvid.consistency.project` ``exact`` in PyTorch, differentiable (without its
    final redistribution of what clipping lost, which moves few pixels): frames (N, 7, H, W)
    whose linear-light mean is the photo ``y`` (N, 1, H, W)."""
    lin = frames.clamp(0.0, 1.0) ** GAMMA
    lin = (lin + (y.clamp(0.0, 1.0) ** GAMMA - lin.mean(dim=1, keepdim=True))).clamp(1e-6, 1.0)
    return lin ** (1.0 / GAMMA)


def order_invariant_mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per batch, the mean over samples of the MSE of ``pred`` or ``pred`` reversed in time,
    whichever is lower (:func:`blurvid.lab.train.losses.order_invariant_mse`)."""

    return losses.order_invariant_mse(pred, target)[0]


# ------------------------------------------------------------------------------ cache


def _cache_shard(args: tuple) -> str:
    (out, shard, count, size, photos, objects_dir, seed, solves, estimator, p_static) = args

    cv2.setNumThreads(1)

    path = Path(out) / f"shard_{shard:02d}.npz"
    if path.is_file():
        return str(path)
    cfg = SynthConfig.realistic(size=size, p_static=p_static)
    session = _estimator_session(estimator) if estimator else None
    objects = [load_object(p) for p in list_images(objects_dir)] if objects_dir else None
    extractor = Extractor(threads=1)
    rng = np.random.default_rng([seed, shard, 1])
    f16 = np.float16
    arrays = {"y": np.empty((count, 1, size, size), f16),
              "gen": np.empty((count, NUM_FRAMES, size, size), f16),
              "truth": np.empty((count, NUM_FRAMES, size, size), f16),
              "sol": np.empty((count, solves, NUM_FRAMES, size, size), f16),
              "sigma": np.empty((count, solves), np.float32),
              "length": np.empty(count, np.float32)}
    start = time.perf_counter()
    samples = render_samples(photos, count, cfg, int(np.random.SeedSequence([seed, shard])
                                                     .generate_state(1)[0]), objects)
    for i, (blur, frames, info) in enumerate(samples):
        y = rgb_to_y(blur).astype(np.float32)
        gen = extractor.luma_frames(extractor.to_ycbcr(blur))
        groups = dc.group_centers(info["path"])
        arrays["y"][i, 0] = y
        arrays["gen"][i] = gen
        arrays["truth"][i] = rgb_to_y(frames)
        arrays["length"][i] = info["length"]
        for k in range(solves):
            if session is not None and k == 0:  # the estimator's own path and sigma
                estimate, pred = _estimator_path(session, y)
                arrays["sigma"][i, k] = min(pred, MAX_SIGMA)
                arrays["sol"][i, k] = solve(y, estimate, pred, gen)
                continue
            # stratified in [0, MAX_SIGMA]; the first stratum holds sigma 0 a quarter of the time
            lo, hi = MAX_SIGMA * k / solves, MAX_SIGMA * (k + 1) / solves
            sigma = float(rng.uniform(lo, hi))
            if k == 0 and rng.random() < 0.25:
                sigma = 0.0
            arrays["sigma"][i, k] = sigma
            arrays["sol"][i, k] = solve(y, smooth_error(groups, sigma, rng), sigma, gen)
        if (i + 1) % 100 == 0:
            print(f"shard {shard}: {i + 1}/{count} ({time.perf_counter() - start:.0f} s)",
                  file=sys.stderr, flush=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
    return str(path)


def build_cache(out, photos_dir, objects_dir, count: int, size: int = 160, workers: int = 2,
                seed: int = 0, solves: int = 2, estimator=None,
                p_static: float = 0.0) -> list[str]:
    """Write ``workers`` shards of ``count / workers`` samples to ``out`` (existing shards are
    kept: an interrupted cache resumes shard by shard). Returns the shard paths.
    ``estimator``: a path estimator ONNX whose own path (one per sample, its predicted sigma)
    replaces the first simulated path error of each sample, so the network learns that
    estimator's failures (a still camera called moving, a wrong length); ``p_static``: the
    share of still-camera samples (:class:`SynthConfig`)."""

    Path(out).mkdir(parents=True, exist_ok=True)
    photos = [str(p) for p in photos_in(photos_dir, "--photos")]
    per = -(-count // workers)
    jobs = [(str(out), s, per, size, photos, objects_dir and str(objects_dir), seed, solves,
             estimator and str(estimator), p_static)
            for s in range(workers)]
    if workers == 1:
        return [_cache_shard(j) for j in jobs]
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
        return list(pool.map(_cache_shard, jobs))


def load_cache(folder) -> dict:
    """The shards of ``folder`` concatenated (float16 images kept as float16)."""
    shards = sorted(Path(folder).glob("shard_*.npz"))
    if not shards:
        raise ValueError(f"no shard_*.npz in {folder}")
    parts = [dict(np.load(p)) for p in shards]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def make_batch(cache: dict, seed: int, step: int, batch: int, crop: int) -> dict:
    """Batch ``step``: a pure function of ``(seed, step)``: samples, which of their path errors,
    a random ``crop`` px window, flips and a transposition, and time reversal of gen and sol
    together. Returns float32 tensors ``y``, ``gen``, ``sol``, ``truth``, ``sigma``."""
    rng = np.random.default_rng([seed, step])
    n, solves, _, size, _ = cache["sol"].shape
    idx = rng.integers(n, size=batch)
    k = rng.integers(solves, size=batch)
    ys, gens, sols, truths = [], [], [], []
    for i, j in zip(idx, k):
        r0, c0 = (int(v) for v in rng.integers(0, size - crop + 1, size=2))
        win = (slice(None), slice(r0, r0 + crop), slice(c0, c0 + crop))
        parts = [cache["y"][i][win], cache["gen"][i][win], cache["sol"][i, j][win],
                 cache["truth"][i][win]]
        flip_v, flip_h, transpose, reverse = rng.random(4) < 0.5
        out = []
        for p in parts:
            p = p.astype(np.float32)
            if flip_v:
                p = p[:, ::-1]
            if flip_h:
                p = p[:, :, ::-1]
            if transpose:
                p = p.transpose(0, 2, 1)
            out.append(p)
        if reverse:
            out[1], out[2] = out[1][::-1], out[2][::-1]
        for lst, p in zip((ys, gens, sols, truths), out):
            lst.append(np.ascontiguousarray(p))
    return {"y": torch.from_numpy(np.stack(ys)), "gen": torch.from_numpy(np.stack(gens)),
            "sol": torch.from_numpy(np.stack(sols)), "truth": torch.from_numpy(np.stack(truths)),
            "sigma": torch.from_numpy(cache["sigma"][idx, k].astype(np.float32))}


# ------------------------------------------------------------------------------ training

DEFAULTS = dict(width=16, batch=8, crop=128, lr=1e-3, min_lr=2e-5, warmup=100, steps=2400,
                seed=0, save_every=200, log_every=50, no_solver=0, project=0)
# project=1: the loss is taken after the exact projection (project_exact), the way the
# pipeline uses the output (its frames average back to the photo).
# no_solver=1: the control, the same network and batches with the solver's frames replaced by
# the generator's (sol - gen = 0): what a second pass over the generator gains by itself.


def learning_rate(step: int, cfg: dict) -> float:
    """Cosine from ``lr`` to ``min_lr`` over ``steps`` after ``warmup`` steps of linear
    warm-up. A Python float (a numpy scalar in the optimizer's state would not load with
    ``torch.load(weights_only=True)``)."""
    warmup = cfg.get("warmup", 100)
    if step < warmup:
        return float(cfg["lr"] * (step + 1) / warmup)
    t = min(1.0, step / max(1, cfg["steps"]))
    return float(cfg["min_lr"] + 0.5 * (cfg["lr"] - cfg["min_lr"]) * (1 + np.cos(np.pi * t)))


def _save(path: Path, state: dict) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def train(cache, run, max_minutes: float | None = None, max_steps: int | None = None,
          log=print, init=None, **overrides) -> dict:
    """Train (or resume from ``run/last.pt``) until ``cfg['steps']``, ``max_steps`` steps in
    this call, or ``max_minutes``; returns the last checkpoint's state. ``cache``: a folder or
    an already loaded :func:`load_cache` dict. ``overrides``: :data:`DEFAULTS` keys (a resumed
    run keeps its own configuration). ``init``: a checkpoint whose weights start a new run (a
    fine-tune; ignored when resuming)."""
    run = Path(run)
    run.mkdir(parents=True, exist_ok=True)
    ckpt = run / "last.pt"
    data = load_cache(cache) if not isinstance(cache, dict) else cache
    if ckpt.is_file():
        state = torch.load(ckpt, weights_only=True)
        cfg = dict(state["config"])
    else:
        state, cfg = None, {**DEFAULTS, **overrides}
    torch.manual_seed(cfg["seed"])
    model = FusionNet(cfg["width"])
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    step, seconds = 0, 0.0
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        step, seconds = int(state["step"]), float(state["seconds"])
    elif init is not None:
        model.load_state_dict(torch.load(init, weights_only=True)["model"])
        log(f"started from the weights of {init}")
    start = time.perf_counter()
    first = step
    losses = []

    def snapshot() -> dict:
        return {"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step,
                "seconds": seconds + time.perf_counter() - start, "config": cfg}

    model.train()
    with (run / "log.jsonl").open("a", encoding="utf-8") as logf:
        while step < cfg["steps"]:
            if max_steps is not None and step - first >= max_steps:
                break
            if max_minutes is not None and time.perf_counter() - start > max_minutes * 60:
                break
            b = make_batch(data, cfg["seed"], step, cfg["batch"], cfg["crop"])
            for g in opt.param_groups:
                g["lr"] = learning_rate(step, cfg)
            sol = b["gen"] if cfg.get("no_solver") else b["sol"]
            pred = model(b["y"], b["gen"], sol, b["sigma"])
            if cfg.get("project"):
                pred = project_exact(pred, b["y"])
            loss = order_invariant_mse(pred, b["truth"])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            step += 1
            if step % cfg["log_every"] == 0:
                rec = {"step": step, "loss": float(np.mean(losses)),
                       "lr": learning_rate(step - 1, cfg),
                       "seconds": round(seconds + time.perf_counter() - start, 1)}
                logf.write(json.dumps(rec) + "\n")
                logf.flush()
                log(json.dumps(rec))
                losses = []
            if step % cfg["save_every"] == 0:
                _save(ckpt, snapshot())
    final = snapshot()
    _save(ckpt, final)
    return final


def load_model(path) -> FusionNet:
    """The network of a checkpoint, in eval mode; ``model.no_solver`` from its config."""
    state = torch.load(path, weights_only=True)
    model = FusionNet(int(state["config"]["width"]))
    model.load_state_dict(state["model"])
    model.no_solver = bool(state["config"].get("no_solver", 0))
    model.eval()
    return model


@torch.no_grad()
def fuse(model: FusionNet, y: np.ndarray, gen: np.ndarray, sol: np.ndarray,
         sigma: float) -> np.ndarray:
    """The fusion's (7, H, W) frames of one photo (numpy in, numpy out, clipped to [0, 1])."""
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a, np.float32))[None]  # noqa: E731
    if getattr(model, "no_solver", False):
        sol = gen
    out = model(t(y[None]), t(gen), t(sol), torch.tensor([float(sigma)]))[0].numpy()
    return np.clip(out, 0.0, 1.0)


# ------------------------------------------------------------------------------ ONNX

ONNX_INPUTS = ("y", "gen", "sol", "sigma")


def export_onnx(model: FusionNet, out, opset: int = 17) -> Path:
    """Write ``model`` as ONNX (atomically): inputs ``y`` float32 (N, 1, H, W), ``gen`` and
    ``sol`` (N, 7, H, W) in the same temporal order, ``sigma`` (N,) px; output ``frames``
    (N, 7, H, W), not clipped; any N, H, W (traced at 64x64, edge-padded to a multiple of 4
    inside). Run by :class:`blurvid.lab.motion.MotionRefiner`; not bundled (docs/experiments.md)."""

    out = Path(out)
    dims = {0: "N", 2: "H", 3: "W"}
    buffer = io.BytesIO()
    sample = (torch.rand(1, 1, 64, 64), torch.rand(1, NUM_FRAMES, 64, 64),
              torch.rand(1, NUM_FRAMES, 64, 64), torch.rand(1))
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the tracer's notes on shape arithmetic
        torch.onnx.export(model.eval(), sample, buffer, input_names=list(ONNX_INPUTS),
                          output_names=["frames"],
                          dynamic_axes={"y": dims, "gen": dims, "sol": dims, "sigma": {0: "N"},
                                        "frames": dims},
                          opset_version=opset, do_constant_folding=True, dynamo=False)
    write_bytes_atomic(out, buffer.getvalue())
    return out


# ------------------------------------------------------------------------------ evaluation


def _estimator_session(path):
    """A one-thread ONNX Runtime session on a path estimator file."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _estimator_path(session, y: np.ndarray, tile: int = 128, stride: int = 64):
    """One path for the photo (the windows' estimates oriented and averaged:
    :func:`blurvid.deconvolution.one_path`) and the median predicted sigma (None without a
    ``log_sigma`` output)."""

    paths, sigma = estimate_paths(session, y, tile, stride)
    return dc.one_path(paths), (float(np.median(sigma)) if sigma is not None else None)


def evaluate(ckpt, images, objects=None, count: int = 200, size: str = "256x256",
             seed: int = 1234, sigmas=(0.0, 1.0, 2.0), estimator=None, est_sigma: float = 2.0,
             project_rows: bool = True, progress=True, settings: dict | None = None) -> dict:
    """Per-sample order-invariant Y PSNRs of each method on the realistic validation samples
    (``render_samples`` of ``images`` with ``SynthConfig.realistic``, objects from
    ``objects``). The path error of each sample is one random smooth shape
    (:func:`~blurvid.lab.data.synth.smooth_path_error`, ``default_rng([seed, 7, k])``) scaled to each sigma: the sigmas
    are compared on the same errors. Returns the summary (:func:`summarize`)."""

    cv2.setNumThreads(1)

    model = load_model(ckpt) if ckpt else None
    cfg = SynthConfig.realistic(size=parse_size(size), **(settings or {}))
    objs = [load_object(p) for p in list_images(objects)] if objects else None
    extractor = Extractor(threads=1)
    unprojected = Extractor(threads=1, projection="none", session=extractor.session)
    session = None
    if estimator:
        session = _estimator_session(estimator)
    rows = []
    times: dict = {}
    start = time.perf_counter()

    def score(name, frames, truth_y, row):
        row[name] = frame_psnrs(np.clip(frames, 0, 1), truth_y)[0]

    for k, (blur, truth, info) in enumerate(render_samples(photos_in(images, "--images"), count,
                                                           cfg, seed, objs)):
        truth_y = rgb_to_y(truth)
        y = rgb_to_y(blur).astype(np.float32)
        row = {"blur_px": float(info["length"]), "input": frame_psnrs(y, truth_y)[0]}
        score("generator", rgb_to_y(extractor.extract(blur)), truth_y, row)
        # the fair reference for rows without the projection: the generator without it
        score("generator, no projection", rgb_to_y(unprojected.extract(blur)), truth_y, row)
        t0 = time.perf_counter()
        gen = extractor.luma_frames(extractor.to_ycbcr(blur))
        times["generator"] = times.get("generator", 0.0) + time.perf_counter() - t0
        groups = dc.group_centers(info["path"])
        unit = smooth_path_error(np.random.default_rng([seed, 7, k]))
        arms = []
        for spec in sigmas:  # error px, or (error px, the sigma the solver and fusion are told)
            err, told = (spec, spec) if np.ndim(spec) == 0 else spec
            label = f"sigma {err:g}" if told == err else f"error {err:g}, told sigma {told:g}"
            arms.append((label, groups + err * unit, told, min(told, MAX_SIGMA)))
        if session is not None:
            path, pred = _estimator_path(session, y)
            s_used = pred if pred is not None else est_sigma
            row["est_rms"] = dc.path_error(path, groups)[0]
            row["est_sigma"] = s_used
            arms.append(("estimator", path, s_used, min(s_used, MAX_SIGMA)))
        for label, path, s_weight, s_input in arms:
            t0 = time.perf_counter()
            sol = solve(y, path, s_weight, gen)
            times[f"solver, {label}"] = times.get(f"solver, {label}", 0.0) \
                + time.perf_counter() - t0
            score(f"solver, {label}", sol, truth_y, row)
            if model is not None:
                t0 = time.perf_counter()
                out = fuse(model, y, gen, sol, s_input)
                times[f"fusion, {label}"] = times.get(f"fusion, {label}", 0.0) \
                    + time.perf_counter() - t0
                score(f"fusion, {label}", out, truth_y, row)
                if project_rows:
                    score(f"fusion + exact projection, {label}", project(out, y, "exact"),
                          truth_y, row)
        rows.append(row)
        if progress:
            print(f"{k + 1}/{count} ({time.perf_counter() - start:.0f} s)", file=sys.stderr,
                  end="\r", flush=True)
    if progress:
        print(file=sys.stderr)
    return summarize(rows, {k: v / len(rows) for k, v in times.items()})


def summarize(rows: list[dict], times: dict | None = None) -> dict:
    """Means per method: per frame, mean, middle, gains over INPUT, frames above INPUT, and
    the same by blur length (:data:`blurvid.lab.bench.BLUR_BINS`)."""

    names = [k for k in rows[0] if k not in ("blur_px", "input", "est_rms", "est_sigma")]
    inp = np.mean([r["input"] for r in rows], axis=0)
    out = {"samples": len(rows),
           "input": {"frames": [round(float(v), 3) for v in inp],
                     "mean": round(float(inp.mean()), 3), "middle": round(float(inp[MIDDLE]), 3)},
           "methods": {}, "by_blur_px": [], "rows": rows}
    for name in names:
        f = np.mean([r[name] for r in rows], axis=0)
        out["methods"][name] = {
            "frames": [round(float(v), 3) for v in f], "mean": round(float(f.mean()), 3),
            "middle": round(float(f[MIDDLE]), 3),
            "gain_mean": round(float(f.mean() - inp.mean()), 3),
            "gain_middle": round(float(f[MIDDLE] - inp[MIDDLE]), 3),
            "gain_frames": [round(float(v), 3) for v in f - inp],
            "frames_above_input": int(np.sum(f > inp)),
            "ms_per_sample": round(1000 * (times or {}).get(name, float("nan")), 1)}
    for low, high in zip(BLUR_BINS[:-1], BLUR_BINS[1:]):
        sel = [r for r in rows if low <= r["blur_px"] < high]
        if not sel:
            continue
        i = np.mean([r["input"] for r in sel], axis=0)
        entry = {"blur_px": [low, None if high == float("inf") else high], "samples": len(sel),
                 "input_mean": round(float(i.mean()), 3), "gains": {}}
        for name in names:
            f = np.mean([r[name] for r in sel], axis=0)
            entry["gains"][name] = [round(float(f.mean() - i.mean()), 3),
                                    round(float(f[MIDDLE] - i[MIDDLE]), 3)]
        out["by_blur_px"].append(entry)
    refs = [r for r in ("generator", "generator, no projection") if r in names]
    out["per_sample"] = {ref: {name: against(rows, name, ref) for name in names if name != ref}
                         for ref in refs}
    if "est_rms" in rows[0]:
        out["estimator"] = {"rms_mean": round(float(np.mean([r["est_rms"] for r in rows])), 3),
                            "rms_median": round(float(np.median([r["est_rms"] for r in rows])),
                                                3),
                            "sigma_mean": round(float(np.mean([r["est_sigma"] for r in rows])),
                                                3)}
    return out


def against(rows: list[dict], name: str, ref: str) -> dict:
    """Per sample, ``name``'s mean PSNR over the 7 frames minus ``ref``'s: the mean difference
    (dB), its standard error, the share of samples where ``name`` is better, the worst."""
    d = np.array([np.mean(r[name]) - np.mean(r[ref]) for r in rows])
    return {"mean": round(float(d.mean()), 3),
            "se": round(float(d.std(ddof=1) / np.sqrt(len(d))), 3) if len(d) > 1 else None,
            "better": round(float(np.mean(d > 0)), 3), "worst": round(float(d.min()), 2)}


def print_summary(result: dict) -> None:
    print(f"{result['samples']} samples; Y PSNR (dB), order-invariant; gains over INPUT")
    print()
    print("| method | " + " | ".join(f"gain {k + 1}" for k in range(NUM_FRAMES))
          + " | mean | middle | gain mean | gain middle | frames > INPUT |")
    print("|---|" + "---:|" * (NUM_FRAMES + 5))
    inp = result["input"]
    print("| INPUT | " + " | ".join(f"{v:.2f}" for v in inp["frames"])
          + f" | {inp['mean']:.2f} | {inp['middle']:.2f} | | | |")
    for name, m in result["methods"].items():
        print(f"| {name} | " + " | ".join(f"{v:+.2f}" for v in m["gain_frames"])
              + f" | {m['mean']:.2f} | {m['middle']:.2f} | {m['gain_mean']:+.2f} | "
              f"{m['gain_middle']:+.2f} | {m['frames_above_input']} |")
    print()
    print("gain over INPUT by blur length, mean / middle (dB)")
    print()
    names = list(result["methods"])
    print("| blur length | samples | INPUT mean | " + " | ".join(names) + " |")
    print("|---|---:|---:|" + "---:|" * len(names))
    for b in result["by_blur_px"]:
        low, high = b["blur_px"]
        span = f"{low:g}+ px" if high is None else f"{low:g}-{high:g} px"
        print(f"| {span} | {b['samples']} | {b['input_mean']:.2f} | " + " | ".join(
            f"{b['gains'][n][0]:+.2f} / {b['gains'][n][1]:+.2f}" for n in names) + " |")
    if "estimator" in result:
        e = result["estimator"]
        print()
        print(f"estimator: rms path error {e['rms_mean']:.2f} px mean, {e['rms_median']:.2f} "
              f"median; sigma used {e['sigma_mean']:.2f} px mean")
    for ref, table in result.get("per_sample", {}).items():
        print()
        print(f"per sample against the {ref}: mean difference of the 7-frame mean (dB), "
              "standard error, share better, worst sample")
        print()
        print("| method | difference | standard error | better | worst |")
        print("|---|---:|---:|---:|---:|")
        for name, d in table.items():
            se = "" if d["se"] is None else f"{d['se']:.3f}"
            print(f"| {name} | {d['mean']:+.3f} | {se} | {100 * d['better']:.0f} % | "
                  f"{d['worst']:+.2f} |")


# ------------------------------------------------------------------------------ CLI


def parse_sigma(text: str):
    """``"1.5"`` -> 1.5 (a path error, told as it is); ``"2:1"`` -> (2.0, 1.0): an error of 2 px
    rms, the solver's weight and the fusion's sigma input set for 1 px (a miscalibrated
    estimate)."""
    err, sep, told = text.partition(":")
    return (float(err), float(told)) if sep else float(err)


def main(argv=None) -> int:
    home = Path.home() / ".cache" / "blurvid" / "photos"
    ap = argparse.ArgumentParser(prog="python -m blurvid.lab.train.fusion")
    sub = ap.add_subparsers(dest="command", required=True)
    c = sub.add_parser("cache", help="pre-render the training samples")
    c.add_argument("--out", default="runs/fusion/cache")
    c.add_argument("--photos", default=str(home / "train"))
    c.add_argument("--objects", default=str(home / "objects"))
    c.add_argument("--count", type=int, default=2000)
    c.add_argument("--size", type=int, default=160)
    c.add_argument("--workers", type=int, default=2)
    c.add_argument("--solves", type=int, default=2, help="path errors (solver runs) per sample")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--estimator", help="a path estimator ONNX: its path replaces the first "
                   "simulated path error of each sample")
    c.add_argument("--p-static", type=float, default=0.0, help="share of still-camera samples")
    t = sub.add_parser("train", help="train or resume")
    t.add_argument("--cache", default="runs/fusion/cache")
    t.add_argument("--run", default="runs/fusion")
    t.add_argument("--max-minutes", type=float)
    t.add_argument("--threads", type=int, default=1)
    t.add_argument("--init", help="start a new run from this checkpoint's weights")
    for key, value in DEFAULTS.items():
        t.add_argument("--" + key.replace("_", "-"), type=type(value), default=value)
    x = sub.add_parser("export", help="the network as ONNX")
    x.add_argument("--ckpt", default="runs/fusion/last.pt")
    x.add_argument("--out", default="runs/fusion/fusion.onnx")
    sh = sub.add_parser("show", help="the table of an eval's --json file, again")
    sh.add_argument("json")
    e = sub.add_parser("eval", help="the validation table")
    e.add_argument("--ckpt", default="runs/fusion/last.pt", help="'' for no fusion rows")
    e.add_argument("--images", default=str(home / "val"))
    e.add_argument("--objects", default=str(home / "objects"))
    e.add_argument("-n", "--count", type=int, default=200)
    e.add_argument("--size", default="256x256")
    e.add_argument("--seed", type=int, default=1234)
    e.add_argument("--sigmas", default="0,1,2",
                   help="path errors (px rms), comma-separated; ERR:TOLD tells the solver and "
                        "the fusion TOLD instead")
    e.add_argument("--estimator", help="a path estimator ONNX (blur -> path, log_sigma)")
    e.add_argument("--est-sigma", type=float, default=2.0,
                   help="sigma for an estimator without log_sigma")
    e.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                   help="a synthesizer setting over the realistic ones (e.g. p_static=1: "
                        "still cameras)")
    e.add_argument("--threads", type=int, default=1)
    e.add_argument("--json", help="write the result here")
    args = ap.parse_args(argv)
    torch.set_num_threads(getattr(args, "threads", 1))
    if args.command == "cache":
        for p in build_cache(args.out, args.photos, args.objects or None, args.count, args.size,
                             args.workers, args.seed, args.solves, args.estimator,
                             args.p_static):
            print(p)
    elif args.command == "train":
        overrides = {k: getattr(args, k) for k in DEFAULTS}
        state = train(args.cache, args.run, args.max_minutes, init=args.init, **overrides)
        print(f"step {state['step']} of {state['config']['steps']}, "
              f"{state['seconds'] / 60:.1f} min")
    elif args.command == "export":
        print(export_onnx(load_model(args.ckpt), args.out))
    elif args.command == "show":
        print_summary(summarize(json.loads(Path(args.json).read_text())["rows"]))
    else:
        result = evaluate(args.ckpt or None, args.images, args.objects or None, args.count,
                          args.size, args.seed, [parse_sigma(s) for s in args.sigmas.split(",")],
                          args.estimator, args.est_sigma,
                          settings=parse_settings(args.settings))
        if args.json:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps(result, indent=1))
        print_summary(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
