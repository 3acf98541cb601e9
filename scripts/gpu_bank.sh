#!/usr/bin/env bash
# GPU session: where training time goes (profile, throughput benchmark), then the failure bank in
# both structures on the same budget. Run from the repo root after the carry install
# (../shared/device/README.md). Results in $OUT (flat, <= 8 files).
#   bash scripts/gpu_bank.sh            # profile + benchmark + both banks
#   PART=robust bash scripts/gpu_bank.sh  # the robust single policy (train-healthy, faults on)
set -uo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/h1out}; mkdir -p "$OUT"
runs=/root/runs; meta=/root/meta; mkdir -p $meta
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader > $meta/gpu.txt
if [ "${PART:-banks}" = banks ]; then
  timeout 100 python3 benchmarks/profile_train.py --device cuda --envs 4096 --iterations 5 > "$OUT/profile.txt" 2>&1
  timeout 100 python3 benchmarks/train_throughput.py --device cuda --envs 4096 --iterations 40 >> "$OUT/profile.txt" 2>&1
  for s in experts conditioned; do
    timeout ${BANK_TIMEOUT:-150} python3 -m h1fault train-failure --device cuda --envs 4096 --log-root $runs \
      bank.structure=$s agent.trainer.timesteps=${BANK_T:-6000} > $meta/bank_$s.log 2>&1
    run=$(ls -d $runs/h1_failure_bank/*_ppo_torch | tail -1)
    cp "$run/bank.pt" "$OUT/bank_$s.pt"; cp "$run/bank.json" $meta/bank_$s.json
    cp "$run/curve.csv" $meta/curve_$s.csv; cp "$run/curve.png" $meta/curve_$s.png
  done
else
  timeout ${ROBUST_TIMEOUT:-300} python3 -m h1fault train-healthy --device cuda --envs 4096 --log-root $runs \
    --eval-episodes 256 env.faults.enabled=true agent.experiment=h1_robust \
    agent.trainer.timesteps=${ROBUST_T:-12000} > $meta/robust.log 2>&1
  run=$(ls -d $runs/h1_robust/*_ppo_torch | tail -1)
  cp "$run/policy.pt" "$OUT/robust_policy.pt"; cp "$run/policy.json" $meta/robust_policy.json
  cp "$run/curve.csv" $meta/curve_robust.csv
fi
tar czf "$OUT/meta_${PART:-banks}.tgz" -C $meta .
tail -3 $meta/*.log; cat "$OUT/profile.txt" 2>/dev/null | head -40
