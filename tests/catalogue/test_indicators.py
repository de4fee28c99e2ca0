"""Indicators: create, read, filter, update within what may change, deactivate."""

import httpx
import pytest

from ioc_hub.app import create_app
from ioc_hub.catalogue.seed import load_catalogue_file
from ioc_hub.models import Scope
from tests.catalogue.problems import assert_problem
from tests.conftest import MintKey, bearer

NEW_INDICATOR = {
    "code": "TEST-SO-CUOC-HOP",
    "name": "Số cuộc họp trực tuyến",
    "description": "Số cuộc họp trực tuyến tổ chức trong tuần.",
    "group": "G-CCHC",
    "cadence": "weekly",
    "measurement_unit": "cuộc",
    "time_aggregation": "sum",
    "area_aggregation": "sum",
    "min_value": 0,
    "max_value": 500,
}


async def create(client: httpx.AsyncClient, token: str, **changes: object) -> httpx.Response:
    return await client.post(
        "/api/v1/indicators", json={**NEW_INDICATOR, **changes}, headers=bearer(token)
    )


async def test_province_admin_creates_an_indicator_with_the_cadence_grace(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    created = await create(client, admin_token)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["code"] == "TEST-SO-CUOC-HOP"
    assert body["group"] == "G-CCHC"
    assert body["cadence"] == "weekly"
    assert (body["min_value"], body["max_value"]) == (0, 500)
    assert body["grace_seconds"] is None
    assert body["grace_seconds_effective"] == 2 * 86_400  # weekly default (docs/design.md §4)
    assert body["open"] is False
    assert body["active"] is True

    fetched = await client.get("/api/v1/indicators/TEST-SO-CUOC-HOP", headers=bearer(admin_token))
    assert fetched.status_code == 200
    assert fetched.json() == body


async def test_grace_override_is_the_effective_grace(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    created = await create(client, admin_token, grace_seconds=3600, open=True)
    assert created.status_code == 201, created.text
    assert created.json()["grace_seconds"] == 3600
    assert created.json()["grace_seconds_effective"] == 3600
    assert created.json()["open"] is True


async def test_range_may_be_open_ended_or_a_single_point(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    unbounded = await create(client, admin_token, min_value=None, max_value=None)
    assert unbounded.status_code == 201, unbounded.text
    assert (unbounded.json()["min_value"], unbounded.json()["max_value"]) == (None, None)
    point = await create(client, admin_token, code="TEST-POINT", min_value=-1.5, max_value=-1.5)
    assert point.status_code == 201, point.text


@pytest.mark.parametrize(
    ("changes", "status", "field", "reason"),
    [
        ({"group": "G-NOPE"}, 422, "body.group", "indicator group 'G-NOPE' does not exist"),
        ({"code": "DVC-HS-TIEP-NHAN"}, 409, "body.code", "'DVC-HS-TIEP-NHAN' already exists"),
        ({"cadence": "hourly"}, 422, "body.cadence", "Input should be 'daily'"),
        ({"time_aggregation": "median"}, 422, "body.time_aggregation", "Input should be 'sum'"),
        ({"area_aggregation": "count"}, 422, "body.area_aggregation", "Input should be 'sum'"),
        (
            {"min_value": 10, "max_value": 5},
            422,
            "body.min_value",
            "min_value 10 is above max_value 5",
        ),
        ({"min_value": "ten"}, 422, "body.min_value", "valid number"),
        ({"grace_seconds": -1}, 422, "body.grace_seconds", "greater than or equal to 0"),
        ({"grace_seconds": 400 * 86_400 + 1}, 422, "body.grace_seconds", "less than or equal"),
        ({"grace_seconds": 1.5}, 422, "body.grace_seconds", "valid integer"),
        # Text and booleans pydantic would read as numbers are not JSON numbers.
        ({"grace_seconds": True}, 422, "body.grace_seconds", "not text or a boolean"),
        ({"max_value": "100"}, 422, "body.max_value", "not text or a boolean"),
        ({"open": 1}, 422, "body.open", "valid boolean"),
        ({"name": " \x00"}, 422, "body.name", "must not be blank or contain NUL"),
        ({"name": ""}, 422, "body.name", "at least 1 character"),
        ({"measurement_unit": "x" * 51}, 422, "body.measurement_unit", "at most 50 characters"),
        ({"code": "có dấu"}, 422, "body.code", "a code is ASCII letters and digits"),
        ({"active": False}, 422, "body.active", "Extra inputs are not permitted"),
    ],
)
async def test_invalid_indicators_are_refused_with_field_and_reason(
    client: httpx.AsyncClient,
    admin_token: str,
    changes: dict[str, object],
    status: int,
    field: str,
    reason: str,
) -> None:
    assert_problem(await create(client, admin_token, **changes), status, field, reason)
    listed = await client.get("/api/v1/indicators?limit=1", headers=bearer(admin_token))
    assert listed.json()["total"] == 88, "a refused indicator must write nothing"


@pytest.mark.parametrize(
    ("field", "literal"),
    [("min_value", "NaN"), ("max_value", "Infinity"), ("min_value", "-Infinity")],
)
async def test_non_finite_bounds_are_refused(
    client: httpx.AsyncClient, admin_token: str, field: str, literal: str
) -> None:
    # Python's JSON parser reads these literals, so they reach validation; httpx will not send
    # them through json=, hence the hand-made body.
    body = '{"code": "TEST-NAN", "name": "Chỉ tiêu", "group": "G-DVC", "cadence": "daily",'
    body += ' "measurement_unit": "hồ sơ", "time_aggregation": "sum", "area_aggregation": "sum",'
    body += f' "{field}": {literal}}}'
    headers = {**bearer(admin_token), "Content-Type": "application/json"}
    response = await client.post("/api/v1/indicators", content=body, headers=headers)
    assert_problem(response, 422, f"body.{field}", "finite number")
    patched = await client.patch(
        "/api/v1/indicators/DVC-HS-TIEP-NHAN", content=f'{{"{field}": {literal}}}', headers=headers
    )
    assert_problem(patched, 422, f"body.{field}", "finite number")


async def test_list_filters_by_group_cadence_open_and_active_with_pagination(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    auth = bearer(admin_token)
    shipped = load_catalogue_file()["indicators"]

    by_group = (await client.get("/api/v1/indicators?group=G-DVC&limit=2", headers=auth)).json()
    assert by_group["total"] == sum(1 for i in shipped if i["group"] == "G-DVC")
    assert len(by_group["items"]) == 2
    assert all(i["group"] == "G-DVC" for i in by_group["items"])
    rest = (
        await client.get("/api/v1/indicators?group=G-DVC&limit=100&offset=2", headers=auth)
    ).json()
    assert len(rest["items"]) == by_group["total"] - 2
    assert {i["code"] for i in by_group["items"]}.isdisjoint(i["code"] for i in rest["items"])

    quarterly = (await client.get("/api/v1/indicators?cadence=quarterly", headers=auth)).json()
    assert quarterly["total"] == sum(1 for i in shipped if i["cadence"] == "quarterly")
    assert all(i["grace_seconds_effective"] == 15 * 86_400 for i in quarterly["items"])

    open_data = (await client.get("/api/v1/indicators?open=true&limit=1000", headers=auth)).json()
    assert {i["code"] for i in open_data["items"]} == {i["code"] for i in shipped if i["open"]}
    codes = [i["code"] for i in open_data["items"]]
    assert codes == sorted(codes)

    await client.delete("/api/v1/indicators/CPI", headers=auth)
    inactive = (await client.get("/api/v1/indicators?active=false", headers=auth)).json()
    assert [i["code"] for i in inactive["items"]] == ["CPI"]
    active = (await client.get("/api/v1/indicators?active=true&limit=1", headers=auth)).json()
    assert active["total"] == 87


@pytest.mark.parametrize(
    ("query", "status", "field"),
    [
        ("group=G-NOPE", 404, "query.group"),
        ("cadence=hourly", 422, "query.cadence"),
        ("open=maybe", 422, "query.open"),
        ("active=maybe", 422, "query.active"),
        ("limit=0", 422, "query.limit"),
    ],
)
async def test_bad_list_parameters_name_the_parameter(
    client: httpx.AsyncClient, admin_token: str, query: str, status: int, field: str
) -> None:
    response = await client.get(f"/api/v1/indicators?{query}", headers=bearer(admin_token))
    assert response.status_code == status
    assert response.json()["errors"][0]["field"] == field


async def test_update_renames_regroups_and_changes_range_and_grace(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    auth = bearer(admin_token)
    assert (await create(client, admin_token, grace_seconds=7200)).status_code == 201
    updated = await client.patch(
        "/api/v1/indicators/TEST-SO-CUOC-HOP",
        json={
            "name": "Số cuộc họp trực tuyến (mới)",
            "group": "G-DVC",
            "max_value": 1000,
            "min_value": None,
            "grace_seconds": None,
            "open": True,
        },
        headers=auth,
    )
    assert updated.status_code == 200, updated.text
    body = updated.json()
    assert body["name"] == "Số cuộc họp trực tuyến (mới)"
    assert body["group"] == "G-DVC"
    assert (body["min_value"], body["max_value"]) == (None, 1000)
    assert body["grace_seconds"] is None
    assert body["grace_seconds_effective"] == 2 * 86_400
    assert body["open"] is True
    assert body["cadence"] == "weekly"
    assert body["description"] == NEW_INDICATOR["description"], "absent fields stay as they are"

    grace = await client.patch(
        "/api/v1/indicators/TEST-SO-CUOC-HOP", json={"grace_seconds": 0}, headers=auth
    )
    assert grace.json()["grace_seconds_effective"] == 0
    assert grace.json()["max_value"] == 1000


@pytest.mark.parametrize(
    ("code", "payload", "status", "field", "reason"),
    [
        ("DVC-HS-TIEP-NHAN", {"cadence": "monthly"}, 422, "body.cadence", "cannot change"),
        ("DVC-HS-TIEP-NHAN", {"cadence": "daily"}, 422, "body.cadence", "cannot change"),
        (
            "DVC-HS-TIEP-NHAN",
            {"time_aggregation": "avg"},
            422,
            "body.time_aggregation",
            "cannot change",
        ),
        (
            "DVC-HS-TIEP-NHAN",
            {"area_aggregation": "avg"},
            422,
            "body.area_aggregation",
            "cannot change",
        ),
        ("DVC-HS-TIEP-NHAN", {"code": "NEW"}, 422, "body.code", "cannot change"),
        # The shipped range of DVC-HS-TIEP-NHAN is [0, 20000].
        ("DVC-HS-TIEP-NHAN", {"min_value": 30000}, 422, "body.min_value", "above max_value"),
        ("DVC-HS-TIEP-NHAN", {"max_value": -1}, 422, "body.max_value", "above max_value -1"),
        ("DVC-HS-TIEP-NHAN", {"name": None}, 422, "body.name", "may not be null"),
        ("DVC-HS-TIEP-NHAN", {"active": None}, 422, "body.active", "may not be null"),
        ("DVC-HS-TIEP-NHAN", {"active": 0}, 422, "body.active", "valid boolean"),
        ("DVC-HS-TIEP-NHAN", {"group": "G-NOPE"}, 422, "body.group", "'G-NOPE' does not exist"),
        ("DVC-HS-TIEP-NHAN", {"colour": "red"}, 422, "body.colour", "Extra inputs"),
        ("NOPE", {"name": "x"}, 404, "path.code", "indicator 'NOPE' does not exist"),
    ],
)
async def test_invalid_updates_are_refused(
    client: httpx.AsyncClient,
    admin_token: str,
    code: str,
    payload: dict[str, object],
    status: int,
    field: str,
    reason: str,
) -> None:
    auth = bearer(admin_token)
    response = await client.patch(f"/api/v1/indicators/{code}", json=payload, headers=auth)
    assert_problem(response, status, field, reason)
    unchanged = await client.get("/api/v1/indicators/DVC-HS-TIEP-NHAN", headers=auth)
    assert unchanged.json()["cadence"] == "daily"
    assert (unchanged.json()["min_value"], unchanged.json()["max_value"]) == (0, 20000)


async def test_deactivation_is_soft_and_reversible(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    auth = bearer(admin_token)
    gone = await client.delete("/api/v1/indicators/CPI", headers=auth)
    assert gone.status_code == 200, gone.text
    assert gone.json()["active"] is False
    still_there = await client.get("/api/v1/indicators/CPI", headers=auth)
    assert still_there.status_code == 200, "an indicator is never hard-deleted"
    assert still_there.json()["active"] is False
    again = await client.patch("/api/v1/indicators/CPI", json={"active": True}, headers=auth)
    assert again.json()["active"] is True
    missing = await client.delete("/api/v1/indicators/NOPE", headers=auth)
    assert_problem(missing, 404, "path.code", "indicator 'NOPE' does not exist")


async def test_district_key_cannot_write_indicators_but_reads_them(
    client: httpx.AsyncClient, seeded: None, mint_key: MintKey
) -> None:
    auth = bearer(await mint_key("718", Scope.REGISTRY_WRITE))
    for response in (
        await client.post("/api/v1/indicators", json=NEW_INDICATOR, headers=auth),
        await client.patch("/api/v1/indicators/CPI", json={"name": "x"}, headers=auth),
        await client.delete("/api/v1/indicators/CPI", headers=auth),
    ):
        assert response.status_code == 403, response.text
        assert "province-wide" in response.json()["detail"]
    read = await client.get("/api/v1/indicators/CPI", headers=auth)
    assert read.status_code == 200
    assert read.json()["active"] is True


async def test_no_key_is_401(client: httpx.AsyncClient, seeded: None) -> None:
    for response in (
        await client.get("/api/v1/indicators"),
        await client.get("/api/v1/indicators/CPI"),
        await client.post("/api/v1/indicators", json=NEW_INDICATOR),
        await client.patch("/api/v1/indicators/CPI", json={"name": "x"}),
        await client.delete("/api/v1/indicators/CPI"),
    ):
        assert response.status_code == 401, response.text


def test_the_update_schema_offers_null_only_where_it_clears_a_value() -> None:
    schema = create_app().openapi()["components"]["schemas"]["IndicatorUpdate"]["properties"]
    nullable = {
        name for name, field in schema.items() if {"type": "null"} in field.get("anyOf", [])
    }
    assert nullable == {"min_value", "max_value", "grace_seconds"}
    assert all("default" not in schema[name] for name in schema.keys() - nullable)
