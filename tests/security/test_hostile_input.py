"""Hostile input, by hand (issue 7): deep nesting, ten thousand bad rows, bytes that are not
UTF-8, control characters and SQL in codes, NUL wherever a client string reaches a query, huge
numbers and impossible periods. Each gets a clean 4xx (or a row rejection with its reason),
never a 5xx, and leaves every table as it was."""

import asyncio
import json
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ioc_hub.models import Base, Observation, Rejection, Scope
from tests.conftest import ROOMY_MAX_BATCH, Clock, MintKey, bearer

NOW = "2026-11-28T10:00:00+00:00"
DAILY = "DVC-HS-TIEP-NHAN"  # daily, 0..20000
RATE = "DVC-TY-LE-TRUC-TUYEN"  # monthly, 0..100
UNBOUNDED = "THU-NSNN-NOI-DIA"  # monthly, min 0, no max, open data
GOOD_ROW = {"unit": "25741", "indicator": DAILY, "value": 3, "period": "2026-11-26"}

Auth = dict[str, str]


@pytest.fixture
async def admin(admin_token: str, clock: Clock) -> Auth:
    clock.set(NOW)
    return bearer(admin_token)


@pytest.fixture
async def commune(seeded: None, mint_key: MintKey, clock: Clock) -> Auth:
    clock.set(NOW)
    return bearer(await mint_key("25741", Scope.OBSERVATIONS_WRITE, Scope.AGGREGATES_READ))


