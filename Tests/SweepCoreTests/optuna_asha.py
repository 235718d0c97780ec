"""Replays a sweep's reports through Optuna's SuccessiveHalvingPruner and prints its decisions.

Reads from stdin {"min_epochs": m, "reduction_factor": eta, "events": [...]} where each event is
["start", trial], ["report", trial, epoch, value] or ["end", trial, "pruned" | "complete", value],
in the order the sweep saw them. Trials run through Optuna's ask/tell interface, so several may be
running at once, as with parallel workers. For every report it asks `should_prune()` and prints
the answers as a JSON list of booleans. The caller decides when trials end (Optuna's answer is
advice; `should_prune` has no side effect beyond recording the rung value), so both systems see
the same trials at the same rungs.
"""
import json
import sys

import optuna

optuna.logging.set_verbosity(optuna.logging.WARNING)
spec = json.load(sys.stdin)
pruner = optuna.pruners.SuccessiveHalvingPruner(
    min_resource=spec["min_epochs"], reduction_factor=spec["reduction_factor"], min_early_stopping_rate=0)
study = optuna.create_study(direction="maximize", pruner=pruner, sampler=optuna.samplers.RandomSampler(seed=0))
running, answers = {}, []
for event in spec["events"]:
    kind, trial = event[0], event[1]
    if kind == "start":
        running[trial] = study.ask()
    elif kind == "report":
        running[trial].report(event[3], step=event[2])
        answers.append(running[trial].should_prune())
    else:
        state = optuna.trial.TrialState.PRUNED if event[2] == "pruned" else optuna.trial.TrialState.COMPLETE
        study.tell(running.pop(trial), event[3] if state == optuna.trial.TrialState.COMPLETE else None, state=state)
print(json.dumps(answers))
