#!/usr/bin/env python3
"""Peak memory of `blurvid interpolate` by level against its estimate, and of a long `blurvid
extract` batch.

    python benchmarks/clip_memory.py [--sizes 1280x720 ...] [--levels 2 3 4]
                                     [--method flow|recursive|blend] [--batch 500]
                                     [--video 1000] [--video-size 320x180] [--threads 2]
                                     [--max-gb 12] [--json]

`interpolate` of one synthetic photo of each of --sizes (full size: `--max-side 0`) to an MP4
at each of --levels with --method, each a fresh `blurvid` process: its peak resident set size
(`wait4`'s maximum RSS: the larger of the process and its ffmpeg encoder), the peak of the
two together (sampled every 0.05 s), and the estimate the command checks before any work
(`blurvid.interpolation.clip_memory`, its parts by `memory_estimate`). A clip whose estimate
is above what the machine has free (`available_memory`) is run too, to show that it is
refused up front; one above --max-gb but within what is free is not run. Then `extract` of
--batch small photos (64x48) in one call, sampling the process's resident set size every
0.2 s to show whether it grows from the 50th photo on, then `video` of a --video-frame clip (a
texture panning across --video-size at 25 fps), its resident set size sampled the same way
against the output frames written so far.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np

BLURVID = [sys.executable, "-m", "blurvid.cli"]


def photo(path: Path, w: int, h: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    base = cv2.resize(rng.random((h // 8 + 1, w // 8 + 1, 3)).astype(np.float32), (w, h))
    cv2.imwrite(str(path), (cv2.blur(base, (15, 1)) * 255).astype(np.uint8))
    return path


def pan_video(path: Path, w: int, h: int, frames: int, fps: int = 25) -> Path:
    """A ``frames``-frame MP4: a random texture panning 6 px per frame, each frame averaged
    over its 3 px of motion (a blurry video)."""
    import imageio_ffmpeg

    rng = np.random.default_rng(0)
    texture = cv2.resize(rng.random((h // 6 + 2, (w + 6 * frames) // 6 + 8, 3)).astype(
        np.float32), ((w + 6 * frames) + 48, h), interpolation=cv2.INTER_CUBIC)
    writer = imageio_ffmpeg.write_frames(str(path), (w, h), fps=fps, macro_block_size=1,
                                         ffmpeg_log_level="error")
    writer.send(None)
    for n in range(frames):
        x = 6 * n
        blurred = np.mean([texture[:, x + k: x + k + w] for k in range(4)], axis=0)
        writer.send(np.ascontiguousarray((np.clip(blurred, 0, 1) * 255).astype(np.uint8)))
    writer.close()
    return path


def _rss_kb(pid: int) -> int:
    try:
        return int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text()).group(1))
    except (OSError, AttributeError):
        return 0


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def run_measured(args: list[str], every: float = 0.05) -> dict:
    """One `blurvid args` run: ``peak_rss_mib`` (wait4's maximum RSS: the largest of the
    process and its children, e.g. ffmpeg), ``job_peak_mib`` (the process and its children
    together, sampled every ``every`` s), ``encoder_peak_mib`` (the children alone, sampled),
    ``seconds``, ``returncode`` and ``stderr``."""
    with tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen([*BLURVID, *args], stdout=subprocess.DEVNULL, stderr=err)
        job_peak = encoder_peak = 0
        done = threading.Event()

        def watch():
            nonlocal job_peak, encoder_peak
            while not done.is_set():
                children = sum(_rss_kb(c) for c in _children(proc.pid))
                job_peak = max(job_peak, _rss_kb(proc.pid) + children)
                encoder_peak = max(encoder_peak, children)
                time.sleep(every)

        thread = threading.Thread(target=watch)
        thread.start()
        _, status, usage = os.wait4(proc.pid, 0)
        done.set()
        thread.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - start
        err.seek(0)
        stderr = err.read()
    return {"peak_rss_mib": usage.ru_maxrss / 1024, "job_peak_mib": job_peak / 1024,
            "encoder_peak_mib": encoder_peak / 1024,
            "seconds": seconds, "returncode": proc.returncode, "stderr": stderr}


def interpolate_row(src: Path, out: Path, w: int, h: int, levels: int, method: str,
                    threads: int, max_gb: float) -> dict:
    """Estimate, then (unless it is above ``max_gb`` but fits the machine) one measured run."""
    from blurvid.interpolation import available_memory, memory_estimate

    estimate = memory_estimate(h, w, levels, method, kind="mp4")
    free = available_memory()
    row = {"size": f"{w}x{h}", "levels": levels, "method": method,
           "frames": 7 * 6 ** (levels - 1),
           "estimate_mib": round(estimate.total / 2**20),
           "parts_mib": {name: round(v / 2**20) for part in (estimate.shared, estimate.making,
                                                            estimate.writing)
                         for name, v in part.items()},
           "making_mib": round(sum(estimate.making.values()) / 2**20),
           "writing_mib": round(sum(estimate.writing.values()) / 2**20),
           "available_mib": round(free / 2**20) if free is not None else None}
    fits = free is None or estimate.total <= free
    if fits and estimate.total > max_gb * 1e9:
        row["result"] = f"not run (estimate above --max-gb {max_gb:g})"
        return row
    got = run_measured(["interpolate", str(src), "--levels", str(levels), "--method", method,
                        "--max-side", "0", "-o", str(out), "--force", "--threads",
                        str(threads), "--device", "cpu"])
    row["seconds"] = round(got["seconds"], 1)
    if got["returncode"] != 0:
        lines = got["stderr"].strip().splitlines()
        row["result"] = "refused" if "needs about" in got["stderr"] else "failed"
        row["message"] = lines[-1] if lines else ""
        if fits or row["result"] != "refused":
            raise SystemExit(f"blurvid interpolate {w}x{h} level {levels} {method} "
                             f"failed:\n{got['stderr'][-2000:]}")
        return row
    if not fits:
        raise SystemExit(f"{w}x{h} level {levels} {method}: estimate "
                         f"{estimate.total / 2**30:.1f} GiB above the {free / 2**30:.1f} GiB "
                         "free, yet not refused")
    row["result"] = "ran"
    row["peak_rss_mib"] = round(got["peak_rss_mib"])
    row["job_peak_mib"] = round(got["job_peak_mib"])
    row["encoder_peak_mib"] = round(got["encoder_peak_mib"])
    peak = max(got["peak_rss_mib"], got["job_peak_mib"])
    row["estimate_over_peak"] = round(estimate.total / 2**20 / peak, 3)
    return row


def rss_trace(args: list[str], out_dir: Path, every: float = 0.2,
              pattern: str = "*_07.png") -> list[tuple[int, float]]:
    """(files matching ``pattern`` in ``out_dir`` so far, RSS MB) samples while `blurvid
    args` runs."""
    proc = subprocess.Popen([*BLURVID, *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    samples: list[tuple[int, float]] = []

    def watch():
        status = Path(f"/proc/{proc.pid}/status")
        while proc.poll() is None:
            try:
                rss = int(re.search(r"VmRSS:\s+(\d+)", status.read_text()).group(1)) / 1024
            except (OSError, AttributeError):
                break
            samples.append((sum(1 for _ in out_dir.glob(pattern)), rss))
            time.sleep(every)

    thread = threading.Thread(target=watch)
    thread.start()
    _, err = proc.communicate()
    thread.join()
    if proc.returncode != 0:
        raise SystemExit(f"blurvid {' '.join(args)} failed:\n{err[-2000:]}")
    return samples


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", "--size", nargs="+", default=["1280x720"])
    ap.add_argument("--levels", type=int, nargs="*", default=[2, 3, 4])
    ap.add_argument("--method", default="flow", choices=["flow", "recursive", "blend"])
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--video", type=int, default=1000, help="frames of the video run (0: none)")
    ap.add_argument("--video-size", default="320x180")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-gb", type=float, default=12.0,
                    help="do not run a clip whose estimate is above this (GB) but fits")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    result: dict = {"sizes": a.sizes, "method": a.method, "interpolate": [], "batch": None}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for size in a.sizes if a.levels else []:
            w, h = map(int, size.lower().split("x"))
            src = photo(tmp / f"photo{w}x{h}.png", w, h)
            for levels in a.levels:
                row = interpolate_row(src, tmp / "clip.mp4", w, h, levels, a.method,
                                      a.threads, a.max_gb)
                result["interpolate"].append(row)
                print(f"interpolate {size} level {levels} {a.method}: {row}", file=sys.stderr)
            src.unlink()
        if a.batch:
            photos = tmp / "batch"
            photos.mkdir()
            for i in range(a.batch):
                photo(photos / f"p{i:04d}.png", 64, 48, seed=i)
            out = tmp / "frames"
            trace = rss_trace(["extract", str(photos), "-o", str(out), "--threads",
                               str(a.threads), "--device", "cpu"], out)
            after = [rss for done, rss in trace if done >= min(50, a.batch // 10)]
            result["batch"] = {"photos": a.batch, "samples": len(trace),
                               "rss_mb_at_50th": round(after[0]) if after else None,
                               "rss_mb_max_after_50th": round(max(after)) if after else None,
                               "rss_mb_last": round(trace[-1][1]) if trace else None}
            print(f"extract batch of {a.batch}: {result['batch']}", file=sys.stderr)
        if a.video:
            vw, vh = map(int, a.video_size.lower().split("x"))
            clip = pan_video(tmp / "pan.mp4", vw, vh, a.video)
            out = tmp / "slow"
            trace = rss_trace(["video", str(clip), "-o", str(out), "--threads", str(a.threads),
                               "--device", "cpu"], out, every=0.5, pattern="*.png")
            total = 7 * a.video
            quarter = [rss for done, rss in trace if done >= total // 4]
            result["video"] = {"input_frames": a.video, "size": a.video_size,
                               "samples": len(trace),
                               "rss_mb_at_quarter": round(quarter[0]) if quarter else None,
                               "rss_mb_max_after_quarter": round(max(quarter)) if quarter
                               else None,
                               "rss_mb_max": round(max(r for _, r in trace)) if trace else None}
            print(f"video of {a.video} frames: {result['video']}", file=sys.stderr)
    if a.json:
        print(json.dumps(result, indent=2))
    else:
        print("| clip | frames | estimate MiB (making / writing) | peak RSS MiB | "
              "with ffmpeg MiB | estimate / peak | seconds |\n"
              "|---|---:|---:|---:|---:|---:|---:|")
        for r in result["interpolate"]:
            if r["result"] == "ran":
                got = (f"{r['peak_rss_mib']} | {r['job_peak_mib']} | "
                       f"{r['estimate_over_peak']:.2f} | {r['seconds']}")
            else:
                got = f"{r['result']}: {r.get('message', '')} | | | {r.get('seconds', '')}"
            print(f"| {r['size']} level {r['levels']} {r['method']} | {r['frames']} | "
                  f"{r['estimate_mib']} ({r['making_mib']} / {r['writing_mib']}) | {got} |")
        if result["batch"]:
            b = result["batch"]
            print(f"\nextract, {b['photos']} photos in one call: RSS {b['rss_mb_at_50th']} MB at "
                  f"the 50th, at most {b['rss_mb_max_after_50th']} MB after it, "
                  f"{b['rss_mb_last']} MB at the end")
        if result.get("video"):
            v = result["video"]
            print(f"\nvideo, {v['input_frames']} input frames of {v['size']} -> "
                  f"{7 * v['input_frames']} PNGs: RSS {v['rss_mb_at_quarter']} MB at a quarter, "
                  f"at most {v['rss_mb_max_after_quarter']} MB after it "
                  f"(at most {v['rss_mb_max']} MB overall)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
