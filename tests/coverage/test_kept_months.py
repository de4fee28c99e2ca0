"""The months kept for completeness and aggregates (``series_months``, docs/design.md §4, §5) on
random histories: pushes, corrections, re-sends, imports of late and early history, deletions
and changes of grace, over periods of three cadences across month ends. The kept months must
equal a full recomputation from the observations, and completeness and aggregates (under every
aggregation over time) from them must equal the same from the observations alone."""

import asyncio
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic.script import ScriptDirectory
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from ioc_hub.access.principal import Principal, UnitRef
from ioc_hub.aggregates import service as aggregates
from ioc_hub.aggregates.rules import Level
from ioc_hub.aggregates.service import AggregateQuery
from ioc_hub.config import Settings
from ioc_hub.coverage import repository, service
from ioc_hub.coverage.schemas import GroupBy
from ioc_hub.coverage.service import SeriesFilter
from ioc_hub.ingest.repository.months import recount_regraced
from ioc_hub.kit.pagination import PageParams
from ioc_hub.kit.periods import Cadence, Period
from ioc_hub.migrate import alembic_config, upgrade
from ioc_hub.models import Aggregation, Indicator, Observation, SeriesMonth, Unit, UnitKind
from ioc_hub.seed import seed_all
from tests.conftest import Clock, bearer
from tests.coverage.helpers import DAILY, MONTHLY, get, push
from tests.fixtures.database import ENGINES, create_database, drop_database

WEEKLY = "SXH-CA-MAC"
CADENCES = {DAILY: Cadence.DAILY, WEEKLY: Cadence.WEEKLY, MONTHLY: Cadence.MONTHLY}
UNITS = ["718", "25741", "25744"]
FIRST_DAY, LAST_DAY = date(2026, 1, 26), date(2026, 3, 3)
START = datetime(2026, 3, 5, 2, 0, tzinfo=UTC)


def periods(cadence: Cadence) -> list[Period]:
    """The periods of ``cadence`` starting from ``FIRST_DAY`` to ``LAST_DAY``: three months
    and their ends."""
    found, period = [], Period.of_date(FIRST_DAY, cadence)
    while period.start <= LAST_DAY:
        found.append(period)
        period = period.next()
    return found


PERIODS = {code: periods(cadence) for code, cadence in CADENCES.items()}

ROWS = st.lists(
    st.tuples(
        st.sampled_from(UNITS),
        st.sampled_from(sorted(CADENCES)),
        st.integers(0, 40),  # which period (modulo the cadence's count)
        st.integers(0, 2),  # value: few, so that re-sends are often unchanged
        # An import's receipt, in minutes after its period ends: at a deadline of some grace
        # the histories use (0, 1, 2, 3 or 5 days), or a minute either side, or much later.
        st.builds(
            lambda days, nudge: days * 1440 + nudge,
            st.sampled_from([0, 1, 2, 3, 5, 9]),
            st.sampled_from([0, 0, -1, 1]),
        ),
    ),
    min_size=1,
    max_size=6,
)
STEPS = st.lists(
    st.tuples(
        st.sampled_from(["push", "import", "import", "delete", "grace"]),
        st.integers(0, 24),  # hours the clock moves first
        ROWS,
    ),
    min_size=1,
    max_size=12,
)

RANGES = [
    ("2026-01", "2026-03"),
    ("2026-02", "2026-02"),
    ("2026-W05", "2026-W09"),
    ("2026-01-29", "2026-03-01"),
    ("2026-Q1", "2026-Q1"),
]

# (bucket, from, to, level) of the aggregates compared: whole months for the daily and monthly
# indicators (kept months answer), never for the weekly one (its observations do).
AGGREGATES = [
    (Cadence.MONTHLY, "2026-01", "2026-03", Level.COMMUNE),
    (Cadence.QUARTERLY, "2026-Q1", "2026-Q1", Level.DISTRICT),
    (Cadence.MONTHLY, "2026-02", "2026-02", Level.PROVINCE),
]

PAST = "2026-02-20T00:00:00+07:00"
"""An instant of the histories: months received partly by then cannot answer for it."""

_INGEST_TABLES = [
    "series_months",
    "observation_revisions",
    "observation_deletions",
    "outlier_flags",
    "outlier_baselines",
    "outlier_months",
    "observations",
    "series_state",
    "unit_contacts",
    "rejections",
    "idempotency_records",
    "webhook_messages",
]


