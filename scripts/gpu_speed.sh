#!/usr/bin/env bash
# GPU session for issue 12 (training speed), <= 9 min: the two-minute target on 3 seeds, each a
# fresh process with empty kernel caches (a new Warp kernel cache and CUDA JIT cache per seed),
# timed from process start to exit (start-up, compile, training, 256-episode evaluation); then
# the train / env-only throughput ratio and the CUDA tests of the PPO graphs.
# Run from the repo root after the carry install (../shared/device/README.md). Results in $OUT.
#   bash scripts/gpu_speed.sh                 # seeds 0 1 2, --recipe fast
#   SEEDS="0" RECIPE=isaaclab bash scripts/gpu_speed.sh
#   EXTRA="agent.ppo.kl_target=0.005" bash scripts/gpu_speed.sh   # overrides after the recipe
set -uo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/h1out}; mkdir -p "$OUT"
runs=/root/runs
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader > "$OUT/speed.txt"
for seed in ${SEEDS:-0 1 2}; do
  cache=$(mktemp -d)
  t0=$(date +%s.%N)
  WARP_CACHE_PATH=$cache/warp CUDA_CACHE_PATH=$cache/nv timeout 300 python3 -m h1fault \
    train-healthy --envs 4096 --device cuda --recipe "${RECIPE:-fast}" --eval-episodes 256 \
    --seed "$seed" --log-root "$runs/s$seed" ${EXTRA:-} > "$OUT/cold_s$seed.log" 2>&1
  rc=$?
  t1=$(date +%s.%N)
  rm -rf "$cache"
  run=$(ls -d $runs/s$seed/*/*_ppo_torch 2>/dev/null | tail -1)
  python3 - "$seed" "$rc" "$t0" "$t1" "$run/policy.json" >> "$OUT/speed.txt" <<'PY'
import json, sys
sys.path.insert(0, "scripts")
from quality_bar import meets_bar
seed, rc, t0, t1, path = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
try:
    m = json.load(open(path))
except OSError:
    print(f"seed {seed}: rc {rc}, no policy.json, {t1 - t0:.1f} s"); sys.exit()
p = m["play"]
ok = meets_bar(p) and t1 - t0 <= 120
print(f"seed {seed}: {t1 - t0:6.1f} s process (rc {rc})  | start-up {m['startup_s']} s "
      f"(env {m['env_build_s']} s, kernel compile {m['kernel_compile_s']} s), training loop "
      f"{m['wall_clock_s'] - m['startup_s']:.1f} s for {m['env_steps'] / 1e6:.1f} M steps "
      f"({m['train_env_steps_per_s'] / 1e3:.0f}k/s), eval {m['eval_s']} s | falls "
      f"{p['fall_rate']:.3f}  length {p['episode_length_ratio']:.3f}  lin {p['lin_vel_error']:.3f}"
      f"  yaw {p['ang_vel_error']:.3f}  -> {'MET' if ok else 'missed'}")
PY
  cp "$run/curve.csv" "/tmp/curve_s$seed.csv" 2>/dev/null
  cp "$run/policy.json" "$OUT/policy_s$seed.json" 2>/dev/null  # fall times and commands
done
tar czf "$OUT/curves.tgz" -C /tmp $(cd /tmp && ls curve_s*.csv 2>/dev/null) 2>/dev/null
cat "$OUT/speed.txt"
if [ "${BENCH:-1}" = 1 ]; then
  for r in isaaclab fast; do timeout 60 python3 benchmarks/train_throughput.py --device cuda --envs 4096 --iterations 40 --recipe $r; done \
    > "$OUT/throughput.txt" 2>&1
  timeout 90 python3 -m pytest -q -m cuda tests/rl/test_rl_graphs.py tests/rl/test_rl_ppo.py \
    tests/sim -p no:cacheprovider >> "$OUT/throughput.txt" 2>&1
  tail -n 8 "$OUT/throughput.txt"
fi
echo "script total ${SECONDS}s"
