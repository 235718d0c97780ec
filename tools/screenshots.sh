#!/usr/bin/env bash
# The README's dashboard screenshots (1280×800 PNGs in docs/screenshots), taken by headless
# Chromium through tools/browser.py from `sweep dashboard`: each page of the first store and, when
# two or more stores are given, the page comparing them.
#
#   bash tools/screenshots.sh out/demo/quickstart.db [another.db …]
set -euo pipefail
bin=${BIN:-.build/release}
shots=${SHOTS:-docs/screenshots}
[ $# -ge 1 ] || { echo "usage: tools/screenshots.sh STORE.db [STORE.db …]" >&2; exit 2; }
mkdir -p "$shots"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT

# serve NAME STORE…: starts `sweep dashboard` on a free port; sets $url to its address.
serve() {
    local name=$1; shift
    local args=(); for db in "$@"; do args+=(--db "$db"); done
    "$bin/sweep" dashboard "${args[@]}" --bind 127.0.0.1:0 >/dev/null 2>"$work/$name.log" &
    for _ in $(seq 100); do grep -q " at http" "$work/$name.log" && break; sleep 0.1; done
    url=$(sed -n 's/.* at \(http[^ ]*\)/\1/p' "$work/$name.log" | head -1)
    url=${url%/}
}

serve one "$1"
one=$url
best=$(curl -s "$one/api/leaderboard?top=1" | python3 -c 'import json, sys; print(json.load(sys.stdin)["rows"][0]["trial"])')
pages="overview=$one/ leaderboard=$one/leaderboard trial=$one/trial/$best compare=$one/compare parameters=$one/parameters"
if [ $# -ge 2 ]; then serve several "$@"; pages="$pages stores=$url/"; fi
python3 - "$shots" $pages > "$work/steps.json" <<'PY'
import json, sys
shots = sys.argv[1]
steps = []
for page in sys.argv[2:]:
    name, address = page.split("=", 1)
    steps += [{"open": address}, {"screenshot": f"{shots}/{name}.png"}]
print(json.dumps(steps))
PY
python3 tools/browser.py "$work/steps.json" | python3 -c '
import json, sys
report = json.load(sys.stdin)
problems = report["failed"] or report["console_errors"] or report["exceptions"]
print("screenshots taken" if not problems else f"problems: {problems}")
sys.exit(1 if problems else 0)'
