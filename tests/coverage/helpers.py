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


SILENT = {"DEPT-SNGV", "VA-CHQ", "VA-KBNN"}
"""The units the article's table leaves unconnected: one department, two vertical agencies."""


async def article_situation(
    client: httpx.AsyncClient, auth: dict[str, str], period: str = "2026-11-27"
) -> None:
    """Every ministry, district and commune, 17 of 18 departments and 4 of 6 vertical agencies
    heard from: the ones with daily data push ``period``'s row in one batch, the others send a
    heartbeat."""
    pushers = [c for kind in ("department", "district", "commune") for c in codes(kind)]
    await push(
        client,
        auth,
        [
            {"unit": code, "indicator": DAILY, "value": 1, "period": period}
            for code in pushers
            if code not in SILENT
        ],
    )
    for code in codes("ministry") + codes("vertical_agency"):
        if code not in SILENT:
            await heartbeat(client, auth, code)


ARTICLE_TABLE = {
    "ministry": (3, 3),
    "department": (17, 18),
    "vertical_agency": (4, 6),
    "district": (9, 9),
    "commune": (91, 91),
}
"""The article's table after :func:`article_situation`, as :func:`kinds` reads it."""


def kinds(body: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """A coverage answer's table: (connected, registered) per kind."""
    return {kind: (c["connected"], c["registered"]) for kind, c in body["kinds"].items()}


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
