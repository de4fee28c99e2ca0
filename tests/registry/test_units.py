"""Registry CRUD and the hierarchy rules (docs/design.md §2: communes → their district; everything
else → the province)."""

import httpx
import pytest

from ioc_hub.models import Scope
from tests.conftest import MintKey, bearer

NEW_COMMUNE = {
    "code": "99001",
    "name": "Phường Thử Nghiệm",
    "name_ascii": "Phuong Thu Nghiem",
    "kind": "commune",
    "subtype": "phường",
    "parent": "718",
}


async def test_province_admin_registers_a_commune_under_a_district(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    created = await client.post("/api/v1/units", json=NEW_COMMUNE, headers=bearer(admin_token))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["code"] == "99001"
    assert body["parent"] == "718"
    assert body["kind"] == "commune"
    assert body["active"] is True

    fetched = await client.get("/api/v1/units/99001", headers=bearer(admin_token))
    assert fetched.status_code == 200
    assert fetched.json()["name"] == "Phường Thử Nghiệm"


async def test_department_defaults_to_the_province_as_parent(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    response = await client.post(
        "/api/v1/units",
        json={"code": "DEPT-NEW", "name": "Sở Mới", "kind": "department"},
        headers=bearer(admin_token),
    )
    assert response.status_code == 201, response.text
    assert response.json()["parent"] == "74"


async def test_a_commune_may_hang_directly_under_the_province(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    """The two-tier map (docs/design.md §8)."""
    response = await client.post(
        "/api/v1/units", json={**NEW_COMMUNE, "parent": "74"}, headers=bearer(admin_token)
    )
    assert response.status_code == 201, response.text
    assert (response.json()["kind"], response.json()["parent"]) == ("commune", "74")


@pytest.mark.parametrize(
    ("payload", "status", "field", "reason"),
    [
        (
            {**NEW_COMMUNE, "parent": "DEPT-STTTT"},
            422,
            "body.parent",
            "a commune's parent must be a district or province",
        ),
        ({**NEW_COMMUNE, "parent": None}, 422, "body.parent", "a commune needs its district"),
        ({**NEW_COMMUNE, "parent": "nope"}, 422, "body.parent", "unit 'nope' does not exist"),
        (
            {"code": "D-X", "name": "Huyện X", "kind": "district", "parent": "718"},
            422,
            "body.parent",
            "hangs under the province",
        ),
        (
            {"code": "P-2", "name": "Tỉnh khác", "kind": "province"},
            422,
            "body.kind",
            "root of the registry",
        ),
        ({**NEW_COMMUNE, "code": "25741"}, 409, "body.code", "unit code '25741' already exists"),
        (
            {**NEW_COMMUNE, "code": "bad code!"},
            422,
            "body.code",
            "a code is ASCII letters and digits",
        ),
        ({**NEW_COMMUNE, "code": ""}, 422, "body.code", "at least 1 character"),
        ({**NEW_COMMUNE, "name": "   "}, 422, "body.name", "at least 1 character"),
        ({**NEW_COMMUNE, "kind": "village"}, 422, "body.kind", "Input should be"),
        ({**NEW_COMMUNE, "colour": "red"}, 422, "body.colour", "Extra inputs are not permitted"),
    ],
)
async def test_invalid_units_are_refused_with_field_and_reason(
    client: httpx.AsyncClient,
    admin_token: str,
    payload: dict[str, object],
    status: int,
    field: str,
    reason: str,
) -> None:
    response = await client.post("/api/v1/units", json=payload, headers=bearer(admin_token))
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status
    assert any(e["field"] == field and reason in e["reason"] for e in problem["errors"]), problem
    listed = await client.get("/api/v1/units?kind=commune", headers=bearer(admin_token))
    assert listed.json()["total"] == 91, "a refused unit must write nothing"


async def test_list_filters_by_kind_parent_and_active_with_pagination(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    auth = bearer(admin_token)
    communes = await client.get("/api/v1/units?parent=718&limit=5", headers=auth)
    body = communes.json()
    assert body["total"] == 14  # Thủ Dầu Một has 14 wards
    assert len(body["items"]) == 5
    assert all(u["parent"] == "718" and u["kind"] == "commune" for u in body["items"])

    second = await client.get("/api/v1/units?parent=718&limit=5&offset=5", headers=auth)
    assert {u["code"] for u in body["items"]}.isdisjoint(u["code"] for u in second.json()["items"])

    departments = await client.get("/api/v1/units?kind=department&limit=100", headers=auth)
    assert departments.json()["total"] == 18

    await client.delete("/api/v1/units/DEPT-SNGV", headers=auth)
    inactive = await client.get("/api/v1/units?active=false", headers=auth)
    assert [u["code"] for u in inactive.json()["items"]] == ["DEPT-SNGV"]
    active_departments = await client.get("/api/v1/units?kind=department&active=true", headers=auth)
    assert active_departments.json()["total"] == 17


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("kind=village", "query.kind"),
        ("limit=0", "query.limit"),
        ("limit=100000", "query.limit"),
        ("offset=-1", "query.offset"),
        ("active=maybe", "query.active"),
        ("parent=nope", "query.parent"),
    ],
)
async def test_bad_list_parameters_name_the_parameter(
    client: httpx.AsyncClient, admin_token: str, query: str, field: str
) -> None:
    response = await client.get(f"/api/v1/units?{query}", headers=bearer(admin_token))
    assert response.status_code in (404, 422)
    assert response.json()["errors"][0]["field"] == field


async def test_update_renames_and_moves_a_commune(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    auth = bearer(admin_token)
    moved = await client.patch(
        "/api/v1/units/25741", json={"name": "Phường Hiệp Thành Mới", "parent": "719"}, headers=auth
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["parent"] == "719"
    assert moved.json()["name"] == "Phường Hiệp Thành Mới"
    assert moved.json()["kind"] == "commune"


@pytest.mark.parametrize(
    ("code", "payload", "status", "field", "reason"),
    [
        ("25741", {"parent": "DEPT-STTTT"}, 422, "body.parent", "must be a district"),
        ("718", {"parent": "719"}, 422, "body.parent", "hangs under the province"),
        ("74", {"active": False}, 422, "body.active", "the province"),
        ("25741", {"kind": "district"}, 422, "body.kind", "Extra inputs"),
        ("nope", {"name": "x"}, 404, "path.code", "unit 'nope' does not exist"),
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
    response = await client.patch(
        f"/api/v1/units/{code}", json=payload, headers=bearer(admin_token)
    )
    assert response.status_code == status, response.text
    assert any(e["field"] == field and reason in e["reason"] for e in response.json()["errors"])


async def test_deactivation_is_soft_and_refused_while_children_are_active(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    auth = bearer(admin_token)
    refused = await client.delete("/api/v1/units/718", headers=auth)
    assert refused.status_code == 409
    assert "14 active child units" in refused.json()["detail"]

    gone = await client.delete("/api/v1/units/25741", headers=auth)
    assert gone.status_code == 200
    assert gone.json()["active"] is False
    still_there = await client.get("/api/v1/units/25741", headers=auth)
    assert still_there.status_code == 200, "a unit is never hard-deleted"
    assert still_there.json()["active"] is False

    again = await client.patch("/api/v1/units/25741", json={"active": True}, headers=auth)
    assert again.json()["active"] is True


async def test_commune_under_an_inactive_district_is_refused(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    auth = bearer(admin_token)
    created = await client.post(
        "/api/v1/units",
        json={"code": "D-EMPTY", "name": "Huyện Trống", "kind": "district"},
        headers=auth,
    )
    assert created.status_code == 201
    assert (await client.delete("/api/v1/units/D-EMPTY", headers=auth)).status_code == 200
    refused = await client.post(
        "/api/v1/units", json={**NEW_COMMUNE, "parent": "D-EMPTY"}, headers=auth
    )
    assert refused.status_code == 422
    assert "inactive" in refused.json()["detail"]


async def test_district_key_manages_only_its_own_communes(
    client: httpx.AsyncClient, seeded: None, mint_key: MintKey
) -> None:
    token = await mint_key("718", Scope.REGISTRY_WRITE)
    auth = bearer(token)
    own = await client.post("/api/v1/units", json=NEW_COMMUNE, headers=auth)
    assert own.status_code == 201, own.text
    other = await client.post(
        "/api/v1/units", json={**NEW_COMMUNE, "code": "99002", "parent": "719"}, headers=auth
    )
    assert other.status_code == 403
    assert other.json()["errors"][0]["field"] == "body.parent"
    assert "outside this key's area" in other.json()["detail"]
    rename_neighbour = await client.patch("/api/v1/units/25816", json={"name": "x"}, headers=auth)
    assert rename_neighbour.status_code == 403
    assert rename_neighbour.json()["errors"][0]["field"] == "path.code"