async def _forget_history(factory: async_sessionmaker[AsyncSession]) -> None:
    async with factory() as session, session.begin():
        for table in _INGEST_TABLES:
            await session.execute(text(f"DELETE FROM {table}"))
        await session.execute(
            update(Indicator).where(Indicator.code.in_(list(CADENCES))).values(grace_seconds=None)
        )


def _rows(
    rows: list[tuple[str, str, int, int, int]], now: datetime, tz: Any
) -> Iterator[tuple[str, str, Period, int, datetime]]:
    """Each row's unit, indicator, period, value and import receipt; periods not begun by
    ``now`` are left out (a push of the future is refused)."""
    for unit, code, index, value, minutes in rows:
        period = PERIODS[code][index % len(PERIODS[code])]
        if period.start_at(tz) > now:
            continue
        received = min(period.end_at(tz) + timedelta(minutes=minutes), now)
        yield unit, code, period, value, max(received, period.start_at(tz))


async def _play(
    client: httpx.AsyncClient, auth: dict[str, str], clock: Clock, tz: Any, steps: Any
) -> None:
    clock.now = START
    for kind, hours, drawn in steps:
        clock.now += timedelta(hours=hours)
        rows = list(_rows(drawn, clock.now, tz))
        if kind == "grace":
            for _, code, _, value, _ in rows[:1]:
                response = await client.patch(
                    f"/api/v1/indicators/{code}",
                    json={"grace_seconds": [None, 0, 3 * 86400][value]},
                    headers=auth,
                )
                assert response.status_code == 200, response.text
        elif not rows:
            continue
        elif kind == "push":
            sent = [
                {"unit": u, "indicator": c, "period": p.id, "value": v} for u, c, p, v, _ in rows
            ]
            await push(client, auth, sent)
        elif kind == "import":
            sent = [
                {
                    "unit": u,
                    "indicator": c,
                    "period": p.id,
                    "value": v,
                    "received_at": r.isoformat(),
                }
                for u, c, p, v, r in rows
            ]
            response = await client.post(
                "/api/v1/imports", json={"observations": sent}, headers=auth
            )
            assert response.status_code == 200, response.text
            assert response.json()["rejected"] == 0, response.text
        else:
            values = [
                {"dataElement": c, "period": p.dhis2_id, "orgUnit": u} for u, c, p, _, _ in rows
            ]
            response = await client.post(
                "/api/dataValueSets",
                json={"dataValues": values},
                headers=auth,
                params={"importStrategy": "DELETE", "idScheme": "CODE"},
            )
            assert response.status_code == 200, response.text


async def _assert_kept_equals_recount(
    factory: async_sessionmaker[AsyncSession], hub: Settings
) -> None:
    """The kept months against the same counted from the observations with the graces in force;
    a month counted under another grace (or under two) must know it, and its on-time count is
    not compared."""
    async with factory() as session:
        indicators = {
            i.id: (Cadence(i.cadence), i.grace_seconds)
            for i in (await session.scalars(select(Indicator))).all()
        }
        observations = (
            await session.execute(
                select(
                    Observation.unit_id,
                    Observation.indicator_id,
                    Observation.period_start,
                    Observation.first_received_at,
                    Observation.value,
                    Observation.received_at,
                )
            )
        ).all()
        kept = {
            (m.unit_id, m.indicator_id, m.month): m
            for m in (await session.scalars(select(SeriesMonth))).all()
        }
    recounted: dict[tuple[int, int, date], dict[str, Any]] = {}
    for unit_id, indicator_id, start, first_received_at, value, received_at in sorted(
        observations, key=lambda o: o.period_start
    ):
        cadence, own = indicators[indicator_id]
        grace = hub.grace(cadence, own)
        deadline = Period(cadence, start).deadline(hub.tz, grace)
        key = (unit_id, indicator_id, start.replace(day=1))
        month = recounted.setdefault(
            key,
            {
                "received": 0,
                "on_time": 0,
                "last_received_at": first_received_at,
                "value_sum": 0.0,
                "value_min": value,
                "value_max": value,
                "changed_at": received_at,
                "grace": grace // timedelta(microseconds=1),
            },
        )
        month["received"] += 1
        month["on_time"] += first_received_at <= deadline
        month["last_received_at"] = max(month["last_received_at"], first_received_at)
        month["value_sum"] += value
        month["value_min"] = min(month["value_min"], value)
        month["value_max"] = max(month["value_max"], value)
        month["last_start"], month["last_value"] = start, value  # sorted by period start
        month["changed_at"] = max(month["changed_at"], received_at)
    assert kept.keys() == recounted.keys()
    for key, expected in recounted.items():
        month = kept[key]
        grace = expected.pop("grace")
        on_time = expected.pop("on_time")
        assert {name: getattr(month, name) for name in expected} == expected, key
        if month.grace_microseconds == grace:
            assert month.on_time == on_time, key


