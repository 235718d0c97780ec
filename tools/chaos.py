#!/usr/bin/env python3
"""Random faults for real: run two sweeps with real workers while a seeded schedule of faults
hits them, then check the stores with the sqlite3 command line as a user would.

The sweeps: built-in trials on the synthetic `small` preset with ASHA early stopping, and a
program sweep whose program reports epochs (and crashes when the schedule says so). The faults:
kill -9 of a worker (restarted), kill -9 of a coordinator (relaunched), SIGSTOP of a worker past
the liveness window (then SIGCONT), a worker's network link down (a network namespace, root
only) and up again, a program that crashes, and once the store's disk filling up (a small tmpfs,
root only) with the space given back. Faults that need root are left out without it, saying so.

After the fault phase everything is restored and the sweeps run to their end; then, per store:
every trial ended exactly once, one result per completed trial from the attempt that completed
it, no attempt left running, every pruning decision recorded once, `PRAGMA integrity_check` ok,
and `sweep leaderboard --format json` equal to a ranking computed from the result rows alone.
Exit status 0 when every check passes, 1 when one fails.

    python3 tools/chaos.py --seconds 60 --seed 7           # what make test runs
    python3 tools/chaos.py --seconds 3600 --seed 1 --trials 4000
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

HEARTBEAT_MS = 200
LIVENESS = 5
SILENCE = HEARTBEAT_MS * LIVENESS / 1000  # seconds after which the coordinator declares a worker dead

PROGRAM = r'''
import json, os, sys, time
config = json.load(open(os.environ["SWEEP_CONFIG"]))
flag = os.environ.get("CHAOS_CRASH_FLAG", "")
x, y = float(config["x"]), float(config["y"])
for epoch in range(1, int(config["epochs"]) + 1):
    time.sleep(float(config["epoch_seconds"]))
    # The chaos schedule drops a flag file: the first program to take it crashes.
    if flag:
        try:
            os.rename(flag, flag + ".taken-%d" % os.getpid())
            sys.stderr.write("chaos: crashing at epoch %d\n" % epoch)
            sys.exit(3)
        except FileNotFoundError:
            pass
    value = (1 - (x - 0.3) ** 2 - (y - 0.6) ** 2) * epoch / int(config["epochs"])
    with open(os.environ["SWEEP_REPORT"], "a") as report:
        report.write(json.dumps({"epoch": epoch, "valid_score": value, "test_score": value / 2}) + "\n")
'''


def builtin_sweep(trials: int) -> str:
    return f"""name: chaos-builtin
dataset: {{synthetic: {{preset: small, seed: 3}}}}
metric: {{name: valid_ndcg@10, goal: maximize}}
method: random
count: {trials}
seed: 11
fixed: {{epochs: 4, batch_size: 128}}
early_stopping: {{type: asha, min_epochs: 1, reduction_factor: 2}}
max_failed_trials: {trials}
parameters:
  loss: {{values: [bce, weighted_bce, focal]}}
  lr: {{distribution: log_uniform, min: 0.0003, max: 0.01}}
"""


def program_sweep(trials: int) -> str:
    return f"""name: chaos-program
program:
  dir: program
  command: [python3, train.py]
  config: json
  env: [CHAOS_CRASH_FLAG]
dataset: none
metric: {{name: valid_score, goal: maximize}}
method: random
count: {trials}
seed: 5
fixed: {{epochs: 4, epoch_seconds: 0.15}}
early_stopping: {{type: asha, min_epochs: 1, reduction_factor: 2}}
max_failed_trials: {trials}
parameters:
  x: {{distribution: uniform, min: 0, max: 1}}
  y: {{distribution: uniform, min: 0, max: 1}}
"""


def log(line: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {line}", flush=True)


def run(command: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, check=check, capture_output=True, text=True)


class Supervised:
    """A process the schedule starts, kills and restarts, its output in a log file of its own."""

    process: subprocess.Popen[bytes] | None = None

    def spawn(self, command: list[str], log: Path, environment: dict[str, str] | None = None) -> None:
        with open(log, "wb") as output:  # the child keeps its own descriptor
            self.process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=environment)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class Coordinator(Supervised):
    """One sweep's `sweep launch`, relaunched after each fault until it finishes (exit 0)."""

    name: str
    sweep_file: Path
    db: Path
    port: int
    bind_host: str
    logs: Path
    finished: bool = False
    launches: int = 0

    def start(self, sweep: str) -> None:
        self.launches += 1
        command = [
            sweep, "launch", str(self.sweep_file), "--db", str(self.db), "--bind", f"tcp://{self.bind_host}:{self.port}",
            "--heartbeat-ms", str(HEARTBEAT_MS), "--liveness", str(LIVENESS), "--max-attempts", "1000",
        ]
        if self.bind_host not in ("127.0.0.1", "localhost"):
            command.append("--insecure")
        self.spawn(command, self.logs / f"{self.name}-launch-{self.launches}.log")


