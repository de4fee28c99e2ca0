"""Ingest throughput on PostgreSQL, as ratios measured in one run.

1. Batch ingest through the running hub's HTTP API (1,000-row batches, 4 concurrent clients)
   versus the raw ceiling: the same batches upserted straight through asyncpg, one
   ``INSERT … SELECT FROM unnest(…) ON CONFLICT …`` per batch. Goal: hub ≥ 0.5 × raw rows/s.
2. Single-row pushes, shown against a bare FastAPI endpoint returning a constant and one asyncpg
   insert per request, in the same uvicorn setup: where a push's time goes, no goal. Whether a
   change makes pushes faster or slower is ``bench.compare``'s question.
3. Outlier flagging on against off (docs/design.md §9): two hubs on the same database, one
   with ``IOC_HUB_OUTLIER_FLAGGING=false``, each in turn pushing the same 1,000-row batches of
   new days onto a year of stored history, so that every value is judged against a full
   baseline and the run crosses month boundaries as the field does. Goal: on ≥ 0.8 × off, with
   the history pushed through the hub under test as a running hub gets it; shown beside it, the
   same over the batches before the first month start (from the same runs, up to the answer of
   the last of them), and the history copied in raw, which leaves every cache empty.

Run: ``python -m bench.ingest`` (``--quick`` for a smoke run; ``--only-flagging`` for part 3
alone). Database from ``IOC_HUB_BENCH_DATABASE_URL`` (default: the local ``test`` database's
server).
"""

import argparse
import asyncio
import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import asyncpg
import orjson
from sqlalchemy import select

from bench.common import (
    HttpConnection,
    asyncpg_dsn,
    free_port,
    server,
    table,
    throwaway_database,
)
from ioc_hub.access.service import mint_key
from ioc_hub.config import Settings
from ioc_hub.db import create_engine, create_session_factory
from ioc_hub.models import Indicator, Obligation, Scope, Unit, UnitKind
from ioc_hub.seed import seed_all

CLIENTS = 4
SENDERS = 8
BATCH = 1000
WORKERS = 2
ROUNDS = 5

RAW_UPSERT = """
INSERT INTO observations (unit_id, indicator_id, period, period_start, value, observed_at,
    received_at, first_received_at, revision, imported)
SELECT unit_id, indicator_id, period, period_start, value, NULL, now(), now(), 1, false
FROM unnest($1::integer[], $2::integer[], $3::varchar[], $4::date[], $5::float8[])
    AS t(unit_id, indicator_id, period, period_start, value)
ON CONFLICT (unit_id, indicator_id, period, period_start) DO UPDATE SET value = excluded.value
"""

# Everything a push writes, so each round starts from the same empty history.
RESET = (
    "TRUNCATE observations, observation_revisions, series_state, series_months, unit_contacts, "
    "rejections, outlier_flags, outlier_baselines, outlier_months, follow_ups"
)
HISTORY_DAYS = 365
"""Stored history under the flagging run: a year, the default baseline."""


@dataclass
class Series:
    unit_id: int
    unit_code: str
    indicator_id: int
    indicator_code: str


async def prepare(url: str) -> tuple[list[Series], str]:
    """Seed the registry and return the daily commune series and a province push key."""
    engine = create_engine(Settings(database_url=url))
    try:
        async with create_session_factory(engine)() as session, session.begin():
            await seed_all(session)
            province = (
                await session.scalars(select(Unit).where(Unit.kind == UnitKind.PROVINCE))
            ).one()
            token = (await mint_key(session, province, [Scope.OBSERVATIONS_WRITE])).token
            communes = (
                await session.execute(
                    select(Unit.id, Unit.code).where(Unit.kind == UnitKind.COMMUNE)
                )
            ).all()
            daily = (
                await session.execute(
                    select(Indicator.id, Indicator.code)
                    .join(Obligation, Obligation.indicator_id == Indicator.id)
                    .where(Indicator.cadence == "daily", Obligation.unit_kind == "commune")
                    .where(Indicator.max_value.is_(None) | (Indicator.max_value >= 1000))
                    .distinct()
                )
            ).all()
    finally:
        await engine.dispose()
    series = [Series(u.id, u.code, i.id, i.code) for u, i in itertools.product(communes, daily)]
    return series, token


