"""The owed series kept for coverage and staleness (``owed_series``, docs/design.md §4) on random
changes of the registry: obligations given, ended or planned, units deactivated. Answers read
from what is kept must equal answers that expand the obligations, and what is kept is read only
while it holds: under the registry it was kept for, on the days until the registry's next
change."""

import asyncio
from datetime import date, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ioc_hub.access.principal import Principal, UnitRef
from ioc_hub.config import Settings
from ioc_hub.coverage import repository, service
from ioc_hub.coverage.keeper import OwedKeeper
from ioc_hub.coverage.service import SeriesFilter
from ioc_hub.kit.pagination import PageParams
from ioc_hub.models import Indicator, Obligation, OwedBasis, Unit, UnitKind
from ioc_hub.registry.timeline import local_day
from tests.conftest import Clock, bearer
from tests.coverage.helpers import DAILY, article_situation

INDICATORS = [DAILY, "DVC-TY-LE-TRUC-TUYEN", "SXH-CA-MAC", "CPI"]
KINDS = [UnitKind.COMMUNE, UnitKind.DISTRICT, UnitKind.DEPARTMENT, UnitKind.VERTICAL_AGENCY]
UNITS = ["25741", "718", "719", "DEPT-SNV", "DEPT-SNGV"]
# Days relative to the clock's, on which obligations begin and end: past, today, coming.
DAYS = st.sampled_from([None, -40, -1, 0, 1, 2, 5])

INDICATOR = st.sampled_from(INDICATORS)
CHANGES = st.lists(
    st.one_of(
        st.tuples(st.just("oblige kind"), INDICATOR, st.sampled_from(KINDS), DAYS),
        st.tuples(st.just("oblige unit"), INDICATOR, st.sampled_from(UNITS), DAYS),
        st.tuples(st.just("end"), st.integers(0, 200), st.sampled_from([-2, 0, 1, 3])),
        st.tuples(st.just("deactivate"), st.sampled_from(UNITS)),
    ),
    min_size=1,
    max_size=5,
)
FILTERS = [
    SeriesFilter(),
    SeriesFilter(district="718"),
    SeriesFilter(kind=UnitKind.COMMUNE),
    SeriesFilter(indicator=DAILY),
]
AHEAD = [timedelta(0), timedelta(days=1, hours=3), timedelta(days=4)]


async def _change(session: AsyncSession, today: date, change: tuple[Any, ...]) -> None:
    def day(offset: int | None) -> date | None:
        return None if offset is None else today + timedelta(days=offset)

    async def id_of(model: type[Unit] | type[Indicator], code: str) -> int:
        found = await session.scalar(select(model.id).where(model.code == code))
        assert found is not None, code
        return found

    match change:
        case ("oblige kind", indicator, kind, begins):
            obligation = Obligation(
                indicator_id=await id_of(Indicator, indicator),
                unit_kind=kind.value,
                valid_from=day(begins),
            )
            session.add(obligation)
        case ("oblige unit", indicator, unit, begins):
            obligation = Obligation(
                indicator_id=await id_of(Indicator, indicator),
                unit_id=await id_of(Unit, unit),
                valid_from=day(begins),
            )
            session.add(obligation)
        case ("end", which, ends):
            ids = (await session.scalars(select(Obligation.id).order_by(Obligation.id))).all()
            chosen = ids[which % len(ids)]
            ending = today + timedelta(days=ends)
            await session.execute(
                update(Obligation)
                .where(
                    Obligation.id == chosen,
                    (Obligation.valid_from.is_(None)) | (Obligation.valid_from < ending),
                )
                .values(valid_to=ending)
            )
        case ("deactivate", unit):
            await session.execute(update(Unit).where(Unit.code == unit).values(active=False))
    await session.flush()


async def _answers(
    session: AsyncSession, hub: Settings, province: Principal, now: datetime
) -> list[Any]:
    """Coverage and staleness under every filter, now and in days to come, and the alert
    evaluator's snapshot."""
    found: list[Any] = []
    page = PageParams(limit=1000, offset=0)
    for ahead in AHEAD:
        at = (now + ahead).isoformat()
        for filters in FILTERS:
            coverage = await service.coverage(
                session, hub, province, page, filters=filters, at_text=at, now=now
            )
            staleness = await service.staleness(
                session, hub, province, page, filters=filters, statuses=None, at_text=at, now=now
            )
            found += [coverage.model_dump(), staleness.model_dump()]
    snapshot = await service.snapshot(session, hub, now)
    expected = {key: snapshot.expectation(key).expected.id for key in snapshot.series}
    found += [snapshot.series, snapshot.latest, expected, snapshot.connected]
    return found


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(changes=CHANGES)
async def test_answers_from_the_kept_owed_series_equal_an_expansion(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin_token: str,
    clock: Clock,
    session_factory: async_sessionmaker[AsyncSession],
    changes: Any,
) -> None:
    hub: Settings = app.state.settings
    today = local_day(clock.now, hub.tz)
    await article_situation(client, bearer(admin_token))
    async with session_factory() as session, session.begin():
        root = (await session.scalars(select(Unit).where(Unit.code == "74"))).one()
        province = Principal(0, UnitRef(root.id, root.code, UnitKind.PROVINCE, None), frozenset())
        for change in changes:
            await _change(session, today, change)
        await session.execute(delete(OwedBasis))
        expanded = await _answers(session, hub, province, clock.now)

        assert await service.keep_owed(session, today)
        assert not await service.keep_owed(session, today), "kept already"
        assert await repository.kept_owed(session, today) is not None
        assert await _answers(session, hub, province, clock.now) == expanded

        # Read only on the days it holds for, and only under the registry it was kept for.
        until = await session.scalar(select(OwedBasis.until))
        if until is not None:
            assert await repository.kept_owed(session, until - timedelta(days=1)) is not None
            assert await repository.kept_owed(session, until) is None
        assert await repository.kept_owed(session, today - timedelta(days=1)) is None
        await session.execute(update(Unit).where(Unit.code == "25744").values(active=False))
        assert await repository.kept_owed(session, today) is None
        await session.rollback()


async def test_the_keeper_keeps_today_and_again_after_the_registry_changes(
    app: FastAPI,
    admin_token: str,
    clock: Clock,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    hub: Settings = app.state.settings
    today = local_day(clock.now, hub.tz)
    keeper = OwedKeeper(hub, app.state.transactions, lambda: clock.now)

    async def kept() -> bool:
        async with session_factory() as session:
            return await repository.kept_owed(session, today) is not None

    assert await keeper.keep()
    assert not await keeper.keep(), "kept already"
    assert await kept()
    async with session_factory() as session, session.begin():
        await _change(session, today, ("oblige kind", "CPI", UnitKind.COMMUNE, None))
    assert not await kept(), "an obligation moved the registry's generation"

    # Started, it looks at once, then once a minute.
    await keeper.start()
    try:
        for _ in range(200):
            if await kept():
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the started keeper kept nothing within 10 s")
    finally:
        await keeper.stop()
