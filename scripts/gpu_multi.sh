#!/usr/bin/env bash
# Multi-GPU session (nvidia-h200-x2 / -x4): data-parallel PPO scaling and sharded collect.
# Run on the device machine from the repo root after the carry install (../shared/device/README.md).
#   1. scaling: train-healthy under torchrun on 1, 2, 4 GPUs (GPUS="1 2 4"), ENVS envs per GPU,
#      ITERS PPO iterations each; env-steps/s of all ranks from each run's --json, scaling
#      efficiency = rate(G) / (G * rate(1)) (targets: >= 90 % at 2 GPUs, >= 85 % at 4).
#   2. BAR=1: time to the walking bar on each G: train BAR_ITERS iterations with a checkpoint
#      every CKPT_ITERS, then play 256 episodes of each checkpoint in order; the first that walks
#      gives the bar's timestep, whose wall-clock comes from curve.csv (+ start-up).
#   3. COLLECT=1: sharded collect on all GPUs + build + stats.
# Results land in $OUT (flat, few files). Typical: GPUS="1 2" bash scripts/gpu_multi.sh
set -uo pipefail
export PYTHONUNBUFFERED=1
# NVLink multicast stays off (device notes: it can take the host's GPUs down for everyone)
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
OUT=${OUT:-/tmp/h1out}; mkdir -p "$OUT"
NGPU=${NGPU:-$(nvidia-smi -L 2>/dev/null | wc -l)}
DEVICE=${DEVICE:-cuda}   # DEVICE=cpu NGPU=2 ENVS=4 ITERS=2: a smoke test of this script on CPUs
GPUS=${GPUS:-"1 2 4"}; ENVS=${ENVS:-4096}; ITERS=${ITERS:-60}
BAR_ITERS=${BAR_ITERS:-1000}; CKPT_ITERS=${CKPT_ITERS:-100}
runs=/root/runs_multi; rm -rf $runs; mkdir -p $runs
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | tee "$OUT/gpu.txt"
nvidia-smi topo -m > "$OUT/topo.txt" 2>&1
launch() { local g=$1; shift; timeout ${TIMEOUT:-540} python3 -m torch.distributed.run --standalone --nproc-per-node "$g" -m h1fault "$@"; }

for g in $GPUS; do
  [ "$g" -gt "$NGPU" ] && { echo "skip $g GPUs (only $NGPU)"; continue; }
  launch $g train-healthy --device $DEVICE --envs $ENVS --max-iterations $ITERS --seed 0 \
    --log-root $runs/scale_g$g --json agent.experiment=scale > "$OUT/scale_g$g.json" 2> "$OUT/scale_g$g.err"
  echo "G=$g rc=$? $(tail -c 300 "$OUT/scale_g$g.err" | tr '\n' ' ')"
done
python3 - "$OUT" $GPUS <<'PY' | tee "$OUT/scaling.txt"
import json, sys
out, gpus = sys.argv[1], [int(g) for g in sys.argv[2:]]
rate = {}
for g in gpus:
    try:
        d = json.load(open(f"{out}/scale_g{g}.json"))
    except Exception as exc:  # noqa: BLE001
        print(f"G={g}: no result ({exc})"); continue
    rate[g] = d["train_env_steps_per_s"]
    print(f"G={g}: {rate[g]:,.0f} env-steps/s in the loop (all ranks), {d['env_steps']:,} env "
          f"steps, world_size {d.get('world_size')}, wall {d['wall_clock_s']:.0f} s")
base = rate.get(1)
for g, r in rate.items():
    if base:
        print(f"G={g}: scaling efficiency {100 * r / (g * base):.1f} % (per-GPU {r / g:,.0f} vs {base:,.0f})")
PY

if [ -n "${BAR:-}" ]; then
  for g in $GPUS; do
    [ "$g" -gt "$NGPU" ] && continue
    launch $g train-healthy --device $DEVICE --envs $ENVS --max-iterations $BAR_ITERS --seed 0 \
      --log-root $runs/bar_g$g --json agent.experiment=bar \
      agent.trainer.checkpoint_interval=$((CKPT_ITERS * 24)) > "$OUT/bar_g$g.json" 2> "$OUT/bar_g$g.err"
    run=$(ls -d $runs/bar_g$g/bar/*_ppo_torch | tail -1)
    cp "$run/curve.csv" "$OUT/bar_g${g}_curve.csv"
    startup=$(python3 -c "import csv,json,sys; w=json.load(open('$OUT/bar_g$g.json'))['wall_clock_s']; r=list(csv.DictReader(open('$run/curve.csv'))); print(round(w-float(r[-1]['wall_s']),1))" 2>/dev/null)
    echo "G=$g start-up (wall_clock_s - loop) ${startup:-?} s" | tee -a "$OUT/bar.txt"
    for t in $(ls $run/checkpoints | sed -n 's/^agent_\([0-9]*\)\.pt$/\1/p' | sort -n); do
      ck=$run/checkpoints/agent_$t.pt
      walks=$(timeout 120 python3 -m h1fault play --checkpoint $ck --episodes ${EPISODES:-256} --device $DEVICE --json 2>/dev/null \
        | python3 -c "import json,sys; d=json.load(sys.stdin); print(d['walks'], round(d['episode_length_ratio'],3), round(d['lin_vel_error'],3))")
      wall=$(awk -F, -v t=$t 'NR>1 && $1==t {print $3}' "$run/curve.csv")
      echo "G=$g timestep $t loop_wall_s ${wall:-?} play: $walks" | tee -a "$OUT/bar.txt"
      case "$walks" in True*) break;; esac
    done
  done
fi

if [ -n "${COLLECT:-}" ]; then
  D=/root/h1multi; rm -rf $D; mkdir -p $D
  {
    launch $NGPU collect --envs $ENVS --steps ${STEPS:-1000} --device $DEVICE --out $D/raw.h5 --no-progress --json
    timeout 300 python3 -m h1fault dataset build $D/raw.rank*.h5 --out $D/ds.h5 --no-progress --json | head -c 2000
    timeout 200 python3 -m h1fault dataset stats $D/ds.h5 --no-progress; echo "stats exit code: $?"
  } > "$OUT/collect.txt" 2>&1
  tail -25 "$OUT/collect.txt"
fi
ls -la "$OUT"
