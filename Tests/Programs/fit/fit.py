"""A program trial for the tests: logistic regression by gradient descent, in plain Python.

Config (args, a JSON file in SWEEP_CONFIG, or SWEEP_<KEY> variables): lr, epochs, l2, seed,
and optionally sleep (seconds per epoch), fail_at (crash after that epoch; also the FIT_FAIL_AT
environment variable), hang_at (stop reporting after that epoch and sleep for an hour), data (a
folder whose items.tsv counts as the dataset). Under `sweep worker --gpus` each epoch also reports
the device in CUDA_VISIBLE_DEVICES as `gpu`, the process's start time as `started` and the epoch's
end as `at` (seconds since the epoch). Reports valid_accuracy, test_accuracy, loss,
valid_neg_log_loss and valid_log_loss (its negation, better lower) each epoch to SWEEP_REPORT, and a
final test figure.
"""
import argparse
import json
import math
import os
import random
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "lib"))
from sweep_report import report  # noqa: E402  (shipped with the program, from tools/)


def config():
    style = "args"
    if "SWEEP_CONFIG" in os.environ:
        style = "json"
    elif "SWEEP_LR" in os.environ:
        style = "env"
    if style == "json":
        with open(os.environ["SWEEP_CONFIG"]) as f:
            values = json.load(f)
    elif style == "env":
        values = {k[6:].lower(): float(v) for k, v in os.environ.items()
                  if k.startswith("SWEEP_") and k[6:] in ("LR", "EPOCHS", "L2", "SEED", "SLEEP", "FAIL_AT", "HANG_AT")}
    else:
        parser = argparse.ArgumentParser()
        for name in ("lr", "l2", "sleep"):
            parser.add_argument("--" + name, type=float, default=0.0)
        for name in ("epochs", "seed", "fail_at", "hang_at"):
            parser.add_argument("--" + name, type=int, default=0)
        parser.add_argument("--data", default="")
        parser.add_argument("--out", default="")
        values = vars(parser.parse_args())
    values["style"] = style
    return values


def main():
    started = time.time()
    c = config()
    rng = random.Random(int(c.get("seed", 0)))
    truth = [1.5, -2.0, 0.5]
    def sample(n):
        rows = []
        for _ in range(n):
            x = [rng.gauss(0, 1) for _ in truth]
            p = 1 / (1 + math.exp(-sum(a * b for a, b in zip(truth, x))))
            rows.append((x, 1 if rng.random() < p else 0))
        return rows
    train, valid, test = sample(200), sample(100), sample(100)
    w = [0.0] * len(truth)
    out = os.environ.get("SWEEP_OUT", "")
    with open(os.path.join(out, "style.txt"), "w") as f:
        f.write(c["style"])
    def neg_log_loss(rows):
        total = 0.0
        for x, y in rows:
            p = 1 / (1 + math.exp(-max(-30, min(30, sum(a * b for a, b in zip(w, x))))))
            total += math.log(max(p if y else 1 - p, 1e-12))
        return total / len(rows)
    def accuracy(rows):
        return sum((sum(a * b for a, b in zip(w, x)) > 0) == (y == 1) for x, y in rows) / len(rows)
    for epoch in range(1, int(c.get("epochs", 5)) + 1):
        grad, loss = [0.0] * len(w), 0.0
        for x, y in train:
            p = 1 / (1 + math.exp(-max(-30, min(30, sum(a * b for a, b in zip(w, x))))))
            loss -= math.log(max(p if y else 1 - p, 1e-12))
            for i in range(len(w)):
                grad[i] += (p - y) * x[i] / len(train) + float(c.get("l2", 0)) * w[i] / len(train)
        w = [a - float(c["lr"]) * g for a, g in zip(w, grad)]
        if c.get("sleep"):
            time.sleep(float(c["sleep"]))
        # With `sweep worker --gpus`, the one device this attempt may use, and when this process
        # started and this epoch ended (so a test can see which runs held a device at once).
        device = {"gpu": int(os.environ["CUDA_VISIBLE_DEVICES"]), "started": started,
                  "at": time.time()} if "SWEEP_GPU" in os.environ else {}
        report(epoch=epoch, loss=loss / len(train), valid_accuracy=accuracy(valid), test_accuracy=accuracy(test),
               valid_neg_log_loss=neg_log_loss(valid), test_neg_log_loss=neg_log_loss(test),
               valid_log_loss=-neg_log_loss(valid), test_log_loss=-neg_log_loss(test),
               weight_norm=math.sqrt(sum(a * a for a in w)), phase="train", **device)
        fail_at = int(c.get("fail_at") or os.environ.get("FIT_FAIL_AT") or 0)
        if fail_at and epoch >= fail_at:
            raise RuntimeError(f"failing on purpose at epoch {epoch} (lr {c['lr']})")
        if c.get("hang_at") and epoch >= int(c["hang_at"]):
            time.sleep(3600)
    report(final=True, test_final_accuracy=accuracy(test))


if __name__ == "__main__":
    main()
