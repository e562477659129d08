#!/usr/bin/env python3
"""The refinement between blurry frames (issue 27, part 3): its settings against the motion
error, without solving anything.

    python experiments/video_sweeps.py 27:7 27:8 28:0 28:9 27:0

Each argument is ``seed:clip`` of ``benchmarks/video_motion.py``'s clips (told the true
shutter; on a clip with objects moving on their own the error is the camera's, the objects'
pixels excepted nowhere: the paths should follow the camera). Per clip, the mean / median /
interior-mean px rms of every exposure's path against the truth (as the benchmark measures
it), for the flows' paths and for the sweeps of
:func:`blurvid.camera_motion.refine_between_blurry` with each variant's settings (those of
``blurvid video``'s default since part 4: 2 sweeps, 4 terms, 6 px, 5 rounds, every third
pixel on these 640x360 frames), and the seconds per exposure and sweep. ``neighbours along
this path``: each neighbour's frame blurred along the exposure's own flows' polynomial over
the neighbour's window instead of the neighbour's path (one exposure at a time, no sweeps).
``offsets from the whole frame``: each neighbour's starting offset from a phase correlation
of the whole frame, as before part 4 (it follows an object moving on its own; the product
takes the median over tiles, :func:`blurvid.camera_motion._consensus_shift`). The sweeps run
over the whole clip in order, as the streaming solver runs them (each neighbour with its
newest path: the sweep's own before the exposure, the sweep before's after it).

An experiment, not a product path: the truth comes from the clip's rendering.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from video_motion import clip_specs, motion_error  # noqa: E402
from video_refinement import with_flows  # noqa: E402  (this folder)

from blurvid import camera_motion as cm  # noqa: E402
from blurvid.io import photos_in  # noqa: E402
from blurvid.lab.data.video_synth import render_clip  # noqa: E402
from blurvid.pipeline import Extractor  # noqa: E402
from blurvid.video_motion import BLURRY_REACH, _linear  # noqa: E402

VARIANTS = {  # name: (sweeps, refine_between_blurry's settings)
    "2 sweeps (--sweeps 2)": (2, {}),
    "1 sweep": (1, {}),
    "3 sweeps": (3, {}),
    "every 2nd px, 8 rounds": (2, dict(step=2, rounds=8)),
    "3 terms, 3 px": (2, dict(terms=3, bound=3.0)),
    "neighbours along this path": (1, dict(own=False)),
    "offsets from the whole frame": (2, dict(whole_frame=True)),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clips", nargs="+", help="seed:clip, e.g. 27:7")
    parser.add_argument("--variants", help="only these (comma-separated names)")
    parser.add_argument("--objects", type=Path,
                        default=Path.home() / ".cache/blurvid/photos/objects")
    parser.add_argument("--images", type=Path,
                        default=Path.home() / ".cache/blurvid/photos/val")
    args = parser.parse_args()
    photos = photos_in(args.images, "--images")
    variants = {name: VARIANTS[name] for name in
                (args.variants.split(",") if args.variants else VARIANTS)}
    extractor = Extractor(threads=2)
    print("| clip | variant | mean px | median px | interior mean px | s / exposure / sweep |\n"
          "|---|---|---:|---:|---:|---:|")
    for item in args.clips:
        seed, n = (int(x) for x in item.split(":"))
        spec = clip_specs(False, seed)[n]
        objects = photos_in(args.objects, "--objects") if spec.objects else []
        clip = render_clip(photos[n % len(photos)], spec, objects)
        solver, frames, size = with_flows(clip, extractor)
        for frame in frames:
            solver.measure(frame, size)
        first = dict(solver.paths)

        def errors(paths):
            return [motion_error(cm.scaled(paths[t], 1 / solver.scale, size), clip.trajectory(t))
                    for t in sorted(paths)]

        def row(name, e, seconds=""):
            kind = f", {spec.objects} obj." if spec.objects else ""
            print(f"| {item} (s {spec.shutter:g}, {spec.blur:.0f} px{kind}) | {name} | "
                  f"{np.mean(e):.2f} | "
                  f"{np.median(e):.2f} | {np.mean(e[1:-1]):.2f} | {seconds} |")

        row("flows", errors(first))
        for name, (sweeps, settings) in variants.items():
            paths = dict(first)
            started = time.perf_counter()
            settings = dict(settings)
            own = settings.pop("own", True)
            consensus = cm._consensus_shift
            if settings.pop("whole_frame", False):  # as before part 4
                cm._consensus_shift = cm._global_shift
            for _ in range(sweeps):
                for frame in frames:  # as MotionSolver.sweep, with the variant's settings
                    t = frame.index
                    if t not in first:
                        continue
                    near = {f.index - t: (_linear(f), paths[f.index] if own else None)
                            for f in frames if 0 < abs(f.index - t) <= BLURRY_REACH
                            and f.index in paths and solver.joined(t, f.index)}
                    shape = frame.small.shape
                    found = cm.refine_between_blurry(
                        first[t], _linear(frame), near, mask=solver.camera_mask(t, shape),
                        masks={k: solver.camera_mask(t + k, shape) for k in near}, **settings)
                    if found is not None:
                        paths[t] = found
            seconds = (time.perf_counter() - started) / spec.frames / sweeps
            cm._consensus_shift = consensus
            row(name, errors(paths), f"{seconds:.2f}")


if __name__ == "__main__":
    main()