async def _province(factory: async_sessionmaker[AsyncSession]) -> Principal:
    async with factory() as session:
        unit = (await session.scalars(select(Unit).where(Unit.code == "74"))).one()
    return Principal(0, UnitRef(unit.id, unit.code, UnitKind.PROVINCE, None), frozenset())


async def _answers_agree(
    factory: async_sessionmaker[AsyncSession], hub: Settings, now: datetime
) -> None:
    province = await _province(factory)
    for (first, last), at in [(r, None) for r in RANGES] + [(r, PAST) for r in RANGES[:2]]:
        answers = []
        for from_kept in (True, False):
            async with factory() as session:
                report = await service.completeness(
                    session,
                    hub,
                    province,
                    PageParams(limit=1000, offset=0),
                    filters=SeriesFilter(district="718"),
                    group_by=GroupBy.UNIT,
                    period_from=first,
                    period_to=last,
                    at_text=at,
                    now=now,
                    from_kept=from_kept,
                )
            answers.append(report.model_dump())
        assert answers[0] == answers[1], (first, last, at)


async def _aggregates_agree(
    factory: async_sessionmaker[AsyncSession], hub: Settings, now: datetime
) -> None:
    """Aggregates from the kept months equal those from the observations, under every
    aggregation over time and three over units; the indicators' own are restored after."""
    province = await _province(factory)
    indicators = Indicator.code.in_(list(CADENCES))
    async with factory() as session:
        own = (
            await session.execute(
                select(
                    Indicator.code, Indicator.time_aggregation, Indicator.area_aggregation
                ).where(indicators)
            )
        ).all()
    since = START + timedelta(hours=30)
    for over_time in Aggregation:
        for over_units in (Aggregation.SUM, Aggregation.AVG, Aggregation.LAST):
            async with factory() as session, session.begin():
                await session.execute(
                    update(Indicator)
                    .where(indicators)
                    .values(time_aggregation=over_time, area_aggregation=over_units)
                )
            for (bucket, first, last, level), changed_since in [
                *((query, None) for query in AGGREGATES),
                (AGGREGATES[0], since),
            ]:
                query = AggregateQuery(
                    indicators=list(CADENCES),
                    bucket=bucket,
                    period_from=first,
                    period_to=last,
                    level=level,
                    changed_since=changed_since,
                )
                answers = []
                for from_kept in (True, False):
                    async with factory() as session:
                        page = await aggregates.aggregate(
                            session,
                            hub,
                            now,
                            query,
                            PageParams(limit=1000, offset=0),
                            principal=province,
                            from_kept=from_kept,
                        )
                    answers.append(page.model_dump())
                assert answers[0] == answers[1], (over_time, over_units, query)
    async with factory() as session, session.begin():
        for code, over_time, over_units in own:
            await session.execute(
                update(Indicator)
                .where(Indicator.code == code)
                .values(time_aggregation=over_time, area_aggregation=over_units)
            )


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=STEPS)
async def test_kept_months_equal_a_recount_and_answer_as_the_observations(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin_token: str,
    clock: Clock,
    session_factory: async_sessionmaker[AsyncSession],
    steps: Any,
) -> None:
    hub: Settings = app.state.settings
    await _forget_history(session_factory)
    await _play(client, bearer(admin_token), clock, hub.tz, steps)
    await _assert_kept_equals_recount(session_factory, hub)
    await _answers_agree(session_factory, hub, clock.now)
    await _aggregates_agree(session_factory, hub, clock.now)


