"""Access keys (docs/design.md §6): bearer tokens stored only as hashes, shown once, revocable,
bound to a unit's subtree and carrying scopes."""

import hashlib

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ioc_hub.models import AccessKey, Scope
from tests.conftest import MintKey, bearer


async def test_token_is_shown_once_and_stored_only_as_a_hash(
    client: httpx.AsyncClient,
    admin_token: str,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    created = await client.post(
        "/api/v1/keys",
        json={"unit": "25741", "scopes": ["observations:write"], "name": "Hiệp Thành"},
        headers=bearer(admin_token),
    )
    assert created.status_code == 201, created.text
    token = created.json()["token"]
    assert token.startswith("ioch_")
    assert created.json()["prefix"] == token[: len(created.json()["prefix"])]

    async with session_factory() as session:
        stored = (await session.scalars(select(AccessKey))).all()
    assert all(token not in (k.token_hash, k.name, k.scopes) for k in stored)
    assert hashlib.sha256(token.encode()).hexdigest() in {k.token_hash for k in stored}

    listed = await client.get("/api/v1/keys", headers=bearer(admin_token))
    assert listed.status_code == 200
    assert token not in listed.text
    assert "token" not in listed.json()["items"][0]
    assert {k["unit"] for k in listed.json()["items"]} == {"74", "25741"}


async def test_revoked_key_gets_401_and_revoking_twice_is_harmless(
    client: httpx.AsyncClient, admin_token: str, mint_key: MintKey
) -> None:
    token = await mint_key("718", Scope.REGISTRY_WRITE)
    auth = bearer(token)
    assert (await client.get("/api/v1/units/718", headers=auth)).status_code == 200
    listed = await client.get("/api/v1/keys", headers=bearer(admin_token))
    key_id = next(k["id"] for k in listed.json()["items"] if k["unit"] == "718")

    revoked = await client.delete(f"/api/v1/keys/{key_id}", headers=bearer(admin_token))
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    again = await client.delete(f"/api/v1/keys/{key_id}", headers=bearer(admin_token))
    assert again.status_code == 200

    refused = await client.get("/api/v1/units/718", headers=auth)
    assert refused.status_code == 401
    assert refused.json()["detail"] == "this key was revoked"
    assert refused.headers["www-authenticate"] == "Bearer"

    active_only = await client.get("/api/v1/keys", headers=bearer(admin_token))
    assert key_id not in {k["id"] for k in active_only.json()["items"]}
    with_revoked = await client.get(
        "/api/v1/keys?include_revoked=true", headers=bearer(admin_token)
    )
    assert key_id in {k["id"] for k in with_revoked.json()["items"]}


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({}, "missing bearer token"),
        ({"Authorization": "Bearer ioch_not-a-real-key"}, "unknown key"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "missing bearer token"),
        ({"Authorization": "Bearer "}, "missing bearer token"),
    ],
)
async def test_missing_or_unknown_keys_get_401(
    client: httpx.AsyncClient, seeded: None, headers: dict[str, str], detail: str
) -> None:
    for method, url in [
        ("GET", "/api/v1/units"),
        ("POST", "/api/v1/keys"),
        ("GET", "/api/v1/keys"),
    ]:
        response = await client.request(method, url, headers=headers, json={})
        assert response.status_code == 401, (method, url)
        assert detail in response.json()["detail"]


