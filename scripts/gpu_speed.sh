#!/usr/bin/env bash
# GPU session for issue 12 (training speed), <= 5 min: CUDA-graph PPO tests, ONE cold-start
# train-healthy (first env process, so mujoco_warp kernels compile inside its wall-clock), then
# the per-phase profile and the train/env-only throughput ratio (kernel cache warm by then).
# Run from the repo root after the carry install (../shared/device/README.md). Results in $OUT.
#   bash scripts/gpu_speed.sh                       # candidate settings below
#   CANDIDATE="agent.ppo.cuda_graphs=false" bash scripts/gpu_speed.sh   # eager, for comparison
set -uo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/h1out}; mkdir -p "$OUT"
runs=/root/runs
# candidate: 8 mini-batches (40 Adam steps per rollout instead of 20, nearly free once the step is
# a graph; Playground's H1 PPO takes 128), 4800 timesteps = 19.7 M env steps, loop capped at 60 s
CANDIDATE=${CANDIDATE:-"agent.ppo.mini_batches=8 agent.trainer.timesteps=4800 agent.trainer.checkpoint_interval=0 agent.trainer.max_minutes=1.0"}
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  timeout 60 python3 -m pytest -q -m cuda tests/rl/test_rl_graphs.py tests/rl/test_rl_ppo.py -p no:cacheprovider 2>&1 | tail -8
} > "$OUT/speed_tests.txt" 2>&1
echo "tests done at ${SECONDS}s" >> "$OUT/speed_tests.txt"
t0=$SECONDS
# shellcheck disable=SC2086
timeout 240 python3 -m h1fault train-healthy --envs 4096 --device cuda --eval-episodes 256 --seed 3 \
  --log-root $runs $CANDIDATE > "$OUT/cold_train.log" 2>&1
echo "cold-start train-healthy: $((SECONDS - t0)) s wall (process start to exit, eval included); $CANDIDATE" >> "$OUT/cold_train.log"
run=$(ls -d $runs/*/*_ppo_torch 2>/dev/null | tail -1)
[ -n "$run" ] && cp "$run/policy.json" "$run/curve.csv" "$OUT/" 2>/dev/null
left=$((290 - SECONDS))
timeout $(( left < 60 ? left / 2 : 60 )) python3 benchmarks/profile_train.py --device cuda --envs 4096 --iterations 5 > "$OUT/profile.txt" 2>&1
left=$((295 - SECONDS))
[ $left -gt 20 ] && timeout $left python3 benchmarks/train_throughput.py --device cuda --envs 4096 --iterations 40 >> "$OUT/profile.txt" 2>&1
echo "script total: ${SECONDS}s" >> "$OUT/profile.txt"
cat "$OUT/speed_tests.txt"; tail -4 "$OUT/cold_train.log"; head -8 "$OUT/profile.txt"; tail -6 "$OUT/profile.txt"
