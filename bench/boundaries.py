"""Aggregates across a reorganisation on PostgreSQL, as a ratio measured in one run (issue 17).

The question: does ``boundaries=current`` across the 2025 reform cost more than the same query on
a registry that never changed? The query: a year of monthly buckets (2025) of one daily indicator
(``DVC-HS-TIEP-NHAN``, sum/sum), at commune level (the level where lineage does the most: every
old commune's values reach the 36 new ones, 16 of them through divided communes), and the same
at province level.

Two throwaway databases, each seeded with the Bình Dương registry and catalogue:

- **unchanged**: the registry as seeded; every unit reports every day of 2025;
- **reformed**: the shipped reform applied (``reorganise.apply(builtin("binh-duong-2025"))``);
  every unit reports every day of 2025 on which it exists, so the old communes until 30 June and
  the new ones from 1 July.

Both hubs run in this process over httpx's ASGI transport with the same clock (15 January 2026);
their calls alternate so that both see the same machine. Goal: reformed / unchanged ≤ 2.

Run: ``python -m bench.boundaries`` (``--quick`` for fewer runs). Database server from
``IOC_HUB_BENCH_DATABASE_URL`` (default: the local ``test`` database's server).
"""

import argparse
import asyncio
import contextlib
import statistics
import time
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime

import httpx
from asgi_lifespan import LifespanManager
from sqlalchemy import select, text

from bench.common import table, throwaway_database
from ioc_hub.access.service import mint_key
from ioc_hub.app import create_app
from ioc_hub.config import Settings
from ioc_hub.models import Indicator, Scope, Unit
from ioc_hub.registry import reorganise
from ioc_hub.seed import seed_all

TARGET = "DVC-HS-TIEP-NHAN"
NOW = datetime(2026, 1, 15, 3, 0, tzinfo=UTC)
QUERY = {"indicator": TARGET, "bucket": "monthly", "from": "2025-01", "to": "2025-12"}
LEVELS = ("commune", "province")

# Every unit but the province reports every day of 2025 on which it exists.
LOAD = text(
    """
INSERT INTO observations (unit_id, indicator_id, period, period_start, value, observed_at,
    received_at, first_received_at, key_id, revision, imported)
SELECT u.id, :indicator, to_char(d.day, 'YYYY-MM-DD'), d.day, ((u.id * 31 + d.n * 7) % 500),
    NULL, d.at, d.at, NULL, 1, false
FROM units u
CROSS JOIN (
    SELECT n, CAST(:first AS date) + n AS day,
        (CAST(:first AS date) + n + 1 + interval '2 hours') AT TIME ZONE 'Asia/Ho_Chi_Minh' AS at
    FROM generate_series(0, 364) n
) d
WHERE u.kind <> 'province'
    AND (u.valid_from IS NULL OR u.valid_from <= d.day)
    AND (u.valid_to IS NULL OR u.valid_to > d.day)
"""
)


@contextlib.asynccontextmanager
async def hub(reformed: bool) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str], int]]:
    """A seeded hub (reformed or not) with a year of data: a client, a province key's header
    and the number of observations."""
    async with throwaway_database("ioc_hub_bench_boundaries") as url:
        app = create_app(Settings(database_url=url))
        app.state.clock = lambda: NOW
        async with LifespanManager(app):
            async with app.state.session_factory() as session, session.begin():
                await seed_all(session)
                province = (await session.scalars(select(Unit).where(Unit.code == "74"))).one()
                token = (await mint_key(session, province, [Scope.AGGREGATES_READ], "b")).token
                if reformed:
                    event = await reorganise.builtin(session, "binh-duong-2025")
                    await reorganise.apply(session, event)
                target = await session.scalar(select(Indicator.id).where(Indicator.code == TARGET))
                await session.execute(LOAD, {"indicator": target, "first": date(2025, 1, 1)})
                count = await session.scalar(text("SELECT count(*) FROM observations"))
            async with app.state.engine.connect() as connection:
                await connection.execution_options(isolation_level="AUTOCOMMIT")
                await connection.execute(text("VACUUM ANALYZE"))
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
                yield client, {"Authorization": f"Bearer {token}"}, int(count or 0)


async def call(client: httpx.AsyncClient, auth: dict[str, str], level: str) -> tuple[float, int]:
    """Milliseconds for one call, and how many rows it answered."""
    started = time.perf_counter()
    response = await client.get(
        "/api/v1/aggregates", params={**QUERY, "level": level}, headers=auth
    )
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"the hub answered {response.status_code}: {response.text[:300]}")
    return elapsed, response.json()["total"]


async def main(quick: bool) -> None:
    runs = 7 if quick else 41
    figures = []
    async with hub(reformed=False) as plain, hub(reformed=True) as reformed:
        print(f"  observations: unchanged {plain[2]:,}, reformed {reformed[2]:,}")
        for level in LEVELS:
            times: dict[str, list[float]] = {"unchanged": [], "reformed": []}
            rows = {}
            for run in range(runs + 3):  # three to warm caches and prepared statements
                for name, (client, auth, _) in (("unchanged", plain), ("reformed", reformed)):
                    elapsed, rows[name] = await call(client, auth, level)
                    if run >= 3:
                        times[name].append(elapsed)
            a, b = statistics.median(times["unchanged"]), statistics.median(times["reformed"])
            figures.append((level, rows["unchanged"], rows["reformed"], a, b))
    print()
    print(
        table(
            [(lv, ra, rb, f"{a:.2f}", f"{b:.2f}", f"{b / a:.2f}") for lv, ra, rb, a, b in figures],
            ("level", "rows unchanged", "rows reformed", "unchanged ms", "reformed ms", "ratio"),
        )
    )
    print()
    worst = max(b / a for *_, a, b in figures)
    print(f"boundaries=current across the reform / unchanged registry: {worst:.3f} (goal <= 2)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.quick))
