"""What one single-row push costs the hub's own process, in instructions, next to the issue's
reference: a FastAPI endpoint doing one asyncpg insert per request (``bench.minimal_app``).

Request rates on this shared machine drift by a third from one minute to the next, which hides
a change of 10–20 % in what a push costs. Instructions do not drift: valgrind's callgrind counts
them, and the same code, data and concurrency give the same count within about 1 %. Each app runs
in its own process under callgrind, in process (ASGI calls, no uvicorn, no network client), with
8 senders pushing one row at a time against PostgreSQL; only the measured round is counted.

What merges work by time, group commit above all, merges differently here than in the real
server. The senders run in the app's own process, so under callgrind pushes queue up behind each
statement. In one run, the hub stored its pushes in about 0.37 commits per push here; it took
0.88 in a uvicorn worker under callgrind, and 0.4–0.8 in ``bench.ingest``'s server at full speed.
A statement costs the hub's process a quarter of a million instructions or so on top of its
pushes' own. So the hub's count here is, if anything, low: it compares code, not what the
server will do.

It also counts what a row of a 1,000-row push costs the hub, as ``bench.ingest`` sends them.

Run: ``python -m bench.push_cost`` (``--pushes N``, ``--batch-pushes N``). Needs valgrind and
PostgreSQL.
"""

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg

from bench.common import asyncpg_dsn, table, throwaway_database
from bench.ingest import (
    BATCH,
    CLIENTS,
    RESET,
    SENDERS,
    Series,
    batches,
    prepare,
    push_body,
    single_row_senders,
)

Asgi = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
TARGETS = {"hub": "the hub", "insert": "one asyncpg insert per request"}


def _scope(body: bytes, token: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/v1/observations",
        "raw_path": b"/api/v1/observations",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"authorization", f"Bearer {token}".encode()),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def _push(app: Asgi, body: bytes, token: str) -> None:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:  # the request is over: wait as for a client that stays connected
            await asyncio.Event().wait()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    statuses: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    await app(_scope(body, token), receive, send)
    if statuses != [200]:
        raise RuntimeError(f"push answered {statuses}")


def _callgrind(on: bool) -> None:
    subprocess.run(
        ["callgrind_control", "--instr=on" if on else "--instr=off", str(os.getpid())],
        check=True,
        capture_output=True,
    )


async def _measure(target: str, url: str, plan: dict[str, Any]) -> None:
    """Inside callgrind: a warm-up round, then the counted round."""
    senders = [[body.encode() for body in rows] for rows in plan["senders"]]
    token = plan["token"]
    os.environ["IOC_HUB_DATABASE_URL"] = url
    os.environ["IOC_HUB_LOG_LEVEL"] = "warning"
    if target == "hub":
        from ioc_hub.main import app
    else:
        from bench.minimal_app import app

    async def sender(rows: list[bytes]) -> None:
        for body in rows:
            await _push(app, body, token)

    async with app.router.lifespan_context(app):
        half = [rows[: len(rows) // 2] for rows in senders]
        rest = [rows[len(rows) // 2 :] for rows in senders]
        await asyncio.gather(*(sender(rows) for rows in half))
        _callgrind(True)
        await asyncio.gather(*(sender(rows) for rows in rest))
        _callgrind(False)


def _instructions(out: Path) -> int:
    totals = re.findall(r"^totals: (\d+)$", out.read_text(), flags=re.MULTILINE)
    if not totals:
        raise RuntimeError(f"no instruction total in {out}")
    return sum(map(int, totals))


async def _count(url: str, target: str, senders: list[list[bytes]], token: str) -> float:
    """Instructions of ``target``'s process per counted push (the second half of each list)."""
    reset = await asyncpg.connect(asyncpg_dsn(url))
    await reset.execute(RESET)  # every count starts from the same empty tables
    await reset.close()
    counted = sum(len(rows) - len(rows) // 2 for rows in senders)
    with tempfile.TemporaryDirectory() as tmp:
        work, out = Path(tmp, "work.json"), Path(tmp, "out.callgrind")
        plan = {"token": token, "senders": [[b.decode() for b in rows] for rows in senders]}
        await asyncio.to_thread(work.write_text, json.dumps(plan))
        started = time.perf_counter()
        await asyncio.to_thread(
            subprocess.run,
            [
                "valgrind",
                "--tool=callgrind",
                "--instr-atstart=no",
                f"--callgrind-out-file={out}",
                sys.executable,
                "-m",
                "bench.push_cost",
                "--measure",
                target,
                url,
                str(work),
            ],
            check=True,
            capture_output=True,
        )
        print(f"{TARGETS[target]}: {time.perf_counter() - started:.0f} s under callgrind")
        return _instructions(out) / counted


def _batch_bodies(series: list[Series], count: int) -> list[list[bytes]]:
    """``count`` pushes of ``BATCH`` rows, dealt to ``CLIENTS`` senders, as bench.ingest sends."""
    bodies = [push_body(batch) for batch in batches(series, BATCH * count)]
    return [bodies[i::CLIENTS] for i in range(CLIENTS)]


async def main(pushes: int, batch_pushes: int) -> None:
    if shutil.which("valgrind") is None:
        sys.exit("bench.push_cost needs valgrind (callgrind)")
    async with throwaway_database("ioc_hub_bench_push_cost") as url:
        series, token = await prepare(url)
        # Twice the pushes: the first half warms up (caches, prepared statements, the pool).
        # Each sender is one unit pushing its own series, a day at a time: enough days for all.
        days = 2 * pushes // SENDERS + 1
        singles = single_row_senders(batches(series, len(series) * days), 2 * pushes)
        hub = await _count(url, "hub", singles, token)
        insert = await _count(url, "insert", singles, token)
        per_row = await _count(url, "hub", _batch_bodies(series, 2 * batch_pushes), token) / BATCH
    print(
        f"instructions of the app's process, in process on PostgreSQL, counted after as many "
        f"pushes to warm up: {pushes} single-row pushes from {SENDERS} senders; "
        f"{batch_pushes} pushes of {BATCH} rows from {CLIENTS} senders"
    )
    print(
        table(
            [
                (
                    "single-row push: hub / one-insert endpoint",
                    f"{hub:,.0f}",
                    f"{insert:,.0f}",
                    f"{hub / insert:.2f}",
                ),
                ("a row of a 1,000-row push, hub", f"{per_row:,.0f}", "", ""),
            ],
            ["figure", "hub", "one insert", "ratio"],
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pushes", type=int, default=1600, help="single-row pushes counted")
    parser.add_argument("--batch-pushes", type=int, default=8, help="1,000-row pushes counted")
    parser.add_argument("--measure", nargs=3, metavar=("TARGET", "URL", "WORK"), help="internal")
    args = parser.parse_args()
    if args.measure:
        target, url, work = args.measure
        asyncio.run(_measure(target, url, json.loads(Path(work).read_text())))
    else:
        asyncio.run(main(args.pushes, args.batch_pushes))
