"""The national registry on one hub (issue 18): the operators' calls at national scale, each
against its goal and against hand-written SQL on the same state, as figures of one run.

Data: ``ioc-hub seed --registry vietnam-2025`` (the nation, 34 provinces, 3,321 communes and 20
synthetic departments per province, with the catalogue's obligations), five more of the
catalogue's daily indicators owed by every commune, so that communes owe ten daily indicators;
then a year of values, up to yesterday, of every owed daily, weekly and monthly series (about 13
million observations), bulk-loaded with ``INSERT … SELECT FROM generate_series`` one month at a
time (the load time is printed), and the state ingest keeps rebuilt from them. A few series in a
hundred fell silent some days before yesterday, so staleness has something to rank. The hub runs
as shipped, 2 workers on PostgreSQL, warm; each figure is the median of repeated sequential calls
with a nation key.

1. ``GET /api/v1/coverage`` (no filter): goal ≤ 100 ms.
2. ``GET /api/v1/staleness``, first page worst first: goal ≤ 100 ms.
3. ``GET /api/v1/completeness`` by province over the year: goal ≤ 500 ms.
4. ``GET /api/v1/aggregates``, monthly by province over the year, one daily indicator: goal
   ≤ 100 ms.
5. Each of them against hand-written SQL for the same numbers over the same tables, run through
   asyncpg: goal ≤ 2 ×.
6. Coverage at 3,321 communes against the Bình Dương registry's 91 (its seed, with the same kind
   of kept state): its cost may grow no faster than the registry (cost ratio ≤ series ratio).

Also shown, with no goal: completeness by province over the last whole week, whose days cut
their months, so that it counts observations rather than kept months.

Run: ``python -m bench.national`` (``--quick``: one month of values, fewer calls). Database
server from ``IOC_HUB_BENCH_DATABASE_URL`` (default: the local ``test`` database's server); each
registry gets a throwaway database, dropped afterwards.
"""

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
from rich.progress import Progress
from sqlalchemy import column, insert, select, text
from sqlalchemy import table as sql_table

from bench.common import (
    HttpConnection,
    asyncpg_dsn,
    free_port,
    kept_database,
    server,
    table,
    throwaway_database,
)
from bench.coverage import rebuild_state
from ioc_hub.access.service import mint_key
from ioc_hub.catalogue.service import obligated
from ioc_hub.config import Settings
from ioc_hub.coverage.months import Deadlines
from ioc_hub.db import create_engine, create_session_factory
from ioc_hub.kit.periods import Cadence
from ioc_hub.models import Indicator, Scope, Unit

WARM_UP = 3
CALLS = 15
DAILY_PER_COMMUNE = 10
SILENT_EVERY = 37
"""One series in this many falls silent some days before yesterday."""

GOALS_MS = {"coverage": 100.0, "staleness": 100.0, "completeness": 500.0, "aggregates": 100.0}
SQL_RATIO_GOAL = 2.0

# A value of owed series ``p`` for period ``d`` of its cadence, received a few hours after the
# period ends (a later one for one series in eleven); a silent series stops 3–20 days early.
LOAD = """
INSERT INTO observations (unit_id, indicator_id, period, period_start, value, observed_at,
    received_at, first_received_at, key_id, revision, imported)
SELECT p.unit_id, p.indicator_id, {period}, d::date,
    ((p.unit_id * 31 + p.indicator_id * 7 + (d::date - DATE '2000-01-01')) % 900)::float8,
    NULL, r.at, r.at, NULL, 1, false
FROM bench_owed p
CROSS JOIN generate_series(CAST(:first AS timestamp), CAST(:last AS timestamp), {step}) d
CROSS JOIN LATERAL (
    SELECT (d + {length} + make_interval(hours => 2 + 30 * (p.unit_id % 11 = 0)::int))
        AT TIME ZONE 'Asia/Ho_Chi_Minh' AS at
) r
WHERE p.cadence = :cadence
    AND d::date + {length} <= CAST(:until AS date)
    AND (p.silent IS NULL OR d::date < p.silent)
"""
CADENCES = {
    "daily": ("to_char(d, 'YYYY-MM-DD')", "interval '1 day'", "interval '1 day'"),
    "weekly": ("to_char(d, 'IYYY-\"W\"IW')", "interval '7 days'", "interval '7 days'"),
    "monthly": ("to_char(d, 'YYYY-MM')", "interval '1 month'", "interval '1 month'"),
}


