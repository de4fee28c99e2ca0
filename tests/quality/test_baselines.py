"""Baselines as each engine computes them (SQL on PostgreSQL, the pure function on SQLite)
against figures worked out by hand, and ingest's flagging with its settings."""

import asyncio
import math
from datetime import date, datetime, timedelta
from random import Random

import httpx
import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ioc_hub.config import Settings
from ioc_hub.kit.periods import month_of
from ioc_hub.models import (
    Indicator,
    Observation,
    OutlierBaseline,
    OutlierFlag,
    OutlierMonth,
    Scope,
    SeriesState,
    Unit,
)
from ioc_hub.quality import repository
from ioc_hub.quality.flagging import NewValue, flag_new_values
from ioc_hub.quality.repository import Window
from ioc_hub.quality.stats import Baseline, months_before
from tests.conftest import Clock, MintKey, bearer
from tests.quality.helpers import (
    BASELINE_DAYS,
    COMMUNE,
    DAILY,
    MODIFIED_Z_30,
    NEIGHBOUR,
    NOW,
    push,
    push_baseline,
    rows,
)


@pytest.fixture
async def writer(seeded: None, mint_key: MintKey, clock: Clock) -> dict[str, str]:
    clock.set(NOW)
    return bearer(await mint_key("74", Scope.OBSERVATIONS_WRITE))


async def ids(session: AsyncSession, unit: str) -> tuple[int, int]:
    unit_id = await session.scalar(select(Unit.id).where(Unit.code == unit))
    indicator_id = await session.scalar(select(Indicator.id).where(Indicator.code == DAILY))
    assert unit_id is not None
    assert indicator_id is not None
    return unit_id, indicator_id


