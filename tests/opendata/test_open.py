"""Open data without a key: the DCAT catalogue of open indicators, and their data for the root
and its parts only (province and district; nation and province) — never a commune's or a unit's
figures, never a closed indicator."""

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ioc_hub.catalogue.seed import load_catalogue_file
from ioc_hub.models import Scope
from ioc_hub.seed import RegistryName, seed_all
from tests.aggregates.helpers import DISTRICT, ELSEWHERE, A, push, table
from tests.catalogue.problems import assert_problem
from tests.conftest import Clock, MintKey, bearer

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
            "open data is published at nation, province and district level only, not commune; "
            "allowed levels: province, district",
        ),
        (OPEN, {"level": "unit"}, 422, "query.level", "nation, province and district level only"),
        (
            OPEN,
            {"area": A},
            422,
            "query.area",
            f"published for the nation, provinces and districts only; '{A}' is a commune",
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


async def test_on_the_national_registry_the_nation_and_its_provinces_are_published(
    client: httpx.AsyncClient,
    session_factory: async_sessionmaker[AsyncSession],
    mint_key: MintKey,
    clock: Clock,
) -> None:
    async with session_factory() as session, session.begin():
        await seed_all(session, RegistryName.VIETNAM_2025, 0)
    clock.set("2026-11-20T03:00:00+00:00")
    nation = bearer(await mint_key("VN", Scope.OBSERVATIONS_WRITE))
    hanoi, hue = "00004", "19753"  # a commune of Hà Nội (01), one of Huế (46)
    await push(client, nation, OPEN, [(hanoi, "2026-10", 80), (hue, "2026-10", 60)])

    catalog = (await client.get("/open/v1/catalog")).json()
    assert catalog["publisher"] == {"name": "Việt Nam"}
    rate = next(d for d in catalog["dataset"] if d["identifier"] == OPEN)
    assert {d["title"] for d in rate["distribution"]} == {
        "Toàn quốc, JSON",
        "Toàn quốc, CSV",
        "Theo tỉnh, thành phố, JSON",
        "Theo tỉnh, thành phố, CSV",
    }
    for distribution in rate["distribution"]:
        download = await client.get(distribution["downloadURL"], params=WINDOW)
        assert download.status_code == 200, download.text

    whole = await client.get(f"/open/v1/data/{OPEN}", params=WINDOW)
    assert whole.status_code == 200, whole.text
    [row] = whole.json()["items"]
    assert (row["area"], row["value"], row["reported"]) == ("VN", 70, 2)
    provinces = await client.get(
        f"/open/v1/data/{OPEN}", params={**WINDOW, "level": "province", "limit": 100}
    )
    by_area = {r["area"]: (r["value"], r["reported"]) for r in provinces.json()["items"]}
    assert len(by_area) == 34
    assert (by_area["01"], by_area["46"], by_area["79"]) == ((80, 1), (60, 1), (None, 0))
    communes = await client.get(f"/open/v1/data/{OPEN}", params={**WINDOW, "level": "commune"})
    assert communes.status_code == 422, communes.text
