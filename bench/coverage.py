"""Coverage latency on PostgreSQL against stored observations and registry size (issue 4).

Coverage answers from state kept at ingest, so its cost grows with units and series, never with
stored observations (docs/design.md §4).

1. The seeded Bình Dương registry with 10,000 stored observations, then with 10,000,000, measured
   in one run against the same running hub: median latency of ``GET /api/v1/coverage`` (province
   key, no filter). Observations are bulk-loaded with ``INSERT … SELECT FROM generate_series``
   (daily values of every obligated daily series, newest days first), and ``series_state`` and
   ``unit_contacts`` are rebuilt from them, so the kept state is what ingest would have left.
   Goal: ratio ≤ 1.5. Staleness (the same state path, one row per series) is shown alongside.
2. A national-scale synthetic registry: about 11,000 units (departments, districts, communes),
   30 indicators of every cadence, each obliged on all of them (30 obligations per unit), with
   series state, one observation per reporting series and contacts: its coverage latency.
3. Coverage as of a day across a reorganisation (docs/design.md §8, issue 17): the seeded
   registry left as it is, and the same registry after the shipped 2025 reform, each with the
   daily values of every series it owed each day from April to July 2025. ``GET
   /api/v1/coverage?at=…`` on the eve of the reform (2025-06-30 12:00) and just after it
   (2025-07-02 12:00), both answered from stored observations and the tree of the day, timed on
   both databases in alternating rounds. Goal: reformed / unchanged ≤ 1.5 on each day.

Run: ``python -m bench.coverage`` (``--quick`` for a smoke run; ``--part`` for one part). Database
server from
``IOC_HUB_BENCH_DATABASE_URL`` (default: the local ``test`` database's server); each part gets a
throwaway database, dropped afterwards.
"""

import argparse
import asyncio
import statistics
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import orjson
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bench.common import HttpConnection, free_port, server, table, throwaway_database
from ioc_hub.access.service import mint_key
from ioc_hub.catalogue.service import obligated_series
from ioc_hub.config import Settings
from ioc_hub.db import create_engine, create_session_factory
from ioc_hub.kit.periods import Cadence, Period, expected_period
from ioc_hub.models import Indicator, Scope, Unit, UnitKind
from ioc_hub.registry import reorganise, timeline
from ioc_hub.seed import seed_all

WARM_UP = 3
CHUNK_ROWS = 1_000_000
TIMEZONE = "Asia/Ho_Chi_Minh"

# A daily value of pair ``p`` for day ``d``, received at ``r.at``; the callers say which.
INSERT_DAILY = """
INSERT INTO observations (unit_id, indicator_id, period, period_start, value, observed_at,
    received_at, first_received_at, key_id, revision, imported)
SELECT p.unit_id, p.indicator_id, to_char(d, 'YYYY-MM-DD'), d::date,
    ((p.unit_id * 31 + p.indicator_id * 7 + (d::date - DATE '2000-01-01')) % 900)::float8,
    NULL, r.at, r.at, NULL, 1, false"""

LOAD = (
    INSERT_DAILY
    + """
FROM generate_series(CAST(:newest AS timestamp), CAST(:oldest AS timestamp), interval '-1 day') d
CROSS JOIN bench_pairs p
CROSS JOIN LATERAL (SELECT (d + interval '1 day 2 hours') AT TIME ZONE :tz AS at) r
LIMIT :rows
"""
)

