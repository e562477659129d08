#!/usr/bin/env python3
"""Extract time and peak memory for one photo: the bundled `fast` model vs the `paper` arch.

    python benchmarks/extract_speed.py [--size 1280x720] [--threads 2] [--repeats 5] [--torch]
        [--also fast-int8 ...] [--projection none|lowpass|exact] [--ensemble 1|2|4|8]

The measurement is :func:`blurvid.lab.bench.bench_speed` (what `blurvid bench --speed` runs): each
model in its own subprocess (so peak RSS is that model's alone), ONNX Runtime on the CPU, one
session built once, one warm-up call, then the median of ``--repeats`` calls of the whole
pipeline (RGB -> YCbCr -> generator -> 7 RGB frames). The `paper` model is exported from a
freshly initialized PaperGenerator (weights do not change its speed), so this needs the
'train' extra; pass --paper-model to use an existing ONNX file. ``--torch`` adds PyTorch
eager rows. Prints a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from blurvid.lab.bench import bench_speed


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="1280x720")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--fast-model", default=None, help="default: the bundled model")
    p.add_argument("--paper-model", default=None)
    p.add_argument("--also", action="append", default=[],
                   help="another model (a bundled name or a file) to time; repeatable")
    p.add_argument("--torch", action="store_true", help="also time PyTorch eager")
    p.add_argument("--projection", default=None,
                   help="none, lowpass or exact (default: the extractor's default)")
    p.add_argument("--ensemble", type=int, default=1,
                   help="self-ensemble size for every model (1, 2, 4 or 8; blurvid.ensemble)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paper = args.paper_model
        if paper is None:
            from blurvid.lab.export import export_model
            from blurvid.lab.train.models import build_generator

            paper = str(Path(tmp) / "paper-untrained.onnx")
            export_model(build_generator("paper"), paper,
                         {"training": {"steps": 0, "note": "untrained, for timing"}})
        result = bench_speed([args.fast_model, *args.also, paper], args.size, args.threads,
                             args.repeats, with_torch=args.torch, projection=args.projection,
                             ensemble=args.ensemble)
    cmd = (f"python benchmarks/extract_speed.py --size {args.size} --threads {args.threads} "
           f"--repeats {args.repeats}" + (" --torch" if args.torch else "")
           + "".join(f" --also {m}" for m in args.also)
           + (f" --projection {args.projection}" if args.projection else "")
           + (f" --ensemble {args.ensemble}" if args.ensemble != 1 else ""))
    print(f"`{cmd}` on {result['machine']}, projection {result['projection']}\n")
    print("| model | arch | engine | median s | min s | megapixels/s | peak RSS MB |")
    print("|---|---|---|---:|---:|---:|---:|")
    for r in result["rows"]:
        print(f"| {Path(r['model']).name} | {r['arch']} | {r['engine']} | {r['median_s']:.3f} | "
              f"{r['min_s']:.3f} | {r['megapixels_per_s']:.2f} | {r['peak_rss_mb']:.0f} |")
    paper_row = next(r for r in result["rows"] if r["arch"] == "paper"
                     and r["engine"] == "onnxruntime")
    print()
    for row in result["rows"]:
        if row["arch"] != "paper" and row["engine"] == "onnxruntime":
            print(f"{Path(row['model']).name} is {paper_row['median_s'] / row['median_s']:.1f}x "
                  f"faster than paper (ONNX Runtime, median of {args.repeats} runs, same run)")
    print(f"rough machine peak (numpy float32 matmul, {args.threads} threads): "
          f"{result['rough_peak_gflops']:.0f} GFLOP/s")


if __name__ == "__main__":
    main()
