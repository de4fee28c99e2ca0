"""This tree's hub against another commit's, in one run: is a change faster?

On this machine request rates drift by a third within minutes, so a figure from a run before a
change says little about the change. Here both hubs run side by side, on one database, and take
turns — single-row pushes as in ``bench.ingest``, then 1,000-row batches — for several rounds,
so drift hits both alike. The other commit is checked out in a temporary git worktree and serves
from there; it must share this tree's schema (the database is migrated by this tree).

Run: ``python -m bench.compare REV`` (``--rounds N``, ``--quick``), e.g. ``python -m bench.compare
HEAD~1``. Needs PostgreSQL and git.
"""

import argparse
import asyncio
import contextlib
import statistics
import subprocess
import tempfile
from collections.abc import Awaitable, Iterator
from pathlib import Path

import asyncpg

from bench.common import asyncpg_dsn, free_port, server, table, throwaway_database
from bench.ingest import (
    RESET,
    WORKERS,
    batches,
    hub_cmd,
    prepare,
    run_hub,
    run_single,
    single_row_senders,
)

ROOT = Path(__file__).resolve().parent.parent
SINGLE, BATCH_ROWS = "single-row pushes req/s", "batch ingest rows/s"


@contextlib.contextmanager
def worktree(rev: str) -> Iterator[Path]:
    """``rev`` checked out in a temporary git worktree, removed afterwards."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "other")
        git = ["git", "-C", str(ROOT), "worktree"]
        subprocess.run([*git, "add", "--detach", str(path), rev], check=True, capture_output=True)
        try:
            yield path
        finally:
            subprocess.run([*git, "remove", "--force", str(path)], check=False)


async def _compare(
    rev: str, other: Path, rounds: int, batch_rows: int, single_requests: int
) -> None:
    async with throwaway_database("ioc_hub_bench_compare") as url:
        series, token = await prepare(url)
        work = batches(series, batch_rows)
        senders = single_row_senders(work, single_requests)
        env = {"IOC_HUB_DATABASE_URL": url, "IOC_HUB_LOG_LEVEL": "warning"}
        ports = {"this tree": free_port(), rev: free_port()}
        reset = await asyncpg.connect(asyncpg_dsn(url))
        rates: dict[tuple[str, str], list[float]] = {}

        async def turn(figure: str, side: str, run: Awaitable[float]) -> None:
            await reset.execute(RESET)  # ``run`` starts only once awaited
            rates.setdefault((figure, side), []).append(await run)

        # Each side runs from its own tree: ``python -m`` puts the working directory first on
        # the import path, for the server and for its workers.
        with (
            server(hub_cmd(ports["this tree"]), ports["this tree"], env, cwd=ROOT),
            server(hub_cmd(ports[rev]), ports[rev], env, cwd=other),
        ):
            for _ in range(rounds):
                for side, port in ports.items():
                    await turn(SINGLE, side, run_single(port, token, senders))
                for side, port in ports.items():
                    await turn(BATCH_ROWS, side, run_hub(port, token, work))
        await reset.close()

    print(
        f"this tree vs {rev}, {WORKERS} uvicorn workers each, {rounds} alternating rounds; "
        f"{single_requests} single-row pushes, {len(work)} batches of 1,000 rows"
    )
    lines = []
    for figure in (SINGLE, BATCH_ROWS):
        mine, theirs = rates[(figure, "this tree")], rates[(figure, rev)]
        lines.append(
            (
                figure,
                f"{max(mine):,.0f}",
                f"{max(theirs):,.0f}",
                f"{max(mine) / max(theirs):.2f}",
                f"{statistics.mean(mine) / statistics.mean(theirs):.2f}",
            )
        )
    print(table(lines, ["figure", "this tree (best)", f"{rev} (best)", "ratio", "ratio of means"]))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rev", help="the commit to compare with (e.g. HEAD~1, main)")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds")
    parser.add_argument("--quick", action="store_true", help="smaller sizes for a smoke run")
    args = parser.parse_args()
    batch_rows, single_requests = (40_000, 1_000) if args.quick else (100_000, 6_000)
    with worktree(args.rev) as other:
        asyncio.run(_compare(args.rev, other, args.rounds, batch_rows, single_requests))
