"""Function workers: the coordinator's trials run by calling your function in this process."""

from __future__ import annotations

import signal
import threading
import traceback
from typing import Any, Callable, Optional

from ._connection import Connection, log
from ._trial import Diverged, Pruned, Trial


class _Terminated(BaseException):
    """SIGTERM arrived: hand the trial back and leave."""


def work(
    train: Callable[[Trial], Any],
    connect: str,
    *,
    function: Optional[str] = None,
    server_key: Optional[str] = None,
    secret_key: Optional[str] = None,
    name: Optional[str] = None,
    max_trials: Optional[int] = None,
) -> int:
    """Runs the coordinator's trials by calling `train(trial)`, one after another, until the sweep
    is over (or `max_trials` have run); returns how many ran.

    `train` reports each epoch with `trial.report(epoch, …)` and returns None (its reports), a
    number (the sweep's metric) or a mapping of metrics. The sweep file must name it:
    `function: train` (its `__name__`, or `function=`). An exception fails the attempt with its
    traceback's tail as the reason (retried as any failure); `Pruned` ends it as the coordinator
    asked. KeyboardInterrupt and SIGTERM say bye, which hands the running trial back at once.

    `connect` is the coordinator's endpoint (`tcp://host:5555`); with CURVE, `server_key` is its
    public key and `secret_key` this client's secret key (each a key file from `sweep keys
    generate`, or the 40-character key itself)."""
    if max_trials is not None and max_trials < 1:
        raise ValueError(f"max_trials must be at least 1, not {max_trials}")
    connection = Connection(
        connect, function or train.__name__, name=name, server_key=server_key, secret_key=secret_key
    )
    restore = _catch_sigterm()
    ran = 0
    reason = "finished"
    try:
        while max_trials is None or ran < max_trials:
            trial = connection.next_trial()
            if trial is None:
                break
            ran += 1
            _run(connection, train, trial)
        else:
            reason = f"ran its {max_trials} trials"
    except KeyboardInterrupt:
        connection.close("SIGINT", wait_for_acks=2)
        raise
    except _Terminated:
        reason = "SIGTERM"
    finally:
        restore()
        connection.close(reason)
    return ran


def _run(connection: Connection, train: Callable[[Trial], Any], trial: Trial) -> None:
    """One attempt: calls `train` and sends what it came to."""
    log.info("trial #%d %s attempt %d: %s", trial.number, trial.id, trial.attempt, trial.config)
    where = f"{getattr(train, '__name__', 'train')} for trial #{trial.number}"
    try:
        returned = train(trial)
        finished = trial._finish(returned, where)
    except Pruned as stop:
        connection.send_failed(trial, "cancelled", str(stop))
        return
    except Diverged:
        return  # already sent as diverged
    except Exception as error:  # noqa: BLE001 — the attempt fails with the reason, and the worker goes on
        lines = traceback.format_exception(type(error), error, error.__traceback__)
        detail = "".join(lines).rstrip().splitlines()
        connection.send_failed(trial, "crashed", "\n".join(detail[-12:]), epoch=trial.epochs_reported + 1)
        log.warning("trial #%d failed: %s", trial.number, error)
        return
    if finished is None:
        connection.send_failed(trial, "cancelled", trial._stop_reason or "stopped")
    else:
        connection.send_result(trial, *finished)


def _catch_sigterm() -> Callable[[], None]:
    """Turns SIGTERM into _Terminated in the main thread; returns what restores the old handler."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def terminated(signum: int, frame: Any) -> None:
        raise _Terminated()

    previous = signal.signal(signal.SIGTERM, terminated)
    return lambda: signal.signal(signal.SIGTERM, previous)