def hub_cmd(port: int, workers: int = WORKERS) -> list[str]:
    """The hub as ``ioc-hub serve`` runs it, on a migrated database."""
    serve = ["-m", "ioc_hub", "serve", "--no-migrate"]
    return [*serve, "--port", str(port), "--workers", str(workers)]


def uvicorn_cmd(app: str, port: int) -> list[str]:
    """A reference server in the hub's uvicorn setup (same workers, quiet log)."""
    workers = ["--workers", str(WORKERS), "--log-level", "warning"]
    return ["-m", "uvicorn", app, "--port", str(port), *workers]


def batches(series: list[Series], total_rows: int) -> list[list[tuple[Series, date]]]:
    """Unique (unit, indicator, day) rows, newest days first, cut into 1,000-row batches."""
    today = datetime.now(UTC).date() - timedelta(days=1)

    def rows() -> Iterator[tuple[Series, date]]:
        for back in itertools.count():
            day = today - timedelta(days=back)
            for s in series:
                yield s, day

    flat = list(itertools.islice(rows(), total_rows))
    return [flat[i : i + BATCH] for i in range(0, len(flat), BATCH)]


def flagging_work(
    series: list[Series], new_days: int
) -> tuple[list[tuple[Series, date]], list[list[tuple[Series, date]]]]:
    """A year of history, then ``new_days`` days up to yesterday cut into 1,000-row batches,
    oldest day first as units send them."""
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    first_new = yesterday - timedelta(days=new_days - 1)
    history = [
        (s, first_new - timedelta(days=back)) for back in range(1, HISTORY_DAYS + 1) for s in series
    ]
    flat = [(s, first_new + timedelta(days=d)) for d in range(new_days) for s in series]
    return history, [flat[i : i + BATCH] for i in range(0, len(flat), BATCH)]


async def upsert(connection: asyncpg.Connection, rows: list[tuple[Series, date]]) -> None:
    """Rows stored straight through asyncpg: the raw ceiling, and history under a benchmark."""
    await connection.execute(
        RAW_UPSERT,
        [s.unit_id for s, _ in rows],
        [s.indicator_id for s, _ in rows],
        [d.isoformat() for _, d in rows],
        [d for _, d in rows],
        [float(value_of(s, d)) for s, d in rows],
    )


@dataclass
class Flagging:
    """Best rows/s of the hub with outlier flagging on and off, over ``batches`` batches, and
    over the first ``within`` of them, before the first batch that starts a month."""

    on: float
    off: float
    batches: int
    on_within: float
    off_within: float
    within: int


