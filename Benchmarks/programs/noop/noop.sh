#!/bin/sh
# A program trial that does nothing: one report line, then exit (the overhead benchmark).
printf '{"epoch":1,"valid_score":0.5}\n' >> "$SWEEP_REPORT"
