"""Shared by the coverage tests: pushing as the province, the seeded registry's codes, problems."""

from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ioc_hub.catalogue.service import obligated_series
from ioc_hub.models import Indicator, Unit
from ioc_hub.registry.seed import load_registry_file

DAILY = "DVC-HS-TIEP-NHAN"  # daily; communes, districts and departments report it
DAILY_TOO = "DVC-HS-TRUC-TUYEN"  # daily, same reporters
MONTHLY = "DVC-TY-LE-TRUC-TUYEN"  # monthly, 0..100, same reporters


def codes(kind: str) -> list[str]:
    """Codes of the shipped registry's units of ``kind``, sorted."""
    return sorted(u["code"] for u in load_registry_file()["units"] if u["kind"] == kind)


async def push(
    client: httpx.AsyncClient, auth: dict[str, str], rows: list[dict[str, Any]]
) -> dict[str, Any]:
    response = await client.post("/api/v1/observations", json={"observations": rows}, headers=auth)
    assert response.status_code == 200, response.text
    summary: dict[str, Any] = response.json()
    assert summary["rejected"] == 0, summary
    return summary


async def heartbeat(client: httpx.AsyncClient, auth: dict[str, str], unit: str) -> None:
    response = await client.post("/api/v1/heartbeat", json={"unit": unit}, headers=auth)
    assert response.status_code == 200, response.text


async def get(
    client: httpx.AsyncClient, path: str, auth: dict[str, str], **params: Any
) -> dict[str, Any]:
    response = await client.get(f"/api/v1/{path}", params=params, headers=auth)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def assert_problem(response: httpx.Response, status: int, field: str, reason: str) -> None:
    """The response is a problem with ``status`` whose errors name ``field`` and ``reason``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status
    assert any(e["field"] == field and reason in e["reason"] for e in problem["errors"]), problem


async def obligated(
    session_factory: async_sessionmaker[AsyncSession], unit: str | None = None
) -> set[tuple[str, str]]:
    """(unit code, indicator code) of every obligated series, as the catalogue expands them."""
    async with session_factory() as session:
        units = dict((await session.execute(select(Unit.id, Unit.code))).all())
        indicators = dict((await session.execute(select(Indicator.id, Indicator.code))).all())
        pairs = await obligated_series(session)
    series = {(units[u], indicators[i]) for u, i in pairs}
    return {s for s in series if unit is None or s[0] == unit}
