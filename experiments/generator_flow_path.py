#!/usr/bin/env python3
"""Does the bundled generator's motion tell the camera path? (issue 19; dropped, see
docs/experiments.md 2026-11-30). Phase correlation and DIS flow between the generator's
unprojected frames on realistic validation samples, path rms error against the truth at scales
of +-1, 1.5, 2, beside the path estimator's.

    python experiments/generator_flow_path.py ESTIMATOR.onnx N [KEY=VALUE ...]
"""
import sys

import cv2
import numpy as np
import onnxruntime as ort
from blurvid import deconvolution as dc
from blurvid.color import rgb_to_y
from blurvid.lab.data.synth import SynthConfig, load_object, render_samples
from blurvid.lab.motion import estimate_paths
from blurvid.io import list_images
from blurvid.pipeline import Extractor
from pathlib import Path
P = Path.home()/".cache/blurvid/photos"
estimator, n = sys.argv[1], int(sys.argv[2]); settings = dict(a.split("=") for a in sys.argv[3:])
settings = {k: float(v) for k, v in settings.items()}
cfg = SynthConfig.realistic(size=(256, 256), **settings)
objs = [load_object(p) for p in list_images(P/"objects")]
ex = Extractor(threads=2, projection="none")
sess = ort.InferenceSession(estimator, providers=["CPUExecutionProvider"])
win = cv2.createHanningWindow((256, 256), cv2.CV_64F)
dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
rows = []
for k, (blur, truth, info) in enumerate(render_samples(list_images(P/"val"), n, cfg, 1234, objs)):
    y = rgb_to_y(blur).astype(np.float32)
    g = dc.group_centers(info["path"])
    gen = ex.luma_frames(ex.to_ycbcr(blur))
    # phase correlation between consecutive frames
    pc = [np.zeros(2)]
    for i in range(6):
        (dx, dy), _ = cv2.phaseCorrelate(gen[i].astype(np.float64), gen[i+1].astype(np.float64), win)
        pc.append(pc[-1] + [dx, dy])
    pc = np.array(pc)
    # DIS flow, median, from middle frame to each frame
    u8 = [np.clip(f*255+0.5, 0, 255).astype(np.uint8) for f in gen]
    fl = []
    for i in range(7):
        if i == 3: fl.append(np.zeros(2)); continue
        f = dis.calc(u8[3], u8[i], None)
        fl.append(np.median(f.reshape(-1, 2), axis=0))
    fl = np.array(fl)
    paths, sig = estimate_paths(sess, y)
    est = dc.one_path(paths)
    L = dc.path_length(g)
    r = dict(L=L, est=dc.path_error(est, g)[0], zero=dc.path_error(np.zeros((7,2)), g)[0])
    for name, p in (("pc", pc), ("dis", fl)):
        for s in (1, -1, 1.5, -1.5, 2, -2):
            r[f"{name}{s:+g}"] = dc.path_error(s*p, g)[0]
        r[name+"_len"] = dc.path_length(p)
    rows.append(r)
    print(k, " ".join(f"{a}={b:.2f}" for a, b in r.items()), file=sys.stderr)
keys = rows[0].keys()
for lo, hi in ((0,5),(5,10),(10,20),(20,1e9),(0,1e9)):
    sel = [r for r in rows if lo <= r["L"] < hi]
    if not sel: continue
    print(f"{lo}-{hi} n={len(sel)} " + " ".join(f"{kk}={np.sqrt(np.mean([r[kk]**2 for r in sel])) if not kk.endswith('len') and kk!='L' else np.mean([r[kk] for r in sel]):.2f}" for kk in keys))
