#!/usr/bin/env bash
# GPU session for issue 12, part 1 (<= 9 min): the cold-start benchmark (Warp's lazy compile vs
# the parallel one, fresh caches each), then four train-healthy variants side by side on the one
# GPU (sample efficiency at a fixed step count: their curves carry the training-time tracking
# errors; each ends with a 256-episode deterministic play), then the per-phase profile.
# Run from the repo root after the carry install (../shared/device/README.md).
#   bash scripts/gpu_sweep.sh bench     # cold-start benchmark + profile + throughput ratio
#   ROUND=1 bash scripts/gpu_sweep.sh sweep   # round 1: four variants (~5 min)
#   bash scripts/gpu_sweep.sh sweep           # round 2
set -uo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/h1out}; mkdir -p "$OUT"
runs=/root/runs
case "${1:-sweep}" in
bench)
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader > "$OUT/bench.txt"
  nproc >> "$OUT/bench.txt"
  timeout 260 python3 benchmarks/cold_start.py --device cuda --envs 4096 >> "$OUT/bench.txt" 2>&1
  echo "--- profile (kernel cache warm from here on)" >> "$OUT/bench.txt"
  timeout 100 python3 benchmarks/profile_train.py --device cuda --envs 4096 --iterations 5 \
    >> "$OUT/bench.txt" 2>&1
  timeout 120 python3 benchmarks/train_throughput.py --device cuda --envs 4096 --iterations 40 \
    >> "$OUT/bench.txt" 2>&1
  echo "bench total ${SECONDS}s" >> "$OUT/bench.txt"
  cat "$OUT/bench.txt"
  ;;
sweep)
  common="--envs 4096 --device cuda --eval-episodes 256"
  steps="agent.trainer.timesteps=${STEPS:-9600} agent.trainer.checkpoint_interval=0"
  cd_="agent.ppo.mini_batches=8 env.rewards.track_ang_vel_z=2.0 env.rewards.joint_deviation_hip=-0.1 agent.models.initial_log_std=-0.5"
  declare -A variants
  if [ "${ROUND:-2}" = 1 ]; then  # round 1 (seed 3), 39.3 M steps each
    variants=(
      [a_mb8]="--seed 3 agent.ppo.mini_batches=8"
      [b_mb8_yaw2]="--seed 3 agent.ppo.mini_batches=8 env.rewards.track_ang_vel_z=2.0"
      [c_mb8_yaw2_hip]="--seed 3 agent.ppo.mini_batches=8 env.rewards.track_ang_vel_z=2.0 env.rewards.joint_deviation_hip=-0.1"
      [d_mb8_yaw2_std]="--seed 3 agent.ppo.mini_batches=8 env.rewards.track_ang_vel_z=2.0 agent.models.initial_log_std=-0.5"
    )
  else  # round 2: c and d together, a second seed, a sharper tracking kernel, less entropy
    variants=(
      [e_cd_s3]="--seed 3 $cd_"
      [f_cd_s4]="--seed 4 $cd_"
      [g_cd_std035]="--seed 3 $cd_ env.rewards.tracking_std=0.35"
      [h_cd_ent005]="--seed 3 $cd_ agent.ppo.entropy_loss_scale=0.005"
    )
  fi
  for name in "${!variants[@]}"; do
    # shellcheck disable=SC2086
    timeout 560 python3 -m h1fault train-healthy $common --log-root $runs/$name $steps \
      ${variants[$name]} > "$OUT/sweep_$name.log" 2>&1 &
  done
  wait
  for name in "${!variants[@]}"; do
    run=$(ls -d $runs/$name/*/*_ppo_torch 2>/dev/null | tail -1)
    [ -n "$run" ] || continue
    mkdir -p /tmp/sweep/$name
    cp "$run/policy.json" "$run/curve.csv" /tmp/sweep/$name/ 2>/dev/null
    python3 - "$name" "$run/policy.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[2])); p = m["play"]
print(f"{sys.argv[1]:<18} {m['env_steps'] / 1e6:5.1f}M steps  falls {p['fall_rate']:.3f}  "
      f"len {p['episode_length_ratio']:.3f}  lin {p['lin_vel_error']:.3f}  "
      f"yaw {p['ang_vel_error']:.3f}  wall {m['wall_clock_s']}s  startup {m['startup_s']}s")
PY
  done | tee "$OUT/sweep.txt"
  tar czf "$OUT/sweep.tgz" -C /tmp sweep
  tail -n 3 "$OUT"/sweep_*.log
  ;;
esac
