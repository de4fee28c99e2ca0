"""Who reads which area (docs/design.md §6), and parameters refused with the field they concern."""

import httpx
import pytest

from ioc_hub.models import Scope
from tests.aggregates.helpers import DISTRICT, ELSEWHERE, A, push
from tests.catalogue.problems import assert_problem
from tests.conftest import MintKey, bearer

URL = "/api/v1/aggregates"
CODE = "DVC-HS-TIEP-NHAN"  # daily sum/sum
WINDOW = {"indicator": CODE, "bucket": "monthly", "from": "2026-10", "to": "2026-10"}


@pytest.fixture
async def district_key(admin: dict[str, str], mint_key: MintKey) -> dict[str, str]:
    return bearer(await mint_key(DISTRICT, Scope.AGGREGATES_READ))


async def test_a_district_key_reads_its_district_and_its_communes(
    client: httpx.AsyncClient, admin: dict[str, str], district_key: dict[str, str]
) -> None:
    await push(client, admin, CODE, [(A, "2026-10-01", 5), (ELSEWHERE, "2026-10-01", 3)])
    own = await client.get(URL, params=WINDOW, headers=district_key)
    assert own.status_code == 200, own.text
    assert [(r["area"], r["value"]) for r in own.json()["items"]] == [(DISTRICT, 5.0)]
    by_commune = await client.get(URL, params={**WINDOW, "level": "commune"}, headers=district_key)
    assert {r["area"] for r in by_commune.json()["items"]} == {
        "25816",
        "25819",
        "25822",
        "25825",
        "25828",
        "25831",
        "25834",
    }
    one_commune = await client.get(URL, params={**WINDOW, "area": A}, headers=district_key)
    assert one_commune.json()["items"][0]["area"] == A


@pytest.mark.parametrize("area", ["724", "74", ELSEWHERE])
async def test_a_district_key_is_refused_other_areas_naming_its_own(
    client: httpx.AsyncClient, district_key: dict[str, str], area: str
) -> None:
    response = await client.get(URL, params={**WINDOW, "area": area}, headers=district_key)
    assert_problem(
        response,
        403,
        "query.area",
        f"unit '{area}' is outside this key's area: it covers district '719' and its communes",
    )


async def test_a_province_key_reads_everything(
    client: httpx.AsyncClient, admin: dict[str, str], mint_key: MintKey
) -> None:
    reader = bearer(await mint_key("74", Scope.AGGREGATES_READ))
    for area in ("74", "724", ELSEWHERE):
        response = await client.get(URL, params={**WINDOW, "area": area}, headers=reader)
        assert response.status_code == 200, response.text


async def test_commune_and_department_keys(
    client: httpx.AsyncClient, admin: dict[str, str], mint_key: MintKey
) -> None:
    commune = bearer(await mint_key(A, Scope.AGGREGATES_READ))
    assert (await client.get(URL, params=WINDOW, headers=commune)).json()["items"][0]["area"] == A
    assert_problem(
        await client.get(URL, params={**WINDOW, "area": DISTRICT}, headers=commune),
        403,
        "query.area",
        f"it covers commune '{A}' only",
    )
    department = bearer(await mint_key("DEPT-SNV", Scope.AGGREGATES_READ))
    assert_problem(
        await client.get(URL, params=WINDOW, headers=department),
        403,
        "query.area",
        "a key bound to department 'DEPT-SNV' reads no area",
    )


async def test_the_scope_and_a_key_are_required(
    client: httpx.AsyncClient, admin: dict[str, str], mint_key: MintKey
) -> None:
    assert (await client.get(URL, params=WINDOW)).status_code == 401
    pusher = bearer(await mint_key(DISTRICT, Scope.OBSERVATIONS_WRITE))
    response = await client.get(URL, params=WINDOW, headers=pusher)
    assert response.status_code == 403
    assert "aggregates:read" in response.json()["detail"]


BAD = [
    (
        {"bucket": "weekly", "indicator": "DVC-TY-LE-TRUC-TUYEN"},
        422,
        "query.bucket",
        "bucket 'weekly' is finer than the monthly cadence of 'DVC-TY-LE-TRUC-TUYEN'; "
        "allowed buckets: monthly, quarterly, yearly",
    ),
    (
        {"indicator": f"{CODE},DVC-TY-LE-TRUC-TUYEN", "bucket": "daily"},
        422,
        "query.bucket",
        "allowed buckets: monthly, quarterly, yearly",
    ),
    ({"indicator": "NOPE"}, 404, "query.indicator", "unknown indicator 'NOPE'"),
    ({"indicator": f"{CODE},NOPE"}, 404, "query.indicator", "unknown indicator 'NOPE'"),
    ({"indicator": ","}, 422, "query.indicator.0", "expected codes separated by commas"),
    ({"from": "2026-11", "to": "2026-10"}, 422, "query.from", "from 2026-11 is after to 2026-10"),
    (
        {"from": "2026-12", "to": None},
        422,
        "query.from",
        "from 2026-12 is after to 2026-11 (the current period, the default)",
    ),
    ({"from": "2026-13"}, 422, "query.from", "expected a period id: 2026-11-28, 2026-W48"),
    ({"to": "soon"}, 422, "query.to", "expected a period id"),
    ({"from": "1990-01-01", "bucket": "daily"}, 422, "query.from", "at most 3700 per request"),
    (
        {"bucket": "weekly", "from": "9999-W52", "to": "9999-W52"},
        422,
        "query.to",
        "after 9999-12-31, the last representable day",
    ),
    (
        {"bucket": "daily", "from": "2017-01-01", "to": "2026-11-28", "level": "unit"},
        422,
        "query.from",
        "rows (buckets × areas × indicators); at most 200000",
    ),
    ({"level": "village"}, 422, "query.level", "Input should be 'nation'"),
    (
        {"level": "province", "area": DISTRICT},
        422,
        "query.level",
        "level 'province' is above area '719' (a district); "
        "allowed levels: district, commune, unit",
    ),
    ({"area": "99999"}, 404, "query.area", "unit '99999' does not exist"),
    (
        {"area": "DEPT-SNV"},
        422,
        "query.area",
        "area must be the nation, a province, a district or a commune; 'DEPT-SNV' is a department",
    ),
    ({"bucket": "hourly"}, 422, "query.bucket", "Input should be 'daily'"),
    ({"changed_since": "2026-11-01T00:00:00"}, 422, "query.changed_since", "timezone"),
    ({"changed_since": "0.5"}, 422, "query.changed_since", "expected an ISO 8601 date-time"),
    ({"format": "xml"}, 422, "query.format", "Input should be 'json' or 'csv'"),
    ({"limit": 0}, 422, "query.limit", "greater than or equal to 1"),
]


@pytest.mark.parametrize(("changes", "status", "field", "reason"), BAD)
async def test_bad_parameters_are_refused_naming_the_field(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    changes: dict[str, str | None],
    status: int,
    field: str,
    reason: str,
) -> None:
    params = {k: v for k, v in {**WINDOW, **changes}.items() if v is not None}
    assert_problem(await client.get(URL, params=params, headers=admin), status, field, reason)


async def test_the_indicator_is_required(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    assert_problem(
        await client.get(URL, params={"bucket": "monthly"}, headers=admin),
        422,
        "query.indicator",
        "Field required",
    )
