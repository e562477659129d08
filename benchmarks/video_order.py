#!/usr/bin/env python3
"""Blurry video -> sharp slow motion: order accuracy, PSNR against the truth, speed at 720p.

    python benchmarks/video_order.py --images ~/.cache/blurvid/photos/val \\
        [--sequences 8] [--exposures 24] [--size 320x192] [--shutter 0.5] [--model PATH] \\
        [--lags 0,2,8] [--speed-frames 8] [--ahead 1] [--data DIR] [--json]

Synthetic blurry videos with ground truth (blurvid.lab.data.sequences: one continuous
handheld-like camera path per sequence, consecutive exposures with a shutter gap, each with its
7 true frames, and the true frames at the pipeline's output times) are written to ``--data``
(default: a temporary folder; an existing folder of sequences is scored as it is) and run
through the video pipeline (blurvid.video), exactly as ``blurvid video`` runs.

Scores (PSNR and SSIM on Y, BT.601, mean over frames; SSIM is blurvid.metrics.ssim, the one
``blurvid bench`` reports):

* order accuracy: the share of exposures whose chosen order is the better of the two against
  the truth (the model's frames forward or reversed), for exposures blurred >= 5 px (below
  that the two orders hardly differ) and over all; per lookahead ``--lags`` (the model runs
  once; its frames are replayed for each lag);
* ``chosen``: the 7 frames of every exposure in the chosen order against the truth (not
  order-invariant: the order is the point), against ``oracle``: per-frame extraction scored
  with the better order per exposure (what no single-photo tool can know);
* the whole output timeline against the true frames at the output times: the frames that are
  sharp frames, and the frames interpolated across the shutter gap (with, for scale, the gap
  filled by the nearer sharp frame instead);
* speed: input frames per second at 1280x720 on ``--threads`` threads, decoding an H.264
  clip, the model, ordering, gap filling and H.264 encoding, with the model alone (one photo
  extract, the same frames, the same run) for the ratio (the machine may be shared).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from blurvid.color import rgb_to_y
from blurvid.consistency import NUM_FRAMES
from blurvid.lab.data.sequences import SequenceConfig, sequences_in, synthesize_sequences
from blurvid.lab.data.synth import list_images
from blurvid.metrics import psnr, ssim
from blurvid.ordering import frame_times, output_count, output_times
from blurvid.pipeline import Extractor
from blurvid.video import AHEAD, oriented_exposures, timeline_frames

SHARP_BLUR_PX = 5.0


class Replay:
    """An Extractor that records the model's luma frames on the first pass and replays them
    (the ordering at other lags without running the model again)."""

    def __init__(self, extractor: Extractor) -> None:
        self.extractor, self.luma, self.calls = extractor, [], 0

    def rewind(self) -> None:
        self.calls = 0

    def to_ycbcr(self, rgb):
        return self.extractor.to_ycbcr(rgb)

    def merge_frame(self, *args, **kwargs):
        return self.extractor.merge_frame(*args, **kwargs)

    def luma_frames(self, ycbcr):
        if self.calls == len(self.luma):
            self.luma.append(self.extractor.luma_frames(ycbcr))
        luma = self.luma[self.calls]
        self.calls += 1
        return luma.copy()


def y_psnr(a: np.ndarray, b: np.ndarray) -> float:
    return psnr(rgb_to_y(np.asarray(a, np.float32)), rgb_to_y(np.asarray(b, np.float32)))


def y_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM on Y (:func:`blurvid.metrics.ssim`, the one ``blurvid bench`` reports)."""
    return ssim(rgb_to_y(np.asarray(a, np.float32)), rgb_to_y(np.asarray(b, np.float32)))


