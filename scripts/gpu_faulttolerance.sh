#!/usr/bin/env bash
# GPU session for fault-tolerant walking (one H200, after the carry install and with .gl carried):
# 1. the closed-loop table (shipped bank, shipped robust policy as the row to beat, shipped detector)
# 2. the side-by-side knee video
# 3. the other bank structure (conditioned) on the shipped bank's budget, judged by the same table
# Results: $OUT/ft.tgz (JSON, text tables, logs, PNGs) plus the videos and the second bank.
set -uo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/h1out}; mkdir -p "$OUT"
work=/root/ft; mkdir -p $work
export OUT_FINAL=$OUT
OUT=$work ROBUST=h1fault/assets/h1_robust_policy.pt ENVS=${ENVS:-6144} bash scripts/gpu_closedloop.sh table
if [ -z "${NOVIDEO:-}" ]; then
  OUT=$work bash scripts/gpu_closedloop.sh video
  cp $work/knee.webp $work/knee.gif "$OUT_FINAL/" 2>/dev/null
fi
if [ -z "${NOCOND:-}" ]; then
  timeout ${COND_TIMEOUT:-200} python3 -m h1fault train-failure --device cuda --envs 4096 --log-root /root/runs \
    bank.structure=conditioned agent.trainer.timesteps=${BANK_T:-6000} > $work/bank_conditioned.log 2>&1
  run=$(ls -d /root/runs/h1_failure_bank/*_ppo_torch | tail -1)
  cp "$run/bank.pt" "$OUT_FINAL/bank_conditioned.pt"; cp "$run/bank.json" $work/bank_conditioned.json
  cp "$run/curve.csv" $work/curve_conditioned.csv
  timeout 200 python3 -m h1fault closed-loop --device cuda --envs ${ENVS:-6144} --seed 0 \
    --bank "$run/bank.pt" --controllers oracle_onset,oracle_saturation,detector \
    --json > $work/closed_loop_conditioned.json 2>> $work/closed_loop.log
fi
tar czf "$OUT_FINAL/ft.tgz" -C $work --exclude='*.webp' --exclude='*.gif' .
tail -5 $work/closed_loop.log
