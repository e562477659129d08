#!/usr/bin/env python3
"""A sharpness criterion to refine the estimated path (issue 19 stage 3; dropped, see
docs/experiments.md 2026-11-30): the estimate scaled by 0-1.5, each solved (weight 0.1), scored
by the normalized sparsity (L1/L2) of the middle frames' gradients; is the lowest score the
best path?

    python experiments/sharpness_refinement.py ESTIMATOR.onnx N [KEY=VALUE ...]
"""
import sys

import numpy as np
from pathlib import Path
from blurvid.color import rgb_to_y
from blurvid.lab.data.synth import SynthConfig, load_object, render_samples
from blurvid.io import list_images
from blurvid import deconvolution as dc
from blurvid.lab.motion import window_path
from blurvid.runtime import open_session
P = Path.home()/".cache/blurvid/photos"
estimator, n = sys.argv[1], int(sys.argv[2]); sets = dict(a.split("=") for a in sys.argv[3:]); sets = {k: float(v) for k, v in sets.items()}
cfg = SynthConfig.realistic(size=(256, 256), **sets)
objs = [load_object(p) for p in list_images(P/"objects")]
sess = open_session(Path(estimator), "cpu", 1)[0]
scales = [0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5]
def crit(f):
    gy, gx = np.gradient(f)
    g = np.abs(gx) + np.abs(gy)
    return g.sum() / np.sqrt((gx**2 + gy**2).sum())
res = []
for k, (blur, truth, info) in enumerate(render_samples(list_images(P/"val"), n, cfg, 1234, objs)):
    y = rgb_to_y(blur).astype(np.float32)
    tg = dc.group_centers(info["path"]); tg = tg - tg.mean(0)
    g, sg = window_path(sess, y); g = g - g.mean(0)
    row = []
    for s in scales:
        fr = dc.deconvolve_y(y, s * g, 0.1)
        c = np.mean([crit(f) for f in fr[2:5]])
        row.append((dc.path_error(s * g, tg)[0], c))
    frt = dc.deconvolve_y(y, tg, 0.1); ct = np.mean([crit(f) for f in frt[2:5]])
    row = np.array(row)
    best = int(np.argmin(row[:, 1]))
    res.append((info["length"], row[4, 0], row[best, 0], scales[best], row[:, 0].min(), ct < row[:, 1].min(), crit(y)))
    print(k, f"L={info['length']:.1f} err@1={row[4,0]:.2f} pick s={scales[best]} err={row[best,0]:.2f} oracle={row[:,0].min():.2f} crits={np.round(row[:,1],3)} true={ct:.3f} photo={crit(y):.3f}", file=sys.stderr)
r = np.array(res)
print("rms err at s=1: %.2f, picked: %.2f, oracle scale: %.2f; true path lowest crit in %d/%d" % (np.sqrt(np.mean(r[:,1]**2)), np.sqrt(np.mean(r[:,2]**2)), np.sqrt(np.mean(r[:,4]**2)), r[:,5].sum(), len(r)))
