"""Pushing data (docs/design.md §3): per-row validation with human reasons, natural-key upsert with
revisions, import summaries, atomic batches, idempotent retries, rejected rows kept."""

import asyncio
import itertools
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ioc_hub.models import Observation, ObservationRevision, Rejection, Scope, SeriesState
from tests.conftest import Clock, MintKey, bearer

# Fixed "now" for these tests: 2026-11-28 17:00 in Asia/Ho_Chi_Minh.
NOW = "2026-11-28T10:00:00+00:00"
DAILY = "DVC-HS-TIEP-NHAN"  # daily, sum/sum, 0..20000; communes report it
RATE = "DVC-TY-LE-TRUC-TUYEN"  # monthly, avg/avg, 0..100


@pytest.fixture
async def commune(seeded: None, mint_key: MintKey, clock: Clock) -> dict[str, str]:
    clock.set(NOW)
    return bearer(await mint_key("25741", Scope.OBSERVATIONS_WRITE, Scope.AGGREGATES_READ))


async def push(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    rows: list[dict[str, Any]],
    **params: Any,
) -> httpx.Response:
    headers = dict(auth)
    if "idempotency_key" in params:
        headers["Idempotency-Key"] = params.pop("idempotency_key")
    return await client.post(
        "/api/v1/observations", json={"observations": rows}, headers=headers, params=params
    )


async def count(factory: async_sessionmaker[AsyncSession], model: type) -> int:
    async with factory() as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


async def test_new_rows_are_created_and_defaults_apply(
    client: httpx.AsyncClient, commune: dict[str, str]
) -> None:
    response = await push(
        client,
        commune,
        [
            {"indicator": DAILY, "value": 12, "period": "2026-11-27"},
            {"indicator": DAILY, "value": 15, "observed_at": "2026-11-28T08:00:00+07:00"},
            {"indicator": RATE, "value": 76.5, "period": "202610"},
        ],
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "created": 3,
        "updated": 0,
        "unchanged": 0,
        "superseded": 0,
        "rejected": 0,
        "flagged": 0,
        "errors": [],
    }
    listed = await client.get(f"/api/v1/observations?indicator={DAILY}", headers=commune)
    rows = listed.json()["items"]
    assert [(r["unit"], r["period"], r["value"]) for r in rows] == [
        ("25741", "2026-11-27", 12.0),
        ("25741", "2026-11-28", 15.0),
    ]
    rate = await client.get(f"/api/v1/observations?indicator={RATE}", headers=commune)
    assert rate.json()["items"][0]["period"] == "2026-10", "DHIS2 alias stored canonically"


@pytest.mark.parametrize(
    ("filler", "idempotent"),
    [(0, False), (100, False), (100, True)],
    ids=["small", "large", "large-idempotent"],
)
async def test_values_and_times_are_stored_exactly(
    client: httpx.AsyncClient, commune: dict[str, str], filler: int, idempotent: bool
) -> None:
    """Every float comes back bit for bit and an observed_at with an odd offset is the same
    instant afterwards, in a small write and in a large one, with an Idempotency-Key or not."""
    values = [0.1, 1 / 3, 0.30000000000000004, 5e-324, 2.2250738585072014e-308, 19999.999999999996]
    rows: list[dict[str, Any]] = [
        {"indicator": DAILY, "value": v, "period": f"2026-11-{20 + i:02d}"}
        for i, v in enumerate(values)
    ]
    rows.append({"indicator": DAILY, "value": 7, "observed_at": "2026-11-27T23:59:59.5+07:06"})
    first = date(2026, 1, 1)
    rows += [
        {"indicator": DAILY, "value": i, "period": (first + timedelta(days=i)).isoformat()}
        for i in range(filler)
    ]
    params = {"idempotency_key": "exact-1"} if idempotent else {}
    response = await push(client, commune, rows, **params)
    assert response.status_code == 200, response.text
    assert response.json()["created"] == len(rows)
    listed = await client.get(
        f"/api/v1/observations?indicator={DAILY}&from=2026-11-01", headers=commune
    )
    items = listed.json()["items"]
    assert [r["value"] for r in items[: len(values)]] == values
    observed = items[-1]
    assert observed["period"] == "2026-11-27"
    assert datetime.fromisoformat(observed["observed_at"]) == datetime.fromisoformat(
        "2026-11-27T23:59:59.5+07:06"
    )


