#!/usr/bin/env bash
# What a program trial costs beyond the program itself (docs/BENCHMARKS.md, "Program trials"):
# a no-op Python program (one report line) run as TRIALS (default 200) trials
#   1. by `sweep run` (in process: claim, fork/exec, report parsing, result, store),
#   2. by `sweep launch --local-workers 1` (also leases over ZeroMQ and shipping the program once),
# against starting the same program directly in a loop, and `python3 -c pass`. Each figure is the
# median of REPEATS (default 3) runs, per trial, in milliseconds.
#   make build && bash Benchmarks/program-overhead.sh
set -euo pipefail
bin=$(cd "${BIN:-.build/release}" && pwd)
trials=${TRIALS:-200}
repeats=${REPEATS:-3}
here=$(cd "$(dirname "$0")" && pwd)
# The interpreter itself first in PATH, not a version manager's shim (pyenv's costs ~80 ms a start).
PATH="$(dirname "$(python3 -c 'import sys; print(sys.executable)')"):$PATH"
export PATH
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/sweep.yaml" <<YAML
name: program-overhead
program: {dir: $here/programs/noop, command: [python3, noop.py]}
dataset: none
metric: {name: valid_score, goal: maximize}
method: random
count: $trials
parameters:
  i: {distribution: int_uniform, min: 0, max: 1000000000}
YAML

per_trial() {  # command…: milliseconds per trial of one run
    local start end
    start=$(date +%s.%N)
    "$@" > /dev/null 2>&1
    end=$(date +%s.%N)
    python3 -c "print(($end - $start) * 1000 / $trials)"
}
median() { python3 -c "import statistics, sys; print('%.1f' % statistics.median(float(x) for x in sys.argv[1:]))" "$@"; }

direct_loop() {
    export SWEEP_REPORT="$work/direct.jsonl"
    for _ in $(seq "$trials"); do python3 "$here/programs/noop/noop.py"; done
}
pass_loop() { for _ in $(seq "$trials"); do python3 -c pass; done; }
run_sweep() { rm -rf "$work"/run.db* "$work"/run.db.runs; "$bin/sweep" run "$work/sweep.yaml" --db "$work/run.db"; }
launch_sweep() {
    rm -rf "$work"/launch.db* "$work"/launch.db.runs
    XDG_CACHE_HOME="$work/cache" "$bin/sweep" launch "$work/sweep.yaml" --db "$work/launch.db" --bind tcp://127.0.0.1:0 --local-workers 1
}

declare -A results
for name in pass direct run launch; do
    values=()
    for _ in $(seq "$repeats"); do
        case $name in
            pass) values+=("$(per_trial pass_loop)") ;;
            direct) values+=("$(per_trial direct_loop)") ;;
            run) values+=("$(per_trial run_sweep)") ;;
            launch) values+=("$(per_trial launch_sweep)") ;;
        esac
    done
    results[$name]=$(median "${values[@]}")
    echo "$name: ${values[*]} ms/trial (median ${results[$name]})"
done
echo
echo "per trial, median of $repeats runs of $trials trials:"
echo "  python3 -c pass                        ${results[pass]} ms"
echo "  the no-op program, started directly    ${results[direct]} ms"
echo "  sweep run                              ${results[run]} ms  (overhead $(python3 -c "print('%.1f' % (${results[run]} - ${results[direct]}))") ms)"
echo "  sweep launch, 1 local worker           ${results[launch]} ms  (overhead $(python3 -c "print('%.1f' % (${results[launch]} - ${results[direct]}))") ms)"
