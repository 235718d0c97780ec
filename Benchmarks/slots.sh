#!/usr/bin/env bash
# Slots against processes: the 8-trial sweep of scaling.sh (synthetic `small`, 15 epochs each),
# served by `sweep launch` to (a) one worker with one slot, (b) two one-slot workers, (c) one
# worker with `--slots 2`, every trial at 1 BLAS thread; rounds alternate the three. Prints each
# round's wall seconds and the medians. Usage: Benchmarks/slots.sh [path/to/sweep] [rounds]
set -euo pipefail
bin=${1:-.build/release/sweep}
rounds=${2:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sweep="$(dirname "$0")/eight-trials.yaml"
"$bin" plan "$sweep" > /dev/null
# One sweep served to the workers given as "slots,slots,…" (one worker process per entry).
run() {
  local layout=$1 db="$work/$1-$2.db" port=$((5800 + RANDOM % 100))
  local start end pids=()
  start=$(date +%s.%N)
  "$bin" launch "$sweep" --db "$db" --bind "tcp://127.0.0.1:$port" > /dev/null 2>&1 &
  local coordinator=$!
  IFS=, read -ra workers <<< "$layout"
  for index in "${!workers[@]}"; do
    "$bin" worker --connect "tcp://127.0.0.1:$port" --name "w$index" --slots "${workers[$index]}" --threads 1 \
      --cache-dir "$work/cache" > /dev/null 2>&1 &
    pids+=($!)
  done
  wait "$coordinator"
  end=$(date +%s.%N)
  for pid in "${pids[@]}"; do wait "$pid" || true; done
  echo "$end - $start" | bc
}
declare -A times
for round in $(seq "$rounds"); do
  for layout in 1 1,1 2; do
    seconds=$(run "$layout" "$round")
    times[$layout]+="$seconds "
    printf 'round %d  workers %-4s  %.1f s\n' "$round" "$layout" "$seconds"
  done
done
for layout in 1 1,1 2; do
  median=$(echo "${times[$layout]}" | tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}')
  printf 'median  workers %-4s  %.1f s\n' "$layout" "$median"
done
