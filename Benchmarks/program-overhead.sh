#!/usr/bin/env bash
# What a program trial costs beyond the program itself (docs/BENCHMARKS.md, "Program trials"):
# a no-op program (one report line, then exit) run as TRIALS (default 200) trials
#   1. by `sweep run` (in process: claim, attempt folder, fork/exec, report parsing, result, store),
#   2. by `sweep launch --local-workers 1` (also leases over ZeroMQ and shipping the program once),
# against starting the same program directly in a loop. Two no-op programs: `sh noop.sh` (starts in
# about a millisecond, so our overhead shows) and `python3 noop.py` (for scale: what a Python
# program's start costs). Rounds alternate the four ways, REPEATS (default 3) rounds; each figure is
# the median over rounds, per trial, in milliseconds.
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

sweep_file() {  # name, command…
    cat > "$work/$1.yaml" <<YAML
name: program-overhead-$1
program: {dir: $here/programs/noop, command: [$2]}
dataset: none
metric: {name: valid_score, goal: maximize}
method: random
count: $trials
parameters:
  i: {distribution: int_uniform, min: 0, max: 1000000000}
YAML
}
sweep_file sh "sh, noop.sh"
sweep_file python "python3, noop.py"

per_trial() {  # command…: milliseconds per trial of one run
    local start end
    start=$(date +%s%N)
    "$@" > /dev/null 2>&1
    end=$(date +%s%N)
    echo $(( (end - start) / trials / 1000 ))  # µs
}
direct() {  # program
    export SWEEP_REPORT="$work/direct.jsonl"
    for _ in $(seq "$trials"); do if [ "$1" = sh ]; then sh "$here/programs/noop/noop.sh"; else python3 "$here/programs/noop/noop.py"; fi; done
}
run_sweep() { rm -rf "$work"/run.db*; "$bin/sweep" run "$work/$1.yaml" --db "$work/run.db"; }
launch_sweep() {
    rm -rf "$work"/launch.db*
    XDG_CACHE_HOME="$work/cache" "$bin/sweep" launch "$work/$1.yaml" --db "$work/launch.db" --bind tcp://127.0.0.1:0 --local-workers 1
}

declare -A samples
for _ in $(seq "$repeats"); do
    for program in sh python; do
        samples[direct-$program]+=" $(per_trial direct $program)"
        samples[run-$program]+=" $(per_trial run_sweep $program)"
        samples[launch-$program]+=" $(per_trial launch_sweep $program)"
    done
done
median() { python3 -c "import statistics, sys; print('%.1f' % (statistics.median(int(x) for x in sys.argv[1:]) / 1000))" $1; }
echo "per trial, median of $repeats alternating rounds of $trials trials (ms):"
for program in sh python; do
    d=$(median "${samples[direct-$program]}"); r=$(median "${samples[run-$program]}"); l=$(median "${samples[launch-$program]}")
    echo "  $program: started directly $d   sweep run $r (+$(python3 -c "print('%.1f' % ($r - $d))"))   sweep launch, 1 local worker $l (+$(python3 -c "print('%.1f' % ($l - $d))"))"
    echo "     samples µs: direct${samples[direct-$program]} | run${samples[run-$program]} | launch${samples[launch-$program]}"
done