@dataclass
class Call:
    name: str
    path: str
    sql: str
    sql_args: tuple[Any, ...]
    hub_ms: float = 0.0
    sql_ms: float = 0.0


def national_sql(
    yesterday: date, first: date, week: date
) -> dict[str, tuple[str, tuple[Any, ...]]]:
    """The best hand-written SQL for the numbers of each call, over the same state; ``week`` is
    the Monday of the week asked for."""
    return {
        # Units per kind and connected (heard from within two days), series per latest period;
        # and the page the hub lists with them: the first 100 units, not connected first, then
        # by kind and code, each with its series' latest periods.
        "coverage": (
            """
            WITH owed AS (SELECT unit_id, indicator_id FROM bench_owed),
            units_heard AS (
                SELECT u.id, u.code, u.name, u.kind, u.parent_id, c.last_contact_at,
                    coalesce(c.last_contact_at > now() - interval '2 days', false) AS connected
                FROM units u LEFT JOIN unit_contacts c ON c.unit_id = u.id
                WHERE u.active AND u.kind NOT IN ('nation', 'province')
            ),
            page AS (
                SELECT h.*, p.code AS parent
                FROM units_heard h LEFT JOIN units p ON p.id = h.parent_id
                ORDER BY h.connected, array_position(ARRAY['ministry', 'department',
                    'vertical_agency', 'district', 'commune'], CAST(h.kind AS text)),
                    h.code COLLATE "C"
                LIMIT 100
            )
            SELECT (SELECT json_agg(k) FROM (
                        SELECT kind, count(*) AS registered,
                            count(*) FILTER (WHERE connected) AS connected
                        FROM units_heard GROUP BY kind) k),
                   (SELECT json_agg(s) FROM (
                        SELECT o.indicator_id, s.last_period_start, count(*)
                        FROM owed o LEFT JOIN series_state s USING (unit_id, indicator_id)
                        GROUP BY 1, 2) s),
                   (SELECT json_agg(l) FROM (
                        SELECT page.code, page.name, page.kind, page.parent,
                            page.last_contact_at, page.connected,
                            json_agg(json_build_array(o.indicator_id, s.last_period_start))
                        FROM page JOIN owed o ON o.unit_id = page.id
                        LEFT JOIN series_state s USING (unit_id, indicator_id)
                        GROUP BY 1, 2, 3, 4, 5, 6) l)
            """,
            (),
        ),
        # Never-reported and most periods behind first, then by codes: the first 50.
        "staleness": (
            """
            SELECT u.code, i.code, s.last_period_start
            FROM bench_owed o
            JOIN units u ON u.id = o.unit_id
            JOIN indicators i ON i.id = o.indicator_id
            LEFT JOIN series_state s USING (unit_id, indicator_id)
            ORDER BY s.last_period_start IS NOT NULL, s.last_period_start,
                u.code COLLATE "C", i.code COLLATE "C"
            LIMIT 50
            """,
            (),
        ),
        # Reports received and on time per province over the year, from the kept months.
        "completeness": (
            """
            SELECT p.code, sum(m.received), sum(m.on_time)
            FROM series_months m
            JOIN units u ON u.id = m.unit_id
            JOIN units p ON p.id = u.parent_id
            WHERE m.month >= $1 AND m.month <= $2
            GROUP BY p.code
            """,
            (first, yesterday),
        ),
        # Reports received and on time per province over one week: days that cut their
        # months, so the observations answer.
        "completeness, a week": (
            """
            SELECT p.code, count(*), count(*) FILTER (WHERE o.first_received_at <= d.deadline)
            FROM observations o
            JOIN bench_deadlines d USING (indicator_id, period_start)
            JOIN indicators i ON i.id = o.indicator_id
            JOIN units u ON u.id = o.unit_id
            JOIN units p ON p.id = u.parent_id
            WHERE o.period_start >= $1 AND o.period_start <= $2
                AND i.cadence IN ('daily', 'weekly')
            GROUP BY p.code
            """,
            (week, week + timedelta(days=6)),
        ),
        # Monthly sums and counts of one daily indicator per province over the year, from the
        # kept months.
        "aggregates": (
            """
            SELECT p.code, m.month, sum(m.value_sum), sum(m.received)
            FROM series_months m
            JOIN units u ON u.id = m.unit_id
            JOIN units p ON p.id = u.parent_id
            WHERE m.indicator_id = $1 AND m.month >= $2 AND m.month <= $3
            GROUP BY 1, 2
            """,
            (0, first.replace(day=1), yesterday),
        ),
    }


