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


def _terminated(signum: int, frame: Any) -> None:
    raise _Terminated()


class _Interrupted(BaseException):
    """The function went on past its stop and `stop_grace`: raised in it by SIGUSR1 (a
    BaseException, so `except Exception` in the function does not swallow it)."""


class _Watchdog:
    """Interrupts a function that does not return within `grace` seconds of its trial's stop (a
    function that never reports never sees `Pruned`): SIGUSR1 to the main thread, whose handler
    raises `_Interrupted` while the function runs, and does nothing otherwise."""

    def __init__(self, grace: Optional[float]) -> None:
        self.grace = grace
        self.lock = threading.Lock()
        self.armed: Optional[Trial] = None
        self.fired: Optional[Trial] = None
        self.restore: Callable[[], None] = lambda: None
        restore = _handle(signal.SIGUSR1, self._signalled) if grace is not None else None
        if restore is None:
            self.grace = None
        else:
            self.restore = restore

    def _signalled(self, signum: int, frame: Any) -> None:
        with self.lock:
            if self.armed is None or self.fired is not self.armed:
                return
        raise _Interrupted()

    def arm(self, trial: Trial) -> None:
        with self.lock:
            self.armed = trial
        if self.grace is not None:
            trial._on_stop = lambda: threading.Timer(self.grace or 0, self._expire, (trial,)).start()

    def disarm(self) -> None:
        with self.lock:
            self.armed = None

    def _expire(self, trial: Trial) -> None:
        with self.lock:
            if self.armed is not trial:
                return
            self.fired = trial
        log.warning("trial #%d: the function went on %.0f s past its stop; interrupting it", trial.number, self.grace)
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGUSR1)


def work(
    train: Callable[[Trial], Any],
    connect: str,
    *,
    function: Optional[str] = None,
    server_key: Optional[str] = None,
    secret_key: Optional[str] = None,
    name: Optional[str] = None,
    max_trials: Optional[int] = None,
    stop_grace: Optional[float] = 30.0,
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
    generate`, or the 40-character key itself).

    A function that goes on `stop_grace` seconds after its trial was stopped (it never reports,
    so never sees `Pruned`: a hang past the sweep's `limits`) is interrupted by SIGUSR1, when `work`
    runs in the main thread; None never interrupts."""
    if max_trials is not None and max_trials < 1:
        raise ValueError(f"max_trials must be at least 1, not {max_trials}")
    connection = Connection(
        connect, function or train.__name__, name=name, server_key=server_key, secret_key=secret_key
    )
    restore = _handle(signal.SIGTERM, _terminated) or (lambda: None)
    watchdog = _Watchdog(stop_grace)
    ran = 0
    reason = "finished"
    try:
        while max_trials is None or ran < max_trials:
            trial = connection.next_trial()
            if trial is None:
                break
            ran += 1
            _run(connection, train, trial, watchdog)
        else:
            reason = f"ran its {max_trials} trials"
    except KeyboardInterrupt:
        connection.close("SIGINT", wait_for_acks=2)
        raise
    except _Terminated:
        reason = "SIGTERM"
    finally:
        restore()
        watchdog.restore()
        connection.close(reason)
    return ran


def _run(connection: Connection, train: Callable[[Trial], Any], trial: Trial, watchdog: _Watchdog) -> None:
    """One attempt: calls `train` and sends what it came to."""
    log.info("trial #%d %s attempt %d: %s", trial.number, trial.id, trial.attempt, trial.config)
    where = f"{getattr(train, '__name__', 'train')} for trial #{trial.number}"
    try:
        watchdog.arm(trial)
        try:
            returned = train(trial)
        finally:
            watchdog.disarm()
        finished = trial._finish(returned, where)
    except _Interrupted:
        connection.send_failed(trial, "cancelled", f"interrupted {watchdog.grace:.0f} s after its stop: {trial._stop_reason}")
        return
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


def _handle(signum: int, handler: Callable[[int, Any], None]) -> Optional[Callable[[], None]]:
    """Handles `signum` in the main thread and unblocks it (a parent may have blocked it: the mask
    is inherited across exec); returns what restores the handler and the mask, or None outside
    the main thread, where no handler can be set."""
    if threading.current_thread() is not threading.main_thread():
        return None
    previous = signal.signal(signum, handler)
    mask = signal.pthread_sigmask(signal.SIG_UNBLOCK, {signum})

    def restore() -> None:
        signal.signal(signum, previous)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)

    return restore
