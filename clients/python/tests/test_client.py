"""Unit tests of the Python client: the wire format, the report rules, and the conversation with a
coordinator played by a real ZeroMQ ROUTER socket in this process.

    PYTHONPATH=clients/python/src python3 -m unittest discover -s clients/python/tests -v
"""

import json
import math
import os
import tempfile
import threading
import time
import unittest

import zmq

import sweep_client
from sweep_client import Diverged, Pruned, Refused, Study, best_epoch, work
from sweep_client._wire import ProtocolError, decode, encode, load_key


def assignment(lease="L-1", trial="00aa", attempt=1, number=1, **config):
    config.setdefault("program", True)
    config.setdefault("select_metric", "score")
    config.setdefault("seed", 0)
    return {
        "lease": {"trial": trial, "attempt": attempt, "lease": lease},
        "number": number,
        "config": config,
        "dataset": {"fingerprint": "", "files": []},
    }


class Recorder:
    """Stands in for the connection: records what a trial sends."""

    def __init__(self):
        self.sent = []

    def send_progress(self, trial, record):
        self.sent.append(("progress", record))

    def send_failed(self, trial, reason, detail, epoch=None):
        self.sent.append(("failed", reason, detail))


class FakeCoordinator:
    """A ROUTER on a random port that answers the way a coordinator does, as each test scripts it."""

    def __init__(self):
        self.context = zmq.Context()
        self.router = self.context.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, 0)
        port = self.router.bind_to_random_port("tcp://127.0.0.1")
        self.endpoint = f"tcp://127.0.0.1:{port}"
        self.peer = None

    def receive(self, timeout=5.0, skip=("heartbeat",)):
        """The next message of a type not in `skip`: (type, body)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.router.poll(int((deadline - time.monotonic()) * 1000) + 1):
                break
            peer, version, kind, body = self.router.recv_multipart()
            self.peer = peer
            self.assertVersion(version)
            if kind.decode() not in skip:
                return kind.decode(), json.loads(body)
        raise AssertionError("no message within %.1f s" % timeout)

    def assertVersion(self, version):
        if version != b"\x01":
            raise AssertionError(f"version frame {version!r}")

    def send(self, kind, body):
        self.router.send_multipart([self.peer, b"\x01", kind.encode(), json.dumps(body).encode()])

    def welcome(self, heartbeat_ms=100):
        kind, body = self.receive()
        assert kind == "ready", kind
        self.send("welcome", {"heartbeat_ms": heartbeat_ms, "liveness": 5, "sweep": "unit"})
        return body

    def close(self):
        self.router.close(0)
        self.context.term()


class WireTests(unittest.TestCase):
    def test_round_trip_and_refusals(self):
        frames = encode("ack", {"lease": {"trial": "a", "attempt": 1, "lease": "L"}, "kind": "result"})
        self.assertEqual(decode(frames), ("ack", {"lease": {"trial": "a", "attempt": 1, "lease": "L"}, "kind": "result"}))
        with self.assertRaises(ValueError):
            encode("progress", {"x": math.nan})
        for frames, words in [
            ([b"\x01", b"ack"], "3 frames"),
            ([b"\x02", b"ack", b"{}"], "version"),
            ([b"\x01", b"ready", b"{}"], "unknown message type"),
            ([b"\x01", b"ack", b"[1]"], "not a JSON object"),
            ([b"\x01", b"ack", b"{"], "not JSON"),
        ]:
            with self.assertRaises(ProtocolError) as caught:
                decode(frames)
            self.assertIn(words, str(caught.exception))

    def test_keys_from_files_and_text(self):
        public, secret = zmq.curve_keypair()
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "w.key")
            with open(path, "w") as handle:
                handle.write(secret.decode() + "\n")
            self.assertEqual(load_key(path, "secret_key"), secret)
            self.assertEqual(load_key(public.decode(), "server_key"), public)
            bad = os.path.join(folder, "bad.key")
            with open(bad, "w") as handle:
                handle.write("not a key\n")
            with self.assertRaises(ValueError) as caught:
                load_key(bad, "secret_key")
            self.assertIn(bad, str(caught.exception))
            with self.assertRaises(ValueError) as caught:
                load_key(os.path.join(folder, "missing.key"), "secret_key")
            self.assertIn("missing.key", str(caught.exception))


class ReportTests(unittest.TestCase):
    def trial(self, **config):
        recorder = Recorder()
        return sweep_client.Trial(recorder, assignment(**config)), recorder

    def test_records_follow_the_program_report_rules(self):
        trial, recorder = self.trial(epochs=3, lr=0.1)
        self.assertEqual(trial.config, {"epochs": 3, "lr": 0.1, "seed": 0})
        self.assertEqual((trial.metric, trial.goal, trial.seed), ("valid_score", "maximize", 0))
        trial.report(1, {"valid_score": 0.5, "test_score": 0.4, "loss": 1.5, "lr": 0.1})
        trial.report(epoch=2, valid_score=0.7, loss_main=1.0, loss=9.0, loss_aux=2.0)
        first, second = recorder.sent[0][1], recorder.sent[1][1]
        self.assertEqual(first["valid"], {"score": 0.5})
        self.assertEqual(first["test"], {"score": 0.4})
        self.assertEqual(first["loss_main"], 1.5)
        self.assertEqual(first["extra"], {"lr": 0.1})
        self.assertIsNone(first["loss_aux"])
        self.assertEqual(first["weights"], {"main": 1, "aux": None})
        self.assertEqual((second["loss_main"], second["loss_aux"], second["extra"]), (1.0, 2.0, {"loss": 9.0}))

    def test_bad_reports_are_refused_with_the_key(self):
        trial, recorder = self.trial(epochs=2)
        with self.assertRaisesRegex(ValueError, "expected epoch 1"):
            trial.report(2, valid_score=1)
        with self.assertRaisesRegex(ValueError, "lacks valid_score"):
            trial.report(1, valid_other=1)
        with self.assertRaisesRegex(TypeError, "valid_score = 'high' is not a number"):
            trial.report(1, valid_score="high")
        with self.assertRaisesRegex(TypeError, "True is not a number"):
            trial.report(1, valid_score=True)
        trial.report(1, valid_score=1)
        trial.report(2, valid_score=1)
        with self.assertRaisesRegex(ValueError, "epochs is 2"):
            trial.report(3, valid_score=1)
        self.assertEqual([item[0] for item in recorder.sent], ["progress", "progress"])

    def test_a_non_finite_value_ends_the_attempt_as_diverged(self):
        trial, recorder = self.trial()
        with self.assertRaises(Diverged) as caught:
            trial.report(1, valid_score=1.0, loss=math.inf)
        self.assertIn("loss = inf", str(caught.exception))
        self.assertEqual(recorder.sent[-1][:2], ("failed", "diverged"))
        with self.assertRaisesRegex(RuntimeError, "has ended"):
            trial.report(1, valid_score=1.0)

    def test_a_stopped_trial_raises_pruned_at_its_next_report(self):
        trial, _ = self.trial()
        trial.report(1, valid_score=1)
        trial._stop("pruned at epoch 1: asha rung 0")
        self.assertTrue(trial.should_stop)
        with self.assertRaisesRegex(Pruned, "asha rung 0"):
            trial.report(2, valid_score=2)
        self.assertIsNone(trial._finish(None, "train"))

    def test_best_epoch_by_goal_earliest_of_ties(self):
        history = [{"epoch": n, "valid": {"m": value}} for n, value in enumerate([0.2, 0.5, 0.5, 0.1], start=1)]
        self.assertEqual(best_epoch(history, "m", "maximize"), 2)
        self.assertEqual(best_epoch(history, "m", "minimize"), 4)
        self.assertEqual(best_epoch(history[:3], "m", "minimize"), 1)

    def test_the_result_is_the_best_epoch_with_final_values_over_it(self):
        trial, _ = self.trial(select_goal="minimize")
        trial.report(1, valid_score=3.0, test_score=3.5)
        trial.report(2, valid_score=2.0, test_score=2.5)
        trial.report(3, valid_score=2.5, test_score=2.0)
        self.assertEqual(trial._finish({"test_score": 2.25}, "train"), (2, {"score": 2.0}, {"score": 2.25}))

        number, _ = self.trial()
        self.assertEqual(number._finish(0.75, "train"), (1, {"score": 0.75}, {}))
        nothing, _ = self.trial()
        with self.assertRaisesRegex(ValueError, "reported no epoch"):
            nothing._finish(None, "train")
        text, _ = self.trial()
        with self.assertRaisesRegex(TypeError, "gave str"):
            text._finish("good", "train")


class ConversationTests(unittest.TestCase):
    def setUp(self):
        self.coordinator = FakeCoordinator()

    def tearDown(self):
        self.coordinator.close()

    def start_worker(self, train, **options):
        outcome = {}

        def run():
            try:
                outcome["ran"] = work(train, connect=self.coordinator.endpoint, name="unit-worker", **options)
            except BaseException as error:  # noqa: BLE001 — the test reads it
                outcome["error"] = error

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread, outcome

    def test_ready_names_the_function_and_a_trial_runs_to_its_result(self):
        def objective(trial):
            for epoch in (1, 2):
                trial.report(epoch, valid_score=trial.config["x"] * epoch)

        thread, outcome = self.start_worker(objective)
        ready = self.coordinator.welcome()
        self.assertEqual((ready["protocol"], ready["function"], ready["worker"], ready["slots"]), (1, "objective", "unit-worker", 1))
        kind, body = self.coordinator.receive(skip=())
        self.assertEqual((kind, body["wants"]), ("heartbeat", 1))
        self.coordinator.send("assign", assignment(x=0.5, epochs=2))
        reports = [self.coordinator.receive() for _ in range(2)]
        self.assertEqual([body["report"]["valid"]["score"] for _, body in reports], [0.5, 1.0])
        kind, result = self.coordinator.receive()
        self.assertEqual((kind, result["best_epoch"], result["valid"]), ("result", 2, {"score": 1.0}))
        self.assertEqual(len(result["history"]), 2)
        self.assertEqual(result["timing"]["blas_core"], "function")
        self.coordinator.send("ack", {"lease": result["lease"], "kind": "result"})
        self.coordinator.send("shutdown", {"reason": "finished"})
        thread.join(5)
        self.assertEqual(outcome, {"ran": 1})

    def test_heartbeats_go_on_while_the_function_computes(self):
        release = threading.Event()

        def slow(trial):
            release.wait(5)
            return 1.0

        thread, outcome = self.start_worker(slow)
        self.coordinator.welcome(heartbeat_ms=50)
        self.coordinator.send("assign", assignment())
        steps = []
        while len(steps) < 4:
            kind, body = self.coordinator.receive(skip=())
            if kind == "heartbeat" and "progress" in body:
                self.assertEqual(body["progress"][0]["lease"]["lease"], "L-1")
                self.assertEqual(body["wants"], 0)
                steps.append(body["progress"][0]["step"])
        self.assertEqual(steps, sorted(steps))
        self.assertGreater(steps[-1], steps[0])
        release.set()
        kind, body = self.coordinator.receive()
        self.assertEqual(kind, "progress")
        kind, body = self.coordinator.receive()
        self.assertEqual((kind, body["valid"]), ("result", {"score": 1.0}))
        self.coordinator.send("ack", {"lease": body["lease"], "kind": "result"})
        self.coordinator.send("shutdown", {"reason": "finished"})
        thread.join(5)

    def test_cancel_reaches_the_function_at_its_next_report(self):
        reached = []

        def objective(trial):
            for epoch in range(1, 10):
                try:
                    trial.report(epoch, valid_score=epoch)
                except Pruned:
                    reached.append(epoch)
                    raise
                time.sleep(0.05)

        thread, outcome = self.start_worker(objective)
        self.coordinator.welcome()
        self.coordinator.send("assign", assignment())
        kind, body = self.coordinator.receive()
        self.assertEqual((kind, body["report"]["epoch"]), ("progress", 1))
        self.coordinator.send("cancel", {"lease": body["lease"], "reason": "pruned at epoch 1: asha"})
        while True:
            kind, body = self.coordinator.receive()
            if kind != "progress":
                break
        self.assertEqual((kind, body["reason"], body["detail"]), ("failed", "cancelled", "pruned at epoch 1: asha"))
        self.assertLessEqual(reached[0], 3)
        self.coordinator.send("ack", {"lease": body["lease"], "kind": "failed"})
        self.coordinator.send("shutdown", {"reason": "finished"})
        thread.join(5)

    def test_an_exception_fails_the_attempt_with_its_traceback_and_the_worker_goes_on(self):
        def broken(trial):
            if trial.number == 1:
                raise KeyError("missing_column")
            return 2.0

        thread, outcome = self.start_worker(broken)
        self.coordinator.welcome()
        self.coordinator.send("assign", assignment())
        kind, body = self.coordinator.receive()
        self.assertEqual((kind, body["reason"]), ("failed", "crashed"))
        self.assertIn("KeyError: 'missing_column'", body["detail"])
        self.assertIn("in broken", body["detail"])
        self.coordinator.send("ack", {"lease": body["lease"], "kind": "failed"})
        self.coordinator.send("assign", assignment(lease="L-2", number=2))
        kind, body = self.coordinator.receive()
        self.assertEqual(kind, "progress")
        kind, body = self.coordinator.receive()
        self.assertEqual(kind, "result")
        self.coordinator.send("ack", {"lease": body["lease"], "kind": "result"})
        self.coordinator.send("shutdown", {"reason": "finished"})
        thread.join(5)
        self.assertEqual(outcome, {"ran": 2})

    def test_a_result_not_acknowledged_is_resent_after_the_coordinator_forgets_the_client(self):
        thread, outcome = self.start_worker(lambda trial: 0.25, function="objective")
        self.coordinator.welcome()
        self.coordinator.send("assign", assignment())
        self.coordinator.receive()  # the one epoch
        kind, first = self.coordinator.receive()
        self.assertEqual(kind, "result")
        # As a restarted coordinator does: it does not know the peer.
        self.coordinator.send("error", {"code": "not_ready", "message": "say ready first"})
        self.coordinator.welcome()
        kind, again = self.coordinator.receive()
        self.assertEqual((kind, again), ("result", first))
        self.coordinator.send("ack", {"lease": again["lease"], "kind": "result"})
        self.coordinator.send("shutdown", {"reason": "finished"})
        thread.join(5)
        self.assertEqual(outcome, {"ran": 1})

    def test_an_interrupt_says_bye_and_is_raised_again(self):
        def interrupted(trial):
            trial.report(1, valid_score=1)
            raise KeyboardInterrupt()

        thread, outcome = self.start_worker(interrupted)
        self.coordinator.welcome()
        self.coordinator.send("assign", assignment())
        self.assertEqual(self.coordinator.receive()[0], "progress")
        kind, body = self.coordinator.receive()
        self.assertEqual((kind, body), ("bye", {"reason": "SIGINT"}))
        thread.join(5)
        self.assertIsInstance(outcome.get("error"), KeyboardInterrupt)

    def test_a_refusal_is_raised_with_the_coordinators_words(self):
        thread, outcome = self.start_worker(lambda trial: 1.0)
        self.coordinator.receive()
        self.coordinator.send("error", {"code": "function_mismatch", "message": "sweep s names function objective: serve that one"})
        thread.join(5)
        self.assertIsInstance(outcome.get("error"), Refused)
        self.assertIn("serve that one", str(outcome["error"]))

    def test_ask_and_tell(self):
        self.coordinator_thread_results = []
        with Study(connect=self.coordinator.endpoint, function="objective", name="asker") as study:
            asked = {}
            thread = threading.Thread(target=lambda: asked.setdefault("trial", study.ask(timeout=5)))
            thread.start()
            ready = self.coordinator.welcome()
            self.assertEqual(ready["function"], "objective")
            self.coordinator.send("assign", assignment(x=2))
            thread.join(5)
            trial = asked["trial"]
            self.assertEqual(trial.config["x"], 2)
            with self.assertRaisesRegex(RuntimeError, "tell one first"):
                study.ask(timeout=0.1)
            trial.report(1, valid_score=1.5)
            self.assertEqual(study.tell(trial, {"test_score": 1.0}), "completed")
            with self.assertRaisesRegex(RuntimeError, "already told"):
                study.tell(trial, 1.0)
            self.coordinator.receive()  # the epoch
            kind, body = self.coordinator.receive()
            self.assertEqual((kind, body["valid"], body["test"]), ("result", {"score": 1.5}, {"score": 1.0}))
            self.coordinator.send("ack", {"lease": body["lease"], "kind": "result"})
            self.coordinator.send("shutdown", {"reason": "finished"})
            self.assertIsNone(study.ask(timeout=5))

    def test_a_study_with_two_slots_holds_two_trials_and_asks_for_no_more(self):
        with Study(connect=self.coordinator.endpoint, function="objective", slots=2) as study:
            asked = []
            thread = threading.Thread(target=lambda: asked.extend([study.ask(timeout=5), study.ask(timeout=5)]))
            thread.start()
            ready = self.coordinator.welcome()
            self.assertEqual(ready["slots"], 2)
            self.coordinator.send("assign", assignment(lease="L-1", number=1))
            self.coordinator.send("assign", assignment(lease="L-2", number=2))
            thread.join(5)
            self.assertEqual([trial.number for trial in asked], [1, 2])
            # Both trials are listed in every heartbeat, and nothing more is asked for.
            while True:
                kind, body = self.coordinator.receive(skip=())
                if kind == "heartbeat" and len(body.get("progress", [])) == 2:
                    break
            self.assertEqual(body["wants"], 0)
            self.assertEqual(study.tell(asked[1], 2.0), "completed")
            self.assertEqual(study.tell(asked[0], failed="out of memory"), "failed")
            told = {}
            while len(told) < 2:
                kind, body = self.coordinator.receive()
                if kind in ("result", "failed"):
                    told[body["lease"]["lease"]] = (kind, body.get("detail"))
                    self.coordinator.send("ack", {"lease": body["lease"], "kind": kind})
            self.assertEqual(told, {"L-2": ("result", None), "L-1": ("failed", "out of memory")})
            self.coordinator.send("shutdown", {"reason": "finished"})


if __name__ == "__main__":
    unittest.main()
