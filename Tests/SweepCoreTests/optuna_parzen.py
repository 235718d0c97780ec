"""Evaluates Optuna's Parzen estimator (TPE's l(x) and g(x)) for the TPE density test.

Reads {"cases": [{"parameters": [...], "observations": [[...], ...], "points": [[...], ...]}]} from
stdin; each parameter is {"kind": "categorical", "count": n} or {"kind": "float" | "int",
"low": a, "high": b, "log": bool, "step": s | null}. Observations and points are in Optuna's
internal representation (a choice's index, or the number). Prints, per case, the log density of
each point under the estimator Optuna's TPESampler builds by default (prior weight 1, magic clip
on, endpoints off, default weights, multivariate).
"""
import json
import sys

import numpy as np
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.samplers._tpe.parzen_estimator import _ParzenEstimator, _ParzenEstimatorParameters
from optuna.samplers._tpe.sampler import default_weights

parameters = _ParzenEstimatorParameters(
    prior_weight=1.0, consider_magic_clip=True, consider_endpoints=False, weights=default_weights, multivariate=True)
answers = []
for case in json.load(sys.stdin)["cases"]:
    space = {}
    for index, p in enumerate(case["parameters"]):
        name = f"p{index}"
        if p["kind"] == "categorical":
            space[name] = CategoricalDistribution(list(range(p["count"])))
        elif p["kind"] == "int":
            space[name] = IntDistribution(int(p["low"]), int(p["high"]), log=p["log"], step=int(p["step"] or 1))
        else:
            space[name] = FloatDistribution(p["low"], p["high"], log=p["log"], step=p["step"])
    names = list(space)
    observations = {name: np.asarray([row[i] for row in case["observations"]], dtype=float) for i, name in enumerate(names)}
    estimator = _ParzenEstimator(observations, space, parameters)
    points = {name: np.asarray([row[i] for row in case["points"]], dtype=float) for i, name in enumerate(names)}
    answers.append(estimator.log_pdf(points).tolist())
print(json.dumps(answers))