async def test_local_midnight_not_utc_decides_the_period(
    client: httpx.AsyncClient, commune: dict[str, str], clock: Clock
) -> None:
    clock.set("2026-12-01T03:00:00+00:00")
    response = await push(
        client, commune, [{"indicator": RATE, "value": 80, "observed_at": "2026-11-30T18:30:00Z"}]
    )
    assert response.status_code == 200, response.text
    stored = await client.get(f"/api/v1/observations?indicator={RATE}", headers=commune)
    assert stored.json()["items"][0]["period"] == "2026-12"


REJECTIONS = [
    ({"indicator": "nope", "value": 1, "period": "2026-11-27"}, "unknown indicator 'nope'"),
    ({"indicator": RATE, "value": 140, "period": "2026-10"}, "value 140 above max 100"),
    ({"indicator": RATE, "value": -1, "period": "2026-10"}, "value -1 below min 0"),
    (
        {"indicator": DAILY, "value": 1, "observed_at": "2026-11-27T08:00:00"},
        "observed_at has no time zone",
    ),
    ({"indicator": RATE, "value": 1, "period": "2027-01"}, "period 2027-01 is in the future"),
    (
        {"indicator": DAILY, "value": 1, "period": "2026-11-29"},
        "period 2026-11-29 is in the future",
    ),
    (
        {"indicator": DAILY, "value": 1, "period": "2026-11"},
        "period '2026-11' is a monthly period, expected daily",
    ),
    (
        {"indicator": DAILY, "value": 1, "period": "2026-W54"},
        "period '2026-W54' is not a valid period: 2026 has 53 ISO weeks",
    ),
    ({"indicator": RATE, "value": 1, "period": "2026-13"}, "month must be 01..12"),
    (
        {"unit": "25816", "indicator": DAILY, "value": 1, "period": "2026-11-27"},
        "unit 25816 is outside this key's area",
    ),
    (
        {"unit": "99999", "indicator": DAILY, "value": 1, "period": "2026-11-27"},
        "unknown unit '99999'",
    ),
    ({"indicator": DAILY, "value": "12", "period": "2026-11-27"}, "value must be a number"),
    ({"indicator": DAILY, "value": True, "period": "2026-11-27"}, "value must be a number"),
    ({"indicator": DAILY, "value": None, "period": "2026-11-27"}, "value is missing"),
    ({"indicator": DAILY, "value": 1}, "give period or observed_at"),
    ({"value": 1, "period": "2026-11-27"}, "indicator is missing"),
    (
        {"indicator": DAILY, "value": 1, "period": "2026-11-27", "colour": "red"},
        "unexpected field 'colour'",
    ),
    (
        {
            "indicator": DAILY,
            "value": 1,
            "period": "2026-11-26",
            "observed_at": "2026-11-27T10:00:00+07:00",
        },
        "falls in 2026-11-27, not in period 2026-11-26",
    ),
    ({"indicator": DAILY, "value": 1, "observed_at": "2026-12-05T10:00:00+07:00"}, "in the future"),
    ({"indicator": DAILY, "value": 1, "observed_at": "yesterday"}, "is not an ISO 8601 time"),
    (
        {
            "indicator": DAILY,
            "value": 1,
            "period": "2026-11-27",
            "observed_at": "1899-12-31T10:00Z",
        },
        "observed_at: ",
    ),
    ("not an object", "row must be an object, not a string"),
]


@pytest.mark.parametrize(("row", "reason"), REJECTIONS)
async def test_each_bad_row_is_rejected_with_its_reason_and_kept(
    client: httpx.AsyncClient,
    commune: dict[str, str],
    session_factory: async_sessionmaker[AsyncSession],
    row: Any,
    reason: str,
) -> None:
    good = {"indicator": DAILY, "value": 3, "period": "2026-11-26"}
    response = await push(client, commune, [good, row])
    assert response.status_code == 200, response.text
    summary = response.json()
    assert summary["created"] == 1
    assert summary["rejected"] == 1
    assert summary["errors"][0]["index"] == 1
    assert reason in summary["errors"][0]["reason"]
    assert await count(session_factory, Observation) == 1

    kept = await client.get("/api/v1/rejections", headers=commune)
    assert kept.status_code == 403, "rejections are for operators"