async def test_baselines_match_the_hand_computed_figures(
    client: httpx.AsyncClient,
    writer: dict[str, str],
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await push_baseline(client, writer)
    # The neighbour: six 5s and 1, 2, 8, 9, 40 → median 5, MAD 0; mean 90/11.
    neighbour = [5.0] * 6 + [1.0, 2.0, 8.0, 9.0, 40.0]
    await push(client, writer, rows(NEIGHBOUR, BASELINE_DAYS[:11], neighbour))
    async with session_factory() as session:
        commune, neighbour_series = await ids(session, COMMUNE), await ids(session, NEIGHBOUR)
        whole = Window(*commune, date(2025, 11, 1), date(2026, 11, 1))
        september = Window(*commune, date(2026, 9, 1), date(2026, 10, 1))
        empty = Window(*commune, date(2020, 1, 1), date(2021, 1, 1))
        mad_zero = Window(*neighbour_series, date(2025, 11, 1), date(2026, 11, 1))
        found = await repository.baselines(session, [whole, september, empty, mad_zero])

    assert empty not in found
    b = found[whole]
    assert b.n == 60
    assert b.mean == pytest.approx(12.0)
    assert b.sd == pytest.approx(math.sqrt(160 / 59))
    assert (b.median, b.mad) == (12.0, 2.0)
    # September: days 1..30, values 10, 12, 14 ten times each: the same median and MAD.
    s = found[september]
    assert (s.n, s.median, s.mad) == (30, 12.0, 2.0)
    assert s.sd == pytest.approx(math.sqrt(80 / 29))
    z = found[mad_zero]
    assert (z.n, z.median, z.mad) == (11, 5.0, 0.0)
    assert z.mean == pytest.approx(90 / 11)


async def test_an_outlier_pushed_is_flagged_stored_and_counted(
    client: httpx.AsyncClient,
    writer: dict[str, str],
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await push_baseline(client, writer)
    summary = await push(
        client, writer, rows(COMMUNE, [date(2026, 11, 2), date(2026, 11, 3)], [30.0, 13.0])
    )
    assert (summary["created"], summary["flagged"]) == (2, 1)
    async with session_factory() as session:
        flags = (await session.scalars(select(OutlierFlag))).all()
    assert len(flags) == 1
    flag = flags[0]
    assert (flag.period, flag.value, flag.algorithm, flag.threshold) == (
        "2026-11-02",
        30,
        "modified_z",
        3,
    )
    assert (flag.centre, flag.spread, flag.n) == (12.0, 2.0, 60)
    assert flag.score == pytest.approx(MODIFIED_Z_30)

    # Sent again unchanged, it is not judged again; changed, it is.
    again = await push(client, writer, rows(COMMUNE, [date(2026, 11, 2)], [30.0]))
    assert (again["unchanged"], again["flagged"]) == (1, 0)
    changed = await push(client, writer, rows(COMMUNE, [date(2026, 11, 2)], [31.0]))
    assert (changed["updated"], changed["flagged"]) == (1, 1)


async def test_too_short_a_series_or_no_spread_flags_nothing(
    client: httpx.AsyncClient, writer: dict[str, str]
) -> None:
    # Seven values: one fewer than outlier_min_points.
    await push(client, writer, rows(COMMUNE, BASELINE_DAYS[:7], [10.0, 12.0, 14.0] * 2 + [10.0]))
    short = await push(client, writer, rows(COMMUNE, [date(2026, 11, 2)], [9000.0]))
    assert short["flagged"] == 0
    # Ten equal values: MAD = 0, so nothing is judged.
    await push(client, writer, rows(NEIGHBOUR, BASELINE_DAYS[:10], [5.0] * 10))
    flat = await push(client, writer, rows(NEIGHBOUR, [date(2026, 11, 2)], [9000.0]))
    assert flat["flagged"] == 0


async def test_a_correction_inside_a_cached_baseline_is_seen_by_the_next_value(
    client: httpx.AsyncClient,
    writer: dict[str, str],
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await push_baseline(client, writer)
    first = await push(client, writer, rows(COMMUNE, [date(2026, 11, 2)], [30.0]))
    assert first["flagged"] == 1
    async with session_factory() as session:
        cached = await session.scalar(
            select(func.count()).where(OutlierBaseline.month == date(2026, 11, 1))
        )
    assert cached == 1  # November's baseline of the series, kept for its next values
    # October corrected to 0, 30, 60 (each ten times): median 30, MAD 30 → 30 is unremarkable,
    # and even September's 10, 12, 14 leave the MAD large.
    october = BASELINE_DAYS[30:]
    corrected = rows(COMMUNE, october, [(0.0, 30.0, 60.0)[i % 3] for i in range(30)])
    # The correction and a new November value in one batch: the value sees the correction.
    second = await push(client, writer, [*corrected, *rows(COMMUNE, [date(2026, 11, 3)], [30.0])])
    # The corrections themselves are outliers against September; November 3 is not.
    assert (second["updated"], second["flagged"]) == (30, 30)
    async with session_factory() as session:
        periods = set(await session.scalars(select(OutlierFlag.period)))
    assert "2026-11-03" not in periods
    assert "2026-10-30" in periods


async def test_ingest_follows_its_settings(
    client: httpx.AsyncClient,
    writer: dict[str, str],
    session_factory: async_sessionmaker[AsyncSession],
    database_url: str,
) -> None:
    await push_baseline(client, writer)
    async with session_factory() as session:
        unit_id, indicator_id = await ids(session, COMMUNE)
        value = NewValue(unit_id, indicator_id, "2026-11-05", date(2026, 11, 5), 17.0)
        now = datetime.fromisoformat(NOW)
        base = Settings(database_url=database_url)
        # 17 scores 0.6745 · 5 / 2 ≈ 1.69 (modified) and 5 / 1.647 ≈ 3.04 (z).
        assert await flag_new_values(session, base, [value], now) == []
        z = base.model_copy(update={"outlier_algorithm": "z_score"})
        [flag] = await flag_new_values(session, z, [value], now)
        assert flag.score == pytest.approx(5 / math.sqrt(160 / 59))
        low = base.model_copy(update={"outlier_threshold": 1.5})
        assert len(await flag_new_values(session, low, [value], now)) == 1
        fewer = base.model_copy(update={"outlier_threshold": 1.5, "outlier_min_points": 61})
        assert await flag_new_values(session, fewer, [value], now) == []
        off = base.model_copy(update={"outlier_flagging": False, "outlier_threshold": 0.0})
        assert await flag_new_values(session, off, [value], now) == []
        # One month of baseline: October only (30 values, the same median and MAD).
        short = base.model_copy(update={"outlier_threshold": 1.5, "outlier_baseline_months": 1})
        [flag] = await flag_new_values(session, short, [value], now)
        assert flag.n == 30
        await session.rollback()


async def cached(
    factory: async_sessionmaker[AsyncSession],
) -> tuple[dict[Window, Baseline], dict[tuple[int, int, date], list[float]]]:
    """What ingest keeps: each cached baseline as the window it stands for, and each month's
    values, sorted."""
    async with factory() as session:
        baselines = {
            Window(b.unit_id, b.indicator_id, months_before(b.month, b.months), b.month): Baseline(
                b.n, b.mean, b.sd, b.median, b.mad
            )
            for b in await session.scalars(select(OutlierBaseline))
        }
        months = {
            (m.unit_id, m.indicator_id, m.month): sorted(m.month_values)
            for m in await session.scalars(select(OutlierMonth))
        }
    return baselines, months


async def test_kept_baselines_and_months_equal_a_fresh_reading(
    client: httpx.AsyncClient,
    writer: dict[str, str],
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    # Fourteen months of noisy values, pushed month by month so that each month's first push
    # merges its baseline from the months kept before it; then corrections in the past, each
    # pushed alone or with a new value, and a month pushed twice in two halves.
    random = Random(7)
    first = date(2025, 9, 1)
    days = [first + timedelta(days=i) for i in range((date(2026, 11, 1) - first).days)]
    for month in sorted({month_of(d) for d in days}):
        in_month = [d for d in days if month_of(d) == month]
        values = [float(random.randint(0, 400)) for _ in in_month]
        await push(client, writer, rows(COMMUNE, in_month[:10], values[:10]))
        await push(client, writer, rows(COMMUNE, in_month[10:], values[10:]))
    await push(client, writer, rows(COMMUNE, [date(2026, 2, 14)], [9000.0]))
    await push(
        client,
        writer,
        rows(COMMUNE, [date(2026, 5, 3), date(2026, 11, 2)], [0.0, 250.0]),
    )
    await push(client, writer, rows(COMMUNE, [date(2026, 11, 3)], [120.0]))
    await push(client, writer, rows(COMMUNE, [date(2026, 10, 31)], [17.0]))
    await push(client, writer, rows(COMMUNE, [date(2026, 11, 4)], [121.0]))

    baselines, months = await cached(session_factory)
    async with session_factory() as session:
        fresh = await repository.baselines(session, baselines)
        unit_id, indicator_id = await ids(session, COMMUNE)
        stored = [
            (month_of(o.period_start), o.value)
            for o in await session.scalars(
                select(Observation).where(
                    Observation.unit_id == unit_id, Observation.indicator_id == indicator_id
                )
            )
        ]
    assert Window(unit_id, indicator_id, date(2025, 11, 1), date(2026, 11, 1)) in baselines
    for window, baseline in baselines.items():
        expected = fresh.get(window, Baseline(0))
        assert baseline.n == expected.n, window
        for name in ("mean", "sd", "median", "mad"):
            assert getattr(baseline, name) == pytest.approx(getattr(expected, name)), window
    assert len(months) >= 12
    for (_, _, month), values in months.items():
        assert values == sorted(v for m, v in stored if m == month), month


async def test_concurrent_batches_across_a_month_boundary_all_land(
    client: httpx.AsyncClient,
    writer: dict[str, str],
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    # Batches of the same series at once, some writing into the month that the others'
    # baselines read: each waits for the other's baseline or row locks, never in a cycle.
    for unit in (COMMUNE, NEIGHBOUR):
        await push_baseline(client, writer, unit)
    october = [date(2026, 10, 31) - timedelta(days=i) for i in range(8)]
    november = [date(2026, 11, 1) + timedelta(days=i) for i in range(8)]
    batches = [
        [r for u in (COMMUNE, NEIGHBOUR) for r in rows(u, [october[i], november[i]], [13.0, 30.0])]
        for i in range(8)
    ]
    summaries = await asyncio.gather(*(push(client, writer, b) for b in batches))
    assert sum(s["created"] + s["updated"] + s["unchanged"] for s in summaries) == 32
    baselines, _ = await cached(session_factory)
    async with session_factory() as session:
        fresh = await repository.baselines(session, baselines)
    assert {w: b.n for w, b in baselines.items()} == {
        w: fresh.get(w, Baseline(0)).n for w in baselines
    }


async def waiting_on_locks(factory: async_sessionmaker[AsyncSession], count: int) -> None:
    """Until ``count`` of this database's transactions wait on a lock (PostgreSQL)."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    async with asyncio.timeout(20):
        while True:
            async with factory() as session:
                if (await session.scalar(query) or 0) >= count:
                    return
            await asyncio.sleep(0.05)


async def test_a_baseline_waits_for_a_write_in_flight_into_its_window(
    database_url: str,
    client: httpx.AsyncClient,
    writer: dict[str, str],
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite writes one transaction at a time: no write is in flight")
    await push_baseline(client, writer)
    async with session_factory() as session:
        unit_id, indicator_id = await ids(session, COMMUNE)
    # A transaction holding the series' state row stops the October push in its write, after it
    # dropped the months and baselines it makes stale; the November push, whose baseline reads
    # October, comes meanwhile. It must not merge and keep October without the October value.
    async with session_factory() as blocker, blocker.begin():
        await blocker.execute(
            select(SeriesState)
            .where(SeriesState.unit_id == unit_id, SeriesState.indicator_id == indicator_id)
            .with_for_update()
        )
        october = asyncio.create_task(
            push(client, writer, rows(COMMUNE, [date(2026, 10, 31)], [13.0]))
        )
        await waiting_on_locks(session_factory, 1)
        november = asyncio.create_task(
            push(client, writer, rows(COMMUNE, [date(2026, 11, 2)], [30.0]))
        )
        await waiting_on_locks(session_factory, 2)
    assert (await october)["created"] == 1
    assert (await november)["flagged"] == 1

    baselines, months = await cached(session_factory)
    window = Window(unit_id, indicator_id, date(2025, 11, 1), date(2026, 11, 1))
    async with session_factory() as session:
        fresh = await repository.baselines(session, [window])
    assert baselines[window].n == fresh[window].n == 61
    assert baselines[window].mean == pytest.approx(fresh[window].mean)
    assert 13.0 in months[(unit_id, indicator_id, date(2026, 10, 1))]


async def test_a_batch_of_any_size_takes_a_bounded_number_of_locks(
    database_url: str, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite takes no locks of its own")
    # More series than PostgreSQL's lock table holds by default (64 × 100 locks in all).
    series = [(unit, indicator) for unit in range(1, 2001) for indicator in range(1, 11)]
    async with session_factory() as session, session.begin():
        kept = await repository.lock_series(session, series, computes={(7, 3)})
        held = await session.scalar(
            text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                "AND pid = pg_backend_pid()"
            )
        )
    assert held is not None
    assert held <= 256
    assert (7, 3) in kept
    assert len(kept) < len(series) / 100


async def test_one_batch_at_a_time_leads_and_the_others_wait_for_it(
    database_url: str, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite writes one transaction at a time: it always leads")
    async with session_factory() as first, first.begin():
        assert await repository.lead(first)
        waiting = asyncio.create_task(_lead_and_commit(session_factory))
        await waiting_on_locks(session_factory, 1)
        assert not waiting.done()
    # The first ended: the second stops waiting, does not lead, and holds nothing after.
    assert await waiting is False
    async with session_factory() as third, third.begin():
        assert await repository.lead(third)
        # The leader's lock is the two-integer form (2, 0): classid 2, objid 0, objsubid 2.
        others = await third.scalar(
            text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 2 "
                "AND objid = 0 AND objsubid = 2 AND pid <> pg_backend_pid()"
            )
        )
    assert others == 0


async def _lead_and_commit(factory: async_sessionmaker[AsyncSession]) -> bool:
    async with factory() as session, session.begin():
        return await repository.lead(session)


async def test_a_batch_holding_a_series_lock_does_not_wait_for_the_leader(
    database_url: str, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite writes one transaction at a time: it always leads")
    # A push tried again in its transaction holds its series' locks already; the leader may be
    # waiting for them, so it must not wait for the leader, nor start to lead.
    async with session_factory() as leader, leader.begin():
        assert await repository.lead(leader)
        async with session_factory() as retried, retried.begin():
            await repository.lock_series(retried, [(1, 1)], set())
            assert await asyncio.wait_for(repository.lead(retried), 5) is False
        await repository.lock_series(leader, [(1, 1)], {(1, 1)})
        assert await repository.lead(leader)  # still the leader, tried again
    async with session_factory() as retried, retried.begin():
        await repository.lock_series(retried, [(1, 1)], set())
        assert await repository.lead(retried) is False


async def test_a_look_finds_what_is_missing_and_locks_only_when_nothing_is(
    database_url: str, session_factory: async_sessionmaker[AsyncSession], seeded: None
) -> None:
    postgresql = database_url.startswith("postgresql")
    held = text(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() "
        "AND mode = 'ShareLock'"
    )
    november, october = date(2026, 11, 1), date(2026, 10, 1)
    async with session_factory() as session, session.begin():
        one, two = await ids(session, COMMUNE), await ids(session, NEIGHBOUR)
        await session.execute(
            insert(OutlierBaseline),
            [
                {"unit_id": one[0], "indicator_id": one[1], "month": october, "months": 12, "n": 0},
                {"unit_id": two[0], "indicator_id": two[1], "month": october, "months": 6, "n": 0},
            ],
        )
    both = [one, two]
    async with session_factory() as session, session.begin():
        # One's November is not cached, nor two's October over 12 months.
        keys = [(*one, october), (*one, november), (*two, october)]
        missing, locked = await repository.look(session, keys, 12, lock=both)
        assert (missing, locked) == ([(*one, november), (*two, october)], False)
        if postgresql:
            assert await session.scalar(held) == 0
    async with session_factory() as session, session.begin():
        missing, locked = await repository.look(session, [(*one, october)], 12, lock=both)
        # SQLite, one writer at a time, takes no lock of its own.
        assert (missing, locked) == ([], postgresql)
        if postgresql:
            looked = await session.scalar(held)
            async with session_factory() as other, other.begin():
                await repository.lock_series(other, both, set())
                assert looked == await other.scalar(held) > 0
    async with session_factory() as session, session.begin():
        # Asked for no lock, it takes none.
        assert await repository.look(session, [(*one, october)], 12, lock=None) == ([], False)
        if postgresql:
            assert await session.scalar(held) == 0
