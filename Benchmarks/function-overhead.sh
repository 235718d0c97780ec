#!/usr/bin/env bash
# What a trial costs run by a Python function worker against a program trial (docs/BENCHMARKS.md,
# "Function workers against program trials"): TRIALS (default 200) trials of a function that does
# nothing, through `sweep launch`
#   1. as program trials, `sweep launch --local-workers 1` starting `python3 noop.py` (no import)
#      or `python3 heavy.py` (imports numpy and scipy) for every trial,
#   2. as function trials, one `python3 Benchmarks/function_worker.py` process (clients/python)
#      calling the function for every trial, the imports paid once.
# With TORCH=1 the heavy variants import torch too (where it is installed). Rounds alternate the
# ways, REPEATS (default 3) rounds; each figure is the median over rounds, in ms: per trial from
# the coordinator's start to its exit (the worker's start and imports included), and the steady
# interval between two results (the median gap between consecutive results' finished_at).
#   make build && bash Benchmarks/function-overhead.sh
set -euo pipefail
bin=$(cd "${BIN:-.build/release}" && pwd)
trials=${TRIALS:-200}
repeats=${REPEATS:-3}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# The interpreter itself first in PATH, not a version manager's shim (pyenv's costs ~80 ms a start).
PATH="$(dirname "$(python3 -c 'import sys; print(sys.executable)')"):$PATH"
export PATH PYTHONPATH="$root/clients/python/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONDONTWRITEBYTECODE=1
if [ "${TORCH:-0}" = 1 ]; then export HEAVY_TORCH=1; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

space="method: random
count: $trials
parameters:
  i: {distribution: int_uniform, min: 0, max: 1000000000}"
for variant in noop heavy; do
    cat > "$work/program-$variant.yaml" <<YAML
name: program-$variant
program: {dir: $here/programs/noop, command: [python3, $variant.py], env: [PYTHONPATH, HEAVY_TORCH]}
dataset: none
metric: {name: valid_score, goal: maximize}
$space
YAML
done
cat > "$work/function.yaml" <<YAML
name: function
function: objective
dataset: none
metric: {name: valid_score, goal: maximize}
$space
YAML

now() { date +%s%N; }
gap() {  # store → median µs between consecutive results
    python3 - "$1" <<'PY'
import sqlite3, statistics, sys
times = [row[0] for row in sqlite3.connect(sys.argv[1]).execute("SELECT finished_at FROM result ORDER BY finished_at")]
print(int(statistics.median(b - a for a, b in zip(times, times[1:])) * 1e6))
PY
}
program_trials() {  # variant → µs per trial
    rm -rf "$work"/p.db* "$work/cache"
    local start end
    start=$(now)
    XDG_CACHE_HOME="$work/cache" "$bin/sweep" launch "$work/program-$1.yaml" --db "$work/p.db" --bind tcp://127.0.0.1:0 \
        --local-workers 1 > /dev/null 2>&1
    end=$(now)
    echo "$(( (end - start) / trials / 1000 ))/$(gap "$work/p.db")"
}
function_trials() {  # variant → µs per trial
    rm -rf "$work"/f.db*
    local port start end
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    start=$(now)
    "$bin/sweep" launch "$work/function.yaml" --db "$work/f.db" --bind "tcp://127.0.0.1:$port" > /dev/null 2>&1 &
    local coordinator=$!
    python3 "$here/function_worker.py" "tcp://127.0.0.1:$port" "$1" > /dev/null 2>&1
    wait "$coordinator"
    end=$(now)
    echo "$(( (end - start) / trials / 1000 ))/$(gap "$work/f.db")"
}

declare -A samples
for _ in $(seq "$repeats"); do
    for variant in noop heavy; do
        samples[program-$variant]+=" $(program_trials $variant)"
        samples[function-$variant]+=" $(function_trials $variant)"
    done
done
median() {  # field (1: per trial, 2: gap), samples…
    python3 -c "import statistics, sys; print('%.2f' % (statistics.median(int(x.split('/')[int(sys.argv[1]) - 1]) for x in sys.argv[2:]) / 1000))" "$@"
}
echo "median of $repeats alternating rounds of $trials trials (ms): per trial, start to exit | steady gap between results"
for variant in noop heavy; do
    p=$(median 1 ${samples[program-$variant]}); f=$(median 1 ${samples[function-$variant]})
    pg=$(median 2 ${samples[program-$variant]}); fg=$(median 2 ${samples[function-$variant]})
    echo "  $variant: program trial $p | $pg   function worker $f | $fg   ($(python3 -c "print('%.1f' % ($p / $f))")× less per trial)"
    echo "     samples µs (per trial/gap): program${samples[program-$variant]} | function${samples[function-$variant]}"
done