async def test_nan_and_infinity_literals_are_refused(
    client: httpx.AsyncClient, commune: dict[str, str]
) -> None:
    for literal in (b"NaN", b"Infinity", b"-Infinity", b"1e400"):
        body = b'{"observations": [{"indicator": "%s", "value": %s, "period": "2026-11-27"}]}' % (
            DAILY.encode(),
            literal,
        )
        response = await client.post(
            "/api/v1/observations",
            content=body,
            headers={**commune, "content-type": "application/json"},
        )
        assert response.status_code == 422, literal
        [error] = response.json()["errors"]
        assert error["field"] == "body.observations.0"
        assert error["reason"].endswith("is not a finite number"), error


async def test_operators_see_rejected_rows_with_reasons(
    client: httpx.AsyncClient, commune: dict[str, str], mint_key: MintKey
) -> None:
    await push(client, commune, [{"indicator": RATE, "value": 140, "period": "2026-10"}])
    operator = bearer(await mint_key("74", Scope.COVERAGE_READ))
    listed = await client.get("/api/v1/rejections", headers=operator)
    assert listed.status_code == 200
    item = listed.json()["items"][0]
    assert item["reason"] == "value 140 above max 100"
    assert item["indicator"] == RATE
    assert item["index"] == 0
    assert '"value":140' in item["row"]

    other_district = bearer(await mint_key("719", Scope.COVERAGE_READ))
    assert (await client.get("/api/v1/rejections", headers=other_district)).json()["total"] == 0


async def test_same_value_is_unchanged_new_value_is_a_revision(
    client: httpx.AsyncClient, commune: dict[str, str], clock: Clock
) -> None:
    row = {"indicator": DAILY, "value": 12, "period": "2026-11-27"}
    await push(client, commune, [row])
    same = await push(client, commune, [row])
    assert same.json()["unchanged"] == 1
    clock.set("2026-11-28T11:00:00+00:00")
    changed = await push(client, commune, [{**row, "value": 14}])
    assert changed.json()["updated"] == 1

    history = await client.get(
        f"/api/v1/observations/25741/{DAILY}/2026-11-27/revisions", headers=commune
    )
    assert history.status_code == 200
    [revision] = history.json()
    assert revision["old_value"] == 12
    assert revision["new_value"] == 14
    assert revision["revision"] == 2
    assert revision["old_received_at"] == "2026-11-28T10:00:00Z"
    assert revision["changed_at"] == "2026-11-28T11:00:00Z"
    current = await client.get(f"/api/v1/observations?indicator={DAILY}", headers=commune)
    obs = current.json()["items"][0]
    assert obs["value"] == 14
    assert obs["revision"] == 2
    assert obs["first_received_at"] == "2026-11-28T10:00:00Z"


async def test_repeated_key_in_one_batch_last_row_wins(
    client: httpx.AsyncClient, commune: dict[str, str]
) -> None:
    response = await push(
        client,
        commune,
        [
            {"indicator": DAILY, "value": 1, "period": "2026-11-27"},
            {"indicator": DAILY, "value": 2, "period": "20261127"},
        ],
    )
    assert response.json()["created"] == 1
    assert response.json()["superseded"] == 1
    stored = await client.get(f"/api/v1/observations?indicator={DAILY}", headers=commune)
    assert stored.json()["items"][0]["value"] == 2