@dataclass
class Worker(Supervised):
    name: str
    coordinator: Coordinator
    connect_host: str
    namespace: str | None
    programs: bool
    cache: Path
    logs: Path
    starts: int = 0
    stopped: bool = False  # SIGSTOPped now
    done: bool = False  # exited 0: its sweep is finished

    def start(self, sweep: str, crash_flag: Path) -> None:
        self.starts += 1
        command = [
            sweep, "worker", "--connect", f"tcp://{self.connect_host}:{self.coordinator.port}", "--name", self.name,
            "--cache-dir", str(self.cache), "--runs-dir", str(self.cache / "runs"),
        ]
        if self.programs:
            command.append("--allow-programs")
            if self.connect_host != "127.0.0.1":
                command.append("--insecure")
        if self.namespace:
            command = ["ip", "netns", "exec", self.namespace] + command
        environment = dict(os.environ, CHAOS_CRASH_FLAG=str(crash_flag))
        self.spawn(command, self.logs / f"{self.name}-{self.starts}.log", environment)


@dataclass
class Namespace:
    """A host of its own: a network namespace joined to this one by a veth pair."""

    name: str
    outer: str
    inner: str
    host_address: str
    address: str

    @staticmethod
    def create(index: int, tag: str) -> "Namespace":
        space = Namespace(f"chaos-{tag}-{index}", f"chx{tag}{index}", f"chy{tag}{index}", f"10.231.{index}.1", f"10.231.{index}.2")
        run(["ip", "netns", "add", space.name])
        run(["ip", "link", "add", space.outer, "type", "veth", "peer", "name", space.inner, "netns", space.name])
        run(["ip", "addr", "add", f"{space.host_address}/30", "dev", space.outer])
        run(["ip", "link", "set", space.outer, "up"])
        run(["ip", "netns", "exec", space.name, "ip", "addr", "add", f"{space.address}/30", "dev", space.inner])
        run(["ip", "netns", "exec", space.name, "ip", "link", "set", space.inner, "up"])
        run(["ip", "netns", "exec", space.name, "ip", "link", "set", "lo", "up"])
        return space

    def link(self, up: bool) -> None:
        run(["ip", "netns", "exec", self.name, "ip", "link", "set", self.inner, "up" if up else "down"])

    def remove(self) -> None:
        run(["ip", "link", "del", self.outer], check=False)
        run(["ip", "netns", "del", self.name], check=False)


