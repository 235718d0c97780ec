#!/usr/bin/env bash
# Several objectives, ours against Optuna 5 in one run (docs/BENCHMARKS.md, "Several objectives"):
# ZDT1, ZDT2 (6 variables) and DTLZ2 (3 objectives, 6 variables), every objective minimized, as
# closed-form trials through our real trial controller and store (sweep-bench-tpe pareto) and
# through Optuna's ask-and-tell. SEEDS (default 30) seeds of TRIALS (default 100) trials per
# searcher; the mean hypervolume after TRIALS and TRIALS/2 with its standard error, every
# hypervolume computed by Optuna's own function. Then one proposal's time with STORED (default
# 1,000) finished trials: ours (always in its SQLite store) and Optuna's in memory and in an SQLite
# file (what several workers need). KEEP=DIR keeps every seed's points.
#   make build && bash Benchmarks/pareto.sh
set -euo pipefail
bin=${BIN:-.build/release}
seeds=${SEEDS:-30}
trials=${TRIALS:-100}
stored=${STORED:-1000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-Haswell}
for problem in zdt1 zdt2 dtlz2; do
    echo "== $problem"
    files=()
    for method in random tpe nsga2; do
        "$bin/sweep-bench-tpe" pareto --problem "$problem" --method "$method" --seeds "$seeds" --trials "$trials" > "$work/$problem-ours-$method"
        python3 Benchmarks/pareto_optuna.py run --problem "$problem" --sampler "$method" --seeds "$seeds" --trials "$trials" > "$work/$problem-optuna-$method"
        files+=("ours $method=$work/$problem-ours-$method" "optuna $method=$work/$problem-optuna-$method")
    done
    python3 Benchmarks/pareto_optuna.py summary --problem "$problem" "${files[@]}"
done
if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP" && cp "$work"/* "$KEEP/"; fi
echo "== one proposal with $stored finished trials (zdt1)"
for method in tpe nsga2; do
    echo "  ours $method:   $("$bin/sweep-bench-tpe" pareto-latency --problem zdt1 --method "$method" --stored "$stored")"
    echo "  optuna $method (in memory): $(python3 Benchmarks/pareto_optuna.py latency --problem zdt1 --sampler "$method" --stored "$stored")"
    echo "  optuna $method (SQLite):    $(python3 Benchmarks/pareto_optuna.py latency --problem zdt1 --sampler "$method" --stored "$stored" --sqlite "$work/optuna-$method.db")"
done
