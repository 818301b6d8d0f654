#!/usr/bin/env python3
"""Prints 'passed failed skipped' for a meson testlog.json (one JSON object a line)."""
import json
import sys

PASSED = {"OK", "EXPECTEDFAIL"}
SKIPPED = {"SKIP"}

passed = failed = skipped = 0
try:
    with open(sys.argv[1], encoding="utf-8") as log:
        for line in log:
            if not line.strip():
                continue
            result = json.loads(line).get("result")
            if result in PASSED:
                passed += 1
            elif result in SKIPPED:
                skipped += 1
            else:
                failed += 1
except FileNotFoundError:
    failed = 1  # no log: the test step itself did not run
print(passed, failed, skipped)
