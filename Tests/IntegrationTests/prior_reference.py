"""An independent NumPy reference of the prior alone (docs/ml-extensions.md) on a dataset folder.

Reads the folder's train/valid/test .jsonl and .npy directly, scores every example by
beta*log(1 + sum over mentioned m of C[m, j]) + gamma*log(1 + n_j) (cooc: dialogue) plus
delta*log(1 + sum over the k nearest train dialogues t of max(s_t, 0)^p * [j named in t]),
masks the mentioned movies, breaks ties by the lower index, and prints nDCG@10 and Recall@10 per
split as JSON. Usage: prior_reference.py DIR BETA GAMMA K DELTA P   (K = 0: no neighbours)
"""
import json
import sys

import numpy as np

folder, beta, gamma, k, delta, power = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])


def load(name):
    with open(f"{folder}/{name}.jsonl") as f:
        examples = [json.loads(line) for line in f]
    return examples, np.load(f"{folder}/{name}.npy").astype(np.float64)


with open(f"{folder}/items.tsv") as f:
    items = len(f.read().strip().split("\n")) - 1
train, train_x = load("train")
counts = np.zeros(items)
pairs = {}
for example in train:
    for t in example["targets"]:
        counts[t] += 1
    named = list(dict.fromkeys(example["mentioned"] + example["targets"]))
    for a in named:
        for b in named:
            if a != b:
                pairs[(a, b)] = pairs.get((a, b), 0) + 1
rows = {}
for (a, b), count in pairs.items():
    rows.setdefault(a, []).append((b, count))
named_by = [list(dict.fromkeys(e["mentioned"] + e["targets"])) for e in train]
discounts = 1 / np.log2(np.arange(2, 12))
result = {}
for split in ["valid", "test"]:
    examples, x = load(split)
    similarities = x @ train_x.T
    ndcg = recall = 0.0
    for index, example in enumerate(examples):
        cooc = np.zeros(items)
        for m in example["mentioned"]:
            for b, count in rows.get(m, []):
                cooc[b] += count
        score = beta * np.log1p(cooc) + gamma * np.log1p(counts)
        if k > 0:
            order = np.argsort(-similarities[index], kind="stable")[:k]  # ties: the lower index
            mass = np.zeros(items)
            for t in order:
                share = max(similarities[index, t], 0.0) ** power
                for j in named_by[t]:
                    mass[j] += share
            score += delta * np.log1p(mass)
        score[example["mentioned"]] = -np.inf
        top = np.argsort(-score, kind="stable")[:10]
        targets = set(example["targets"])
        hits = [1.0 if j in targets else 0.0 for j in top]
        ndcg += float(np.dot(hits, discounts)) / float(discounts[: min(len(targets), 10)].sum())
        recall += sum(hits) / len(targets)
    result[split] = {"ndcg@10": ndcg / len(examples), "recall@10": recall / len(examples)}
print(json.dumps(result))
