"""GET /api/v1/completeness: DHIS2's reporting rate over a period range.

Completeness is DHIS2's reporting rate over a period range: `expected` = obligations × due
periods, `actual` = those received, `on_time` = those received by their deadline, with rates,
grouped by kind, unit, indicator, indicator group or district (docs/design.md §4).

Issue 4: "A report counts once per (unit, indicator, period), whatever its revisions; on time
means its first acceptance was by the period's deadline."
"""

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ioc_hub.catalogue.seed import load_catalogue_file
from ioc_hub.models import Scope
from tests.conftest import Clock, MintKey, bearer
from tests.coverage.helpers import (
    DAILY,
    DAILY_TOO,
    assert_problem,
    codes,
    get,
    obligated,
    push,
)

WEEKLY = "SXH-CA-MAC"  # weekly; every district reports it


def daily_indicators() -> set[str]:
    return {i["code"] for i in load_catalogue_file()["indicators"] if i["cadence"] == "daily"}


def counts(row: dict[str, Any]) -> tuple[int, int, int]:
    return row["expected"], row["actual"], row["on_time"]


async def staleness_of(
    client: httpx.AsyncClient, auth: dict[str, str], at: str | None = None
) -> tuple[str, int | None]:
    params = {"unit": "25741", "indicator": DAILY} | ({"at": at} if at else {})
    row = (await get(client, "staleness", auth, **params))["items"][0]
    return row["status"], row["lag_periods"]


async def test_never_fresh_overdue_stale_then_fresh_with_a_late_report(
    client: httpx.AsyncClient, admin_token: str, clock: Clock
) -> None:
    auth = bearer(admin_token)
    clock.set("2026-11-27T02:00:00+00:00")  # 09:00 local
    await push(
        client, auth, [{"unit": "25741", "indicator": DAILY, "value": 5, "period": "2026-11-26"}]
    )
    clock.set("2026-11-30T03:00:00+00:00")  # 10:00 local; 2026-11-27 never comes

    assert await staleness_of(client, auth, "2026-11-27T08:59:59+07:00") == ("never", None)
    assert await staleness_of(client, auth, "2026-11-27T09:00:00+07:00") == ("fresh", 0)
    assert await staleness_of(client, auth, "2026-11-28T23:59:59+07:00") == ("fresh", 0)
    assert await staleness_of(client, auth, "2026-11-29T00:00:00+07:00") == ("overdue", 1)
    assert await staleness_of(client, auth, "2026-11-30T00:00:00+07:00") == ("stale", 2)
    assert await staleness_of(client, auth) == ("stale", 2)

    # 2026-11-28 arrives after its deadline (2026-11-30 00:00 local).
    await push(
        client, auth, [{"unit": "25741", "indicator": DAILY, "value": 7, "period": "2026-11-28"}]
    )
    assert await staleness_of(client, auth) == ("fresh", 0)
    assert await staleness_of(client, auth, "2026-11-30T09:59:59+07:00") == ("stale", 2)

    params = {"from": "2026-11-26", "to": "2026-11-28", "unit": "25741", "indicator": DAILY}
    body = await get(client, "completeness", auth, group_by="unit", **params)
    assert body["items"] == [
        {
            "key": "25741",
            "name": body["items"][0]["name"],
            "expected": 3,
            "actual": 2,
            "on_time": 1,
            "late": 1,
            "missing": 1,
            "rate": 0.6667,
            "on_time_rate": 0.3333,
        }
    ]
    assert (body["first_day"], body["last_day"]) == ("2026-11-26", "2026-11-28")

    # Revisions change neither the count nor the first acceptance.
    clock.set("2026-11-30T04:00:00+00:00")
    await push(
        client,
        auth,
        [
            {"unit": "25741", "indicator": DAILY, "value": 6, "period": "2026-11-26"},
            {"unit": "25741", "indicator": DAILY, "value": 8, "period": "2026-11-28"},
        ],
    )
    again = await get(client, "completeness", auth, group_by="unit", **params)
    assert counts(again["items"][0]) == (3, 2, 1)

    before_the_late_one = await get(
        client, "completeness", auth, group_by="unit", at="2026-11-30T09:59:59+07:00", **params
    )
    assert counts(before_the_late_one["items"][0]) == (3, 1, 1)
    before_any_due = await get(
        client, "completeness", auth, group_by="unit", at="2026-11-27T23:59:59+07:00", **params
    )
    assert counts(before_any_due["items"][0]) == (0, 0, 0)
    assert before_any_due["items"][0]["rate"] is None


