"""Aggregate latency on PostgreSQL, as ratios measured in one run (issue 5).

The question: a year of monthly buckets of one daily indicator (``DVC-HS-TIEP-NHAN``, sum/sum,
118 obliged units: departments, districts and communes), grouped by district — 12 × 9 rows out
of 43,070 observations.

1. ``GET /api/v1/aggregates`` through the whole app (in this process, over httpx's ASGI
   transport: key check, validation, obligations, the query, JSON and ETag) versus the best
   hand-written SQL for the same rows (one statement with ``date_trunc``, a single aggregation
   stage, the expected counts from the obligations) run over the app's own engine.
   Goal: hub ≤ 2 × SQL.
2. The same with 100,000 and with 10,000,000 observations in the table. Goal: ≤ 3 ×.

Data: the seeded Bình Dương registry and catalogue, plus enough synthetic daily indicators
(``BENCH-nnn``, reported by all 127 units) to reach the row count; one year (2025), loaded day by
day the way ingest would interleave it, with ``INSERT … SELECT FROM generate_series``. Secondary
indexes are dropped for the load and rebuilt from the models after it, then ``VACUUM ANALYZE``
(what autovacuum does to a table that stops changing). The hub's clock is 15 January 2026.

Run: ``python -m bench.aggregates`` (``--quick`` for a smoke run, ``--explain`` for the plans).
Database server from ``IOC_HUB_BENCH_DATABASE_URL`` (default: the local ``test`` database's
server); the run gets a throwaway database, dropped afterwards.
"""

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import UniqueConstraint, event, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.schema import AddConstraint, CreateIndex, DropConstraint, DropIndex

from bench.common import table, throwaway_database
from ioc_hub.access.service import mint_key
from ioc_hub.aggregates.rules import tidy
from ioc_hub.app import create_app
from ioc_hub.catalogue.service import obligated_series
from ioc_hub.config import Settings
from ioc_hub.models import Indicator, Observation, Scope, Unit, UnitKind
from ioc_hub.seed import seed_all

TARGET = "DVC-HS-TIEP-NHAN"
YEAR = 2025
DAYS = 365
NOW = datetime(2026, 1, 15, 3, 0, tzinfo=UTC)
QUERY = {
    "indicator": TARGET,
    "bucket": "monthly",
    "from": f"{YEAR}-01",
    "to": f"{YEAR}-12",
    "level": "district",
    "limit": 1000,
}

# The best hand-written answer: sum/sum is distributive, so one aggregation stage straight from
# observations to (month, district) suffices; expected = obliged active units × days per month.
BEST_SQL = text(
    """
WITH cells AS (
    SELECT date_trunc('month', o.period_start)::date AS month,
        CASE WHEN u.kind = 'district' THEN u.id ELSE u.parent_id END AS district_id,
        sum(o.value) AS value, count(*) AS reported
    FROM observations o
    JOIN units u ON u.id = o.unit_id AND u.kind IN ('district', 'commune')
    WHERE o.indicator_id = :indicator AND o.period_start >= :first AND o.period_start < :stop
    GROUP BY 1, 2
),
obliged AS (
    SELECT CASE WHEN u.kind = 'district' THEN u.id ELSE u.parent_id END AS district_id,
        count(DISTINCT u.id) AS units
    FROM obligations ob
    JOIN indicators i ON i.id = ob.indicator_id AND i.active
    JOIN units u ON u.active AND u.kind IN ('district', 'commune') AND (u.id = ob.unit_id
        OR (ob.unit_id IS NULL AND u.kind = ob.unit_kind
            AND (ob.district_id IS NULL OR u.parent_id = ob.district_id)))
    WHERE ob.indicator_id = :indicator
    GROUP BY 1
),
months AS (
    SELECT m::date AS month, greatest(
        0, least((m + interval '1 month')::date, CAST(:today AS date) + 1) - m::date
    ) AS due
    FROM generate_series(CAST(:first AS date), CAST(:last_month AS date), interval '1 month') m
)
SELECT to_char(mo.month, 'YYYY-MM') AS period, d.code AS area, c.value,
    coalesce(c.reported, 0) AS reported, coalesce(ob.units, 0) * mo.due AS expected
FROM months mo
CROSS JOIN units d
LEFT JOIN cells c ON c.month = mo.month AND c.district_id = d.id
LEFT JOIN obliged ob ON ob.district_id = d.id
WHERE d.kind = 'district' AND (c.reported IS NOT NULL OR coalesce(ob.units, 0) * mo.due > 0)
ORDER BY mo.month, d.code
"""
)

