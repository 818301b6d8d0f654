#!/usr/bin/env python3
"""Checks for snapcache-compare, run by meson test (tools/meson.build).

  check_output.py status N -- PROGRAM ARGS...
      runs the program and passes when it exits with status N.
  check_output.py run --workloads W --variants V -- PROGRAM ARGS...
      runs PROGRAM ARGS --workloads W --variants V --out TMPDIR, then checks
      that it exited 0 and that TMPDIR/results.csv and TMPDIR/results.json
      parse and hold a result (measured, or skipped with a reason) for every
      requested variant in every requested workload it applies to: cache
      variants in "seed", map variants in each map workload.

      It also checks plots.gp (written even without gnuplot): each variant
      has one colour in every plot, and no two variants of a plot share one.
  check_output.py prints TEXT -- PROGRAM ARGS...
      runs PROGRAM ARGS --out TMPDIR and passes when it exits 0 and its
      standard output contains TEXT.

No timing is asserted: only that the outputs exist and are complete.
"""
import csv
import json
import os
import re
import subprocess
import sys
import tempfile

CACHES = {"query_cache", "locked_query_cache"}


def fail(message):
    print("FAIL: " + message)
    sys.exit(1)


def split_command(args):
    if "--" not in args:
        fail("missing -- before the program")
    i = args.index("--")
    return args[:i], args[i + 1:]


def check_status(options, command):
    if len(options) != 1:
        fail("status takes one expected exit status")
    expected = int(options[0])
    done = subprocess.run(command, capture_output=True, text=True)
    print(done.stdout[-2000:], end="")
    print(done.stderr[-2000:], end="", file=sys.stderr)
    if done.returncode != expected:
        fail(f"exit status {done.returncode}, expected {expected}")
    if expected == 2 and "snapcache-compare:" not in done.stderr:
        fail("no message on stderr for a bad command line")
    print(f"ok: exit status {expected}")


def option(options, name):
    if name not in options or options.index(name) + 1 >= len(options):
        fail(f"run needs {name}")
    return options[options.index(name) + 1].split(",")


def check_run(options, command):
    workloads = option(options, "--workloads")
    variants = option(options, "--variants")
    with tempfile.TemporaryDirectory(prefix="compare-check-") as out:
        full = command + ["--workloads", ",".join(workloads), "--variants", ",".join(variants), "--out", out]
        done = subprocess.run(full, capture_output=True, text=True)
        print(done.stdout[-4000:], end="")
        print(done.stderr[-4000:], end="", file=sys.stderr)
        if done.returncode != 0:
            fail(f"exit status {done.returncode}")
        if "\r" in done.stderr:
            fail("progress indicator written to a stderr that is not a terminal")
        for name in ("results.csv", "results.json"):
            if not os.path.isfile(os.path.join(out, name)):
                fail(f"{name} not written")
        with open(os.path.join(out, "results.csv"), newline="") as f:
            rows = list(csv.DictReader(f))
        with open(os.path.join(out, "results.json")) as f:
            doc = json.load(f)
        plots = os.path.join(out, "plots.gp")
        script = open(plots).read() if os.path.isfile(plots) else ""
    check_colours(script)

    wanted = []  # (workload, variant)
    for w in workloads:
        for v in variants:
            if (w.lower() == "seed") == (v in CACHES):
                wanted.append(("seed" if w.lower() == "seed" else w, v))

    csv_seen = {(r["workload"], r["variant"]) for r in rows if r["section"] in ("seed", "grid")}
    json_cells = []
    if doc.get("seed"):
        json_cells += [("seed", c) for c in doc["seed"]["cells"]]
    if doc.get("maps"):
        json_cells += [(c["workload"], c) for c in doc["maps"]["cells"]]
    json_seen = {(w, c["variant"]) for w, c in json_cells}
    for pair in wanted:
        if pair not in csv_seen:
            fail(f"results.csv has no row for workload {pair[0]}, variant {pair[1]}")
        if pair not in json_seen:
            fail(f"results.json has no cell for workload {pair[0]}, variant {pair[1]}")
    for w, c in json_cells:
        if c["status"] == "ok":
            key = "ops_per_s" if w == "seed" else "mops"
            if len(c[key]["values"]) != c["repeats"] or c["repeats"] < 1:
                fail(f"{w}/{c['variant']}: {key} has no per-repeat values")
        elif c["status"] == "skipped":
            if not c["note"]:
                fail(f"{w}/{c['variant']}: skipped without a reason")
        else:
            fail(f"{w}/{c['variant']}: {c['status']}: {c['note']}")
    available = {v["name"]: v["available"] for v in doc["variants"]}
    for w, v in wanted:
        if v not in available:
            fail(f"variant {v} missing from the variants list")
    if any(w == "seed" for w, _ in wanted) and not doc["lookup_cost"]:
        fail("no lookup cost results")
    print(f"ok: {len(wanted)} workload/variant pairs in results.csv and results.json")


def check_colours(script):
    colour_of = {}
    for plot in script.split("\nplot ")[1:]:
        plot = plot.split("\n\n")[0].split("\nunset")[0].split("\nset ")[0]
        pairs = re.findall(r"lc rgb '([^']+)' title '([^']+)'", plot)
        if not pairs:
            fail("a plot in plots.gp gives no variant a colour: " + plot[:200])
        in_plot = {}
        for colour, variant in pairs:
            if colour_of.setdefault(variant, colour) != colour:
                fail(f"variant {variant} drawn in {colour_of[variant]} and in {colour}")
            if in_plot.setdefault(colour, variant) != variant:
                fail(f"variants {in_plot[colour]} and {variant} share colour {colour} in one plot")
    if script and not colour_of:
        fail("plots.gp names no variant colour")


def check_prints(options, command):
    if len(options) != 1:
        fail("prints takes one expected text")
    with tempfile.TemporaryDirectory(prefix="compare-check-") as out:
        done = subprocess.run(command + ["--out", out], capture_output=True, text=True)
    print(done.stdout[-4000:], end="")
    print(done.stderr[-4000:], end="", file=sys.stderr)
    if done.returncode != 0:
        fail(f"exit status {done.returncode}")
    if options[0] not in done.stdout:
        fail(f"the output does not say {options[0]!r}")
    print(f"ok: printed {options[0]!r}")


def main():
    if len(sys.argv) < 2:
        fail(__doc__)
    options, command = split_command(sys.argv[2:])
    if sys.argv[1] == "status":
        check_status(options, command)
    elif sys.argv[1] == "run":
        check_run(options, command)
    elif sys.argv[1] == "prints":
        check_prints(options, command)
    else:
        fail("unknown mode " + sys.argv[1])


if __name__ == "__main__":
    main()