async def run_flagging(
    url: str, token: str, series: list[Series], quick: bool
) -> dict[str, Flagging]:
    """Flagging on against off, alternating, in two states of the database: ``kept``, the year
    of history pushed through the hub under test, so that its caches hold what a running hub's
    hold (the goal); ``cold``, the history copied in straight through asyncpg, so that nothing is
    cached and the first batch computes every baseline from a year of observations."""
    history, work = flagging_work(series, 10 if quick else 60)
    loads = history_batches(history)
    env = {"IOC_HUB_DATABASE_URL": url, "IOC_HUB_LOG_LEVEL": "warning"}
    on_port, off_port = free_port(), free_port()
    off_env = {**env, "IOC_HUB_OUTLIER_FLAGGING": "false"}
    connection = await asyncpg.connect(asyncpg_dsn(url))
    # A quick run's ten days may not reach a month's start.
    within = next(iter(month_starts(work)), len(work))
    rows = sum(map(len, work))
    rates: dict[tuple[str, int], list[tuple[float, float]]] = {
        (state, port): [] for state in ("kept", "cold") for port in (on_port, off_port)
    }
    try:
        with server(hub_cmd(on_port), on_port, env), server(hub_cmd(off_port), off_port, off_env):
            for order in ([on_port, off_port], [off_port, on_port]) * (1 if quick else 2):
                for state, port in itertools.product(("kept", "cold"), order):
                    await connection.execute(RESET)
                    if state == "kept":
                        for batches_of_a_day in loads:
                            await run_hub(port, token, batches_of_a_day)
                    else:
                        for i in range(0, len(history), 20 * BATCH):
                            await upsert(connection, history[i : i + 20 * BATCH])
                    await connection.execute("ANALYZE observations")
                    done = await timed_pushes(port, token, work)
                    early = sum(map(len, work[:within])) / max(done[:within])
                    rates[(state, port)].append((rows / max(done), early))
    finally:
        await connection.close()

    def best(state: str, port: int, figure: int) -> float:
        return max(r[figure] for r in rates[(state, port)])

    return {
        state: Flagging(
            best(state, on_port, 0),
            best(state, off_port, 0),
            len(work),
            best(state, on_port, 1),
            best(state, off_port, 1),
            within,
        )
        for state in ("kept", "cold")
    }


def history_batches(
    history: list[tuple[Series, date]],
) -> list[list[list[tuple[Series, date]]]]:
    """The history as units push it: each day's values in 1,000-row batches, day after day."""
    by_day: dict[date, list[tuple[Series, date]]] = {}
    for s, d in history:
        by_day.setdefault(d, []).append((s, d))
    return [
        [rows[i : i + BATCH] for i in range(0, len(rows), BATCH)]
        for _, rows in sorted(by_day.items())
    ]


def value_of(s: Series, day: date) -> int:
    """A series' own level with day-to-day noise and, one day in about a thousand, a spike:
    what outlier flagging meets in the field (values stay below 1,000, every indicator's max)."""
    mix = (s.unit_id * 7919 + s.indicator_id * 104_729 + day.toordinal() * 15_485_863) % 1_000_003
    level = 100 + (s.unit_id * 31 + s.indicator_id * 7) % 400
    spike = level * 4 // 5 if mix % 997 == 0 else 0
    return level + mix % 41 - 20 + spike


async def run_raw(dsn: str, work: list[list[tuple[Series, date]]]) -> float:
    queue: asyncio.Queue[list[tuple[Series, date]]] = asyncio.Queue()
    for batch in work:
        queue.put_nowait(batch)
    connections = [await asyncpg.connect(dsn) for _ in range(CLIENTS)]

    async def worker(connection: asyncpg.Connection) -> None:
        while not queue.empty():
            await upsert(connection, queue.get_nowait())

    started = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in connections))
    elapsed = time.perf_counter() - started
    for c in connections:
        await c.close()
    return sum(map(len, work)) / elapsed


def push_body(rows: list[tuple[Series, date]]) -> bytes:
    """A push of these rows, as a unit's system would send it."""
    observations = [
        {
            "unit": s.unit_code,
            "indicator": s.indicator_code,
            "value": value_of(s, d),
            "period": d.isoformat(),
        }
        for s, d in rows
    ]
    return orjson.dumps({"observations": observations})


async def run_hub(port: int, token: str, work: list[list[tuple[Series, date]]]) -> float:
    """Rows/s of ``work`` pushed from ``CLIENTS`` connections."""
    return sum(map(len, work)) / max(await timed_pushes(port, token, work))


