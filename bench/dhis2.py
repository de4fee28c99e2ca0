"""The DHIS2 door's cost: a 10,000-row ``POST /api/dataValueSets`` against the same rows as one
native push, through the same running hub, as a ratio measured in one run. Goal: the DHIS2 post
≥ 0.7 × the native push's rows/s.

Both sides store the same 10,000 new observations into an emptied database, alternately, over
several rounds; each keeps its best. The DHIS2 rows are written as DHIS2 writes them (values as
strings, DHIS2 period ids, ``idScheme=CODE``).

Run: ``python -m bench.dhis2`` (``--quick`` for a smoke run). Database from
``IOC_HUB_BENCH_DATABASE_URL`` (default: the local ``test`` database's server).
"""

import argparse
import asyncio
import time
from datetime import date, timedelta

import asyncpg
import orjson

from bench.common import HttpConnection, asyncpg_dsn, free_port, server, table, throwaway_database
from bench.ingest import RESET, Series, hub_cmd, prepare, push_body, value_of
from ioc_hub.kit.periods import Cadence, Period

ROWS = 10_000


def dataset_body(rows: list[tuple[Series, date]]) -> bytes:
    """The same rows as a DHIS2 data value set."""
    values = [
        {
            "dataElement": s.indicator_code,
            "period": Period.of_date(d, Cadence.DAILY).dhis2_id,
            "orgUnit": s.unit_code,
            "value": str(value_of(s, d)),
        }
        for s, d in rows
    ]
    return orjson.dumps({"dataValues": values})


async def timed(http: HttpConnection, path: str, body: bytes) -> tuple[float, bytes]:
    started = time.perf_counter()
    status, answer = await http.request("POST", path, body)
    elapsed = time.perf_counter() - started
    if status != 200:
        raise RuntimeError(f"{path} answered {status}: {answer[:300]!r}")
    return elapsed, answer


async def main(quick: bool) -> None:
    rounds = 2 if quick else 5
    async with throwaway_database("ioc_hub_bench_dhis2") as url:
        series, token = await prepare(url)
        days = [date(2026, 11, 27) - timedelta(days=n) for n in range(60)]
        rows = [(s, d) for d in days for s in series][:ROWS]
        native, dhis2 = push_body(rows), dataset_body(rows)
        reset = await asyncpg.connect(asyncpg_dsn(url))
        env = {"IOC_HUB_DATABASE_URL": url, "IOC_HUB_LOG_LEVEL": "warning"}
        port = free_port()
        native_times, dhis2_times = [], []
        with server(hub_cmd(port), port, env):
            http = HttpConnection(port, token)
            # One untimed post of each warms the worker's registry copy and connections.
            await reset.execute(RESET)
            await timed(http, "/api/v1/observations", native)
            await reset.execute(RESET)
            await timed(http, "/api/dataValueSets?idScheme=CODE", dhis2)
            for _ in range(rounds):
                await reset.execute(RESET)
                elapsed, answer = await timed(http, "/api/v1/observations", native)
                assert orjson.loads(answer)["created"] == len(rows), answer[:300]
                native_times.append(elapsed)
                await reset.execute(RESET)
                elapsed, answer = await timed(http, "/api/dataValueSets?idScheme=CODE", dhis2)
                count = orjson.loads(answer)["response"]["importCount"]
                assert count["imported"] == len(rows), answer[:300]
                dhis2_times.append(elapsed)
            await http.close()
        await reset.close()

    native_rate, dhis2_rate = len(rows) / min(native_times), len(rows) / min(dhis2_times)
    print(
        f"dhis2 bench on PostgreSQL: one post of {len(rows):,} rows each way, hub in 2 uvicorn "
        f"workers; best of {rounds} alternating rounds"
    )
    print(
        table(
            [
                (
                    "dataValueSets post rows/s",
                    f"{dhis2_rate:,.0f}",
                    f"{native_rate:,.0f} (native push)",
                    f"{dhis2_rate / native_rate:.3f}",
                    ">= 0.70",
                )
            ],
            ["figure", "dhis2", "native", "ratio", "goal"],
        )
    )
    spread = ", ".join(
        f"{name} {min(times) * 1000:,.0f}–{max(times) * 1000:,.0f} ms"
        for name, times in (("native", native_times), ("dhis2", dhis2_times))
    )
    print(f"post times over the rounds: {spread}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds for a smoke run")
    asyncio.run(main(parser.parse_args().quick))
