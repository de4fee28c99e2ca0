"""Coverage, staleness and completeness across the 2025 reform (docs/design.md §8, issue 17).

On 2025-07-01 Bình Dương (74), its 9 districts and 91 communes became 36 communes of Thành phố
Hồ Chí Minh (79). "Coverage, staleness, completeness at `at` use the tree as of `at`" (its kinds,
parents and denominators); "a unit is expected to report a period only if it exists on the
period's last day. A successor's series start at D: nothing before D is missing from it."

The situation every test here starts from, pushed over HTTP before and after the reform:

- 2025-06-30 09:00: yesterday's daily value from every department, district and commune but
  Sở Ngoại vụ; a heartbeat from every ministry and vertical agency but the customs and the
  treasury (the article's 3/3, 17/18, 4/6, 9/9, 91/91);
- commune 25741 (divided between 25747 and 25750 at D) must also report a monthly indicator,
  tourists (`KHACH-DU-LICH`), and sent May 2025 on 2025-06-03;
- the reform is applied;
- 2025-07-02 09:00: 2025-07-01's daily value from 34 of the 36 new communes and the same
  17 departments, with a key of the new city.
"""

from typing import Any

import httpx
import pytest

from ioc_hub.models import Scope
from tests.conftest import Clock, MintKey, bearer
from tests.coverage.helpers import (
    ARTICLE_TABLE,
    DAILY,
    SILENT,
    article_situation,
    assert_problem,
    codes,
    get,
    kinds,
    push,
)

QUIET_SUCCESSORS = {"25945", "25987"}
TOURISTS = "KHACH-DU-LICH"  # monthly; 5 days' grace
WEEKLY = "SXH-CA-MAC"  # weekly; every district reports it, nobody else
OLD_DAY, NEW_DAY = "2025-06-30T12:00:00+07:00", "2025-07-02T12:00:00+07:00"


