"""Mutation testing of the core modules with mutmut: how many small changes to the code the tests catch.

The modules and the tests that pin them are `[tool.mutmut]` in pyproject.toml (the case workflow
and deadlines, thresholds and hysteresis, the point-in-cell lookup, the gateway's MQTT framing
and ack path). mutmut copies the packages into `mutants/` (ignored by git), makes every mutant
of those modules (an operator, a constant, a string, an argument changed or dropped) and runs,
for each, the listed tests that reach the mutated function. A mutant is killed when a test
fails, survives when all pass, and times out when the tests hang on it (counted as caught, as
mutmut does). The run stops at `--budget` seconds; mutmut keeps its results in `mutants/`, so
the next run goes on from there and tests again only the functions that changed. `--fresh`
starts over. The baseline, timed in the same run, is one plain run of the same tests.

    python -m bench mutation [--budget 1800] [--max-children N] [--fresh] [--json]

Afterwards `mutmut results` lists the survivors and `mutmut show NAME` shows one.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

from bench.common import emit

ROOT = Path(__file__).resolve().parents[1]
MUTANTS = ROOT / "mutants"
STATUSES = ("killed", "survived", "timeout", "no tests", "not checked")


def settings() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]


def mutmut(*args: str) -> list[str]:
    return [sys.executable, "-c", "from mutmut.__main__ import cli; cli()", *args]


def baseline_seconds(tests: list[str]) -> float:
    """One plain run of the tests mutmut runs."""
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    return time.monotonic() - started


def run_mutmut(budget: float, max_children: int) -> tuple[float, bool]:
    """(seconds, finished): mutmut run, stopped with its process group at `budget`."""
    MUTANTS.mkdir(exist_ok=True)
    started = time.monotonic()
    with open(MUTANTS / "bench-mutation.log", "wb") as log:
        proc = subprocess.Popen(mutmut("run", "--max-children", str(max_children)), cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            proc.wait(budget)
            finished = True
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            finished = False
    if finished and proc.returncode != 0:
        raise SystemExit(f"mutmut run failed (exit {proc.returncode}); see {MUTANTS / 'bench-mutation.log'}")
    return time.monotonic() - started, finished


def counts_by_module(lines: list[str]) -> dict[str, collections.Counter]:
    """`mutmut results --all true` lines (`    twin.cases.x_transition__mutmut_12: killed`) by module."""
    out: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for line in lines:
        name, sep, status = line.strip().rpartition(": ")
        if sep:
            module = re.split(r"\.x[_ǁ]", name, maxsplit=1)[0]
            out[module][status if status in STATUSES else "other"] += 1
    return out


def score(c: collections.Counter) -> float | None:
    tested = c["killed"] + c["timeout"] + c["survived"]
    return round((c["killed"] + c["timeout"]) / tested, 3) if tested else None


def measure(budget: float, max_children: int, fresh: bool) -> dict:
    config = settings()
    if fresh:
        shutil.rmtree(MUTANTS, ignore_errors=True)
    base = baseline_seconds(config["pytest_add_cli_args_test_selection"])
    seconds, finished = run_mutmut(budget, max_children)
    listing = subprocess.run(mutmut("results", "--all", "true"), cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.splitlines()
    modules = counts_by_module(listing)
    total = sum(modules.values(), collections.Counter())
    return {
        "modules": {m: {**{s.replace(" ", "_"): c[s] for s in (*STATUSES, "other")}, "score": score(c)}
                    for m, c in sorted(modules.items())},
        "total": {**{s.replace(" ", "_"): total[s] for s in (*STATUSES, "other")}, "score": score(total)},
        "finished": finished,
        "seconds": round(seconds, 1),
        "baseline_tests_seconds": round(base, 1),
        "max_children": max_children,
        "mutated": config["only_mutate"],
    }


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench mutation", description=__doc__.splitlines()[0])
    p.add_argument("--budget", type=float, default=1800.0, help="stop mutmut after S seconds (default 1800)")
    p.add_argument("--max-children", type=int, default=os.cpu_count() or 1, help="mutants tested at once")
    p.add_argument("--fresh", action="store_true", help="forget earlier results (mutants/) and test every mutant")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    r = measure(args.budget, args.max_children, args.fresh)
    lines = [f"{'module':34} {'killed':>7} {'survived':>8} {'timeout':>7} {'no tests':>8} {'unchecked':>9} {'score':>6}"]
    for module, c in [*r["modules"].items(), ("total", r["total"])]:
        shown = "-" if c["score"] is None else f"{c['score']:.1%}"
        lines.append(f"{module:34} {c['killed']:7} {c['survived']:8} {c['timeout']:7} {c['no_tests']:8} "
                     f"{c['not_checked']:9} {shown:>6}")
    lines.append(f"mutmut: {r['seconds']} s with {r['max_children']} at once"
                 f"{'' if r['finished'] else ' (stopped at the budget; run again to go on)'}; "
                 f"baseline: the same tests once, {r['baseline_tests_seconds']} s")
    emit(r, args.json, lines)
    return 0
