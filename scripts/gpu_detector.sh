#!/usr/bin/env bash
# GPU detector run (issue 10): does the fault detector survive a change of policy?
#   1. collect ENVS x STEPS with torque noise on (default env) from the shipped policy (plus any
#      --train-policy, spread over env groups), build (70/15/15), stats;
#   2. collect ENVS x HSTEPS from --heldout-policy (never trained on), build (almost all test);
#   3. residual detector: calibrate on val, eval in-distribution and held out;
#   4. disc train per feature set in FEATURES (rule picked on val, stored in best.pt), eval with
#      the residual baseline, in-distribution and held out, per joint group;
#   5. benchmarks/disc_speed.py (streaming step at 4096 envs, goal <= 0.2 ms);
#   6. the residual again on the same episodes with the torque sensor off (seed-matched data;
#      NOISE_OFF=0 skips it).
# Results go to $OUT: summary.txt (read this first), *.json, *.txt.
# Usage: scripts/gpu_detector.sh --heldout-policy /path/robust.pt [--train-policy other.pt ...]
# Env: ENVS=4096 STEPS=2500 HSTEPS=1000 EPOCHS=12 LANES=512 FEATURES="phys pd" NOISE_OFF=1
# Budget on one H200 (estimated from the 4096 x 4000 collect in 19.6 s and ~9 s per epoch on
# 13 M train samples): collects ~15 s + ~6 s, builds + stats ~40 s, residual ~60 s, each
# training ~80 s, evals ~40 s each, benchmark ~40 s, torque-off ~80 s: ~8 minutes. Over budget:
# FEATURES=phys or NOISE_OFF=0.
set -uo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/h1out}; mkdir -p "$OUT"
D=${WORK:-/root/h1det}; rm -rf $D; mkdir -p $D
ENVS=${ENVS:-4096}; STEPS=${STEPS:-2500}; HSTEPS=${HSTEPS:-1000}; EPOCHS=${EPOCHS:-12}
LANES=${LANES:-512}; FEATURES=${FEATURES:-"phys pd"}; NOISE_OFF=${NOISE_OFF:-1}
DEVICE=${DEVICE:-cuda}; BENCH=${BENCH:-1}   # DEVICE=cpu BENCH=0 with tiny sizes: a dry run
TS=${TS:-1}   # timeout multiplier (a dry run on a slow CPU)
CG=(--cuda-graph); [ "$DEVICE" = cpu ] && CG=()
HELD=""; TRAIN_POL=()
while [ $# -gt 0 ]; do
  case "$1" in
    --heldout-policy) HELD="$2"; shift 2 ;;
    --train-policy) TRAIN_POL+=(--policy "$2"); shift 2 ;;
    *) echo "unknown argument $1"; exit 2 ;;
  esac
done
H=(python3 -m h1fault)
SHIPPED=$(python3 -c "from h1fault.rl.policy import default_policy_path as p; print(p())")
POL=(--policy "$SHIPPED" "${TRAIN_POL[@]}")
log() { echo "== $(date -u +%T) $*" | tee -a "$OUT/summary.txt"; }

log "collect train data: $ENVS x $STEPS, policies: ${POL[*]}"
{
  timeout $((120*TS)) "${H[@]}" collect --envs $ENVS --steps $STEPS --device $DEVICE --seed 1 "${POL[@]}" \
    --out $D/raw.h5 --no-progress --json
  timeout $((150*TS)) "${H[@]}" dataset build $D/raw.h5 --out $D/ds.h5 --split 0.7,0.15,0.15 \
    --no-progress --json | head -c 2000; echo
  timeout $((100*TS)) "${H[@]}" dataset stats $D/ds.h5 --no-progress > $D/stats.txt; echo "stats exit $?"
  tail -25 $D/stats.txt
} > "$OUT/data.txt" 2>&1
grep -E "stats exit|wrote" "$OUT/data.txt" | tee -a "$OUT/summary.txt"

HELD_ARGS=()
if [ -n "$HELD" ]; then
  log "collect held-out data: $ENVS x $HSTEPS with $HELD"
  {
    timeout $((90*TS)) "${H[@]}" collect --envs $ENVS --steps $HSTEPS --device $DEVICE --seed 2 \
      --policy "$HELD" --out $D/raw_held.h5 --no-progress --json
    timeout $((100*TS)) "${H[@]}" dataset build $D/raw_held.h5 --out $D/ds_held.h5 --split 0.02,0.02,0.96 \
      --no-progress --json | head -c 1500; echo
    timeout $((60*TS)) "${H[@]}" dataset stats $D/ds_held.h5 --no-progress | tail -20
  } > "$OUT/data_heldout.txt" 2>&1
  HELD_ARGS=(--heldout $D/ds_held.h5 --heldout-split test)
fi