# The order ingest writes them in: day by day, and within a day each unit's batch of all its
# indicators together, so the target's rows are spread over the whole table, one per batch.
# Received the morning after their day.
LOAD = text(
    """
INSERT INTO observations (unit_id, indicator_id, period, period_start, value, observed_at,
    received_at, first_received_at, key_id, revision, imported)
SELECT s.unit_id, s.indicator_id, to_char(s.day, 'YYYY-MM-DD'), s.day, s.value, NULL,
    s.at, s.at, NULL, 1, false
FROM (
    SELECT t.unit_id, CAST(:target AS integer) AS indicator_id, d.day,
        ((t.unit_id * 31 + d.n * 7) % 500)::float8 AS value,
        (d.day + 1 + interval '2 hours') AT TIME ZONE 'Asia/Ho_Chi_Minh' AS at
    FROM bench_target t
    CROSS JOIN (
        SELECT n, CAST(:first AS date) + n AS day FROM generate_series(0, :days - 1) n
    ) d
    UNION ALL
    SELECT u.id, k.id, CAST(:first AS date) + g.n % :days,
        ((g.n * 13) % 1000)::float8,
        (CAST(:first AS date) + g.n % :days + 1 + interval '3 hours')
            AT TIME ZONE 'Asia/Ho_Chi_Minh'
    FROM generate_series(0, :filler - 1) g(n)
    JOIN bench_units u ON u.i = (g.n / :days) % :units
    JOIN bench_fillers k ON k.i = (g.n / :days) / :units
) s
ORDER BY s.day, s.unit_id, s.indicator_id
"""
)


