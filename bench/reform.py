"""The reform play's wall time on each engine, outlier flagging on and off: what
``tests/simulate/test_reform.py`` waits for, end to end.

A fresh database seeded with the Bình Dương registry, a key of the province, then ``ioc-hub
simulate --scenario reform --json`` as a process (about 5,500 pushes, 28,000 rows). No goal: it
says where an engine's push path costs time at the size of a province.

Run: ``python -m bench.reform [--engine sqlite|postgresql]``.
"""

import argparse
import asyncio
import os
import subprocess
import sys
import time

from bench.common import fresh_database, table


def _cli(url: str, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "ioc_hub", *args],
        env={**os.environ, "IOC_HUB_DATABASE_URL": url, **(env or {})},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


async def play(engine: str, flagging: bool) -> float:
    async with fresh_database(engine, "ioc_hub_bench_reform") as url:
        _cli(url, "seed")
        scopes = ["keys:admin", "observations:write", "registry:write", "coverage:read"]
        key = _cli(url, "keys", "create", "--unit", "74", *(f"--scope={s}" for s in scopes))
        started = time.perf_counter()
        _cli(
            url,
            "simulate",
            "--scenario",
            "reform",
            "--json",
            env={"IOC_HUB_ADMIN_KEY": key, "IOC_HUB_OUTLIER_FLAGGING": str(flagging).lower()},
        )
        return time.perf_counter() - started


async def main(engines: list[str]) -> None:
    rows = []
    for engine in engines:
        on, off = await play(engine, True), await play(engine, False)
        rows.append((engine, f"{on:.0f}", f"{off:.0f}"))
    print(table(rows, ["engine", "flagging on, s", "flagging off, s"]))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=["sqlite", "postgresql"], action="append")
    args = parser.parse_args()
    asyncio.run(main(args.engine or ["sqlite", "postgresql"]))
