"""A function worker whose function does nothing (the function-worker benchmark):
`python3 function_worker.py ENDPOINT [heavy]`; with `heavy` it imports numpy and scipy (and torch
when HEAVY_TORCH is set) once, before its first trial, as heavy.py does for every trial."""
import os
import sys

import sweep_client

if len(sys.argv) > 2 and sys.argv[2] == "heavy":
    import numpy  # noqa: F401
    import scipy.optimize  # noqa: F401
    import scipy.stats  # noqa: F401

    if os.environ.get("HEAVY_TORCH"):
        import torch  # noqa: F401


def objective(trial):
    return 0.5


sweep_client.work(objective, connect=sys.argv[1])
