#!/usr/bin/env python3
"""Extract time and peak memory for one photo: the bundled `fast` model vs the `paper` arch.

    python benchmarks/extract_speed.py [--size 1280x720] [--threads 2] [--repeats 5]

Each model runs in its own subprocess (so peak RSS is that model's alone): ONNX Runtime on CPU,
one session built once, one warm-up call, then the median of ``--repeats`` calls of the whole
pipeline (RGB -> YCbCr -> generator -> 7 RGB frames). The `paper` model is exported on the fly
from a freshly initialised PaperGenerator (weights do not change its speed), so this needs the
'train' extra; pass --paper-model to use an existing ONNX file instead.
Prints a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def worker(model: str, size: str, threads: int, repeats: int) -> None:
    import numpy as np

    from blurvid.pipeline import Extractor

    w, h = (int(v) for v in size.split("x"))
    rng = np.random.default_rng(0)
    image = rng.random((h, w, 3), dtype=np.float32)
    start = time.perf_counter()
    extractor = Extractor(model, device="cpu", threads=threads)
    session_s = time.perf_counter() - start
    extractor.extract(image)  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        extractor.extract(image)
        times.append(time.perf_counter() - t0)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    print(json.dumps({"median_s": statistics.median(times), "min_s": min(times),
                      "session_s": session_s, "peak_rss_mb": peak_mb, "runs": times}))


def run_worker(model: str, args) -> dict:
    cmd = [sys.executable, __file__, "--worker", model, "--size", args.size,
           "--threads", str(args.threads), "--repeats", str(args.repeats)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="1280x720")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--fast-model", default=None, help="default: the bundled model")
    p.add_argument("--paper-model", default=None)
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args.worker, args.size, args.threads, args.repeats)
        return
    from blurvid.runtime import bundled_model_path

    fast = args.fast_model or str(bundled_model_path())
    with tempfile.TemporaryDirectory() as tmp:
        paper = args.paper_model
        if paper is None:
            from blurvid.train.export import export_model
            from blurvid.train.models import build_generator

            paper = str(Path(tmp) / "paper.onnx")
            export_model(build_generator("paper"), paper, {"arch": "paper", "note": "untrained"})
        rows = {"fast": run_worker(fast, args), "paper": run_worker(paper, args)}
    macs = {}
    try:
        from blurvid.train.models import build_generator, count_macs

        w, h = (int(v) for v in args.size.split("x"))
        macs = {a: count_macs(build_generator(a), h, w) / 1e9 for a in rows}
    except ImportError:
        pass
    print(f"`python benchmarks/extract_speed.py --size {args.size} --threads {args.threads} "
          f"--repeats {args.repeats}` on {platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}\n")
    print("| model | GMAC | median s | min s | peak RSS MB |")
    print("|---|---:|---:|---:|---:|")
    for name, r in rows.items():
        gmac = f"{macs[name]:.1f}" if name in macs else "-"
        print(f"| {name} | {gmac} | {r['median_s']:.3f} | {r['min_s']:.3f} | {r['peak_rss_mb']:.0f} |")
    ratio = rows["paper"]["median_s"] / rows["fast"]["median_s"]
    print(f"\nfast is {ratio:.1f}x faster than paper (median over {args.repeats} runs, same run).")


if __name__ == "__main__":
    main()
