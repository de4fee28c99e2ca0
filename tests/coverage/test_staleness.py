"""GET /api/v1/staleness: one row per series (unit × obligated indicator), worst first.

A series' expected period at `t` is the latest period due by `t`; its status is `never`, `fresh`
(its latest period received is the expected one or later), `overdue` (one expected period
missing) or `stale` (two or more), with `lag_periods` (docs/design.md §4).

The clock stands at 2026-11-28 17:00 local (10:00 UTC): the expected daily period is 2026-11-26
(2026-11-27 is due at 2026-11-29 00:00 local), the expected monthly one 2026-10.
"""

from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ioc_hub.models import Scope
from tests.conftest import Clock, MintKey, bearer
from tests.coverage.helpers import (
    DAILY,
    DAILY_TOO,
    MONTHLY,
    assert_problem,
    get,
    obligated,
    push,
)

ROWS = [
    {"unit": "25741", "indicator": DAILY, "value": 1, "period": "2026-11-27"},  # fresh
    {"unit": "25741", "indicator": DAILY_TOO, "value": 1, "period": "2026-11-24"},  # stale, 2
    {"unit": "25741", "indicator": MONTHLY, "value": 50, "period": "2026-09"},  # overdue
    {"unit": "25744", "indicator": DAILY, "value": 1, "period": "2026-11-25"},  # overdue
    {"unit": "DEPT-SYT", "indicator": DAILY, "value": 1, "period": "2026-11-20"},  # stale, 6
]


@pytest.fixture
async def auth(client: httpx.AsyncClient, admin_token: str, clock: Clock) -> dict[str, str]:
    operator = bearer(admin_token)
    await push(client, operator, ROWS)
    return operator


def series(body: dict[str, Any]) -> list[tuple[str, str, str, int | None]]:
    return [(r["unit"], r["indicator"], r["status"], r["lag_periods"]) for r in body["items"]]


