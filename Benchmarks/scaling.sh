#!/usr/bin/env bash
# Scaling of a real sweep: 8 trials on the synthetic `small` preset (15 epochs each), served by
# `sweep launch` to 1, 2 and 4 local workers at 1 thread each. Prints wall time and efficiency
# (T1 / (N · TN)). Usage: Benchmarks/scaling.sh [path/to/sweep]
set -euo pipefail
bin=${1:-.build/release/sweep}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sweep="$(dirname "$0")/eight-trials.yaml"
"$bin" plan "$sweep" > /dev/null
declare -A wall
for workers in 1 2 4; do
  start=$(date +%s.%N)
  "$bin" launch "$sweep" --db "$work/scaling-$workers.db" --bind "tcp://127.0.0.1:$((5700 + workers))" \
    --local-workers "$workers" --threads-per-worker 1 > /dev/null 2>&1
  end=$(date +%s.%N)
  wall[$workers]=$(echo "$end - $start" | bc)
done
for workers in 1 2 4; do
  efficiency=$(echo "scale=2; ${wall[1]} / ($workers * ${wall[$workers]})" | bc)
  printf '%d worker(s): %.1f s wall, efficiency %s\n' "$workers" "${wall[$workers]}" "$efficiency"
done
