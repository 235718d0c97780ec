"""Optuna's no-op trial throughput on this machine, for scale beside `sweep bench coordinator`.

Optuna's fastest persistent set-up: JournalStorage on a local journal file (or SQLite for
comparison) with RandomSampler, P processes each running `study.optimize` on one study, and an
objective that only draws one float, as our no-op trials do. Throughput is counted the way our
bench counts it: trials completed between the first trial's start and the last one's end.

    python3 -m venv /tmp/optuna && /tmp/optuna/bin/pip install optuna
    /tmp/optuna/bin/python Benchmarks/optuna_noop.py --processes 2 --trials 10000 [--storage sqlite]
"""
import argparse
import json
import multiprocessing
import os
import tempfile
import time

import optuna


def storage_for(kind, folder):
    if kind == "journal":
        path = os.path.join(folder, "journal.log")
        return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(path))
    return f"sqlite:///{os.path.join(folder, 'optuna.db')}"


def work(kind, folder, trials):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name="noop", storage=storage_for(kind, folder),
                              sampler=optuna.samplers.RandomSampler())
    study.optimize(lambda trial: trial.suggest_float("lr", 1e-4, 1e-2), n_trials=trials)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--trials", type=int, default=10000)
    parser.add_argument("--storage", choices=["journal", "sqlite"], default="journal")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory() as folder:
        study = optuna.create_study(study_name="noop", storage=storage_for(args.storage, folder))
        start = time.time()
        each = args.trials // args.processes
        processes = [multiprocessing.Process(target=work, args=(args.storage, folder, each))
                     for _ in range(args.processes)]
        for process in processes:
            process.start()
        for process in processes:
            process.join()
        wall = time.time() - start
        trials = study.get_trials(deepcopy=False, states=[optuna.trial.TrialState.COMPLETE])
        first = min(t.datetime_start for t in trials)
        last = max(t.datetime_complete for t in trials)
        window = (last - first).total_seconds()
        print(json.dumps({"storage": args.storage, "processes": args.processes, "trials": len(trials),
                          "wall_seconds": round(wall, 2),
                          "trials_per_second": round((len(trials) - 1) / window, 1)}))


if __name__ == "__main__":
    main()