async def test_key_for_unknown_unit_or_scope_is_refused(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    unknown_unit = await client.post(
        "/api/v1/keys",
        json={"unit": "nope", "scopes": ["coverage:read"]},
        headers=bearer(admin_token),
    )
    assert unknown_unit.status_code == 422
    assert unknown_unit.json()["errors"][0]["field"] == "body.unit"
    unknown_scope = await client.post(
        "/api/v1/keys", json={"unit": "718", "scopes": ["root"]}, headers=bearer(admin_token)
    )
    assert unknown_scope.status_code == 422
    assert unknown_scope.json()["errors"][0]["field"] == "body.scopes.0"
    no_scope = await client.post(
        "/api/v1/keys", json={"unit": "718", "scopes": []}, headers=bearer(admin_token)
    )
    assert no_scope.status_code == 422
    assert no_scope.json()["errors"][0]["field"] == "body.scopes"
    bad_id = await client.delete("/api/v1/keys/0", headers=bearer(admin_token))
    assert bad_id.status_code == 422
    missing = await client.delete("/api/v1/keys/999999", headers=bearer(admin_token))
    assert missing.status_code == 404


async def test_district_admin_mints_keys_only_inside_its_district_and_scopes(
    client: httpx.AsyncClient, seeded: None, mint_key: MintKey
) -> None:
    district_admin = bearer(await mint_key("718", Scope.KEYS_ADMIN, Scope.OBSERVATIONS_WRITE))
    own_commune = await client.post(
        "/api/v1/keys",
        json={"unit": "25741", "scopes": ["observations:write"]},
        headers=district_admin,
    )
    assert own_commune.status_code == 201, own_commune.text

    neighbour = await client.post(
        "/api/v1/keys",
        json={"unit": "25816", "scopes": ["observations:write"]},
        headers=district_admin,
    )
    assert neighbour.status_code == 403
    assert "outside this key's area: it covers district '718'" in neighbour.json()["detail"]

    escalation = await client.post(
        "/api/v1/keys", json={"unit": "25741", "scopes": ["registry:write"]}, headers=district_admin
    )
    assert escalation.status_code == 403
    assert "cannot grant scopes it does not hold: registry:write" in escalation.json()["detail"]

    listed = await client.get("/api/v1/keys", headers=district_admin)
    assert {k["unit"] for k in listed.json()["items"]} == {"718", "25741"}


# The key/scope matrix for the registry and key routes: who gets which status.
ROUTES = [
    ("GET", "/api/v1/units", None, None),
    ("GET", "/api/v1/units/25741", None, None),
    (
        "POST",
        "/api/v1/units",
        Scope.REGISTRY_WRITE,
        {"code": "99009", "name": "Xã Mới", "kind": "commune", "parent": "718"},
    ),
    ("PATCH", "/api/v1/units/25741", Scope.REGISTRY_WRITE, {"name": "Phường Hiệp Thành"}),
    ("DELETE", "/api/v1/units/25741", Scope.REGISTRY_WRITE, None),
    ("POST", "/api/v1/keys", Scope.KEYS_ADMIN, {"unit": "25741", "scopes": ["coverage:read"]}),
    ("GET", "/api/v1/keys", Scope.KEYS_ADMIN, None),
]

# (key's unit, scopes it holds) → expected status per route; None means "no key".
CALLERS = {
    "no key": None,
    "province, no scopes": ("74", ()),
    "province, all scopes": ("74", tuple(Scope)),
    "district 718, all scopes": ("718", tuple(Scope)),
    "district 719, all scopes": ("719", tuple(Scope)),
    "commune 25741, all scopes": ("25741", tuple(Scope)),
    "department, all scopes": ("DEPT-STTTT", tuple(Scope)),
}


def expected_status(caller: str, scope: Scope | None, method: str) -> int:
    held = CALLERS[caller]
    if held is None:
        return 401
    unit, scopes = held
    if scope is not None and scope not in scopes:
        return 403
    if scope is None:
        return 200
    # Writes touch commune 25741 (under district 718): only its own subtree may.
    if unit not in ("74", "718", "25741") and method != "GET":
        return 403
    if unit == "25741" and method == "POST" and scope is Scope.REGISTRY_WRITE:
        return 403  # the new commune's parent, district 718, is above the commune
    return {"POST": 201}.get(method, 200)


@pytest.mark.parametrize("caller", list(CALLERS))
@pytest.mark.parametrize(("method", "url", "scope", "body"), ROUTES)
async def test_registry_access_matrix(
    client: httpx.AsyncClient,
    seeded: None,
    mint_key: MintKey,
    caller: str,
    method: str,
    url: str,
    scope: Scope | None,
    body: dict[str, object] | None,
) -> None:
    held = CALLERS[caller]
    headers = {} if held is None else bearer(await mint_key(held[0], *held[1]))
    response = await client.request(method, url, headers=headers, json=body)
    assert response.status_code == expected_status(caller, scope, method), response.text
