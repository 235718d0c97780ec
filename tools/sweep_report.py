"""Report a program trial's epochs to its sweep: `from sweep_report import report`.

Each call appends one JSON line to the file the worker names in SWEEP_REPORT:
    report(epoch=3, valid_acc=0.91, loss=0.4)     -> {"epoch":3,"valid_acc":0.91,"loss":0.4}
    report({"epoch": 3, "valid_ndcg@10": 0.12})   -> keys that are not Python names
    report(final=True, test_acc=0.9)              -> values laid over the best epoch's result
Keys starting valid_ and test_ are the splits' metrics; loss (or loss_main) and loss_aux the
losses; other numbers are kept too. A NaN is written as NaN: the worker ends the trial as
diverged. Outside a sweep (no SWEEP_REPORT) the line goes to stderr. No dependencies; the
format is in docs/protocol.md.
"""
import json
import os
import sys


def report(values=None, **more):
    line = json.dumps(dict(values or {}, **more), separators=(",", ":"))
    path = os.environ.get("SWEEP_REPORT")
    if not path:
        print(line, file=sys.stderr)
        return
    with open(path, "a", encoding="utf-8") as f:
        f.write(line + "\n")
