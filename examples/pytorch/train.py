"""The seed's recommender in PyTorch, as a program trial of a sweep.

Frozen sentence embeddings of the dialogue -> FFN (ReLU, dropout) -> one logit per movie,
trained with weighted BCE (pos_weight = pos_weight_mult x N / avg_targets) and, when alpha > 0,
the auxiliary tag head: each (tag embedding, movie) pair through the same trunk and output,
cross-entropy weighted by alpha. Reads the dataset folder format of docs (items.tsv, *.jsonl,
*.npy, tags.*); reports nDCG@10, Recall@10/50 and MRR on valid and test after every epoch to
SWEEP_REPORT, and keeps the best epoch's weights in --out.

    python3 train.py --data ../../data/redial --out /tmp/out --lr 1e-3 --alpha 0.001
    python3 train.py --data DIR --baseline     # the popularity baseline, numpy only

Only numpy is needed to read the data and score; torch is imported when training starts.
worker.py runs the same fit() as a function worker (data and torch loaded once per process).
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
from sweep_report import report  # noqa: E402  (tools/sweep_report.py, shipped with the program)


def load(folder):
    with open(os.path.join(folder, "items.tsv")) as f:
        items = sum(1 for _ in f) - 1
    splits = {}
    for name in ("train", "valid", "test"):
        with open(os.path.join(folder, name + ".jsonl")) as f:
            rows = [json.loads(line) for line in f if line.strip()]
        splits[name] = (np.load(os.path.join(folder, name + ".npy")), [r["mentioned"] for r in rows], [r["targets"] for r in rows])
    tags = None
    if os.path.exists(os.path.join(folder, "tags.jsonl")):
        with open(os.path.join(folder, "tags.jsonl")) as f:
            tag_items = [json.loads(line)["item"] for line in f if line.strip()]
        tags = (np.load(os.path.join(folder, "tags.npy")), np.array(tag_items))
    return items, splits, tags


def metrics(scores, mentioned, targets):
    """ml.md's metrics: mentioned items masked, ties to the lower index, averaged over examples."""
    totals = np.zeros(4)
    discounts = 1 / np.log2(np.arange(2, 12))
    for row, seen, wanted in zip(scores, mentioned, targets):
        row = row.astype(np.float64).copy()
        row[seen] = -np.inf
        top = np.argsort(-row, kind="stable")[:100]
        hits = np.isin(top, wanted)
        ideal = discounts[: min(len(wanted), 10)].sum()
        first = np.flatnonzero(hits)
        totals += [(hits[:10] * discounts).sum() / ideal, hits[:10].sum() / len(wanted), hits[:50].sum() / len(wanted),
                   1 / (first[0] + 1) if len(first) else 0]
    totals /= len(scores)
    return dict(zip(("ndcg@10", "recall@10", "recall@50", "mrr"), totals.tolist()))


# A config's keys and their defaults (the sweep sets some, the rest keep these).
DEFAULTS = {"lr": 1e-3, "pos_weight_mult": 1.0, "alpha": 0.001, "dropout": 0.1, "hidden": 512, "batch_size": 32, "epochs": 10, "seed": 0}


def baseline(data):
    """The popularity baseline's metrics on valid and test (numpy only)."""
    items, splits, _ = data
    counts = np.zeros(items)
    for wanted in splits["train"][2]:
        counts[wanted] += 1
    values = {}
    for split in ("valid", "test"):
        x, seen, wanted = splits[split]
        for name, value in metrics(np.tile(counts, (len(x), 1)), seen, wanted).items():
            values[f"{split}_{name}"] = value
    return values


def fit(config, data, out, report):
    """Trains one config (DEFAULTS' keys) on loaded data, calling report(values) after each epoch
    with its losses and metrics, and keeps the best epoch's weights in out/best.pt."""
    # PyTorch keeps a kernel cache (torchinductor_<user>) in the temporary folder even without
    # torch.compile; keep it with the trial's output rather than leave it behind.
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", os.path.join(out, ".torchinductor"))
    import torch  # only for training

    config = {**DEFAULTS, **config}
    items, splits, tags = data
    torch.manual_seed(config["seed"])
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    x_train, _, targets = splits["train"]
    y = torch.zeros(len(targets), items)
    for row, wanted in enumerate(targets):
        y[row, wanted] = 1
    average = y.sum(1).mean().item()
    trunk = torch.nn.Sequential(torch.nn.Linear(x_train.shape[1], config["hidden"]), torch.nn.ReLU(), torch.nn.Dropout(config["dropout"]))
    model = torch.nn.Sequential(trunk, torch.nn.Linear(config["hidden"], items)).to(device)
    pos_weight = torch.full((items,), config["pos_weight_mult"] * items / average, device=device)
    main_loss = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    optimiser = torch.optim.Adam(model.parameters(), lr=config["lr"])
    x = torch.from_numpy(x_train).to(device)
    y = y.to(device)
    tag_x = tag_y = None
    if tags is not None and config["alpha"] > 0:
        tag_x, tag_y = torch.from_numpy(tags[0]).to(device), torch.from_numpy(tags[1]).long().to(device)
    generator = torch.Generator().manual_seed(config["seed"])
    os.makedirs(out, exist_ok=True)
    best = -1.0
    batch_size = config["batch_size"]
    for epoch in range(1, config["epochs"] + 1):
        model.train()
        order = torch.randperm(len(x), generator=generator)
        tag_order = torch.randperm(len(tag_x), generator=generator) if tag_x is not None else None
        sums, steps = [0.0, 0.0], 0
        for start in range(0, len(x), batch_size):
            batch = order[start:start + batch_size]
            loss = main_loss(model(x[batch]), y[batch])
            sums[0] += loss.item()
            if tag_x is not None:
                pairs = tag_order[torch.arange(start, start + len(batch)) % len(tag_order)]
                aux = torch.nn.functional.cross_entropy(model(tag_x[pairs]), tag_y[pairs])
                sums[1] += aux.item()
                loss = loss + config["alpha"] * aux
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            steps += 1
        model.eval()
        values = {"epoch": epoch, "loss_main": sums[0] / steps}
        if tag_x is not None:
            values["loss_aux"] = sums[1] / steps
        with torch.no_grad():
            for split in ("valid", "test"):
                features, seen, wanted = splits[split]
                scores = model(torch.from_numpy(features).to(device)).cpu().numpy()
                values.update({f"{split}_{name}": value for name, value in metrics(scores, seen, wanted).items()})
        if values["valid_ndcg@10"] > best:
            best = values["valid_ndcg@10"]
            torch.save(model.state_dict(), os.path.join(out, "best.pt"))
        report(values)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", default="out")
    for key, default in DEFAULTS.items():
        parser.add_argument(f"--{key}", type=type(default), default=default)
    parser.add_argument("--baseline", action="store_true", help="report the popularity baseline and exit (numpy only)")
    args = parser.parse_args()
    data = load(args.data)
    if args.baseline:
        report(epoch=1, **baseline(data))
        return
    fit({key: getattr(args, key) for key in DEFAULTS}, data, args.out, report)


if __name__ == "__main__":
    main()
