#!/usr/bin/env python3
"""The video methods on synthetic blurry videos with their truth (issue 27).

    python benchmarks/video_motion.py --images ~/.cache/blurvid/photos/val \\
        --objects ~/.cache/blurvid/photos/objects [--quick] [--threads 2] [--json OUT]
    python benchmarks/video_motion.py --speed --size 1280x720 --threads 2   # the 720p rate
    python benchmarks/video_motion.py --shutters [--seed 28]   # the shutter estimates only

Clips (:mod:`blurvid.lab.data.video_synth`, 640x360, 8 frames, from photos no model trained
on): handheld camera (a pan plus shake of 3-12 Hz at 30 fps, velocity changes comparable to
the pan, a little rotation), vibration (15-40 Hz), the handheld camera with one or two
objects moving on their own; shutter 0.5 and 1.0; blur 5-40 px per exposure (drawn per
clip), noise of 0-0.006 (display-encoded, before 8-bit rounding; a compressed camera
video keeps about 0.003-0.007). Every output time of ``blurvid video`` is scored against the
truth rendered at that time (the mean of the sharp frames over a seventh of the exposure
around it): luma PSNR (BT.601 Y of the 8-bit RGB frames), the frames in the order the method
chose (not order-invariant). Exposure frames (the 7 of each exposure) and gap frames (the shutter gap, filled
by flow) apart; INPUT is the blurry frame of the exposure nearest in time.

Rows, all through the product's own streaming pipeline (:func:`blurvid.video.timeline_frames`):
``network`` (the single-photo network on each frame, ordered from the neighbours),
``motion`` (the default: :mod:`blurvid.video_motion`, its motion refined between the blurry
frames in 2 sweeps), ``no-sweeps`` (the same without that refinement, ``blurvid video
--sweeps 0``), ``quadratic`` (the same with the final solve's quadratic prior instead of
the sparse one), and, with the sweeps as the default has them, ``no-fallback`` (the motion
method's solver everywhere, no network where the flow departs from the camera's model) and
``told`` (the solver told the true camera trajectory: what the motion measurement could
reach at most, objects excepted; ``told-quadratic`` with the quadratic prior). Also the
measured trajectory's error (px rms over a 9x5 grid of points and the 7 group centres, each
point's mean removed) and the order accuracy (share of exposures whose frames run the right
way).

The methods are not told the clip's shutter: each uses the one the product estimates from the
clip's frames (:func:`blurvid.shutter.estimate_shutter`), and is scored against the truth at
the times it puts its frames (with that shutter), INPUT scored on the same frames; the
``told`` rows, and every row with ``--told-shutter``, are told the true one.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from blurvid.color import rgb_to_y
from blurvid.consistency import NUM_FRAMES
from blurvid.io import photos_in
from blurvid.lab.data.video_synth import ClipSpec, render_clip
from blurvid.metrics import psnr
from blurvid.ordering import output_count, output_times
from blurvid.pipeline import Extractor
from blurvid.shutter import SIDE as SHUTTER_SIDE, ShutterEstimate, estimate_shutter
from blurvid.video import exposures_by, timeline_frames
from blurvid.video_motion import WEIGHT_REFINED, MotionSolver, motion_exposures


METHODS = ("network", "motion", "no-sweeps", "quadratic", "no-fallback", "told", "told-quadratic",
           "told-no-fallback")
DEFAULT_METHODS = ("network", "motion", "no-fallback", "told")


def clip_specs(quick: bool, seed: int = 27) -> list[ClipSpec]:
    """The benchmark's clips: kind, objects, shutter and a seed each; blur and noise drawn
    from ``seed`` (27: the set the motion method's settings were chosen on; others: held
    out)."""
    rng = np.random.default_rng(seed)
    specs = []
    cases = [("handheld", 0)] * 3 + [("vibration", 0)] + [("handheld", 1)] * 2 + \
        [("handheld", 2)]
    if quick:
        cases = [("handheld", 0), ("handheld", 1)]
    for shutter in (0.5, 1.0):
        for kind, objects in cases:
            specs.append(ClipSpec(kind=kind, frames=4 if quick else 8, size=(640, 360),
                                  blur=float(rng.uniform(5, 40)), shutter=shutter,
                                  objects=objects, seed=int(rng.integers(1 << 30)),
                                  noise=float(rng.uniform(0.0, 0.006))))
    return specs


class NoFallbackSolver(MotionSolver):
    """The motion method's solve everywhere: no network where it is not trusted."""

    def final(self, frame, size):
        trajectory, weight, _ = super().final(frame, size)
        return trajectory, weight, None