@dataclass
class Chaos:
    sweep: str
    folder: Path
    seed: int
    seconds: float
    every: float
    trials: int
    workers_per_sweep: int
    random: random.Random = field(init=False)
    coordinators: list[Coordinator] = field(default_factory=list)
    workers: list[Worker] = field(default_factory=list)
    namespaces: dict[str, Namespace] = field(default_factory=dict)
    tmpfs: Path | None = None
    tmpfs_kb: int = 0
    injected: collections.Counter[str] = field(default_factory=collections.Counter)
    skipped: dict[str, str] = field(default_factory=dict)
    # (time, what to undo): restorations due later.
    pending: list[tuple[float, str, Callable[[], None]]] = field(default_factory=list)
    disk_filled: bool = False
    # The disk fills once, at a seeded time in the middle of the fault phase.
    fill_at: float = 0.0
    first_round: list[str] | None = None
    anomalies: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.random = random.Random(self.seed)

    # Set-up

    def prepare(self) -> None:
        logs = self.folder / "logs"
        logs.mkdir(parents=True)
        root = os.geteuid() == 0 and shutil.which("ip") is not None
        store_folder = self.folder / "stores"
        store_folder.mkdir()
        # Room for both stores (about 22 KiB a trial each, their logs and caches) and a margin: only
        # the fault fills it (a long run once filled a tighter one by itself).
        self.tmpfs_kb = 16384 + 64 * self.trials
        if root and run(["mount", "-t", "tmpfs", "-o", f"size={self.tmpfs_kb}k", "tmpfs", str(store_folder)], check=False).returncode == 0:
            self.tmpfs = store_folder
        else:
            self.skipped["fill_disk"] = "needs root to mount a small tmpfs for the stores"
        if root:
            try:
                for index in range(2):
                    self.namespaces[f"n{index}"] = Namespace.create(index, str(os.getpid() % 10000))
            except subprocess.CalledProcessError as error:
                self.skipped["drop_network"] = f"network namespaces are unavailable here: {error.stderr.strip()}"
                for made in self.namespaces.values():
                    made.remove()
                self.namespaces = {}
        else:
            self.skipped["drop_network"] = "needs root for network namespaces"
        program = self.folder / "program"
        program.mkdir()
        (program / "train.py").write_text(PROGRAM)
        (self.folder / "builtin.yaml").write_text(builtin_sweep(self.trials))
        (self.folder / "program.yaml").write_text(program_sweep(self.trials))
        bind = "0.0.0.0" if self.namespaces else "127.0.0.1"
        ports = free_ports(2)
        for index, (name, programs) in enumerate([("builtin", False), ("program", True)]):
            coordinator = Coordinator(name, self.folder / f"{name}.yaml", store_folder / f"{name}.db", ports[index], bind, logs)
            self.coordinators.append(coordinator)
            for number in range(self.workers_per_sweep):
                space = self.namespaces.get(f"n{index}") if number == 0 else None
                self.workers.append(
                    Worker(
                        f"{name}-w{number}", coordinator, space.host_address if space else "127.0.0.1", space.name if space else None,
                        programs, self.folder / "cache", logs))

    def cleanup(self) -> None:
        for worker in self.workers:
            if worker.running:
                if worker.stopped:
                    os.kill(worker.process.pid, signal.SIGCONT)  # type: ignore[union-attr]
                worker.process.kill()  # type: ignore[union-attr]
        for coordinator in self.coordinators:
            if coordinator.running:
                coordinator.process.kill()  # type: ignore[union-attr]
        for space in self.namespaces.values():
            space.remove()

    # The run

    def crash_flag(self) -> Path:
        return self.folder / "crash-flag"

    def start_all(self) -> None:
        for coordinator in self.coordinators:
            coordinator.start(self.sweep)
        time.sleep(1.0)
        for worker in self.workers:
            worker.start(self.sweep, self.crash_flag())

    def supervise(self) -> None:
        """Notes exits: a coordinator's 0 ends its sweep; anything else unplanned is an anomaly."""
        for coordinator in self.coordinators:
            if coordinator.process is None or coordinator.finished or coordinator.running:
                continue
            status = coordinator.process.returncode
            coordinator.process = None
            if status in (0, 3):  # 3: finished, some trials failed (the crashes)
                coordinator.finished = True
                log(f"{coordinator.name}: the sweep is finished (exit {status})")
            elif status == 5 and self.disk_filled:
                log(f"{coordinator.name}: exited 5, its store's disk is full (expected)")
            else:
                self.anomalies.append(
                    f"{coordinator.name} coordinator exited {status} unprompted (see logs/{coordinator.name}-launch-{coordinator.launches}.log)")
                coordinator.finished = coordinator.launches > 50  # give up on one that cannot start
                if not coordinator.finished:
                    coordinator.start(self.sweep)
        for worker in self.workers:
            if worker.process is None or worker.running or worker.done:
                continue
            status = worker.process.returncode
            worker.process = None
            if status == 0:
                worker.done = True
            elif status != -signal.SIGKILL:
                self.anomalies.append(f"worker {worker.name} exited {status} unprompted (see logs/{worker.name}-{worker.starts}.log)")

    def later(self, delay: float, what: str, action: Callable[[], None]) -> None:
        self.pending.append((time.monotonic() + delay, what, action))

    def restore_due(self, everything: bool = False) -> None:
        now = time.monotonic()
        due = [entry for entry in self.pending if everything or entry[0] <= now]
        self.pending = [entry for entry in self.pending if entry not in due]
        for _, what, action in sorted(due, key=lambda entry: entry[0]):
            action()

    def live_workers(self) -> list[Worker]:
        return [w for w in self.workers if w.running and not w.stopped and not w.coordinator.finished]

    def inject(self) -> str | None:
        """The next fault: every kind once first (in a seeded order), then seeded draws."""
        kinds = ["kill_worker", "kill_coordinator", "stop_worker", "crash_program"]
        if self.namespaces:
            kinds.append("drop_network")
        if self.tmpfs is not None and not self.injected["disk full"] and time.monotonic() >= self.fill_at:
            return self.fill_disk()
        if self.first_round is None:
            self.first_round = self.random.sample(kinds, len(kinds))
        kind = self.first_round.pop(0) if self.first_round else self.random.choice(kinds)
        fault: Callable[[], str | None] = getattr(self, kind)
        return fault()

    def kill_worker(self) -> str | None:
        candidates = self.live_workers()
        if not candidates:
            return None
        worker = self.random.choice(candidates)
        worker.process.kill()  # type: ignore[union-attr]
        self.later(self.random.uniform(0.2, 1.5), f"restart {worker.name}", lambda: self.restart_worker(worker))
        return f"kill -9 worker {worker.name}"

    def restart_worker(self, worker: Worker) -> None:
        if worker.process is not None:
            worker.process.wait()
        worker.process = None
        if not worker.coordinator.finished:
            worker.start(self.sweep, self.crash_flag())

    def kill_coordinator(self) -> str | None:
        candidates = [c for c in self.coordinators if c.running and not c.finished]
        if not candidates:
            return None
        coordinator = self.random.choice(candidates)
        coordinator.process.kill()  # type: ignore[union-attr]
        coordinator.process.wait()  # type: ignore[union-attr]
        coordinator.process = None
        self.later(self.random.uniform(0.3, 2.0), f"relaunch {coordinator.name}", lambda: coordinator.start(self.sweep))
        return f"kill -9 coordinator {coordinator.name}"

    def stop_worker(self) -> str | None:
        candidates = self.live_workers()
        if not candidates:
            return None
        worker = self.random.choice(candidates)
        os.kill(worker.process.pid, signal.SIGSTOP)  # type: ignore[union-attr]
        worker.stopped = True

        def resume() -> None:
            worker.stopped = False
            if worker.running:
                os.kill(worker.process.pid, signal.SIGCONT)  # type: ignore[union-attr]

        self.later(SILENCE + self.random.uniform(0.5, 2.0), f"SIGCONT {worker.name}", resume)
        return f"SIGSTOP worker {worker.name} past liveness ({SILENCE:.1f} s)"

    def drop_network(self) -> str | None:
        candidates = [w for w in self.live_workers() if w.namespace]
        if not candidates:
            return None
        worker = self.random.choice(candidates)
        space = next(s for s in self.namespaces.values() if s.name == worker.namespace)
        space.link(up=False)
        self.later(SILENCE + self.random.uniform(0.5, 2.0), f"link up {space.name}", lambda: space.link(up=True))
        return f"network of worker {worker.name} down ({space.inner} in {space.name})"

    def crash_program(self) -> str | None:
        if next((c for c in self.coordinators if c.name == "program" and not c.finished), None) is None:
            return None
        self.crash_flag().write_text("crash")
        return "the next program epoch crashes"

    def fill_disk(self) -> str | None:
        assert self.tmpfs is not None
        self.disk_filled = True
        filler = self.tmpfs / "filler"
        with open(filler, "wb", buffering=0) as output:  # unbuffered: closing it writes nothing more
            try:
                while True:
                    output.write(b"\0" * 65536)
                    output.flush()
            except OSError:
                pass

        def give_back() -> None:
            # Every coordinator that stopped on the full disk exits 5; then space comes back.
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and any(c.running for c in self.coordinators if not c.finished):
                time.sleep(0.1)
            self.supervise()  # their exit 5 is expected while the disk is full
            filler.unlink()
            self.disk_filled = False
            for coordinator in self.coordinators:
                if not coordinator.finished and not coordinator.running:
                    coordinator.start(self.sweep)

        # A coordinator notices at its next write; give it time, then the space back.
        self.later(3.0, "free the store's disk", give_back)
        return f"the stores' disk filled ({self.tmpfs_kb} KiB tmpfs)"

    def go(self) -> int:
        self.prepare()
        for kind, reason in self.skipped.items():
            log(f"left out: {kind}: {reason}")
        try:
            self.start_all()
            end = time.monotonic() + self.seconds
            self.fill_at = time.monotonic() + self.seconds * self.random.uniform(0.3, 0.7)
            next_fault = time.monotonic() + 2.0
            while time.monotonic() < end and not all(c.finished for c in self.coordinators):
                self.supervise()
                self.restore_due()
                if time.monotonic() >= next_fault:
                    fault = self.inject()
                    if fault:
                        self.injected[kind_of(fault)] += 1
                        log(f"fault {sum(self.injected.values())}: {fault}")
                    next_fault = time.monotonic() + self.random.uniform(0.5, 1.5) * self.every
                time.sleep(0.05)
            log("faults over: restoring everything and letting the sweeps finish")
            self.restore_due(everything=True)
            if self.crash_flag().exists():
                self.crash_flag().unlink()
            deadline = time.monotonic() + max(120.0, self.seconds)
            while not all(c.finished for c in self.coordinators) and time.monotonic() < deadline:
                self.supervise()
                for coordinator in self.coordinators:
                    if not coordinator.finished and not coordinator.running:
                        coordinator.start(self.sweep)
                for worker in self.workers:
                    if not worker.running and not worker.done and not worker.coordinator.finished:
                        worker.start(self.sweep, self.crash_flag())
                time.sleep(0.1)
            unfinished = [c.name for c in self.coordinators if not c.finished]
            if unfinished:
                self.anomalies.append(f"sweeps not finished in time: {', '.join(unfinished)}")
            for worker in self.workers:
                if worker.running:
                    try:
                        worker.process.wait(timeout=10)  # type: ignore[union-attr]
                    except subprocess.TimeoutExpired:
                        # It missed `shutdown(finished)` (its link was down, or it was stopped, as the
                        # sweep ended) and waits for a coordinator to come back, as designed.
                        log(f"worker {worker.name} waits for a coordinator whose sweep is over: SIGTERM")
                        worker.process.terminate()  # type: ignore[union-attr]
                        worker.process.wait()  # type: ignore[union-attr]
            return self.report()
        finally:
            self.cleanup()
            if self.tmpfs is not None:
                copies = self.folder / "stores-kept"
                shutil.copytree(self.tmpfs, copies, dirs_exist_ok=True)
                run(["umount", str(self.tmpfs)], check=False)

    def report(self) -> int:
        print()
        print(f"faults injected (seed {self.seed}): {sum(self.injected.values())}")
        for kind, count in sorted(self.injected.items()):
            print(f"  {kind}: {count}")
        failures = list(self.anomalies)
        for coordinator in self.coordinators:
            print(f"checks of {coordinator.name} ({coordinator.launches} launches), read with sqlite3:")
            for name, problem in check_store(self.sweep, coordinator.db, coordinator.sweep_file):
                print(f"  {'ok  ' if problem is None else 'FAIL'} {name}" + (f": {problem}" if problem else ""))
                if problem:
                    failures.append(f"{coordinator.name}: {name}: {problem}")
        for anomaly in self.anomalies:
            print(f"FAIL {anomaly}")
        print("chaos: " + ("every check passed" if not failures else f"{len(failures)} checks failed"))
        return 0 if not failures else 1


