"""Alert rules on the national registry (issue 18): the nation and its provinces are areas. A
province's alert is filed under the province, so that the province's key sees it and the
nation's listing narrows to it."""

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ioc_hub.models import Scope
from ioc_hub.seed import RegistryName, seed_all
from tests.alerts.helpers import alerts, create_rule, evaluate
from tests.conftest import Clock, MintKey, bearer

NATION, HANOI, HUE = "VN", "01", "46"
BA_DINH = "00004"  # a commune of Hà Nội


@pytest.fixture
async def national(session_factory: async_sessionmaker[AsyncSession]) -> None:
    async with session_factory() as session, session.begin():
        await seed_all(session, RegistryName.VIETNAM_2025, 0)


async def test_the_nation_and_its_provinces_are_areas_of_rules_and_of_alerts(
    app: FastAPI, client: httpx.AsyncClient, national: None, mint_key: MintKey, clock: Clock
) -> None:
    nation = bearer(await mint_key(NATION, Scope.ALERTS_ADMIN, Scope.COVERAGE_READ))
    # Nobody has pushed: every commune is silent, in every province and in the nation.
    for area in (HANOI, HUE, NATION):
        await create_rule(
            client,
            nation,
            {"kind": "coverage_below", "unit_kind": "commune", "ratio": 0.5, "area": area},
        )
    summary = await evaluate(app)
    assert summary.fired == 3

    filed = {a["subject"]: a["unit"] for a in await alerts(client, nation)}
    assert filed == {
        f"coverage:commune@{HANOI}": HANOI,
        f"coverage:commune@{HUE}": HUE,
        f"coverage:commune@{NATION}": NATION,
    }
    [hanoi_alert] = await alerts(client, nation, area=HANOI)
    assert hanoi_alert["unit"] == HANOI
    registered = hanoi_alert["details"]["registered"]
    assert 0 < registered < 3321  # Hà Nội's communes, not the nation's
    assert len(await alerts(client, nation, area=NATION)) == 3

    # A province's key sees its own province's alerts only.
    hanoi = bearer(await mint_key(HANOI, Scope.COVERAGE_READ))
    assert [a["subject"] for a in await alerts(client, hanoi)] == [f"coverage:commune@{HANOI}"]
    outside = await client.get("/api/v1/alerts", params={"area": HUE}, headers=hanoi)
    assert outside.status_code == 403, outside.text


@pytest.mark.parametrize(
    ("condition", "field", "reason"),
    [
        (
            {"kind": "unit_silent", "area": BA_DINH},
            "body.condition.unit_silent.area",
            "is a commune: name a district, a province or the nation",
        ),
        (
            {"kind": "unit_silent", "unit": HANOI},
            "body.condition.unit_silent.unit",
            "the province itself reports nothing",
        ),
        (
            {"kind": "unit_silent", "unit": NATION},
            "body.condition.unit_silent.unit",
            "the nation itself reports nothing",
        ),
    ],
)
async def test_rules_name_areas_not_communes_and_units_not_areas(
    client: httpx.AsyncClient,
    national: None,
    mint_key: MintKey,
    condition: dict[str, str],
    field: str,
    reason: str,
) -> None:
    nation = bearer(await mint_key(NATION, Scope.ALERTS_ADMIN))
    response = await client.post(
        "/api/v1/alert-rules", json={"name": "watch", "condition": condition}, headers=nation
    )
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["field"] == field
    assert reason in error["reason"]