# What ingest keeps per series and per unit, rebuilt from the stored observations.
REBUILD_STATE = [
    "TRUNCATE series_state, unit_contacts",
    """
    INSERT INTO series_state (unit_id, indicator_id, last_period, last_period_start, last_value,
        last_received_at)
    SELECT l.unit_id, l.indicator_id, l.period, l.period_start, l.value, m.last_received_at
    FROM (
        SELECT DISTINCT ON (unit_id, indicator_id) unit_id, indicator_id, period, period_start,
            value
        FROM observations ORDER BY unit_id, indicator_id, period_start DESC
    ) l
    JOIN (
        SELECT unit_id, indicator_id, max(received_at) AS last_received_at
        FROM observations GROUP BY unit_id, indicator_id
    ) m USING (unit_id, indicator_id)
    """,
    """
    INSERT INTO unit_contacts (unit_id, last_contact_at, last_push_at)
    SELECT unit_id, max(last_received_at), max(last_received_at)
    FROM series_state GROUP BY unit_id
    """,
    "ANALYZE observations",
    "ANALYZE series_state",
    "ANALYZE unit_contacts",
]


@dataclass
class Figure:
    what: str
    observations: int
    units: int
    series: int
    coverage_ms: float
    staleness_ms: float
    answer: str


def plain(url: str) -> AsyncEngine:
    return create_engine(Settings(database_url=url, db_timeout_seconds=600))


async def scalar(connection: AsyncConnection, sql: str) -> int:
    return int((await connection.execute(text(sql))).scalar_one())


# --- measuring --------------------------------------------------------------------------------


@dataclass
class Target:
    """A running hub over one database, and what its answers are timed at."""

    what: str
    url: str
    port: int
    token: str
    times: dict[str, list[float]] = field(default_factory=dict)
    answers: dict[str, str] = field(default_factory=dict)
    """Each coverage path's kinds, as ``department 17/18, ...``."""


COVERAGE, STALENESS = "/api/v1/coverage", "/api/v1/staleness"


async def sample(target: Target, path: str, calls: int, warm_up: int = WARM_UP) -> None:
    """Time ``calls`` sequential GETs of ``path`` (after ``warm_up`` untimed ones)."""
    http = HttpConnection(target.port, target.token)
    try:
        for n in range(warm_up + calls):
            started = time.perf_counter()
            status, body = await http.request("GET", path)
            elapsed = (time.perf_counter() - started) * 1000
            if status != 200:
                raise RuntimeError(f"GET {path} answered {status}: {body[:300]!r}")
            if n >= warm_up:
                target.times.setdefault(path, []).append(elapsed)
            elif path.startswith(COVERAGE):
                kinds = orjson.loads(body)["kinds"]
                target.answers[path] = ", ".join(
                    f"{k} {c['connected']}/{c['registered']}" for k, c in kinds.items()
                )
    finally:
        await http.close()


async def alternate(
    first: Target, second: Target, paths: list[str], rounds: int, calls: int
) -> None:
    """Time ``paths`` on both targets in rounds whose order alternates, so a noisy machine
    weighs on both alike (warm-up calls in the first round only)."""
    for n in range(rounds):
        for target in (first, second) if n % 2 == 0 else (second, first):
            for path in paths:
                await sample(target, path, calls, WARM_UP if n == 0 else 1)


async def figure(target: Target) -> Figure:
    engine = plain(target.url)
    try:
        async with engine.connect() as connection:
            observations = await scalar(connection, "SELECT count(*) FROM observations")
            units = await scalar(
                connection, "SELECT count(*) FROM units WHERE active AND kind <> 'province'"
            )
        async with create_session_factory(engine)() as session:
            series = len(await obligated_series(session))
    finally:
        await engine.dispose()
    return Figure(
        target.what,
        observations,
        units,
        series,
        statistics.median(target.times[COVERAGE]),
        statistics.median(target.times[STALENESS]),
        target.answers[COVERAGE],
    )


def hub(port: int) -> list[str]:
    return ["-m", "ioc_hub", "serve", "--no-migrate", "--port", str(port), "--workers", "1"]


def hub_env(url: str) -> dict[str, str]:
    return {
        "IOC_HUB_DATABASE_URL": url,
        "IOC_HUB_LOG_LEVEL": "warning",
        "IOC_HUB_DB_TIMEOUT_SECONDS": "120",
    }


# --- the seeded registry with many observations ------------------------------------------------