def kind_of(fault: str) -> str:
    for prefix, kind in [
        ("kill -9 worker", "kill -9 worker"), ("kill -9 coordinator", "kill -9 coordinator"), ("SIGSTOP", "SIGSTOP worker"),
        ("network", "network down"), ("the next program", "program crash"), ("the stores' disk", "disk full"),
    ]:
        if fault.startswith(prefix):
            return kind
    return fault


def free_ports(count: int) -> list[int]:
    import socket

    sockets = [socket.socket() for _ in range(count)]
    for each in sockets:
        each.bind(("127.0.0.1", 0))
    ports = [each.getsockname()[1] for each in sockets]
    for each in sockets:
        each.close()
    return ports


def query(db: Path, sql: str) -> list[dict[str, object]]:
    """Rows of `sql` over the store, read by the sqlite3 command line (`-json`)."""
    output = run(["sqlite3", "-readonly", "-json", str(db), sql]).stdout.strip()
    return json.loads(output) if output else []


def check_store(sweep: str, db: Path, sweep_file: Path) -> list[tuple[str, str | None]]:
    checks: list[tuple[str, str | None]] = []

    def expect_none(name: str, sql: str) -> None:
        rows = query(db, sql)
        checks.append((name, None if not rows else f"{len(rows)} rows, e.g. {rows[:3]}"))

    integrity = run(["sqlite3", "-readonly", str(db), "PRAGMA integrity_check"]).stdout.strip()
    checks.append(("PRAGMA integrity_check", None if integrity == "ok" else integrity[:300]))
    expect_none(
        "every trial ended (none waiting or running)",
        "SELECT number, state FROM trial WHERE state IN ('waiting', 'running')")
    expect_none("no attempt left running", "SELECT lease, worker FROM attempt WHERE outcome IS NULL")
    expect_none(
        "every trial ended exactly once (at most one attempt completed or pruned it)",
        "SELECT trial_number, COUNT(*) AS n FROM attempt WHERE outcome IN ('completed', 'pruned') GROUP BY trial_number HAVING n > 1")
    expect_none(
        "one result per completed trial",
        "SELECT number FROM trial WHERE state = 'completed' AND number NOT IN (SELECT trial_number FROM result)")
    expect_none(
        "no result for a trial that did not complete or was not pruned",
        "SELECT trial_number FROM result JOIN trial ON trial.number = result.trial_number WHERE trial.state NOT IN ('completed', 'pruned')")
    expect_none(
        "each result from the attempt that completed its trial, by the worker that held it",
        """SELECT result.trial_number, result.attempt, attempt.outcome, attempt.worker, result.worker FROM result
           LEFT JOIN attempt ON attempt.trial_number = result.trial_number AND attempt.attempt = result.attempt
           WHERE attempt.outcome IS NOT 'completed' AND attempt.outcome IS NOT 'pruned' OR attempt.worker IS NOT result.worker""")
    expect_none(
        "each completed or pruned trial's last attempt is the one that ended it",
        """SELECT trial.number, trial.state FROM trial WHERE trial.state IN ('completed', 'pruned') AND
           (SELECT outcome FROM attempt WHERE attempt.trial_number = trial.number ORDER BY attempt DESC LIMIT 1) NOT IN ('completed', 'pruned')""")
    expect_none(
        "every pruning decision recorded once: one stop per pruned trial, none before a later judgement",
        """SELECT trial.number, (SELECT COUNT(*) FROM rung WHERE rung.trial_number = trial.number AND decision = 'stop') AS stops
           FROM trial WHERE (trial.state = 'pruned') != (stops = 1) OR stops > 1
           OR EXISTS (SELECT 1 FROM rung AS later JOIN rung AS stop ON stop.trial_number = later.trial_number
                      WHERE later.trial_number = trial.number AND stop.decision = 'stop' AND later.epoch > stop.epoch)""")
    checks.append(("the leaderboard equals a ranking of the result rows", leaderboard_problem(sweep, db, sweep_file)))
    return checks