class ToldSolver(MotionSolver):
    """The motion method told the true camera trajectory of every exposure (its fallback as
    the motion method decides it)."""

    def __init__(self, clip, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.clip = clip

    def final(self, frame, size):
        _, _, confidence = super().final(frame, size)
        return self.clip.trajectory(frame.index), WEIGHT_REFINED, confidence


class ToldNoFallbackSolver(ToldSolver):
    def final(self, frame, size):
        trajectory, weight, _ = super().final(frame, size)
        return trajectory, weight, None


class RecordingSolver(MotionSolver):
    """Keeps every exposure's measured trajectory as the final solve used it (for the motion
    error), and the first one from the flows alone."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.trajectories, self.firsts, self.explained = {}, {}, {}

    def final(self, frame, size):
        out = super().final(frame, size)
        self.trajectories[frame.index] = out[0]
        self.firsts[frame.index] = self.first.get(frame.index)
        found = self.refinement
        self.explained[frame.index] = (
            None if found is None else
            (round(found.explained, 3), round(found.trajectory.blur_length(), 1),
             frame.index in self.two_sided))
        return out


def motion_error(estimate, truth) -> float:
    """px rms between two trajectories' group centres on a 9x5 grid, each point's mean
    removed (a constant offset does not change the frames)."""
    h, w = truth.size
    xs, ys = np.meshgrid(np.linspace(-(w - 1) / 2, (w - 1) / 2, 9),
                         np.linspace(-(h - 1) / 2, (h - 1) / 2, 5))
    e, t = estimate.displacements(xs, ys), truth.displacements(xs, ys)
    d = (e - e.mean(axis=-2, keepdims=True)) - (t - t.mean(axis=-2, keepdims=True))
    return float(np.sqrt(np.mean(np.sum(d**2, axis=-1))))


def run_method(name: str, clip, extractor: Extractor, threads: int, weight: float | None,
               shutter: float):
    """``(exposures uint8 (N, 7, H, W, 3), gap times, gap frames, solver or None)`` of one
    method on ``clip`` told ``shutter``, through the product's streaming timeline."""
    frames = list(clip.blur)
    solver = None
    if name == "network":
        exposures = exposures_by("network", extractor, frames, shutter, None)
    else:
        kwargs = dict(threads=threads) | ({} if weight is None else dict(weight=weight))
        if name == "no-sweeps":
            kwargs["sweeps"] = 0
        if name.endswith("quadratic"):
            kwargs["sparse"] = None
        if name.startswith("told"):
            cls = ToldNoFallbackSolver if name == "told-no-fallback" else ToldSolver
            solver = cls(clip, extractor, shutter, **kwargs)
        else:
            cls = {"motion": RecordingSolver, "no-sweeps": RecordingSolver,
                   "quadratic": RecordingSolver, "no-fallback": NoFallbackSolver}[name]
            solver = cls(extractor, shutter, **kwargs)
        exposures = motion_exposures(extractor, frames, shutter, solver=solver)
    kept = []

    def recorded():
        for exposure in exposures:
            kept.append(np.array(exposure.frames))
            yield exposure

    count = output_count(len(frames), shutter)
    gap_times, gaps = [], []
    for tau, frame in timeline_frames(recorded(), count, shutter, ahead=0):
        if tau - np.floor(tau + 1e-9) >= shutter - 1e-9:  # in the shutter gap
            gap_times.append(float(tau))
            gaps.append(frame)
    return np.stack(kept), gap_times, gaps, solver


class Truth:
    """The truth of a clip at the times a method puts its frames (its shutter's), and the
    INPUT scored there: an output frame at time ``tau`` should show the sharp frames' mean
    over ``[tau - s / 14, tau + s / 14]`` (``s`` the clip's true shutter)."""

    def __init__(self, clip) -> None:
        self.clip = clip
        self.rendered: dict[float, list[list[np.ndarray]]] = {}  # exposures() by shutter

    def exposures(self, shutter: float) -> list[list[np.ndarray]]:
        """Each exposure's 7 true frames (luma) at the times ``shutter`` puts them."""
        if shutter not in self.rendered:
            clip, s = self.clip, self.clip.spec.shutter
            self.rendered[shutter] = (
                [[_y(f) for f in exposure] for exposure in clip.truth]
                if abs(shutter - s) < 1e-9 else
                [[_y(clip.frame_at(t + shutter * (2 * k + 1) / (2 * NUM_FRAMES),
                                   s / NUM_FRAMES)) for k in range(NUM_FRAMES)]
                 for t in range(clip.spec.frames)])
        return self.rendered[shutter]

    def gaps(self, times: list[float]) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """The truth at ``times`` and INPUT there (the blurry frame nearest in time)."""
        clip, s = self.clip, self.clip.spec.shutter
        middles = np.arange(clip.spec.frames) + s / 2
        truth = [_y(clip.frame_at(t, s / NUM_FRAMES)) for t in times]
        inputs = [_y(clip.blur[int(np.argmin(np.abs(middles - t)))]) for t in times]
        return truth, inputs


def _y(frame) -> np.ndarray:
    return rgb_to_y(np.asarray(frame) / 255.0)


def _exposure_scores(frames, truth) -> tuple[dict, list[bool]]:
    per_frame, order = [], []
    for f, g in zip(frames, truth):
        per_frame.append([psnr(a, b) for a, b in zip(f, g)])
        fa, ga = np.stack(f), np.stack(g)
        order.append(np.mean((fa - ga) ** 2) <= np.mean((fa[::-1] - ga) ** 2))
    p = np.array(per_frame)
    return {"exposure": float(p.mean()), "middle": float(p[:, NUM_FRAMES // 2].mean()),
            "per_exposure": p.mean(axis=1).round(3).tolist()}, order


def score_clip(clip, extractor, threads, methods, weight=None,
               told_shutter=False) -> dict:
    """Every method on ``clip``: each told the shutter the product would use (estimated from
    the clip: :func:`blurvid.shutter.estimate_shutter`) unless ``told_shutter`` (the clip's
    true one; the ``told`` rows always are), scored against the truth at the times it puts
    its frames, with INPUT scored on the same frames (its own ``input_*`` figures)."""
    spec = clip.spec
    s = spec.shutter
    truth = Truth(clip)
    estimate = (ShutterEstimate(s, True) if told_shutter
                else estimate_shutter(list(clip.blur)))
    result = {"spec": spec.__dict__ | {"size": list(spec.size)}, "methods": {},
              "shutter_estimate": estimate.shutter, "shutter_measured": estimate.measured}
    blurry = [[_y(clip.blur[t])] * NUM_FRAMES for t in range(spec.frames)]
    inputs = {}
    for name in ["INPUT"] + list(methods):
        shutter = s if (told_shutter or name == "INPUT" or name.startswith("told")) \
            else estimate.shutter
        if shutter not in inputs:
            inputs[shutter] = _exposure_scores(blurry, truth.exposures(shutter))[0]
        if name == "INPUT":
            entry = dict(inputs[s])
            result["methods"][name] = entry
            continue
        started = time.perf_counter()
        exposures, gap_times, gaps, solver = run_method(name, clip, extractor, threads, weight,
                                                        shutter)
        seconds = time.perf_counter() - started
        entry, order = _exposure_scores([[_y(x) for x in e] for e in exposures],
                                        truth.exposures(shutter))
        entry["shutter"] = shutter
        entry["input_exposure"] = inputs[shutter]["exposure"]
        entry["input_middle"] = inputs[shutter]["middle"]
        result["methods"][name] = entry
        if gaps:
            gap_truth, gap_input = truth.gaps(gap_times)
            entry["gap"] = float(np.mean([psnr(_y(a), b) for a, b in zip(gaps, gap_truth)]))
            entry["input_gap"] = float(np.mean([psnr(a, b) for a, b in
                                                zip(gap_input, gap_truth)]))
        else:
            entry["gap"] = entry["input_gap"] = None
        entry["order_right"] = float(np.mean(order))
        entry["seconds_per_frame"] = seconds / spec.frames
        if isinstance(solver, RecordingSolver) and not spec.objects:
            errs = [motion_error(tr, clip.trajectory(t))
                    for t, tr in sorted(solver.trajectories.items()) if tr is not None]
            entry["motion_rms_px"] = float(np.mean(errs)) if errs else None
            entry["motion_per_exposure"] = np.round(errs, 3).tolist()
            firsts = [motion_error(tr, clip.trajectory(t))
                      for t, tr in sorted(solver.firsts.items()) if tr is not None]
            entry["motion_from_flows_px"] = float(np.mean(firsts)) if firsts else None
            # per exposure: (explained, blur px at the analysis scale, flows on both sides)
            entry["explained_blur_two_sided"] = [solver.explained[t] for t in
                                                 sorted(solver.explained)]
    gap_times = [t for t in output_times(spec.frames, s) if t - np.floor(t + 1e-9) >= s - 1e-9]
    result["methods"]["INPUT"]["gap"] = (float(np.mean([psnr(a, b) for a, b in
                                                        zip(*reversed(truth.gaps(gap_times)))]))
                                         if gap_times else None)
    return result


def table(results: list[dict], methods: list[str]) -> str:
    groups = {"camera only, handheld": lambda s: s["kind"] == "handheld" and not s["objects"],
              "camera only, vibration": lambda s: s["kind"] == "vibration",
              "moving objects": lambda s: s["objects"] > 0}
    lines = []
    for title, keep in groups.items():
        chosen = [r for r in results if keep(r["spec"])]
        if not chosen:
            continue
        lines.append(f"\n{title} ({len(chosen)} clips; gain over INPUT, luma dB)")
        lines.append("| method | exposure frames mean / middle | gap frames | order right | "
                     "motion px rms: mean / median exposure (flows alone: mean) | "
                     "s / input frame |")
        lines.append("|---|---:|---:|---:|---:|---:|")
        base = {k: np.mean([r["methods"]["INPUT"][k] for r in chosen])
                for k in ("exposure", "middle")}
        gaps = [r["methods"]["INPUT"]["gap"] for r in chosen if r["methods"]["INPUT"]["gap"]]
        base_gap = np.mean(gaps) if gaps else None
        lines.append(f"| INPUT | {base['exposure']:.2f} / {base['middle']:.2f} dB | "
                     f"{base_gap:.2f} dB |  |  |  |" if base_gap else
                     f"| INPUT | {base['exposure']:.2f} / {base['middle']:.2f} dB | - | | | |")
        for name in methods:
            m = [r["methods"][name] for r in chosen]
            inputs = [r["methods"]["INPUT"] for r in chosen]
            # the gain over INPUT scored on the method's own frames (its shutter's times)
            ex = np.mean([x["exposure"] - x.get("input_exposure", i["exposure"])
                          for x, i in zip(m, inputs)])
            mid = np.mean([x["middle"] - x.get("input_middle", i["middle"])
                           for x, i in zip(m, inputs)])
            gap = [x["gap"] - x.get("input_gap", i["gap"]) for x, i in zip(m, inputs)
                   if x["gap"] is not None]
            gap_s = f"{np.mean(gap):+.2f}" if gap else "-"
            order = [x["order_right"] for x in m if x["order_right"] is not None]
            mot = [x["motion_rms_px"] for x in m if x.get("motion_rms_px") is not None]
            each = [e for x in m for e in x.get("motion_per_exposure", [])]
            flows = [x["motion_from_flows_px"] for x in m
                     if x.get("motion_from_flows_px") is not None]
            motion_s = (f"{np.mean(mot):.2f} / {np.median(each):.2f} ({np.mean(flows):.2f})"
                        if mot and flows else "-")
            lines.append(f"| {name} | {ex:+.2f} / {mid:+.2f} | {gap_s} | "
                         f"{100 * np.mean(order):.0f} % | {motion_s} |")
            lines[-1] += f" {np.mean([x['seconds_per_frame'] for x in m]):.2f} |"
        if title == "moving objects" and "network" in methods and "motion" in methods:
            diffs = [gain(r, "motion") - gain(r, "network") for r in chosen]
            lines.append(f"\nmotion - network per clip (exposure frames, dB): "
                         + ", ".join(f"{d:+.2f}" for d in diffs))
    return "\n".join(lines)


def gain(result: dict, name: str) -> float:
    """A method's exposure-frame gain over INPUT on one clip (scored on its own frames)."""
    x = result["methods"][name]
    return x["exposure"] - x.get("input_exposure", result["methods"]["INPUT"]["exposure"])


def speed(size: tuple[int, int], threads: int, frames: int, photo: Path) -> None:
    """Wall time and peak memory of ``blurvid video`` per method on a rendered clip
    (``no-sweeps``: ``--method motion --sweeps 0``)."""
    clip = render_clip(photo, ClipSpec(kind="handheld", frames=frames, size=size, blur=20,
                                       seed=5))
    from blurvid.clips import write_mp4

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.mp4"
        write_mp4(src, (f for f in clip.blur), 30.0)
        for method in ("network", "motion", "no-sweeps"):
            out = Path(tmp) / f"{method}.mp4"
            cmd = [sys.executable, "-c", "from blurvid.cli import main; main()", "video",
                   str(src), "-o", str(out), "--max-side", "0",
                   "--threads", str(threads), "--json", "--shutter", "0.5"]
            cmd += (["--method", "motion", "--sweeps", "0"] if method == "no-sweeps"
                    else ["--method", method])
            started = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True)
            wall = time.perf_counter() - started
            if proc.returncode:
                raise SystemExit(proc.stderr)
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
            print(f"{method}: {frames} frames of {size[0]}x{size[1]} in {wall:.1f} s = "
                  f"{wall / frames:.2f} s per input frame (process start included; the shutter "
                  f"given); peak RSS so far among runs {peak:.2f} GiB")
    started = time.perf_counter()
    found = estimate_shutter(clip.blur)
    print(f"the shutter's estimate (once per video, --shutter auto): "
          f"{time.perf_counter() - started:.1f} s ({found.shutter:g}, "
          f"{'measured' if found.measured else found.reason})")


def footage(path: Path, frames: int, threads: int, max_side: int) -> None:
    """Real footage has no truth: the reblur check (how well the mean of each exposure's 7
    frames reproduces its input frame, luma PSNR) and the time, per method (``no-sweeps``:
    the motion method with ``--sweeps 0``; ``quadratic``: with the final solve's quadratic
    prior)."""
    from blurvid.footage import probe, read_frames
    from blurvid.io import fit_max_side
    from blurvid.pipeline import reblur_psnr

    info = probe(path)
    inputs = [fit_max_side(f, max_side)[0] for _, f in zip(range(frames), read_frames(info))]
    extractor = Extractor(threads=threads)
    found = estimate_shutter(inputs)
    print(f"{path.name}: shutter {found.shutter:g} ({'estimated' if found.measured else found.reason})")
    rows = {"network": lambda: exposures_by("network", extractor, inputs, found.shutter, None),
            "motion": lambda: exposures_by("motion", extractor, inputs, found.shutter, None),
            "no-sweeps": lambda: exposures_by("motion", extractor, inputs, found.shutter, None,
                                              sweeps=0),
            "quadratic": lambda: motion_exposures(
                extractor, inputs, found.shutter,
                solver=MotionSolver(extractor, found.shutter, threads=threads, sparse=None))}
    for name, exposures in rows.items():
        started = time.perf_counter()
        scores = [reblur_psnr(e.frames / 255.0, inputs[e.index]) for e in exposures()]
        seconds = (time.perf_counter() - started) / len(inputs)
        print(f"{path.name} ({inputs[0].shape[1]}x{inputs[0].shape[0]}, {len(inputs)} frames) "
              f"{name}: reblur {np.mean(scores):.2f} dB (min {np.min(scores):.2f}), "
              f"{seconds:.2f} s per frame")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "blurvid/photos"
    parser.add_argument("--images", type=Path, default=cache / "val")
    parser.add_argument("--objects", type=Path, default=cache / "objects")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="4 clips of 4 frames")
    parser.add_argument("--seed", type=int, default=27,
                        help="draws the clips (27: the set the settings were chosen on)")
    parser.add_argument("--weight", type=float, help="the solver's smoothness weight "
                        "(default: the method's own)")
    parser.add_argument("--clips", help="only these clips of the set (comma-separated numbers)")
    parser.add_argument("--methods", default=",".join(DEFAULT_METHODS),
                        help="a comma-separated subset of " + ", ".join(METHODS))
    parser.add_argument("--shutters", action="store_true",
                        help="only the shutter estimate of each clip against its truth")
    parser.add_argument("--shutter-side", type=int, default=SHUTTER_SIDE,
                        help="with --shutters: the long side the estimate works at")
    parser.add_argument("--told-shutter", action="store_true",
                        help="tell every method the clip's true shutter (default: the "
                             "product's estimate; the told rows are always told)")
    parser.add_argument("--json", type=Path, help="write every clip's figures here")
    parser.add_argument("--speed", action="store_true")
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--footage", type=Path, nargs="*",
                        help="real videos: the reblur check per method on --frames frames")
    parser.add_argument("--max-side", type=int, default=640)
    parser.add_argument("--show", type=Path, help="print the table of a saved --json again")
    args = parser.parse_args()
    if args.show:
        results = json.loads(args.show.read_text())
        print(table(results, [m for m in results[0]["methods"] if m != "INPUT"]))
        return
    if args.footage:
        for path in args.footage:
            footage(path, args.frames, args.threads, args.max_side)
        return
    photos = photos_in(args.images, "--images")
    if args.speed:
        w, h = (int(v) for v in args.size.lower().split("x"))
        speed((w, h), args.threads, args.frames, photos[0])
        return
    objects = sorted(p for p in args.objects.iterdir() if p.suffix.lower() == ".png")
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = set(methods) - set(METHODS)
    if unknown:
        parser.error(f"unknown methods: {', '.join(sorted(unknown))}")
    extractor = Extractor(threads=args.threads)
    results = []
    if args.shutters:
        print("| clip | kind | objects | blur px | shutter | estimated | verdict | s |\n"
              "|---:|---|---:|---:|---:|---:|---|---:|")
    chosen = None if not args.clips else {int(c) for c in args.clips.split(",")}
    for n, spec in enumerate(clip_specs(args.quick, args.seed)):
        if chosen is not None and n not in chosen:
            continue
        clip = render_clip(photos[n % len(photos)], spec, objects)
        if args.shutters:
            started = time.perf_counter()
            found = estimate_shutter(list(clip.blur), side=args.shutter_side)
            print(f"| {n} | {spec.kind} | {spec.objects} | {spec.blur:.0f} | {spec.shutter:g} | "
                  f"{found.shutter:g} | {'measured' if found.measured else found.reason} | "
                  f"{time.perf_counter() - started:.1f} |")
            continue
        res = score_clip(clip, extractor, args.threads, methods, args.weight,
                         args.told_shutter)
        results.append(res)
        m = res["methods"]
        print(f"clip {n}: {spec.kind} objects={spec.objects} shutter={spec.shutter} "
              f"(estimated {res['shutter_estimate']:g}"
              f"{'' if res['shutter_measured'] else ', assumed'}) "
              f"blur={spec.blur:.0f}px noise={spec.noise:.4f} INPUT {m['INPUT']['exposure']:.2f} | "
              + " | ".join(f"{k} {gain(res, k):+.2f}" for k in m if k != "INPUT"),
              file=sys.stderr)
    if args.shutters:
        return
    print(table(results, methods))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
