#!/usr/bin/env bash
# `make demo`: the user journey on the embedded synthetic dataset, in one command:
# plan the quickstart sweep, launch a coordinator with 2 local worker processes (real ZeroMQ
# over loopback), rank the 12 trials, export the best config and show the one command that
# reproduces it.
set -euo pipefail
bin=${1:-.build/release}
out=out/demo
mkdir -p "$out"
rm -f "$out"/quickstart.db*    # a fresh, real run every time

echo "== plan"
"$bin/sweep" plan sweeps/quickstart.yaml
echo
echo "== launch: a coordinator and 2 local workers (the synthetic dataset is generated on first use)"
"$bin/sweep" launch sweeps/quickstart.yaml --db "$out/quickstart.db" --bind 'tcp://127.0.0.1:*' --local-workers 2
echo
echo "== status"
"$bin/sweep" status --db "$out/quickstart.db"
echo
echo "== export the best config"
"$bin/sweep" export --db "$out/quickstart.db" --best -o "$out/best.yaml"
echo "exported to $out/best.yaml:"
cat "$out/best.yaml"
echo
echo "reproduce it with:  $bin/sweep train --config $out/best.yaml"
echo "watch it in a browser with:  $bin/sweep dashboard --db $out/quickstart.db   (then open http://127.0.0.1:8080/)"
