"""One trial as a function worker or ask/tell sees it, and the rules its reports follow (the same
rules as a program's report file, docs/protocol.md "Program trials")."""

from __future__ import annotations

import statistics
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from ._wire import finite_number

if TYPE_CHECKING:
    from ._connection import Connection

# Keys the coordinator adds to a program or function trial's config.
_MARKER_KEYS = ("program", "select_metric", "select_goal")


class Pruned(Exception):
    """The coordinator stopped this trial (early stopping, `sweep cancel`, a budget, a lost lease).
    Raised by `Trial.report`; let it propagate out of your function (Optuna's TrialPruned habit)."""


class Diverged(Exception):
    """A report held NaN or an infinity: the attempt ended as `diverged` (terminal, as the same seed
    would diverge again)."""


class Refused(Exception):
    """The coordinator will not give this client trials; the message says why (another protocol
    version, a function the sweep does not name)."""


class Trial:
    """A trial handed to this process: its config, seed and the metric it ranks on.

    Call `report(epoch, …)` after each epoch; the result is the best epoch by the sweep's metric
    (the earliest of ties) with any final values laid over it."""

    def __init__(self, connection: "Connection", assignment: Mapping[str, Any]) -> None:
        self._connection = connection
        self._lease: Dict[str, Any] = dict(assignment["lease"])
        config = dict(assignment["config"])
        self.number: int = int(assignment.get("number", 0))
        """The trial's number in the sweep's plan (`#17` on the board)."""
        self.id: str = str(self._lease["trial"])
        """The trial's stable id."""
        self.attempt: int = int(self._lease["attempt"])
        """1 for the first attempt, counting up as the trial is retried."""
        self.metric: str = "valid_" + str(config.get("select_metric", ""))
        """The key the sweep ranks on, e.g. `valid_ndcg@10`; every report must hold it."""
        self.goal: str = str(config.get("select_goal", "maximize"))
        """`maximize` or `minimize`: which way `metric` is better."""
        self.seed: int = int(config.get("seed", 0))
        """The repeat seed (0…repeats−1)."""
        self.config: Dict[str, Any] = {key: value for key, value in config.items() if key not in _MARKER_KEYS}
        """The trial's config: the sweep's keys for this trial, with `seed`."""
        self._epochs_budget = config.get("epochs") if isinstance(config.get("epochs"), int) else None
        self._history: List[Dict[str, Any]] = []
        self._started = time.monotonic()
        self._last_report = self._started
        self._stop_reason: Optional[str] = None
        self._on_stop: Optional[Callable[[], None]] = None
        self._ended = False
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Trial(#{self.number} {self.id} attempt {self.attempt}, config={self.config!r})"

    @property
    def lease(self) -> Dict[str, Any]:
        return self._lease

    @property
    def should_stop(self) -> bool:
        """Whether the coordinator has stopped this trial (the next `report` raises `Pruned`)."""
        return self._stop_reason is not None

    @property
    def epochs_reported(self) -> int:
        return len(self._history)

    def report(self, epoch: int, metrics: Optional[Mapping[str, Any]] = None, **values: Any) -> None:
        """Reports one finished epoch: `trial.report(3, {"valid_ndcg@10": 0.12, "loss": 0.4})` or
        `trial.report(epoch=3, valid_loss=0.31)`. Keys `valid_<m>` and `test_<m>` are the splits'
        metrics, `loss_main` (or `loss`) and `loss_aux` the losses, other numbers are kept as extras.
        Epochs count 1, 2, 3… once each, up to the config's `epochs`; every epoch must hold the
        sweep's metric. Raises `Pruned` once the coordinator has stopped the trial, `Diverged` (the
        attempt ends) for NaN or an infinity, TypeError/ValueError for other bad input."""
        with self._lock:
            if self._ended:
                raise RuntimeError(f"trial #{self.number} has ended; it takes no more reports")
            if self._stop_reason is not None:
                raise Pruned(self._stop_reason)
            where = f"trial #{self.number} epoch {epoch}"
            if isinstance(epoch, bool) or not isinstance(epoch, int):
                raise TypeError(f"trial #{self.number}: epoch {epoch!r} is not an integer")
            expected = len(self._history) + 1
            if epoch != expected:
                raise ValueError(f"{where}: expected epoch {expected}: epochs are reported 1, 2, 3… once each")
            if self._epochs_budget is not None and epoch > self._epochs_budget:
                raise ValueError(f"{where}: the config's epochs is {self._epochs_budget}")
            merged = dict(metrics or {})
            merged.update(values)
            record = self._record(epoch, merged, where)
            now = time.monotonic()
            record["seconds"] = now - self._last_report
            self._last_report = now
            self._history.append(record)
        self._connection.send_progress(self, record)

    def _record(self, epoch: int, values: Mapping[str, Any], where: str) -> Dict[str, Any]:
        """An epoch record (EpochRecord's JSON) from reported values; a non-finite one ends the
        attempt as diverged."""
        valid, test, extra = _split(values, where, on_non_finite=self._diverge)
        if self.metric[len("valid_") :] not in valid:
            keys = ", ".join(sorted(values)) or "nothing"
            raise ValueError(f"{where} lacks {self.metric}, which the sweep ranks on; it has {keys}")
        record: Dict[str, Any] = {"epoch": epoch}
        loss_main = extra.pop("loss_main", None)
        if loss_main is None:
            loss_main = extra.pop("loss", None)
        if loss_main is not None:
            record["loss_main"] = loss_main
        record["loss_aux"] = extra.pop("loss_aux", None)
        record["weights"] = {"main": 1, "aux": None}
        record["valid"] = valid
        record["test"] = test
        if extra:
            record["extra"] = extra
        return record

    def _diverge(self, detail: str) -> None:
        self._ended = True
        self._connection.send_failed(self, "diverged", detail, epoch=len(self._history) + 1)
        raise Diverged(detail)

    def _stop(self, reason: str) -> None:
        """The coordinator's cancel: the next report raises Pruned. The first reason stands (a
        coordinator repeats its cancel, `this lease is no longer valid`, while the trial runs on)."""
        if self._stop_reason is not None:
            return
        self._stop_reason = reason
        if self._on_stop is not None:
            self._on_stop()

    def _finish(self, final: Any, where: str) -> Optional[Tuple[int, Dict[str, float], Dict[str, float]]]:
        """Ends the trial with what the function returned (or `tell` gave): None (its reports), a
        number (the sweep's metric) or a mapping of values. Without any report these are its one
        epoch; after reports they are laid over the best epoch, as a program's `final: true` line.
        Returns (best epoch, valid, test), or None when the trial was stopped or had ended."""
        with self._lock:
            if self._ended:
                return None
            if self._stop_reason is not None:
                self._ended = True
                return None
        if final is None:
            overlay: Mapping[str, Any] = {}
        elif isinstance(final, Mapping):
            overlay = final
        elif isinstance(final, (int, float)) and not isinstance(final, bool):
            overlay = {self.metric: final}
        else:
            raise TypeError(
                f"{where} gave {type(final).__name__}: give None (the reports), a number (the value of {self.metric}) "
                "or a mapping of metrics"
            )
        if not self._history:
            if not overlay:
                raise ValueError(f"{where} gave nothing and trial #{self.number} reported no epoch")
            self.report(1, overlay)
            overlay = {}
        valid_final, test_final, _ = _split(overlay, where, on_non_finite=self._diverge)
        best = best_epoch(self._history, self.metric[len("valid_") :], self.goal)
        record = self._history[best - 1]
        with self._lock:
            self._ended = True
        return best, {**record["valid"], **valid_final}, {**record["test"], **test_final}

    def _timing(self) -> Dict[str, Any]:
        seconds = [record["seconds"] for record in self._history]
        return {
            "examples_per_second": 0,
            "seconds_per_epoch": statistics.median(seconds) if seconds else 0,
            "total_seconds": time.monotonic() - self._started,
            "threads": 1,
            "blas_core": "function",
        }


def _split(values: Mapping[str, Any], where: str, on_non_finite: Any) -> Tuple[Dict[str, float], Dict[str, float], Dict[str, Any]]:
    """Reported values by kind: `valid_<m>`, `test_<m>` and the rest, each a finite number."""
    valid: Dict[str, float] = {}
    test: Dict[str, float] = {}
    extra: Dict[str, Any] = {}
    for key, value in values.items():
        if not isinstance(key, str):
            raise TypeError(f"{where}: key {key!r} is not a string")
        try:
            number = finite_number(key, value, where)
        except ValueError as error:
            on_non_finite(str(error))
            raise
        if key.startswith("valid_") and len(key) > 6:
            valid[key[6:]] = number
        elif key.startswith("test_") and len(key) > 5:
            test[key[5:]] = number
        else:
            extra[key] = number
    return valid, test, extra


def best_epoch(history: Sequence[Mapping[str, Any]], metric: str, goal: str) -> int:
    """The epoch (from 1) whose valid `metric` is best by `goal`, the earliest of ties; epochs
    without it never win."""
    best: Optional[Tuple[int, float]] = None
    for record in history:
        value = record["valid"].get(metric)
        if value is None:
            continue
        score = value if goal == "maximize" else -value
        if best is None or score > best[1]:
            best = (record["epoch"], score)
    if best is None:
        raise ValueError(f"no reported epoch has valid_{metric}")
    return best[0]
