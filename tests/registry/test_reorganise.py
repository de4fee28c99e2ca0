"""Reorganisations (docs/design.md §8): the 2025 Bình Dương reform applied whole, the tree as of a
day, a unit's history, pushes and keys across the day, bad events refused whole, and undo."""

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ioc_hub.models import LineageEdge, Obligation, Reorganisation, Scope, Unit
from tests.conftest import Clock, MintKey, bearer

REFORM = "/api/v1/reorganisations"
DAILY = "DVC-HS-TIEP-NHAN"  # daily, communes report it


@pytest.fixture
def at_now(clock: Clock) -> Clock:
    clock.set("2026-11-28T10:00:00+00:00")
    return clock


async def builtin(client: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, Any]:
    response = await client.get(f"{REFORM}/builtin/binh-duong-2025", headers=auth)
    assert response.status_code == 200, response.text
    event: dict[str, Any] = response.json()
    return event


async def reform(client: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, Any]:
    response = await client.post(REFORM, json=await builtin(client, auth), headers=auth)
    assert response.status_code == 201, response.text
    out: dict[str, Any] = response.json()
    return out


async def total(client: httpx.AsyncClient, auth: dict[str, str], **params: str) -> int:
    response = await client.get("/api/v1/units", params={**params, "limit": "1"}, headers=auth)
    assert response.status_code == 200, response.text
    count: int = response.json()["total"]
    return count


