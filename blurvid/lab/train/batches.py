"""Training batches: numbered, reproducible, optionally rendered by worker processes.

Batch ``i`` of rank ``r`` is a pure function of ``(seed, r, i)``: its random numbers come from
``numpy.random.default_rng([seed, r, i])``. So the data position is one integer (the next batch
index, saved in checkpoints), a resumed run continues with exactly the batches it would have
seen, and batches rendered by ``W`` worker processes are the same bytes as batches rendered in
the training process.

Workers (``data.workers > 0``) are **spawned**, not forked: a forked child inherits OpenCV's and
PyTorch's thread pools in whatever state they were (a fork-based worker deadlocked). Worker
``w`` renders the batches ``i = w, w + W, w + 2W, ...`` into its own bounded queue and the
training process takes them round-robin, so the order never depends on timing. This module
imports neither torch nor any other training code: a spawned worker only loads numpy, OpenCV and
:mod:`blurvid.lab.data`.

Contract of a batch: ``(blur, frames)``, float32 luma in [0, 1], shapes ``(N, 1, H, W)`` and
``(N, 7, H, W)``.
"""

from __future__ import annotations

import multiprocessing
import queue as queue_module
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from blurvid.color import rgb_to_y
from blurvid.lab.data.synth import load_object, load_photo, render


def to_luma_arrays(samples) -> tuple[np.ndarray, np.ndarray]:
    """[(blur HxWx3, frames 7xHxWx3)] -> (N x 1 x H x W, N x 7 x H x W) float32 luma."""
    blur = np.stack([rgb_to_y(b) for b, _ in samples])[:, None]
    frames = np.stack([rgb_to_y(f) for _, f in samples])
    return blur.astype(np.float32), frames.astype(np.float32)


def batch_rng(seed: int, rank: int, index: int) -> np.random.Generator:
    """The random generator of batch ``index`` on ``rank``."""
    return np.random.default_rng([seed, rank, index])


@dataclass(frozen=True)
class SyntheticSpec:
    """What a process needs to render synthetic batches (paths, not pixels: it pickles small)."""

    photos: tuple[str, ...]
    synth: object  # blurvid.lab.data.synth.SynthConfig
    objects: tuple[str, ...]
    batch: int
    seed: int
    rank: int = 0

    def build(self) -> "SyntheticSource":
        return SyntheticSource(self)


