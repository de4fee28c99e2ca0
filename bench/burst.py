"""The daily deadline burst as it happens in the field: push latency under a paced load.

Before the daily deadline the province's reporting units push their daily values in small
pushes of 1 to 5 rows (a field's worth: 200 units of about 40 values each), while 10
departments each send a 1,000-row batch from their own systems; all of it within 60 s, from 50
concurrent senders. The schedule is fixed before the run (open loop): every push has its moment
in the window, and a sender waits for that moment rather than sending as fast as it can. Each
unit's pushes are spread over the window one per slot, so a unit sends in order and rarely
twice at once; the batches come at even intervals.

The registry is the seeded Bình Dương one, and the rows are its obligated daily series: each
reporting unit pushes its own with its own key (``observations:write``), day by day up to
yesterday, oldest first, so every push moves its series forward; the departments' batches bring
history, newest day first. Values are drawn within each indicator's valid range. The seeded
registry has fewer units with daily obligations than the field's 200, so the field's rows are
shared out among the units it has: the load is the field's, each unit sends more.

Latency is measured at the client, ``time.perf_counter`` around each request (httpx, one pool
of 50 connections). A response other than 2xx, a rejected row or a row not stored is an error.
Two configurations, each on a fresh database:

- PostgreSQL, the hub served as ``ioc-hub serve`` with 2 uvicorn workers. Goal: p99 ≤ 100 ms.
- SQLite in a temporary file, the hub in one process. Goal: p99 ≤ 250 ms.

and zero errors on both.

Run: ``python -m bench.burst`` (``--quick`` for a 10 s smoke run with fewer units, ``--engine
postgresql|sqlite|both``). PostgreSQL server from ``IOC_HUB_BENCH_DATABASE_URL`` (default: the
local ``test`` database's server).
"""

import argparse
import asyncio
import math
import random
import time
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import httpx
import orjson
from sqlalchemy import func, select

from bench.common import free_port, fresh_database, server, table
from bench.ingest import hub_cmd
from ioc_hub.access.service import mint_key
from ioc_hub.catalogue.service import obligated_series
from ioc_hub.config import Settings
from ioc_hub.db import create_engine, create_session_factory
from ioc_hub.models import Indicator, Observation, Scope, Unit, UnitKind
from ioc_hub.seed import seed_all

FIELD_UNITS = 200
VALUES_PER_UNIT = 40
PUSH_ROWS = (1, 5)
DEPARTMENTS = 10
BATCH = 1000
SENDERS = 50
WINDOW_SECONDS = 60.0
QUICK_UNITS, QUICK_DEPARTMENTS, QUICK_WINDOW_SECONDS = 30, 2, 10.0
SEED = 74  # the same schedule and values, run after run
TIMEOUT_SECONDS = 30.0
SHOWN_ERRORS = 5


@dataclass(frozen=True)
class Engine:
    name: str
    title: str
    workers: int
    goal_ms: float


ENGINES = {
    "postgresql": Engine("postgresql", "PostgreSQL", 2, 100.0),
    "sqlite": Engine("sqlite", "SQLite", 1, 250.0),
}


@dataclass(frozen=True)
class Daily:
    """A daily indicator and the integer values its range allows."""

    code: str
    low: int
    high: int


@dataclass(frozen=True)
class Reporter:
    code: str
    kind: str
    token: str
    series: tuple[Daily, ...]


@dataclass(frozen=True)
class Push:
    at: float  # seconds into the window
    token: str
    body: bytes
    rows: int
    batch: bool = False


@dataclass(frozen=True)
class Outcome:
    push: Push
    sent: float  # seconds into the window
    seconds: float
    late: float  # how long after its moment it went out
    error: str | None

    def overlaps(self, other: "Outcome") -> bool:
        return self.sent < other.sent + other.seconds and other.sent < self.sent + self.seconds


async def prepare(url: str) -> list[Reporter]:
    """Seed the registry; mint a push key for every unit with daily obligations."""
    engine = create_engine(Settings(database_url=url))
    try:
        async with create_session_factory(engine)() as session, session.begin():
            await seed_all(session)
            daily = {
                i.id: Daily(i.code, math.ceil(i.min_value or 0), _high(i.min_value, i.max_value))
                for i in await session.scalars(
                    select(Indicator).where(Indicator.cadence == "daily")
                )
            }
            series: dict[int, list[Daily]] = defaultdict(list)
            for unit_id, indicator_id in await obligated_series(session, indicator_ids=daily):
                series[unit_id].append(daily[indicator_id])
            units = await session.scalars(
                select(Unit).where(Unit.id.in_(series)).order_by(Unit.code)
            )
            return [
                Reporter(
                    unit.code,
                    unit.kind,
                    (await mint_key(session, unit, [Scope.OBSERVATIONS_WRITE])).token,
                    tuple(series[unit.id]),
                )
                for unit in units
            ]
    finally:
        await engine.dispose()