async def test_the_reform_turns_the_registry_two_tier(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    auth = bearer(admin_token)
    out = await reform(client, auth)
    # 74, its 9 districts and the 55 communes whose code no successor continues end.
    assert (out["ended"], out["started"], out["dry_run"]) == (65, 1, False)
    assert out["versions"] == 36 + 27  # the successors, and 74's other units moving under 79
    assert out["approximate_edges"] == 32  # the 16 divided communes, two edges each

    before, after = {"at": "2025-06-30"}, {"at": "2025-07-02"}
    assert await total(client, auth, kind="district", **before) == 9
    assert await total(client, auth, kind="commune", **before) == 91
    assert await total(client, auth, kind="district", **after) == 0
    assert await total(client, auth, kind="commune", **after) == 36
    for kind, count in (("ministry", 3), ("department", 18), ("vertical_agency", 6)):
        assert await total(client, auth, kind=kind, **before) == count
        assert await total(client, auth, kind=kind, **after) == count
    assert await total(client, auth, parent="79", kind="commune", **after) == 36
    assert await total(client, auth, parent="79", kind="department", **after) == 18

    old = await client.get(
        "/api/v1/units", params={"at": "2025-06-30", "parent": "724", "limit": "100"}, headers=auth
    )
    then = {u["code"]: u for u in old.json()["items"]}["25945"]
    assert (then["name"], then["parent"]) == ("Phường Tân Bình", "724")


async def test_a_unit_shows_its_versions_predecessors_and_successors(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    auth = bearer(admin_token)
    await reform(client, auth)
    unit = (await client.get("/api/v1/units/25945", headers=auth)).json()
    assert (unit["name"], unit["parent"], unit["valid_to"]) == ("Phường Tân Đông Hiệp", "79", None)
    assert [(v["name"], v["parent"], v["valid_from"], v["valid_to"]) for v in unit["versions"]] == [
        ("Phường Tân Bình", "724", None, "2025-07-01"),
        ("Phường Tân Đông Hiệp", "79", "2025-07-01", None),
    ]
    predecessors = {p["code"]: (p["share"], p["primary"]) for p in unit["predecessors"]}
    assert predecessors == {"25939": (None, False), "25945": (1.0, True), "25948": (None, True)}

    ended = (await client.get("/api/v1/units/25948", headers=auth)).json()
    assert ended["valid_to"] == "2025-07-01"
    successors = {s["code"]: (s["share"], s["primary"]) for s in ended["successors"]}
    assert successors == {"25945": (None, True), "25942": (None, False)}


async def test_a_dry_run_applies_nothing(
    client: httpx.AsyncClient,
    admin_token: str,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    auth = bearer(admin_token)
    response = await client.post(
        REFORM, json=await builtin(client, auth), headers=auth, params={"dry_run": "true"}
    )
    assert response.status_code == 200, response.text
    assert (response.json()["dry_run"], response.json()["id"], response.json()["ended"]) == (
        True,
        None,
        65,
    )
    async with session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(Reorganisation)) == 0
        assert await session.scalar(select(func.count()).select_from(LineageEdge)) == 0
        assert await session.scalar(select(Unit.id).where(Unit.code == "79")) is None
        ended = await session.scalar(select(func.count()).where(Unit.valid_to.is_not(None)))
        assert ended == 0
    assert (await client.get(REFORM, headers=auth)).json() == []


async def test_pushes_and_keys_across_the_day(
    client: httpx.AsyncClient, admin_token: str, mint_key: MintKey, at_now: Clock
) -> None:
    auth = bearer(admin_token)
    old_key = bearer(await mint_key("25948", Scope.OBSERVATIONS_WRITE))
    await reform(client, auth)
    new_key = bearer(await mint_key("25945", Scope.OBSERVATIONS_WRITE))
    district_key = bearer(await mint_key("724", Scope.OBSERVATIONS_WRITE))

    async def push(key: dict[str, str], unit: str, period: str) -> str:
        """ "stored", or the reason the one row was rejected."""
        row = {"unit": unit, "indicator": DAILY, "value": 5, "period": period}
        response = await client.post(
            "/api/v1/observations", json={"observations": [row]}, headers=key
        )
        if response.status_code == 200:
            return "stored"
        assert response.status_code == 422, response.text
        reason: str = response.json()["summary"]["errors"][0]["reason"]
        return reason

    assert await push(old_key, "25948", "2025-07-05") == (
        "unit 25948 ended on 2025-07-01; its successors are 25945 (primary), 25942"
    )
    # An ended unit's key keeps its past.
    assert await push(old_key, "25948", "2025-06-20") == "stored"
    # A successor's key corrects its predecessors' periods before the day, and no later ones.
    assert await push(new_key, "25948", "2025-06-21") == "stored"
    assert await push(new_key, "25939", "2025-06-21") == "stored"
    assert "ended on 2025-07-01" in await push(new_key, "25948", "2025-07-02")
    assert "outside this key's area" in await push(new_key, "25942", "2025-06-21")
    # A district's key keeps the communes it had, for the days it had them.
    assert await push(district_key, "25945", "2025-06-22") == "stored"
    assert await push(district_key, "25945", "2025-07-03") == (
        "unit 25945 is outside this key's area for period 2025-07-03"
    )
    # The continuing units report on after the day, and the new province exists from it.
    assert await push(new_key, "25945", "2025-07-03") == "stored"


async def test_successors_take_their_predecessors_obligations(
    client: httpx.AsyncClient,
    admin_token: str,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """An obligation given to one old commune reaches each of its successors at D."""
    auth = bearer(admin_token)
    obliged = await client.post(
        "/api/v1/obligations",
        json={"indicator": "SXH-CA-MAC", "unit": "25948"},
        headers=auth,
    )
    assert obliged.status_code == 201, obliged.text
    out = await reform(client, auth)
    assert out["obligations_handed"] >= 2
    async with session_factory() as session:
        rows = await session.execute(
            select(Unit.code, Obligation.valid_from)
            .join(Unit, Unit.id == Obligation.unit_id)
            .where(Obligation.reorganisation_id == out["id"])
        )
        handed = {code: str(start) for code, start in rows}
    assert handed["25945"] == handed["25942"] == "2025-07-01"


def _edge(source: str, target: str, share: float | None, primary: bool) -> dict[str, Any]:
    return {"from": source, "to": target, "share": share, "primary": primary}


MERGE: dict[str, Any] = {
    "name": "25741 and 25744 merge",
    "effective": "2025-07-01",
    "ends": ["25744"],
    "versions": [{"code": "25741", "name": "Phường Mới"}],
    "lineage": [_edge("25741", "25741", 1, True), _edge("25744", "25741", 1, True)],
}


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (
            {
                "lineage": [
                    _edge("25741", "25741", 1, True),
                    _edge("25744", "25741", 0.6, True),
                    _edge("25744", "25747", 0.6, False),
                ]
            },
            "body.lineage.2.share",
            "more than 1",
        ),
        (
            {
                "lineage": [
                    _edge("25741", "25741", 1, True),
                    _edge("25744", "25741", 0.5, False),
                    _edge("25744", "25747", 0.5, False),
                ]
            },
            "body.lineage.1.primary",
            "0 primary successors",
        ),
        (
            {
                "lineage": [
                    _edge("25741", "25741", 1, True),
                    _edge("25744", "25741", 0.5, True),
                    _edge("25744", "25747", 0.5, True),
                ]
            },
            "body.lineage.2.primary",
            "2 primary successors",
        ),
        (
            {
                "ends": [],
                "lineage": [_edge("25741", "25744", 1, True), _edge("25744", "25741", 1, True)],
            },
            "body.lineage",
            "cycle",
        ),
        ({"ends": ["99999"]}, "body.ends.0", "does not exist"),
        (
            {"ends": ["25744", "25741"]},
            "body.versions.0.code",
            "both ends and continues",
        ),
        ({"ends": ["25744", "718"]}, "body.versions", "without a parent"),
        (
            {"starts": [{"code": "NEW", "name": "Xã Mới", "kind": "commune"}]},
            "body.starts.0.parent",
            "without a parent",
        ),
        (
            {"versions": [{"code": "25741", "parent": "25747"}]},
            "body.versions.0.parent",
            "must be a district or province",
        ),
        ({"lineage": [_edge("25744", "25741", 0.5, True)]}, "body.lineage.0.share", "add up to 1"),
    ],
)
async def test_bad_events_are_refused_whole(
    client: httpx.AsyncClient,
    admin_token: str,
    session_factory: async_sessionmaker[AsyncSession],
    change: dict[str, Any],
    field: str,
    words: str,
) -> None:
    auth = bearer(admin_token)
    # A day after which the seeded units are real: the seed has no start days.
    response = await client.post(REFORM, json={**MERGE, **change}, headers=auth)
    assert response.status_code == 422, response.text
    error = response.json()["errors"][0]
    assert error["field"].startswith(field), error
    assert words in response.json()["detail"]
    async with session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(Reorganisation)) == 0
        assert await session.scalar(select(func.count()).where(Unit.valid_to.is_not(None))) == 0