async def prepare_seeded(url: str) -> tuple[str, int]:
    """Seed the Bình Dương registry; keep its obligated daily series in ``bench_pairs``."""
    engine = plain(url)
    try:
        async with create_session_factory(engine)() as session, session.begin():
            await seed_all(session)
            province = (
                await session.scalars(select(Unit).where(Unit.kind == UnitKind.PROVINCE))
            ).one()
            token = (await mint_key(session, province, [Scope.COVERAGE_READ], "bench")).token
            daily = set(
                await session.scalars(select(Indicator.id).where(Indicator.cadence == "daily"))
            )
            pairs = [(u, i) for u, i in await obligated_series(session) if i in daily]
            await session.execute(
                text("CREATE TABLE bench_pairs (unit_id integer, indicator_id integer)")
            )
            await session.execute(
                text("INSERT INTO bench_pairs VALUES (:u, :i)"),
                [{"u": u, "i": i} for u, i in pairs],
            )
    finally:
        await engine.dispose()
    return token, len(pairs)


async def load_days(connection: AsyncConnection, newest: date, pairs: int, rows: int) -> date:
    """Insert ``rows`` observations, day by day backwards from ``newest``; the day to go on from."""
    days = -(-rows // pairs)
    oldest = newest - timedelta(days=days - 1)
    await connection.execute(
        text(LOAD),
        {"newest": newest, "oldest": oldest, "tz": TIMEZONE, "rows": rows},
    )
    return oldest - timedelta(days=1)


async def bulk_load(url: str, newest: date, pairs: int, rows: int) -> float:
    """Load ``rows`` more observations fast: secondary indexes and the natural-key constraint
    are dropped during the load and rebuilt after it (rebuilding checks no key was duplicated);
    foreign-key triggers are skipped when the role may (the ids come from the tables)."""
    engine = plain(url)
    started = time.perf_counter()
    try:
        async with engine.begin() as connection:
            recreate = await drop_secondary_indexes(connection)
        superuser = False
        async with engine.connect() as connection:
            superuser = bool(
                (
                    await connection.execute(
                        text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
                    )
                ).scalar_one()
            )
        loaded = 0
        while loaded < rows:
            chunk = min(CHUNK_ROWS, rows - loaded)
            async with engine.begin() as connection:
                await connection.execute(text("SET LOCAL synchronous_commit = off"))
                if superuser:
                    await connection.execute(text("SET LOCAL session_replication_role = replica"))
                newest = await load_days(connection, newest, pairs, chunk)
            loaded += chunk
            print(f"  loaded {loaded:,} of {rows:,} rows ({time.perf_counter() - started:.0f} s)")
        async with engine.begin() as connection:
            await connection.execute(text("SET LOCAL maintenance_work_mem = '1GB'"))
            for statement in recreate:
                await connection.execute(text(statement))
        await rebuild_state(engine)
    finally:
        await engine.dispose()
    return time.perf_counter() - started


async def drop_secondary_indexes(connection: AsyncConnection) -> list[str]:
    """Drop the observations' unique constraints and non-key indexes; return how to rebuild."""
    recreate = []
    constraints = await connection.execute(
        text(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'observations'::regclass AND contype = 'u'"
        )
    )
    for name, definition in constraints.all():
        await connection.execute(text(f'ALTER TABLE observations DROP CONSTRAINT "{name}"'))
        recreate.append(f'ALTER TABLE observations ADD CONSTRAINT "{name}" {definition}')
    indexes = await connection.execute(
        text(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'observations' "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint "
            "WHERE conrelid = 'observations'::regclass)"
        )
    )
    for name, definition in indexes.all():
        await connection.execute(text(f'DROP INDEX "{name}"'))
        recreate.append(definition)
    return recreate


async def rebuild_state(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        for statement in REBUILD_STATE[:3]:
            await connection.execute(text(statement))
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        for statement in REBUILD_STATE[3:]:
            await connection.execute(text(statement))


async def seeded_database(url: str, small: int, extra: int) -> tuple[str, float]:
    """The seeded registry with ``small`` observations of the two days before yesterday and
    back, then ``extra`` older ones bulk-loaded; the key and the bulk load's seconds."""
    token, pairs = await prepare_seeded(url)
    # Two days back: every row is received before now, and its series is fresh.
    newest = datetime.now(UTC).astimezone(Settings().tz).date() - timedelta(days=2)
    engine = plain(url)
    try:
        async with engine.begin() as connection:
            newest = await load_days(connection, newest, pairs, small)
        await rebuild_state(engine)
    finally:
        await engine.dispose()
    seconds = await bulk_load(url, newest, pairs, extra) if extra else 0.0
    return token, seconds


async def seeded_figures(
    small: int, large: int, rounds: int, calls: int
) -> tuple[list[Figure], float]:
    """Two databases, identical but for the number of observations, each behind its own hub;
    timed in alternating rounds so a noisy machine weighs on both alike."""
    async with (
        throwaway_database("ioc_hub_bench_coverage_few") as few_url,
        throwaway_database("ioc_hub_bench_coverage_many") as many_url,
    ):
        few_token, _ = await seeded_database(few_url, small, 0)
        many_token, seconds = await seeded_database(many_url, small, large - small)
        few_port, many_port = free_port(), free_port()
        with (
            server(hub(few_port), few_port, hub_env(few_url)),
            server(hub(many_port), many_port, hub_env(many_url)),
        ):
            few = Target("seeded registry", few_url, few_port, few_token)
            many = Target("seeded registry", many_url, many_port, many_token)
            await alternate(few, many, [COVERAGE, STALENESS], rounds, calls)
            return [await figure(few), await figure(many)], seconds


# --- a national-scale synthetic registry -------------------------------------------------------

NATIONAL_CADENCES = [Cadence.DAILY] * 10 + [Cadence.WEEKLY] * 5 + [Cadence.MONTHLY] * 10
NATIONAL_CADENCES += [Cadence.QUARTERLY] * 3 + [Cadence.YEARLY] * 2
# A few indicators override their cadence's grace, as the catalogue allows.
GRACE_OVERRIDES = {1: 6 * 3600, 12: 3 * 86_400, 20: 10 * 86_400}


async def build_national(url: str, departments: int, districts: int, communes: int) -> str:
    """Units, 30 indicators obliged on every kind, series state with a mix of lags (5% never),
    one observation per reporting series and contacts for 97% of units."""
    settings = Settings()
    engine = plain(url)
    try:
        async with engine.begin() as c:
            root = (
                await c.execute(
                    text(
                        "INSERT INTO units (code, name, kind, active) "
                        "VALUES ('VN', 'Việt Nam (synthetic)', 'province', true) RETURNING id"
                    )
                )
            ).scalar_one()
            units = (
                "INSERT INTO units (code, name, kind, parent_id, active) "
                "SELECT :prefix || lpad(n::text, 5, '0'), :name || ' ' || n, :kind, :root, true "
                "FROM generate_series(1, :count) n"
            )
            for prefix, name, kind, count in (
                ("DEPT-", "Sở", "department", departments),
                ("D", "Quận/huyện", "district", districts),
            ):
                await c.execute(
                    text(units),
                    {"prefix": prefix, "name": name, "kind": kind, "root": root, "count": count},
                )
            await c.execute(
                text(
                    "INSERT INTO units (code, name, kind, parent_id, active) "
                    "SELECT 'C' || lpad(n::text, 5, '0'), 'Xã ' || n, 'commune', d.id, true "
                    "FROM generate_series(1, :count) n "
                    "JOIN units d ON d.code = 'D' || lpad((1 + (n - 1) % :districts)::text, 5, '0')"
                ),
                {"count": communes, "districts": districts},
            )
            group = (
                await c.execute(
                    text(
                        "INSERT INTO indicator_groups (code, name) VALUES ('G-NAT', 'Quốc gia') "
                        "RETURNING id"
                    )
                )
            ).scalar_one()
            now = datetime.now(UTC)
            lags = []
            for n, cadence in enumerate(NATIONAL_CADENCES, start=1):
                grace = GRACE_OVERRIDES.get(n)
                indicator = (
                    await c.execute(
                        text(
                            "INSERT INTO indicators (code, name, group_id, cadence, "
                            "measurement_unit, time_aggregation, area_aggregation, grace_seconds, "
                            "open, active) VALUES (:code, :code, :group, :cadence, 'x', 'sum', "
                            "'sum', :grace, false, true) RETURNING id"
                        ),
                        {
                            "code": f"NAT-{n:02d}",
                            "group": group,
                            "cadence": cadence.value,
                            "grace": grace,
                        },
                    )
                ).scalar_one()
                for kind in ("department", "district", "commune"):
                    await c.execute(
                        text("INSERT INTO obligations (indicator_id, unit_kind) VALUES (:i, :k)"),
                        {"i": indicator, "k": kind},
                    )
                expected: Period = expected_period(
                    cadence, now, settings.tz, settings.grace(cadence, grace)
                )
                lags += [
                    {"i": indicator, "lag": lag, "period": p.id, "start": p.start}
                    for lag, p in enumerate([expected, *(expected.shift(-k) for k in (1, 2, 3))])
                ]
            await c.execute(
                text(
                    "CREATE TABLE bench_lags (indicator_id integer, lag integer, "
                    "period varchar(10), period_start date)"
                )
            )
            await c.execute(text("INSERT INTO bench_lags VALUES (:i, :lag, :period, :start)"), lags)
            # 70% fresh, then 10% each one, two and three periods behind; 5% never reported.
            await c.execute(
                text(
                    """
                    INSERT INTO series_state (unit_id, indicator_id, last_period,
                        last_period_start, last_value, last_received_at)
                    SELECT u.id, l.indicator_id, l.period, l.period_start, 1,
                        now() - make_interval(hours => u.id % 48)
                    FROM units u
                    JOIN bench_lags l ON l.lag = greatest(0, (u.id + l.indicator_id) % 10 - 6)
                    WHERE u.kind <> 'province' AND (u.id * 7 + l.indicator_id) % 20 <> 0
                    """
                )
            )
            await c.execute(
                text(
                    """
                    INSERT INTO observations (unit_id, indicator_id, period, period_start, value,
                        received_at, first_received_at, revision, imported)
                    SELECT unit_id, indicator_id, last_period, last_period_start, last_value,
                        last_received_at, last_received_at, 1, false
                    FROM series_state
                    """
                )
            )
            await c.execute(
                text(
                    """
                    INSERT INTO unit_contacts (unit_id, last_contact_at, last_push_at)
                    SELECT unit_id, max(last_received_at), max(last_received_at)
                    FROM series_state WHERE unit_id % 33 <> 0 GROUP BY unit_id
                    """
                )
            )
        async with create_session_factory(engine)() as session, session.begin():
            await timeline.record_missing_versions(session)  # units inserted above, by SQL
        async with engine.connect() as c:
            await c.execution_options(isolation_level="AUTOCOMMIT")
            await c.execute(text("ANALYZE"))
        async with create_session_factory(engine)() as session, session.begin():
            province = (await session.scalars(select(Unit).where(Unit.code == "VN"))).one()
            return (await mint_key(session, province, [Scope.COVERAGE_READ], "bench")).token
    finally:
        await engine.dispose()


async def national_figure(units: tuple[int, int, int], calls: int) -> Figure:
    async with throwaway_database("ioc_hub_bench_national") as url:
        token = await build_national(url, *units)
        port = free_port()
        with server(hub(port), port, hub_env(url)):
            target = Target("national-scale synthetic", url, port, token)
            for path in (COVERAGE, STALENESS):
                await sample(target, path, calls)
            return await figure(target)


# --- coverage as of a day across a reorganisation ---------------------------------------------

REFORM = "binh-duong-2025"
REFORM_DAY = date(2025, 7, 1)
DAYS_AROUND = {"before": "2025-06-30T12:00:00%2B07:00", "after": "2025-07-02T12:00:00%2B07:00"}

LOAD_OWED = (
    INSERT_DAILY
    + """
FROM generate_series(CAST(:first AS timestamp), CAST(:last AS timestamp), interval '1 day') d
JOIN bench_owed p ON p.since <= d::date AND d::date < p.until
CROSS JOIN LATERAL (SELECT (d + interval '1 day 2 hours') AT TIME ZONE :tz AS at) r
"""
)


async def registry_through_time(url: str, reformed: bool, first: date, last: date) -> str:
    """The seeded registry, reformed or not, with a daily value of every daily series on every
    day from ``first`` to ``last`` it was owed that day, received the next day at 02:00; the
    province's key."""
    engine = plain(url)
    try:
        async with create_session_factory(engine)() as session, session.begin():
            await seed_all(session)
            province = (await session.scalars(select(Unit).where(Unit.code == "74"))).one()
            token = (await mint_key(session, province, [Scope.COVERAGE_READ], "bench")).token
            if reformed:
                await reorganise.apply(session, await reorganise.builtin(session, REFORM))
            daily = set(
                await session.scalars(select(Indicator.id).where(Indicator.cadence == "daily"))
            )
            end = last + timedelta(days=1)
            # Owed on each side of the day: the registry is the same from one side's first day
            # to its last (an unchanged registry is the same on both).
            sides = [(first, REFORM_DAY), (REFORM_DAY, end)]
            owed = []
            for since, until in sides:
                pairs = await obligated_series(session, day=since)
                owed += [
                    {"u": u, "i": i, "since": since, "until": until} for u, i in pairs if i in daily
                ]
            await session.execute(
                text(
                    "CREATE TABLE bench_owed (unit_id integer, indicator_id integer, "
                    "since date, until date)"
                )
            )
            await session.execute(
                text("INSERT INTO bench_owed VALUES (:u, :i, :since, :until)"), owed
            )
            await session.execute(text(LOAD_OWED), {"first": first, "last": last, "tz": TIMEZONE})
        await rebuild_state(engine)
        async with engine.connect() as connection:  # the registry's tables too, alike on both
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text("ANALYZE"))
    finally:
        await engine.dispose()
    return token


@dataclass
class DayFigure:
    when: str
    unchanged_ms: float
    reformed_ms: float
    unchanged_answer: str
    reformed_answer: str

    @property
    def ratio(self) -> float:
        return self.reformed_ms / self.unchanged_ms


async def through_time_figures(days: int, rounds: int, calls: int) -> tuple[list[DayFigure], int]:
    """Both registries behind their own hub, each day's coverage timed in alternating rounds;
    the figures and the observations stored in the reformed one."""
    first = REFORM_DAY - timedelta(days=days // 2)
    last = REFORM_DAY + timedelta(days=days - days // 2 - 1)
    async with (
        throwaway_database("ioc_hub_bench_unchanged") as unchanged_url,
        throwaway_database("ioc_hub_bench_reformed") as reformed_url,
    ):
        unchanged_token = await registry_through_time(unchanged_url, False, first, last)
        reformed_token = await registry_through_time(reformed_url, True, first, last)
        engine = plain(reformed_url)
        try:
            async with engine.connect() as connection:
                observations = await scalar(connection, "SELECT count(*) FROM observations")
        finally:
            await engine.dispose()
        unchanged_port, reformed_port = free_port(), free_port()
        paths = {when: f"{COVERAGE}?at={at}" for when, at in DAYS_AROUND.items()}
        with (
            server(hub(unchanged_port), unchanged_port, hub_env(unchanged_url)),
            server(hub(reformed_port), reformed_port, hub_env(reformed_url)),
        ):
            unchanged = Target("unchanged", unchanged_url, unchanged_port, unchanged_token)
            reformed = Target("reformed", reformed_url, reformed_port, reformed_token)
            await alternate(unchanged, reformed, list(paths.values()), rounds, calls)
        return [
            DayFigure(
                when,
                statistics.median(unchanged.times[path]),
                statistics.median(reformed.times[path]),
                unchanged.answers[path],
                reformed.answers[path],
            )
            for when, path in paths.items()
        ], observations


def print_through_time(
    figures: list[DayFigure], observations: int, rounds: int, calls: int
) -> None:
    print(
        "\ncoverage as of a day across the 2025 reform on PostgreSQL: GET /api/v1/coverage?at=… "
        "with the province's key, the seeded registry unchanged and reformed, "
        f"{observations:,} stored observations in the reformed one, median latency of "
        f"{rounds} alternating rounds of {calls} calls"
    )
    print(
        table(
            [
                (
                    f"{f.when} the reform ({DAYS_AROUND[f.when].replace('%2B', '+')})",
                    f"{f.unchanged_ms:.1f}",
                    f"{f.reformed_ms:.1f}",
                    f"{f.ratio:.3f}",
                )
                for f in figures
            ],
            ["at", "unchanged ms", "reformed ms", "reformed / unchanged"],
        )
    )
    for f in figures:
        print(f"{f.when}: unchanged answers {f.unchanged_answer}")
        print(f"{f.when}: reformed answers {f.reformed_answer}")
    worst = max(f.ratio for f in figures)
    verdict = "met" if worst <= 1.5 else "NOT met"
    print(
        f"coverage as of a day, reformed / unchanged registry, worst: {worst:.3f} "
        f"(goal <= 1.5: {verdict})"
    )


async def main(quick: bool, part: str) -> None:
    small, large = (10_000, 200_000) if quick else (10_000, 10_000_000)
    national = (5, 70, 1_025) if quick else (50, 700, 10_250)
    rounds, calls, national_calls = (2, 5, 5) if quick else (6, 10, 9)
    days = 30 if quick else 122

    if part == "through-time":
        figures, observations = await through_time_figures(days, rounds, calls)
        print_through_time(figures, observations, rounds, calls)
        return

    print(f"seeded registry: {small:,} and {large:,} observations")
    (few, many), load_seconds = await seeded_figures(small, large, rounds, calls)
    print(f"national-scale registry: {sum(national):,} units")
    country = await national_figure(national, national_calls)

    print()
    print(
        "coverage bench on PostgreSQL: GET /api/v1/coverage (and /staleness, same state path) "
        "with a province key through a running hub (1 uvicorn worker each), median latency; "
        f"seeded: {rounds} alternating rounds of {calls} calls per database, national: "
        f"{national_calls} calls, after {WARM_UP} warm-up calls"
    )
    print(
        table(
            [
                (
                    f.what,
                    f"{f.observations:,}",
                    f"{f.units:,}",
                    f"{f.series:,}",
                    f"{f.coverage_ms:.1f}",
                    f"{f.staleness_ms:.1f}",
                )
                for f in (few, many, country)
            ],
            ["registry", "observations", "units", "series", "coverage ms", "staleness ms"],
        )
    )
    ratio = many.coverage_ms / few.coverage_ms
    verdict = "met" if ratio <= 1.5 else "NOT met"
    print(
        f"\ncoverage latency ratio, {large:,} / {small:,} observations: {ratio:.3f} "
        f"(goal <= 1.5: {verdict})"
    )
    print(
        f"bulk load of {large - small:,} observations (index and state rebuild included): "
        f"{load_seconds:.0f} s"
    )
    print(f"seeded answer: {many.answer}")
    print(f"national answer: {country.answer}")
    figures, observations = await through_time_figures(days, rounds, calls)
    print_through_time(figures, observations, rounds, calls)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes for a smoke run")
    parser.add_argument(
        "--part", choices=["all", "through-time"], default="all", help="run only this part"
    )
    arguments = parser.parse_args()
    asyncio.run(main(arguments.quick, arguments.part))
