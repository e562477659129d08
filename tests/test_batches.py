"""Tests of the numbered training batches and the spawned data workers."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from blurvid.lab.data.synth import SynthConfig
from blurvid.lab.train.batches import (Batches, DataWorkerError, DatasetSource, batch_rng,
                                   synthetic_spec)


def _photos(folder: Path, n: int = 2) -> list[Path]:
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        img = cv2.GaussianBlur(rng.integers(0, 256, (80, 96, 3), dtype=np.uint8), (5, 5), 2)
        paths.append(folder / f"p{i}.png")
        cv2.imwrite(str(paths[-1]), img)
    return paths


def _object(folder: Path) -> Path:
    rgba = np.zeros((20, 16, 4), np.uint8)
    rgba[4:16, 3:13] = (40, 200, 90, 255)
    path = folder / "cut.png"
    cv2.imwrite(str(path), rgba)
    return path


@pytest.fixture
def spec(tmp_path):
    photos = _photos(tmp_path / "photos")
    synth = SynthConfig.realistic(size=24, max_objects=1)
    return synthetic_spec(photos, synth, [_object(tmp_path)], batch=2, seed=5)


def test_batch_contract_and_numbering(spec):
    with Batches(spec=spec) as batches:
        blur, frames = batches.next()
        assert blur.shape == (2, 1, 24, 24) and frames.shape == (2, 7, 24, 24)
        assert blur.dtype == frames.dtype == np.float32
        assert 0 <= blur.min() and blur.max() <= 1 and batches.position == 1
        second = batches.next()
    with Batches(spec=spec, start=1) as later:  # batch 1 does not depend on batch 0
        again = later.next()
    assert np.array_equal(second[0], again[0]) and np.array_equal(second[1], again[1])
    assert not np.array_equal(blur, second[0])


def test_batch_rng_separates_seed_rank_index():
    draws = {(s, r, i): batch_rng(s, r, i).random() for s in (0, 1) for r in (0, 1)
             for i in (0, 1)}
    assert len(set(draws.values())) == len(draws)
    assert batch_rng(3, 0, 7).random() == batch_rng(3, 0, 7).random()


def test_spawned_workers_give_the_same_batches_in_order(spec):
    with Batches(spec=spec) as inline:
        expected = [inline.next() for _ in range(5)]
    with Batches(spec=spec, workers=2, start=0) as pooled:
        got = [pooled.next() for _ in range(5)]
        assert pooled.position == 5
    for (b0, f0), (b1, f1) in zip(expected, got):
        assert np.array_equal(b0, b1) and np.array_equal(f0, f1)
    with Batches(spec=spec, workers=2, start=3) as resumed:  # resume at an odd index
        b, f = resumed.next()
    assert np.array_equal(b, expected[3][0]) and np.array_equal(f, expected[3][1])


def test_worker_failure_is_reported_not_hung(tmp_path):
    missing = synthetic_spec([tmp_path / "nope.png"], SynthConfig(size=16), [], batch=1, seed=0)
    with Batches(spec=missing, workers=1, timeout=60) as batches:
        with pytest.raises(DataWorkerError, match="data worker 0.*nope.png"):
            batches.next()


def test_close_stops_the_workers(spec):
    batches = Batches(spec=spec, workers=2)
    batches.next()
    procs = list(batches.procs)
    batches.close()
    assert all(not p.is_alive() for p in procs)
    batches.close()  # twice is harmless


def test_dataset_source_crops_and_is_deterministic():
    rng = np.random.default_rng(1)
    samples = [(rng.random((20, 30, 3), dtype=np.float32),
                rng.random((7, 20, 30, 3), dtype=np.float32)) for _ in range(3)]
    a = Batches(source=DatasetSource(samples, crop=16, batch=4, seed=2))
    b = Batches(source=DatasetSource(samples, crop=16, batch=4, seed=2), start=1)
    first, second = a.next(), a.next()
    assert first[0].shape == (4, 1, 16, 16) and first[1].shape == (4, 7, 16, 16)
    assert np.array_equal(second[0], b.next()[0])


def test_bad_arguments():
    with pytest.raises(ValueError, match="spec"):
        Batches()
    with pytest.raises(ValueError, match="workers"):
        Batches(source=DatasetSource([], 8, 1, 0), workers=-1)
    with pytest.raises(ValueError, match="picklable"):
        Batches(source=DatasetSource([], 8, 1, 0), workers=1)