async def prepare(url: str, registry: str) -> str:
    """Seed ``registry`` through the CLI; a key of its root."""
    await _seed(url, registry)
    return await root_key(url)


async def _seed(url: str, registry: str) -> None:
    seed = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ioc_hub",
        "seed",
        "--registry",
        registry,
        env={**os.environ, "IOC_HUB_DATABASE_URL": url},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, errors = await seed.communicate()
    if seed.returncode != 0:
        raise RuntimeError(f"ioc-hub seed failed: {errors.decode()[-2000:]}")


async def root_key(url: str) -> str:
    """A new key of the registry's root, to read everything."""
    engine = create_engine(Settings(database_url=url, db_timeout_seconds=600))
    try:
        async with create_session_factory(engine)() as session, session.begin():
            root = (
                await session.scalars(
                    select(Unit).where(Unit.parent_id.is_(None)).order_by(Unit.id)
                )
            ).first()
            assert root is not None
            scopes = [Scope.COVERAGE_READ, Scope.AGGREGATES_READ]
            return (await mint_key(session, root, scopes, "bench")).token
    finally:
        await engine.dispose()


async def owe_more_daily(url: str) -> None:
    """Five more daily indicators of the catalogue owed by every commune (ten in all)."""
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await connection.execute(
            """
            INSERT INTO obligations (indicator_id, unit_kind)
            SELECT i.id, 'commune' FROM indicators i
            WHERE i.cadence = 'daily' AND i.active AND NOT EXISTS (
                SELECT 1 FROM obligations o WHERE o.indicator_id = i.id AND o.unit_kind = 'commune')
            ORDER BY i.code
            LIMIT $1 - (SELECT count(DISTINCT o.indicator_id) FROM obligations o
                        JOIN indicators i ON i.id = o.indicator_id
                        WHERE o.unit_kind = 'commune' AND i.cadence = 'daily')
            """,
            DAILY_PER_COMMUNE,
        )
    finally:
        await connection.close()


async def list_owed(url: str, day: date) -> int:
    """``bench_owed``: every series owed on ``day`` with its cadence, and for one in
    ``SILENT_EVERY`` the day it fell silent."""
    engine = create_engine(Settings(database_url=url, db_timeout_seconds=600))
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "CREATE TABLE bench_owed (unit_id integer, indicator_id integer, "
                    "cadence varchar(10), silent date)"
                )
            )
            pairs = obligated(day=day)
            owed = sql_table(
                "bench_owed", column("unit_id"), column("indicator_id"), column("cadence")
            )
            await connection.execute(
                insert(owed).from_select(
                    ["unit_id", "indicator_id", "cadence"],
                    select(pairs.c.unit_id, pairs.c.indicator_id, Indicator.cadence).join(
                        Indicator, Indicator.id == pairs.c.indicator_id
                    ),
                )
            )
            await connection.execute(
                text(
                    "UPDATE bench_owed SET silent = CAST(:day AS date) - (3 + unit_id % 18) "
                    "WHERE (unit_id * 7 + indicator_id) % :every = 0"
                ),
                {"every": SILENT_EVERY, "day": day},
            )
            await connection.execute(text("ANALYZE bench_owed"))
            count = (await connection.execute(text("SELECT count(*) FROM bench_owed"))).scalar_one()
            return int(count)
    finally:
        await engine.dispose()


def months(first: date, last: date) -> list[tuple[date, date]]:
    """[first, last] cut at month ends."""
    spans = []
    start = first
    while start <= last:
        following = (start.replace(day=1) + timedelta(days=32)).replace(day=1)
        spans.append((start, min(last, following - timedelta(days=1))))
        start = following
    return spans


