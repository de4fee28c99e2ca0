"""POST /api/v1/imports (issue 6): an admin's backfill. Rows carry their past `received_at`,
are stored as `imported`, and move series state and unit contact to those times — forward only.
"""

from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ioc_hub.models import Observation, ObservationRevision, Scope, SeriesState, Unit, UnitContact
from tests.conftest import Clock, MintKey, bearer

NOW = "2026-11-28T10:00:00+00:00"
DAILY = "DVC-HS-TIEP-NHAN"  # daily, 0..20000; communes report it
COMMUNE = "25741"


@pytest.fixture
async def admin(seeded: None, mint_key: MintKey, clock: Clock) -> dict[str, str]:
    clock.set(NOW)
    return bearer(await mint_key("74", Scope.OBSERVATIONS_IMPORT, Scope.AGGREGATES_READ))


async def send(
    client: httpx.AsyncClient, auth: dict[str, str], rows: list[dict[str, Any]], **params: Any
) -> httpx.Response:
    headers = dict(auth)
    if "idempotency_key" in params:
        headers["Idempotency-Key"] = params.pop("idempotency_key")
    return await client.post(
        "/api/v1/imports", json={"observations": rows}, headers=headers, params=params
    )


def row(period: str, value: float, received_at: str, unit: str = COMMUNE) -> dict[str, Any]:
    return {
        "unit": unit,
        "indicator": DAILY,
        "value": value,
        "period": period,
        "received_at": received_at,
    }


async def state(
    factory: async_sessionmaker[AsyncSession], unit: str = COMMUNE
) -> tuple[SeriesState, UnitContact]:
    async with factory() as session:
        unit_id = await session.scalar(select(Unit.id).where(Unit.code == unit))
        series = (
            await session.scalars(select(SeriesState).where(SeriesState.unit_id == unit_id))
        ).one()
        contact = (
            await session.scalars(select(UnitContact).where(UnitContact.unit_id == unit_id))
        ).one()
    return series, contact


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


