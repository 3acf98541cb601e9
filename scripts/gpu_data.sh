#!/usr/bin/env bash
# GPU data + discriminator quality run: collect (shipped policy, >= 2048 envs x 1000 steps),
# build, stats, disc train, threshold on val, eval on test. Results go to $OUT.
set -uo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/h1out}; mkdir -p "$OUT"
D=/root/h1data; mkdir -p $D
ENVS=${ENVS:-2048}; STEPS=${STEPS:-1000}; EPOCHS=${EPOCHS:-40}
CKPT_ARG=(); [ -n "${CKPT:-}" ] && CKPT_ARG=(--checkpoint "$CKPT")   # default: the shipped policy
{
  timeout 200 python3 -m h1fault collect --envs $ENVS --steps $STEPS --device cuda --out $D/raw.h5 "${CKPT_ARG[@]}" --force --no-progress --json
  timeout 200 python3 -m h1fault dataset build $D/raw.h5 --out $D/ds.h5 --force --no-progress --json | head -c 3000
  timeout 100 python3 -m h1fault dataset stats $D/ds.h5 --plot "$OUT/stats.png" --no-progress
  echo "stats exit code: $?"
} 2>&1 | tee "$OUT/data.txt"
timeout ${DISC_TIMEOUT:-300} python3 -m h1fault disc train $D/ds.h5 -e gpu --device cuda --epochs $EPOCHS --log-root $D/logs "$@" 2>&1 | tail -15 | tee "$OUT/disc_train.txt"
ckpt=$(ls -d $D/logs/gpu/*/checkpoints/best.pt | tail -1)
timeout 120 python3 -m h1fault disc eval "$ckpt" $D/ds.h5 --pick-on val --device cuda --cuda-graph --json --plots $D/plots > "$OUT/eval_test.json" 2> "$OUT/eval_err.txt"
cp $D/plots/*confusion*.png "$OUT/" 2>/dev/null; ls -la "$OUT"
[ -n "${OVERHEAD:-}" ] && timeout 150 python3 benchmarks/collect_overhead.py --device cuda --envs 4096 --steps 500 --repeat 2 "${CKPT_ARG[@]}" 2>&1 | tail -8 | tee "$OUT/bench_collect.txt"