async def test_atomic_batch_with_a_bad_row_writes_nothing(
    client: httpx.AsyncClient,
    commune: dict[str, str],
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    rows = [
        {"indicator": DAILY, "value": 1, "period": "2026-11-27"},
        {"indicator": RATE, "value": 140, "period": "2026-10"},
    ]
    response = await push(client, commune, rows, atomic="true")
    assert response.status_code == 422
    problem = response.json()
    assert problem["errors"] == [
        {"field": "body.observations.1", "reason": "value 140 above max 100"}
    ]
    assert problem["summary"]["rejected"] == 2
    assert "nothing was stored" in problem["detail"]
    assert await count(session_factory, Observation) == 0
    assert await count(session_factory, SeriesState) == 0
    assert await count(session_factory, Rejection) == 1, "the bad row is kept for operators"

    ok = await push(client, commune, rows[:1], atomic="true")
    assert ok.status_code == 200
    assert ok.json()["created"] == 1


async def test_batch_where_every_row_is_bad_is_422(
    client: httpx.AsyncClient, commune: dict[str, str]
) -> None:
    response = await push(client, commune, [{"indicator": "nope", "value": 1, "period": "2026"}])
    assert response.status_code == 422
    assert response.json()["summary"]["errors"][0]["reason"] == "unknown indicator 'nope'"


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        (b"{", "body", "not valid JSON"),
        (b"[]", "body", "valid dictionary or object"),
        (b'{"observations": []}', "body.observations", "at least one row"),
        (b'{"observations": {}}', "body.observations", "must be an array"),
        (b'{"rows": []}', "body.rows", "Extra inputs are not permitted"),
        (b"\xff\xfe", "body", "not valid JSON"),
    ],
)
async def test_malformed_bodies_are_422_with_the_field(
    client: httpx.AsyncClient, commune: dict[str, str], body: bytes, field: str, reason: str
) -> None:
    response = await client.post(
        "/api/v1/observations",
        content=body,
        headers={**commune, "content-type": "application/json"},
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "https://ioc-hub.dev/problems/invalid"
    [error] = [e for e in problem["errors"] if e["field"] == field]
    assert reason in error["reason"]


async def test_batch_above_max_batch_is_413(
    client: httpx.AsyncClient, commune: dict[str, str]
) -> None:
    rows = [{"indicator": DAILY, "value": 1, "period": "2026-11-27"}] * 501
    response = await push(client, commune, rows)
    assert response.status_code == 413
    assert "max_batch is 500" in response.json()["detail"]


async def test_idempotent_retry_replays_and_conflicting_body_is_409(
    client: httpx.AsyncClient,
    commune: dict[str, str],
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    rows = [{"indicator": DAILY, "value": 5, "period": "2026-11-27"}]
    first = await push(client, commune, rows, idempotency_key="batch-1")
    again = await push(client, commune, rows, idempotency_key="batch-1")
    assert first.json()["created"] == 1
    assert again.status_code == 200
    assert again.json() == first.json(), "the retry gets the first response, not 'unchanged'"
    assert again.headers["idempotent-replayed"] == "true"

    other = await push(client, commune, [{**rows[0], "value": 6}], idempotency_key="batch-1")
    assert other.status_code == 409
    assert "different request body" in other.json()["detail"]
    stored = await client.get(f"/api/v1/observations?indicator={DAILY}", headers=commune)
    assert stored.json()["items"][0]["value"] == 5
    assert await count(session_factory, ObservationRevision) == 0


async def test_concurrent_retries_with_one_idempotency_key_store_once(
    client: httpx.AsyncClient, commune: dict[str, str]
) -> None:
    rows = [{"indicator": DAILY, "value": 7, "period": "2026-11-27"}]
    answers = await asyncio.gather(
        *(push(client, commune, rows, idempotency_key="same") for _ in range(6))
    )
    assert {a.status_code for a in answers} == {200}
    assert {a.json()["created"] for a in answers} == {1}


async def test_concurrent_pushes_of_one_key_neither_duplicate_nor_lose_revisions(
    client: httpx.AsyncClient,
    commune: dict[str, str],
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    values = list(range(1, 13))
    answers = await asyncio.gather(
        *(
            push(client, commune, [{"indicator": DAILY, "value": v, "period": "2026-11-27"}])
            for v in values
        )
    )
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    assert sum(a.json()["created"] for a in answers) == 1
    assert sum(a.json()["updated"] for a in answers) == len(values) - 1
    assert await count(session_factory, Observation) == 1
    async with session_factory() as session:
        chain = (
            await session.execute(
                select(ObservationRevision.old_value, ObservationRevision.new_value).order_by(
                    ObservationRevision.revision
                )
            )
        ).all()
        current = await session.scalar(select(Observation.value))
    assert len(chain) == len(values) - 1
    # Every revision starts where the previous one ended: no change was lost.
    for (_, new), (old, _) in itertools.pairwise(chain):
        assert old == new
    assert chain[-1][1] == current


async def test_series_state_and_contact_follow_accepted_rows(
    client: httpx.AsyncClient,
    commune: dict[str, str],
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await push(
        client,
        commune,
        [
            {"indicator": DAILY, "value": 4, "period": "2026-11-27"},
            {"indicator": DAILY, "value": 3, "period": "2026-11-25"},
        ],
    )
    await push(client, commune, [{"indicator": DAILY, "value": 9, "period": "2026-11-20"}])
    async with session_factory() as session:
        state = (await session.scalars(select(SeriesState))).one()
    assert state.last_period == "2026-11-27", "an older period does not move the series back"
    assert state.last_value == 4


@pytest.mark.parametrize("idempotency_key", [None, "k"], ids=["one statement", "transaction"])
async def test_series_receipt_time_is_kept_to_the_second_for_earlier_periods(
    client: httpx.AsyncClient,
    commune: dict[str, str],
    clock: Clock,
    session_factory: async_sessionmaker[AsyncSession],
    idempotency_key: str | None,
) -> None:
    """RECEIPT_RESOLUTION: an earlier period received within a second of the series' receipt
    time does not rewrite the series; its latest period, a later one, or a second more do."""

    async def at(iso: str, period: str, value: float) -> tuple[str, float, datetime]:
        clock.set(iso)
        params = {"idempotency_key": f"{idempotency_key}-{iso}"} if idempotency_key else {}
        answer = await push(
            client, commune, [{"indicator": DAILY, "value": value, "period": period}], **params
        )
        assert answer.status_code == 200, answer.text
        async with session_factory() as session:
            state = (await session.scalars(select(SeriesState))).one()
        return state.last_period, state.last_value, state.last_received_at

    first = datetime.fromisoformat("2026-11-28T10:00:00+00:00")
    assert await at("2026-11-28T10:00:00+00:00", "2026-11-27", 4) == ("2026-11-27", 4, first)
    # An earlier period 0.9 s later: stored, but the series row stays as it was.
    assert await at("2026-11-28T10:00:00.900+00:00", "2026-11-20", 9) == ("2026-11-27", 4, first)
    # The latest period revised 0.1 s later: its value and time are the series' now.
    revised = datetime.fromisoformat("2026-11-28T10:00:01+00:00")
    assert await at("2026-11-28T10:00:01+00:00", "2026-11-27", 5) == ("2026-11-27", 5, revised)
    # An earlier period more than a second after that moves the receipt time.
    later = datetime.fromisoformat("2026-11-28T10:00:02.500+00:00")
    assert await at("2026-11-28T10:00:02.500+00:00", "2026-11-21", 7) == ("2026-11-27", 5, later)
    # A later period always moves the series, however soon.
    soon = datetime.fromisoformat("2026-11-28T10:00:02.600+00:00")
    assert await at("2026-11-28T10:00:02.600+00:00", "2026-11-28", 1) == ("2026-11-28", 1, soon)
    async with session_factory() as session:
        stored = await session.scalar(
            select(Observation.value).where(Observation.period == "2026-11-20")
        )
    assert stored == 9, "the earlier period's value itself is stored"


async def test_heartbeat_records_contact_only_inside_the_area(
    client: httpx.AsyncClient, commune: dict[str, str], mint_key: MintKey
) -> None:
    beat = await client.post("/api/v1/heartbeat", json={}, headers=commune)
    assert beat.status_code == 200
    assert beat.json() == {"unit": "25741", "last_contact_at": "2026-11-28T10:00:00Z"}
    outside = await client.post("/api/v1/heartbeat", json={"unit": "25816"}, headers=commune)
    assert outside.status_code == 403
    reader = bearer(await mint_key("25741", Scope.AGGREGATES_READ))
    assert (await client.post("/api/v1/heartbeat", json={}, headers=reader)).status_code == 403
    unknown = await client.post("/api/v1/heartbeat", json={"unit": "99999"}, headers=commune)
    assert unknown.status_code == 422, "a body naming no unit is invalid, not a missing resource"


async def test_a_heartbeat_without_a_body_is_the_key_s_unit(
    client: httpx.AsyncClient, commune: dict[str, str], clock: Clock
) -> None:
    clock.set("2026-11-28T11:00:00+00:00")
    for headers in (commune, {**commune, "content-type": "application/json"}):
        beat = await client.post("/api/v1/heartbeat", headers=headers)
        assert beat.status_code == 200, beat.text
        assert beat.json() == {"unit": "25741", "last_contact_at": "2026-11-28T11:00:00Z"}
    # JSON null is a body, and not an object: the contract refuses it (FastAPI >= 0.151).
    null = await client.post(
        "/api/v1/heartbeat",
        content=b"null",
        headers={**commune, "content-type": "application/json"},
    )
    assert null.status_code == 422, null.text


async def test_district_key_pushes_for_its_communes(
    client: httpx.AsyncClient, seeded: None, mint_key: MintKey, clock: Clock
) -> None:
    clock.set(NOW)
    district = bearer(await mint_key("718", Scope.OBSERVATIONS_WRITE))
    response = await push(
        client,
        district,
        [
            {"unit": "25741", "indicator": DAILY, "value": 1, "period": "2026-11-27"},
            {"indicator": DAILY, "value": 2, "period": "2026-11-27"},
            {"unit": "25816", "indicator": DAILY, "value": 3, "period": "2026-11-27"},
        ],
    )
    assert response.json()["created"] == 2
    assert response.json()["errors"] == [
        {"index": 2, "reason": "unit 25816 is outside this key's area"}
    ]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("indicator=nope", "query.indicator"),
        (f"indicator={DAILY}&from=2026-11", "query.from"),
        (f"indicator={DAILY}&from=2026-11-27&to=2026-11-01", "query.from"),
        ("unit=25816", "query.unit"),
        ("from=2026-W99", "query.from"),
    ],
)
async def test_bad_observation_filters_name_the_parameter(
    client: httpx.AsyncClient, commune: dict[str, str], query: str, field: str
) -> None:
    response = await client.get(f"/api/v1/observations?{query}", headers=commune)
    assert response.status_code in (403, 404, 422)
    assert response.json()["errors"][0]["field"] == field


async def test_observation_list_filters_by_period_range(
    client: httpx.AsyncClient, commune: dict[str, str]
) -> None:
    await push(
        client,
        commune,
        [{"indicator": DAILY, "value": d, "period": f"2026-11-{d:02d}"} for d in range(1, 28)],
    )
    ranged = await client.get(
        f"/api/v1/observations?indicator={DAILY}&from=2026-11-10&to=2026-11-12", headers=commune
    )
    assert [r["period"] for r in ranged.json()["items"]] == [
        "2026-11-10",
        "2026-11-11",
        "2026-11-12",
    ]
    paged = await client.get(
        f"/api/v1/observations?indicator={DAILY}&limit=10&offset=20", headers=commune
    )
    assert paged.json()["total"] == 27
    assert len(paged.json()["items"]) == 7


async def test_push_sees_registry_changes_at_once(
    client: httpx.AsyncClient, commune: dict[str, str], admin_token: str
) -> None:
    row = {"indicator": DAILY, "value": 1, "period": "2026-11-27"}
    assert (await push(client, commune, [row])).json()["created"] == 1
    deactivated = await client.delete(f"/api/v1/indicators/{DAILY}", headers=bearer(admin_token))
    assert deactivated.status_code == 200, deactivated.text
    refused = await push(client, commune, [{**row, "value": 2}])
    assert refused.status_code == 422
    assert refused.json()["summary"]["errors"][0]["reason"] == f"indicator {DAILY!r} is inactive"

    narrowed = await client.patch(
        f"/api/v1/indicators/{RATE}", json={"max_value": 50}, headers=bearer(admin_token)
    )
    assert narrowed.status_code == 200, narrowed.text
    over = await push(client, commune, [{"indicator": RATE, "value": 60, "period": "2026-10"}])
    assert over.json()["summary"]["errors"][0]["reason"] == "value 60 above max 50"


async def test_push_with_a_key_revoked_after_use_is_401(
    client: httpx.AsyncClient, commune: dict[str, str], admin_token: str
) -> None:
    row = {"indicator": DAILY, "value": 1, "period": "2026-11-27"}
    assert (await push(client, commune, [row])).status_code == 200
    keys = await client.get("/api/v1/keys", headers=bearer(admin_token))
    key_id = next(k["id"] for k in keys.json()["items"] if k["unit"] == "25741")
    await client.delete(f"/api/v1/keys/{key_id}", headers=bearer(admin_token))
    refused = await push(client, commune, [{**row, "value": 2}])
    assert refused.status_code == 401
    assert refused.json()["detail"] == "this key was revoked"
    again = await push(client, commune, [{**row, "value": 2}], idempotency_key="k")
    assert again.status_code == 401


async def test_push_after_the_keys_unit_is_deactivated_is_401(
    client: httpx.AsyncClient, commune: dict[str, str], admin_token: str
) -> None:
    row = {"indicator": DAILY, "value": 1, "period": "2026-11-27"}
    assert (await push(client, commune, [row])).status_code == 200
    assert (
        await client.delete("/api/v1/units/25741", headers=bearer(admin_token))
    ).status_code == 200
    refused = await push(client, commune, [{**row, "value": 2}])
    assert refused.status_code == 401
    assert "inactive" in refused.json()["detail"]


async def test_push_without_the_write_scope_is_403(
    client: httpx.AsyncClient, seeded: None, mint_key: MintKey
) -> None:
    reader = bearer(await mint_key("25741", Scope.AGGREGATES_READ))
    response = await push(client, reader, [{"indicator": DAILY, "value": 1, "period": "2026"}])
    assert response.status_code == 403
    assert "observations:write" in response.json()["detail"]
    assert (await push(client, {}, [{"indicator": DAILY, "value": 1}])).status_code == 401


async def test_push_reads_atomic_and_the_key_as_declared_parameters_would(
    client: httpx.AsyncClient,
    commune: dict[str, str],
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """The push route's query, header and key are declared parameters: what it accepts and
    refuses is what FastAPI's validation and the bearer scheme say."""
    good = [{"indicator": DAILY, "value": 3, "period": "2026-11-27"}]
    bad = [*good, {"indicator": "nope", "value": 1, "period": "2026-11-27"}]

    for value in ["maybe", "2", ""]:
        refused = await push(client, commune, good, atomic=value)
        assert refused.status_code == 422, (value, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in refused.json()["errors"]] == ["query.atomic"]
    assert await count(session_factory, Observation) == 0

    for value in ["true", "1", "yes", "on", "TRUE"]:
        atomic = await push(client, commune, bad, atomic=value)
        assert atomic.status_code == 422, (value, atomic.text)
        assert atomic.json()["summary"]["created"] == 0
    assert await count(session_factory, Observation) == 0
    for value in ["false", "0", "no", "off"]:
        partial = await push(client, commune, bad, atomic=value)
        assert partial.status_code == 200, (value, partial.text)
        assert partial.json()["rejected"] == 1

    token = commune["Authorization"].removeprefix("Bearer ")
    for authorization in [f"bearer {token}", f"BEARER   {token}"]:
        accepted = await push(client, {"Authorization": authorization}, good)
        assert accepted.status_code == 200, (authorization, accepted.text)
    for authorization in [f"Basic {token}", "Bearer", "Bearer ", token, ""]:
        refused = await push(client, {"Authorization": authorization}, good)
        assert refused.status_code == 401, (authorization, refused.text)
    assert (await push(client, {}, good)).status_code == 401


async def test_push_paths_answer_other_methods_as_before(
    client: httpx.AsyncClient, commune: dict[str, str]
) -> None:
    """Listing shares the push's path, and a method neither route takes is 405 as problem
    details."""
    listed = await client.get("/api/v1/observations", headers=commune)
    assert listed.status_code == 200, listed.text
    refused = await client.put("/api/v1/observations", headers=commune)
    assert refused.status_code == 405
    assert refused.headers["content-type"] == "application/problem+json"
    assert "POST" in refused.headers["allow"]
    assert (await client.get("/api/v1/imports", headers=commune)).status_code == 405
