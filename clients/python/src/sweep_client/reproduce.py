"""Runs an exported trial file (`sweep export`) by calling the function here, without a coordinator."""

from __future__ import annotations

import importlib
import json
import os
import sys
from typing import Any, Callable, Dict, List, Optional

from ._trial import Diverged, Trial


class _Printer:
    """Stands in for the connection: prints each epoch."""

    def __init__(self, echo: bool) -> None:
        self.echo = echo
        self.failure: Optional[str] = None

    def send_progress(self, trial: Trial, record: Dict[str, Any]) -> None:
        if self.echo:
            metrics = " ".join(f"valid_{key}={value:.6g}" for key, value in sorted(record["valid"].items()))
            print(f"epoch {record['epoch']}: {metrics}", flush=True)

    def send_failed(self, trial: Trial, reason: str, detail: str, epoch: Optional[int] = None) -> None:
        self.failure = f"{reason}: {detail}"


def read_trial_file(path: str) -> Dict[str, Any]:
    """The trial file's fields, from JSON (`sweep export --format json`) or YAML (with PyYAML)."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as error:
        raise ValueError(f"{path}: cannot read it ({error.strerror})") from None
    try:
        document = json.loads(text)
    except ValueError:
        try:
            yaml = importlib.import_module("yaml")
        except ImportError:
            raise ValueError(
                f"{path} is YAML and PyYAML is not installed: `pip install pyyaml`, or export it with "
                "`sweep export … --format json`"
            ) from None
        document = yaml.safe_load(text)
    if not isinstance(document, dict) or not isinstance(document.get("trial"), dict):
        raise ValueError(f"{path} is not a trial file: it needs a `trial:` mapping of config keys")
    return document


def reproduce(path: str, train: Callable[[Trial], Any], echo: bool = True) -> Dict[str, Any]:
    """Calls `train` with the trial file's config, as a function worker would, and returns the
    result: `{"best_epoch", "valid", "test", "history"}` (`{"status": "diverged", …}` otherwise)."""
    document = read_trial_file(path)
    config = dict(document["trial"])
    config["program"] = True
    if "select_metric" not in config:
        raise ValueError(f"{path}: trial.select_metric is missing (files `sweep export` writes have it)")
    printer = _Printer(echo)
    lease = {"trial": "reproduce", "attempt": 1, "lease": "local"}
    trial = Trial(printer, {"lease": lease, "number": 0, "config": config})  # type: ignore[arg-type]
    try:
        finished = trial._finish(train(trial), f"{getattr(train, '__name__', 'train')} for {path}")
    except Diverged as error:
        return {"status": "diverged", "reason": str(error)}
    if finished is None:
        return {"status": "stopped", "reason": printer.failure}
    best, valid, test = finished
    history: List[Dict[str, Any]] = trial._history
    return {"status": "completed", "best_epoch": best, "valid": valid, "test": test, "history": history}


def load_function(spec: str) -> Callable[[Trial], Any]:
    """`module:name` (or `path/to/file.py:name`) as a callable; the current folder is importable."""
    module_name, _, name = spec.rpartition(":")
    if not module_name or not name:
        raise ValueError(f"{spec}: give the function as MODULE:NAME, e.g. train:train or models/bert.py:train")
    sys.path.insert(0, os.getcwd())
    if module_name.endswith(".py"):
        sys.path.insert(0, os.path.dirname(os.path.abspath(module_name)))
        module_name = os.path.splitext(os.path.basename(module_name))[0]
    module = importlib.import_module(module_name)
    function = getattr(module, name, None)
    if not callable(function):
        raise ValueError(f"{spec}: {module_name} has no function {name}")
    return function  # type: ignore[no-any-return]
