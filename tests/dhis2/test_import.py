"""POST /api/dataValueSets (docs/design.md §10): DHIS2's forms of authentication, id schemes,
periods, combos, strategies and dry runs; bad input as DHIS2 reports it."""

import base64
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ioc_hub.models import (
    Observation,
    ObservationDeletion,
    ObservationRevision,
    OutlierFlag,
    Rejection,
    Scope,
    SeriesState,
)
from tests.conftest import MintKey, bearer
from tests.dhis2.conftest import DISTRICT, MEASLES, NGELEHUN, post_set


def row(**fields: Any) -> dict[str, Any]:
    return {"dataElement": MEASLES, "period": "202610", "orgUnit": NGELEHUN, "value": "5", **fields}


async def count(factory: async_sessionmaker[AsyncSession], model: type) -> int:
    async with factory() as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


@pytest.mark.parametrize(
    "form",
    [
        lambda key: f"ApiToken {key}",
        lambda key: "Basic " + base64.b64encode(f"admin:{key}".encode()).decode(),
        lambda key: "Basic " + base64.b64encode(f":{key}".encode()).decode(),
        lambda key: f"Bearer {key}",
    ],
    ids=["api-token", "basic", "basic-without-user", "bearer"],
)
async def test_every_dhis2_authorization_form_maps_to_the_key(
    client: httpx.AsyncClient, district_key: str, form: Any
) -> None:
    response = await post_set(
        client, {"Authorization": form(district_key)}, {"dataValues": [row()]}
    )
    assert response.status_code == 200, response.text
    assert response.json()["response"]["importCount"]["imported"] == 1


@pytest.mark.parametrize(
    "header",
    [
        None,
        "ApiToken d2pat_not-a-hub-key",
        "Basic " + base64.b64encode(b"admin:district").decode(),
        "Basic not-base64!",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Digest abc",
    ],
    ids=["none", "unknown-token", "wrong-password", "bad-base64", "no-colon", "other-scheme"],
)
async def test_bad_credentials_are_401(
    client: httpx.AsyncClient, district_key: str, header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    response = await post_set(client, headers, {"dataValues": [row()]})
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"


async def test_scopes_are_the_hubs(
    client: httpx.AsyncClient, mint_key: MintKey, health: None
) -> None:
    reader = await mint_key("718", Scope.AGGREGATES_READ)
    refused = await post_set(
        client, {"Authorization": f"ApiToken {reader}"}, {"dataValues": [row()]}
    )
    assert refused.status_code == 403
    assert "observations:write" in refused.json()["detail"]
    writer = await mint_key("718", Scope.OBSERVATIONS_WRITE)
    export = await client.get(
        "/api/dataValueSets",
        params={"dataElement": MEASLES, "period": "202610", "orgUnit": NGELEHUN},
        headers={"Authorization": f"ApiToken {writer}"},
    )
    assert export.status_code == 403


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"dataValues": [', "the body is not valid JSON"),
        (b"<dataValueSet/>", "the body is not valid JSON"),
        (b"[]", "must be a JSON object"),
        (b'{"dataValues": {}}', "dataValues must be an array"),
        (b'{"dataValues": [1]}', "dataValues[0] must be an object"),
        (b'{"orgUnit": 5, "dataValues": []}', "orgUnit must be a string"),
    ],
)
async def test_unreadable_body_is_a_dhis2_error(
    client: httpx.AsyncClient,
    district_key: str,
    session_factory: async_sessionmaker[AsyncSession],
    body: bytes,
    reason: str,
) -> None:
    response = await client.post(
        "/api/dataValueSets",
        content=body,
        headers={**bearer(district_key), "content-type": "application/json"},
    )
    assert response.status_code == 409, response.text
    message = response.json()
    assert (message["httpStatus"], message["httpStatusCode"], message["status"]) == (
        "Conflict",
        409,
        "ERROR",
    )
    assert message["message"] == "An error occurred, please check import summary."
    assert message["response"]["status"] == "ERROR"
    assert message["response"]["description"].startswith("The import process failed: ")
    assert reason in message["response"]["description"]
    assert await count(session_factory, Observation) == 0