@pytest.fixture
async def reported(client: httpx.AsyncClient, admin_token: str, clock: Clock) -> dict[str, str]:
    """2026-11-26 of the daily indicators: every district and commune 25741 on time, DEPT-SYT
    and commune 25744 late; the clock then stands at 2026-11-28 17:00 local."""
    auth = bearer(admin_token)
    clock.set("2026-11-27T03:00:00+00:00")
    on_time = [*codes("district"), "25741"]
    await push(
        client,
        auth,
        [{"unit": u, "indicator": DAILY, "value": 1, "period": "2026-11-26"} for u in on_time],
    )
    clock.set("2026-11-28T10:00:00+00:00")  # after 2026-11-26's deadline, 2026-11-28 00:00
    await push(
        client,
        auth,
        [
            {"unit": "DEPT-SYT", "indicator": DAILY, "value": 1, "period": "2026-11-26"},
            {"unit": "25744", "indicator": DAILY_TOO, "value": 1, "period": "2026-11-26"},
        ],
    )
    return auth


ONE_DAY = {"from": "2026-11-26", "to": "2026-11-26"}


async def test_grouped_by_kind_with_rates_lowest_first(
    client: httpx.AsyncClient,
    reported: dict[str, str],
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    body = await get(client, "completeness", reported, **ONE_DAY)
    assert body["group_by"] == "kind"
    daily = daily_indicators()
    kinds = {"ministry": "MIN", "department": "DEPT", "vertical_agency": "VA"}
    expected: dict[str, int] = {}
    for unit, indicator in await obligated(session_factory):
        if indicator in daily:
            kind = next((k for k, prefix in kinds.items() if unit.startswith(prefix)), None)
            kind = kind or ("district" if len(unit) == 3 else "commune")
            expected[kind] = expected.get(kind, 0) + 1
    rows = {row["key"]: counts(row) for row in body["items"]}
    assert rows["district"] == (expected["district"], 9, 9)
    assert rows["commune"] == (expected["commune"], 2, 1)
    assert rows["department"] == (expected["department"], 1, 0)
    assert rows["vertical_agency"] == (expected["vertical_agency"], 0, 0)
    assert rows["ministry"] == (0, 0, 0), "no daily obligations, no week held whole and due"
    assert body["overall"]["expected"] == sum(expected.values())
    assert (body["overall"]["actual"], body["overall"]["on_time"]) == (12, 10)
    assert body["overall"]["late"] == 2
    rates = [row["rate"] for row in body["items"]]
    assert rates[-1] is None, "nothing due sorts last"
    assert rates[:-1] == sorted(rates[:-1])


async def test_grouped_by_unit_indicator_group_and_district(
    client: httpx.AsyncClient, reported: dict[str, str]
) -> None:
    units = await get(client, "completeness", reported, group_by="unit", kind="district", **ONE_DAY)
    assert {row["key"] for row in units["items"]} == set(codes("district"))
    assert all(row["actual"] == row["on_time"] == 1 for row in units["items"])
    assert units["items"][0]["name"].startswith(("Thành phố", "Huyện"))

    indicator = await get(
        client, "completeness", reported, group_by="indicator", indicator=DAILY, **ONE_DAY
    )
    [row] = indicator["items"]
    assert (row["key"], row["name"]) == (DAILY, "Số hồ sơ thủ tục hành chính tiếp nhận")
    assert (row["actual"], row["on_time"]) == (11, 10)

    group = await get(client, "completeness", reported, group_by="group", group="G-DVC", **ONE_DAY)
    [row] = group["items"]
    assert (row["key"], row["name"]) == ("G-DVC", "Dịch vụ công trực tuyến")
    assert (row["actual"], row["on_time"]) == (12, 10)

    districts = await get(client, "completeness", reported, group_by="district", **ONE_DAY)
    rows = {row["key"]: row for row in districts["items"]}
    assert set(rows) == {"74", *codes("district")}, "units outside districts count under 74"
    assert rows["74"]["name"] == "Bình Dương"
    assert (rows["74"]["actual"], rows["74"]["on_time"]) == (1, 0)
    assert (rows["718"]["actual"], rows["718"]["on_time"]) == (3, 2)
    assert rows["718"]["name"] == "Thành phố Thủ Dầu Một"


async def test_rows_are_paginated(client: httpx.AsyncClient, reported: dict[str, str]) -> None:
    whole = await get(client, "completeness", reported, group_by="unit", limit=1000, **ONE_DAY)
    page = await get(
        client, "completeness", reported, group_by="unit", limit=4, offset=3, **ONE_DAY
    )
    assert page["items"] == whole["items"][3:7]
    assert page["total"] == whole["total"] == 127
    assert page["overall"] == whole["overall"]


async def test_a_district_key_counts_its_area_only(
    client: httpx.AsyncClient, reported: dict[str, str], mint_key: MintKey
) -> None:
    district = bearer(await mint_key("718", Scope.COVERAGE_READ))
    body = await get(client, "completeness", district, group_by="district", **ONE_DAY)
    assert [row["key"] for row in body["items"]] == ["718"]
    assert (body["overall"]["actual"], body["overall"]["on_time"]) == (3, 2)
    other = await client.get(
        "/api/v1/completeness", params={**ONE_DAY, "district": "719"}, headers=district
    )
    assert_problem(other, 403, "query.district", "it covers district '718' and its communes")


async def test_iso_week_53_belongs_to_its_year(
    client: httpx.AsyncClient, admin_token: str, clock: Clock
) -> None:
    auth = bearer(admin_token)
    clock.set("2027-01-05T00:00:00+00:00")
    await push(
        client, auth, [{"unit": "718", "indicator": WEEKLY, "value": 4, "period": "2026-W53"}]
    )
    year = {"from": "2026", "to": "2026", "indicator": WEEKLY}
    due = await get(client, "completeness", auth, at="2027-01-06T00:00:00+07:00", **year)
    assert due["overall"]["expected"] == 9 * 53
    assert (due["overall"]["actual"], due["overall"]["on_time"]) == (1, 1)
    not_yet = await get(client, "completeness", auth, at="2027-01-05T23:59:59+07:00", **year)
    assert not_yet["overall"]["expected"] == 9 * 52
    assert not_yet["overall"]["actual"] == 0, "week 53 is not due yet"
    next_year = await get(client, "completeness", auth, **{**year, "from": "2027", "to": "2027"})
    assert next_year["overall"]["actual"] == 0


BAD_PARAMETERS = [
    pytest.param(
        {"from": "2026-12", "to": "2026-11"},
        "query.from",
        "from 2026-12 starts after to 2026-11 ends",
        id="reversed",
    ),
    pytest.param({"from": "2026-13", "to": "2026-12"}, "query.from", "month must be", id="from"),
    pytest.param({"from": "2026-11", "to": "next week"}, "query.to", "not a valid period", id="to"),
    pytest.param({"to": "2026-11"}, "query.from", "Field required", id="missing-from"),
    pytest.param(
        {"from": "2026-11", "to": "2026-11", "group_by": "village"},
        "query.group_by",
        "Input should be",
        id="group-by",
    ),
    pytest.param(
        {"from": "2026-11", "to": "2026-11", "at": "2026-12-01T00:00"},
        "query.at",
        "has no UTC offset",
        id="naive-at",
    ),
    pytest.param(
        {"from": "2026-11", "to": "2026-11", "kind": "hamlet"},
        "query.kind",
        "Input should be",
        id="kind",
    ),
]


@pytest.mark.parametrize(("params", "field", "reason"), BAD_PARAMETERS)
async def test_bad_parameters_are_refused_naming_the_field(
    client: httpx.AsyncClient,
    admin_token: str,
    params: dict[str, str],
    field: str,
    reason: str,
) -> None:
    response = await client.get("/api/v1/completeness", params=params, headers=bearer(admin_token))
    assert_problem(response, 422, field, reason)
