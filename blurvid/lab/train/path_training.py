"""Training of the path estimator (issue 19, stage 1): caches, loop, evaluation, export.

Run as a module (``python -m blurvid.lab.train.path_training COMMAND ...``):

* ``cache --out runs/path/cache/train --photos DIR --count 16000 --workers 2``: pre-render
  training tiles with the REALISTIC synthesizer (``SynthConfig.realistic(size=128)``, objects
  from ``--objects``) in chunks of ``--chunk`` tiles, ``chunk_XXXX.npz`` each holding ``blur``
  (uint8 luma, N x 128 x 128), ``path`` (float32 N x M x 2, M = 21 sub-frames) and
  ``length`` (float32 N). Chunk ``c`` draws from ``numpy.random.default_rng([seed, c])``, so a
  chunk is a pure function of (photos, seed, c) and an interrupted cache resumes chunk by
  chunk (existing chunks are kept).
* ``valcache --out runs/path/cache/val.npz --photos DIR``: the fixed validation cache, the
  standard stream :func:`blurvid.lab.data.synth.render_samples` (seed 1234, 500 tiles).
* ``train --cache runs/path/cache/train --val runs/path/cache/val.npz --run runs/path``: the
  loop. One checkpoint ``RUN/last.pt`` (replaced atomically) every ``--save-every`` steps and
  at the end; ``RUN/best.pt`` at the best validation; ``RUN/log.jsonl``. Batch ``i`` is a pure
  function of ``(seed, i)`` (tile indices and augmentation), the optimizer and schedule are in
  the checkpoint, so a run resumes exactly where it stopped (``--max-minutes`` stops a run
  cleanly; rerun the same command to continue).
* ``eval --ckpt runs/path/best.pt --val runs/path/cache/val.npz``: the accuracy table (rms path
  error and length error by blur length, with the zero-path and straight-line baselines).
* ``export --ckpt runs/path/best.pt --out blurvid/models/blurvid-path.onnx``.

* ``speed --onnx blurvid/models/blurvid-path.onnx --tiles 40 --threads 2``: ONNX Runtime time.

The recipe is the argparse defaults (``DEFAULTS``). The model exported to
``runs/path/blurvid-path.onnx`` (not bundled: 3.97 px rms on validation, far from the ~1 px the
solver needs) was trained with

    python -m blurvid.lab.train.path_training valcache
    python -m blurvid.lab.train.path_training cache --count 16000 --workers 2
    python -m blurvid.lab.train.path_training train --chunks 16 --smooth 0 --max-minutes 55
    python -m blurvid.lab.train.path_training eval --ckpt runs/path/best.pt
    python -m blurvid.lab.train.path_training export --ckpt runs/path/best.pt \
        --out runs/path/blurvid-path.onnx

(batch 32, AdamW lr 2e-3 with 300 warm-up steps and a cosine to 5e-5 over 7000 steps, one
PyTorch thread, 34 min of training on a shared 2-core CPU, random symmetries of the square on
every tile). ``--smooth 1`` (the default since) learned faster per step and ended equal
(3.999 px after 1600 + 3200 steps in two phases, ``--init``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from pathlib import Path

import numpy as np

from blurvid.color import rgb_to_y
from blurvid.io import write_bytes_atomic
from blurvid.lab.data.synth import (SynthConfig, list_images, load_object, load_photo, render,
                                    render_samples)
from blurvid.runtime import write_checksum

# path_estimator (and so torch) is imported inside the commands that train or export: the
# cache commands' spawned render workers stay free of torch.

TILE = 128
K_SUB = 3  # sub-frames per frame in the synthesizer
BINS = ((0, 5), (5, 10), (10, 20), (20, 40.01))
PHOTOS = Path.home() / ".cache" / "blurvid" / "photos"


# ---------------------------------------------------------------------------------------------
# caches

def _render_chunk(args) -> str:
    """Render chunk ``c`` to ``out/chunk_c.npz`` (atomically); a worker entry point."""
    photo_paths, object_paths, out, seed, c, n = args
    import cv2


    cv2.setNumThreads(1)
    target = Path(out) / f"chunk_{c:04d}.npz"
    if target.exists():
        return str(target)
    cache = _render_chunk.__dict__.setdefault("cache", {})
    if "photos" not in cache:
        cache["photos"] = [load_photo(p) for p in photo_paths]
        cache["objects"] = [load_object(p) for p in object_paths]
    photos, objects = cache["photos"], cache["objects"]
    cfg = SynthConfig.realistic(size=TILE)
    rng = np.random.default_rng([seed, c])
    blur = np.empty((n, TILE, TILE), np.uint8)
    paths = np.empty((n, 7 * K_SUB, 2), np.float32)
    length = np.empty(n, np.float32)
    for i in range(n):
        info: dict = {}
        b, _ = render(photos[int(rng.integers(len(photos)))], rng, cfg, objects=objects,
                      info=info)
        blur[i] = np.clip(np.rint(rgb_to_y(b) * 255), 0, 255).astype(np.uint8)
        paths[i] = info["path"]
        length[i] = info["length"]
    tmp = target.with_name(target.name + ".tmp.npz")
    np.savez(tmp, blur=blur, path=paths, length=length)
    os.replace(tmp, target)
    return str(target)


def _images(folder) -> list[str]:

    return [str(p) for p in list_images(Path(folder))]


def build_cache(out, photos, objects, count: int, chunk: int = 1000, seed: int = 0,
                workers: int = 1) -> list[str]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    photo_paths, object_paths = _images(photos), _images(objects) if objects else []
    jobs = [(photo_paths, object_paths, str(out), seed, c, chunk)
            for c in range((count + chunk - 1) // chunk)]
    if workers <= 1:
        return [_render_chunk(j) for j in jobs]
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(workers) as pool:
        done = []
        for name in pool.imap_unordered(_render_chunk, jobs):
            done.append(name)
            print(f"{time.strftime('%H:%M:%S')} {name}", flush=True)
        return done


def build_val_cache(out, photos, objects, count: int = 500, seed: int = 1234) -> None:

    objs = [load_object(p) for p in _images(objects)] if objects else None
    cfg = SynthConfig.realistic(size=TILE)
    blur, paths, length, parallax, movers = [], [], [], [], []
    for b, _, info in render_samples(_images(photos), count, cfg, seed, objs):
        blur.append(np.clip(np.rint(rgb_to_y(b) * 255), 0, 255).astype(np.uint8))
        paths.append(info["path"].astype(np.float32))
        length.append(info["length"])
        parallax.append(info["parallax"] or 0.0)
        movers.append(len(info["objects"]))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.npz")
    np.savez(tmp, blur=np.stack(blur), path=np.stack(paths),
             length=np.asarray(length, np.float32), parallax=np.asarray(parallax, np.float32),
             objects=np.asarray(movers, np.int32))
    os.replace(tmp, out)


def load_cache(folder_or_file, limit: int | None = None) -> dict:
    """All chunks of a cache folder (sorted; the first ``limit`` chunks) or one .npz file."""
    p = Path(folder_or_file)
    files = [p] if p.is_file() else sorted(f for f in p.glob("chunk_*.npz")
                                             if ".tmp" not in f.name)[:limit]
    if not files:
        raise FileNotFoundError(f"no cache chunks in {p}")
    parts = [np.load(f) for f in files]
    keys = [k for k in ("blur", "path", "length", "parallax", "objects")
            if all(k in d for d in parts)]
    return {k: np.concatenate([d[k] for d in parts]) for k in keys}


# ---------------------------------------------------------------------------------------------
# training

DEFAULTS = dict(steps=7000, batch=32, lr=2e-3, lr_min=5e-5, warmup=300, weight_decay=1e-4,
                clip=1.0, sigma_weight=0.05, seed=0, val_every=400, save_every=200,
                width=24, ac_width=16, hidden=128, norm=1, smooth=1)
_RESUME_KEYS = ("steps", "batch", "lr", "lr_min", "warmup", "weight_decay", "clip",
                "sigma_weight", "seed", "width", "ac_width", "hidden", "norm", "smooth")


def make_batch(data: dict, step: int, batch: int, seed: int):
    """Batch ``step``: a pure function of (data, seed, step): tiles and symmetries drawn from
    ``default_rng([seed, step])``. Returns float32 (B, 1, 128, 128) luma and (B, 7, 2) targets."""
    from blurvid.lab.train.path_estimator import augment, group_centers

    rng = np.random.default_rng([seed, step])
    idx = rng.integers(len(data["blur"]), size=batch)
    codes = rng.integers(8, size=batch)
    ys, ts = [], []
    for i, code in zip(idx, codes):
        y, p = augment(data["blur"][i], data["path"][i], int(code))
        ys.append(y)
        ts.append(group_centers(p))
    y = np.stack(ys)[:, None].astype(np.float32) / 255.0
    return y, np.stack(ts).astype(np.float32)


def lr_at(step: int, cfg: dict) -> float:
    if step < cfg["warmup"]:
        return cfg["lr"] * (step + 1) / cfg["warmup"]
    t = min(1.0, (step - cfg["warmup"]) / max(1, cfg["steps"] - cfg["warmup"]))
    return float(cfg["lr_min"] + 0.5 * (cfg["lr"] - cfg["lr_min"]) * (1 + np.cos(np.pi * t)))


def _save_atomic(obj, path: Path) -> None:
    import torch

    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def build_model(cfg: dict):
    from blurvid.lab.train.path_estimator import PathEstimator

    return PathEstimator(width=cfg["width"], ac_width=cfg["ac_width"], hidden=cfg["hidden"],
                         norm=bool(cfg.get("norm", 0)), smooth=bool(cfg.get("smooth", 0)))


def train(data: dict, run, val: dict | None = None, max_minutes: float | None = None,
          stop_at: int | None = None, log=print, init=None, **overrides) -> dict:
    """Train (or resume from ``run/last.pt``) until ``cfg['steps']``, ``stop_at`` steps or
    ``max_minutes`` of this session. ``init``: a checkpoint whose weights start a new run (a
    second phase with its own schedule; ignored when resuming). Returns the final state
    summary."""
    import torch

    from blurvid.lab.train.path_estimator import path_loss

    cfg = dict(DEFAULTS)
    cfg.update(overrides)
    run = Path(run)
    run.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg["seed"])
    model = build_model(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    step, best, seconds = 0, {"rms": float("inf"), "step": -1}, 0.0
    last = run / "last.pt"
    if last.exists():
        state = torch.load(last, map_location="cpu", weights_only=True)
        saved = {"norm": 0, "smooth": 0, **state["config"]}  # keys added since default off
        changed = {k: (saved.get(k), cfg[k]) for k in _RESUME_KEYS if saved.get(k) != cfg[k]}
        if changed:
            raise ValueError(f"{last} was trained with other settings {changed}; use another "
                             "--run or the same settings")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step, best, seconds = state["step"], state["best"], state["train_seconds"]
        log(f"resumed {last} at step {step}")
    elif init is not None:
        model.load_state_dict(torch.load(init, map_location="cpu", weights_only=True)["model"])
        log(f"started from the weights of {init}")

    def checkpoint():
        _save_atomic({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                      "best": best, "train_seconds": seconds, "config": cfg,
                      "arch": model.arch, "torch": str(torch.__version__)}, last)

    start = time.time()
    end = cfg["steps"] if stop_at is None else min(cfg["steps"], stop_at)
    logf = open(run / "log.jsonl", "a")
    window = []
    model.train()
    while step < end:
        if max_minutes is not None and time.time() - start > max_minutes * 60:
            log(f"time budget of {max_minutes} min reached at step {step}")
            break
        t0 = time.time()
        y, t = make_batch(data, step, cfg["batch"], cfg["seed"])
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg)
        path, log_sigma = model(torch.from_numpy(y))
        loss, err2 = path_loss(path, torch.from_numpy(t), log_sigma, cfg["sigma_weight"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["clip"])
        opt.step()
        step += 1
        seconds += time.time() - t0
        window.append(float(err2.detach().mean()))
        if step % 50 == 0:
            rec = {"step": step, "rms_train": float(np.sqrt(np.mean(window))),
                   "lr": lr_at(step - 1, cfg), "s_per_step": seconds / step}
            window = []
            logf.write(json.dumps(rec) + "\n")
            logf.flush()
        if val is not None and (step % cfg["val_every"] == 0 or step == cfg["steps"]):
            metrics = evaluate(model, val)
            model.train()
            rec = {"step": step, "val_rms": metrics["rms"], "val_len_err": metrics["len_err"],
                   "train_seconds": round(seconds, 1),
                   "wall": time.strftime("%H:%M:%S")}
            logf.write(json.dumps(rec) + "\n")
            logf.flush()
            log(json.dumps(rec))
            if metrics["rms"] < best["rms"]:
                best = {"rms": metrics["rms"], "step": step, "len_err": metrics["len_err"]}
                _save_atomic({"model": model.state_dict(), "step": step, "config": cfg,
                              "arch": model.arch, "metrics": metrics["summary"],
                              "train_seconds": seconds, "torch": str(torch.__version__)},
                             run / "best.pt")
        if step % cfg["save_every"] == 0:
            checkpoint()
    checkpoint()
    logf.close()
    return {"step": step, "best": best, "train_seconds": seconds}


# ---------------------------------------------------------------------------------------------
# evaluation

def _polyline_length(p: np.ndarray) -> np.ndarray:
    return np.linalg.norm(np.diff(p, axis=-2), axis=-1).sum(-1)


def _line_fit(t: np.ndarray) -> np.ndarray:
    """Least-squares straight line (uniform speed) through each (7, 2) path."""
    s = np.arange(t.shape[-2], dtype=np.float64) - (t.shape[-2] - 1) / 2
    slope = (s[None, :, None] * t).sum(1) / (s * s).sum()
    return slope[:, None, :] * s[None, :, None] + t.mean(1, keepdims=True)


def _err2_np(p: np.ndarray, t: np.ndarray) -> np.ndarray:
    p = p - p.mean(1, keepdims=True)
    t = t - t.mean(1, keepdims=True)
    fwd = ((p - t) ** 2).sum(-1).mean(-1)
    rev = ((p - t[:, ::-1]) ** 2).sum(-1).mean(-1)
    return np.minimum(fwd, rev)


def predict(model, blur_u8: np.ndarray, batch: int = 100):
    import torch

    model.eval()
    paths, sig = [], []
    with torch.no_grad():
        for i in range(0, len(blur_u8), batch):
            y = torch.from_numpy(blur_u8[i:i + batch, None].astype(np.float32) / 255.0)
            p, s = model(y)
            paths.append(p.numpy())
            sig.append(s.numpy())
    return np.concatenate(paths), np.concatenate(sig)


def _inverse_code(code: int) -> int:
    from blurvid.lab.train.path_estimator import augment

    probe = np.arange(12.0).reshape(3, 4)
    pth = np.array([[1.0, 2.0]])
    x, p = augment(probe, pth, code)
    for c in range(8):
        y, q = augment(x, p, c)
        if y.shape == probe.shape and np.array_equal(y, probe) and np.array_equal(q, pth):
            return c
    raise AssertionError(code)


def predict_tta(model, blur_u8: np.ndarray):
    """Test-time augmentation: the mean over the 8 symmetries of the square (each prediction
    mapped back and put in the orientation, forward or reversed, nearest the first)."""
    from blurvid.lab.train.path_estimator import augment

    paths, sigmas = [], []
    for code in range(8):
        imgs = np.stack([augment(b, np.zeros((1, 2)), code)[0] for b in blur_u8])
        p, s = predict(model, imgs)
        _, back = augment(np.zeros((2, 2)), p, _inverse_code(code))
        if paths:
            fwd = ((back - paths[0]) ** 2).sum((1, 2))
            rev = ((back[:, ::-1] - paths[0]) ** 2).sum((1, 2))
            back = np.where((rev < fwd)[:, None, None], back[:, ::-1], back)
        paths.append(back)
        sigmas.append(s)
    return np.mean(paths, 0), np.mean(sigmas, 0)


def evaluate(model, val: dict, pred=None) -> dict:
    """Accuracy on a cache: order-invariant rms path error (px, mean-removed group centers),
    length error of the centers' polyline, by blur length (``length``: the synthesizer's path
    length), with the zero-path and straight-line (fitted to the truth) baselines."""
    from blurvid.lab.train.path_estimator import group_centers

    p, log_sigma = predict(model, val["blur"]) if pred is None else pred
    t = group_centers(val["path"].astype(np.float64))
    err2 = _err2_np(p.astype(np.float64), t)
    base_zero = (t ** 2).sum(-1).mean(-1)
    base_line = _err2_np(_line_fit(t), t)
    lp, lt = _polyline_length(p), _polyline_length(t)
    sigma = np.exp(log_sigma)

    def row(name: str, sel: np.ndarray) -> dict:
        """The accuracy of the tiles ``sel`` (a boolean mask)."""
        return {"bin": name, "n": int(sel.sum()),
                "rms": float(np.sqrt(err2[sel].mean())),
                "median_rms": float(np.median(np.sqrt(err2[sel]))),
                "zero_rms": float(np.sqrt(base_zero[sel].mean())),
                "line_rms": float(np.sqrt(base_line[sel].mean())),
                "len_err_px": float(np.abs(lp - lt)[sel].mean()),
                "len_bias_px": float((lp - lt)[sel].mean()),
                "len_err_pct": float(100 * np.median(np.abs(lp - lt)[sel]
                                                     / np.maximum(lt[sel], 1))),
                "sigma_pred": float(sigma[sel].mean()),
                "true_len": float(lt[sel].mean())}

    selections = [(f"{lo:g}-{min(hi, 40):g}" if (lo, hi) != (0, 40.01) else "all",
                   (val["length"] >= lo) & (val["length"] < hi))
                  for lo, hi in BINS + ((0, 40.01),)]
    if "parallax" in val and "objects" in val:  # by scene type (the val cache records it)
        selections += [("static scene", (val["parallax"] == 0) & (val["objects"] == 0)),
                       ("parallax layer", val["parallax"] > 0),
                       ("moving objects only", (val["parallax"] == 0) & (val["objects"] > 0))]
    # tiles the estimator is sure of (what a fallback would keep)
    selections += [(f"pred sigma < {limit:g}", sigma < limit) for limit in (1.0, 1.5, 2.0, 3.0)]
    rows = [row(name, sel) for name, sel in selections if sel.any()]
    rms = float(np.sqrt(err2.mean()))
    return {"rms": rms, "len_err": float(np.abs(lp - lt).mean()), "rows": rows,
            "summary": {"rms_px": rms, "rows": rows},
            "sigma_corr": float(np.corrcoef(log_sigma, 0.5 * np.log(err2 + 1e-6))[0, 1])}


def format_table(metrics: dict) -> str:
    head = ("| blur px | n | rms err px | median | zero path | line fit (oracle) | "
            "len err px | len bias px | len err % (median) | pred sigma |")
    lines = [head, "|" + "---|" * 10]
    for r in metrics["rows"]:
        lines.append(f"| {r['bin']} | {r['n']} | {r['rms']:.2f} | {r['median_rms']:.2f} | "
                     f"{r['zero_rms']:.2f} | {r['line_rms']:.2f} | {r['len_err_px']:.2f} | "
                     f"{r['len_bias_px']:+.2f} | {r['len_err_pct']:.1f} | "
                     f"{r['sigma_pred']:.2f} |")
    lines.append(f"corr(log sigma_pred, log err) = {metrics['sigma_corr']:.2f}")
    return "\n".join(lines)


def load_model(ckpt):
    import torch

    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    model = build_model({**DEFAULTS, "norm": 0, "smooth": 0, **state["config"]})
    model.load_state_dict(state["model"])
    return model.eval(), state


# ---------------------------------------------------------------------------------------------
# export

INPUT_NAME, OUTPUTS = "blur", ("path", "log_sigma")


def export_onnx(model, out, metadata: dict | None = None, opset: int = 17) -> str:
    """Export to ONNX (opset 17, dynamic batch; legacy TorchScript exporter like
    :mod:`blurvid.lab.export`), atomically; returns the sha256."""
    import copy
    import hashlib
    import io
    import warnings

    import onnx
    import torch

    from blurvid.lab.train.path_estimator import TILE, PathEstimator, export_form

    probe = export_form(model) if isinstance(model, PathEstimator) \
        else copy.deepcopy(model).cpu().float().eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.no_grad():
            torch.onnx.export(probe, (torch.rand(2, 1, TILE, TILE),), buffer,
                              input_names=[INPUT_NAME], output_names=list(OUTPUTS),
                              dynamic_axes={INPUT_NAME: {0: "N"}, "path": {0: "N"},
                                            "log_sigma": {0: "N"}},
                              opset_version=opset, do_constant_folding=True, dynamo=False)
    proto = onnx.load_from_string(buffer.getvalue())
    props = {
        "blurvid_format": "path-1",
        "arch": model.arch,
        "input": f"{INPUT_NAME}: float32 N x 1 x {TILE} x {TILE}, gamma-encoded luma Y (BT.601 "
                 "full range) in [0, 1]",
        "output": "path: float32 N x 7 x 2, centers of the 7 sub-frame groups (dx, dy) in px, "
                  "mean-removed, forward or reversed; log_sigma: float32 N, log of the "
                  "predicted rms error in px",
        "opset": str(opset),
    }
    props.update({k: v if isinstance(v, str) else json.dumps(v, default=str)
                  for k, v in (metadata or {}).items()})
    onnx.helper.set_model_props(proto, props)
    proto.doc_string = "blurvid path estimator: a blurry luma tile in, the camera path out"
    onnx.checker.check_model(proto, full_check=True)
    data = proto.SerializeToString()
    write_bytes_atomic(Path(out), data)
    return hashlib.sha256(data).hexdigest()


def onnx_parity(model, path, batch: int = 3, seed: int = 0) -> float:
    """Max abs difference between ONNX Runtime and PyTorch on random tiles (both outputs)."""
    import onnxruntime as ort
    import torch

    from blurvid.lab.train.path_estimator import TILE

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    y = np.random.default_rng(seed).random((batch, 1, TILE, TILE), dtype=np.float32)
    model.eval()
    with torch.no_grad():
        ref = [o.numpy() for o in model(torch.from_numpy(y))]
    got = session.run(list(OUTPUTS), {INPUT_NAME: y})
    return max(float(np.abs(a - b).max()) for a, b in zip(ref, got))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m blurvid.lab.train.path_training")
    sub = parser.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("cache")
    c.add_argument("--out", default="runs/path/cache/train")
    c.add_argument("--photos", default=str(PHOTOS / "train"))
    c.add_argument("--objects", default=str(PHOTOS / "objects"))
    c.add_argument("--count", type=int, default=16000)
    c.add_argument("--chunk", type=int, default=1000)
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--workers", type=int, default=2)
    v = sub.add_parser("valcache")
    v.add_argument("--out", default="runs/path/cache/val.npz")
    v.add_argument("--photos", default=str(PHOTOS / "val"))
    v.add_argument("--objects", default=str(PHOTOS / "objects"))
    v.add_argument("--count", type=int, default=500)
    v.add_argument("--seed", type=int, default=1234)
    t = sub.add_parser("train")
    t.add_argument("--cache", default="runs/path/cache/train")
    t.add_argument("--chunks", type=int, default=None, help="use the first N chunks (all)")
    t.add_argument("--val", default="runs/path/cache/val.npz")
    t.add_argument("--run", default="runs/path")
    t.add_argument("--max-minutes", type=float, default=None)
    t.add_argument("--threads", type=int, default=1)
    t.add_argument("--init", default=None, help="start a new run from these weights")
    for key, value in DEFAULTS.items():
        t.add_argument("--" + key.replace("_", "-"), type=type(value), default=value)
    e = sub.add_parser("eval")
    e.add_argument("--ckpt", default="runs/path/best.pt")
    e.add_argument("--val", default="runs/path/cache/val.npz")
    e.add_argument("--onnx", default=None, help="evaluate this ONNX file instead")
    e.add_argument("--tta", action="store_true", help="mean over the 8 symmetries")
    x = sub.add_parser("export")
    x.add_argument("--ckpt", default="runs/path/best.pt")
    x.add_argument("--out", default="blurvid/models/blurvid-path.onnx")
    sp = sub.add_parser("speed")
    sp.add_argument("--onnx", default="blurvid/models/blurvid-path.onnx")
    sp.add_argument("--tiles", type=int, default=40)
    sp.add_argument("--threads", type=int, default=2)
    sp.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)
    if args.cmd == "cache":
        build_cache(args.out, args.photos, args.objects, args.count, args.chunk, args.seed,
                    args.workers)
    elif args.cmd == "valcache":
        build_val_cache(args.out, args.photos, args.objects, args.count, args.seed)
    elif args.cmd == "train":
        import torch

        torch.set_num_threads(args.threads)
        data = load_cache(args.cache, args.chunks)
        val = load_cache(args.val)
        print(f"{len(data['blur'])} training tiles, {len(val['blur'])} validation tiles",
              flush=True)
        overrides = {k: getattr(args, k) for k in DEFAULTS}
        result = train(data, args.run, val, max_minutes=args.max_minutes, init=args.init,
                       log=lambda m: print(m, flush=True), **overrides)
        print(json.dumps(result), flush=True)
    elif args.cmd == "eval":
        import torch

        torch.set_num_threads(1)
        val = load_cache(args.val)
        if args.onnx:
            import onnxruntime as ort

            session = ort.InferenceSession(args.onnx, providers=["CPUExecutionProvider"])
            y = val["blur"][:, None].astype(np.float32) / 255.0
            outs = [session.run(list(OUTPUTS), {INPUT_NAME: y[i:i + 100]})
                    for i in range(0, len(y), 100)]
            pred = (np.concatenate([o[0] for o in outs]), np.concatenate([o[1] for o in outs]))
            metrics = evaluate(None, val, pred)
        else:
            model, state = load_model(args.ckpt)
            print(f"{args.ckpt}: step {state['step']}")
            metrics = evaluate(model, val, predict_tta(model, val["blur"]) if args.tta else None)
        print(format_table(metrics))
    elif args.cmd == "export":

        model, state = load_model(args.ckpt)
        out = Path(args.out)
        meta = {"training": {"step": state["step"], "seconds": round(state["train_seconds"]),
                             "config": state["config"], "torch": state.get("torch")},
                "val": state.get("metrics"),
                "params": sum(p.numel() for p in model.parameters())}
        staging = out.with_name(f".{out.stem}.staging.onnx")
        digest = export_onnx(model, staging, meta)
        parity = onnx_parity(model, staging)
        if not parity < 1e-4:
            staging.unlink()
            raise SystemExit(f"ONNX disagrees with PyTorch: {parity:.2e}")
        os.replace(staging, out)
        write_checksum(out, digest)
        print(json.dumps({"path": str(out), "bytes": out.stat().st_size, "sha256": digest,
                          "parity": parity}))
    elif args.cmd == "speed":
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(args.onnx, options, providers=["CPUExecutionProvider"])
        y = np.random.default_rng(0).random((args.tiles, 1, TILE, TILE), dtype=np.float32)
        session.run(None, {INPUT_NAME: y})
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            session.run(None, {INPUT_NAME: y})
            times.append(time.perf_counter() - t0)
        print(f"{args.tiles} tiles of {TILE} px, {args.threads} threads: median "
              f"{1000 * np.median(times):.1f} ms, best {1000 * min(times):.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
