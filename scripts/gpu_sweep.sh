#!/usr/bin/env bash
# GPU session for issue 12, part 1 (<= 9 min): the cold-start benchmark (Warp's lazy compile vs
# the parallel one, fresh caches each), then four train-healthy variants side by side on the one
# GPU (sample efficiency at a fixed step count: their curves carry the training-time tracking
# errors; each ends with a 256-episode deterministic play), then the per-phase profile.
# Run from the repo root after the carry install (../shared/device/README.md).
#   bash scripts/gpu_sweep.sh bench     # cold-start benchmark + profile + throughput ratio
#   ROUND=1 bash scripts/gpu_sweep.sh sweep   # round 1: four variants (~5 min)
#   ROUND=2 bash scripts/gpu_sweep.sh sweep   # round 2
#   bash scripts/gpu_sweep.sh sweep           # round 3: steadier ends (seeds 3, 4; 1024-episode
#       play); writes the better of B/C's overrides to /root/chosen.txt for gpu_speed.sh's EXTRA
#   ROUND=4 ... / ROUND=5 ...                 # more linear tracking (seeds 3-5); round 5 writes
#       its overrides to /root/chosen.txt only if all three seeds met the bar
#   ROUND=6 ...                               # first episodes cut short at random (seeds 3-5),
#       chosen the same way as round 5
#   ROUND=7 RUN_TIMEOUT=560 ...               # G plus air time when turning in place (H) or
#       falls at -800 (I), seeds 3-5 (six runs at once); writes the better one's overrides
#   ROUND=8 RUN_TIMEOUT=520 ...               # the recipe plus 10 % turn-in-place commands (J),
#       and J plus H's air time (K), seeds 3-5, chosen as in round 7
#   ROUND=9 RUN_TIMEOUT=520 ...               # K with track_ang_vel_z=1.5 (L, lowered from the
#       recipe's 2.0) and =2.0 (M, a rerun of K); chosen as in round 7. L became the recipe
#   ROUND=10 RUN_TIMEOUT=520 ...              # L with walking speed paid 2.0 (N) or 7 % more
#       steps (O, 36.9 M); chosen as in round 7. O became the recipe (its cold seeds met 3 of 3)
#   Each round ran against the recipe of its day: with the recipe now (round 10's O), rounds 8-10
#   repeat most of their overrides, and round 10 pins L's 8400 timesteps for N.
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
  common="--envs 4096 --device cuda --eval-episodes ${EVAL:-256}"
  steps="agent.trainer.timesteps=${STEPS:-9600} agent.trainer.checkpoint_interval=0"
  F_OVERRIDES="env.rewards.track_lin_vel_xy=1.5 env.rewards.termination=-400"
  G_OVERRIDES="agent.trainer.spread_first_episodes=true"
  H_OVERRIDES="env.rewards.air_time_when_turning=true"
  I_OVERRIDES="env.rewards.termination=-800"
  J_OVERRIDES="env.commands.turning_fraction=0.1"
  cd_="agent.ppo.mini_batches=8 env.rewards.track_ang_vel_z=2.0 env.rewards.joint_deviation_hip=-0.1 agent.models.initial_log_std=-0.5"
  declare -A variants
  if [ "${ROUND:-3}" = 1 ]; then  # round 1 (seed 3), 39.3 M steps each
    variants=(
      [a_mb8]="--seed 3 agent.ppo.mini_batches=8"
      [b_mb8_yaw2]="--seed 3 agent.ppo.mini_batches=8 env.rewards.track_ang_vel_z=2.0"
      [c_mb8_yaw2_hip]="--seed 3 agent.ppo.mini_batches=8 env.rewards.track_ang_vel_z=2.0 env.rewards.joint_deviation_hip=-0.1"
      [d_mb8_yaw2_std]="--seed 3 agent.ppo.mini_batches=8 env.rewards.track_ang_vel_z=2.0 agent.models.initial_log_std=-0.5"
    )
  elif [ "${ROUND:-3}" -ge 3 ]; then  # rounds 3-5: changes to the fast recipe, 1024-episode play
    common="--envs 4096 --device cuda --eval-episodes ${EVAL:-1024} --recipe fast"
    steps=""
    # warm the kernel cache (and re-measure the env's throughput) before the runs share the GPU
    timeout 150 python3 benchmarks/env_throughput.py --device cuda --backend warp --envs 4096 \
      --steps 300 --repeats 1 > "$OUT/env_throughput.txt" 2>&1
  fi
  if [ "${ROUND:-3}" = 4 ]; then  # round 4: pay more for linear tracking
    for s in 3 4 5; do
      variants[D_lin15_s$s]="--seed $s env.rewards.track_lin_vel_xy=1.5"
      variants[E_lin20_s$s]="--seed $s env.rewards.track_lin_vel_xy=2.0"
    done
  elif [ "${ROUND:-3}" = 5 ]; then  # round 5: D, with falls costing twice as much
    for s in 3 4 5; do
      variants[F_lin15_term400_s$s]="--seed $s $F_OVERRIDES"
    done
  elif [ "${ROUND:-3}" = 7 ]; then  # round 7: G + steps when turning in place (H), G + falls at -800 (I)
    for s in 3 4 5; do
      variants[H_turnair_s$s]="--seed $s $G_OVERRIDES $H_OVERRIDES"
      variants[I_term800_s$s]="--seed $s $G_OVERRIDES $I_OVERRIDES"
    done
    base=$G_OVERRIDES pair="H I" pair_overrides=("$H_OVERRIDES" "$I_OVERRIDES")
  elif [ "${ROUND:-3}" = 8 ]; then  # round 8: F + more turning in place (J), J + H's air time (K)
    for s in 3 4 5; do
      variants[J_turn10_s$s]="--seed $s $J_OVERRIDES"
      variants[K_turn10_air_s$s]="--seed $s $J_OVERRIDES $H_OVERRIDES"
    done
    base="" pair="J K" pair_overrides=("$J_OVERRIDES" "$J_OVERRIDES $H_OVERRIDES")
  elif [ "${ROUND:-3}" = 9 ]; then  # round 9: K with yaw tracking at 1.5 (L) or 2.0 (M, = K)
    K_OVERRIDES="$J_OVERRIDES $H_OVERRIDES"
    for s in 3 4 5; do
      variants[L_yaw15_s$s]="--seed $s $K_OVERRIDES env.rewards.track_ang_vel_z=1.5"
      variants[M_yaw20_s$s]="--seed $s $K_OVERRIDES env.rewards.track_ang_vel_z=2.0"
    done
    base=$K_OVERRIDES pair="L M"
    pair_overrides=("env.rewards.track_ang_vel_z=1.5" "env.rewards.track_ang_vel_z=2.0")
  elif [ "${ROUND:-3}" = 10 ]; then  # round 10: more lin tracking (N) or more steps (O)
    for s in 3 4 5; do
      variants[N_lin20_s$s]="--seed $s env.rewards.track_lin_vel_xy=2.0 agent.trainer.timesteps=8400"
      variants[O_steps9000_s$s]="--seed $s agent.trainer.timesteps=9000"
    done
    base="" pair="N O"
    pair_overrides=("env.rewards.track_lin_vel_xy=2.0 agent.trainer.timesteps=8400"
      "agent.trainer.timesteps=9000")
  elif [ "${ROUND:-3}" = 6 ]; then  # round 6: first episodes cut short at random (desynchronised)
    for s in 3 4 5; do
      variants[G_spread_s$s]="--seed $s $G_OVERRIDES"
    done
  elif [ "${ROUND:-3}" = 3 ]; then  # round 3: the fast recipe vs a lower KL target vs a final anneal
    variants=(
      [A_fast_s3]="--seed 3" [A_fast_s4]="--seed 4"
      [B_kl005_s3]="--seed 3 agent.ppo.kl_target=0.005"
      [B_kl005_s4]="--seed 4 agent.ppo.kl_target=0.005"
      [C_anneal02_s3]="--seed 3 agent.ppo.lr_anneal_fraction=0.2"
      [C_anneal02_s4]="--seed 4 agent.ppo.lr_anneal_fraction=0.2"
    )
  elif [ "${ROUND:-3}" = 2 ]; then  # round 2: c and d together, a second seed, a sharper tracking kernel, less entropy
    variants=(
      [e_cd_s3]="--seed 3 $cd_"
      [f_cd_s4]="--seed 4 $cd_"
      [g_cd_std035]="--seed 3 $cd_ env.rewards.tracking_std=0.35"
      [h_cd_ent005]="--seed 3 $cd_ agent.ppo.entropy_loss_scale=0.005"
    )
  fi
  mkdir -p /tmp/sweep
  for name in "${!variants[@]}"; do
    # shellcheck disable=SC2086
    timeout "${RUN_TIMEOUT:-560}" python3 -m h1fault train-healthy $common --log-root $runs/$name $steps \
      ${variants[$name]} > "/tmp/sweep/$name.log" 2>&1 &
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
  if [ "${ROUND:-3}" = 3 ]; then  # the better of B and C on both seeds: all met, fewest falls
    python3 - /tmp/sweep > /root/chosen.txt <<'PY'