async def apply_reform(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    event = await get(client, "reorganisations/builtin/binh-duong-2025", auth)
    response = await client.post("/api/v1/reorganisations", json=event, headers=auth)
    assert response.status_code == 201, response.text


@pytest.fixture
async def reformed(
    client: httpx.AsyncClient, admin_token: str, mint_key: MintKey, clock: Clock
) -> dict[str, str]:
    """The situation the module describes; the city's key."""
    auth = bearer(admin_token)
    response = await client.post(
        "/api/v1/obligations", json={"indicator": TOURISTS, "unit": "25741"}, headers=auth
    )
    assert response.status_code == 201, response.text
    clock.set("2025-06-03T09:00:00+07:00")
    await push(
        client, auth, [{"unit": "25741", "indicator": TOURISTS, "value": 9, "period": "2025-05"}]
    )

    clock.set("2025-06-30T09:00:00+07:00")
    await article_situation(client, auth, "2025-06-29")

    await apply_reform(client, auth)
    city = bearer(await mint_key("79", Scope.OBSERVATIONS_WRITE, Scope.COVERAGE_READ))
    clock.set("2025-07-02T09:00:00+07:00")
    successors = await successor_codes(client, city)
    assert len(successors) == 36
    await push(
        client,
        city,
        [
            {"unit": code, "indicator": DAILY, "value": 2, "period": "2025-07-01"}
            for code in successors + codes("department")
            if code not in QUIET_SUCCESSORS | SILENT
        ],
    )
    return city


async def successor_codes(client: httpx.AsyncClient, auth: dict[str, str]) -> list[str]:
    body = await get(client, "units", auth, at="2025-07-01", kind="commune", limit=100)
    return [unit["code"] for unit in body["items"]]


async def test_coverage_on_the_eve_is_the_articles_table(
    client: httpx.AsyncClient, admin_token: str, reformed: dict[str, str]
) -> None:
    body = await get(client, "coverage", bearer(admin_token), at=OLD_DAY)
    assert kinds(body) == ARTICLE_TABLE
    assert body["day"] == "2025-06-30"
    assert body["source"] == "observations"
    assert body["total"] == {"registered": 127, "connected": 124}
    commune = next(u for u in body["units"]["items"] if u["code"] == "25741")
    assert (commune["parent"], commune["name"]) == ("718", "Phường Hiệp Thành")


async def test_coverage_after_the_reform_is_the_two_tier_table(
    client: httpx.AsyncClient, admin_token: str, reformed: dict[str, str]
) -> None:
    body = await get(client, "coverage", reformed, at=NEW_DAY, limit=100)
    # The ministries' and agencies' last word was the heartbeat of 2025-06-30 09:00, 51 hours
    # before: inside a weekly or monthly window, outside the police's daily one (48 hours).
    assert kinds(body) == {
        "ministry": (3, 3),
        "department": (17, 18),
        "vertical_agency": (3, 6),
        "commune": (34, 36),
    }, "no districts any more"
    assert body["day"] == "2025-07-02"
    assert body["total"] == {"registered": 63, "connected": 57}
    units = {u["code"]: u for u in body["units"]["items"]}
    assert not units["VA-CAT"]["connected"]
    assert units["25945"]["parent"] == "79"
    assert units["25945"]["name"] == "Phường Tân Đông Hiệp"  # the code's new unit
    assert units["DEPT-SYT"]["parent"] == "79"
    assert "25741" not in units, "ended"
    # The province's key (of the ended 74) reads the same day alike.
    assert kinds(await get(client, "coverage", bearer(admin_token), at=NEW_DAY)) == kinds(body)


async def test_area_filters_follow_the_tree_of_the_day(
    client: httpx.AsyncClient, admin_token: str, reformed: dict[str, str], mint_key: MintKey
) -> None:
    auth = bearer(admin_token)
    eve = await get(client, "coverage", auth, at=OLD_DAY, district="718")
    assert kinds(eve) == {"district": (1, 1), "commune": (14, 14)}

    for param in ("district", "area"):
        gone = await client.get(
            "/api/v1/coverage", params={"at": NEW_DAY, param: "718"}, headers=auth
        )
        assert_problem(
            gone, 422, f"query.{param}", "unit '718' does not exist on 2025-07-02: its last day"
        )
    not_yet = await client.get(
        "/api/v1/coverage", params={"at": OLD_DAY, "district": "79"}, headers=auth
    )
    assert_problem(not_yet, 422, "query.district", "unit '79' does not exist on 2025-06-30")
    city = await get(client, "coverage", auth, at=NEW_DAY, district="79")
    assert kinds(city) == kinds(await get(client, "coverage", auth, at=NEW_DAY))

    ended = await client.get(
        "/api/v1/staleness", params={"at": NEW_DAY, "unit": "25741"}, headers=auth
    )
    assert_problem(ended, 422, "query.unit", "unit '25741' does not exist on 2025-07-02")
    communes = await get(client, "coverage", auth, at=NEW_DAY, kind="commune")
    assert kinds(communes) == {"commune": (34, 36)}
    assert kinds(await get(client, "coverage", auth, at=OLD_DAY, kind="district")) == {
        "district": (9, 9)
    }

    # A district's key: its district and communes on the eve, nothing once it has ended.
    district = bearer(await mint_key("718", Scope.COVERAGE_READ))
    assert kinds(await get(client, "coverage", district, at=OLD_DAY)) == {
        "district": (1, 1),
        "commune": (14, 14),
    }
    after = await get(client, "coverage", district, at=NEW_DAY)
    assert (after["kinds"], after["total"]) == ({}, {"registered": 0, "connected": 0})


async def staleness_row(
    client: httpx.AsyncClient, auth: dict[str, str], unit: str, at: str
) -> dict[str, Any]:
    body = await get(client, "staleness", auth, unit=unit, indicator=TOURISTS, at=at)
    assert body["total"] == 1, body
    row: dict[str, Any] = body["items"][0]
    return row


def status(row: dict[str, Any]) -> tuple[str, int | None, str, str | None, str | None]:
    return (
        row["status"],
        row["lag_periods"],
        row["expected_period"],
        row["last_period"],
        row["first_period"],
    )


async def test_a_successors_series_owes_nothing_before_the_reform(
    client: httpx.AsyncClient, admin_token: str, reformed: dict[str, str], clock: Clock
) -> None:
    auth = bearer(admin_token)
    # 25741's own monthly series: owed since always; June is due on 2025-07-06.
    row = await staleness_row(client, auth, "25741", OLD_DAY)
    assert status(row) == ("fresh", 0, "2025-05", "2025-05", None)

    # At D both successors took it over. On 2025-07-02 the expected month is still May, which
    # they never owed: nothing is missing (it was `never` before issue 17).
    for successor in ("25747", "25750"):
        row = await staleness_row(client, reformed, successor, NEW_DAY)
        assert status(row) == ("fresh", 0, "2025-05", None, "2025-07")
    coverage = await get(client, "coverage", reformed, at=NEW_DAY, limit=100)
    owed = next(u for u in coverage["units"]["items"] if u["code"] == "25750")["series"]
    assert owed["never"] == 14, "the commune-wide series but the daily one it sent"
    assert owed["fresh"] == 2, "the daily one, and the tourists not owed yet"

    # July is their first month: once due (2025-08-06) it is missing, then two months are.
    assert status(await staleness_row(client, reformed, "25750", "2025-08-10T12:00:00+07:00")) == (
        "never",
        None,
        "2025-07",
        None,
        "2025-07",
    )
    clock.set("2025-08-03T09:00:00+07:00")
    await push(
        client,
        reformed,
        [{"unit": "25750", "indicator": TOURISTS, "value": 40, "period": "2025-07"}],
    )
    assert status(await staleness_row(client, reformed, "25750", "2025-10-10T12:00:00+07:00")) == (
        "stale",
        2,
        "2025-09",
        "2025-07",
        "2025-07",
    )


def counts(body: dict[str, Any]) -> dict[str, tuple[int, int, int]]:
    return {row["key"]: (row["expected"], row["actual"], row["on_time"]) for row in body["items"]}


async def test_completeness_owes_each_day_under_its_own_registry(
    client: httpx.AsyncClient, admin_token: str, reformed: dict[str, str]
) -> None:
    auth = bearer(admin_token)
    span = {"from": "2025-06-29", "to": "2025-07-02", "indicator": DAILY}
    at = "2025-07-05T12:00:00+07:00"  # all four days are due

    by_kind = await get(client, "completeness", auth, at=at, group_by="kind", **span)
    assert counts(by_kind) == {
        # 91 communes on 06-29 and 06-30, 36 on 07-01 and 07-02; 91 + 34 reports
        "commune": (2 * 91 + 2 * 36, 91 + 34, 91 + 34),
        "district": (2 * 9, 9, 9),  # no district owes anything from D on
        "department": (4 * 18, 2 * 17, 2 * 17),
    }

    by_district = await get(client, "completeness", auth, at=at, group_by="district", **span)
    rows = {row["key"]: row for row in by_district["items"]}
    assert counts(by_district)["718"] == (2 * 15, 15, 15)
    assert counts(by_district)["74"] == (2 * 18, 17, 17), "the departments under 74"
    assert counts(by_district)["79"] == (2 * (18 + 36), 17 + 34, 17 + 34)
    assert (rows["74"]["name"], rows["79"]["name"]) == ("Bình Dương", "Thành phố Hồ Chí Minh")

    # Each side of D alone.
    before = await get(client, "completeness", auth, at=at, **span | {"to": "2025-06-30"})
    after = await get(client, "completeness", auth, at=at, **span | {"from": "2025-07-01"})
    assert (before["overall"]["expected"], before["overall"]["actual"]) == (2 * 118, 117)
    assert (after["overall"]["expected"], after["overall"]["actual"]) == (2 * 54, 51)

    # A district filter keeps the days the district exists; none of them: refused.
    district = await get(client, "completeness", auth, at=at, district="718", **span)
    assert district["overall"]["expected"] == 2 * 15
    gone = await client.get(
        "/api/v1/completeness",
        params={"at": at, "district": "718", **span, "from": "2025-07-01"},
        headers=auth,
    )
    assert_problem(gone, 422, "query.district", "unit '718' does not exist on 2025-07-01")


async def test_completeness_of_a_handed_over_obligation(
    client: httpx.AsyncClient, admin_token: str, reformed: dict[str, str], clock: Clock
) -> None:
    clock.set("2025-08-03T09:00:00+07:00")
    await push(
        client,
        reformed,
        [{"unit": "25750", "indicator": TOURISTS, "value": 40, "period": "2025-07"}],
    )
    body = await get(
        client,
        "completeness",
        bearer(admin_token),
        **{"from": "2025-04", "to": "2025-09"},
        indicator=TOURISTS,
        group_by="unit",
        at="2025-10-10T12:00:00+07:00",
    )
    assert counts(body) == {
        "25741": (3, 1, 1),  # April to June; May came
        "25747": (3, 0, 0),  # July to September, as a successor
        "25750": (3, 1, 1),
        "DEPT-SVHTTDL": (6, 0, 0),
    }


async def test_a_report_counts_only_if_owed_on_its_periods_last_day(
    client: httpx.AsyncClient, admin_token: str, reformed: dict[str, str], clock: Clock
) -> None:
    """Week 27 runs from 2025-06-30 to 2025-07-06: its last day is under the new map, where no
    district owes anything. A district may still report it (its life overlaps the week)."""
    auth = bearer(admin_token)
    clock.set("2025-07-08T09:00:00+07:00")
    await push(
        client,
        auth,
        [
            {"unit": code, "indicator": WEEKLY, "value": 3, "period": week}
            for code in codes("district")
            for week in ("2025-W26", "2025-W27")
        ],
    )
    body = await get(
        client,
        "completeness",
        auth,
        **{"from": "2025-W26", "to": "2025-W27"},
        indicator=WEEKLY,
        at="2025-07-20T12:00:00+07:00",
    )
    # Week 26 only, and late: it was due on 2025-07-02.
    assert counts(body) == {"district": (9, 9, 0)}
