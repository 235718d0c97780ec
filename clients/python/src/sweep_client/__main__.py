"""`python3 -m sweep_client reproduce FILE MODULE:NAME`: an exported trial, called here."""

import argparse
import json
import sys

from .reproduce import load_function, reproduce


def main() -> int:
    parser = argparse.ArgumentParser(prog="python3 -m sweep_client", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("reproduce", help="call the function with an exported trial file's config")
    run.add_argument("file", help="the trial file (`sweep export`)")
    run.add_argument("function", help="MODULE:NAME or path/to/file.py:NAME, the function the sweep's trials ran")
    run.add_argument("--json-out", help="write the result as JSON to this file")
    arguments = parser.parse_args()
    try:
        result = reproduce(arguments.file, load_function(arguments.function))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if result["status"] != "completed":
        print(f"{result['status']}: {result.get('reason')}", file=sys.stderr)
        return 1
    metrics = " ".join(f"valid_{key}={value:.6g}" for key, value in sorted(result["valid"].items()))
    print(f"best epoch {result['best_epoch']}: {metrics}")
    if arguments.json_out:
        with open(arguments.json_out, "w", encoding="utf-8") as handle:
            json.dump(result, handle, indent=2, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
