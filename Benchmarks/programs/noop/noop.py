"""A program trial that does nothing: one report line, then exit (the overhead benchmark)."""
import os

with open(os.environ["SWEEP_REPORT"], "a") as report:
    report.write('{"epoch":1,"valid_score":0.5}\n')
