#!/usr/bin/env bash
# One coordinator against 100, 1,000 and 10,000 simulated workers (sweep bench coordinator
# --simulated-workers), with trials answered at once (the coordinator is the bottleneck) and with
# trials that last (it is not), then 10,000 again with the dashboard polled beside it. Prints one
# Markdown row per run: docs/BENCHMARKS.md "One coordinator, thousands of workers".
set -euo pipefail
sweep=${SWEEP:-.build/release/sweep}
row() {  # label, then the bench's arguments
    local label=$1; shift
    "$sweep" bench coordinator "$@" --json 2>/dev/null | python3 -c '
import json, statistics, sys
d = json.load(sys.stdin)
latency, detection = d["assign_latency_ms"], d["dead_worker_detection_s"]
pages = [p for p in d["dashboard_pages_ms"] if p >= 0]
print("| %s | %d | %.0f | %.2f | %.0f | %.1f / %.0f | %.1f | %s | %.0f | %s |" % (
    sys.argv[1], d["trials"], d["trials_per_second"], d["coordinator_cpu_s_per_s"], d["coordinator_rss_mb"]["peak"],
    latency["p50"], latency["p99"], d["heartbeat_us"],
    "%.2f" % statistics.median(detection) if detection else "–", d["store_mb"],
    "%.0f" % statistics.median(pages) if pages else "–"))' "$label"
}
echo "| workers, trial length | trials | trials/s | coordinator CPU s/s | RSS MB | assign p50 / p99 ms | heartbeat µs | dead worker declared after s (median) | store MB | leaderboard page ms |"
echo "|---|---|---|---|---|---|---|---|---|---|"
row "100, at once"          --simulated-workers 100   --trials 20000
row "1,000, at once"        --simulated-workers 1000  --trials 20000 --ramp-seconds 2
row "10,000, at once"       --simulated-workers 10000 --trials 50000 --ramp-seconds 10
row "100, 10 s × 5 epochs"   --simulated-workers 100   --trials 300   --trial-seconds 10 --epochs 5 --kill 5  --kill-after 15
row "1,000, 30 s × 5 epochs" --simulated-workers 1000  --trials 3000  --trial-seconds 30 --epochs 5 --ramp-seconds 5  --kill 10 --kill-after 40
row "10,000, 60 s × 5 epochs" --simulated-workers 10000 --trials 20000 --trial-seconds 60 --epochs 5 --ramp-seconds 20 --kill 20 --kill-after 45
row "10,000, 60 s × 5 epochs, dashboard" --simulated-workers 10000 --trials 20000 --trial-seconds 60 --epochs 5 --ramp-seconds 20 --kill 20 --kill-after 45 --dashboard
