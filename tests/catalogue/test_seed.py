"""`ioc-hub seed` loads the shipped catalogue: the article's 15 fast and 12 slow indicator groups,
and obligations that give every unit of the registry something to report."""

from collections import defaultdict

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ioc_hub.catalogue.seed import load_catalogue_file
from ioc_hub.catalogue.service import obligated_series
from ioc_hub.models import Indicator, IndicatorGroup, Obligation, Unit, UnitKind
from ioc_hub.registry.seed import load_registry_file
from ioc_hub.seed import seed_all
from tests.conftest import bearer

FAST = {"daily", "weekly", "monthly"}
SLOW = {"quarterly", "yearly"}


async def test_seed_holds_the_articles_27_groups_15_fast_and_12_slow(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    auth = bearer(admin_token)
    groups = (await client.get("/api/v1/indicator-groups?limit=100", headers=auth)).json()
    assert groups["total"] == 27
    indicators = (await client.get("/api/v1/indicators?limit=1000", headers=auth)).json()
    assert indicators["total"] == 88
    cadences: dict[str, set[str]] = defaultdict(set)
    for indicator in indicators["items"]:
        cadences[indicator["group"]].add(indicator["cadence"])
    assert set(cadences) == {g["code"] for g in groups["items"]}, "every group has indicators"
    assert sum(1 for c in cadences.values() if c <= FAST) == 15
    assert sum(1 for c in cadences.values() if c <= SLOW) == 12


async def test_seed_holds_the_articles_indicators(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    auth = bearer(admin_token)
    expected = {
        "DVC-TY-LE-TRUC-TUYEN": ("G-DVC", "monthly", "%"),
        "TD1022-CUOC-GOI": ("G-TD1022", "daily", None),
        "CC115-CUOC-GOI": ("G-CC115", "daily", None),
        "GRDP": ("G-KTTH", None, None),
        "PCI": (None, "yearly", None),
        "DTI-TINH": (None, "yearly", None),
    }
    for code, (group, cadence, unit) in expected.items():
        response = await client.get(f"/api/v1/indicators/{code}", headers=auth)
        assert response.status_code == 200, code
        body = response.json()
        assert body["active"] is True
        assert group is None or body["group"] == group, code
        assert cadence is None or body["cadence"] == cadence, code
        assert unit is None or body["measurement_unit"] == unit, code
    rate = (await client.get("/api/v1/indicators/DVC-TY-LE-TRUC-TUYEN", headers=auth)).json()
    assert (rate["min_value"], rate["max_value"]) == (0, 100)
    assert (rate["time_aggregation"], rate["area_aggregation"]) == ("avg", "avg")
    assert rate["grace_seconds_effective"] == 5 * 86_400


async def catalogue_counts(session_factory: async_sessionmaker[AsyncSession]) -> list[int]:
    async with session_factory() as session:
        return [
            await session.scalar(select(func.count()).select_from(table)) or 0
            for table in (IndicatorGroup, Indicator, Obligation)
        ]


async def test_seed_twice_creates_nothing_and_keeps_operator_edits(
    client: httpx.AsyncClient,
    admin_token: str,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    auth = bearer(admin_token)
    renamed = await client.patch("/api/v1/indicators/CPI", json={"name": "CPI (sửa)"}, headers=auth)
    assert renamed.status_code == 200
    before = await catalogue_counts(session_factory)
    async with session_factory() as session, session.begin():
        report = await seed_all(session)
    assert await catalogue_counts(session_factory) == before
    assert report[0].startswith("units: 0 created")
    assert report[1:] == [
        "indicator groups: 0 created, 27 already present",
        "indicators: 0 created, 88 already present",
        f"obligations: 0 created, {before[2]} already present",
    ]
    kept = await client.get("/api/v1/indicators/CPI", headers=auth)
    assert kept.json()["name"] == "CPI (sửa)"


def shipped_series() -> set[tuple[str, str]]:
    """The (unit, indicator) codes the shipped files oblige, worked out without SQL."""
    units = load_registry_file()["units"]
    expected = set()
    for indicator in load_catalogue_file()["indicators"]:
        kinds = set(indicator["reported_by"]["kinds"])
        expected |= {(u["code"], indicator["code"]) for u in units if u["kind"] in kinds}
        expected |= {(code, indicator["code"]) for code in indicator["reported_by"]["units"]}
    return expected


async def test_every_unit_of_the_registry_owes_at_least_one_fast_series(
    seeded: None, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    async with session_factory() as session:
        units = {
            row.id: row.code
            for row in await session.execute(
                select(Unit.id, Unit.code).where(
                    Unit.active.is_(True), Unit.kind != UnitKind.PROVINCE.value
                )
            )
        }
        indicators = {
            row.id: (row.code, row.cadence)
            for row in await session.execute(
                select(Indicator.id, Indicator.code, Indicator.cadence)
            )
        }
        pairs = await obligated_series(session)
    assert len(units) == 127
    assert {(units[u], indicators[i][0]) for u, i in pairs} == shipped_series()
    fast_units = {u for u, i in pairs if indicators[i][1] in FAST}
    assert {u for u, _ in pairs} == set(units)
    assert fast_units == set(units)


async def test_deactivated_unit_leaves_obligated_series(
    client: httpx.AsyncClient,
    admin_token: str,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async def owing() -> set[str]:
        async with session_factory() as session:
            unit_ids = {u for u, _ in await obligated_series(session)}
            codes = await session.scalars(select(Unit.code).where(Unit.id.in_(unit_ids)))
            return set(codes)

    assert {"25741", "DEPT-SNGV"} <= await owing()
    auth = bearer(admin_token)
    for code in ("25741", "DEPT-SNGV"):
        assert (await client.delete(f"/api/v1/units/{code}", headers=auth)).status_code == 200
    remaining = await owing()
    assert len(remaining) == 125
    assert not remaining & {"25741", "DEPT-SNGV"}