def _high(low: float | None, high: float | None) -> int:
    return math.floor(high) if high is not None else math.ceil(low or 0) + 1000


def body(reporter: Reporter, rows: Sequence[tuple[Daily, date]], rng: random.Random) -> bytes:
    observations = [
        {
            "unit": reporter.code,
            "indicator": d.code,
            "value": rng.randint(d.low, d.high),
            "period": day.isoformat(),
        }
        for d, day in rows
    ]
    return orjson.dumps({"observations": observations})


def days_back(yesterday: date, count: int) -> list[date]:
    return [yesterday - timedelta(days=back) for back in range(count)]


def schedule(
    reporters: list[Reporter], units: int, departments: int, window: float
) -> tuple[list[Push], int]:
    """Every push of the burst with its moment, in time order; and how many units push small."""
    rng = random.Random(SEED)
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    by_department = [r for r in reporters if r.kind == UnitKind.DEPARTMENT][:departments]
    small = [r for r in reporters if r not in by_department]
    small = rng.sample(small, min(units, len(small)))
    pushes: list[Push] = []

    total = units * VALUES_PER_UNIT  # the field's rows, whatever the registry's unit count
    for n, reporter in enumerate(small):
        count = total // len(small) + (n < total % len(small))
        days = days_back(yesterday, math.ceil(count / len(reporter.series)))[::-1]
        rows = [(d, day) for day in days for d in reporter.series][-count:]
        sizes: list[int] = []
        while sum(sizes) < len(rows):
            sizes.append(min(rng.randint(*PUSH_ROWS), len(rows) - sum(sizes)))
        slot = window / len(sizes)
        start = 0
        for k, size in enumerate(sizes):
            at = (k + rng.random()) * slot
            pushes.append(
                Push(at, reporter.token, body(reporter, rows[start : start + size], rng), size)
            )
            start += size

    for n, reporter in enumerate(by_department):
        days = days_back(yesterday, math.ceil(BATCH / len(reporter.series)))
        rows = [(d, day) for day in days for d in reporter.series][:BATCH]
        at = (n + 0.5) * window / len(by_department)
        pushes.append(Push(at, reporter.token, body(reporter, rows, rng), BATCH, batch=True))
    return sorted(pushes, key=lambda p: p.at), len(small)


def check(response: httpx.Response, push: Push) -> str | None:
    """Why this answer is an error, or None: not 2xx, a rejected row, a row not stored."""
    if not response.is_success:
        return f"{response.status_code} {response.text[:300]}"
    summary = response.json()
    if summary["rejected"]:
        return f"{summary['rejected']} of {push.rows} rows rejected: {summary['errors'][:3]}"
    stored = summary["created"] + summary["updated"] + summary["unchanged"]
    if stored != push.rows:
        return f"{stored} of {push.rows} rows stored: {summary}"
    return None


async def burst(port: int, pushes: list[Push]) -> tuple[list[Outcome], float]:
    """Send every push at its moment from SENDERS senders; the outcomes and the seconds taken."""
    limits = httpx.Limits(max_connections=SENDERS, max_keepalive_connections=SENDERS)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=TIMEOUT_SECONDS
    ) as client:
        # Every worker up, and the pool's connections open, as they would be mid-afternoon.
        await asyncio.gather(*(client.get("/ready") for _ in range(SENDERS)))
        queue = deque(pushes)
        outcomes: list[Outcome] = []
        started = time.perf_counter() + 0.1

        async def sender() -> None:
            while queue:
                push = queue.popleft()
                moment = started + push.at
                if (wait := moment - time.perf_counter()) > 0:
                    await asyncio.sleep(wait)
                headers = {
                    "Authorization": f"Bearer {push.token}",
                    "Content-Type": "application/json",
                }
                sent = time.perf_counter()
                try:
                    response = await client.post(
                        "/api/v1/observations", content=push.body, headers=headers
                    )
                    seconds = time.perf_counter() - sent
                    error = check(response, push)
                except (httpx.HTTPError, ValueError, KeyError) as exc:
                    seconds = time.perf_counter() - sent
                    error = f"{type(exc).__name__}: {exc}"
                outcomes.append(Outcome(push, sent - started, seconds, sent - moment, error))

        await asyncio.gather(*(sender() for _ in range(SENDERS)))
        return outcomes, time.perf_counter() - started