async def test_whole_months_are_counted_without_reading_observations(
    client: httpx.AsyncClient, admin_token: str, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = bearer(admin_token)
    clock.set("2026-03-10T03:00:00+00:00")
    late = [{"unit": "25741", "indicator": DAILY, "value": 1, "period": "2026-02-03"}]
    await push(client, auth, late)
    monkeypatch.setattr(repository, "report_counts", _refuse)
    params = {"from": "2026-02", "to": "2026-02", "unit": "25741", "indicator": DAILY}
    body = await get(client, "completeness", auth, group_by="unit", **params)
    assert body["overall"]["expected"] == 28
    assert (body["overall"]["actual"], body["overall"]["on_time"]) == (1, 0)


@pytest.mark.parametrize("engine", ENGINES)
async def test_the_migration_counts_the_months_already_stored(engine: str, tmp_path: Path) -> None:
    url = await create_database(engine, tmp_path)
    hub = Settings(database_url=url)
    before = ScriptDirectory.from_config(alembic_config(hub)).get_revision("0011").down_revision
    assert isinstance(before, str)
    try:
        await asyncio.to_thread(upgrade, hub, before)
        database = create_async_engine(url)
        received = {  # a daily indicator's periods are due a day after they end (00:00 local)
            "2026-01-30": "2026-01-31T10:00:00+07:00",  # on time
            "2026-01-31": "2026-02-02T00:00:01+07:00",  # a second late
            "2026-02-01": "2026-02-03T00:00:00+07:00",  # at its deadline: on time
        }
        async with AsyncSession(database) as session, session.begin():
            await seed_all(session)
            unit_id = await session.scalar(select(Unit.id).where(Unit.code == "25741"))
            indicator_id = await session.scalar(select(Indicator.id).where(Indicator.code == DAILY))
            await session.execute(
                insert(Observation),
                [
                    {
                        "unit_id": unit_id,
                        "indicator_id": indicator_id,
                        "period": period,
                        "period_start": date.fromisoformat(period),
                        "value": float(len(received) - n),
                        "received_at": datetime.fromisoformat(at),
                        "first_received_at": datetime.fromisoformat(at),
                    }
                    for n, (period, at) in enumerate(received.items())
                ],
            )
        await database.dispose()
        await asyncio.to_thread(upgrade, hub)
        async with AsyncSession(database) as session:
            months = (await session.scalars(select(SeriesMonth).order_by(SeriesMonth.month))).all()
        await database.dispose()
    finally:
        await drop_database(url)
    day = timedelta(days=1) // timedelta(microseconds=1)
    assert [
        (m.month, m.received, m.on_time, m.grace_microseconds, m.last_received_at) for m in months
    ] == [
        (date(2026, 1, 1), 2, 1, day, datetime.fromisoformat(received["2026-01-31"])),
        (date(2026, 2, 1), 1, 1, day, datetime.fromisoformat(received["2026-02-01"])),
    ]
    # Values 3, 2 and 1 in period order; received when first accepted.
    assert [
        (m.value_sum, m.value_min, m.value_max, m.last_start, m.last_value, m.changed_at)
        for m in months
    ] == [
        (5.0, 2.0, 3.0, date(2026, 1, 31), 2.0, datetime.fromisoformat(received["2026-01-31"])),
        (1.0, 1.0, 1.0, date(2026, 2, 1), 1.0, datetime.fromisoformat(received["2026-02-01"])),
    ]


async def test_months_counted_under_a_changed_grace_are_read_from_observations_until_recounted(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin_token: str,
    clock: Clock,
    session_factory: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    auth = bearer(admin_token)
    clock.set("2026-02-03T10:00:00+00:00")  # 17:00 local: 02-02 is on time, 02-01 late
    rows = [
        {"unit": "25741", "indicator": DAILY, "value": 1, "period": period}
        for period in ("2026-02-01", "2026-02-02")
    ]
    await push(client, auth, rows)
    clock.set("2026-03-10T03:00:00+00:00")
    params = {"from": "2026-02", "to": "2026-02", "unit": "25741", "indicator": DAILY}

    async def on_time() -> int:
        body = await get(client, "completeness", auth, group_by="unit", **params)
        assert (body["overall"]["expected"], body["overall"]["actual"]) == (28, 2)
        result: int = body["overall"]["on_time"]
        return result

    assert await on_time() == 1
    two_days = {"grace_seconds": 2 * 86400}
    patched = await client.patch(f"/api/v1/indicators/{DAILY}", json=two_days, headers=auth)
    assert patched.status_code == 200, patched.text
    assert await on_time() == 2  # the kept month counted under one day: the observations answer

    async with session_factory() as session, session.begin():
        assert await recount_regraced(session, app.state.settings) == 1
    monkeypatch.setattr(repository, "report_counts", _refuse)
    assert await on_time() == 2


def _refuse(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("completeness read the observations")
