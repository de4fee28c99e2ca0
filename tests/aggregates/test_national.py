"""Aggregates over the national registry (issue 18): the nation is an area, its provinces a
level; a nation key reads them all, a province key its own province."""

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ioc_hub.models import Scope
from ioc_hub.seed import RegistryName, seed_all
from tests.aggregates.helpers import aggregates, push
from tests.conftest import MintKey, bearer

DAILY = "DVC-HS-TIEP-NHAN"  # owed daily by every commune
HANOI, HUE = "01", "46"
BA_DINH, NGOC_HA = "00004", "00008"  # communes of Hà Nội
HUE_COMMUNE = "19753"  # a commune of Huế


@pytest.fixture
async def national(session_factory: async_sessionmaker[AsyncSession]) -> None:
    async with session_factory() as session, session.begin():
        await seed_all(session, RegistryName.VIETNAM_2025, 0)


async def test_the_nation_reads_monthly_sums_by_province(
    client: httpx.AsyncClient, national: None, mint_key: MintKey
) -> None:
    nation = bearer(await mint_key("VN", Scope.OBSERVATIONS_WRITE, Scope.AGGREGATES_READ))
    await push(
        client,
        nation,
        DAILY,
        [
            (BA_DINH, "2026-03-01", 10),
            (BA_DINH, "2026-03-02", 5),
            (NGOC_HA, "2026-03-01", 7),
            (HUE_COMMUNE, "2026-03-31", 4),
        ],
    )
    rows = await aggregates(
        client, nation, DAILY, bucket="monthly", level="province", from_="2026-03", to="2026-03"
    )
    by_area = {area: (value, reported) for _, area, value, reported, _ in rows}
    assert by_area[HANOI] == (22, 3)
    assert by_area[HUE] == (4, 1)
    assert len(by_area) == 34  # every province has a row, reported or not
    [whole] = await aggregates(
        client, nation, DAILY, bucket="monthly", from_="2026-03", to="2026-03"
    )
    assert whole[1:4] == ("VN", 26, 4)

    hanoi = bearer(await mint_key(HANOI, Scope.AGGREGATES_READ))
    [own] = await aggregates(client, hanoi, DAILY, bucket="monthly", from_="2026-03", to="2026-03")
    assert own[1:4] == (HANOI, 22, 3)
    refused = await client.get(
        "/api/v1/aggregates",
        params={"indicator": DAILY, "area": HUE, "from": "2026-03", "to": "2026-03"},
        headers=hanoi,
    )
    assert refused.status_code == 403, refused.text
