#!/usr/bin/env python3
"""Peak memory of `blurvid interpolate` by level, and of a long `blurvid extract` batch.

    python benchmarks/clip_memory.py [--size 1280x720] [--levels 2 3 4] [--batch 500]
                                     [--video 1000] [--video-size 320x180] [--threads 2] [--json]

Each run is a fresh `blurvid` process measured by `/usr/bin/time -v` (maximum resident set
size): `interpolate` of one synthetic photo of --size to an MP4 at each of --levels (the
default method, flow), then `extract` of --batch small photos (64x48) in one call, sampling
the process's resident set size every 0.2 s to show whether it grows from the 50th photo on,
then `video` of a --video-frame clip (a texture panning across --video-size at 25 fps), its
resident set size sampled the same way against the output frames written so far.
"""

from __future__ import annotations

import argparse
import json
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


def peak_rss_mb(args: list[str]) -> tuple[float, float]:
    """(peak RSS in MB, wall seconds) of one blurvid run under /usr/bin/time -v."""
    start = time.perf_counter()
    out = subprocess.run(["/usr/bin/time", "-v", *BLURVID, *args], capture_output=True,
                         text=True)
    if out.returncode != 0:
        raise SystemExit(f"blurvid {' '.join(args)} failed:\n{out.stderr[-2000:]}")
    kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr).group(1))
    return kb / 1024, time.perf_counter() - start


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
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--levels", type=int, nargs="*", default=[2, 3, 4])
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--video", type=int, default=1000, help="frames of the video run (0: none)")
    ap.add_argument("--video-size", default="320x180")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    w, h = map(int, a.size.lower().split("x"))
    result: dict = {"size": a.size, "interpolate": [], "batch": None}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = photo(tmp / "photo.png", w, h)
        for levels in a.levels:
            mb, secs = peak_rss_mb(["interpolate", str(src), "--levels", str(levels), "-o",
                                    str(tmp / f"clip{levels}.mp4"), "--threads",
                                    str(a.threads), "--device", "cpu"])
            result["interpolate"].append({"levels": levels, "frames": 7 * 6 ** (levels - 1),
                                          "peak_rss_mb": round(mb), "seconds": round(secs, 1)})
            print(f"interpolate {a.size} level {levels}: peak RSS {mb:.0f} MB, {secs:.1f} s",
                  file=sys.stderr)
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
        print("| clip | frames | peak RSS MB | seconds |\n|---|---:|---:|---:|")
        for r in result["interpolate"]:
            print(f"| {a.size} level {r['levels']} | {r['frames']} | {r['peak_rss_mb']} | "
                  f"{r['seconds']} |")
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
