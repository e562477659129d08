#!/usr/bin/env bash
# Training on a lent GPU machine (one NVIDIA H100, 16 CPU cores) in one <= 10-minute call of
# the device tool, from the repository root, with the photo cache carried in $PHOTOS:
#   1. facts (torch, GPU, ONNX Runtime providers);
#   2. a probe: 600 steps of each recipe at once (stage 2 on: the slower steps), which also
#      checks the CUDA paths (autocast, GAN, CBL, validation, checkpoints);
#   3. the recipes at once, their steps set from the probe's rate to fill $MINUTES;
#   4. the ONNX exports, generator-only checkpoints and logs to $OUT.
# Usage: PHOTOS=.gpu/photos OUT=/tmp/out MINUTES=7 [RECIPES=...] [EXTRA=...] bash train/gpu-session.sh
# The two calls of 2026-11-24 (docs/model-card.md, docs/model-card-paper.md), with the recipes
# as they were then (train/fast-gpu.yaml started from train/checkpoints/blurvid-fast.pt, stage
# C at the time; train/paper-gpu.yaml had the paper's stage 2 in its last 40 %):
#   MINUTES=7 bash train/gpu-session.sh          # -> stage D (fast-gpu, 15000 steps) and a
#                                                #    2000-step paper run, stage 2 abandoned
#   MINUTES=7.5 RECIPES=paper-gpu EXTRA="--set loss.alpha=0 --set loss.beta=0 --set data.workers=14" \
#       bash train/gpu-session.sh                # -> the bundled paper model (13000 steps)
set -euo pipefail
PHOTOS=${PHOTOS:-$HOME/.cache/blurvid/photos}
OUT=${OUT:-runs/gpu-out}
MINUTES=${MINUTES:-7}
RECIPES=${RECIPES:-"paper-gpu fast-gpu"}
EXTRA=${EXTRA:-}  # --set overrides for every run, e.g. "--set loss.alpha=0 --set loss.beta=0"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
mkdir -p "$OUT" runs
python3 -c "import torch, onnxruntime as ort; print('torch', torch.__version__, torch.cuda.get_device_name(0), '| onnxruntime', ort.__version__, ort.get_available_providers())"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
nproc
data="--images $PHOTOS/train --val-images $PHOTOS/val --objects $PHOTOS/objects"
rate() {  # steps per second of a probe run, from its log
  python3 -c "import json,sys; r=[json.loads(l) for l in open(sys.argv[1])][-1]; print(r['step']/r['seconds'])" "$1"
}
for r in $RECIPES; do
  python3 -m blurvid.cli train --config train/$r.yaml $data -o runs/probe-$r --max-steps 600 \
    --set val_every=600 --set data.val_samples=8 --set content_only_steps=0 --no-export --force $EXTRA \
    > runs/probe-$r.log 2>&1 &
done
wait
for r in $RECIPES; do
  rate_r=$(rate runs/probe-$r/log.jsonl)
  steps=$(python3 -c "print(int($rate_r * $MINUTES * 60 / 1000) * 1000)")
  echo "$r: probe $rate_r steps/s -> $steps steps"
  extra=""
  if grep -q "^  alpha: 0.001" train/$r.yaml; then
    extra="--set content_only_steps=$(( steps * 6 / 10 / 1000 * 1000 ))"
  fi
  python3 -m blurvid.cli train --config train/$r.yaml $data -o runs/$r --max-steps $steps \
    --max-minutes $(python3 -c "print($MINUTES + 0.5)") $extra --force $EXTRA > runs/$r.log 2>&1 &
done
wait
for r in $RECIPES; do
  tail -c 2000 runs/$r.log | tr '\r' '\n' | grep -v "^\s*$" | tail -3 || true
  cp runs/$r/best.onnx "$OUT/$r.onnx"
  cp runs/$r/log.jsonl "$OUT/$r-log.jsonl"
  python3 - "$r" "$OUT" <<'PY'
import sys, torch
from blurvid.lab.export import read_checkpoint
r, out = sys.argv[1:]
state = read_checkpoint(f"runs/{r}/best.pt")
for key in ("optimizer", "disc", "disc_optimizer", "torch_rng"):
    state.pop(key, None)
torch.save(state, f"{out}/{r}.pt")
print(r, "best step", state["step"], {k: round(v, 3) for k, v in state["metrics"].items()
                                      if isinstance(v, float)})
PY
done
