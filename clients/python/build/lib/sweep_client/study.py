"""Ask and tell: trials from the coordinator for a loop of your own."""

from __future__ import annotations

import traceback
from typing import Any, Mapping, Optional, Set

from ._connection import Connection
from ._trial import Diverged, Trial


class Study:
    """A client of one sweep's coordinator for users who keep their own loop:

        with Study(connect="tcp://host:5555", function="objective") as study:
            while (trial := study.ask()) is not None:
                trial.report(1, {"valid_score": score(trial.config)})
                study.tell(trial)

    `function` must be the name the sweep file's `function:` gives. `slots` trials may be asked
    before they are told. The connection heart-beats in the background, so a long step is not
    taken for a dead worker."""

    def __init__(
        self,
        connect: str,
        function: str,
        *,
        server_key: Optional[str] = None,
        secret_key: Optional[str] = None,
        name: Optional[str] = None,
        slots: int = 1,
    ) -> None:
        self._connection = Connection(
            connect, function, name=name, slots=slots, server_key=server_key, secret_key=secret_key
        )
        self._told: Set[str] = set()
        self._outstanding = 0

    @property
    def sweep(self) -> Optional[str]:
        """The sweep's name, once the coordinator has welcomed this client."""
        return self._connection.sweep

    def ask(self, timeout: Optional[float] = None) -> Optional[Trial]:
        """The next trial, or None once the sweep is over. Raises Refused when the coordinator will
        not serve this client, TimeoutError after `timeout` seconds without a trial."""
        if self._outstanding >= self._connection.slots:
            raise RuntimeError(
                f"{self._outstanding} trial(s) asked and not told: tell one first, or make the Study with slots="
                f"{self._outstanding + 1}"
            )
        trial = self._connection.next_trial(timeout)
        if trial is not None:
            self._outstanding += 1
        return trial

    def tell(self, trial: Trial, metrics: Any = None, *, failed: Optional[str] = None) -> str:
        """Ends a trial: `metrics` as a function worker's return value (None: its reports; a number:
        the sweep's metric; a mapping of metrics), or `failed="why"` (retried as any failure).
        Returns what the trial came to: `completed`, `pruned` (the coordinator had stopped it),
        `diverged` or `failed`. Telling a trial twice raises RuntimeError."""
        key = trial.lease["lease"]
        if key in self._told:
            raise RuntimeError(f"trial #{trial.number} ({trial.id} attempt {trial.attempt}) was already told")
        self._told.add(key)
        self._outstanding -= 1
        if failed is not None:
            if trial.should_stop:
                self._connection.send_failed(trial, "cancelled", trial._stop_reason or "stopped")
                return "pruned"
            self._connection.send_failed(trial, "crashed", failed, epoch=trial.epochs_reported + 1)
            trial._ended = True
            return "failed"
        try:
            finished = trial._finish(metrics, f"tell for trial #{trial.number}")
        except Diverged:
            return "diverged"
        except (TypeError, ValueError):
            self._connection.send_failed(trial, "crashed", traceback.format_exc(limit=1).strip())
            raise
        if finished is None:
            if trial.should_stop:
                self._connection.send_failed(trial, "cancelled", trial._stop_reason or "stopped")
                return "pruned"
            return "diverged"
        self._connection.send_result(trial, *finished)
        return "completed"

    def close(self) -> None:
        """Waits for told results to be stored, then leaves (trials asked and not told go back)."""
        self._connection.close("closed")

    def __enter__(self) -> "Study":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
