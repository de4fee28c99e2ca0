"""Open data without a key: the DCAT catalogue of open indicators, and their data at province
and district level only — never a commune's or a unit's figures, never a closed indicator."""

from typing import Any

import httpx
import pytest

from ioc_hub.catalogue.seed import load_catalogue_file
from tests.aggregates.helpers import DISTRICT, ELSEWHERE, A, push, table
from tests.catalogue.problems import assert_problem
from tests.conftest import Clock, bearer

OPEN = "DVC-TY-LE-TRUC-TUYEN"  # open; monthly avg/avg; communes, districts and departments
CLOSED = "DVC-HS-TIEP-NHAN"
WINDOW = {"from": "2026-10", "to": "2026-10"}


@pytest.fixture
async def admin(admin_token: str, clock: Clock) -> dict[str, str]:
    return bearer(admin_token)


def shipped_open_codes() -> list[str]:
    return sorted(i["code"] for i in load_catalogue_file()["indicators"] if i.get("open"))


async def test_the_catalogue_lists_exactly_the_open_indicators_in_dcat_terms(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    response = await client.get("/open/v1/catalog")
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == "*"
    catalog = response.json()
    assert catalog["conformsTo"] == "https://project-open-data.cio.gov/v1.1/schema"
    assert catalog["publisher"] == {"name": "Bình Dương"}
    assert catalog["modified"] is None, "nothing received yet"
    assert [d["identifier"] for d in catalog["dataset"]] == shipped_open_codes()
    rate = next(d for d in catalog["dataset"] if d["identifier"] == OPEN)
    shipped = next(i for i in load_catalogue_file()["indicators"] if i["code"] == OPEN)
    assert (rate["title"], rate["description"]) == (shipped["name"], shipped["description"])
    assert rate["accrualPeriodicity"] == "R/P1M"
    assert rate["cadence"] == "monthly"
    assert rate["measurementUnit"] == "%"
    assert rate["theme"] == ["Dịch vụ công trực tuyến"]
    assert rate["keyword"] == ["G-DVC", "monthly"]
    assert rate["spatial"] == "Bình Dương"
    assert rate["modified"] is None
    assert {(d["format"], d["mediaType"]) for d in rate["distribution"]} == {
        ("JSON", "application/json"),
        ("CSV", "text/csv"),
    }
    assert len(rate["distribution"]) == 4, "province and district level, JSON and CSV"
    for distribution in rate["distribution"]:
        url = distribution["downloadURL"]
        assert url.startswith(f"http://hub.test/open/v1/data/{OPEN}?")
        download = await client.get(url)
        assert download.status_code == 200, download.text
        assert download.headers["content-type"].startswith(distribution["mediaType"])


async def test_modified_is_when_a_value_was_last_received(
    client: httpx.AsyncClient, admin: dict[str, str], clock: Clock
) -> None:
    clock.set("2026-11-20T03:00:00+00:00")
    await push(client, admin, OPEN, [(A, "2026-10", 80)])
    await push(client, admin, CLOSED, [(A, "2026-11-19", 1)])
    catalog = (await client.get("/open/v1/catalog")).json()
    rate = next(d for d in catalog["dataset"] if d["identifier"] == OPEN)
    assert rate["modified"] == "2026-11-20T03:00:00Z"
    assert catalog["modified"] == "2026-11-20T03:00:00Z"
    assert CLOSED not in {d["identifier"] for d in catalog["dataset"]}


async def test_open_data_at_province_and_district_level_without_a_key(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await push(client, admin, OPEN, [(A, "2026-10", 60), (DISTRICT, "2026-10", 90)])
    await push(client, admin, OPEN, [(ELSEWHERE, "2026-10", 90)])
    province = await client.get(f"/open/v1/data/{OPEN}", params=WINDOW)
    assert province.status_code == 200, province.text
    assert province.headers["access-control-allow-origin"] == "*"
    # Units of the province, 118 obliged: 18 departments, 9 districts, 91 communes.
    assert table(province.json()["items"]) == [("2026-10", "74", 80.0, 3, 118)]

    districts = await client.get(f"/open/v1/data/{OPEN}", params={**WINDOW, "level": "district"})
    rows = {area: row for _, area, *row in table(districts.json()["items"])}
    assert len(rows) == 9, "only districts: never a commune"
    assert rows[DISTRICT] == [75.0, 2, 8]
    assert rows["724"] == [90.0, 1, 8]
    assert rows["718"] == [None, 0, 15]

    one = await client.get(f"/open/v1/data/{OPEN}", params={**WINDOW, "area": DISTRICT})
    assert table(one.json()["items"]) == [("2026-10", DISTRICT, 75.0, 2, 8)]


async def test_open_data_in_csv_with_etag(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    await push(client, admin, OPEN, [(A, "2026-10", 60)])
    response = await client.get(
        f"/open/v1/data/{OPEN}",
        params={**WINDOW, "level": "district"},
        headers={"Accept": "text/csv"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == f'inline; filename="{OPEN}.csv"'
    assert response.headers["cache-control"] == "public, no-cache"
    lines = response.text.strip().split("\r\n")
    assert lines[0] == "indicator,period,area,value,reported,expected,approximate"
    assert f"{OPEN},2026-10,{DISTRICT},60.0,1,8,false" in lines
    assert len(lines) == 1 + 9
    cached = await client.get(
        f"/open/v1/data/{OPEN}",
        params={**WINDOW, "level": "district", "format": "csv"},
        headers={"If-None-Match": response.headers["etag"]},
    )
    assert cached.status_code == 304


@pytest.mark.parametrize(
    ("path", "params", "status", "field", "reason"),
    [
        (CLOSED, {}, 404, "path.indicator", f"indicator '{CLOSED}' is not published as open data"),
        ("NOPE", {}, 404, "path.indicator", "unknown indicator 'NOPE'"),
        (f"{OPEN},{CLOSED}", {}, 422, "path.indicator", "a code is ASCII letters"),
        (
            OPEN,
            {"level": "commune"},
            422,
            "query.level",
            "open data is published at province and district level only, not commune; "
            "allowed levels: province, district",
        ),
        (OPEN, {"level": "unit"}, 422, "query.level", "province and district level only"),
        (
            OPEN,
            {"area": A},
            422,
            "query.area",
            f"open data is published for the province and its districts only; '{A}' is a commune",
        ),
        (
            OPEN,
            {"area": DISTRICT, "level": "unit"},
            422,
            "query.level",
            "allowed levels: district",
        ),
        (OPEN, {"area": "DEPT-SNV"}, 422, "query.area", "'DEPT-SNV' is a department"),
        (OPEN, {"bucket": "daily"}, 422, "query.bucket", "allowed buckets: monthly"),
    ],
)
async def test_closed_indicators_and_fine_levels_are_never_served(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    path: str,
    params: dict[str, Any],
    status: int,
    field: str,
    reason: str,
) -> None:
    await push(client, admin, CLOSED, [(A, "2026-10-01", 7)])
    await push(client, admin, OPEN, [(A, "2026-10", 60)])
    response = await client.get(f"/open/v1/data/{path}", params=params)
    assert_problem(response, status, field, reason)
    assert "items" not in response.json()
