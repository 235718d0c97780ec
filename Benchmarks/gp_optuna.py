"""Optuna's samplers on the test functions Benchmarks/gp.sh gives ours (sweep-bench-tpe functions).

  python3 Benchmarks/gp_optuna.py functions --problem hartmann6 --sampler gp --seeds 20 --trials 60
  python3 Benchmarks/gp_optuna.py latency --stored 1000 --asks 3

`functions` prints one JSON line per seed: {"seed": s, "values": [...], "ask_seconds": [...]}, each
trial's value in order and the time its `study.ask()` took. The samplers: `random`
(RandomSampler), `tpe` (TPESampler(multivariate=True), 10 start-up trials) and `gp` (GPSampler,
10 start-up trials), each with `seed=s`. `latency` prints the median seconds GPSampler takes to
propose with N finished Hartmann-6 trials (random search's) stored in memory.

Optuna's GPSampler needs PyTorch and SciPy (`pip install torch scipy`); this script is a
benchmark, not part of `make test`.
"""
import argparse
import json
import math
import time

import numpy as np
import optuna

optuna.logging.set_verbosity(optuna.logging.ERROR)

HARTMANN_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
HARTMANN_A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])
HARTMANN_P = np.array([
    [0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886], [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
    [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650], [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381],
])
ROSENBROCK_OPTIMUM = [1.2, -0.7, 0.4, -1.9]
ELLIPSOID_OPTIMUM = [2.1, -1.3, 0.7, -3.2, 1.5]


def branin(x):
    b, c, t = 5.1 / (4 * math.pi ** 2), 5 / math.pi, 1 / (8 * math.pi)
    return (x[1] - b * x[0] ** 2 + c * x[0] - 6) ** 2 + 10 * (1 - t) * math.cos(x[0]) + 10


def hartmann6(x):
    x = np.array(x)
    return float(np.sum(HARTMANN_ALPHA * np.exp(-np.sum(HARTMANN_A * (x - HARTMANN_P) ** 2, axis=1))))


def rosenbrock4(x):
    z = [x[i] - ROSENBROCK_OPTIMUM[i] + 1 for i in range(4)]
    return sum(100 * (z[i] ** 2 - z[i + 1]) ** 2 + (z[i] - 1) ** 2 for i in range(3))


def ellipsoid5(x):
    return sum(10 ** (6 * i / 4) * (x[i] - ELLIPSOID_OPTIMUM[i]) ** 2 for i in range(5))


# name: (function, bounds, direction)
PROBLEMS = {
    "branin": (branin, [(-5, 10), (0, 15)], "minimize"),
    "hartmann6": (hartmann6, [(0, 1)] * 6, "maximize"),
    "rosenbrock4": (rosenbrock4, [(-5, 5)] * 4, "minimize"),
    "ellipsoid5": (ellipsoid5, [(-5, 5)] * 5, "minimize"),
}


def sampler(name, seed):
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, n_startup_trials=10)
    return optuna.samplers.GPSampler(seed=seed, n_startup_trials=10)


def functions(args):
    function, bounds, direction = PROBLEMS[args.problem]
    for seed in range(args.seeds):
        study = optuna.create_study(direction=direction, sampler=sampler(args.sampler, seed))
        values, seconds = [], []
        for _ in range(args.trials):
            start = time.perf_counter()
            trial = study.ask()
            x = [trial.suggest_float("x%d" % i, low, high) for i, (low, high) in enumerate(bounds)]
            seconds.append(time.perf_counter() - start)
            value = function(x)
            study.tell(trial, value)
            values.append(value)
        print(json.dumps({"seed": seed, "values": values, "ask_seconds": seconds}), flush=True)


def latency(args):
    _, bounds, direction = PROBLEMS["hartmann6"]
    distributions = {"x%d" % i: optuna.distributions.FloatDistribution(low, high) for i, (low, high) in enumerate(bounds)}
    rng = np.random.RandomState(0)
    study = optuna.create_study(direction=direction, sampler=optuna.samplers.GPSampler(seed=0, n_startup_trials=10))
    for _ in range(args.stored):
        params = {name: float(rng.uniform(d.low, d.high)) for name, d in distributions.items()}
        study.add_trial(optuna.trial.create_trial(params=params, distributions=distributions, value=hartmann6(list(params.values()))))
    seconds = []
    for _ in range(args.asks):
        start = time.perf_counter()
        trial = study.ask(distributions)
        seconds.append(time.perf_counter() - start)
        study.tell(trial, hartmann6([trial.params["x%d" % i] for i in range(6)]))
    seconds.sort()
    print(json.dumps({"stored": args.stored, "median_seconds": seconds[len(seconds) // 2], "asks": args.asks}))


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="mode", required=True)
    f = sub.add_parser("functions")
    f.add_argument("--problem", choices=sorted(PROBLEMS), default="hartmann6")
    f.add_argument("--sampler", choices=["random", "tpe", "gp"], default="gp")
    f.add_argument("--seeds", type=int, default=20)
    f.add_argument("--trials", type=int, default=60)
    l = sub.add_parser("latency")
    l.add_argument("--stored", type=int, default=1000)
    l.add_argument("--asks", type=int, default=3)
    args = parser.parse_args()
    functions(args) if args.mode == "functions" else latency(args)


if __name__ == "__main__":
    main()
