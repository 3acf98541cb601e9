#!/usr/bin/env bash
# GPU cost of the raw file's fletcher32 chunk checksums (issue 11): collect overhead with the
# default writer (checksums on) and with --no-checksum, same process settings. Results in $OUT.
set -uo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/h1out}; mkdir -p "$OUT"
ENVS=${ENVS:-4096}; STEPS=${STEPS:-500}
for mode in checksum no-checksum; do
  extra=(); [ "$mode" = no-checksum ] && extra=(--no-checksum)
  timeout 240 python3 benchmarks/collect_overhead.py --device cuda --envs $ENVS --steps $STEPS \
    --repeat 2 "${extra[@]}" > "$OUT/collect_$mode.json" 2> "$OUT/collect_$mode.err"
  echo "$mode exit $?"; python3 -c "import json; r=json.load(open('$OUT/collect_$mode.json')); print('$mode', 'ratio', round(r['ratio_logged_vs_bare'], 3), 'bare', [round(x) for x in r['bare_env_steps_per_s']], 'logged', [round(x) for x in r['logged_env_steps_per_s']], 'waited', [round(d['sim_waited_on_disk_s'], 2) for d in r['logged_runs']])"
done 2>&1 | tee "$OUT/summary.txt"