log "residual detector: calibrate on val (15 %: ~400 healthy episodes, enough to certify < 1 %)"
timeout $((150*TS)) "${H[@]}" disc calibrate residual $D/ds.h5 --split val --device $DEVICE \
  --out "$OUT/residual_detector.json" --force > "$OUT/residual_calibrate.txt" 2>&1
grep -E "picked|residual detector|false alarms|warning" "$OUT/residual_calibrate.txt" | tee -a "$OUT/summary.txt"
timeout $((120*TS)) "${H[@]}" disc eval "$OUT/residual_detector.json" $D/ds.h5 --device $DEVICE "${CG[@]}" \
  --no-baseline "${HELD_ARGS[@]}" --json > "$OUT/eval_residual.json" 2> "$OUT/eval_residual.err"

for F in $FEATURES; do
  log "disc train features=$F ($EPOCHS epochs, $LANES lanes)"
  timeout $((${DISC_TIMEOUT:-200}*TS)) "${H[@]}" disc train $D/ds.h5 -e gpu_$F --device $DEVICE \
    --epochs $EPOCHS --lanes $LANES --log-root $D/logs features=$F 2>&1 | tail -8 \
    | tee "$OUT/train_$F.txt" | tee -a "$OUT/summary.txt"
  ckpt=$(ls -d $D/logs/gpu_$F/*/checkpoints/best.pt 2>/dev/null | tail -1)
  [ -z "$ckpt" ] && { log "no checkpoint for $F"; continue; }
  cp "$ckpt" "$OUT/best_$F.pt"
  timeout $((150*TS)) "${H[@]}" disc eval "$ckpt" $D/ds.h5 --device $DEVICE "${CG[@]}" \
    --baseline "$OUT/residual_detector.json" "${HELD_ARGS[@]}" --json \
    > "$OUT/eval_$F.json" 2> "$OUT/eval_$F.err"
  python3 -c "import json,sys; from h1fault.cli_disc import print_comparison as p; \
r=json.load(open(sys.argv[1])); p(r['comparison'], r['window_s'])" "$OUT/eval_$F.json" \
    2>&1 | tee "$OUT/eval_$F.txt" >> "$OUT/summary.txt"
done

if [ "$BENCH" = 1 ]; then
  log "streaming speed"
  timeout $((150*TS)) python3 benchmarks/disc_speed.py --device $DEVICE --features phys --train-iters 20 \
    --json "$OUT/disc_speed.json" 2>&1 | grep -E "^#|stream 4096" | tee "$OUT/disc_speed.txt" \
    >> "$OUT/summary.txt"
fi

if [ "$NOISE_OFF" = 1 ]; then
  log "residual with the torque sensor off (same seed: same episodes, exact torques)"
  {
    timeout $((120*TS)) "${H[@]}" collect --envs $ENVS --steps $STEPS --device $DEVICE --seed 1 "${POL[@]}" \
      --out $D/raw_exact.h5 --no-progress env.torque_sensor.enabled=false
    timeout $((150*TS)) "${H[@]}" dataset build $D/raw_exact.h5 --out $D/ds_exact.h5 --split 0.7,0.15,0.15 \
      --no-progress
    rm -f $D/raw_exact.h5
    timeout $((150*TS)) "${H[@]}" disc calibrate residual $D/ds_exact.h5 --split val --device $DEVICE \
      --out "$OUT/residual_exact.json" --force
    timeout $((120*TS)) "${H[@]}" disc eval "$OUT/residual_exact.json" $D/ds_exact.h5 --device $DEVICE \
      "${CG[@]}" --no-baseline --json > "$OUT/eval_residual_exact.json"
  } > "$OUT/torque_exact.txt" 2>&1
fi

log "summary per joint group (identified <= 0.5 s / healthy-episode alarms, 95% bound)"
python3 - "$OUT" <<'EOF' 2>&1 | tee -a "$OUT/summary.txt"
import json, pathlib, sys
from h1fault.disc.compare import group_summary
out = pathlib.Path(sys.argv[1])
def show(name, rep):
    g = group_summary(rep)
    cells = "  ".join(f"{x['group']} {x['identified']}/{x['saturating_episodes']}" for x in g["groups"])
    print(f"{name:34s} {cells}  FA {g['healthy_episodes_with_alarm']}/{g['healthy_episodes']} "
          f"(95% ub {g['false_alarm_upper_bound']:.3f}, certified {g['certified']})")
for f in sorted(out.glob("eval_*.json")):
    try:
        rep = json.loads(f.read_text())
    except Exception as exc:
        print(f.name, "unreadable:", exc); continue
    show(f.stem + " [in-dist]", rep)
    for key in ("heldout", "baseline", "heldout_baseline"):
        if key in rep:
            show(f.stem + f" [{key}]", rep[key])
EOF
ls -la "$OUT"
