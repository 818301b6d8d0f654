#!/usr/bin/env python3
"""Proves a stress suite has teeth: runs it with a planted bug over many seeds
and asserts that a named detector catches the bug in enough of them.

With --gtest-filter the detector is a schedule test (a GoogleTest binary that
parks threads at chosen steps): each seed is one run of that test, with the
seed as GoogleTest's random seed.

Each run must fail (non-zero exit) with the detector's message in its output;
a run that fails for another reason does not count as caught. Prints how long
detection took, so docs/testing.md can record it.
"""
import argparse
import os
import re
import subprocess
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--suite", required=True, help="stress program to run")
    parser.add_argument("--plant", required=True, help="planted bug (SNAPCACHE_PLANT)")
    parser.add_argument("--detector", required=True,
                        help="regular expression the detector prints")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--need", type=int, default=19, help="seeds that must be caught")
    parser.add_argument("--seconds", type=float, default=3.0, help="time box per seed")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--extra", default="", help="extra arguments for the suite")
    parser.add_argument("--gtest-filter", default="",
                        help="run this GoogleTest test of the suite binary instead of a stress run")
    args = parser.parse_args()

    env = dict(os.environ)
    env["SNAPCACHE_PLANT"] = args.plant
    env.setdefault("SNAPCACHE_PERTURB", "20")
    # Stop at the first report: detection time is what we measure.
    env["TSAN_OPTIONS"] = "halt_on_error=1 " + env.get("TSAN_OPTIONS", "")
    env["ASAN_OPTIONS"] = "halt_on_error=1 " + env.get("ASAN_OPTIONS", "")
    detector = re.compile(args.detector)

    caught = 0
    times = []
    for seed in range(1, args.seeds + 1):
        if args.gtest_filter:
            command = [args.suite, f"--gtest_filter={args.gtest_filter}", f"--gtest_random_seed={seed}"]
        else:
            command = [args.suite, "--threads", str(args.threads), "--seconds",
                       str(args.seconds), "--seed", str(seed)] + args.extra.split()
        start = time.monotonic()
        try:
            result = subprocess.run(command, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, errors="replace",
                                    timeout=args.seconds * 5 + 15)
        except subprocess.TimeoutExpired as hung:
            # A planted bug may corrupt a structure into a loop: not caught
            # (unless the detector spoke first). A healthy run ends within
            # its time box plus a few seconds of checks, even under TSan; a
            # hung one was waited on for 90 s, which CI's budget cannot spare.
            output = hung.stdout or ""
            if isinstance(output, bytes):
                output = output.decode(errors="replace")
            result = subprocess.CompletedProcess(command, -1, output)
        elapsed = time.monotonic() - start
        match = detector.search(result.stdout)
        if result.returncode != 0 and match:
            caught += 1
            times.append(elapsed)
            print(f"seed {seed:2}: caught by '{match.group(0)}' after {elapsed:.2f}s")
        else:
            print(f"seed {seed:2}: NOT caught (exit {result.returncode}) in {elapsed:.2f}s")
            lines = result.stdout.strip().splitlines()
            # A sanitizer's report ends in its shadow legend: its first line
            # says what it saw, which the tail alone would hide.
            reports = [line for line in lines if "ERROR: " in line and "Sanitizer" in line]
            for line in reports[:1] + lines[-5:]:
                print(f"    | {line}")

    slowest = max(times) if times else float("nan")
    print(f"{os.path.basename(args.suite)} with {args.plant}: caught in {caught} of "
          f"{args.seeds} seeds (need {args.need}); slowest detection {slowest:.2f}s")
    ok = caught >= args.need
    print(f"{1 if ok else 0} passed, {0 if ok else 1} failed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
