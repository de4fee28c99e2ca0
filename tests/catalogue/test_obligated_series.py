"""``obligated_series``, the one expansion of obligations every other feature relies on, tested on
a registry with a hand-made catalogue."""

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ioc_hub.catalogue.service import obligated_series
from ioc_hub.models import Indicator, IndicatorGroup, Obligation, Unit
from ioc_hub.registry.seed import load_registry_file, seed_registry


@pytest.fixture
async def session(
    session_factory: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """A session over the seeded registry and no catalogue; rolled back at the end."""
    async with session_factory() as session:
        await seed_registry(session, load_registry_file())
        yield session
        await session.rollback()


async def add_indicator(
    session: AsyncSession, code: str = "I-1", *, cadence: str = "daily", active: bool = True
) -> Indicator:
    group = await session.scalar(select(IndicatorGroup).where(IndicatorGroup.code == "G-TEST"))
    if group is None:
        group = IndicatorGroup(code="G-TEST", name="Nhóm thử")
        session.add(group)
        await session.flush()
    indicator = Indicator(
        code=code,
        name=code,
        group_id=group.id,
        cadence=cadence,
        measurement_unit="x",
        time_aggregation="sum",
        area_aggregation="sum",
        active=active,
    )
    session.add(indicator)
    await session.flush()
    return indicator


async def oblige(
    session: AsyncSession,
    indicator: Indicator,
    *,
    unit: str | None = None,
    kind: str | None = None,
    district: str | None = None,
) -> None:
    units = await ids(session)
    session.add(
        Obligation(
            indicator_id=indicator.id,
            unit_id=units[unit] if unit else None,
            unit_kind=kind,
            district_id=units[district] if district else None,
        )
    )
    await session.flush()


async def ids(session: AsyncSession) -> dict[str, int]:
    return {row.code: row.id for row in await session.execute(select(Unit.code, Unit.id))}


async def codes_of(session: AsyncSession, pairs: list[tuple[int, int]]) -> set[tuple[str, str]]:
    units = {v: k for k, v in (await ids(session)).items()}
    indicators = {
        row.id: row.code for row in await session.execute(select(Indicator.id, Indicator.code))
    }
    return {(units[u], indicators[i]) for u, i in pairs}


async def test_unit_and_kind_obligations_expand_to_distinct_sorted_pairs(
    session: AsyncSession,
) -> None:
    indicator = await add_indicator(session)
    await oblige(session, indicator, kind="district")
    await oblige(session, indicator, unit="718")  # also covered by the kind: counted once
    await oblige(session, indicator, unit="DEPT-STTTT")

    pairs = await obligated_series(session)
    assert pairs == sorted(set(pairs))
    assert await codes_of(session, pairs) == {
        *((str(code), "I-1") for code in range(718, 727)),
        ("DEPT-STTTT", "I-1"),
    }


async def test_district_restriction_keeps_only_that_districts_communes(
    session: AsyncSession,
) -> None:
    indicator = await add_indicator(session)
    await oblige(session, indicator, kind="commune", district="718")
    units = await ids(session)
    communes_718 = set(
        await session.scalars(select(Unit.code).where(Unit.parent_id == units["718"]))
    )
    pairs = await obligated_series(session)
    assert {unit for unit, _ in await codes_of(session, pairs)} == communes_718
    assert len(communes_718) == 14


async def test_inactive_units_and_indicators_owe_nothing(session: AsyncSession) -> None:
    daily = await add_indicator(session, "I-DAILY")
    retired = await add_indicator(session, "I-RETIRED", active=False)
    for indicator in (daily, retired):
        await oblige(session, indicator, kind="commune")
        await oblige(session, indicator, unit="DEPT-SYT")
    closed = await session.scalar(select(Unit).where(Unit.code == "25741"))
    department = await session.scalar(select(Unit).where(Unit.code == "DEPT-SYT"))
    assert closed is not None
    assert department is not None
    closed.active = False
    department.active = False
    await session.flush()

    pairs = await codes_of(session, await obligated_series(session))
    assert len(pairs) == 90
    assert {indicator for _, indicator in pairs} == {"I-DAILY"}
    assert not {unit for unit, _ in pairs} & {"25741", "DEPT-SYT"}


async def test_restriction_by_units_and_indicators(session: AsyncSession) -> None:
    first = await add_indicator(session, "I-1")
    second = await add_indicator(session, "I-2", cadence="yearly")
    await oblige(session, first, kind="department")
    await oblige(session, second, kind="department")
    await oblige(session, second, unit="VA-CTK")
    units = await ids(session)

    only_second = await obligated_series(session, indicator_ids={second.id})
    assert len(only_second) == 19
    assert {indicator for _, indicator in only_second} == {second.id}

    one_unit = await obligated_series(session, unit_ids=[units["VA-CTK"], units["25741"]])
    assert one_unit == [(units["VA-CTK"], second.id)]

    both = await obligated_series(
        session, unit_ids=(units["DEPT-SYT"],), indicator_ids=(first.id, second.id)
    )
    assert both == sorted([(units["DEPT-SYT"], first.id), (units["DEPT-SYT"], second.id)])

    assert await obligated_series(session, unit_ids=[]) == []
    assert await obligated_series(session, indicator_ids=set()) == []


async def test_no_obligations_means_no_series(session: AsyncSession) -> None:
    await add_indicator(session)
    assert await obligated_series(session) == []
