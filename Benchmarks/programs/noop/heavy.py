"""A program trial that imports numpy and scipy, then does nothing: one report line, then exit
(what a heavy import costs each program trial; the function-worker benchmark)."""
import os

import numpy  # noqa: F401
import scipy.optimize  # noqa: F401
import scipy.stats  # noqa: F401

if os.environ.get("HEAVY_TORCH"):
    import torch  # noqa: F401

with open(os.environ["SWEEP_REPORT"], "a") as report:
    report.write('{"epoch":1,"valid_score":0.5}\n')
