"""GET /api/dataValueSets: stored values in DHIS2's shape, within the key's area."""

import httpx

from ioc_hub.models import Scope
from tests.conftest import MintKey, bearer
from tests.dhis2.conftest import MEASLES, NGELEHUN, SECOND_FACILITY, post_set


async def _two_communes(client: httpx.AsyncClient, key: str) -> None:
    rows = [
        {"dataElement": MEASLES, "period": p, "orgUnit": unit, "value": v, "comment": c}
        for p, unit, v, c in (
            ("202609", NGELEHUN, "1", None),
            ("202610", NGELEHUN, "2.5", "tạm tính"),
            ("202610", SECOND_FACILITY, "3", None),
        )
    ]
    response = await post_set(client, bearer(key), {"dataValues": rows})
    assert response.status_code == 200, response.text


async def test_children_and_date_range(client: httpx.AsyncClient, district_key: str) -> None:
    await _two_communes(client, district_key)
    response = await client.get(
        "/api/dataValueSets",
        params={
            "dataElement": "YT-SOI",  # the hub's own code works too
            "startDate": "2026-10-01",
            "endDate": "2026-10-31",
            "orgUnit": "718",
            "children": "true",
        },
        headers=bearer(district_key),
    )
    assert response.status_code == 200, response.text
    values = response.json()["dataValues"]
    assert [(v["orgUnit"], v["period"], v["value"], v["comment"]) for v in values] == [
        (NGELEHUN, "202610", "2.5", "tạm tính"),
        (SECOND_FACILITY, "202610", "3", None),
    ]
    assert values[0]["storedBy"].startswith("key:")
    without = await client.get(
        "/api/dataValueSets",
        params={"dataElement": MEASLES, "period": "202610", "orgUnit": "718"},
        headers=bearer(district_key),
    )
    assert without.json()["dataValues"] == []


async def test_export_stays_in_the_keys_area(
    client: httpx.AsyncClient, district_key: str, mint_key: MintKey
) -> None:
    await _two_communes(client, district_key)
    commune = await mint_key("25744", Scope.AGGREGATES_READ)
    params = {"dataElement": MEASLES, "period": "202610", "orgUnit": NGELEHUN}
    refused = await client.get("/api/dataValueSets", params=params, headers=bearer(commune))
    assert refused.status_code == 403
    own = await client.get(
        "/api/dataValueSets", params={**params, "orgUnit": SECOND_FACILITY}, headers=bearer(commune)
    )
    assert [v["value"] for v in own.json()["dataValues"]] == ["3"]


async def test_export_names_what_is_missing(client: httpx.AsyncClient, district_key: str) -> None:
    auth = bearer(district_key)
    cases = [
        ({"period": "202610", "orgUnit": NGELEHUN}, 422, "query.dataElement"),
        ({"dataElement": MEASLES, "orgUnit": NGELEHUN}, 422, "query.period"),
        (
            {"dataElement": MEASLES, "startDate": "2026-10-01", "orgUnit": NGELEHUN},
            422,
            "query.period",
        ),
        ({"dataElement": MEASLES, "period": "202610"}, 422, "query.orgUnit"),
        ({"dataElement": MEASLES, "period": "2026BiW1", "orgUnit": NGELEHUN}, 422, "query.period"),
        (
            {"dataElement": "nope", "period": "202610", "orgUnit": NGELEHUN},
            404,
            "query.dataElement",
        ),
        ({"dataSet": "nope", "period": "202610", "orgUnit": NGELEHUN}, 404, "query.dataSet"),
        ({"dataElement": MEASLES, "period": "202610", "orgUnit": "nope"}, 404, "query.orgUnit"),
        (
            {
                "dataElement": MEASLES,
                "startDate": "2026-10-02",
                "endDate": "2026-10-01",
                "orgUnit": NGELEHUN,
            },
            422,
            "query.startDate",
        ),
    ]
    for params, status, field in cases:
        response = await client.get("/api/dataValueSets", params=params, headers=auth)
        assert response.status_code == status, (params, response.text)
        assert response.json()["errors"][0]["field"] == field, params
