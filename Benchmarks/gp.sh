#!/usr/bin/env bash
# Gaussian-process search against random search and TPE, ours and Optuna's (docs/BENCHMARKS.md,
# "Gaussian-process search"): Branin, Hartmann-6, BBOB f8 Rosenbrock (4-D) and f2 ellipsoid (5-D),
# TRIALS (default 60) trials × SEEDS (default 20) seeds each, 10 random start-up trials for the
# model-based ones. Ours run through the real trial controller and an in-memory store
# (sweep-bench-tpe functions); Optuna's are RandomSampler, TPESampler(multivariate=True) and
# GPSampler (Benchmarks/gp_optuna.py; its GPSampler needs `pip install torch scipy`). Prints, per
# searcher, the median best after 20/40/60 trials, the mean best with its standard error, and the
# median time of one ask after the start-up trials; then one GP proposal with 1,000 finished
# Hartmann-6 trials, ours and Optuna's. KEEP=DIR keeps every seed's values there.
#   make build && bash Benchmarks/gp.sh
set -euo pipefail
bin=${BIN:-.build/release}
seeds=${SEEDS:-20}
trials=${TRIALS:-60}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-Haswell} OMP_NUM_THREADS=1

summarise() {  # name, file of JSON lines {"seed", "values", "ask_seconds"}, max|min
    python3 - "$@" <<'PY'
import json, statistics, sys
name, path, goal = sys.argv[1], sys.argv[2], sys.argv[3]
runs = [json.loads(line) for line in open(path) if line.strip()]
best = max if goal == "max" else min
ends = [best(run["values"]) for run in runs]
asks = sorted(s for run in runs for s in run["ask_seconds"][10:])
cells = ", ".join("%d: %.4g" % (n, statistics.median(best(run["values"][:n]) for run in runs)) for n in (20, 40, 60) if all(len(run["values"]) >= n for run in runs))
print("  %-16s median best after %s; mean best %.4g ± %.2g; ask %.1f ms (%d seeds)" % (
    name, cells, statistics.mean(ends), statistics.stdev(ends) / len(ends) ** 0.5, 1000 * asks[len(asks) // 2], len(runs)))
PY
    if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP" && cp "$2" "$KEEP/$(basename "$2")"; fi
}

for problem in branin hartmann6 rosenbrock4 ellipsoid5; do
    goal=min; [ "$problem" = hartmann6 ] && goal=max
    echo "== $problem ($goal)"
    for method in random tpe gp; do
        "$bin/sweep-bench-tpe" functions --problem "$problem" --method "$method" --seeds "$seeds" --trials "$trials" > "$work/$problem-$method"
        summarise "our $method" "$work/$problem-$method" "$goal"
    done
    for method in random tpe gp; do
        python3 Benchmarks/gp_optuna.py functions --problem "$problem" --sampler "$method" --seeds "$seeds" --trials "$trials" > "$work/$problem-optuna-$method" 2> /dev/null
        summarise "Optuna's $method" "$work/$problem-optuna-$method" "$goal"
    done
done

echo "== one GP proposal with 1,000 finished Hartmann-6 trials"
echo "  ours:   $("$bin/sweep-bench-tpe" gp-latency --stored 1000 --asks 5)"
echo "  Optuna: $(python3 Benchmarks/gp_optuna.py latency --stored 1000 --asks 3 2> /dev/null)"
