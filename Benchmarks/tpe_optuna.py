"""Optuna's TPE on the objectives Benchmarks/tpe.sh gives our TPE and random search.

  python3 Benchmarks/tpe_optuna.py analytic --seeds 10 --trials 40
  python3 Benchmarks/tpe_optuna.py train --sweep BIN/sweep --data DIR --epochs 4 --seeds 10 --trials 40
  python3 Benchmarks/tpe_optuna.py latency --stored 1000

`analytic` and `train` print one JSON line per seed: {"seed": s, "values": [...]} (each trial's
value in order). `analytic` is the same closed-form function of the loss-search space as
`sweep-bench-tpe` (optimum 0.05); `train` runs `sweep train --config` per trial and reads valid
nDCG@10. `latency` prints the median seconds Optuna's sampler takes to propose the next trial
with N finished trials stored (in memory). The sampler is
TPESampler(multivariate=True, group=True, constant_liar=True, seed=s), Optuna's defaults otherwise.
"""
import argparse
import json
import math
import os
import subprocess
import tempfile
import time

import optuna

optuna.logging.set_verbosity(optuna.logging.WARNING)


def suggest(trial):
    """The loss-search space, define-by-run: a parameter exists only where its condition holds."""
    config = {"loss": trial.suggest_categorical("loss", ["bce", "weighted_bce", "focal", "class_balanced"])}
    if config["loss"] == "weighted_bce":
        config["pos_weight_mult"] = trial.suggest_float("pos_weight_mult", 0.25, 4, log=True)
    config["rnn"] = trial.suggest_categorical("rnn", [False, True])
    config["multitask"] = trial.suggest_categorical("multitask", [False, True])
    if config["multitask"]:
        config["balancer"] = trial.suggest_categorical("balancer", ["fixed", "uncertainty", "gradnorm", "dwa"])
        if config["balancer"] == "fixed":
            config["alpha"] = trial.suggest_float("alpha", 0.0001, 1, log=True)
    config["lr"] = trial.suggest_float("lr", 0.00001, 0.003, log=True)
    return config


def analytic(config):
    """A smooth function with a known optimum of 0.05 (weighted BCE, mult √2, lr 10^-2.8, no GRU)."""
    value = {"bce": 0.0, "weighted_bce": 0.05, "focal": 0.03, "class_balanced": 0.02}[config["loss"]]
    value -= 0.02 * (math.log10(config["lr"]) + 2.8) ** 2
    if config["loss"] == "weighted_bce":
        value -= 0.03 * (math.log2(config["pos_weight_mult"]) - 0.5) ** 2
    if config["rnn"]:
        value -= 0.03
    if config["multitask"]:
        balancer = config["balancer"]
        value -= 0.01 * (math.log10(config["alpha"]) + 3) ** 2 if balancer == "fixed" else \
            {"uncertainty": 0.005, "gradnorm": 0.008, "dwa": 0.006}[balancer]
    return value


def sampler(seed):
    return optuna.samplers.TPESampler(multivariate=True, group=True, constant_liar=True, seed=seed)


def train_space(trial):
    """The `train` benchmark's smaller space (what a few epochs on `small` can tell apart)."""
    config = {"loss": trial.suggest_categorical("loss", ["bce", "weighted_bce", "focal"])}
    if config["loss"] == "weighted_bce":
        config["pos_weight_mult"] = trial.suggest_float("pos_weight_mult", 0.25, 4, log=True)
    config["lr"] = trial.suggest_float("lr", 0.00001, 0.01, log=True)
    config["dropout"] = trial.suggest_float("dropout", 0.0, 0.5)
    return config


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("objective", choices=["analytic", "train", "latency"])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--stored", type=int, default=1000)
    parser.add_argument("--sweep", help="the sweep binary (train)")
    parser.add_argument("--data", help="the dataset folder (train)")
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    if args.objective == "latency":
        study = optuna.create_study(direction="maximize", sampler=sampler(0))
        study.optimize(lambda trial: analytic(suggest(trial)), n_trials=args.stored)
        seconds = []
        for _ in range(20):
            start = time.perf_counter()
            trial = study.ask()
            suggest(trial)
            seconds.append(time.perf_counter() - start)
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        seconds.sort()
        print(json.dumps({"stored": args.stored, "median_seconds": seconds[len(seconds) // 2]}))
        return
    for seed in range(args.seeds):
        study = optuna.create_study(direction="maximize", sampler=sampler(seed))
        values = []
        for _ in range(args.trials):
            trial = study.ask()
            if args.objective == "analytic":
                value = analytic(suggest(trial))
            else:
                config = dict(train_space(trial), epochs=args.epochs, seed=0)
                with tempfile.TemporaryDirectory() as folder:
                    path = os.path.join(folder, "config.json")
                    with open(path, "w") as file:
                        json.dump(config, file)
                    output = subprocess.run([args.sweep, "train", "--data", args.data, "--config", path, "--json-out", "-"],
                                            check=True, capture_output=True, text=True).stdout
                value = json.loads(output)["valid"]["ndcg@10"]
            study.tell(trial, value)
            values.append(value)
        print(json.dumps({"seed": seed, "values": values}), flush=True)


if __name__ == "__main__":
    main()