class SyntheticSource:
    """Batches rendered from photos by :func:`blurvid.lab.data.synth.render`."""

    def __init__(self, spec: SyntheticSpec) -> None:
        self.spec = spec
        self.photos = [load_photo(p) for p in spec.photos]
        self.objects = [load_object(p) for p in spec.objects]

    def batch(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        spec = self.spec
        rng = batch_rng(spec.seed, spec.rank, index)
        return to_luma_arrays([render(self.photos[rng.integers(len(self.photos))], rng,
                                      spec.synth, objects=self.objects)
                               for _ in range(spec.batch)])


class DatasetSource:
    """Random square crops (and flips) of in-memory (blur, frames) samples."""

    def __init__(self, samples, crop: int, batch: int, seed: int, rank: int = 0) -> None:
        self.samples, self.crop, self.batch_size = samples, crop, batch
        self.seed, self.rank = seed, rank

    def batch(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        rng = batch_rng(self.seed, self.rank, index)
        picked = []
        for _ in range(self.batch_size):
            blur, frames = self.samples[rng.integers(len(self.samples))]
            h, w = blur.shape[:2]
            c = min(self.crop, h, w)
            y0, x0 = rng.integers(0, h - c + 1), rng.integers(0, w - c + 1)
            blur, frames = blur[y0:y0 + c, x0:x0 + c], frames[:, y0:y0 + c, x0:x0 + c]
            if rng.random() < 0.5:
                blur, frames = blur[:, ::-1], frames[:, :, ::-1]
            if rng.random() < 0.5:
                blur, frames = blur[::-1], frames[:, ::-1]
            picked.append((np.ascontiguousarray(blur), np.ascontiguousarray(frames)))
        return to_luma_arrays(picked)


class DataWorkerError(RuntimeError):
    """A data worker failed (its message says why) or died."""


def _worker_main(spec, worker: int, workers: int, start: int, out, stop) -> None:
    """Render batches ``worker + k * workers`` (the first one at or after ``start``)."""
    cv2.setNumThreads(1)
    index = start + (worker - start) % workers
    try:
        source = spec.build()
        while not stop.is_set():
            item = ("ok", index, source.batch(index))
            while not stop.is_set():
                try:
                    out.put(item, timeout=0.2)
                    break
                except queue_module.Full:
                    continue
            index += workers
    except BaseException as exc:  # report, do not hang the trainer
        out.put(("error", index, f"{type(exc).__name__}: {exc}"))


class Batches:
    """Batches ``start, start + 1, ...`` from a source, in the training process
    (``workers == 0``) or from ``workers`` spawned processes. ``position`` is the index of
    the next batch. Use as a context manager (or call :meth:`close`) to stop the workers."""

    def __init__(self, spec=None, source=None, workers: int = 0, start: int = 0,
                 prefetch: int = 2, timeout: float = 600.0) -> None:
        if (spec is None) == (source is None):
            raise ValueError("Batches needs a spec (workers) or a source (in process)")
        if workers < 0:
            raise ValueError(f"workers must be >= 0, got {workers}")
        if workers > 0 and spec is None:
            raise ValueError("worker processes need a picklable spec")
        self.position = start
        self.timeout = timeout
        self.workers = workers
        self.source = source if source is not None else (spec.build() if workers == 0 else None)
        self.procs, self.queues, self.stop = [], [], None
        if workers:
            ctx = multiprocessing.get_context("spawn")
            self.stop = ctx.Event()
            for w in range(workers):
                q = ctx.Queue(maxsize=prefetch)
                p = ctx.Process(target=_worker_main, args=(spec, w, workers, start, q, self.stop),
                                name=f"blurvid-data-{w}", daemon=True)
                p.start()
                self.procs.append(p)
                self.queues.append(q)

    def next(self) -> tuple[np.ndarray, np.ndarray]:
        index = self.position
        if not self.workers:
            item = self.source.batch(index)
        else:
            w = index % self.workers
            waited = 0.0
            while True:
                try:
                    message = self.queues[w].get(timeout=1.0)
                    break
                except queue_module.Empty:
                    waited += 1.0
                    if not self.procs[w].is_alive():
                        raise DataWorkerError(f"data worker {w} died (exit code "
                                              f"{self.procs[w].exitcode})") from None
                    if waited >= self.timeout:
                        raise DataWorkerError(f"data worker {w} sent nothing for "
                                              f"{self.timeout:.0f} s") from None
            if message[0] == "error":
                raise DataWorkerError(f"data worker {w}, batch {message[1]}: {message[2]}")
            _, got, item = message
            if got != index:  # cannot happen with one queue per worker; guard the invariant
                raise DataWorkerError(f"data worker {w} sent batch {got}, expected {index}")
        self.position += 1
        return item

    def close(self) -> None:
        if self.stop is not None:
            self.stop.set()
            for q in self.queues:  # unblock workers waiting on a full queue
                try:
                    while True:
                        q.get_nowait()
                except (queue_module.Empty, OSError, ValueError):
                    pass
            for p in self.procs:
                p.join(timeout=5)
                if p.is_alive():
                    p.terminate()
                    p.join(timeout=5)
            for q in self.queues:
                q.close()
                q.cancel_join_thread()
            self.procs, self.queues, self.stop = [], [], None

    def __enter__(self) -> "Batches":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:  # a best effort; callers close explicitly
        try:
            self.close()
        except Exception:
            pass


def synthetic_spec(photos, synth, objects, batch: int, seed: int, rank: int = 0) -> SyntheticSpec:
    return SyntheticSpec(photos=tuple(str(Path(p)) for p in photos), synth=synth,
                         objects=tuple(str(Path(p)) for p in objects), batch=batch, seed=seed,
                         rank=rank)
