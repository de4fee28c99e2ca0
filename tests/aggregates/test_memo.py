"""The map of an answer kept in the process (docs/design.md §5): it holds only while the registry
is the same, so a change to units, obligations or lineage edges shows in the next answer."""

import httpx
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ioc_hub.models import RegistryGeneration
from tests.aggregates.helpers import DISTRICT, A, Row, make_indicator, oblige, push, table
from tests.registry.test_reorganise import reform

NOVEMBER = {"indicator": "T-MEMO", "bucket": "monthly", "from": "2026-11", "to": "2026-11"}


async def district(client: httpx.AsyncClient, auth: dict[str, str], code: str) -> list[Row]:
    params = {**NOVEMBER, "area": code, "level": "district"}
    response = await client.get("/api/v1/aggregates", params=params, headers=auth)
    assert response.status_code == 200, response.text
    return table(response.json()["items"])


async def test_a_unit_moved_or_an_obligation_added_shows_in_the_next_answer(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await make_indicator(client, admin, "T-MEMO")
    await oblige(client, admin, indicator="T-MEMO", unit=A)
    await push(client, admin, "T-MEMO", [(A, "2026-11-01", 5.0)])
    # 28 days of November are due at the clock (2026-11-28); one unit owes them.
    assert await district(client, admin, DISTRICT) == [("2026-11", DISTRICT, 5.0, 1, 28)]
    assert await district(client, admin, "724") == []

    await oblige(client, admin, indicator="T-MEMO", unit="25819")
    assert await district(client, admin, DISTRICT) == [("2026-11", DISTRICT, 5.0, 1, 56)]

    moved = await client.patch(f"/api/v1/units/{A}", json={"parent": "724"}, headers=admin)
    assert moved.status_code == 200, moved.text
    assert await district(client, admin, DISTRICT) == [("2026-11", DISTRICT, None, 0, 28)]
    assert await district(client, admin, "724") == [("2026-11", "724", 5.0, 1, 28)]


async def test_lineage_edges_move_the_registry_generation(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await reform(client, admin)
    generation = select(RegistryGeneration.generation).where(RegistryGeneration.id == 1)
    async with session_factory() as session, session.begin():
        before = await session.scalar(generation)
        await session.execute(text("UPDATE lineage_edges SET share = share"))
        after = await session.scalar(generation)
    assert before is not None
    assert after is not None
    assert after > before