async def test_unknown_identifiers_are_conflicts_with_their_indexes(
    client: httpx.AsyncClient,
    district_key: str,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    rows = [
        row(dataElement="NO-SUCH"),
        row(),
        row(orgUnit="nowhere"),
        row(dataElement="NO-SUCH", period="202609"),
        row(period="2026BiW3"),
        row(period="20261"),
        row(period="20261015"),  # a day, for a monthly indicator
        row(period="203001"),
        row(value="lots"),
        row(value="140000"),
        row(value=None),
        row(orgUnit="25747", attributeOptionCombo="HllvX50cXC0", categoryOptionCombo="default"),
        row(orgUnit="74"),
    ]
    response = await post_set(client, bearer(district_key), {"dataValues": rows})
    assert response.status_code == 409, response.text
    summary = response.json()["response"]
    assert summary["status"] == "WARNING"
    assert summary["importCount"] == {"imported": 2, "updated": 0, "ignored": 11, "deleted": 0}
    found: dict[tuple[str, str, str], list[int]] = {}
    for c in summary["conflicts"]:  # one conflict per object and reason
        found.setdefault((c["errorCode"], c["property"], c["object"]), []).extend(c["indexes"])
    assert found == {
        ("E7610", "dataElement", "NO-SUCH"): [0, 3],
        ("E7612", "orgUnit", "nowhere"): [2],
        ("E7611", "period", "2026BiW3"): [4],
        ("E7611", "period", "20261"): [5],
        ("E7632", "period", "20261015"): [6],
        ("E7641", "period", "203001"): [7],
        ("E7619", "value", MEASLES): [8, 9],
        ("E7618", "value", MEASLES): [10],
        ("E7617", "orgUnit", "74"): [12],
    }
    values = " ".join(c["value"] for c in summary["conflicts"])
    assert "DHIS2 BiWeekly period" in values
    assert "value 140000 above max 100000" in values
    # Refused rows are kept for operators like a push's, under the hub's codes they name.
    async with session_factory() as session:
        kept = (await session.execute(select(Rejection.row_index, Rejection.unit_code))).all()
    assert sorted(i for i, _ in kept) == [0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12]
    assert dict(kept)[8] == "25741", "the mapped org unit is the unit kept"


async def test_id_scheme_uid_is_refused_as_a_conflict(
    client: httpx.AsyncClient,
    district_key: str,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    response = await post_set(
        client, bearer(district_key), {"dataValues": [row(), row()]}, idScheme="UID"
    )
    assert response.status_code == 409
    message = response.json()
    assert message["status"] == "ERROR"
    conflicts = message["response"]["conflicts"]
    assert [(c["errorCode"], c["property"], c["object"], c["indexes"]) for c in conflicts] == [
        ("E7610", "idScheme", "UID", [0, 1]),
        ("E7612", "idScheme", "UID", [0, 1]),
    ]
    assert "/api/v1/dhis2/mappings" in conflicts[0]["value"]
    assert await count(session_factory, Observation) == 0
    only_units = await post_set(
        client,
        bearer(district_key),
        {"orgUnitIdScheme": "uid", "dataValues": [row()]},
        idScheme="code",
    )
    assert [c["property"] for c in only_units.json()["response"]["conflicts"]] == [
        "orgUnitIdScheme"
    ]
    code = await post_set(client, bearer(district_key), {"dataValues": [row()]}, idScheme="CODE")
    assert code.status_code == 200


async def test_codes_work_without_mappings(client: httpx.AsyncClient, district_key: str) -> None:
    body = {
        "period": "2026W47",
        "orgUnit": "25747",
        "dataValues": [{"dataElement": "SXH-CA-MAC", "orgUnit": "718", "value": 3}],
    }
    response = await post_set(
        client, bearer(district_key), body, dataElementIdScheme="CODE", orgUnitIdScheme="code"
    )
    assert response.status_code == 200, response.text
    listed = await client.get(
        "/api/v1/observations", params={"indicator": "SXH-CA-MAC"}, headers=bearer(district_key)
    )
    assert [(o["unit"], o["period"], o["value"]) for o in listed.json()["items"]] == [
        ("718", "2026-W47", 3.0)
    ]


async def test_dry_run_counts_and_stores_nothing(
    client: httpx.AsyncClient,
    district_key: str,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    body = {"dataValues": [row(), row(orgUnit="nowhere")]}
    response = await post_set(client, bearer(district_key), body, dryRun="true")
    assert response.status_code == 409
    summary = response.json()["response"]
    assert summary["importOptions"]["dryRun"] is True
    assert summary["importCount"] == {"imported": 1, "updated": 0, "ignored": 1, "deleted": 0}
    assert await count(session_factory, Observation) == 0
    assert await count(session_factory, Rejection) == 0


async def test_create_and_update_strategies(client: httpx.AsyncClient, district_key: str) -> None:
    auth = bearer(district_key)
    await post_set(client, auth, {"dataValues": [row(value="1")]})
    created = await post_set(
        client,
        auth,
        {"dataValues": [row(value="2"), row(period="202609", value="3")]},
        importStrategy="CREATE",
    )
    assert created.status_code == 200
    assert created.json()["response"]["importCount"] == {
        "imported": 1,
        "updated": 0,
        "ignored": 1,
        "deleted": 0,
    }
    updated = await post_set(
        client,
        auth,
        {"dataValues": [row(value="4"), row(period="202608", value="5")]},
        importStrategy="UPDATE",
    )
    assert updated.json()["response"]["importCount"] == {
        "imported": 0,
        "updated": 1,
        "ignored": 1,
        "deleted": 0,
    }
    nothing_new = await post_set(client, auth, {"dataValues": [row()]}, importStrategy="CREATE")
    assert nothing_new.status_code == 200
    assert nothing_new.json()["response"]["importCount"]["ignored"] == 1
    listed = await client.get("/api/v1/observations", params={"unit": "25741"}, headers=auth)
    assert sorted((o["period"], o["value"]) for o in listed.json()["items"]) == [
        ("2026-09", 3.0),
        ("2026-10", 4.0),
    ]


async def test_delete_keeps_a_revision(
    client: httpx.AsyncClient,
    district_key: str,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    auth = bearer(district_key)
    await post_set(client, auth, {"dataValues": [row(value="1"), row(period="202609", value="7")]})
    await post_set(client, auth, {"dataValues": [row(value="2", comment="sửa")]})
    response = await post_set(
        client,
        auth,
        {"dataValues": [row(value=None), row(period="202608"), row(orgUnit="nowhere")]},
        importStrategy="DELETE",
    )
    assert response.status_code == 409, response.text
    summary = response.json()["response"]
    assert summary["importCount"] == {"imported": 0, "updated": 0, "ignored": 2, "deleted": 1}
    assert [c["errorCode"] for c in summary["conflicts"]] == ["E7612"]
    listed = await client.get("/api/v1/observations", params={"unit": "25741"}, headers=auth)
    assert [(o["period"], o["value"]) for o in listed.json()["items"]] == [("2026-09", 7.0)]
    async with session_factory() as session:
        [deletion] = (await session.scalars(select(ObservationDeletion))).all()
        revisions = (await session.scalars(select(ObservationRevision))).all()
        series = (await session.scalars(select(SeriesState))).all()
    assert (deletion.period, deletion.value, deletion.comment, deletion.revision) == (
        "2026-10",
        2.0,
        "sửa",
        3,
    )
    assert [(r.observation_id, r.old_value, r.new_value) for r in revisions] == [
        (deletion.observation_id, 1.0, 2.0)
    ]
    # The series falls back to its latest remaining value.
    assert [(s.last_period, s.last_value) for s in series] == [("2026-09", 7.0)]
    again = await post_set(client, auth, {"dataValues": [row(value="9")]})
    assert again.json()["response"]["importCount"]["imported"] == 1
    history = await client.get("/api/v1/observations/25741/YT-SOI/2026-10/revisions", headers=auth)
    assert history.status_code == 200, history.text
    assert [(r["revision"], r["old_value"], r["new_value"]) for r in history.json()] == [
        (2, 1.0, 2.0),
        (3, 2.0, None),
    ]


async def test_delete_of_a_series_last_value_forgets_the_series(
    client: httpx.AsyncClient,
    district_key: str,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    auth = bearer(district_key)
    await post_set(client, auth, {"dataValues": [row()]})
    response = await post_set(client, auth, {"dataValues": [row()]}, importStrategy="DELETE")
    assert response.status_code == 200
    assert response.json()["response"]["importCount"]["deleted"] == 1
    assert await count(session_factory, SeriesState) == 0
    assert await count(session_factory, Observation) == 0


async def test_repeated_and_unchanged_values_count_as_updates(
    client: httpx.AsyncClient, district_key: str
) -> None:
    auth = bearer(district_key)
    first = await post_set(client, auth, {"dataValues": [row(value="1"), row(value="2")]})
    assert first.json()["response"]["importCount"] == {
        "imported": 1,
        "updated": 1,
        "ignored": 0,
        "deleted": 0,
    }
    again = await post_set(client, auth, {"dataValues": [row(value=2)]})
    assert again.json()["response"]["importCount"]["updated"] == 1


async def test_an_empty_set_imports_nothing(client: httpx.AsyncClient, district_key: str) -> None:
    response = await post_set(client, bearer(district_key), {"dataSet": "pBOMPrpg1QX"})
    assert response.status_code == 200
    assert response.json()["response"]["importCount"] == {
        "imported": 0,
        "updated": 0,
        "ignored": 0,
        "deleted": 0,
    }


async def test_delete_of_a_value_marked_for_follow_up(
    client: httpx.AsyncClient, district_key: str, mint_key: MintKey
) -> None:
    """No foreign key ties a follow-up to its observation (observations are partitioned on
    PostgreSQL): the value goes, and its follow-up with it from every list."""
    auth = bearer(district_key)
    operator = bearer(await mint_key(DISTRICT, Scope.COVERAGE_READ))
    await post_set(client, auth, {"dataValues": [row()]})
    marked = await client.put(
        "/api/v1/observations/25741/YT-SOI/2026-10/follow-up",
        json={"follow_up": True, "note": "kiểm tra"},
        headers=operator,
    )
    assert marked.status_code == 200, marked.text
    response = await post_set(client, auth, {"dataValues": [row()]}, importStrategy="DELETE")
    assert response.status_code == 200, response.text
    listed = await client.get("/api/v1/follow-ups", params={"state": "any"}, headers=operator)
    assert listed.json()["items"] == []


async def test_a_deletion_is_seen_by_the_baseline_of_the_next_value(
    client: httpx.AsyncClient,
    district_key: str,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    # Twelve months of 10, 12, 14: October 2026's baseline is median 12, MAD 2, n 12.
    auth = bearer(district_key)
    months = [f"{2025 + (9 + i) // 12}{(9 + i) % 12 + 1:02d}" for i in range(12)]
    year = [row(period=p, value=str((10, 12, 14)[i % 3])) for i, p in enumerate(months)]
    assert (await post_set(client, auth, {"dataValues": year})).status_code == 200
    first = await post_set(client, auth, {"dataValues": [row(value="1000")]})
    assert first.json()["response"]["importCount"]["imported"] == 1
    # Three months deleted, then October changed: it is judged against the nine left.
    gone = [row(period=p, value=None) for p in months[:3]]
    deleted = await post_set(client, auth, {"dataValues": gone}, importStrategy="DELETE")
    assert deleted.json()["response"]["importCount"]["deleted"] == 3
    await post_set(client, auth, {"dataValues": [row(value="1001")]})
    async with session_factory() as session:
        flags = (await session.execute(select(OutlierFlag.value, OutlierFlag.n))).all()
    assert sorted(flags) == [(1000.0, 12), (1001.0, 9)]
