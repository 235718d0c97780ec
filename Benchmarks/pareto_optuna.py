"""Optuna 5's multi-objective samplers on the problems `sweep-bench-tpe pareto` runs ours on, and
the hypervolume table of both (docs/BENCHMARKS.md, "Several objectives").

  python3 Benchmarks/pareto_optuna.py run --problem zdt1|zdt2|dtlz2|dtlz2-4 --sampler tpe|nsga2|random|gp [--seeds 30] [--trials 100]
      one JSON line per seed: {"seed": s, "points": [[f1, f2], ...]}, as sweep-bench-tpe prints them
  python3 Benchmarks/pareto_optuna.py latency --problem zdt1 --sampler tpe|nsga2 [--stored 1000] [--asks 20] [--sqlite FILE]
      {"stored": N, "median_seconds": t}: one ask with N finished trials, in memory or (as a sweep
      of many workers needs, and as ours always is) in an SQLite file
  python3 Benchmarks/pareto_optuna.py gp-latency --problem dtlz2 [--stored 1000] [--asks 20]
      {"stored": N, "median_seconds": t}: the GPSampler's ask with N finished trials of random
      search stored (needs torch and scipy)
  python3 Benchmarks/pareto_optuna.py summary --problem zdt1 NAME=FILE ...
      mean hypervolume after the trials (and after half of them) with its standard error, per file

Hypervolumes are Optuna's `compute_hypervolume` for every file, ours included, against the
problem's reference point (below), so the two sides are measured alike.
"""
import argparse
import json
import math
import statistics
import sys
import time

import numpy as np
import optuna
from optuna._hypervolume import compute_hypervolume

REFERENCE = {"zdt1": [1.1, 11.0], "zdt2": [1.1, 11.0], "dtlz2": [2.2, 2.2, 2.2], "dtlz2-4": [2.2, 2.2, 2.2, 2.2]}


def problem(name, x):
    """Six variables in [0, 1]; every objective minimized (sweep-bench-tpe's paretoProblem)."""
    if name in ("zdt1", "zdt2"):
        g = 1 + 9 * sum(x[1:]) / (len(x) - 1)
        ratio = x[0] / g
        return [x[0], g * (1 - (math.sqrt(ratio) if name == "zdt1" else ratio * ratio))]
    m = len(REFERENCE[name])  # dtlz2, dtlz2-4: M - 1 angles, the rest set the distance
    g = sum((v - 0.5) ** 2 for v in x[m - 1:])
    angles = [v * math.pi / 2 for v in x[: m - 1]]
    return [(1 + g) * math.prod(math.cos(a) for a in angles[: m - 1 - i]) * (math.sin(angles[m - 1 - i]) if i else 1) for i in range(m)]


def sampler(name, seed):
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    if name == "gp":  # needs torch and scipy
        return optuna.samplers.GPSampler(seed=seed, n_startup_trials=10)
    return optuna.samplers.RandomSampler(seed=seed)


def study(problem_name, sampler_name, seed, storage=None):
    objectives = len(REFERENCE[problem_name])
    return optuna.create_study(directions=["minimize"] * objectives, sampler=sampler(sampler_name, seed), storage=storage)


def evaluate(problem_name, trial):
    return problem(problem_name, [trial.suggest_float("x%d" % i, 0, 1) for i in range(6)])


def run(args):
    for seed in range(args.seeds):
        s = study(args.problem, args.sampler, seed)
        points = []
        for _ in range(args.trials):
            trial = s.ask()
            values = evaluate(args.problem, trial)
            s.tell(trial, values)
            points.append(values)
        print(json.dumps({"seed": seed, "points": points}))


def latency(args):
    s = study(args.problem, args.sampler, 0, storage="sqlite:///" + args.sqlite if args.sqlite else None)
    for _ in range(args.stored):
        trial = s.ask()
        s.tell(trial, evaluate(args.problem, trial))
    seconds = []
    for _ in range(args.asks):
        start = time.perf_counter()
        trial = s.ask()
        values = evaluate(args.problem, trial)  # the sampler draws lazily, at suggest
        seconds.append(time.perf_counter() - start)
        s.tell(trial, values)
    print(json.dumps({"stored": args.stored, "median_seconds": statistics.median(seconds), "asks": len(seconds)}))


def gp_latency(args):
    """The GPSampler's ask with `stored` finished trials of random search on the problem (added
    directly, as sweep-bench-tpe gp-latency stores them)."""
    distributions = {"x%d" % i: optuna.distributions.FloatDistribution(0, 1) for i in range(6)}
    rng = np.random.RandomState(0)
    s = study(args.problem, "gp", 0)
    for _ in range(args.stored):
        params = {name: float(rng.uniform()) for name in distributions}
        s.add_trial(optuna.trial.create_trial(params=params, distributions=distributions, values=problem(args.problem, list(params.values()))))
    seconds = []
    for _ in range(args.asks):
        start = time.perf_counter()
        trial = s.ask(distributions)
        seconds.append(time.perf_counter() - start)
        s.tell(trial, problem(args.problem, [trial.params["x%d" % i] for i in range(6)]))
    print(json.dumps({"stored": args.stored, "median_seconds": statistics.median(seconds), "asks": len(seconds)}))


def hypervolume(points, reference):
    inside = [p for p in points if all(v < r for v, r in zip(p, reference))]
    if not inside:
        return 0.0
    return float(compute_hypervolume(np.array(inside), np.array(reference)))


def summary(args):
    reference = REFERENCE[args.problem]
    for entry in args.files:
        name, path = entry.split("=", 1)
        runs = [json.loads(line)["points"] for line in open(path) if line.strip()]
        full = [hypervolume(run, reference) for run in runs]
        half = [hypervolume(run[: len(run) // 2], reference) for run in runs]
        se = lambda values: statistics.stdev(values) / len(values) ** 0.5 if len(values) > 1 else float("nan")
        print("  %-16s hypervolume after %d: %.4f ± %.4f   after %d: %.4f ± %.4f   (%d seeds)" % (
            name, len(runs[0]), statistics.mean(full), se(full), len(runs[0]) // 2, statistics.mean(half), se(half), len(runs)))


def main():
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["run", "latency", "gp-latency", "summary"])
    parser.add_argument("--problem", default="zdt1", choices=sorted(REFERENCE))
    parser.add_argument("--sampler", default="nsga2", choices=["tpe", "nsga2", "random", "gp"])
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--stored", type=int, default=1000)
    parser.add_argument("--asks", type=int, default=20)
    parser.add_argument("--sqlite", default="")
    parser.add_argument("files", nargs="*")
    args = parser.parse_intermixed_args()
    {"run": run, "latency": latency, "gp-latency": gp_latency, "summary": summary}[args.mode](args)


if __name__ == "__main__":
    main()
