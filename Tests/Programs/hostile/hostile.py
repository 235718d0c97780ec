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
elif mode in ("fifo", "folder", "zero_link"):
    # The report file replaced by something the worker must not block on or read forever.
    write(good)
    time.sleep(0.2)
    os.remove(path)
    if mode == "fifo":
        os.mkfifo(path)
    elif mode == "folder":
        os.mkdir(path)
    else:
        os.symlink("/dev/zero", path)
    time.sleep(30)
elif mode == "chatty":
    # 64 MiB on each of stdout and stderr, then a normal report; the worker keeps a bounded log.
    chunk = ("z" * 1023 + "\n").encode()
    sys.stdout.buffer.write(b"first line of stdout\n")
    sys.stderr.buffer.write(b"first line of stderr\n")
    for _ in range(64 * 1024):
        sys.stdout.buffer.write(chunk)
        sys.stderr.buffer.write(chunk)
    sys.stdout.buffer.write(b"last line of stdout\n")
    sys.stderr.buffer.write(b"last line of stderr\n")
    sys.stdout.flush()
    sys.stderr.flush()
    write(good)
    sys.exit(3)
sys.exit(0)