async def table_counts(factory: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    async with factory() as session:
        return {
            table.name: await session.scalar(select(func.count()).select_from(table)) or 0
            for table in Base.metadata.sorted_tables
        }


def assert_clean_4xx(response: httpx.Response, what: object = "") -> None:
    assert 400 <= response.status_code < 500, (what, response.status_code, response.text[:300])
    assert response.headers["content-type"] == "application/problem+json", what
    assert response.json()["status"] == response.status_code, what


async def send(
    client: httpx.AsyncClient, method: str, path: str, auth: Auth, body: Any = None
) -> httpx.Response:
    content = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    headers = {**auth, "content-type": "application/json"}
    return await client.request(method, path, content=content, headers=headers)


# Every route that reads a JSON body, with something it would accept in `name`.
BODY_ROUTES = [
    ("POST", "/api/v1/observations"),
    ("POST", "/api/v1/imports"),
    ("POST", "/api/v1/heartbeat"),
    ("POST", "/api/v1/units"),
    ("PATCH", "/api/v1/units/25741"),
    ("POST", "/api/v1/keys"),
    ("POST", "/api/v1/indicator-groups"),
    ("POST", "/api/v1/indicators"),
    ("PATCH", f"/api/v1/indicators/{DAILY}"),
    ("POST", "/api/v1/obligations"),
]

DEPTH = 10_000
DEEP_BODIES = [
    b"[" * DEPTH + b"]" * DEPTH,
    b'{"a":' * DEPTH + b"1" + b"}" * DEPTH,
    b'{"observations": ' + b"[" * DEPTH + b"]" * DEPTH + b"}",
    b'{"name": ' + b'{"a":' * DEPTH + b"1" + b"}" * DEPTH + b"}",
]


async def test_ten_thousand_levels_of_nesting_are_a_4xx_everywhere(
    client: httpx.AsyncClient, admin: Auth, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    before = await table_counts(session_factory)
    for method, path in BODY_ROUTES:
        for body in DEEP_BODIES:
            response = await send(client, method, path, admin, body)
            assert_clean_4xx(response, (method, path, body[:20]))
    assert await table_counts(session_factory) == before


async def test_a_row_nested_past_the_serialiser_limit_is_rejected_like_any_bad_row(
    client: httpx.AsyncClient, commune: Auth
) -> None:
    nested = b"[" * 300 + b"]" * 300
    body = b'{"observations": [%s, {"indicator": "%s", "period": "2026-11-27", "value": %s}]}' % (
        json.dumps(GOOD_ROW).encode(),
        DAILY.encode(),
        nested,
    )
    response = await send(client, "POST", "/api/v1/observations", commune, body)
    assert response.status_code == 200
    assert response.json()["errors"][0]["reason"] == "value must be a number, not an array"


def bad_rows(count: int) -> tuple[list[Any], list[str]]:
    """``count`` rows, each bad in one of a dozen ways, and the reason each must get."""
    kinds: list[tuple[Any, str]] = [
        ({"indicator": "NOPE", "value": 1, "period": "2026-11-27"}, "unknown indicator 'NOPE'"),
        ({"indicator": RATE, "value": 140, "period": "2026-10"}, "value 140 above max 100"),
        ({"indicator": RATE, "value": -1, "period": "2026-10"}, "value -1 below min 0"),
        (
            {"indicator": DAILY, "value": 1, "observed_at": "2026-11-27T08:00:00"},
            "observed_at has no time zone",
        ),
        (
            {"indicator": DAILY, "value": 1, "period": "2026-11-29"},
            "period 2026-11-29 is in the future",
        ),
        (
            {"indicator": DAILY, "value": 1, "period": "2026-W54"},
            "period '2026-W54' is not a valid period: 2026 has 53 ISO weeks",
        ),
        (
            {"indicator": RATE, "value": 1, "period": "2026-13"},
            "period '2026-13' is not a valid period: month must be 01..12",
        ),
        ({"indicator": DAILY, "value": "1", "period": "2026-11-27"}, "value must be a number"),
        ({"indicator": DAILY, "period": "2026-11-27"}, "value is missing"),
        (
            {"indicator": DAILY, "value": 1, "period": "2026-11-27", "x": 1},
            "unexpected field 'x'",
        ),
        (
            {"unit": "25816", "indicator": DAILY, "value": 1, "period": "2026-11-27"},
            "unit 25816 is outside this key's area",
        ),
        ([1, 2, 3], "row must be an object, not an array"),
    ]
    rows = [kinds[i % len(kinds)][0] for i in range(count)]
    reasons = [kinds[i % len(kinds)][1] for i in range(count)]
    return rows, reasons


@pytest.mark.slow
async def test_ten_thousand_bad_rows_get_ten_thousand_reasons_and_store_nothing(
    roomy_client: httpx.AsyncClient,
    commune: Auth,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    rows, reasons = bad_rows(ROOMY_MAX_BATCH)
    response = await send(
        roomy_client, "POST", "/api/v1/observations", commune, {"observations": rows}
    )
    assert response.status_code == 422, response.text[:300]
    problem = response.json()
    assert problem["summary"]["rejected"] == ROOMY_MAX_BATCH
    errors = problem["summary"]["errors"]
    assert [e["index"] for e in errors] == list(range(ROOMY_MAX_BATCH))
    for error, reason in zip(errors, reasons, strict=True):
        assert reason in error["reason"], (error, reason)
    assert len(problem["errors"]) == ROOMY_MAX_BATCH
    assert problem["errors"][9_999]["field"] == "body.observations.9999"
    counts = await table_counts(session_factory)
    assert counts["observations"] == 0
    assert counts["observation_revisions"] == 0
    assert counts["series_state"] == 0
    assert counts["rejections"] == ROOMY_MAX_BATCH, "each bad row kept for operators"

    # One good row among them is stored (and with atomic=true, not even that).
    rows[5_000] = GOOD_ROW
    atomic = await roomy_client.post(
        "/api/v1/observations?atomic=true", json={"observations": rows}, headers=commune
    )
    assert atomic.status_code == 422
    assert (await table_counts(session_factory))["observations"] == 0
    mixed = await send(
        roomy_client, "POST", "/api/v1/observations", commune, {"observations": rows}
    )
    assert mixed.status_code == 200
    assert (mixed.json()["created"], mixed.json()["rejected"]) == (1, ROOMY_MAX_BATCH - 1)
    assert (await table_counts(session_factory))["observations"] == 1


async def test_bytes_that_are_not_utf8_are_a_4xx(
    client: httpx.AsyncClient, admin: Auth, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    before = await table_counts(session_factory)
    row = b'{"observations": [{"indicator": "%s", "value": 1, "period": "2026-11-27"}]}'
    bodies = [
        ("POST", "/api/v1/observations", row % b"\xff\xfe"),
        ("POST", "/api/v1/observations", row % b"\xc3\x28"),  # a broken two-byte sequence
        ("POST", "/api/v1/observations", row % b"\xed\xa0\x80"),  # an encoded surrogate
        ("POST", "/api/v1/observations", b"\xef\xbb\xbf" + row % DAILY.encode()),  # BOM
        ("POST", "/api/v1/observations", (row % DAILY.encode()).decode().encode("utf-16")),
        ("POST", "/api/v1/observations", row % b"\\ud800"),  # a lone surrogate, escaped
        ("POST", "/api/v1/units", b'{"code": "X1", "name": "\xff", "kind": "department"}'),
        ("POST", "/api/v1/units", b'{"code": "X1", "name": "\\udfff", "kind": "department"}'),
        ("POST", "/api/v1/heartbeat", b'{"unit": "\xc0\xaf"}'),
        ("POST", "/api/v1/keys", b'{"unit": "74", "name": "\xfe", "scopes": []}'),
        ("POST", "/api/v1/indicator-groups", b'{"code": "G1", "name": "\x80"}'),
    ]
    for method, path, body in bodies:
        assert_clean_4xx(await send(client, method, path, admin, body), (path, body[:40]))
    for path in [
        "/api/v1/units/%FF%FE",
        "/api/v1/units?parent=%C3%28",
        "/api/v1/observations?indicator=%ED%A0%80",
        f"/api/v1/observations/%FF/{DAILY}/2026-11-27/revisions",
        "/api/v1/staleness?group=%80",
    ]:
        assert_clean_4xx(await send(client, "GET", path, admin), path)
    not_a_token = await client.get("/api/v1/units", headers=[("Authorization", b"Bearer \xff\xfe")])
    assert not_a_token.status_code == 401
    after = await table_counts(session_factory)
    # The escaped lone surrogate is valid JSON: its row is refused like any bad row, and kept.
    assert after["rejections"] == before["rejections"] + 1
    assert {**after, "rejections": 0} == {**before, "rejections": 0}


# Strings a client may put where a code goes. NUL has a test of its own below.
HOSTILE_CODES = [
    "'; DROP TABLE units; --",
    "25741' OR '1'='1",
    '"; DELETE FROM observations; --',
    "25741; TRUNCATE access_keys",
    "%",
    "_",
    "\\",
    "*",
    "\x01\x02\x1b[31m",
    "\x7f",
    "\n\r\t",
    "\u202e14752",  # a right-to-left override before a reversed code
    "x" * 65,
]
NUL_CODES = ["\x00", "25741\x00", "\x00'; DROP TABLE units; --"]


def code_paths(code: str) -> list[tuple[str, str, Any]]:
    """Every route where ``code`` reaches a query through the path or the query string."""
    c = quote(code, safe="")
    return [
        ("GET", f"/api/v1/units/{c}", None),
        ("PATCH", f"/api/v1/units/{c}", {"name": "x"}),
        ("DELETE", f"/api/v1/units/{c}", None),
        ("GET", f"/api/v1/indicator-groups/{c}", None),
        ("GET", f"/api/v1/indicators/{c}", None),
        ("PATCH", f"/api/v1/indicators/{c}", {"name": "x"}),
        ("DELETE", f"/api/v1/indicators/{c}", None),
        ("GET", f"/api/v1/observations/{c}/{DAILY}/2026-11-27/revisions", None),
        ("GET", f"/api/v1/observations/25741/{c}/2026-11-27/revisions", None),
        ("GET", f"/api/v1/observations/25741/{DAILY}/{c}/revisions", None),
        ("GET", f"/open/v1/data/{c}", None),
        ("GET", f"/open/v1/data/{UNBOUNDED}?area={c}", None),
        ("GET", f"/open/v1/data/{UNBOUNDED}?from={c}", None),
        ("GET", f"/api/v1/units?parent={c}", None),
        ("GET", f"/api/v1/units?kind={c}", None),
        ("GET", f"/api/v1/keys?include_revoked={c}", None),
        ("GET", f"/api/v1/indicators?group={c}", None),
        ("GET", f"/api/v1/indicators?cadence={c}", None),
        ("GET", f"/api/v1/obligations?indicator={c}", None),
        ("GET", f"/api/v1/obligations?unit={c}", None),
        ("GET", f"/api/v1/observations?unit={c}", None),
        ("GET", f"/api/v1/observations?indicator={c}", None),
        ("GET", f"/api/v1/observations?from={c}", None),
        ("GET", f"/api/v1/observations?to={c}", None),
        ("GET", f"/api/v1/rejections?since={c}", None),
        ("GET", f"/api/v1/aggregates?indicator={c}", None),
        ("GET", f"/api/v1/aggregates?indicator={DAILY}&area={c}", None),
        ("GET", f"/api/v1/aggregates?indicator={DAILY}&from={c}", None),
        ("GET", f"/api/v1/aggregates?indicator={DAILY}&changed_since={c}", None),
        ("GET", f"/api/v1/coverage?district={c}", None),
        ("GET", f"/api/v1/coverage?area={c}", None),
        ("GET", f"/api/v1/coverage?at={c}", None),
        ("GET", f"/api/v1/staleness?unit={c}", None),
        ("GET", f"/api/v1/staleness?district={c}", None),
        ("GET", f"/api/v1/staleness?indicator={c}", None),
        ("GET", f"/api/v1/staleness?group={c}", None),
        ("GET", f"/api/v1/completeness?from=2026-01&to=2026-02&unit={c}", None),
        ("GET", f"/api/v1/completeness?from=2026-01&to=2026-02&district={c}", None),
        ("GET", f"/api/v1/completeness?from=2026-01&to=2026-02&indicator={c}", None),
        ("GET", f"/api/v1/completeness?from=2026-01&to=2026-02&group={c}", None),
        ("GET", f"/api/v1/completeness?from={c}&to=2026-02", None),
    ]


def code_bodies(code: str) -> list[tuple[str, str, Any]]:
    """Every route where ``code`` reaches a query through a JSON body (rows aside)."""
    unit = {"name": "x", "kind": "commune", "parent": "718"}
    indicator = {
        "name": "x",
        "group": "G-DVC",
        "cadence": "daily",
        "measurement_unit": "x",
        "time_aggregation": "sum",
        "area_aggregation": "sum",
    }
    return [
        ("POST", "/api/v1/keys", {"unit": code, "scopes": ["aggregates:read"]}),
        ("POST", "/api/v1/heartbeat", {"unit": code}),
        ("POST", "/api/v1/obligations", {"indicator": code, "unit": "74"}),
        ("POST", "/api/v1/obligations", {"indicator": DAILY, "unit": code}),
        ("POST", "/api/v1/units", {**unit, "code": code}),
        ("POST", "/api/v1/units", {**unit, "code": "X1", "parent": code}),
        ("PATCH", "/api/v1/units/25741", {"parent": code}),
        ("POST", "/api/v1/indicator-groups", {"code": code, "name": "x"}),
        ("POST", "/api/v1/indicators", {**indicator, "code": code}),
        ("POST", "/api/v1/indicators", {**indicator, "code": "X1", "group": code}),
    ]


async def test_sql_and_control_characters_in_codes_are_a_clean_4xx(
    client: httpx.AsyncClient, admin: Auth, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    before = await table_counts(session_factory)
    assert before["units"] == 128
    for code in [*HOSTILE_CODES, *NUL_CODES]:
        for method, path, body in code_paths(code) + code_bodies(code):
            response = await send(client, method, path, admin, body)
            assert_clean_4xx(response, (method, path, body))
    assert await table_counts(session_factory) == before


async def test_sql_and_control_characters_in_row_codes_are_rejected_with_reasons(
    client: httpx.AsyncClient, admin: Auth, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    rows: list[dict[str, Any]] = [GOOD_ROW]
    for code in HOSTILE_CODES:
        rows.append({**GOOD_ROW, "unit": code})
        rows.append({**GOOD_ROW, "indicator": code})
    response = await send(client, "POST", "/api/v1/observations", admin, {"observations": rows})
    assert response.status_code == 200, response.text
    summary = response.json()
    assert (summary["created"], summary["rejected"]) == (1, 2 * len(HOSTILE_CODES))
    for error in summary["errors"]:
        reason = error["reason"]
        assert reason.startswith(
            ("unknown unit ", "unknown indicator ", "unit is longer", "indicator is longer")
        ), reason
        assert reason.isprintable(), "a sender's control characters never reach a reason"
    counts = await table_counts(session_factory)
    assert (counts["units"], counts["observations"]) == (128, 1)
    assert counts["rejections"] == 2 * len(HOSTILE_CODES)


async def test_nul_in_a_row_code_rejects_that_row_only(
    client: httpx.AsyncClient,
    admin: Auth,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    rows = [GOOD_ROW, {**GOOD_ROW, "unit": "25741\x00"}, {**GOOD_ROW, "indicator": "\x00"}]
    response = await send(client, "POST", "/api/v1/observations", admin, {"observations": rows})
    assert response.status_code == 200, response.text
    assert [e["reason"] for e in response.json()["errors"]] == [
        "unknown unit '25741?'",
        "unknown indicator '?'",
    ]
    assert (await table_counts(session_factory))["observations"] == 1


async def test_nul_in_free_text_is_refused_on_either_engine_naming_the_field(
    client: httpx.AsyncClient, admin: Auth, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    """Names and descriptions are free text but for NUL, which PostgreSQL cannot store: the
    contract says so, and both engines refuse it the same way."""
    before = await table_counts(session_factory)
    created = await send(
        client, "POST", "/api/v1/units", admin, {"code": "X1", "name": "a\x00b", "kind": "ministry"}
    )
    renamed = await send(client, "PATCH", "/api/v1/units/25741", admin, {"name": "\x00"})
    key = await send(
        client,
        "POST",
        "/api/v1/keys",
        admin,
        {"unit": "74", "name": "\x00", "scopes": ["aggregates:read"]},
    )
    group = await send(
        client,
        "POST",
        "/api/v1/indicator-groups",
        admin,
        {"code": "G1", "name": "g", "description": "\x00"},
    )
    fields = ["body.name", "body.name", "body.name", "body.description"]
    for response, field in zip((created, renamed, key, group), fields, strict=True):
        assert_clean_4xx(response)
        assert response.status_code == 422
        [error] = response.json()["errors"]
        assert error["field"] == field
        assert "NUL" in error["reason"], error
    assert await table_counts(session_factory) == before


async def test_hostile_idempotency_keys(
    client: httpx.AsyncClient, admin: Auth, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    body = {"observations": [GOOD_ROW]}
    for key in ["a\x00b", "\x01", "a\tb", "\x7f", "x" * 201, ""]:
        response = await client.post(
            "/api/v1/observations", json=body, headers={**admin, "Idempotency-Key": key}
        )
        assert_clean_4xx(response, repr(key))
    assert (await table_counts(session_factory))["idempotency_records"] == 0

    # SQL and non-ASCII are just opaque text: stored, and replayed.
    for key in ["'; DROP TABLE idempotency_records; --", b"caf\xe9", "x" * 200]:
        headers = [*admin.items(), ("Idempotency-Key", key)]
        first = await client.post("/api/v1/observations", json=body, headers=headers)
        again = await client.post("/api/v1/observations", json=body, headers=headers)
        assert first.status_code == 200, first.text
        assert again.headers["idempotent-replayed"] == "true"
        assert again.content == first.content
    assert (await table_counts(session_factory))["idempotency_records"] == 3


async def test_nul_in_a_header_never_reaches_the_app(live_url: str, admin: Auth) -> None:
    where = urlsplit(live_url)
    async with asyncio.timeout(10):
        reader, writer = await asyncio.open_connection(where.hostname, where.port)
    try:
        writer.write(
            b"POST /api/v1/observations HTTP/1.1\r\nHost: hub\r\n"
            b"Authorization: " + admin["Authorization"].encode() + b"\r\n"
            b"Idempotency-Key: a\x00b\r\nContent-Length: 2\r\n\r\n{}"
        )
        await writer.drain()
        async with asyncio.timeout(10):
            answer = await reader.read(200)
    finally:
        writer.close()
    assert answer.startswith(b"HTTP/1.1 400"), answer


async def test_huge_numbers(
    client: httpx.AsyncClient, admin: Auth, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    def push_raw(value: bytes, period: str) -> bytes:
        return b'{"observations": [{"indicator": "%s", "period": "%s", "value": %s}]}' % (
            UNBOUNDED.encode(),
            period.encode(),
            value,
        )

    stored: list[tuple[bytes, float]] = [
        (b"1e300", 1e300),
        (b"9.99e299", 9.99e299),
        (b"1e-400", 0.0),
        (b"-0.0", 0.0),
    ]
    for month, (literal, value) in enumerate(stored, start=1):
        period = f"2026-{month:02d}"
        response = await send(
            client, "POST", "/api/v1/observations", admin, push_raw(literal, period)
        )
        assert response.status_code == 200, (literal, response.text)
        listed = await send(
            client,
            "GET",
            f"/api/v1/observations?indicator={UNBOUNDED}&from={period}&to={period}",
            admin,
        )
        assert listed.json()["items"][0]["value"] == value, literal

    # Finite but beyond what sums can hold, as a float or as a JSON integer a double can still
    # hold: refused row by row with the reason.
    beyond = [b"1e308", b"1.7976931348623157e308", b"1.1e300", b"-2e300"]
    for literal in [*beyond, b"1" + b"0" * 301, b"-" + b"9" * 305]:
        response = await send(
            client, "POST", "/api/v1/observations", admin, push_raw(literal, "2026-06")
        )
        assert response.status_code == 422, literal[:20]
        assert "beyond ±1e300" in response.json()["errors"][0]["reason"], response.text

    for literal in [b"1" + b"0" * 400, b"-" + b"9" * 400, b"1e400", b"-1e400", b"1" + b"0" * 5000]:
        response = await send(
            client, "POST", "/api/v1/observations", admin, push_raw(literal, "2026-06")
        )
        assert_clean_4xx(response, literal[:20])
    assert (await table_counts(session_factory))["observations"] == len(stored)

    indicator = (
        b'{"code": "X1", "name": "x", "group": "G-DVC", "cadence": "daily", '
        b'"measurement_unit": "x", "time_aggregation": "sum", "area_aggregation": "sum", %s}'
    )
    for field in [
        b'"min_value": 1' + b"0" * 400,
        b'"max_value": 1e400',
        b'"min_value": -1e400',
        b'"grace_seconds": 1' + b"0" * 400,
        b'"grace_seconds": 1' + b"0" * 5000,
        b'"min_value": 1e308, "max_value": -1e308',
    ]:
        response = await send(client, "POST", "/api/v1/indicators", admin, indicator % field)
        assert_clean_4xx(response, field[:30])
    huge = "1" + "0" * 400
    for path in [
        f"/api/v1/units?limit={huge}",
        "/api/v1/units?offset=100000000000000000000",
        f"/api/v1/units?offset={huge}",
        "/api/v1/units?offset=-1",
        "/api/v1/keys?offset=9223372036854775808",
        f"/api/v1/observations?offset={huge}",
        f"/api/v1/aggregates?indicator={DAILY}&limit={huge}",
    ]:
        assert_clean_4xx(await send(client, "GET", path, admin), path)
    for path in [f"/api/v1/keys/{huge}", "/api/v1/keys/100000000000000000000"]:
        assert_clean_4xx(await send(client, "DELETE", path, admin), path)
    assert_clean_4xx(await send(client, "DELETE", f"/api/v1/obligations/{huge}", admin))


async def test_an_aggregates_offset_beyond_64_bits_is_a_4xx(
    client: httpx.AsyncClient, admin: Auth
) -> None:
    response = await send(
        client, "GET", f"/api/v1/aggregates?indicator={DAILY}&offset=100000000000000000000", admin
    )
    assert_clean_4xx(response)


async def test_sums_of_the_largest_accepted_values_stay_finite(
    client: httpx.AsyncClient, admin: Auth
) -> None:
    for unit in ("25741", "25744"):
        row = {"unit": unit, "indicator": UNBOUNDED, "value": 1e300, "period": "2026-10"}
        pushed = await send(client, "POST", "/api/v1/observations", admin, {"observations": [row]})
        assert pushed.status_code == 200, pushed.text
    for path in [
        f"/api/v1/aggregates?indicator={UNBOUNDED}&from=2026-10&to=2026-10",
        f"/open/v1/data/{UNBOUNDED}?from=2026-10&to=2026-10",
    ]:
        response = await send(client, "GET", path, admin)
        assert response.status_code < 500, (path, response.text)


BAD_PERIODS = [
    "2026-W54",
    "2026-W00",
    "2026-13",
    "2026-00",
    "2026-02-30",
    "2026-Q5",
    "0000",
    "-2026",
    "1899",
    "10000",
    "9999-12-31",
    "２０２６-01-01",
    "2026-1",
    " 2026-11-27",
    "2026-11-27\n",
    "2026-11-27T00:00",
    "",
]


async def test_impossible_periods_in_rows_are_rejected_with_reasons(
    client: httpx.AsyncClient, admin: Auth, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    rows = [GOOD_ROW] + [{**GOOD_ROW, "period": period} for period in BAD_PERIODS]
    response = await send(client, "POST", "/api/v1/observations", admin, {"observations": rows})
    assert response.status_code == 200, response.text
    errors = response.json()["errors"]
    assert [e["index"] for e in errors] == list(range(1, len(rows)))
    for error in errors:
        assert error["reason"].startswith("period "), error
    assert (await table_counts(session_factory))["rejections"] == len(BAD_PERIODS)


async def test_impossible_periods_in_parameters_are_a_4xx(
    client: httpx.AsyncClient, admin: Auth
) -> None:
    for period in [*BAD_PERIODS, "9999-W52"]:
        p = quote(period, safe="")
        for path in [
            f"/api/v1/observations?from={p}",
            f"/api/v1/observations?indicator={DAILY}&to={p}",
            f"/api/v1/observations/25741/{DAILY}/{p}/revisions",
            f"/api/v1/aggregates?indicator={DAILY}&from={p}",
            f"/api/v1/completeness?from={p}&to={p}",
            f"/open/v1/data/{UNBOUNDED}?from={p}",
        ]:
            response = await send(client, "GET", path, admin)
            if period.startswith("9999"):
                # The last periods of the supported years are periods like any other, and
                # arithmetic past their end is refused (below): never a 5xx either way.
                assert response.status_code < 500, (path, response.text)
            else:
                assert_clean_4xx(response, path)


async def test_periods_at_the_end_of_time_are_a_4xx_not_a_5xx(
    client: httpx.AsyncClient, admin: Auth
) -> None:
    """Arithmetic past 9999-12-31 (a period's end) is refused as the request's fault."""
    for path in [
        f"/api/v1/observations?indicator={DAILY}&to=9999-12-31",
        "/api/v1/observations?to=9999",
        "/api/v1/observations?to=9999-W52",
        "/api/v1/completeness?from=9999-W52&to=9999-W52",
    ]:
        response = await send(client, "GET", path, admin)
        assert_clean_4xx(response, path)
        assert response.status_code == 422
        assert "9999" in response.json()["detail"]


async def test_rejected_rows_keep_hostile_text_inert(
    client: httpx.AsyncClient, admin: Auth, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    """What operators read back is the sender's text, escaped, not interpreted."""
    row = {"indicator": "'; DROP TABLE units; --", "value": 1, "period": "2026-11-27"}
    response = await send(client, "POST", "/api/v1/observations", admin, {"observations": [row]})
    assert response.status_code == 422
    listed = await send(client, "GET", "/api/v1/rejections", admin)
    item = listed.json()["items"][0]
    assert item["indicator"] == row["indicator"]
    assert json.loads(item["row"]) == row
    async with session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(Rejection)) == 1
        assert await session.scalar(select(func.count()).select_from(Observation)) == 0
    assert (await table_counts(session_factory))["units"] == 128
