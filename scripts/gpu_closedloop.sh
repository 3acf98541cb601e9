#!/usr/bin/env bash
# Closed-loop table (>= 4096 faulted episodes per controller) and the side-by-side knee video on
# one H200. Run on the device machine from the repo root after the carry install; the video needs
# the GL loaders carried in .gl/ (device README: dpkg -x each .gl/*.deb into /, then ldconfig).
# Results go to $OUT (8 files): closed_loop.json/.txt/.log, the two PNGs, knee.webp/.gif/.json.
# ROBUST=path/to/policy.pt adds the robust-policy row; DISC=path overrides the shipped detector;
# ENVS (default 6144: ~4600 faulted + ~1500 healthy episodes at p_fault 0.75).
set -uo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/h1out}; mkdir -p "$OUT"
ENVS=${ENVS:-6144}
disc=(); [ -n "${DISC:-}" ] && disc=(--disc "$DISC")
robust=(); [ -n "${ROBUST:-}" ] && robust=(--robust "$ROBUST")
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/closed_loop.log"
start=$SECONDS
timeout 420 python3 -m h1fault closed-loop --device cuda --envs "$ENVS" --seed 0 "${disc[@]}" "${robust[@]}" \
  --plots "$OUT" --json > "$OUT/closed_loop.json" 2>> "$OUT/closed_loop.log"
echo "closed-loop exit code $?, wall $((SECONDS - start)) s" >> "$OUT/closed_loop.log"
# the rich tables, printed from the JSON (no second run), 200 columns wide
python3 -c "
import json
from rich.console import Console
import h1fault.cli_closedloop as c
c.console = Console(width=200)
c.print_report(json.load(open('$OUT/closed_loop.json')))
" > "$OUT/closed_loop.txt" 2>&1
tail -c 400 "$OUT/closed_loop.log"
# the video: left knee kept at 10 % from 2 s; healthy policy alone vs the detector-driven switch
for ext in webp gif; do
  start=$SECONDS
  MUJOCO_GL=egl timeout 150 python3 -m h1fault closed-loop --device cuda --envs 16 --seed 0 \
    "${disc[@]}" --fault-joint left_knee --fault-scale 0.1 --fault-onset 2.0 \
    --controllers healthy,oracle_saturation,detector --video-rows healthy,detector \
    --video "$OUT/knee.$ext" --video-seconds 8 --video-size 320x240 --json \
    > "$OUT/knee.json" 2>> "$OUT/closed_loop.log" || echo "video $ext failed" >> "$OUT/closed_loop.log"
  echo "video $ext: wall $((SECONDS - start)) s" >> "$OUT/closed_loop.log"
done
ls -la "$OUT"