async def timed_pushes(port: int, token: str, work: list[list[tuple[Series, date]]]) -> list[float]:
    """Push ``work`` from ``CLIENTS`` connections, each taking the next batch in order; the
    seconds from the start to each batch's answer."""
    bodies = [push_body(batch) for batch in work]
    queue: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()
    for each in enumerate(bodies):
        queue.put_nowait(each)
    done = [0.0] * len(work)
    created = 0

    async def worker() -> None:
        nonlocal created
        http = HttpConnection(port, token)
        try:
            while not queue.empty():
                index, body = queue.get_nowait()
                status, answer = await http.request("POST", "/api/v1/observations", body)
                if status != 200:
                    raise RuntimeError(f"push failed: {status} {answer[:300]!r}")
                created += orjson.loads(answer)["created"]
                done[index] = time.perf_counter() - started
        finally:
            await http.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CLIENTS)))
    expected = sum(map(len, work))
    if created != expected:
        raise RuntimeError(f"hub created {created} rows, expected {expected}")
    return done


def month_starts(work: list[list[tuple[Series, date]]]) -> list[int]:
    """The batches that reach a month the batches before them did not: each computes every
    series' baseline of that month, and the batches behind it wait for it (docs/design.md §9)."""
    newest = [max(day for _, day in batch).replace(day=1) for batch in work]
    return [i for i in range(1, len(work)) if newest[i] > newest[i - 1]]


async def run_single(port: int, token: str | None, senders: list[list[bytes]]) -> float:
    """One connection per sender, each pushing its own rows one request at a time."""

    async def sender(rows: list[bytes]) -> None:
        http = HttpConnection(port, token)
        try:
            for body in rows:
                status, answer = await http.request("POST", "/api/v1/observations", body)
                if status != 200:
                    raise RuntimeError(f"push failed: {status} {answer[:300]!r}")
        finally:
            await http.close()

    started = time.perf_counter()
    await asyncio.gather(*(sender(rows) for rows in senders))
    return sum(map(len, senders)) / (time.perf_counter() - started)


def single_row_senders(work: list[list[tuple[Series, date]]], count: int) -> list[list[bytes]]:
    """Rows split by unit: each sender is one commune pushing its own values as in the field,
    day after day up to yesterday, so that every push moves its series forward."""
    by_unit: dict[str, list[bytes]] = {}
    for batch in work:  # newest day first
        for s, d in batch:
            by_unit.setdefault(s.unit_code, []).append(push_body([(s, d)]))
    per_sender = count // SENDERS
    return [rows[:per_sender][::-1] for rows in list(by_unit.values())[:SENDERS]]


async def flagging_only(quick: bool) -> None:
    async with throwaway_database("ioc_hub_bench_ingest") as url:
        series, token = await prepare(url)
        print_flagging(len(series), await run_flagging(url, token, series, quick))


def print_flagging(series: int, flagging: dict[str, Flagging]) -> None:
    kept, cold = flagging["kept"], flagging["cold"]
    print(
        f"outlier flagging on PostgreSQL: {kept.batches} batches of {BATCH} rows of new days onto "
        f"{HISTORY_DAYS} days of history ({series} daily series), {CLIENTS} clients, "
        f"{WORKERS} uvicorn workers; best of alternating rounds"
    )
    print(
        table(
            [
                (
                    "ingest rows/s, flagging on / off, history pushed through the hub",
                    f"{kept.on:,.0f}",
                    f"{kept.off:,.0f} (flagging off)",
                    f"{kept.on / kept.off:.3f}",
                    ">= 0.80",
                ),
                (
                    f"  the same, the {kept.within} batches before the first month start",
                    f"{kept.on_within:,.0f}",
                    f"{kept.off_within:,.0f} (flagging off)",
                    f"{kept.on_within / kept.off_within:.3f}",
                    "",
                ),
                (
                    "  the same, history copied in raw (nothing cached)",
                    f"{cold.on:,.0f}",
                    f"{cold.off:,.0f} (flagging off)",
                    f"{cold.on / cold.off:.3f}",
                    "",
                ),
            ],
            ["figure", "hub", "ceiling", "ratio", "goal"],
        )
    )


