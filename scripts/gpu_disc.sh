#!/usr/bin/env bash
# GPU discriminator quality run: collect with the shipped policy, build, stats, disc train,
# pick the decision rule on val, evaluate on test (streaming, as deployed). Results go to $OUT.
# Extra arguments are disc-train overrides, e.g. features=pd healthy_weight=3.
set -uo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/h1out}; mkdir -p "$OUT"
D=/root/h1disc; mkdir -p $D
ENVS=${ENVS:-4096}; STEPS=${STEPS:-1500}; EPOCHS=${EPOCHS:-40}
{
  timeout 200 python3 -m h1fault collect --envs $ENVS --steps $STEPS --device cuda --out $D/raw.h5 --force --no-progress --json
  timeout 200 python3 -m h1fault dataset build $D/raw.h5 --out $D/ds.h5 --force --no-progress --json | head -c 1500
  timeout 100 python3 -m h1fault dataset stats $D/ds.h5 --plot "$OUT/stats.png" --no-progress --json > $D/stats.json
  echo "stats exit code: $?"; python3 -c "import json; r=json.load(open('$D/stats.json')); [print(c['name'], c['status'], c['message']) for c in r['checks']]"
} 2>&1 | tee "$OUT/data.txt"
timeout ${DISC_TIMEOUT:-330} python3 -m h1fault disc train $D/ds.h5 -e gpu --device cuda --epochs $EPOCHS --log-root $D/logs "$@" 2>&1 | tail -8 | tee "$OUT/disc_train.txt"
ckpt=$(ls -d $D/logs/gpu/*/checkpoints/best.pt | tail -1)
timeout 150 python3 -m h1fault disc eval "$ckpt" $D/ds.h5 --device cuda --cuda-graph --json --plots $D/plots > "$OUT/eval_test.json" 2> "$OUT/eval_err.txt"
timeout 100 python3 -m h1fault disc eval "$ckpt" $D/ds.h5 --device cuda 2>&1 | tail -40 > "$OUT/eval_test.txt"
cp $D/plots/confusion_matrix.png "$OUT/" 2>/dev/null; ls -la "$OUT"
