"""The seed's recommender as a function worker: the same fit() as train.py, called in this process
for each trial the coordinator hands out, so torch, CUDA and the dataset are loaded once.

    pip install ./clients/python torch numpy
    python3 worker.py --connect tcp://coordinator:5555 --data ../../data/redial
    python3 worker.py --connect tcp://coordinator:5555 --data DIR --server-key coordinator.pub --secret-key gpu-1.key

sweep.yaml names `function: train`, so these workers and program workers (train.py) serve the
same sweep and store the same records.
"""
import argparse
import os
import sys

import sweep_client

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
from train import DEFAULTS, fit, load  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connect", required=True, help="the coordinator, e.g. tcp://host:5555")
    parser.add_argument("--data", required=True, help="the dataset folder")
    parser.add_argument("--out", default="runs", help="where each attempt keeps its best.pt")
    parser.add_argument("--name", help="this worker's name (default host-pid)")
    parser.add_argument("--server-key", help="the coordinator's CURVE public key file")
    parser.add_argument("--secret-key", help="this worker's CURVE secret key file")
    args = parser.parse_args()
    data = load(args.data)

    def train(trial):
        config = {key: trial.config[key] for key in DEFAULTS if key in trial.config}
        out = os.path.join(args.out, f"{trial.id}-a{trial.attempt}")
        fit(config, data, out, lambda values: trial.report(values.pop("epoch"), values))

    ran = sweep_client.work(
        train, connect=args.connect, name=args.name, server_key=args.server_key, secret_key=args.secret_key
    )
    print(f"ran {ran} trials")


if __name__ == "__main__":
    main()