async def main(quick: bool) -> None:
    batch_rows = 40_000 if quick else 200_000
    single_requests = 1_000 if quick else 6_000
    async with throwaway_database("ioc_hub_bench_ingest") as url:
        series, token = await prepare(url)
        work = batches(series, batch_rows)
        dsn = asyncpg_dsn(url)
        reset = await asyncpg.connect(dsn)

        env = {"IOC_HUB_DATABASE_URL": url, "IOC_HUB_LOG_LEVEL": "warning"}
        hub_port, bare_port = free_port(), free_port()
        bare_cmd = uvicorn_cmd("bench.bare_app:app", bare_port)

        # Alternate, several rounds, and keep each side's best: drift on this noisy machine then
        # hits both sides alike, and so does the kernel's luck in spreading a round's fresh
        # connections over the two workers (they share one listening socket, and in some rounds
        # one worker takes all 8: the bare endpoint then runs at half speed).
        raw_rates, hub_rates, hub_singles, bare_singles, insert_singles = [], [], [], [], []
        senders = single_row_senders(work, single_requests)
        insert_port = free_port()
        insert_cmd = uvicorn_cmd("bench.minimal_app:app", insert_port)
        with (
            server(hub_cmd(hub_port), hub_port, env),
            server(bare_cmd, bare_port, env),
            server(insert_cmd, insert_port, env),
        ):
            for _ in range(2):
                await reset.execute(RESET)
                raw_rates.append(await run_raw(dsn, work))
                await reset.execute(RESET)
                hub_rates.append(await run_hub(hub_port, token, work))
            for _ in range(ROUNDS):
                await reset.execute(RESET)
                hub_singles.append(await run_single(hub_port, token, senders))
                bare_singles.append(await run_single(bare_port, None, senders))
                await reset.execute(RESET)
                insert_singles.append(await run_single(insert_port, None, senders))
        await reset.close()
        flagging = await run_flagging(url, token, series, quick)

    raw, hub = max(raw_rates), max(hub_rates)
    hub_single, bare_single, insert_single = (
        max(hub_singles),
        max(bare_singles),
        max(insert_singles),
    )
    print(
        f"ingest bench on PostgreSQL, {len(work)} batches of {BATCH} rows, {CLIENTS} clients, "
        f"{WORKERS} uvicorn workers; {single_requests} single-row pushes from {SENDERS} units, "
        f"one connection each; best of 2 (batch) and {ROUNDS} (single-row) alternating rounds"
    )
    print(
        table(
            [
                (
                    "batch ingest rows/s",
                    f"{hub:,.0f}",
                    f"{raw:,.0f} (raw asyncpg upsert)",
                    f"{hub / raw:.3f}",
                    ">= 0.50",
                ),
                (
                    "single-row pushes req/s",
                    f"{hub_single:,.0f}",
                    f"{bare_single:,.0f} (bare endpoint)",
                    f"{hub_single / bare_single:.3f}",
                    "",
                ),
                (
                    "  for reference: one asyncpg insert per request",
                    f"{insert_single:,.0f}",
                    f"{bare_single:,.0f} (bare endpoint)",
                    f"{insert_single / bare_single:.3f}",
                    "",
                ),
            ],
            ["figure", "hub", "ceiling", "ratio", "goal"],
        )
    )
    spread = ", ".join(
        f"{name} {min(rates):,.0f}–{max(rates):,.0f}"
        for name, rates in [
            ("hub", hub_singles),
            ("bare", bare_singles),
            ("one insert", insert_singles),
        ]
    )
    print(f"single-row req/s over the rounds: {spread}")
    print_flagging(len(series), flagging)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes for a smoke run")
    parser.add_argument(
        "--only-flagging", action="store_true", help="outlier flagging on against off only"
    )
    args = parser.parse_args()
    asyncio.run(flagging_only(args.quick) if args.only_flagging else main(args.quick))
