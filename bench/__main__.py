"""Every benchmark in one command: ``python -m bench [--quick]`` (or ``bench/run``).

Runs bench.ingest, bench.coverage and bench.aggregates one after another, each as its own
process (so each gets a fresh interpreter and its own throwaway database), shows their output as
it comes, then reads the ratios each printed and ends with one table: figure, measured ratio,
goal, pass/fail. Exits 1 if any goal is missed or any benchmark failed.
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
    pattern: str  # a regex whose first group is the ratio, found in the benchmark's output
    compare: Callable[[float, float], bool]
    goal: float
    sign: str


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
        "single-row pushes: hub / bare endpoint (req/s)",
        rf"^single-row pushes req/s\s.*?\s{RATIO}\s+>= 0\.25\s*$",
        operator.ge,
        0.25,
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
            why = f"exit {code}" if code != 0 else "no ratio in output"
            rows.append((figure.name, "-", goal, f"ERROR ({why})"))
            continue
        ratio = float(found.group(1))
        passed = figure.compare(ratio, figure.goal)
        ok = ok and passed
        rows.append((figure.name, f"{ratio:.3f}", goal, "pass" if passed else "FAIL"))

    spent = ", ".join(f"{m.removeprefix('bench.')} {s:.0f} s" for m, (_, _, s) in outputs.items())
    print(f"\n=== summary{' (--quick)' if quick else ''}: {spent}")
    print(table(rows, ["figure", "measured ratio", "goal", "result"]))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