async def load_year(url: str, first: date, yesterday: date) -> tuple[int, float]:
    """A year of values of every owed series; the rows and the seconds it took, state included."""
    connection = await asyncpg.connect(asyncpg_dsn(url))
    started = time.perf_counter()
    try:
        # Daily values a month at a time; weeks and months are few, and a step of them must
        # start on a period's first day.
        chunks = [("daily", since, until) for since, until in months(first, yesterday)] + [
            (cadence, _first_start(cadence, first), yesterday) for cadence in ("weekly", "monthly")
        ]
        with Progress() as progress:
            task = progress.add_task("a year of values", total=len(chunks))
            for cadence, since, until in chunks:
                period, step, length = CADENCES[cadence]
                statement = LOAD.format(period=period, step=step, length=length)
                await connection.execute(
                    _numbered(statement),
                    since,
                    until,
                    cadence,
                    yesterday + timedelta(days=1),
                )
                progress.advance(task)
    finally:
        rows = int(await connection.fetchval("SELECT count(*) FROM observations"))
        await connection.close()
    engine = create_engine(Settings(database_url=url, db_timeout_seconds=3600))
    try:
        await rebuild_state(engine)
    finally:
        await engine.dispose()
    await rebuild_months(url)
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await connection.execute("ANALYZE")  # what autovacuum does once the load is over
    finally:
        await connection.close()
    return rows, time.perf_counter() - started


def _first_start(cadence: str, first: date) -> date:
    """The first period start of ``cadence`` on or after ``first``."""
    if cadence == "weekly":
        return first + timedelta(days=(7 - first.weekday()) % 7)
    if cadence == "monthly" and first.day != 1:
        return (first.replace(day=1) + timedelta(days=32)).replace(day=1)
    return first


def _numbered(statement: str) -> str:
    """asyncpg takes $n placeholders."""
    for n, name in enumerate((":first", ":last", ":cadence", ":until"), start=1):
        statement = statement.replace(name, f"${n}")
    return statement


async def rebuild_months(url: str) -> None:
    """The months completeness and aggregates keep (``series_months``), counted from the loaded
    observations as ingest counts them: deadlines by the hub's own rules, once per indicator and
    period."""
    settings = Settings()
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        indicators = await connection.fetch("SELECT id, cadence, grace_seconds FROM indicators")
        deadlines = Deadlines(
            settings, ((r["id"], Cadence(r["cadence"]), r["grace_seconds"]) for r in indicators)
        )
        slots = await connection.fetch(
            "SELECT DISTINCT indicator_id, period_start FROM observations"
        )
        await connection.execute(
            "CREATE TABLE bench_deadlines (indicator_id integer, period_start date, "
            "deadline timestamptz, grace bigint)"
        )
        await connection.copy_records_to_table(
            "bench_deadlines",
            records=[
                (
                    s["indicator_id"],
                    s["period_start"],
                    deadlines.deadline(s["indicator_id"], s["period_start"]),
                    deadlines.grace(s["indicator_id"]),
                )
                for s in slots
            ],
        )
        await connection.execute(
            """
            INSERT INTO series_months (indicator_id, month, unit_id, received, on_time,
                grace_microseconds, last_received_at, value_sum, value_min, value_max,
                last_start, last_value, changed_at)
            SELECT o.indicator_id, CAST(date_trunc('month', o.period_start) AS date), o.unit_id,
                count(*), count(*) FILTER (WHERE o.first_received_at <= d.deadline), min(d.grace),
                max(o.first_received_at), sum(o.value), min(o.value), max(o.value),
                max(o.period_start), (array_agg(o.value ORDER BY o.period_start DESC))[1],
                max(o.received_at)
            FROM observations o JOIN bench_deadlines d USING (indicator_id, period_start)
            GROUP BY 1, 2, 3
            """
        )
        await connection.execute("ANALYZE series_months")
    finally:
        await connection.close()


async def median_ms(call: Callable[[], Awaitable[None]], calls: int) -> float:
    for _ in range(WARM_UP):
        await call()
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        await call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def hub_cmd(port: int) -> list[str]:
    return ["-m", "ioc_hub", "serve", "--no-migrate", "--port", str(port), "--workers", "2"]


def hub_env(url: str) -> dict[str, str]:
    return {"IOC_HUB_DATABASE_URL": url, "IOC_HUB_LOG_LEVEL": "warning"}


