#!/usr/bin/env bash
# GPU checks: CUDA-marked tests, then env / training / discriminator benchmarks at 4096 envs.
# Run on the device machine from the repo root after the carry install. Results go to $OUT.
set -uo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/h1out}; mkdir -p "$OUT"
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  timeout 240 python3 -m pytest -q -m cuda tests/ -p no:cacheprovider 2>&1 | tail -15
} 2>&1 | tee "$OUT/cuda_tests.txt"
timeout 120 python3 benchmarks/env_throughput.py --device cuda --backend warp --envs 4096 --steps 500 --repeats 2 2>&1 | tail -12 | tee "$OUT/bench_env.txt"
timeout 150 python3 benchmarks/train_throughput.py --device cuda --envs 4096 --iterations 40 2>&1 | tail -6 | tee "$OUT/bench_train.txt"
timeout 150 python3 benchmarks/disc_speed.py --device cuda --envs 4096 --json "$OUT/bench_disc.json" 2>&1 | tail -20 | tee "$OUT/bench_disc.txt"
