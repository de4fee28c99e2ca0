"""Obligations over HTTP: per unit or per kind, the district restriction, duplicates, removal,
and which keys may assign what."""

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ioc_hub.catalogue.service import obligated_series
from ioc_hub.models import Indicator, Scope, Unit
from tests.catalogue.problems import assert_problem
from tests.conftest import MintKey, bearer


async def series_of(session_factory: async_sessionmaker[AsyncSession], indicator: str) -> set[str]:
    """Codes of the units obliged to report ``indicator``, as other features will see them."""
    async with session_factory() as session:
        indicator_id = await session.scalar(select(Indicator.id).where(Indicator.code == indicator))
        assert indicator_id is not None
        pairs = await obligated_series(session, indicator_ids=[indicator_id])
        codes = {row.id: row.code for row in await session.execute(select(Unit.id, Unit.code))}
    return {codes[unit_id] for unit_id, _ in pairs}


async def test_unit_obligation_is_created_listed_and_removed(
    client: httpx.AsyncClient,
    admin_token: str,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    auth = bearer(admin_token)
    assert "DEPT-SYT" not in await series_of(session_factory, "CPI")
    created = await client.post(
        "/api/v1/obligations", json={"indicator": "CPI", "unit": "DEPT-SYT"}, headers=auth
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["indicator"] == "CPI"
    assert body["unit"] == "DEPT-SYT"
    assert (body["unit_kind"], body["district"]) == (None, None)
    assert "DEPT-SYT" in await series_of(session_factory, "CPI")

    listed = await client.get("/api/v1/obligations?unit=DEPT-SYT&indicator=CPI", headers=auth)
    assert [o["id"] for o in listed.json()["items"]] == [body["id"]]

    removed = await client.delete(f"/api/v1/obligations/{body['id']}", headers=auth)
    assert removed.status_code == 200, removed.text
    assert removed.json() == body
    assert "DEPT-SYT" not in await series_of(session_factory, "CPI")
    again = await client.delete(f"/api/v1/obligations/{body['id']}", headers=auth)
    assert_problem(again, 404, "path.obligation_id", f"obligation {body['id']} does not exist")


async def test_kind_obligation_covers_every_unit_of_the_kind_or_one_districts_communes(
    client: httpx.AsyncClient,
    admin_token: str,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    auth = bearer(admin_token)
    # CPI is shipped for the statistics office only.
    assert await series_of(session_factory, "CPI") == {"VA-CTK"}

    in_718 = await client.post(
        "/api/v1/obligations",
        json={"indicator": "CPI", "unit_kind": "commune", "district": "718"},
        headers=auth,
    )
    assert in_718.status_code == 201, in_718.text
    assert (in_718.json()["unit_kind"], in_718.json()["district"]) == ("commune", "718")
    communes_718 = await client.get("/api/v1/units?parent=718&limit=100", headers=auth)
    codes_718 = {u["code"] for u in communes_718.json()["items"]}
    assert len(codes_718) == 14
    assert await series_of(session_factory, "CPI") == {"VA-CTK", *codes_718}

    everywhere = await client.post(
        "/api/v1/obligations", json={"indicator": "CPI", "unit_kind": "department"}, headers=auth
    )
    assert everywhere.status_code == 201, everywhere.text
    assert len(await series_of(session_factory, "CPI")) == 1 + 14 + 18

    kind_wide = await client.get(
        "/api/v1/obligations?unit_kind=commune&indicator=CPI", headers=auth
    )
    assert [o["id"] for o in kind_wide.json()["items"]] == [in_718.json()["id"]]


async def test_duplicate_obligations_are_409(client: httpx.AsyncClient, admin_token: str) -> None:
    auth = bearer(admin_token)
    # Shipped: DVC-HS-TIEP-NHAN for every commune; GRDP for the statistics office.
    kind = await client.post(
        "/api/v1/obligations",
        json={"indicator": "DVC-HS-TIEP-NHAN", "unit_kind": "commune"},
        headers=auth,
    )
    assert_problem(kind, 409, "body.unit_kind", "every commune is already obliged")
    unit = await client.post(
        "/api/v1/obligations", json={"indicator": "GRDP", "unit": "VA-CTK"}, headers=auth
    )
    assert_problem(unit, 409, "body.unit", "unit 'VA-CTK' is already obliged to report 'GRDP'")

    # A district-restricted obligation is another target than the province-wide one...
    restricted = {"indicator": "DVC-HS-TIEP-NHAN", "unit_kind": "commune", "district": "719"}
    first = await client.post("/api/v1/obligations", json=restricted, headers=auth)
    assert first.status_code == 201, first.text
    # ...but only once.
    second = await client.post("/api/v1/obligations", json=restricted, headers=auth)
    assert_problem(second, 409, "body.unit_kind", "every commune of district '719'")


@pytest.mark.parametrize(
    ("payload", "status", "field", "reason"),
    [
        ({"indicator": "CPI"}, 422, "body.unit", "exactly one of unit or unit_kind"),
        (
            {"indicator": "CPI", "unit": "25741", "unit_kind": "commune"},
            422,
            "body.unit_kind",
            "exactly one of unit or unit_kind",
        ),
        ({"indicator": "CPI", "unit_kind": "province"}, 422, "body.unit_kind", "the province"),
        ({"indicator": "CPI", "unit": "74"}, 422, "body.unit", "the province"),
        ({"indicator": "CPI", "unit_kind": "village"}, 422, "body.unit_kind", "Input should be"),
        (
            {"indicator": "CPI", "unit_kind": "district", "district": "718"},
            422,
            "body.district",
            "only a commune-wide obligation",
        ),
        (
            {"indicator": "CPI", "unit": "25741", "district": "718"},
            422,
            "body.district",
            "kind-wide obligation only",
        ),
        (
            {"indicator": "CPI", "unit_kind": "commune", "district": "DEPT-STTTT"},
            422,
            "body.district",
            "'DEPT-STTTT' is a department",
        ),
        (
            {"indicator": "CPI", "unit_kind": "commune", "district": "999"},
            422,
            "body.district",
            "unit '999' does not exist",
        ),
        ({"indicator": "NOPE", "unit": "25741"}, 422, "body.indicator", "'NOPE' does not exist"),
        ({"indicator": "CPI", "unit": "99999"}, 422, "body.unit", "unit '99999' does not exist"),
        ({"indicator": "CPI", "unit": "25741", "note": "x"}, 422, "body.note", "Extra inputs"),
    ],
)
async def test_invalid_obligations_are_refused_with_field_and_reason(
    client: httpx.AsyncClient,
    admin_token: str,
    payload: dict[str, object],
    status: int,
    field: str,
    reason: str,
) -> None:
    auth = bearer(admin_token)
    before = (await client.get("/api/v1/obligations?limit=1", headers=auth)).json()["total"]
    response = await client.post("/api/v1/obligations", json=payload, headers=auth)
    assert_problem(response, status, field, reason)
    after = (await client.get("/api/v1/obligations?limit=1", headers=auth)).json()["total"]
    assert after == before, "a refused obligation must write nothing"


async def test_inactive_unit_or_indicator_cannot_be_obliged(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    auth = bearer(admin_token)
    assert (await client.delete("/api/v1/units/25741", headers=auth)).status_code == 200
    unit = await client.post(
        "/api/v1/obligations", json={"indicator": "CPI", "unit": "25741"}, headers=auth
    )
    assert_problem(unit, 422, "body.unit", "unit '25741' is inactive")

    assert (await client.delete("/api/v1/indicators/CPI", headers=auth)).status_code == 200
    indicator = await client.post(
        "/api/v1/obligations", json={"indicator": "CPI", "unit": "25816"}, headers=auth
    )
    assert_problem(indicator, 422, "body.indicator", "indicator 'CPI' is inactive")


async def test_district_key_obliges_only_units_of_its_own_subtree(
    client: httpx.AsyncClient, admin_token: str, mint_key: MintKey
) -> None:
    auth = bearer(await mint_key("718", Scope.REGISTRY_WRITE))
    own_commune = await client.post(
        "/api/v1/obligations", json={"indicator": "CPI", "unit": "25741"}, headers=auth
    )
    assert own_commune.status_code == 201, own_commune.text
    itself = await client.post(
        "/api/v1/obligations", json={"indicator": "CPI", "unit": "718"}, headers=auth
    )
    assert itself.status_code == 201, itself.text

    neighbour = await client.post(
        "/api/v1/obligations", json={"indicator": "CPI", "unit": "25816"}, headers=auth
    )
    assert_problem(neighbour, 403, "body.unit", "outside this key's area")
    kind_wide = await client.post(
        "/api/v1/obligations",
        json={"indicator": "CPI", "unit_kind": "commune", "district": "718"},
        headers=auth,
    )
    assert_problem(kind_wide, 403, "body.unit_kind", "province-level key")

    province = bearer(admin_token)
    theirs = await client.post(
        "/api/v1/obligations", json={"indicator": "CPI", "unit": "25816"}, headers=province
    )
    shipped_kind = await client.get(
        "/api/v1/obligations?indicator=DVC-HS-TIEP-NHAN&unit_kind=commune", headers=province
    )
    for obligation_id in (theirs.json()["id"], shipped_kind.json()["items"][0]["id"]):
        refused = await client.delete(f"/api/v1/obligations/{obligation_id}", headers=auth)
        assert refused.status_code == 403, refused.text
        assert refused.json()["errors"][0]["field"] == "path.obligation_id"
    mine = await client.delete(f"/api/v1/obligations/{own_commune.json()['id']}", headers=auth)
    assert mine.status_code == 200, mine.text


async def test_list_filters_and_pagination(client: httpx.AsyncClient, admin_token: str) -> None:
    auth = bearer(admin_token)
    everything = (await client.get("/api/v1/obligations?limit=1000", headers=auth)).json()
    total = everything["total"]
    assert total == len(everything["items"]) > 100
    ids = [o["id"] for o in everything["items"]]
    assert ids == sorted(ids)

    page = (await client.get("/api/v1/obligations?limit=10&offset=10", headers=auth)).json()
    assert [o["id"] for o in page["items"]] == ids[10:20]
    assert page["total"] == total

    by_kind = await client.get("/api/v1/obligations?unit_kind=district&limit=1000", headers=auth)
    assert by_kind.json()["items"]
    assert all(o["unit_kind"] == "district" and o["unit"] is None for o in by_kind.json()["items"])
    by_unit = (await client.get("/api/v1/obligations?unit=DEPT-STTTT", headers=auth)).json()
    assert by_unit["total"] == 10
    assert all(o["unit"] == "DEPT-STTTT" for o in by_unit["items"])
    by_indicator = (await client.get("/api/v1/obligations?indicator=GRDP", headers=auth)).json()
    assert [o["unit"] for o in by_indicator["items"]] == ["VA-CTK"]


@pytest.mark.parametrize(
    ("query", "status", "field"),
    [
        ("indicator=NOPE", 404, "query.indicator"),
        ("unit=NOPE", 404, "query.unit"),
        ("unit_kind=village", 422, "query.unit_kind"),
        ("offset=-1", 422, "query.offset"),
    ],
)
async def test_bad_list_parameters_name_the_parameter(
    client: httpx.AsyncClient, admin_token: str, query: str, status: int, field: str
) -> None:
    response = await client.get(f"/api/v1/obligations?{query}", headers=bearer(admin_token))
    assert response.status_code == status
    assert response.json()["errors"][0]["field"] == field


@pytest.mark.parametrize("path", ["0", "abc", "99999"])
async def test_delete_of_a_missing_obligation_names_the_path(
    client: httpx.AsyncClient, admin_token: str, path: str
) -> None:
    response = await client.delete(f"/api/v1/obligations/{path}", headers=bearer(admin_token))
    assert response.status_code == (404 if path == "99999" else 422)
    assert response.json()["errors"][0]["field"] == "path.obligation_id"


async def test_writes_need_a_key_with_registry_write(
    client: httpx.AsyncClient, seeded: None, mint_key: MintKey
) -> None:
    payload = {"indicator": "CPI", "unit": "25741"}
    assert (await client.post("/api/v1/obligations", json=payload)).status_code == 401
    assert (await client.get("/api/v1/obligations")).status_code == 401
    reader = bearer(await mint_key("74", Scope.AGGREGATES_READ))
    refused = await client.post("/api/v1/obligations", json=payload, headers=reader)
    assert refused.status_code == 403
    assert "registry:write" in refused.json()["detail"]
    assert (await client.get("/api/v1/obligations", headers=reader)).status_code == 200