async def time_calls(url: str, token: str, calls: list[Call], repeat: int) -> None:
    """Each call's median through a running hub, and its SQL's through asyncpg."""
    port = free_port()
    with server(hub_cmd(port), port, hub_env(url)):
        connection = await asyncpg.connect(asyncpg_dsn(url))
        try:
            for call in calls:
                # A connection of its own per call: the server closes one left idle while the
                # SQL of the call before was timed.
                http = HttpConnection(port, token)

                async def through_hub(path: str = call.path, http: HttpConnection = http) -> None:
                    status, body = await http.request("GET", path)
                    if status != 200:
                        raise RuntimeError(f"GET {path} answered {status}: {body[:300]!r}")

                async def through_sql(call: Call = call) -> None:
                    await connection.fetch(call.sql, *call.sql_args)

                try:
                    call.hub_ms = await median_ms(through_hub, repeat)
                finally:
                    await http.close()
                call.sql_ms = await median_ms(through_sql, repeat)
        finally:
            await connection.close()


async def national(quick: bool, keep: str | None) -> tuple[list[Call], dict[str, Any]]:
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    # The last twelve whole months before the current one (one in a quick run), and the days of
    # the current month up to yesterday.
    last_month = yesterday.replace(day=1) - timedelta(days=1)
    first = last_month.replace(day=1)
    for _ in range(0 if quick else 11):
        first = (first - timedelta(days=1)).replace(day=1)
    async with contextlib.AsyncExitStack() as stack:
        if keep is None:
            url = await stack.enter_async_context(throwaway_database("ioc_hub_bench_national"))
            facts = await load(url, first, yesterday)
        else:
            url, created = await kept_database(keep)
            facts = await load(url, first, yesterday) if created else await loaded(url)
        token = await root_key(url)
        daily = await _a_daily_indicator(url)
        # The last whole ISO week before yesterday's.
        week = yesterday - timedelta(days=yesterday.weekday() + 7)
        sql = national_sql(last_month, first, week)
        year = f"from={first.strftime('%Y-%m')}&to={last_month.strftime('%Y-%m')}"
        week_id = "{}-W{:02d}".format(*week.isocalendar()[:2])
        calls = [
            Call("coverage", "/api/v1/coverage", *sql["coverage"]),
            Call("staleness", "/api/v1/staleness?limit=50", *sql["staleness"]),
            Call(
                "completeness",
                f"/api/v1/completeness?group_by=district&{year}",
                *sql["completeness"],
            ),
            Call(
                "completeness, a week",
                f"/api/v1/completeness?group_by=district&from={week_id}&to={week_id}",
                *sql["completeness, a week"],
            ),
            Call(
                "aggregates",
                f"/api/v1/aggregates?indicator={daily[1]}&bucket=monthly&level=province&{year}",
                sql["aggregates"][0],
                (daily[0], first, last_month),
            ),
        ]
        await time_calls(url, token, calls, 5 if quick else CALLS)
    return calls, facts


async def load(url: str, first: date, yesterday: date) -> dict[str, Any]:
    """Seed the national registry and load its year; the facts of the load, also kept in the
    database (``bench_facts``) for a run that reuses it."""
    facts: dict[str, Any] = {}
    started = time.perf_counter()
    await _seed(url, "vietnam-2025")
    facts["seed_s"] = time.perf_counter() - started
    await owe_more_daily(url)
    facts["series"] = await list_owed(url, yesterday)
    facts["observations"], facts["load_s"] = await load_year(url, first, yesterday)
    facts["sizes"] = await sizes(url)
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await connection.execute("CREATE TABLE bench_facts (facts text)")
        await connection.execute("INSERT INTO bench_facts VALUES ($1)", json.dumps(facts))
    finally:
        await connection.close()
    return facts


async def loaded(url: str) -> dict[str, Any]:
    """The facts of an earlier load of a kept database."""
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        facts: dict[str, Any] = json.loads(await connection.fetchval("TABLE bench_facts"))
        return facts
    finally:
        await connection.close()