async def test_a_start_before_the_unit_begins_is_refused(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    auth = bearer(admin_token)
    await reform(client, auth)
    early = {
        "name": "too early for 79",
        "effective": "2025-03-01",
        "ends": ["79"],
    }
    response = await client.post(REFORM, json=early, headers=auth)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.ends.0"


async def test_only_province_keys_reorganise(
    client: httpx.AsyncClient, admin_token: str, mint_key: MintKey
) -> None:
    district = bearer(await mint_key("718", Scope.REGISTRY_WRITE))
    response = await client.post(REFORM, json=MERGE, headers=district)
    assert response.status_code == 403


async def test_undo_restores_the_map_until_new_data_arrives(
    client: httpx.AsyncClient, admin_token: str, mint_key: MintKey, at_now: Clock
) -> None:
    auth = bearer(admin_token)
    first = await reform(client, auth)
    listed = (await client.get(REFORM, headers=auth)).json()
    assert [r["id"] for r in listed] == [first["id"]]

    undone = await client.delete(f"{REFORM}/{first['id']}", headers=auth)
    assert undone.status_code == 200, undone.text
    assert await total(client, auth, kind="district") == 9
    assert await total(client, auth, kind="commune", at="2025-07-02") == 91
    hiep = (await client.get("/api/v1/units/25945", headers=auth)).json()
    assert (hiep["name"], hiep["parent"], len(hiep["versions"])) == ("Phường Tân Bình", "724", 1)
    assert (await client.get("/api/v1/units/79", headers=auth)).status_code == 404

    second = await reform(client, auth)
    key = bearer(await mint_key("25945", Scope.OBSERVATIONS_WRITE))
    stored = await client.post(
        "/api/v1/observations",
        json={"observations": [{"indicator": DAILY, "value": 3, "period": "2025-07-02"}]},
        headers=key,
    )
    assert stored.status_code == 200, stored.text
    refused = await client.delete(f"{REFORM}/{second['id']}", headers=auth)
    assert refused.status_code == 409
    assert "25945" in refused.json()["detail"]
    assert (await client.delete(f"{REFORM}/999", headers=auth)).status_code == 404


async def test_pushes_racing_a_reorganisation_see_the_map_before_or_after_it(
    client: httpx.AsyncClient, admin_token: str, mint_key: MintKey, at_now: Clock
) -> None:
    """Each push is judged wholly by the old map (stored) or wholly by the new one (its row for
    the ended unit refused, the continuing unit's row stored): never a mix, never an error."""
    auth = bearer(admin_token)
    event = await builtin(client, auth)
    key = bearer(await mint_key("74", Scope.OBSERVATIONS_WRITE))
    rows = [
        {"unit": "25948", "indicator": DAILY, "value": 1, "period": "2025-07-02"},
        {"unit": "25945", "indicator": DAILY, "value": 2, "period": "2025-07-02"},
    ]

    async def push(serial: int) -> tuple[int, int]:
        for row in rows:
            row["value"] = serial
        response = await client.post(
            "/api/v1/observations", json={"observations": rows}, headers=key
        )
        assert response.status_code == 200, response.text
        summary = response.json()
        return summary["created"] + summary["updated"] + summary["unchanged"], summary["rejected"]

    results = await asyncio.gather(
        *(push(n) for n in range(10)),
        client.post(REFORM, json=event, headers=auth),
        *(push(n) for n in range(10, 20)),
    )
    applied = results[10]
    assert isinstance(applied, httpx.Response)
    assert applied.status_code == 201, applied.text
    outcomes = {r for r in results if isinstance(r, tuple)}
    assert outcomes <= {(2, 0), (1, 1)}, outcomes
    assert await push(99) == (1, 1)  # after it, the new map


async def test_undo_is_refused_once_a_unit_it_started_has_a_key(
    client: httpx.AsyncClient, admin_token: str, mint_key: MintKey
) -> None:
    auth = bearer(admin_token)
    applied = await reform(client, auth)
    await mint_key("79", Scope.COVERAGE_READ)
    refused = await client.delete(f"{REFORM}/{applied['id']}", headers=auth)
    assert refused.status_code == 409
    assert "units it started have keys" in refused.json()["detail"]
    assert await total(client, auth, kind="district", at="2025-07-02") == 0  # still applied
