"""Recovery times of the fault scenarios (tests/faults), run on private PostgreSQL and Redis instances.

Runs the fault tests with their output shown and collects the `RECOVERY` line
each scenario prints: how long after the fault every run was terminal, or the
standby beat fired. The pass/fail verdicts are the tests' own assertions (no
run lost or run twice, no 5xx, no request over 5 s, no process left).
There is no raw baseline: bare Celery and django-celery-beat do not recover
from these faults by themselves (see the issue notes), so there is nothing to
put side by side.

    .venv/bin/python bench/faults.py [-k EXPRESSION]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINE = re.compile(r"RECOVERY (\S+) (.*)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", default="", help="pytest -k expression to run some scenarios only")
    options = parser.parse_args()
    command = [sys.executable, "-m", "pytest", "tests/faults", "-s", "-q", "-p", "no:cacheprovider"]
    if options.k:
        command += ["-k", options.k]
    began = time.monotonic()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.monotonic() - began
    figures = {}
    for match in LINE.finditer(result.stdout):
        figures[match.group(1)] = dict(item.split("=", 1) for item in match.group(2).split())
    summary = [line for line in result.stdout.splitlines() if " passed" in line or " failed" in line]
    print(f"{'scenario':<30} figures")
    for scenario, values in figures.items():
        print(f"{scenario:<30} " + ", ".join(f"{key} {value}" for key, value in values.items()))
    print(f"tests: {summary[-1] if summary else 'no summary'} ({elapsed:.0f} s)")
    if result.returncode:
        print(result.stdout[-4000:], result.stderr[-2000:], sep="\n")
    print("RESULT " + json.dumps({"scenarios": figures, "passed": result.returncode == 0}))
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