import json, pathlib, sys
sys.path.insert(0, "scripts")
from quality_bar import meets_bar
root = pathlib.Path(sys.argv[1])
extra = {"B": "agent.ppo.kl_target=0.005", "C": "agent.ppo.lr_anneal_fraction=0.2"}
def score(v):
    plays = [json.load(open(p))["play"] for p in root.glob(f"{v}_*/policy.json")]
    if not plays:
        return (0, -1.0, -1.0)
    met = all(meets_bar(p) for p in plays)
    return (int(met), -max(p["fall_rate"] for p in plays), -max(p["lin_vel_error"] for p in plays))
print(extra[max(extra, key=score)])
PY
    echo "chosen: $(cat /root/chosen.txt)" | tee -a "$OUT/sweep.txt"
  elif [ "${ROUND:-3}" -ge 7 ]; then  # the better of the pair: all met, fewest falls, best tracking
    # shellcheck disable=SC2086
    python3 - /tmp/sweep "$base" $pair "${pair_overrides[@]}" > /root/chosen.txt <<'PY'
import json, pathlib, sys
sys.path.insert(0, "scripts")
from quality_bar import meets_bar, worst_tracking_share
root, g = pathlib.Path(sys.argv[1]), sys.argv[2]
extra = {sys.argv[3]: sys.argv[5], sys.argv[4]: sys.argv[6]}
def score(v):
    plays = [json.load(open(p))["play"] for p in root.glob(f"{v}_*/policy.json")]
    met = sum(meets_bar(p) for p in plays)
    return (met, -max((p["fall_rate"] for p in plays), default=1.0),
            -max((worst_tracking_share(p) for p in plays), default=9.0))
best = max(extra, key=score)
print(f"{g} {extra[best]}")
print(f"chosen {best}: {score(best)[0]} of 3 met", file=sys.stderr)
PY
    echo "chosen: '$(cat /root/chosen.txt)'" | tee -a "$OUT/sweep.txt"
  elif [ "${ROUND:-3}" -ge 5 ]; then  # F / G go on to the cold 3-seed test only if all seeds met
    if [ "${ROUND}" = 5 ]; then letter=F overrides=$F_OVERRIDES; else letter=G overrides=$G_OVERRIDES; fi
    # shellcheck disable=SC2046
    if [ $(ls /tmp/sweep/${letter}_*/policy.json | wc -l) = 3 ] \
      && python3 scripts/quality_bar.py /tmp/sweep/${letter}_*/policy.json
    then echo "$overrides" > /root/chosen.txt; else : > /root/chosen.txt; fi
    echo "chosen: '$(cat /root/chosen.txt)'" | tee -a "$OUT/sweep.txt"
  fi
  tail -n 3 /tmp/sweep/*.log
  ;;
esac
