#!/usr/bin/env bash
# The GP with several objectives (log EHVI) against our TPE, random search and Optuna's GPSampler
# and TPE (docs/BENCHMARKS.md, "Several objectives by the GP"): ZDT1 (2 objectives), DTLZ2 (3)
# and DTLZ2 with 4 objectives, six variables each, every hypervolume by Optuna's own function;
# then one GP proposal with N finished trials of random search stored, ours and Optuna's.
# SEEDS (default 10; 5 for four objectives) × TRIALS (60 for ZDT1, 50 for DTLZ2). Optuna's
# GPSampler needs `pip install torch scipy`. KEEP=DIR keeps every seed's points there.
#   make build && bash Benchmarks/gp-pareto.sh
set -euo pipefail
bin=${BIN:-.build/release}
seeds=${SEEDS:-10}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-Haswell} OMP_NUM_THREADS=1

timed() {  # output file, command...: runs it, prints its wall seconds
    local out=$1 start
    shift
    start=$(date +%s.%N)
    "$@" > "$out" 2> /dev/null
    python3 -c "import sys, time; print('%.1f' % (time.time() - float(sys.argv[1])))" "$start"
}

for problem in zdt1 dtlz2 dtlz2-4; do
    trials=50 n=$seeds
    [ "$problem" = zdt1 ] && trials=60
    [ "$problem" = dtlz2-4 ] && n=$(( (seeds + 1) / 2 ))
    echo "== $problem ($n seeds × $trials trials; wall seconds for all seeds)"
    files=()
    for method in gp tpe random; do
        echo "  ours $method: $(timed "$work/$problem-$method" "$bin/sweep-bench-tpe" pareto --problem "$problem" --method "$method" --seeds "$n" --trials "$trials") s"
        files+=("our-$method=$work/$problem-$method")
    done
    for method in gp tpe; do
        echo "  Optuna's $method: $(timed "$work/$problem-optuna-$method" python3 Benchmarks/pareto_optuna.py run --problem "$problem" --sampler "$method" --seeds "$n" --trials "$trials") s"
        files+=("optuna-$method=$work/$problem-optuna-$method")
    done
    python3 Benchmarks/pareto_optuna.py summary --problem "$problem" "${files[@]}"
done
if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP" && cp "$work"/* "$KEEP"/; fi

echo "== one GP proposal with N finished trials of random search"
for problem in dtlz2 dtlz2-4; do
    for stored in 100 300 1000; do
        echo "  ours $problem $stored: $("$bin/sweep-bench-tpe" gp-latency --problem "$problem" --stored "$stored" --asks 5)"
    done
    # Optuna's GPSampler at 300 trials of four objectives was killed for memory on 24 GiB.
    for stored in 100 300; do
        [ "$problem" = dtlz2-4 ] && [ "$stored" = 300 ] && continue
        echo "  Optuna $problem $stored: $(python3 Benchmarks/pareto_optuna.py gp-latency --problem "$problem" --stored "$stored" --asks 3 2> /dev/null)"
    done
done
