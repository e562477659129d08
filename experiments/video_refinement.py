#!/usr/bin/env python3
"""What limits the motion method's refinement (issue 27): per exposure, the trajectory's error
against the truth after each variant of the refinement.

    python experiments/video_refinement.py --clips 0,8 [--seed 27]

On the camera-only clips of ``benchmarks/video_motion.py`` (the same specs and photos; told
the true shutter), every exposure's trajectory (px rms over a 9x5 grid, as the benchmark
measures it):

- ``flows``: from the flows alone (:func:`blurvid.camera_motion.fit_trajectory`);
- ``refined``: refined against the neighbours' first solves, with camera_motion's default
  correction (3 px, 3 terms per axis, 6 rounds);
- ``told-latents``: the same refinement against the neighbours' TRUE middle frames (what the
  refinement could reach with perfect neighbours);
- ``wider``: refined against the first solves with the one-sided setting of
  :data:`blurvid.video_motion.ONE_SIDED_REFINEMENT` (6 px, 4 terms, 12 rounds);
- ``wider-told``: that, against the true middle frames;
- ``round-2``: the neighbours re-solved with their ``refined`` trajectories, then the
  refinement again from the flows' trajectory (the prototype's second round).

An experiment, not a product path: the true frames come from the clip's rendering.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from video_motion import clip_specs, motion_error  # noqa: E402

from blurvid import camera_motion as cm  # noqa: E402
from blurvid import exposure_solver as es  # noqa: E402
from blurvid.color import rgb_to_y, to_linear  # noqa: E402
from blurvid.consistency import NUM_FRAMES  # noqa: E402
from blurvid.io import photos_in  # noqa: E402
from blurvid.lab.data.video_synth import render_clip  # noqa: E402
from blurvid.pipeline import Extractor, as_rgb_float  # noqa: E402
from blurvid.video_motion import ONE_SIDED_REFINEMENT, MotionSolver, _Frame  # noqa: E402

VARIANTS = ("flows", "refined", "told-latents", "wider", "wider-told", "round-2")


def with_flows(clip, extractor: Extractor) -> tuple[MotionSolver, list[_Frame], tuple]:
    """``(solver, frames, size)``: a :class:`MotionSolver` told the clip's true shutter that
    holds the flows' fits among all its frames (the whole clip at once, not streamed)."""
    solver = MotionSolver(extractor, clip.spec.shutter)
    frames: list[_Frame] = []
    for index, rgb in enumerate(clip.blur):
        ycbcr = extractor.to_ycbcr(as_rgb_float(np.asarray(rgb)))
        if index == 0:
            size = ycbcr.shape[:2]
            solver.scale = cm.analysis_scale(*size)
        frames.append(_Frame(index, ycbcr, cm.analysis_luma(ycbcr[..., 0], solver.scale)))
        solver.add_flows(frames, size)
    return solver, frames, size


def run(clip, extractor: Extractor) -> dict[str, list[float]]:
    spec = clip.spec
    solver, frames, size = with_flows(clip, extractor)
    for frame in frames:
        solver.first_pass(frame, size)

    def small_linear(rgb) -> np.ndarray:
        y = rgb_to_y(np.asarray(rgb) / 255.0).astype(np.float32)
        return to_linear(cm.analysis_luma(y, solver.scale).astype(np.float32) / 255.0)

    true_latents = {t: small_linear(clip.truth[t][NUM_FRAMES // 2]) for t in range(spec.frames)}
    start = {t: cm.scaled(tr, solver.scale) for t, tr in solver.first.items() if tr is not None}

    def refine(t, latents, begin, **kwargs):
        frame = frames[t]
        near = {o: latents[t + o] for o in (-2, -1, 1, 2)
                if t + o in latents and t + o in solver.two_sided}
        if not near:
            return begin[t]
        blurry = to_linear(frame.small.astype(np.float32) / 255.0)
        found = cm.refine_trajectory(begin[t], blurry, near,
                                     mask=solver.camera_mask(t, frame.small.shape), **kwargs)
        return begin[t] if found is None else found.trajectory

    refined = {t: refine(t, solver.latents, start) for t in start}
    second = {}
    for t, trajectory in refined.items():
        if t in solver.two_sided:
            small = frames[t].small.astype(np.float32) / 255.0
            solved = es.solve_exposure(small, es.tile_paths(trajectory, small.shape),
                                       weight=solver.weight)
            second[t] = to_linear(solved[NUM_FRAMES // 2])
    found = {
        "flows": start, "refined": refined,
        "told-latents": {t: refine(t, true_latents, start) for t in start},
        "wider": {t: refine(t, solver.latents, start, **ONE_SIDED_REFINEMENT) for t in start},
        "wider-told": {t: refine(t, true_latents, start, **ONE_SIDED_REFINEMENT) for t in start},
        "round-2": {t: refine(t, second, start) for t in start},
    }
    return {name: [motion_error(cm.scaled(found[name][t], 1 / solver.scale, size),
                                clip.trajectory(t)) if t in found[name] else float("nan")
                   for t in range(spec.frames)] for name in VARIANTS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=Path,
                        default=Path.home() / ".cache/blurvid/photos/val")
    parser.add_argument("--seed", type=int, default=27)
    parser.add_argument("--clips", default="0,8")
    args = parser.parse_args()
    photos = photos_in(args.images, "--images")
    specs = clip_specs(False, args.seed)
    extractor = Extractor(threads=2)
    for n in (int(c) for c in args.clips.split(",")):
        spec = specs[n]
        if spec.objects:
            raise SystemExit(f"clip {n} has objects moving on their own: no camera truth")
        errors = run(render_clip(photos[n % len(photos)], spec, []), extractor)
        print(f"clip {n} ({spec.kind}, shutter {spec.shutter:g}, blur {spec.blur:.0f} px): "
              "motion px rms per exposure")
        print("| variant | " + " | ".join(str(t) for t in range(spec.frames)) + " | mean |")
        print("|---|" + "---:|" * (spec.frames + 1))
        for name in VARIANTS:
            e = errors[name]
            print(f"| {name} | " + " | ".join(f"{v:.2f}" for v in e) +
                  f" | {np.nanmean(e):.2f} |")


if __name__ == "__main__":
    main()
