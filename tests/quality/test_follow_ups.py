"""PUT /api/v1/observations/{unit}/{indicator}/{period}/follow-up and GET /api/v1/follow-ups
(docs/design.md §9): a stored value marked for follow-up with a note, within the key's area."""

from datetime import date
from typing import Any

import httpx
import pytest

from ioc_hub.models import Scope
from tests.conftest import Clock, MintKey, bearer
from tests.quality.helpers import COMMUNE, DAILY, NEIGHBOUR, NOW, push, rows

PATH = f"/api/v1/observations/{COMMUNE}/{DAILY}/2026-11-02/follow-up"


@pytest.fixture
async def keys(
    client: httpx.AsyncClient, seeded: None, mint_key: MintKey, clock: Clock
) -> dict[str, dict[str, str]]:
    """Keys, and two values stored for the commune and its neighbour each."""
    clock.set(NOW)
    writer = bearer(await mint_key("74", Scope.OBSERVATIONS_WRITE))
    days = [date(2026, 11, 2), date(2026, 11, 3)]
    for unit in (COMMUNE, NEIGHBOUR):
        await push(client, writer, rows(unit, days, [30.0, 31.0]))
    return {
        "operator": bearer(await mint_key("74", Scope.COVERAGE_READ)),
        "district": bearer(await mint_key("718", Scope.COVERAGE_READ)),
        "neighbour": bearer(await mint_key(NEIGHBOUR, Scope.COVERAGE_READ)),
        "writer": writer,
    }


async def test_mark_list_and_close_a_follow_up(
    client: httpx.AsyncClient, keys: dict[str, dict[str, str]], clock: Clock
) -> None:
    marked = await client.put(
        PATH, json={"follow_up": True, "note": "tenfold jump"}, headers=keys["district"]
    )
    assert marked.status_code == 200, marked.text
    assert marked.json() == {
        "unit": COMMUNE,
        "indicator": DAILY,
        "period": "2026-11-02",
        "value": 30.0,
        "follow_up": True,
        "note": "tenfold jump",
        "updated_at": "2026-11-28T10:00:00Z",
    }
    other = f"/api/v1/observations/{NEIGHBOUR}/{DAILY}/20261103/follow-up"  # a DHIS2 alias
    clock.set("2026-11-28T11:00:00+00:00")
    assert (await client.put(other, json={"follow_up": True}, headers=keys["operator"])).is_success

    listed = await client.get("/api/v1/follow-ups", headers=keys["operator"])
    assert [(i["unit"], i["period"]) for i in listed.json()["items"]] == [
        (NEIGHBOUR, "2026-11-03"),
        (COMMUNE, "2026-11-02"),
    ]
    mine = await client.get("/api/v1/follow-ups", headers=keys["district"])
    assert [i["unit"] for i in mine.json()["items"]] == [COMMUNE]
    by_area = await client.get(
        "/api/v1/follow-ups", params={"area": NEIGHBOUR}, headers=keys["operator"]
    )
    assert [i["unit"] for i in by_area.json()["items"]] == [NEIGHBOUR]

    closed = await client.put(
        PATH, json={"follow_up": False, "note": "confirmed by phone"}, headers=keys["district"]
    )
    assert closed.json()["follow_up"] is False
    still_open = await client.get(
        "/api/v1/follow-ups", params={"indicator": DAILY}, headers=keys["district"]
    )
    assert still_open.json()["items"] == []
    done = await client.get(
        "/api/v1/follow-ups", params={"state": "closed"}, headers=keys["district"]
    )
    assert [i["note"] for i in done.json()["items"]] == ["confirmed by phone"]
    every = await client.get(
        "/api/v1/follow-ups", params={"state": "any"}, headers=keys["operator"]
    )
    assert every.json()["total"] == 2


@pytest.mark.parametrize(
    ("path", "status", "field"),
    [
        (f"/api/v1/observations/99999/{DAILY}/2026-11-02/follow-up", 404, "path.unit"),
        (f"/api/v1/observations/{COMMUNE}/NO-SUCH/2026-11-02/follow-up", 404, "path.indicator"),
        (f"/api/v1/observations/{COMMUNE}/{DAILY}/2026-11/follow-up", 422, "path.period"),
    ],
)
async def test_unknown_targets(
    client: httpx.AsyncClient, keys: dict[str, dict[str, str]], path: str, status: int, field: str
) -> None:
    response = await client.put(path, json={"follow_up": True}, headers=keys["operator"])
    assert response.status_code == status, response.text
    assert response.json()["errors"][0]["field"] == field


async def test_a_value_never_stored_is_404(
    client: httpx.AsyncClient, keys: dict[str, dict[str, str]]
) -> None:
    path = f"/api/v1/observations/{COMMUNE}/{DAILY}/2026-11-20/follow-up"
    response = await client.put(path, json={"follow_up": True}, headers=keys["operator"])
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_key_marks_values_of_its_area_only(
    client: httpx.AsyncClient, keys: dict[str, dict[str, str]]
) -> None:
    response = await client.put(PATH, json={"follow_up": True}, headers=keys["neighbour"])
    assert response.status_code == 403
    assert response.json()["errors"][0]["field"] == "path.unit"
    writer = await client.put(PATH, json={"follow_up": True}, headers=keys["writer"])
    assert writer.status_code == 403  # no coverage:read
    listed = await client.get(
        "/api/v1/follow-ups", params={"area": COMMUNE}, headers=keys["neighbour"]
    )
    assert listed.status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "body.follow_up"),
        ({"follow_up": "yes"}, "body.follow_up"),
        ({"follow_up": True, "note": "x" * 1001}, "body.note"),
        ({"follow_up": True, "note": "a\u0000b"}, "body.note"),
        ({"follow_up": True, "extra": 1}, "body.extra"),
    ],
)
async def test_bad_bodies_name_the_field(
    client: httpx.AsyncClient, keys: dict[str, dict[str, str]], body: dict[str, Any], field: str
) -> None:
    response = await client.put(PATH, json=body, headers=keys["operator"])
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == field
    listed = await client.get(
        "/api/v1/follow-ups", params={"state": "any"}, headers=keys["operator"]
    )
    assert listed.json()["total"] == 0
