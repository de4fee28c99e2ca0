"""GET /api/v1/coverage: the article's table ("department 17/18"), unit by unit.

A unit is connected at `t` when it was heard from (an accepted push or a heartbeat) within its
connection window, which its fastest obligation sets (7 days without obligations); coverage per
kind is connected / registered active units, e.g. `department 17/18`, answered from state kept at
ingest, so its cost grows with units and series, never with stored observations
(docs/design.md §4).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ioc_hub.models import Scope
from ioc_hub.registry.seed import load_registry_file
from tests.conftest import Clock, MintKey, bearer
from tests.coverage.helpers import (
    ARTICLE_TABLE,
    DAILY,
    article_situation,
    assert_problem,
    codes,
    get,
    heartbeat,
    kinds,
    obligated,
    push,
)


def communes_of(district: str) -> list[str]:
    return sorted(u["code"] for u in load_registry_file()["units"] if u["parent"] == district)


async def test_the_articles_situation_reads_3_17_4_9_91(
    client: httpx.AsyncClient,
    admin_token: str,
    clock: Clock,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    auth = bearer(admin_token)
    await article_situation(client, auth)

    body = await get(client, "coverage", auth)
    assert kinds(body) == ARTICLE_TABLE
    assert list(body["kinds"]) == [
        "ministry",
        "department",
        "vertical_agency",
        "district",
        "commune",
    ], "the article's order"
    assert body["total"] == {"registered": 127, "connected": 124}
    assert body["source"] == "state"
    assert datetime.fromisoformat(body["at"]) == clock.now

    units = body["units"]
    assert units["total"] == 127
    assert [u["code"] for u in units["items"][:3]] == ["DEPT-SNGV", "VA-CHQ", "VA-KBNN"]
    assert not any(u["connected"] for u in units["items"][:3]), "disconnected first"
    assert all(u["connected"] for u in units["items"][3:])

    commune = next(u for u in units["items"] if u["code"] == "25741")
    owed = len(await obligated(session_factory, "25741"))
    assert commune["parent"] == "718"
    assert commune["kind"] == "commune"
    assert commune["fastest_cadence"] == "daily"
    assert commune["connection_window_seconds"] == 2 * 86_400
    assert commune["series"] == {"fresh": 1, "overdue": 0, "stale": 0, "never": owed - 1}
    assert datetime.fromisoformat(commune["last_contact_at"]) == clock.now
    assert sum(body["series"].values()) == len(await obligated(session_factory))


async def test_a_district_key_pushes_for_its_communes_and_sees_only_its_area(
    client: httpx.AsyncClient, seeded: None, mint_key: MintKey, clock: Clock
) -> None:
    district = bearer(await mint_key("718", Scope.OBSERVATIONS_WRITE, Scope.COVERAGE_READ))
    communes = communes_of("718")
    assert len(communes) == 14
    await push(
        client,
        district,
        [
            {"unit": code, "indicator": DAILY, "value": 3, "period": "2026-11-27"}
            for code in ["718", *communes[1:]]
        ],
    )
    body = await get(client, "coverage", district)
    assert kinds(body) == {"district": (1, 1), "commune": (13, 14)}
    assert body["units"]["items"][0]["code"] == communes[0]
    assert await get(client, "coverage", district, district="718") == body

    for param in ("district", "area"):
        other = await client.get(f"/api/v1/coverage?{param}=719", headers=district)
        assert_problem(
            other,
            403,
            f"query.{param}",
            "unit '719' is outside this key's area: it covers district '718' and its communes",
        )
    province = await client.get("/api/v1/coverage?district=74", headers=district)
    assert_problem(province, 403, "query.district", "outside this key's area")


async def test_a_commune_key_sees_its_own_unit_only(
    client: httpx.AsyncClient, seeded: None, mint_key: MintKey, clock: Clock
) -> None:
    commune = bearer(await mint_key("25741", Scope.COVERAGE_READ))
    body = await get(client, "coverage", commune)
    assert kinds(body) == {"commune": (0, 1)}
    assert [u["code"] for u in body["units"]["items"]] == ["25741"]
    own_district = await client.get("/api/v1/coverage?district=718", headers=commune)
    assert_problem(own_district, 403, "query.district", "it covers commune '25741' only")


async def test_filter_by_kind_and_district(
    client: httpx.AsyncClient, admin_token: str, clock: Clock
) -> None:
    auth = bearer(admin_token)
    await article_situation(client, auth)

    departments = await get(client, "coverage", auth, kind="department")
    assert kinds(departments) == {"department": (17, 18)}
    assert {u["kind"] for u in departments["units"]["items"]} == {"department"}
    assert departments["units"]["total"] == 18

    district = await get(client, "coverage", auth, district="718")
    assert kinds(district) == {"district": (1, 1), "commune": (14, 14)}
    assert {u["code"] for u in district["units"]["items"]} == {"718", *communes_of("718")}
    assert await get(client, "coverage", auth, area="718") == district
    assert await get(client, "coverage", auth, area="718", district="718") == district

    communes = await get(client, "coverage", auth, kind="commune", district="719")
    assert kinds(communes) == {"commune": (len(communes_of("719")), len(communes_of("719")))}

    everything = await get(client, "coverage", auth, district="74")
    assert kinds(everything) == kinds(await get(client, "coverage", auth))


async def test_units_are_paginated(
    client: httpx.AsyncClient, admin_token: str, clock: Clock
) -> None:
    auth = bearer(admin_token)
    await article_situation(client, auth)
    full = (await get(client, "coverage", auth, limit=1000))["units"]
    page = (await get(client, "coverage", auth, limit=5, offset=2))["units"]
    assert (page["total"], page["limit"], page["offset"]) == (127, 5, 2)
    assert page["items"] == full["items"][2:7]


BAD_PARAMETERS = [
    pytest.param({"kind": "village"}, 422, "query.kind", "Input should be", id="unknown-kind"),
    pytest.param({"kind": "province"}, 422, "query.kind", "the province itself", id="province"),
    pytest.param(
        {"at": "yesterday"}, 422, "query.at", "is not an ISO 8601 instant", id="malformed-at"
    ),
    pytest.param(
        {"at": "2026-11-28T10:00:00"}, 422, "query.at", "has no UTC offset", id="naive-at"
    ),
    pytest.param(
        {"at": "2026-11-28T10:00:00 07:00"}, 422, "query.at", "send '+' as %2B", id="plus-as-space"
    ),
    pytest.param({"at": "0900-01-01T00:00:00Z"}, 422, "query.at", "years 1970..9000", id="at-far"),
    pytest.param(
        {"district": "99999"}, 404, "query.district", "unit '99999' does not exist", id="unknown"
    ),
    pytest.param(
        {"district": "25741"}, 422, "query.district", "is a commune, not a district", id="commune"
    ),
    pytest.param(
        {"area": "DEPT-SYT"}, 422, "query.area", "is a department, not a district", id="area"
    ),
    pytest.param(
        {"area": "718", "district": "719"}, 422, "query.area", "disagree", id="area-vs-district"
    ),
    pytest.param({"limit": 0}, 422, "query.limit", "greater than or equal to 1", id="limit"),
]


@pytest.mark.parametrize(("params", "status", "field", "reason"), BAD_PARAMETERS)
async def test_bad_parameters_are_refused_naming_the_field(
    client: httpx.AsyncClient,
    admin_token: str,
    params: dict[str, Any],
    status: int,
    field: str,
    reason: str,
) -> None:
    response = await client.get("/api/v1/coverage", params=params, headers=bearer(admin_token))
    assert_problem(response, status, field, reason)


async def test_coverage_needs_the_coverage_scope(
    client: httpx.AsyncClient, seeded: None, mint_key: MintKey
) -> None:
    reader = bearer(await mint_key("74", Scope.AGGREGATES_READ))
    response = await client.get("/api/v1/coverage", headers=reader)
    assert response.status_code == 403
    assert "coverage:read" in response.json()["detail"]
    assert (await client.get("/api/v1/coverage")).status_code == 401


async def test_the_window_ends_after_the_fastest_cadence_plus_its_grace(
    client: httpx.AsyncClient, admin_token: str, clock: Clock
) -> None:
    auth = bearer(admin_token)
    await push(
        client, auth, [{"unit": "DEPT-SYT", "indicator": DAILY, "value": 1, "period": "2026-11-27"}]
    )
    await heartbeat(client, auth, "MIN-BTTTT")  # its fastest obligation is weekly
    now = clock.now

    async def connected(after: timedelta, kind: str) -> tuple[int, int]:
        at = (now + after).isoformat()
        body = await get(client, "coverage", auth, at=at, kind=kind)
        assert body["source"] == "state", "a future instant: as if nothing more arrives"
        return kinds(body)[kind]

    assert await connected(timedelta(days=2), "department") == (1, 18)
    assert await connected(timedelta(days=2, seconds=1), "department") == (0, 18)
    assert await connected(timedelta(days=9), "ministry") == (1, 3)
    assert await connected(timedelta(days=9, seconds=1), "ministry") == (0, 3)

    ministry = (await get(client, "coverage", auth, kind="ministry"))["units"]["items"]
    window = {u["code"]: (u["fastest_cadence"], u["connection_window_seconds"]) for u in ministry}
    assert window["MIN-BTTTT"] == ("weekly", 9 * 86_400)
    assert window["MIN-VPCP"] == ("monthly", 36 * 86_400)


async def test_a_unit_without_obligations_has_a_seven_day_window(
    client: httpx.AsyncClient, admin_token: str, clock: Clock
) -> None:
    auth = bearer(admin_token)
    created = await client.post(
        "/api/v1/units",
        json={"code": "MIN-NEW", "name": "Bộ Mới", "kind": "ministry"},
        headers=auth,
    )
    assert created.status_code == 201, created.text
    await heartbeat(client, auth, "MIN-NEW")
    later = (clock.now + timedelta(days=7)).isoformat()
    body = await get(client, "coverage", auth, kind="ministry", at=later)
    unit = next(u for u in body["units"]["items"] if u["code"] == "MIN-NEW")
    assert (unit["fastest_cadence"], unit["connection_window_seconds"]) == (None, 7 * 86_400)
    assert unit["connected"] is True
    assert unit["series"] == {"fresh": 0, "overdue": 0, "stale": 0, "never": 0}
    a_second_later = (clock.now + timedelta(days=7, seconds=1)).isoformat()
    body = await get(client, "coverage", auth, kind="ministry", at=a_second_later)
    assert not next(u for u in body["units"]["items"] if u["code"] == "MIN-NEW")["connected"]


async def test_an_indicator_grace_override_shortens_the_window(
    client: httpx.AsyncClient, admin_token: str, clock: Clock
) -> None:
    auth = bearer(admin_token)
    patched = await client.patch(
        f"/api/v1/indicators/{DAILY}", json={"grace_seconds": 6 * 3600}, headers=auth
    )
    assert patched.status_code == 200, patched.text
    body = await get(client, "coverage", auth, district="718", kind="commune", limit=1)
    commune = body["units"]["items"][0]
    assert commune["connection_window_seconds"] == 86_400 + 6 * 3600


async def test_a_past_instant_is_evaluated_from_stored_receipts(
    client: httpx.AsyncClient, admin_token: str, clock: Clock
) -> None:
    auth = bearer(admin_token)
    clock.set("2026-11-27T02:00:00+00:00")  # 09:00 local
    await push(
        client, auth, [{"unit": "DEPT-SYT", "indicator": DAILY, "value": 1, "period": "2026-11-26"}]
    )
    clock.set("2026-11-27T05:00:00+00:00")
    await heartbeat(client, auth, "VA-CAT")
    clock.set("2026-11-28T10:00:00+00:00")

    async def connected_at(at: str) -> dict[str, bool]:
        body = await get(client, "coverage", auth, at=at, limit=1000)
        assert body["source"] == "observations"
        return {u["code"]: u["connected"] for u in body["units"]["items"] if u["connected"]}

    assert await connected_at("2026-11-27T08:59:59+07:00") == {}
    assert await connected_at("2026-11-27T09:00:00+07:00") == {"DEPT-SYT": True}
    # Heartbeats are known only as each unit's latest one: VA-CAT from 12:00 local.
    assert await connected_at("2026-11-27T11:59:59+07:00") == {"DEPT-SYT": True}
    assert await connected_at("2026-11-27T12:00:00+07:00") == {"DEPT-SYT": True, "VA-CAT": True}

    before = await get(client, "coverage", auth, at="2026-11-27T08:00:00+07:00", kind="department")
    syt = next(u for u in before["units"]["items"] if u["code"] == "DEPT-SYT")
    assert syt["last_contact_at"] is None
    assert syt["series"]["fresh"] == 0


async def test_a_past_instant_after_every_receipt_agrees_with_the_kept_state(
    client: httpx.AsyncClient, admin_token: str, clock: Clock
) -> None:
    auth = bearer(admin_token)
    clock.set("2026-11-26T03:00:00+00:00")
    await article_situation_days(client, auth, ["2026-11-24", "2026-11-25"])
    clock.set("2026-11-27T03:00:00+00:00")
    await article_situation_days(client, auth, ["2026-11-26"], value=2)
    await push(  # a revision of an older period
        client, auth, [{"unit": "718", "indicator": DAILY, "value": 9, "period": "2026-11-24"}]
    )
    clock.set("2026-11-28T10:00:00+00:00")
    state = await get(client, "coverage", auth, limit=1000)
    past = await get(client, "coverage", auth, limit=1000, at="2026-11-28T09:59:59Z")
    assert (state["source"], past["source"]) == ("state", "observations")
    for body in (state, past):
        del body["source"], body["at"]
    assert past == state


async def article_situation_days(
    client: httpx.AsyncClient, auth: dict[str, str], days: list[str], value: float = 1
) -> None:
    await push(
        client,
        auth,
        [
            {"unit": code, "indicator": DAILY, "value": value, "period": day}
            for code in codes("district")
            for day in days
        ],
    )


@contextmanager
def statements(app: FastAPI) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    engine = app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def test_coverage_now_never_reads_observations(
    client: httpx.AsyncClient, app: FastAPI, admin_token: str, clock: Clock
) -> None:
    auth = bearer(admin_token)
    await article_situation(client, auth)
    with statements(app) as seen:
        await get(client, "coverage", auth)
        await get(client, "coverage", auth, at=(clock.now + timedelta(days=3)).isoformat())
    assert seen
    assert not [s for s in seen if "observation" in s.lower()]
    with statements(app) as seen:
        await get(client, "coverage", auth, at=(clock.now - timedelta(days=3)).isoformat())
    assert [s for s in seen if "observations" in s.lower()], "the past is read from observations"
