"""Run a sweep's trials inside your own Python process.

`work(train, connect=…)` is a function worker: the coordinator's trials run by calling
`train(trial)` here, one after another, until the sweep ends (W&B's `wandb.agent` and Optuna's
`study.optimize` habit: imports, CUDA and data are loaded once). `Study(connect=…, function=…)`
gives ask and tell for a loop of your own. Both speak protocol v1 (docs/protocol.md) to a
`sweep launch` coordinator whose sweep file names the function (`function: train`).
"""

__version__ = "1.0.0"

from ._trial import Diverged, Pruned, Refused, Trial, best_epoch  # noqa: E402
from .reproduce import reproduce  # noqa: E402
from .study import Study  # noqa: E402
from .worker import work  # noqa: E402

__all__ = ["Diverged", "Pruned", "Refused", "Study", "Trial", "best_epoch", "reproduce", "work", "__version__"]
