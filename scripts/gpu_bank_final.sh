#!/usr/bin/env bash
# GPU session: train the bank to ship (experts, oversampled hard joints), then judge it in the
# closed-loop table beside the healthy policy, the shipped robust policy and the oracles.
# Results: $OUT/bank.pt, $OUT/final.tgz (bank.json, curve, closed-loop JSON/text/PNGs, logs).
set -uo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/h1out}; mkdir -p "$OUT"
work=/root/final; mkdir -p $work
timeout ${BANK_TIMEOUT:-380} python3 -m h1fault train-failure --device cuda --envs 4096 --log-root /root/runs \
  bank.structure=experts agent.trainer.timesteps=${BANK_T:-16000} > $work/bank.log 2>&1
run=$(ls -d /root/runs/h1_failure_bank/*_ppo_torch | tail -1)
cp "$run/bank.pt" "$OUT/bank.pt"; cp "$run/bank.json" "$run/curve.csv" "$run/curve.png" $work/
timeout 200 python3 -m h1fault closed-loop --device cuda --envs ${ENVS:-6144} --seed 0 --bank "$run/bank.pt" \
  --robust h1fault/assets/h1_robust_policy.pt --plots $work --json > $work/closed_loop.json 2> $work/closed_loop.log
python3 -c "
import json
from rich.console import Console
import h1fault.cli_closedloop as c
c.console = Console(width=120)
c.print_report(json.load(open('$work/closed_loop.json')))
" > $work/closed_loop.txt 2>&1
tar czf "$OUT/final.tgz" -C $work .
grep -E "env steps|t=1[0-9]*/" $work/bank.log | tail -4; cat $work/closed_loop.txt | head -45
