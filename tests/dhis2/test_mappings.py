"""/api/v1/dhis2/mappings: DHIS2 identifiers mapped to hub codes, changed by province keys with
`registry:write`, read by any key."""

import httpx

from ioc_hub.models import Scope
from tests.conftest import MintKey, bearer
from tests.dhis2.conftest import MEASLES, NGELEHUN, post_set


async def test_mapping_lifecycle(
    client: httpx.AsyncClient, admin: dict[str, str], district_key: str
) -> None:
    listed = await client.get(
        "/api/v1/dhis2/mappings", params={"kind": "orgUnit"}, headers=bearer(district_key)
    )
    assert listed.status_code == 200
    assert {(m["dhis2_id"], m["code"]) for m in listed.json()["items"]} == {
        (NGELEHUN, "25741"),
        ("FNnj3jKGS7i", "25744"),
    }
    created = await client.post(
        "/api/v1/dhis2/mappings",
        headers=admin,
        json={"kind": "orgUnit", "dhis2_id": "Jkhdsf8sdf4", "code": "25747"},
    )
    assert created.status_code == 201, created.text
    mapping = created.json()
    row = {"dataElement": MEASLES, "period": "202610", "orgUnit": "Jkhdsf8sdf4", "value": "4"}
    stored = await post_set(client, bearer(district_key), {"dataValues": [row]})
    assert stored.status_code == 200, stored.text

    moved = await client.patch(
        f"/api/v1/dhis2/mappings/{mapping['id']}", headers=admin, json={"code": "25750"}
    )
    assert moved.json()["code"] == "25750"
    got = await client.get(f"/api/v1/dhis2/mappings/{mapping['id']}", headers=admin)
    assert got.json()["code"] == "25750"
    removed = await client.delete(f"/api/v1/dhis2/mappings/{mapping['id']}", headers=admin)
    assert removed.status_code == 200
    gone = await client.get(f"/api/v1/dhis2/mappings/{mapping['id']}", headers=admin)
    assert gone.status_code == 404
    unmapped = await post_set(client, bearer(district_key), {"dataValues": [row]})
    assert unmapped.json()["response"]["conflicts"][0]["errorCode"] == "E7612"


async def test_mapping_refusals(
    client: httpx.AsyncClient, admin: dict[str, str], mint_key: MintKey, health: None
) -> None:
    taken = await client.post(
        "/api/v1/dhis2/mappings",
        headers=admin,
        json={"kind": "dataElement", "dhis2_id": MEASLES, "code": "YT-LY"},
    )
    assert taken.status_code == 409
    assert taken.json()["errors"][0]["field"] == "body.dhis2_id"
    nowhere = await client.post(
        "/api/v1/dhis2/mappings",
        headers=admin,
        json={"kind": "dataElement", "dhis2_id": "abc", "code": "NO-SUCH"},
    )
    assert nowhere.status_code == 422
    assert nowhere.json()["errors"][0] == {
        "field": "body.code",
        "reason": "indicator 'NO-SUCH' does not exist",
    }
    district = await mint_key("718", Scope.REGISTRY_WRITE)
    refused = await client.post(
        "/api/v1/dhis2/mappings",
        headers=bearer(district),
        json={"kind": "orgUnit", "dhis2_id": "abc", "code": "25741"},
    )
    assert refused.status_code == 403
    reader = await mint_key("74", Scope.AGGREGATES_READ)
    no_scope = await client.delete("/api/v1/dhis2/mappings/1", headers=bearer(reader))
    assert no_scope.status_code == 403
