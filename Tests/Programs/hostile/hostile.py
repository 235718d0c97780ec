"""Programs that misbehave, for the worker's defences. --mode picks one."""
import argparse
import json
import os
import signal
import subprocess
import sys
import time

parser = argparse.ArgumentParser()
parser.add_argument("--mode", required=True)
parser.add_argument("--seed", type=int, default=0)
arguments = parser.parse_args()
mode = arguments.mode
path = os.environ["SWEEP_REPORT"]


def write(text):
    with open(path, "a") as f:
        f.write(text)


good = json.dumps({"epoch": 1, "valid_accuracy": 0.5}) + "\n"
if mode == "huge":
    write(good + '{"epoch": 2, "valid_accuracy": 0.5, "pad": "' + "x" * (1 << 20) + '"}\n')
elif mode == "not_json":
    write(good + "epoch 2: accuracy 0.5\n")
elif mode == "nan":
    write(good + '{"epoch": 2, "valid_accuracy": NaN}\n')
elif mode == "far_epoch":
    write(good + json.dumps({"epoch": 10**9, "valid_accuracy": 0.9}) + "\n")
elif mode == "no_metric":
    write(json.dumps({"epoch": 1, "valid_other": 0.9}) + "\n")
elif mode == "flood":
    with open(path, "a") as f:
        for epoch in range(1, 10**7):
            f.write(json.dumps({"epoch": epoch, "valid_accuracy": 0.5, "pad": "y" * 1000}) + "\n")
elif mode == "ignore_term":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    write(good)
    while True:
        time.sleep(0.1)
elif mode == "detach":
    # A grandchild in a session of its own, outside the program's process group.
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", f"detached-sleeper-{arguments.seed}"], start_new_session=True)
    write(good)
elif mode == "silent":
    pass
sys.exit(0)