def score_sequence(seq, extractor: Extractor, lags: list[int]) -> dict:
    shutter = seq.record["shutter"]
    blurs = [np.rint(seq.blur(t) * 255).astype(np.uint8) for t in range(len(seq))]
    truths = [seq.truth_frames(t) for t in range(len(seq))]
    px = np.array(seq.record["blur_px"])
    replay = Replay(extractor)
    by_lag = {}
    chosen_exposures = None
    for lag in lags:
        replay.rewind()
        exposures = list(oriented_exposures(replay, blurs, shutter, lag))
        if chosen_exposures is None:
            chosen_exposures = exposures
        right, chosen, oracle, chosen_ssim, oracle_ssim = [], [], [], [], []
        for e, truth in zip(exposures, truths):
            frames = e.frames / 255.0
            forward = np.mean([y_psnr(f, t) for f, t in zip(frames, truth)])
            backward = np.mean([y_psnr(f, t) for f, t in zip(frames[::-1], truth)])
            right.append(forward >= backward)
            chosen.append(forward)
            oracle.append(max(forward, backward))
            # SSIM in the same orders: as chosen, and the oracle order PSNR picked
            chosen_ssim.append(np.mean([y_ssim(f, t) for f, t in zip(frames, truth)]))
            oracle_ssim.append(chosen_ssim[-1] if forward >= backward else
                               np.mean([y_ssim(f, t) for f, t in zip(frames[::-1], truth)]))
        by_lag[lag] = {"right": np.array(right), "chosen": np.array(chosen),
                       "oracle": np.array(oracle), "chosen_ssim": np.array(chosen_ssim),
                       "oracle_ssim": np.array(oracle_ssim)}
    # the output timeline (first lag) against the true frames at the output times
    sharp_times = np.concatenate([frame_times(t, shutter) for t in range(len(seq))])
    times = output_times(len(seq), shutter)
    on_frame, gap, hold = [], [], []
    on_frame_ssim, gap_ssim, hold_ssim = [], [], []
    count = output_count(len(seq), shutter)
    for n, (time_, frame) in enumerate(timeline_frames(iter(chosen_exposures), count, shutter)):
        truth = seq.timeline(n) if seq.record.get("timeline") else None
        if truth is None:
            break
        nearest = int(np.argmin(np.abs(sharp_times - time_)))
        value, similarity = y_psnr(frame / 255.0, truth), y_ssim(frame / 255.0, truth)
        if abs(sharp_times[nearest] - time_) < 1e-6:
            on_frame.append(value)
            on_frame_ssim.append(similarity)
        else:
            gap.append(value)
            gap_ssim.append(similarity)
            held = chosen_exposures[nearest // NUM_FRAMES].frames[nearest % NUM_FRAMES]
            hold.append(y_psnr(held / 255.0, truth))
            hold_ssim.append(y_ssim(held / 255.0, truth))
    assert len(times) == count
    return {"name": seq.name, "blur_px": px, "by_lag": by_lag, "on_frame": on_frame,
            "gap": gap, "gap_hold": hold, "on_frame_ssim": on_frame_ssim,
            "gap_ssim": gap_ssim, "gap_hold_ssim": hold_ssim}


def speed(extractor_factory, frames_count: int, images: list[Path], threads: int,
          shutter: float, ahead: int = AHEAD) -> dict:
    """Input frames per second at 1280x720 through the CLI's path, and one-photo extract."""
    import imageio_ffmpeg

    from blurvid.footage import probe, read_frames
    from blurvid.lab.data.sequences import render_sequence
    from blurvid.lab.data.synth import load_photo
    from blurvid.video import X264_PRESET
    from blurvid.clips import write_mp4

    cfg = SequenceConfig(size=(1280, 720), exposures=frames_count, blur_range=(15, 40),
                         subframes_per_frame=1, shutter=shutter, photo_scale=(1.0, 1.0))
    photo = load_photo(images[0], max_side=4096)
    blurs = [np.rint(b * 255).astype(np.uint8) for b, _, _ in
             render_sequence(photo, np.random.default_rng(5), cfg)]
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "blurry720.mp4"
        writer = imageio_ffmpeg.write_frames(str(clip), (1280, 720), fps=25, macro_block_size=1,
                                             ffmpeg_log_level="error", quality=9)
        writer.send(None)
        for b in blurs:
            writer.send(b)
        writer.close()
        extractor = extractor_factory(threads)
        extractor.extract(blurs[0])  # warm-up
        start = time.perf_counter()
        for b in blurs:
            extractor.extract(b)
        extract_s = (time.perf_counter() - start) / len(blurs)
        info = probe(clip)
        start = time.perf_counter()
        exposures = oriented_exposures(extractor, read_frames(info), shutter)
        count = output_count(len(blurs), shutter)
        written = write_mp4(Path(tmp) / "slow.mp4",
                            (f for _, f in timeline_frames(exposures, count, shutter, ahead)),
                            25, preset=X264_PRESET)
        video_s = (time.perf_counter() - start) / len(blurs)
        assert written == count
        start = time.perf_counter()
        for b in blurs:
            extractor.extract(b)
        extract_s = min(extract_s, (time.perf_counter() - start) / len(blurs))
    return {"size": "1280x720", "threads": threads, "frames": len(blurs), "ahead": ahead,
            "video_s_per_frame": round(video_s, 4), "input_fps": round(1 / video_s, 3),
            "extract_s_per_photo": round(extract_s, 4),
            "ratio_to_extract": round(video_s / extract_s, 2),
            "input_fps_if_extract_took_0.22s": round(1 / (0.22 * video_s / extract_s), 3)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", help="photos for the synthetic sequences")
    p.add_argument("--data", help="a folder of sequences (written there if it has none)")
    p.add_argument("--sequences", type=int, default=8)
    p.add_argument("--exposures", type=int, default=24)
    p.add_argument("--size", default="320x192")
    p.add_argument("--shutter", type=float, default=0.5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model", default=None)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--lags", default="8,2,0", help="lookaheads to compare (the first is used "
                                                  "for the timeline)")
    p.add_argument("--speed-frames", type=int, default=8, help="0: skip the speed test")
    p.add_argument("--ahead", type=int, default=AHEAD,
                   help="exposures the model runs ahead of gap filling and encoding, on a "
                        "worker thread (0: in turn, the pipeline before the overlap)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    lags = [int(x) for x in args.lags.split(",")]
    w, h = (int(v) for v in args.size.split("x"))
    images = list_images(args.images) if args.images else []
    tmp = None
    root = Path(args.data) if args.data else Path(tmp := tempfile.mkdtemp(prefix="blurvid-seq-"))
    if not sequences_in(root):
        if not images:
            sys.exit("no sequences in --data: give --images to synthesize them")
        cfg = SequenceConfig(size=(w, h), exposures=args.exposures, shutter=args.shutter)
        synthesize_sequences(images, args.sequences, root, cfg, seed=args.seed)
    extractor = Extractor(args.model, device="cpu", threads=args.threads)
    rows = [score_sequence(seq, extractor, lags) for seq in sequences_in(root)]
    px = np.concatenate([r["blur_px"] for r in rows])
    moving = px >= SHARP_BLUR_PX
    result = {"sequences": len(rows), "exposures": int(len(px)),
              "exposures_blur_ge_5px": int(moving.sum()), "shutter": args.shutter,
              "size": args.size, "model": args.model or "fast", "order": {}}
    for lag in lags:
        right = np.concatenate([r["by_lag"][lag]["right"] for r in rows])
        chosen = np.concatenate([r["by_lag"][lag]["chosen"] for r in rows])
        oracle = np.concatenate([r["by_lag"][lag]["oracle"] for r in rows])
        chosen_ssim = np.concatenate([r["by_lag"][lag]["chosen_ssim"] for r in rows])
        oracle_ssim = np.concatenate([r["by_lag"][lag]["oracle_ssim"] for r in rows])
        result["order"][f"lag {lag}"] = {
            "accuracy_blur_ge_5px": round(float(right[moving].mean()), 4),
            "accuracy_all": round(float(right.mean()), 4),
            "psnr_chosen": round(float(chosen.mean()), 3),
            "psnr_oracle": round(float(oracle.mean()), 3),
            "psnr_chosen_minus_oracle": round(float(chosen.mean() - oracle.mean()), 3),
            "ssim_chosen": round(float(chosen_ssim.mean()), 4),
            "ssim_oracle": round(float(oracle_ssim.mean()), 4),
            "ssim_chosen_minus_oracle": round(float(chosen_ssim.mean() - oracle_ssim.mean()),
                                              4)}
    gaps = [v for r in rows for v in r["gap"]]
    if gaps:
        def mean(key: str, digits: int) -> float:
            return round(float(np.mean([v for r in rows for v in r[key]])), digits)

        result["timeline"] = {
            "psnr_on_frames": mean("on_frame", 3), "psnr_gap_flow": mean("gap", 3),
            "psnr_gap_nearest_frame": mean("gap_hold", 3),
            "ssim_on_frames": mean("on_frame_ssim", 4), "ssim_gap_flow": mean("gap_ssim", 4),
            "ssim_gap_nearest_frame": mean("gap_hold_ssim", 4), "gap_frames": len(gaps)}
    if args.speed_frames and images:
        result["speed"] = speed(lambda t: Extractor(args.model, device="cpu", threads=t),
                                args.speed_frames, images, args.threads, args.shutter,
                                args.ahead)
    if tmp is not None:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
