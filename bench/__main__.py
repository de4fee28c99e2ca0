"""Every benchmark in one command: ``python -m bench [--quick]`` (or ``bench/run``).

Runs bench.ingest, bench.coverage, bench.aggregates, bench.alerts, bench.dhis2, bench.burst and
bench.webhooks one after another, each as its own process (so each gets a fresh interpreter and
its own throwaway database), shows their output as it comes, then reads the figures each printed
and ends with one table: figure, measured, goal, pass/fail. Exits 1 if any goal is missed or any
benchmark failed.
"""

import argparse
import operator
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from bench.common import table


@dataclass(frozen=True)
class Figure:
    module: str
    name: str
    pattern: str  # a regex whose first group is the figure, found in the benchmark's output
    compare: Callable[[float, float], bool]
    goal: float
    sign: str
    shown: str = ".3f"  # how the measured figure is printed


RATIO = r"(\d+(?:\.\d+)?)"
FIGURES = [
    Figure(
        "bench.ingest",
        "batch ingest: hub / raw asyncpg upsert (rows/s)",
        rf"^batch ingest rows/s\s.*?\s{RATIO}\s+>= 0\.50\s*$",
        operator.ge,
        0.50,
        ">=",
    ),
    Figure(
        "bench.ingest",
        "ingest: outlier flagging on / off (rows/s, history through the hub)",
        rf"^ingest rows/s, flagging on / off, history pushed through the hub\s.*?"
        rf"\s{RATIO}\s+>= 0\.80\s*$",
        operator.ge,
        0.80,
        ">=",
    ),
    Figure(
        "bench.coverage",
        "coverage latency: large / small registry",
        rf"^coverage latency ratio, .*?: {RATIO} \(goal",
        operator.le,
        1.5,
        "<=",
    ),
    Figure(
        "bench.coverage",
        "coverage as of a day: reformed / unchanged registry, worst day",
        rf"^coverage as of a day, reformed / unchanged registry, worst: {RATIO} \(goal",
        operator.le,
        1.5,
        "<=",
    ),
    Figure(
        "bench.aggregates",
        "aggregates: hub / best hand-written SQL",
        rf"^hub / best SQL at .*?: {RATIO} \(goal",
        operator.le,
        2.0,
        "<=",
    ),
    Figure(
        "bench.aggregates",
        "aggregates: hub at large / hub at small",
        rf"^hub at .*? / hub at .*?: {RATIO} \(goal",
        operator.le,
        3.0,
        "<=",
    ),
    Figure(
        "bench.alerts",
        "alert evaluator: one pass over every rule, s",
        rf"^alert pass, worst of the three: {RATIO} s \(goal",
        operator.le,
        1.0,
        "<=",
    ),
    Figure(
        "bench.dhis2",
        "DHIS2 dataValueSets post / native push (rows/s)",
        rf"^dataValueSets post rows/s\s.*?\s{RATIO}\s+>= 0\.70\s*$",
        operator.ge,
        0.70,
        ">=",
    ),
    Figure(
        "bench.burst",
        "deadline burst: p99 ms, PostgreSQL, 2 workers",
        rf"^burst p99 ms, PostgreSQL, .*?\s{RATIO}\s+<= 100\s+(?:pass|FAIL)\s*$",
        operator.le,
        100,
        "<=",
        ".1f",
    ),
    Figure(
        "bench.burst",
        "deadline burst: p99 ms, SQLite, one process",
        rf"^burst p99 ms, SQLite, .*?\s{RATIO}\s+<= 250\s+(?:pass|FAIL)\s*$",
        operator.le,
        250,
        "<=",
        ".1f",
    ),
    Figure(
        "bench.burst",
        "deadline burst: errors, PostgreSQL",
        r"^burst errors, PostgreSQL\s+(\d+)\s+= 0\s+(?:pass|FAIL)\s*$",
        operator.le,
        0,
        "=",
        ".0f",
    ),
    Figure(
        "bench.burst",
        "deadline burst: errors, SQLite",
        r"^burst errors, SQLite\s+(\d+)\s+= 0\s+(?:pass|FAIL)\s*$",
        operator.le,
        0,
        "=",
        ".0f",
    ),
    Figure(
        "bench.webhooks",
        "webhook notifications/s, one receiver",
        rf"^webhook notifications/s, one receiver\s+{RATIO}\s+>= 500\s+(?:pass|FAIL)\s*$",
        operator.ge,
        500,
        ">=",
        ".0f",
    ),
]


def run(module: str, quick: bool) -> tuple[int, str, float]:
    """Run one benchmark, echoing its output line by line; its exit code, output and seconds."""
    print(f"\n=== python -m {module}{' --quick' if quick else ''}", flush=True)
    started = time.monotonic()
    argv = [sys.executable, "-m", module, *(["--quick"] if quick else [])]
    lines: list[str] = []
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            print(line, end="", flush=True)
            lines.append(line)
    return process.returncode, "".join(lines), time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes for a smoke run")
    quick = parser.parse_args().quick

    outputs: dict[str, tuple[int, str, float]] = {}
    for module in dict.fromkeys(f.module for f in FIGURES):
        outputs[module] = run(module, quick)

    rows = []
    ok = True
    for figure in FIGURES:
        code, output, _ = outputs[figure.module]
        found = re.search(figure.pattern, output, re.MULTILINE)
        goal = f"{figure.sign} {figure.goal:g}"
        if code != 0 or found is None:
            ok = False
            why = f"exit {code}" if code != 0 else "no figure in output"
            rows.append((figure.name, "-", goal, f"ERROR ({why})"))
            continue
        measured = float(found.group(1))
        passed = figure.compare(measured, figure.goal)
        ok = ok and passed
        shown = format(measured, figure.shown)
        rows.append((figure.name, shown, goal, "pass" if passed else "FAIL"))

    spent = ", ".join(f"{m.removeprefix('bench.')} {s:.0f} s" for m, (_, _, s) in outputs.items())
    print(f"\n=== summary{' (--quick)' if quick else ''}: {spent}")
    print(table(rows, ["figure", "measured", "goal", "result"]))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