async def sizes(url: str) -> dict[str, int]:
    """Bytes on disk, indexes included: the observations (every partition), the state kept at
    ingest, and the whole database."""
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        observations = await connection.fetchval(
            "SELECT pg_total_relation_size('observations') + coalesce(sum("
            "pg_total_relation_size(inhrelid)), 0) FROM pg_inherits "
            "WHERE inhparent = 'observations'::regclass"
        )
        kept = await connection.fetchval(
            "SELECT pg_total_relation_size('series_state') + pg_total_relation_size("
            "'series_months') + pg_total_relation_size('unit_contacts')"
        )
        database = await connection.fetchval("SELECT pg_database_size(current_database())")
        return {"observations": int(observations), "kept": int(kept), "database": int(database)}
    finally:
        await connection.close()


async def _a_daily_indicator(url: str) -> tuple[int, str]:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        row = await connection.fetchrow(
            "SELECT i.id, i.code FROM indicators i JOIN bench_owed o ON o.indicator_id = i.id "
            "WHERE i.cadence = 'daily' GROUP BY i.id, i.code ORDER BY count(*) DESC, i.code "
            "LIMIT 1"
        )
        assert row is not None
        return int(row["id"]), str(row["code"])
    finally:
        await connection.close()


async def provincial(quick: bool) -> tuple[float, int]:
    """Coverage over the Bình Dương registry with kept state for every owed series; its series."""
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    async with throwaway_database("ioc_hub_bench_provincial") as url:
        token = await prepare(url, "binh-duong")
        series = await list_owed(url, yesterday)
        await load_year(url, yesterday - timedelta(days=30), yesterday)
        calls = [Call("coverage", "/api/v1/coverage", "SELECT 1", ())]
        await time_calls(url, token, calls, 5 if quick else CALLS)
        return calls[0].hub_ms, series


def report(calls: list[Call], facts: dict[str, Any], small_ms: float, small_series: int) -> None:
    print(
        f"national registry: {facts['series']:,} owed series, {facts['observations']:,} "
        f"observations loaded in {facts['load_s']:.0f} s (state rebuilt included); seed "
        f"{facts['seed_s']:.1f} s"
    )
    mb = {name: size / 1e6 for name, size in facts["sizes"].items()}
    print(
        f"on disk: observations {mb['observations']:,.0f} MB "
        f"({facts['sizes']['observations'] / facts['observations']:.0f} bytes a row, indexes "
        f"included), kept state {mb['kept']:,.0f} MB, database {mb['database']:,.0f} MB"
    )
    rows = []
    for call in calls:
        goal = GOALS_MS.get(call.name)  # none: shown for what it costs
        ratio = call.hub_ms / call.sql_ms if call.sql_ms else float("inf")
        rows.append(
            [
                call.name,
                f"{call.hub_ms:.1f}",
                "—" if goal is None else f"≤ {goal:.0f}",
                "" if goal is None else "pass" if call.hub_ms <= goal else "MISSED",
                f"{call.sql_ms:.1f}",
                f"{ratio:.2f}",
                "" if goal is None else "pass" if ratio <= SQL_RATIO_GOAL else "MISSED",
            ]
        )
    print(
        table(
            rows,
            ["call", "hub ms (median)", "goal", "", "SQL ms", "hub / SQL (≤ 2)", ""],
        )
    )
    coverage = next(call for call in calls if call.name == "coverage")
    cost = coverage.hub_ms / small_ms
    size = facts["series"] / small_series
    print(
        f"coverage: {coverage.hub_ms:.1f} ms at {facts['series']:,} series against "
        f"{small_ms:.1f} ms at Bình Dương's {small_series:,}: cost × {cost:.1f} for registry "
        f"× {size:.1f} — {'pass' if cost <= size else 'MISSED'} (grows no faster than the "
        "registry)"
    )


async def main(quick: bool, keep: str | None) -> None:
    calls, facts = await national(quick, keep)
    small_ms, small_series = await provincial(quick)
    report(calls, facts, small_ms, small_series)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a month of values, fewer calls")
    parser.add_argument(
        "--keep",
        metavar="DATABASE",
        help="load into this database unless an earlier run did, and keep it (to work on the "
        "hub's calls without waiting for the load; its day is the day it was loaded)",
    )
    arguments = parser.parse_args()
    asyncio.run(main(arguments.quick, arguments.keep))
