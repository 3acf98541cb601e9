#!/usr/bin/env bash
# Closed-loop table (>= 4096 faulted episodes per controller) and the side-by-side knee video on
# one H200. Run on the device machine from the repo root after the carry install; the video needs
# the GL loaders carried in .gl/ (device README: dpkg -x each .gl/*.deb into /, then ldconfig).
# Usage: bash scripts/gpu_closedloop.sh [table|video|all]   (default all; each part < 5 min)
# Results go to $OUT (at most 8 files): closed_loop.json/.txt/.log, fall_rate_per_joint.png,
# fall_rate_vs_scale.png; knee.webp, knee.gif, knee.json.
# ROBUST=path/to/policy.pt adds the robust-policy row; DISC=path replaces the shipped detector;
# ENVS (default 6144: ~4600 faulted + ~1500 healthy episodes at p_fault 0.75).
set -uo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/h1out}; mkdir -p "$OUT"
ENVS=${ENVS:-6144}; PART=${1:-all}
disc=(); [ -n "${DISC:-}" ] && disc=(--disc "$DISC")
robust=(); [ -n "${ROBUST:-}" ] && robust=(--robust "$ROBUST")
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader >> "$OUT/closed_loop.log"
if [ "$PART" = table ] || [ "$PART" = all ]; then
  start=$SECONDS
  timeout 280 python3 -m h1fault closed-loop --device cuda --envs "$ENVS" --seed 0 "${disc[@]}" \
    "${robust[@]}" --plots "$OUT" --json > "$OUT/closed_loop.json" 2>> "$OUT/closed_loop.log"
  echo "closed-loop table: exit code $?, wall $((SECONDS - start)) s" >> "$OUT/closed_loop.log"
  # the rich tables, printed from the JSON (no second run)
  python3 -c "
import json
from rich.console import Console
import h1fault.cli_closedloop as c
c.console = Console(width=120)
c.print_report(json.load(open('$OUT/closed_loop.json')))
" > "$OUT/closed_loop.txt" 2>&1
  cat "$OUT/closed_loop.txt"
fi
if [ "$PART" = video ] || [ "$PART" = all ]; then
  # left knee kept at 10 % from 2 s: the healthy policy alone vs the detector-driven switch
  start=$SECONDS
  MUJOCO_GL=egl timeout 280 python3 -m h1fault closed-loop --device cuda --envs 16 --seed 0 \
    "${disc[@]}" --fault-joint left_knee --fault-scale 0.1 --fault-onset 2.0 \
    --controllers healthy,oracle_saturation,detector --video-rows healthy,detector \
    --video "$OUT/knee.webp" --video "$OUT/knee.gif" --video-seconds 8 --video-size 320x240 \
    --json > "$OUT/knee.json" 2>> "$OUT/closed_loop.log"
  echo "video: exit code $?, wall $((SECONDS - start)) s" >> "$OUT/closed_loop.log"
fi
tail -n 5 "$OUT/closed_loop.log"
ls -la "$OUT"
