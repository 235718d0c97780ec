"""Optuna's PED-ANOVA importances for trials given on stdin, for ImportanceTests.

stdin: {"distributions": {name: {"type": "categorical", "choices": [...]} | {"type": "float", "low",
"high", "log", "step"} | {"type": "int", "low", "high"}}, "trials": [{"params": {...}, "value": v}],
"target_quantile": q}; a trial's params hold only its active parameters. The study maximises.
stdout: {name: importance}, normalised as get_param_importances does.
"""
import json
import sys
import warnings

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.importance import PedAnovaImportanceEvaluator, get_param_importances

warnings.simplefilter("ignore")
optuna.logging.set_verbosity(optuna.logging.ERROR)
job = json.load(sys.stdin)


def distribution(spec):
    if spec["type"] == "categorical":
        return CategoricalDistribution(spec["choices"])
    if spec["type"] == "int":
        return IntDistribution(spec["low"], spec["high"])
    return FloatDistribution(spec["low"], spec["high"], log=spec.get("log", False), step=spec.get("step"))


distributions = {name: distribution(spec) for name, spec in job["distributions"].items()}
study = optuna.create_study(direction="maximize")
for trial in job["trials"]:
    study.add_trial(optuna.trial.create_trial(
        params=trial["params"], distributions={k: distributions[k] for k in trial["params"]}, value=trial["value"]))
evaluator = PedAnovaImportanceEvaluator(target_quantile=job["target_quantile"])
print(json.dumps(get_param_importances(study, evaluator=evaluator)))