async def test_admin_import_stores_rows_as_imported_at_their_receipt_times(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    response = await send(
        client,
        admin,
        [
            row("2026-11-20", 5, "2026-11-21T08:00:00+07:00"),
            row("2026-11-21", 6, "2026-11-22T09:30:00+07:00"),
        ],
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "superseded": 0,
        "rejected": 0,
        "flagged": 0,
        "errors": [],
    }
    listed = await client.get(f"/api/v1/observations?unit={COMMUNE}", headers=admin)
    items = listed.json()["items"]
    assert [(i["period"], i["imported"], i["received_at"]) for i in items] == [
        ("2026-11-20", True, "2026-11-21T01:00:00Z"),
        ("2026-11-21", True, "2026-11-22T02:30:00Z"),
    ]
    assert all(i["first_received_at"] == i["received_at"] for i in items)


async def test_a_large_import_keeps_every_receipt_time(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """Receipt times with any offset, and fractions of a second, arrive unchanged."""
    first = date(2026, 1, 1)
    rows = [
        row(
            (first + timedelta(days=i)).isoformat(),
            i,
            f"{first + timedelta(days=i + 1)}T{i % 24:02d}:{i % 60:02d}:07.{i:06d}+0{i % 10}:30",
        )
        for i in range(100)
    ]
    response = await send(client, admin, rows)
    assert response.status_code == 200, response.text
    assert response.json()["created"] == len(rows)
    listed = await client.get(
        f"/api/v1/observations?unit={COMMUNE}&indicator={DAILY}&limit=100", headers=admin
    )
    items = listed.json()["items"]
    assert [(i["period"], utc(i["received_at"])) for i in items] == [
        (r["period"], utc(r["received_at"])) for r in rows
    ]


async def test_series_state_and_contact_take_the_imported_times(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await send(
        client,
        admin,
        [
            row("2026-11-21", 6, "2026-11-22T09:30:00+07:00"),
            # An older period received later: the latest period stays, the receipt moves on.
            row("2026-11-19", 4, "2026-11-23T07:00:00+07:00"),
            row("2026-11-20", 5, "2026-11-21T08:00:00+07:00"),
        ],
    )
    series, contact = await state(session_factory)
    assert series.last_period == "2026-11-21"
    assert series.last_value == 6
    assert series.last_received_at == utc("2026-11-23T07:00:00+07:00")
    assert contact.last_contact_at == utc("2026-11-23T07:00:00+07:00")
    assert contact.last_push_at == utc("2026-11-23T07:00:00+07:00")


async def test_an_older_import_never_moves_state_back(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    mint_key: MintKey,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    commune = bearer(await mint_key(COMMUNE, Scope.OBSERVATIONS_WRITE))
    live = await client.post(
        "/api/v1/observations",
        json={"observations": [{"indicator": DAILY, "value": 9, "period": "2026-11-27"}]},
        headers=commune,
    )
    assert live.status_code == 200, live.text
    response = await send(client, admin, [row("2026-11-10", 3, "2026-11-11T08:00:00+07:00")])
    assert response.json()["created"] == 1
    series, contact = await state(session_factory)
    assert (series.last_period, series.last_value) == ("2026-11-27", 9)
    assert series.last_received_at == utc(NOW)
    assert contact.last_contact_at == utc(NOW)


async def test_importing_over_a_value_keeps_a_revision_at_the_receipt_time(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await send(client, admin, [row("2026-11-20", 5, "2026-11-21T08:00:00+07:00")])
    again = await send(client, admin, [row("2026-11-20", 5, "2026-11-22T08:00:00+07:00")])
    assert again.json()["unchanged"] == 1
    changed = await send(client, admin, [row("2026-11-20", 7, "2026-11-23T08:00:00+07:00")])
    assert changed.json()["updated"] == 1
    async with session_factory() as session:
        revision = (await session.scalars(select(ObservationRevision))).one()
        stored = (await session.scalars(select(Observation))).one()
    assert (revision.old_value, revision.new_value, revision.revision) == (5, 7, 2)
    assert revision.old_received_at == utc("2026-11-21T08:00:00+07:00")
    assert revision.changed_at == utc("2026-11-23T08:00:00+07:00")
    assert stored.imported
    assert stored.received_at == utc("2026-11-23T08:00:00+07:00")
    assert stored.first_received_at == utc("2026-11-21T08:00:00+07:00")


@pytest.mark.parametrize(
    ("received_at", "reason"),
    [
        ("2026-11-28T10:00:01+00:00", "received_at 2026-11-28T10:00:01+00:00 is in the future"),
        ("2026-11-21T08:00:00", "received_at has no time zone"),
        ("last week", "received_at 'last week' is not an ISO 8601 time"),
        (None, "received_at is missing"),
        ("2026-11-19T23:00:00+07:00", "received_at 2026-11-19T23:00:00+07:00 is before period"),
    ],
)
async def test_bad_received_at_is_rejected_row_by_row(
    client: httpx.AsyncClient, admin: dict[str, str], received_at: str | None, reason: str
) -> None:
    bad = row("2026-11-20", 5, "unused")
    if received_at is None:
        del bad["received_at"]
    else:
        bad["received_at"] = received_at
    response = await send(client, admin, [row("2026-11-21", 6, "2026-11-22T08:00:00Z"), bad])
    assert response.status_code == 200, response.text
    summary = response.json()
    assert (summary["created"], summary["rejected"]) == (1, 1)
    assert summary["errors"][0]["index"] == 1
    assert reason in summary["errors"][0]["reason"]


async def test_received_before_observed_is_rejected(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    bad = {**row("2026-11-20", 5, "2026-11-20T09:00:00+07:00"), "period": None}
    bad["observed_at"] = "2026-11-20T10:00:00+07:00"
    del bad["period"]
    response = await send(client, admin, [bad])
    assert response.status_code == 422
    assert "is before observed_at" in response.json()["summary"]["errors"][0]["reason"]


@pytest.mark.parametrize(
    ("unit", "scopes"),
    [
        ("74", [Scope.OBSERVATIONS_WRITE, Scope.COVERAGE_READ, Scope.KEYS_ADMIN]),
        ("718", [Scope.OBSERVATIONS_IMPORT, Scope.OBSERVATIONS_WRITE]),
        (COMMUNE, [Scope.OBSERVATIONS_IMPORT]),
        ("DEPT-SYT", [Scope.OBSERVATIONS_IMPORT]),
    ],
)
async def test_only_province_keys_with_the_import_scope_may_import(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    mint_key: MintKey,
    session_factory: async_sessionmaker[AsyncSession],
    unit: str,
    scopes: list[Scope],
) -> None:
    other = bearer(await mint_key(unit, *scopes))
    response = await send(client, other, [row("2026-11-20", 5, "2026-11-21T08:00:00+07:00")])
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == "application/problem+json"
    async with session_factory() as session:
        assert (await session.scalars(select(Observation))).first() is None


async def test_import_without_a_key_is_401(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    response = await send(client, {}, [row("2026-11-20", 5, "2026-11-21T08:00:00+07:00")])
    assert response.status_code == 401


async def test_push_does_not_take_received_at(
    client: httpx.AsyncClient, mint_key: MintKey, admin: dict[str, str]
) -> None:
    writer = bearer(await mint_key("74", Scope.OBSERVATIONS_WRITE))
    response = await client.post(
        "/api/v1/observations",
        json={"observations": [row("2026-11-20", 5, "2026-11-21T08:00:00+07:00")]},
        headers=writer,
    )
    assert response.status_code == 422
    assert "unexpected field 'received_at'" in response.json()["summary"]["errors"][0]["reason"]


async def test_import_retries_replay_and_never_match_a_push(
    client: httpx.AsyncClient, mint_key: MintKey, clock: Clock, seeded: None
) -> None:
    clock.set(NOW)
    both = bearer(await mint_key("74", Scope.OBSERVATIONS_IMPORT, Scope.OBSERVATIONS_WRITE))
    rows = [row("2026-11-20", 5, "2026-11-21T08:00:00+07:00")]
    first = await send(client, both, rows, idempotency_key="backfill-1")
    again = await send(client, both, rows, idempotency_key="backfill-1")
    assert first.json()["created"] == 1
    assert again.headers["idempotent-replayed"] == "true"
    as_push = await client.post(
        "/api/v1/observations",
        json={"observations": rows},
        headers={**both, "Idempotency-Key": "backfill-1"},
    )
    assert as_push.status_code == 409


async def test_coverage_reads_the_imported_contact(
    client: httpx.AsyncClient, admin: dict[str, str], mint_key: MintKey
) -> None:
    await send(client, admin, [row("2026-11-27", 5, "2026-11-28T08:00:00+07:00")])
    operator = bearer(await mint_key("74", Scope.COVERAGE_READ))
    response = await client.get(
        "/api/v1/coverage", params={"kind": "commune", "limit": 1000}, headers=operator
    )
    assert response.status_code == 200, response.text
    unit = next(u for u in response.json()["units"]["items"] if u["code"] == COMMUNE)
    assert unit["connected"]
    assert unit["last_contact_at"] == "2026-11-28T01:00:00Z"
