"""Indicator groups: the province-wide catalogue's top level."""

import httpx
import pytest

from ioc_hub.models import Scope
from tests.catalogue.problems import assert_problem
from tests.conftest import MintKey, bearer

NEW_GROUP = {
    "code": "G-THU-NGHIEM",
    "name": "Nhóm chỉ tiêu thử nghiệm",
    "description": "Chỉ dùng trong kiểm thử.",
}


async def test_province_admin_creates_and_reads_a_group(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    auth = bearer(admin_token)
    created = await client.post("/api/v1/indicator-groups", json=NEW_GROUP, headers=auth)
    assert created.status_code == 201, created.text
    assert created.json()["code"] == "G-THU-NGHIEM"
    assert created.json()["name"] == "Nhóm chỉ tiêu thử nghiệm"

    fetched = await client.get("/api/v1/indicator-groups/G-THU-NGHIEM", headers=auth)
    assert fetched.status_code == 200
    assert fetched.json() == created.json()


@pytest.mark.parametrize(
    ("payload", "status", "field", "reason"),
    [
        ({**NEW_GROUP, "code": "G-DVC"}, 409, "body.code", "'G-DVC' already exists"),
        (
            {**NEW_GROUP, "code": "bad code!"},
            422,
            "body.code",
            "a code is ASCII letters and digits",
        ),
        ({**NEW_GROUP, "code": "x" * 65}, 422, "body.code", "at most 64 characters"),
        ({**NEW_GROUP, "name": "  "}, 422, "body.name", "at least 1 character"),
        ({"code": "G-X"}, 422, "body.name", "Field required"),
        ({**NEW_GROUP, "colour": "red"}, 422, "body.colour", "Extra inputs are not permitted"),
    ],
)
async def test_invalid_groups_are_refused_with_field_and_reason(
    client: httpx.AsyncClient,
    admin_token: str,
    payload: dict[str, object],
    status: int,
    field: str,
    reason: str,
) -> None:
    auth = bearer(admin_token)
    response = await client.post("/api/v1/indicator-groups", json=payload, headers=auth)
    assert_problem(response, status, field, reason)
    listed = await client.get("/api/v1/indicator-groups?limit=1", headers=auth)
    assert listed.json()["total"] == 27, "a refused group must write nothing"


async def test_groups_list_in_code_order_with_pagination(
    client: httpx.AsyncClient, seeded: None, mint_key: MintKey
) -> None:
    # Reading the catalogue needs a valid key, nothing more.
    auth = bearer(await mint_key("25741", Scope.OBSERVATIONS_WRITE))
    first = (await client.get("/api/v1/indicator-groups?limit=10", headers=auth)).json()
    assert first["total"] == 27
    assert first["limit"] == 10
    codes = [g["code"] for g in first["items"]]
    assert codes == sorted(codes)
    rest = (await client.get("/api/v1/indicator-groups?limit=10&offset=20", headers=auth)).json()
    assert len(rest["items"]) == 7
    assert set(codes).isdisjoint(g["code"] for g in rest["items"])


async def test_unknown_group_is_404_naming_the_path(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    response = await client.get("/api/v1/indicator-groups/G-NOPE", headers=bearer(admin_token))
    assert_problem(response, 404, "path.code", "indicator group 'G-NOPE' does not exist")


async def test_district_key_cannot_change_the_catalogue(
    client: httpx.AsyncClient, seeded: None, mint_key: MintKey
) -> None:
    auth = bearer(await mint_key("718", Scope.REGISTRY_WRITE))
    response = await client.post("/api/v1/indicator-groups", json=NEW_GROUP, headers=auth)
    assert response.status_code == 403, response.text
    assert "province-wide" in response.json()["detail"]
    assert (await client.get("/api/v1/indicator-groups", headers=auth)).status_code == 200


async def test_province_key_without_registry_write_is_403(
    client: httpx.AsyncClient, seeded: None, mint_key: MintKey
) -> None:
    auth = bearer(await mint_key("74", Scope.COVERAGE_READ))
    response = await client.post("/api/v1/indicator-groups", json=NEW_GROUP, headers=auth)
    assert response.status_code == 403
    assert "registry:write" in response.json()["detail"]


async def test_no_key_is_401(client: httpx.AsyncClient, seeded: None) -> None:
    for response in (
        await client.get("/api/v1/indicator-groups"),
        await client.post("/api/v1/indicator-groups", json=NEW_GROUP),
    ):
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
