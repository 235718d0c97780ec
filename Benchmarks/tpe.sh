#!/usr/bin/env bash
# Our TPE against random search and Optuna's TPE (docs/BENCHMARKS.md, "Model-based search"):
#   1. a closed-form objective with a known optimum (0.05) on the loss-search space, through the
#      real trial controller and store (sweep-bench-tpe) and through Optuna;
#   2. `sweep train` on the synthetic `small` preset (4 epochs a trial): ours and random search by
#      `sweep run`, Optuna's by calling `sweep train` per trial;
#   3. the time one proposal takes with 1,000 finished trials stored, ours and Optuna's.
# SEEDS (default 10) sampler seeds of TRIALS (default 40) trials each (ANALYTIC_SEEDS, default 100,
# for the closed-form objective, which is cheap). Prints the median best-so-far value after 10, 20,
# 30 and 40 trials for each searcher, and the mean best at the end with its standard error.
# KEEP=DIR keeps every seed's values there.
#   make build && bash Benchmarks/tpe.sh
set -euo pipefail
bin=${BIN:-.build/release}
seeds=${SEEDS:-10}
analytic_seeds=${ANALYTIC_SEEDS:-100}
trials=${TRIALS:-40}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
keep() { if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP" && cp "$1" "$KEEP/"; fi; }
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-Haswell}

summarise() {  # name, file of JSON lines {"seed", "values"}
    python3 - "$1" "$2" <<'EOF'
import json, statistics, sys
name, path = sys.argv[1], sys.argv[2]
runs = [json.loads(line)["values"] for line in open(path) if line.strip()]
points = [n for n in (10, 20, 30, 40) if all(len(run) >= n for run in runs)]
cells = ["%d: %.4f" % (n, statistics.median(max(run[:n]) for run in runs)) for n in points]
best = [max(run) for run in runs]
print("  %-18s median best after %s; mean best %.4f ± %.4f   (%d seeds)" % (
    name, ", ".join(cells), statistics.mean(best), statistics.stdev(best) / len(best) ** 0.5, len(runs)))
EOF
    keep "$2"
}

echo "== closed-form objective (optimum 0.05)"
"$bin/sweep-bench-tpe" analytic --method random --seeds "$analytic_seeds" --trials "$trials" > "$work/analytic-random"
"$bin/sweep-bench-tpe" analytic --method tpe --seeds "$analytic_seeds" --trials "$trials" > "$work/analytic-tpe"
python3 Benchmarks/tpe_optuna.py analytic --seeds "$analytic_seeds" --trials "$trials" > "$work/analytic-optuna" 2> /dev/null
summarise "random search" "$work/analytic-random"
summarise "our TPE" "$work/analytic-tpe"
summarise "Optuna's TPE" "$work/analytic-optuna"

echo "== sweep train on the synthetic small preset, 4 epochs a trial (valid nDCG@10)"
"$bin/sweep" data synth --preset small --seed 3 --out "$work/data" > /dev/null
for method in random tpe; do
    : > "$work/train-$method"
    for seed in $(seq 0 $((seeds - 1))); do
        cat > "$work/$method-$seed.yaml" <<EOF
name: tpe-train-$method-$seed
dataset: data
method: $method
count: $trials
seed: $seed
fixed: {epochs: 4}
parameters:
  loss: {values: [bce, weighted_bce, focal]}
  pos_weight_mult: {distribution: log_uniform, min: 0.25, max: 4, when: {loss: weighted_bce}}
  lr: {distribution: log_uniform, min: 0.00001, max: 0.01}
  dropout: {distribution: uniform, min: 0.0, max: 0.5}
EOF
        "$bin/sweep" run "$work/$method-$seed.yaml" --db "$work/$method-$seed.db" > /dev/null 2>&1
        "$bin/sweep" leaderboard --db "$work/$method-$seed.db" --all --format json | python3 -c "
import json, sys
rows = sorted(json.load(sys.stdin)['rows'], key=lambda row: row['number'])
print(json.dumps({'seed': $seed, 'values': [row['valid']['ndcg@10'] for row in rows]}))" >> "$work/train-$method"
    done
done
python3 Benchmarks/tpe_optuna.py train --sweep "$bin/sweep" --data "$work/data" --epochs 4 --seeds "$seeds" --trials "$trials" > "$work/train-optuna" 2> /dev/null
summarise "random search" "$work/train-random"
summarise "our TPE" "$work/train-tpe"
summarise "Optuna's TPE" "$work/train-optuna"

echo "== one proposal with 1,000 finished trials stored (median of 50; Optuna's of 20)"
echo "  ours:   $("$bin/sweep-bench-tpe" latency --stored 1000 --asks 50)"
echo "  Optuna: $(python3 Benchmarks/tpe_optuna.py latency --stored 1000 2> /dev/null)"