async def test_one_row_per_obligated_series_worst_first(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    clock: Clock,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    body = await get(client, "staleness", auth, unit="25741")
    owed = await obligated(session_factory, "25741")
    assert {(r["unit"], r["indicator"]) for r in body["items"]} == owed
    assert body["total"] == len(owed)
    assert body["source"] == "state"
    never = sorted(
        indicator for _, indicator in owed if indicator not in {DAILY, DAILY_TOO, MONTHLY}
    )
    assert series(body) == [
        *(("25741", indicator, "never", None) for indicator in never),
        ("25741", DAILY_TOO, "stale", 2),
        ("25741", MONTHLY, "overdue", 1),
        ("25741", DAILY, "fresh", 0),
    ]
    assert body["counts"] == {"fresh": 1, "overdue": 1, "stale": 1, "never": len(never)}

    stale = next(r for r in body["items"] if r["indicator"] == DAILY_TOO)
    assert stale == {
        "unit": "25741",
        "kind": "commune",
        "indicator": DAILY_TOO,
        "group": "G-DVC",
        "cadence": "daily",
        "status": "stale",
        "last_period": "2026-11-24",
        "expected_period": "2026-11-26",
        "lag_periods": 2,
        "last_received_at": stale["last_received_at"],
        "deadline": "2026-11-28T00:00:00+07:00",  # local midnight ending 2026-11-27
        "grace_seconds": 86_400,
        "first_period": None,  # owed since always: the registry never changed
    }
    assert datetime.fromisoformat(stale["last_received_at"]) == clock.now
    monthly = next(r for r in body["items"] if r["indicator"] == MONTHLY)
    assert (monthly["last_period"], monthly["expected_period"]) == ("2026-09", "2026-10")
    assert monthly["deadline"] == "2026-11-06T00:00:00+07:00"
    never_row = body["items"][0]
    assert (never_row["last_period"], never_row["last_received_at"]) == (None, None)


async def test_status_filter_and_most_periods_behind_first(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    stale = await get(client, "staleness", auth, status="stale")
    assert series(stale) == [("DEPT-SYT", DAILY, "stale", 6), ("25741", DAILY_TOO, "stale", 2)]
    late = await get(client, "staleness", auth, status=["overdue", "stale"], indicator=DAILY)
    assert series(late) == [("DEPT-SYT", DAILY, "stale", 6), ("25744", DAILY, "overdue", 1)]
    fresh = await get(client, "staleness", auth, status="fresh")
    assert series(fresh) == [("25741", DAILY, "fresh", 0)]
    assert fresh["counts"]["never"] > 0, "counts ignore the status filter"


FILTERS = [
    pytest.param({"kind": "department"}, "kind", {"department"}, id="kind"),
    pytest.param({"indicator": MONTHLY}, "indicator", {MONTHLY}, id="indicator"),
    pytest.param({"group": "G-ASXH"}, "group", {"G-ASXH"}, id="group"),
    pytest.param({"cadence": "weekly"}, "cadence", {"weekly"}, id="cadence"),
    pytest.param({"unit": "DEPT-SYT"}, "unit", {"DEPT-SYT"}, id="unit"),
]


@pytest.mark.parametrize(("params", "column", "values"), FILTERS)
async def test_each_filter_keeps_only_its_series(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    params: dict[str, str],
    column: str,
    values: set[str],
) -> None:
    body = await get(client, "staleness", auth, limit=1000, **params)
    assert body["total"] > 0
    assert {row[column] for row in body["items"]} == values


async def test_district_filter_keeps_the_district_and_its_communes(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    body = await get(client, "staleness", auth, district="718", limit=1000)
    units = {row["unit"] for row in body["items"]}
    assert "718" in units
    assert "25741" in units
    assert "25816" not in units  # a commune of district 719
    assert {row["kind"] for row in body["items"]} == {"district", "commune"}
    every = await obligated(session_factory)
    assert body["total"] == len({s for s in every if s[0] in units})
    # `area` is its other name, as on coverage and completeness; both must agree.
    assert await get(client, "staleness", auth, area="718", limit=1000) == body
    window = {"from": "2026-11", "to": "2026-11", "group_by": "unit"}
    completeness = await get(client, "completeness", auth, district="718", **window)
    assert await get(client, "completeness", auth, area="718", **window) == completeness
    for route in ("staleness", "completeness"):
        both = await client.get(
            f"/api/v1/{route}", params={"area": "718", "district": "719", **window}, headers=auth
        )
        assert_problem(both, 422, "query.area", "area '718' and district '719' disagree")


async def test_pages_are_slices_of_the_whole_order(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    whole = await get(client, "staleness", auth, limit=1000)
    page = await get(client, "staleness", auth, limit=3, offset=2)
    assert page["items"] == whole["items"][2:5]
    assert (page["total"], page["limit"], page["offset"]) == (whole["total"], 3, 2)
    ranks = ["never", "stale", "overdue", "fresh"]
    assert [ranks.index(r["status"]) for r in whole["items"]] == sorted(
        ranks.index(r["status"]) for r in whole["items"]
    )


async def test_a_future_instant_shows_who_will_be_overdue_on_monday(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    monday = "2026-11-30T08:00:00+07:00"  # 2026-11-28 is due from 2026-11-30 00:00
    body = await get(client, "staleness", auth, at=monday, unit="25741", indicator=DAILY)
    assert body["source"] == "state"
    assert series(body) == [("25741", DAILY, "overdue", 1)]
    assert body["items"][0]["expected_period"] == "2026-11-28"


async def test_an_indicator_grace_override_moves_expected_period_and_deadline(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    patched = await client.patch(
        f"/api/v1/indicators/{DAILY}", json={"grace_seconds": 6 * 3600}, headers=auth
    )
    assert patched.status_code == 200, patched.text
    body = await get(client, "staleness", auth, indicator=DAILY, status=["fresh", "stale"])
    # 2026-11-27 is due at 2026-11-28 06:00 local, before the clock's 17:00.
    assert series(body) == [
        ("DEPT-SYT", DAILY, "stale", 7),
        ("25744", DAILY, "stale", 2),
        ("25741", DAILY, "fresh", 0),
    ]
    row = body["items"][-1]
    assert (row["expected_period"], row["grace_seconds"]) == ("2026-11-27", 6 * 3600)
    assert row["deadline"] == "2026-11-28T06:00:00+07:00"


async def test_a_district_key_sees_its_area_only(
    client: httpx.AsyncClient, auth: dict[str, str], mint_key: MintKey
) -> None:
    district = bearer(await mint_key("718", Scope.COVERAGE_READ))
    body = await get(client, "staleness", district, limit=1000)
    assert {row["kind"] for row in body["items"]} == {"district", "commune"}
    assert "DEPT-SYT" not in {row["unit"] for row in body["items"]}
    outside = await client.get("/api/v1/staleness?unit=25816", headers=district)
    assert_problem(outside, 403, "query.unit", "unit '25816' is outside this key's area")
    other = await client.get("/api/v1/staleness?district=719", headers=district)
    assert_problem(other, 403, "query.district", "it covers district '718' and its communes")


BAD_PARAMETERS = [
    pytest.param({"kind": "village"}, 422, "query.kind", "Input should be", id="unknown-kind"),
    pytest.param({"cadence": "hourly"}, 422, "query.cadence", "Input should be", id="cadence"),
    pytest.param({"status": "late"}, 422, "query.status.0", "Input should be", id="status"),
    pytest.param({"at": "28/11/2026"}, 422, "query.at", "not an ISO 8601", id="malformed-at"),
    pytest.param({"at": "2026-11-28"}, 422, "query.at", "has no UTC offset", id="date-only-at"),
    pytest.param({"unit": "99999"}, 404, "query.unit", "unit '99999' does not exist", id="unit"),
    pytest.param({"unit": "74"}, 422, "query.unit", "the province itself", id="province-unit"),
    pytest.param(
        {"indicator": "NOPE"}, 404, "query.indicator", "indicator 'NOPE' does not exist", id="ind"
    ),
    pytest.param({"group": "G-NOPE"}, 404, "query.group", "'G-NOPE' does not exist", id="group"),
    pytest.param({"district": "00"}, 404, "query.district", "does not exist", id="district"),
    pytest.param({"offset": -1}, 422, "query.offset", "greater than or equal to 0", id="offset"),
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
    response = await client.get("/api/v1/staleness", params=params, headers=bearer(admin_token))
    assert_problem(response, status, field, reason)


async def test_an_inactive_indicator_is_refused(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    retired = await client.delete(f"/api/v1/indicators/{MONTHLY}", headers=auth)
    assert retired.status_code == 200, retired.text
    response = await client.get(f"/api/v1/staleness?indicator={MONTHLY}", headers=auth)
    assert_problem(response, 422, "query.indicator", "is inactive")
    every = await get(client, "staleness", auth, limit=1000)
    assert MONTHLY not in {row["indicator"] for row in every["items"]}