async def stored_rows(url: str) -> int:
    engine = create_engine(Settings(database_url=url))
    try:
        async with engine.connect() as connection:
            count = await connection.scalar(select(func.count()).select_from(Observation))
            return int(count or 0)
    finally:
        await engine.dispose()


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest rank: the smallest value with at least p % of the values at or below it."""
    return sorted_values[max(0, math.ceil(p / 100 * len(sorted_values)) - 1)]


def latency_row(name: str, outcomes: list[Outcome]) -> tuple[str, ...]:
    if not outcomes:
        return (name, "0", "0", "0", "-", "-", "-")
    ms = sorted(o.seconds * 1000 for o in outcomes)
    errors = sum(o.error is not None for o in outcomes)
    rows = sum(o.push.rows for o in outcomes)
    figures = [f"{percentile(ms, p):.1f}" for p in (50, 99)]
    return (name, f"{len(outcomes):,}", f"{rows:,}", str(errors), *figures, f"{ms[-1]:.1f}")


async def run(engine: Engine, quick: bool) -> None:
    units = QUICK_UNITS if quick else FIELD_UNITS
    departments = QUICK_DEPARTMENTS if quick else DEPARTMENTS
    window = QUICK_WINDOW_SECONDS if quick else WINDOW_SECONDS
    async with fresh_database(engine.name, "ioc_hub_bench_burst") as url:
        reporters = await prepare(url)
        pushes, senders = schedule(reporters, units, departments, window)
        port = free_port()
        env = {"IOC_HUB_DATABASE_URL": url, "IOC_HUB_LOG_LEVEL": "warning"}
        with server(hub_cmd(port, engine.workers), port, env):
            outcomes, seconds = await burst(port, pushes)
        stored = await stored_rows(url)

    report(engine, quick, outcomes, seconds, senders, stored)


def report(
    engine: Engine,
    quick: bool,
    outcomes: list[Outcome],
    seconds: float,
    senders: int,
    stored: int,
) -> None:
    small = [o for o in outcomes if not o.push.batch]
    batches = [o for o in outcomes if o.push.batch]
    during = [o for o in small if any(o.overlaps(b) for b in batches)]
    errors = [o for o in outcomes if o.error is not None]
    rows = sum(o.push.rows for o in outcomes)
    units = QUICK_UNITS if quick else FIELD_UNITS
    window = QUICK_WINDOW_SECONDS if quick else WINDOW_SECONDS
    workers = f"{engine.workers} uvicorn workers" if engine.workers > 1 else "one process"
    low, high = PUSH_ROWS
    print(
        f"\nburst on {engine.title}, hub in {workers}: {SENDERS} senders, a {window:.0f} s "
        f"schedule (took {seconds:.1f} s)\n"
        f"  small pushes: {len(small):,} of {low}–{high} rows, {units * VALUES_PER_UNIT:,} rows "
        f"(the field's {units} units × {VALUES_PER_UNIT} values), sent by {senders} units\n"
        f"  batches: {len(batches)} of {BATCH:,} rows, one per department"
    )
    print(
        table(
            [
                latency_row(f"pushes of {low}–{high} rows", small),
                latency_row("  … while a batch was in flight", during),
                latency_row(f"batches of {BATCH:,} rows", batches),
                latency_row("overall", outcomes),
            ],
            ["requests", "sent", "rows", "errors", "p50 ms", "p99 ms", "max ms"],
        )
    )
    late = max(o.late for o in outcomes)
    print(
        f"rows stored: {stored:,} of {rows:,}; latest send: {late * 1000:.0f} ms after its moment"
    )
    if stored != rows:
        print(f"error: {stored:,} rows stored, {rows:,} sent")
    for o in errors[:SHOWN_ERRORS]:
        print(f"error: push of {o.push.rows} rows at {o.sent:.2f} s: {o.error}")
    if len(errors) > SHOWN_ERRORS:
        print(f"… and {len(errors) - SHOWN_ERRORS} more errors")

    p99 = percentile(sorted(o.seconds * 1000 for o in outcomes), 99)
    failed = len(errors) + (stored != rows)
    print(
        table(
            [
                (
                    f"burst p99 ms, {engine.title}, {workers}",
                    f"{p99:.1f}",
                    f"<= {engine.goal_ms:.0f}",
                    "pass" if p99 <= engine.goal_ms else "FAIL",
                ),
                (
                    f"burst errors, {engine.title}",
                    str(failed),
                    "= 0",
                    "pass" if failed == 0 else "FAIL",
                ),
            ],
            ["figure", "measured", "goal", "result"],
        )
    )


async def main(quick: bool, engines: list[Engine]) -> None:
    for engine in engines:
        await run(engine, quick)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 10 s window, fewer units")
    parser.add_argument(
        "--engine", choices=[*ENGINES, "both"], default="both", help="which configuration"
    )
    args = parser.parse_args()
    chosen = list(ENGINES.values()) if args.engine == "both" else [ENGINES[args.engine]]
    asyncio.run(main(args.quick, chosen))
