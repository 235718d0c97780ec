"""The client's one connection to a coordinator: a DEALER socket owned by a background thread that
says `ready`, heart-beats (also while your function computes), hands trials to the caller, sends
their reports and results, and resends what was not acknowledged after a reconnect."""

from __future__ import annotations

import collections
import itertools
import logging
import os
import socket as socket_module
import threading
import time
import traceback
from typing import Any, Deque, Dict, List, Optional, Tuple

import zmq
from zmq.utils.monitor import recv_monitor_message

from . import __version__
from ._trial import Refused, Trial
from ._wire import PROTOCOL_VERSION, ProtocolError, decode, encode, lease_text, load_key, optional_int

log = logging.getLogger("sweep_client")

_counter = itertools.count()
_HEARTBEAT = "heartbeat"


class _Running:
    """A trial this client holds: assigned, maybe not yet taken by the caller."""

    def __init__(self, trial: Trial) -> None:
        self.trial = trial
        self.step = 0


class Connection:
    """Talks protocol v1 to one coordinator for a function worker or a Study."""

    def __init__(
        self,
        connect: str,
        function: str,
        *,
        name: Optional[str] = None,
        slots: int = 1,
        server_key: Optional[str] = None,
        secret_key: Optional[str] = None,
    ) -> None:
        if slots < 1:
            raise ValueError(f"slots must be at least 1, not {slots}")
        if (server_key is None) != (secret_key is None):
            raise ValueError("server_key and secret_key go together (CURVE needs both)")
        self.endpoint = connect
        self.function = function
        self.slots = slots
        host = socket_module.gethostname()
        self.name = name or f"{host}-{os.getpid()}"
        self._curve: Optional[Tuple[bytes, bytes, bytes]] = None
        if server_key is not None and secret_key is not None:
            server = load_key(server_key, "server_key")
            secret = load_key(secret_key, "secret_key")
            self._curve = (server, zmq.curve_public(secret), secret)
        self._ready = {
            "protocol": PROTOCOL_VERSION,
            "build_id": f"python-{__version__}",
            "worker": self.name,
            "host": host,
            "cores": os.cpu_count() or 1,
            "blas_threads": 1,
            "blas_core": "function",
            "slots": slots,
            "function": function,
        }
        self.sweep: Optional[str] = None
        """The sweep's name, once welcomed."""
        self._context = zmq.Context()
        self._wake_endpoint = f"inproc://sweep-client-wake-{os.getpid()}-{next(_counter)}"
        self._wake_receiver = self._context.socket(zmq.PAIR)
        self._wake_receiver.bind(self._wake_endpoint)
        self._wake_sender = self._context.socket(zmq.PAIR)
        self._wake_sender.connect(self._wake_endpoint)
        self._wake_lock = threading.Lock()
        self._condition = threading.Condition()
        self._outbox: Deque[Any] = collections.deque()
        self._running: Dict[str, _Running] = {}
        self._waiting: Deque[Trial] = collections.deque()
        self._unacked: Dict[str, List[bytes]] = {}
        self._demand = 0
        self._welcomed = False
        self._finished = False
        self._refused: Optional[str] = None
        self._crash: Optional[BaseException] = None
        self._stopping = False
        self._closed = False
        self._heartbeat_seconds = 1.0
        self._liveness = 5
        self._thread = threading.Thread(target=self._serve, name="sweep-client-io", daemon=True)
        self._thread.start()

    # MARK: The caller's side (any thread)

    def next_trial(self, timeout: Optional[float] = None) -> Optional[Trial]:
        """The next trial the coordinator hands this client, or None once the sweep is over.
        Raises Refused when the coordinator refuses the client, TimeoutError after `timeout`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._condition:
            self._demand += 1
            try:
                # Right after a result the coordinator offers the next trial with its ack.
                if not self._waiting and not self._unacked:
                    self._post(_HEARTBEAT)
                while True:
                    self._raise_if_broken()
                    if self._waiting:
                        return self._waiting.popleft()
                    if self._finished:
                        return None
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        raise TimeoutError(f"no trial from {self.endpoint} within {timeout} s")
                    self._condition.wait(remaining if remaining is not None else 1.0)
            finally:
                self._demand -= 1

    def send_progress(self, trial: Trial, record: Dict[str, Any]) -> None:
        self._post(encode("progress", {"lease": trial.lease, "report": record}))

    def send_result(self, trial: Trial, best: int, valid: Dict[str, float], test: Dict[str, float]) -> None:
        body = {
            "lease": trial.lease,
            "best_epoch": best,
            "valid": valid,
            "test": test,
            "history": list(trial._history),
            "timing": trial._timing(),
        }
        self._end(trial, encode("result", body))

    def send_failed(self, trial: Trial, reason: str, detail: str, epoch: Optional[int] = None) -> None:
        body: Dict[str, Any] = {"lease": trial.lease, "reason": reason, "detail": detail}
        if epoch is not None:
            body["epoch"] = epoch
        self._end(trial, encode("failed", body))

    def close(self, reason: str = "closed", wait_for_acks: float = 10.0) -> None:
        """Waits up to `wait_for_acks` seconds for results to be acknowledged, says bye (the
        trials this client holds go back to the queue) and closes the socket."""
        if self._closed:
            return
        if not self._thread.is_alive():
            return self._close_context()
        with self._condition:
            self._condition.wait_for(
                lambda: not self._unacked or self._refused is not None or self._crash is not None, wait_for_acks
            )
            if self._unacked:
                log.warning("closing with %d result(s) not acknowledged by %s", len(self._unacked), self.endpoint)
            self._stopping = True
            if self._welcomed and not self._finished:
                self._outbox.append(encode("bye", {"reason": reason}))
        self._wake()
        self._thread.join(10)
        self._close_context()

    @property
    def finished(self) -> bool:
        return self._finished

    # MARK: Internals shared with the I/O thread

    def _end(self, trial: Trial, frames: List[bytes]) -> None:
        lease = trial.lease["lease"]
        with self._condition:
            self._running.pop(lease, None)
            self._unacked[lease] = frames
        self._post(frames)

    def _post(self, item: Any) -> None:
        self._outbox.append(item)
        self._wake()

    def _wake(self) -> None:
        with self._wake_lock:
            if not self._wake_sender.closed:
                try:
                    self._wake_sender.send(b"", zmq.NOBLOCK)
                except zmq.Again:
                    pass  # wakes are queued already: the I/O thread will drain the outbox

    def _raise_if_broken(self) -> None:
        if self._refused is not None:
            raise Refused(self._refused)
        if self._crash is not None:
            raise RuntimeError(f"the connection to {self.endpoint} failed: {self._crash}") from self._crash

    def _close_context(self) -> None:
        with self._wake_lock:
            self._wake_sender.close(0)
        self._context.term()
        self._closed = True

    # MARK: The I/O thread

    def _serve(self) -> None:
        dealer: Optional[zmq.Socket[bytes]] = None
        monitor: Optional[zmq.Socket[bytes]] = None
        try:
            dealer, monitor = self._open()
            poller = zmq.Poller()
            poller.register(self._wake_receiver, zmq.POLLIN)
            poller.register(dealer, zmq.POLLIN)
            poller.register(monitor, zmq.POLLIN)
            next_beat = time.monotonic()
            last_heard = time.monotonic()
            while True:
                timeout = max(0.0, next_beat - time.monotonic())
                events = dict(poller.poll(int(timeout * 1000) + 1))
                if self._wake_receiver in events:
                    while self._wake_receiver.poll(0):
                        self._wake_receiver.recv()
                while self._outbox:
                    item = self._outbox.popleft()
                    if item == _HEARTBEAT:
                        if self._welcomed:
                            self._send(dealer, encode("heartbeat", self._heartbeat_body(advance=False)))
                    else:
                        self._send(dealer, item)
                if self._stopping:
                    break
                if monitor in events:
                    self._monitored(monitor)
                if dealer in events:
                    while dealer.poll(0):
                        frames = dealer.recv_multipart()
                        last_heard = time.monotonic()
                        try:
                            message_type, body = decode(frames)
                        except ProtocolError as error:
                            log.warning("ignored a message from %s: %s", self.endpoint, error)
                            continue
                        retry = self._handle(dealer, message_type, body)
                        if retry is not None:
                            next_beat = time.monotonic() + retry
                if self._refused is not None:
                    break
                now = time.monotonic()
                if self._welcomed and now - last_heard > self._heartbeat_seconds * self._liveness:
                    log.warning("%s silent for %.1f s; reconnecting", self.endpoint, now - last_heard)
                    poller.unregister(dealer)
                    poller.unregister(monitor)
                    self._shut(dealer, monitor)
                    dealer, monitor = self._open()
                    poller.register(dealer, zmq.POLLIN)
                    poller.register(monitor, zmq.POLLIN)
                    with self._condition:
                        self._welcomed = False
                    last_heard = now
                    next_beat = now
                if now >= next_beat:
                    if self._welcomed:
                        self._send(dealer, encode("heartbeat", self._heartbeat_body(advance=True)))
                    else:
                        self._send(dealer, encode("ready", self._ready))
                    next_beat = now + self._heartbeat_seconds
        except BaseException as error:  # noqa: BLE001 — handed to the caller's thread
            log.error("sweep client I/O thread failed: %s", "".join(traceback.format_exception_only(type(error), error)))
            with self._condition:
                self._crash = error
        finally:
            if dealer is not None and monitor is not None:
                self._shut(dealer, monitor, linger=2000)
            self._wake_receiver.close(0)
            with self._condition:
                self._condition.notify_all()

    def _open(self) -> Tuple[zmq.Socket[bytes], zmq.Socket[bytes]]:
        dealer = self._context.socket(zmq.DEALER)
        dealer.setsockopt(zmq.SNDHWM, 1000)
        dealer.setsockopt(zmq.IMMEDIATE, 1)
        dealer.setsockopt(zmq.LINGER, 0)
        if self._curve is not None:
            server, public, secret = self._curve
            dealer.curve_serverkey = server
            dealer.curve_publickey = public
            dealer.curve_secretkey = secret
        monitor = dealer.get_monitor_socket(zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL)
        dealer.connect(self.endpoint)
        return dealer, monitor

    def _shut(self, dealer: zmq.Socket[bytes], monitor: zmq.Socket[bytes], linger: int = 0) -> None:
        dealer.disable_monitor()
        monitor.close(0)
        dealer.close(linger)

    def _send(self, dealer: zmq.Socket[bytes], frames: List[bytes]) -> None:
        try:
            dealer.send_multipart(frames, zmq.NOBLOCK)
        except zmq.Again:
            pass  # not connected: what matters is resent after the next welcome

    def _monitored(self, monitor: zmq.Socket[bytes]) -> None:
        while monitor.poll(0):
            event = recv_monitor_message(monitor)["event"]
            if event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
                with self._condition:
                    self._refused = (
                        f"the coordinator at {self.endpoint} refused this client's CURVE key: its public half "
                        "must be in the coordinator's --authorized-workers folder"
                    )
                    self._condition.notify_all()
            elif event == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL:
                log.warning("the CURVE handshake with %s failed: is server_key the coordinator's public key?", self.endpoint)

    def _heartbeat_body(self, advance: bool) -> Dict[str, Any]:
        with self._condition:
            progress = []
            for running in self._running.values():
                if advance:
                    running.step += 1  # the function is alive: its step advances, as a program's
                progress.append(
                    {"lease": running.trial.lease, "epoch": running.trial.epochs_reported + 1, "step": running.step}
                )
            wants = max(0, self._demand - len(self._waiting))
        body: Dict[str, Any] = {"wants": wants}
        if progress:
            body["progress"] = progress
        return body

    def _handle(self, dealer: zmq.Socket[bytes], message_type: str, body: Dict[str, Any]) -> Optional[float]:
        """Handles one message; returns seconds until the next heartbeat when the message says so."""
        if message_type == "welcome":
            with self._condition:
                self._welcomed = True
                self._heartbeat_seconds = max(0.01, (optional_int(body, "heartbeat_ms") or 1000) / 1000)
                self._liveness = max(2, optional_int(body, "liveness") or 5)
                self.sweep = body.get("sweep") if isinstance(body.get("sweep"), str) else None
                unacked = list(self._unacked.values())
                running = [running.trial for running in self._running.values()]
                self._condition.notify_all()
            log.info("welcomed by %s (sweep %s)", self.endpoint, self.sweep)
            for frames in unacked:
                self._send(dealer, frames)
            self._send(dealer, encode("heartbeat", self._heartbeat_body(advance=False)))
            for trial in running:
                for record in list(trial._history):
                    self.send_progress(trial, record)
            return self._heartbeat_seconds
        if message_type == "assign":
            lease = body.get("lease")
            if not isinstance(lease, dict) or not isinstance(body.get("config"), dict):
                log.warning("ignored an assign without a lease or config")
                return None
            with self._condition:
                if lease.get("lease") in self._running or lease.get("lease") in self._unacked:
                    return None
                trial = Trial(self, body)
                self._running[lease["lease"]] = _Running(trial)
                self._waiting.append(trial)
                self._condition.notify_all()
            return None
        if message_type == "ack":
            lease = body.get("lease")
            with self._condition:
                if isinstance(lease, dict):
                    self._unacked.pop(str(lease.get("lease")), None)
                self._condition.notify_all()
            return None
        if message_type == "cancel":
            self._cancelled(body)
            return None
        if message_type == "wait":
            retry = optional_int(body, "retry_ms")
            return None if retry is None else retry / 1000
        if message_type == "shutdown":
            with self._condition:
                if body.get("reason") == "finished":
                    self._finished = True
                else:
                    self._welcomed = False  # the coordinator is going away: say ready until it is back
                self._condition.notify_all()
            return None
        if message_type == "error":
            self._error(dealer, body)
        return None

    def _cancelled(self, body: Dict[str, Any]) -> None:
        lease = body.get("lease")
        if not isinstance(lease, dict):
            return
        reason = str(body.get("reason", "cancelled"))
        with self._condition:
            running = self._running.get(str(lease.get("lease")))
            if running is None:
                return
            if not running.trial.should_stop:
                log.info("trial %s stopped by the coordinator: %s", lease_text(lease), reason)
            running.trial._stop(reason)
            taken = running.trial not in self._waiting
            if not taken:
                self._waiting.remove(running.trial)
        if not taken:
            self.send_failed(running.trial, "cancelled", reason)

    def _error(self, dealer: zmq.Socket[bytes], body: Dict[str, Any]) -> None:
        code, message = body.get("code"), str(body.get("message", ""))
        if code == "not_ready":
            with self._condition:
                self._welcomed = False
            self._send(dealer, encode("ready", self._ready))
        elif code in ("protocol_mismatch", "build_mismatch", "function_mismatch", "programs_not_allowed", "quarantined"):
            with self._condition:
                self._refused = f"{self.endpoint} refused this client ({code}): {message}"
                self._condition.notify_all()
        else:
            log.warning("coordinator error %s: %s", code, message)