async def prepare(app: FastAPI, large: int) -> tuple[str, int]:
    """Seed, mint a province key and add enough synthetic indicators for ``large`` rows; the key
    and the target's id."""
    async with app.state.session_factory() as session, session.begin():
        await seed_all(session)
        province = (await session.scalars(select(Unit).where(Unit.kind == UnitKind.PROVINCE))).one()
        token = (await mint_key(session, province, [Scope.AGGREGATES_READ], "bench")).token
        target = (await session.scalars(select(Indicator).where(Indicator.code == TARGET))).one()
        reporters = [unit for unit, _ in await obligated_series(session, indicator_ids=[target.id])]
        units = await session.scalar(
            select(func.count()).select_from(Unit).where(Unit.kind != UnitKind.PROVINCE)
        )
        assert units
        fillers = -(-(large - len(reporters) * DAYS) // (units * DAYS))
        statements = [
            "INSERT INTO indicator_groups (code, name) VALUES ('G-BENCH', 'Bench')",
            """INSERT INTO indicators (code, name, group_id, cadence, measurement_unit,
                time_aggregation, area_aggregation, open, active)
            SELECT 'BENCH-' || lpad(n::text, 3, '0'), 'Bench ' || n,
                (SELECT id FROM indicator_groups WHERE code = 'G-BENCH'),
                'daily', 'x', 'sum', 'sum', false, true
            FROM generate_series(1, :fillers) n""",
            """CREATE TABLE bench_fillers AS SELECT id, row_number() OVER (ORDER BY id) - 1 AS i
            FROM indicators WHERE code LIKE 'BENCH-%'""",
            """CREATE TABLE bench_units AS SELECT id, row_number() OVER (ORDER BY id) - 1 AS i
            FROM units WHERE kind <> 'province'""",
            "CREATE TABLE bench_target (unit_id integer)",
        ]
        for statement in statements:
            await session.execute(text(statement), {"fillers": fillers})
        await session.execute(
            text("INSERT INTO bench_target VALUES (:u)"), [{"u": u} for u in reporters]
        )
    return token, target.id


def _unique_constraints() -> list[UniqueConstraint]:
    return [c for c in Observation.__table__.constraints if isinstance(c, UniqueConstraint)]


async def load(engine: AsyncEngine, target_id: int, rows: int) -> tuple[int, float]:
    """Replace the observations with ``rows`` of them; the count and the seconds it took."""
    started = time.perf_counter()
    observations = Observation.__table__
    async with engine.connect() as connection:
        reporters = (
            await connection.execute(text("SELECT count(*) FROM bench_target"))
        ).scalar_one()
        units = (await connection.execute(text("SELECT count(*) FROM bench_units"))).scalar_one()
        superuser = (
            await connection.execute(
                text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            )
        ).scalar_one()
    async with engine.begin() as connection:
        await connection.execute(text("TRUNCATE observations, observation_revisions"))
        for index in observations.indexes:
            await connection.execute(DropIndex(index))
        for constraint in _unique_constraints():
            await connection.execute(DropConstraint(constraint))
    async with engine.begin() as connection:
        await connection.execute(text("SET LOCAL synchronous_commit = off"))
        await connection.execute(text("SET LOCAL work_mem = '512MB'"))
        if superuser:
            # The ids come from the referenced tables, so the foreign-key triggers may rest.
            await connection.execute(text("SET LOCAL session_replication_role = replica"))
        await connection.execute(
            LOAD,
            {
                "target": target_id,
                "first": date(YEAR, 1, 1),
                "days": DAYS,
                "filler": rows - reporters * DAYS,
                "units": units,
            },
        )
    async with engine.begin() as connection:
        await connection.execute(text("SET LOCAL maintenance_work_mem = '1GB'"))
        for constraint in _unique_constraints():
            await connection.execute(AddConstraint(constraint))
        for index in observations.indexes:
            await connection.execute(CreateIndex(index))
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        # What autovacuum would have done by now: statistics, and the visibility map.
        await connection.execute(text("VACUUM ANALYZE"))
        if superuser:  # write the load out now rather than while we measure
            await connection.execute(text("CHECKPOINT"))
        count = (await connection.execute(text("SELECT count(*) FROM observations"))).scalar_one()
    return int(count), time.perf_counter() - started


# --- measuring --------------------------------------------------------------------------------

Answer = list[tuple[str, str, float | None, int, int]]


async def timed(call: Callable[[], Awaitable[Answer]]) -> tuple[float, Answer]:
    started = time.perf_counter()
    answer = await call()
    return (time.perf_counter() - started) * 1000, answer


async def measure(
    client: httpx.AsyncClient, token: str, engine: AsyncEngine, target_id: int, runs: int
) -> tuple[float, float]:
    """Median latency (ms) of the endpoint and of the hand-written SQL, after checking that they
    give the same answer."""

    async def hub() -> Answer:
        response = await client.get(
            "/api/v1/aggregates", params=QUERY, headers={"Authorization": f"Bearer {token}"}
        )
        if response.status_code != 200:
            raise RuntimeError(f"the hub answered {response.status_code}: {response.text[:300]}")
        return [
            (r["period"], r["area"], r["value"], r["reported"], r["expected"])
            for r in response.json()["items"]
        ]

    params = {
        "indicator": target_id,
        "first": date(YEAR, 1, 1),
        "stop": date(YEAR + 1, 1, 1),
        "last_month": date(YEAR, 12, 1),
        "today": NOW.astimezone(Settings().tz).date(),
    }

    async def sql() -> Answer:
        async with engine.connect() as connection:
            rows = (await connection.execute(BEST_SQL, params)).all()
        return [
            (r.period, r.area, None if r.value is None else tidy(r.value), r.reported, r.expected)
            for r in rows
        ]

    for _ in range(5):  # warm caches, pools and prepared statements
        _, by_hub = await timed(hub)
        _, by_sql = await timed(sql)
    if by_hub != by_sql:
        raise RuntimeError(f"different answers:\nhub {by_hub[:5]}…\nsql {by_sql[:5]}…")
    if len(by_hub) != 12 * 9:
        raise RuntimeError(f"expected 108 rows, got {len(by_hub)}")
    hub_times, sql_times = [], []
    for _ in range(runs):  # interleaved, so both see the same cache state
        hub_times.append((await timed(hub))[0])
        sql_times.append((await timed(sql))[0])
    return statistics.median(hub_times), statistics.median(sql_times)


async def explain(
    client: httpx.AsyncClient, token: str, engine: AsyncEngine, target_id: int
) -> None:
    """Print the plans of the hub's aggregate query and of the hand-written one."""
    captured: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "observations" in statement and "groups" in statement:
            captured.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    try:
        await client.get(
            "/api/v1/aggregates", params=QUERY, headers={"Authorization": f"Bearer {token}"}
        )
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", capture)
    statement, parameters = captured[0]
    async with engine.connect() as connection:
        plan = await connection.exec_driver_sql(
            "EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters
        )
        print("\nhub query plan:\n" + "\n".join(row[0] for row in plan))
        best = await connection.execute(
            text("EXPLAIN (ANALYZE, BUFFERS) " + BEST_SQL.text),
            {
                "indicator": target_id,
                "first": date(YEAR, 1, 1),
                "stop": date(YEAR + 1, 1, 1),
                "last_month": date(YEAR, 12, 1),
                "today": NOW.astimezone(Settings().tz).date(),
            },
        )
        print("\nhand-written plan:\n" + "\n".join(row[0] for row in best))


async def main(quick: bool, show_plans: bool) -> None:
    scales = (100_000, 1_000_000) if quick else (100_000, 10_000_000)
    runs = 5 if quick else 30
    async with throwaway_database("ioc_hub_bench_aggregates") as url:
        app = create_app(Settings(database_url=url, db_timeout_seconds=600))
        app.state.clock = lambda: NOW
        async with LifespanManager(app):
            engine: AsyncEngine = app.state.engine
            token, target_id = await prepare(app, scales[-1])
            transport = httpx.ASGITransport(app=app)
            figures = []
            async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
                for rows in scales:
                    count, seconds = await load(engine, target_id, rows)
                    print(f"  loaded {count:,} observations in {seconds:.0f} s")
                    hub_ms, sql_ms = await measure(client, token, engine, target_id, runs)
                    figures.append((count, seconds, hub_ms, sql_ms))
                    if show_plans and rows == scales[-1]:
                        await explain(client, token, engine, target_id)
    print()
    print(
        table(
            [
                (f"{n:,}", f"{s:.0f}", f"{h:.2f}", f"{q:.2f}", f"{h / q:.2f}")
                for n, s, h, q in figures
            ],
            ("observations", "load s", "hub ms", "SQL ms", "hub / SQL"),
        )
    )
    (small, _, small_hub, small_sql), (large, _, large_hub, large_sql) = figures
    print()
    print(f"hub / best SQL at {large:,}: {large_hub / large_sql:.3f} (goal <= 2)")
    print(
        f"hub at {large:,} / hub at {small:,}: {large_hub / small_hub:.3f} (goal <= 3); "
        f"SQL: {large_sql / small_sql:.2f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100k and 1M rows, few runs")
    parser.add_argument("--explain", action="store_true", help="print both query plans")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.quick, arguments.explain))