def leaderboard_problem(sweep: str, db: Path, sweep_file: Path) -> str | None:
    metric_line = next(line for line in sweep_file.read_text().splitlines() if line.startswith("metric:"))
    metric = metric_line.split("name:")[1].split(",")[0].strip().removeprefix("valid_")
    rows = query(db, "SELECT trial.number, result.valid FROM result JOIN trial ON trial.number = result.trial_number WHERE trial.state = 'completed'")
    expected = sorted(((json.loads(str(row["valid"]))[metric], int(str(row["number"]))) for row in rows), key=lambda pair: (-pair[0], pair[1]))
    board = json.loads(run([sweep, "leaderboard", "--db", str(db), "--format", "json"]).stdout)
    shown = [(float(row["valid"][metric]), int(row["number"])) for row in board["rows"]]
    if [number for _, number in shown] != [number for _, number in expected]:
        return f"order differs: board {[n for _, n in shown[:8]]}… results {[n for _, n in expected[:8]]}…"
    if any(abs(a - b) > 1e-9 for (a, _), (b, _) in zip(shown, expected)):
        return "values differ"
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60, help="how long faults are injected")
    parser.add_argument("--seed", type=int, default=7, help="the fault schedule's seed")
    parser.add_argument("--every", type=float, default=2.5, help="mean seconds between faults")
    parser.add_argument("--trials", type=int, help="trials in each of the two sweeps (default: 5 a second of --seconds)")
    parser.add_argument("--workers", type=int, default=2, help="workers per sweep")
    parser.add_argument("--sweep", default=str(Path(__file__).resolve().parent.parent / ".build/release/sweep"), help="the sweep binary")
    parser.add_argument("--keep", help="a folder to run in and keep (default: a temporary one, removed)")
    arguments = parser.parse_args()
    folder = Path(arguments.keep) if arguments.keep else Path(tempfile.mkdtemp(prefix="sweep-chaos-"))
    folder.mkdir(parents=True, exist_ok=True)
    log(f"running in {folder}")
    chaos = Chaos(arguments.sweep, folder, arguments.seed, arguments.seconds, arguments.every, arguments.trials or int(5 * arguments.seconds), arguments.workers)
    try:
        return chaos.go()
    finally:
        if not arguments.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
