#!/usr/bin/env bash
# GPU session: env throughput benchmark, healthy-policy training, 256-episode play evaluation.
# Run on the device machine from the repo root after the carry install (see ../shared/device/README.md).
# Results land in $OUT (flat, <= 8 files).
set -uo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/h1out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
[ -z "${NOBENCH:-}" ] && [ -f benchmarks/env_throughput.py ] && timeout 150 python3 benchmarks/env_throughput.py --device cuda --backend warp --envs 4096 --steps 300 2>&1 | tail -25 | tee "$OUT/bench_env.txt"
runs=/root/runs
timeout ${TRAIN_TIMEOUT:-420} python3 -m h1fault train-healthy --device cuda --envs 4096 --seed ${SEED:-0} \
  --eval-episodes 256 --log-root $runs "$@" 2>&1 | tee "$OUT/train.log"
run=$(ls -d $runs/*/*_ppo_torch | tail -1)
cp "$run/policy.pt" "$run/policy.json" "$run/curve.png" "$run/curve.csv" "$OUT/" 2>/dev/null
ls -la "$OUT"
