#!/bin/bash
# Where a no-op trial's CPU goes, thread by thread, while `sweep bench coordinator` serves: samples
# every thread's user + system time (/proc/PID/task/TID/stat) and the machine's idle share
# (/proc/stat) over a few seconds in the middle of the run, and divides by the run's trials/s.
#
#     Benchmarks/thread_cpu.sh [SWEEP_BINARY] [WORKERS] [TRIALS] [SECONDS]
set -euo pipefail
sweep=${1:-.build/release/sweep}
workers=${2:-16}
trials=${3:-60000}
window=${4:-4}
result=$(mktemp) errors=$(mktemp)
trap 'rm -f "$result" "$errors"' EXIT
# Says why the bench is gone (its own error, or a run too short for the window) and stops.
ended() { cat "$errors" >&2; echo "the bench ended $1: give it more trials, or see its error above" >&2; exit 1; }

"$sweep" bench coordinator --workers "$workers" --trials "$trials" --json > "$result" 2>"$errors" &
bench=$!
until [ "$(pgrep -f " worker --connect tcp" -P "$bench" | wc -l)" -ge "$workers" ]; do
    kill -0 "$bench" 2>/dev/null || ended "before its $workers workers were up"
    sleep 0.1
done
sleep 1.5  # past the workers' start-up
kill -0 "$bench" 2>/dev/null || ended "before the window opened"

# One line per thread: class, CPU ticks so far; then the clock. One Python process reads every file
# in a few milliseconds, so the window is the same for every thread and nothing else is charged.
snapshot() {
    python3 - "$bench" $(pgrep -f " worker --connect tcp" -P "$bench") <<'PY'
import glob, sys, time
def threads(pid, role):
    for task in glob.glob(f"/proc/{pid}/task/*"):
        try:
            name = open(f"{task}/comm").read().strip()
            fields = open(f"{task}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # a thread that ended meanwhile
        print(f"{role}:{name} {int(fields[11]) + int(fields[12])}")  # utime + stime
threads(sys.argv[1], "coordinator")
for worker in sys.argv[2:]:
    threads(worker, "worker")
# Time no thread is charged with: interrupts, softirqs (loopback TCP is delivered there), the
# hypervisor's steal, and idle.
cpu = open("/proc/stat").readline().split()
print("machine:irq+softirq", int(cpu[6]) + int(cpu[7]))
print("machine:steal", int(cpu[8]))
print("machine:idle", int(cpu[4]) + int(cpu[5]))
print("clock", time.monotonic())
PY
}
before=$(snapshot)
sleep "$window"
after=$(snapshot)
kill -0 "$bench" 2>/dev/null || ended "inside the window"
wait "$bench"

python3 - "$before" "$after" "$result" "$(getconf CLK_TCK)" <<'PY'
import collections, json, sys
before, after, result, hertz = sys.argv[1], sys.argv[2], json.load(open(sys.argv[3])), float(sys.argv[4])
def totals(text):
    sums, clock = collections.Counter(), 0.0
    for line in text.splitlines():
        name, value = line.rsplit(" ", 1)
        if name == "clock":
            clock = float(value)
        else:
            sums[name] += int(value)
    return sums, clock
(first, start), (last, end) = totals(before), totals(after)
delta, window = last - first, end - start
rate = result["trials_per_second"]
print(f"{result['workers']} workers, {rate:.0f} trials/s (p50 {result['assign_latency_ms']['p50']:.2f} ms, "
      f"p99 {result['assign_latency_ms']['p99']:.2f} ms); {window:.2f} s window")
print(f"{'thread (all of that name)':40} {'cores':>6} {'µs per trial':>13}")
idle = delta.pop("machine:idle", 0) / hertz / window
total = 0.0
for name, ticks in sorted(delta.items(), key=lambda item: -item[1]):
    cores = ticks / hertz / window
    if cores < 0.005:
        continue
    total += cores
    print(f"{name:40} {cores:6.2f} {cores / rate * 1e6:13.0f}")
print(f"{'total busy':40} {total:6.2f} {total / rate * 1e6:13.0f}")
print(f"{'machine:idle':40} {idle:6.2f}")
PY
