"""GET /api/v1/stream (issue 6): Server-Sent Events of the key's area — `observations`,
`series`, `connection` — each with an id; `Last-Event-ID` resumes without loss."""

from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ioc_hub.models import Scope
from ioc_hub.stream.bus import CHANNEL
from ioc_hub.stream.schemas import EVENT_MODELS
from tests.conftest import Clock, MintKey, bearer
from tests.stream.sse import SSEvent, open_stream

NOW = "2026-11-28T10:00:00+00:00"  # 17:00 in the province: 2026-11-26 is the expected day
DAILY = "DVC-HS-TIEP-NHAN"  # daily; communes, districts and departments report it
COMMUNE = "25741"  # a commune of district 718
NEIGHBOUR = "25816"  # a commune of another district


@pytest.fixture
async def keys(seeded: None, mint_key: MintKey, clock: Clock) -> dict[str, dict[str, str]]:
    clock.set(NOW)
    return {
        "operator": bearer(await mint_key("74", Scope.COVERAGE_READ)),
        "district": bearer(await mint_key("718", Scope.COVERAGE_READ)),
        "writer": bearer(await mint_key("74", Scope.OBSERVATIONS_WRITE)),
        "admin": bearer(await mint_key("74", Scope.OBSERVATIONS_IMPORT)),
    }


async def push(
    client: httpx.AsyncClient, auth: dict[str, str], unit: str, *periods: str, value: float = 1
) -> None:
    rows = [{"unit": unit, "indicator": DAILY, "value": value, "period": p} for p in periods]
    response = await client.post("/api/v1/observations", json={"observations": rows}, headers=auth)
    assert response.status_code == 200, response.text


def about(unit: str, kind: str | None = None) -> Any:
    return lambda e: e.data.get("unit") == unit and (kind is None or e.type == kind)


def valid(event: SSEvent) -> SSEvent:
    """The event's data has the documented shape of its type."""
    EVENT_MODELS[event.type].model_validate(event.data)
    return event


async def test_a_push_shows_as_observations_series_and_connection_events(
    client: httpx.AsyncClient, keys: dict[str, dict[str, str]], live_url: str
) -> None:
    async with open_stream(live_url, keys["operator"]) as stream:
        await push(client, keys["writer"], COMMUNE, "2026-11-26", "2026-11-27")
        observations, _ = await stream.until(about(COMMUNE, "observations"))
        series = await stream.next()
        connection = await stream.next()

    assert valid(observations).data == {
        "unit": COMMUNE,
        "kind": "commune",
        "parent": "718",
        "at": "2026-11-28T10:00:00Z",
        "imported": False,
        "rows": 2,
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "indicators": [DAILY],
        "periods": ["2026-11-26", "2026-11-27"],
        "truncated": False,
    }
    assert valid(series).type == "series"
    assert series.data["indicator"] == DAILY
    assert series.data["cadence"] == "daily"
    assert (series.data["previous_period"], series.data["period"]) == (None, "2026-11-27")
    assert (series.data["previous_status"], series.data["status"]) == ("never", "fresh")
    assert valid(connection).type == "connection"
    assert connection.data["reason"] == "first_contact"
    assert connection.data["via"] == "push"
    assert connection.data["previous_contact_at"] is None
    assert connection.data["connection_window_seconds"] == 2 * 86_400
    ids = [int(e.id) for e in (observations, series, connection) if e.id is not None]
    assert len(ids) == 3
    assert ids == sorted(ids), "ids grow"
    assert len(set(ids)) == 3


async def test_series_events_only_when_the_latest_period_moves_forward(
    client: httpx.AsyncClient, keys: dict[str, dict[str, str]], live_url: str
) -> None:
    async with open_stream(live_url, keys["operator"]) as stream:
        await push(client, keys["writer"], COMMUNE, "2026-11-24")
        await stream.until(about(COMMUNE, "connection"))  # the first push's last event
        await push(client, keys["writer"], COMMUNE, "2026-11-20", value=5)  # older: no move
        await push(client, keys["writer"], COMMUNE, "2026-11-26", value=6)
        first, _ = await stream.until(about(COMMUNE, "observations"))
        second = await stream.next()
        moved = await stream.next()
    assert first.data["periods"] == ["2026-11-20"]
    assert second.type == "observations"
    assert second.data["periods"] == ["2026-11-26"]
    assert moved.type == "series"
    assert moved.data["previous_period"] == "2026-11-24"
    assert moved.data["previous_status"] == "stale"
    assert moved.data["status"] == "fresh"


async def test_a_district_key_never_sees_another_districts_events(
    client: httpx.AsyncClient, keys: dict[str, dict[str, str]], live_url: str
) -> None:
    async with (
        open_stream(live_url, keys["district"]) as district,
        open_stream(live_url, keys["operator"]) as province,
    ):
        await push(client, keys["writer"], NEIGHBOUR, "2026-11-27")
        await push(client, keys["writer"], "719", "2026-11-27")
        await push(client, keys["writer"], COMMUNE, "2026-11-27")
        seen_by_province, before = await province.until(about(COMMUNE))
        mine, seen_first = await district.until(about(COMMUNE))
    assert {e.data["unit"] for e in before} >= {NEIGHBOUR, "719"}
    assert all(e.data["unit"] in {COMMUNE, "718"} for e in [*seen_first, mine])
    assert mine.id == seen_by_province.id, "one event, one id, whoever reads it"


async def test_last_event_id_resumes_without_loss(
    client: httpx.AsyncClient, keys: dict[str, dict[str, str]], live_url: str
) -> None:
    async with open_stream(live_url, keys["operator"]) as stream:
        await push(client, keys["writer"], COMMUNE, "2026-11-25")
        last, _ = await stream.until(about(COMMUNE, "connection"))
    assert last.id is not None

    # While nobody listens.
    await push(client, keys["writer"], COMMUNE, "2026-11-26")
    await push(client, keys["writer"], NEIGHBOUR, "2026-11-26")

    async with open_stream(live_url, keys["operator"], last_event_id=last.id) as stream:
        await push(client, keys["writer"], COMMUNE, "2026-11-27")
        _, missed = await stream.until(
            lambda e: e.type == "observations" and e.data["periods"] == ["2026-11-27"]
        )
    ours = [(e.type, e.data["unit"], e.data.get("periods")) for e in missed]
    assert ours[:5] == [
        ("observations", COMMUNE, ["2026-11-26"]),
        ("series", COMMUNE, None),
        ("observations", NEIGHBOUR, ["2026-11-26"]),
        ("series", NEIGHBOUR, None),
        ("connection", NEIGHBOUR, None),
    ]
    ids = [int(e.id) for e in missed if e.id is not None]
    assert ids == sorted(ids)
    assert min(ids) > int(last.id)


@pytest.mark.parametrize("position", ["1", "not-an-id", "99999999999999999999"])
async def test_a_position_the_hub_cannot_resume_from_gets_a_reset(
    client: httpx.AsyncClient, keys: dict[str, dict[str, str]], live_url: str, position: str
) -> None:
    async with open_stream(live_url, keys["operator"], last_event_id=position) as stream:
        reset = await stream.next()
        await push(client, keys["writer"], COMMUNE, "2026-11-27")
        live, _ = await stream.until(about(COMMUNE, "observations"))
    assert reset.type == "reset"
    assert reset.id is None
    assert "cannot resume" in valid(reset).data["reason"]
    assert live.id is not None


async def test_contact_after_a_silence_longer_than_the_window_is_a_reconnection(
    client: httpx.AsyncClient, keys: dict[str, dict[str, str]], live_url: str, clock: Clock
) -> None:
    async with open_stream(live_url, keys["operator"]) as stream:
        await push(client, keys["writer"], COMMUNE, "2026-11-27")
        first, _ = await stream.until(about(COMMUNE, "connection"))
        clock.set("2026-12-01T10:00:00+00:00")  # 4 days later; the window is 2 days
        beat = await client.post(
            "/api/v1/heartbeat", json={"unit": COMMUNE}, headers=keys["writer"]
        )
        assert beat.status_code == 200, beat.text
        back, _ = await stream.until(about(COMMUNE, "connection"))
        clock.set("2026-12-01T11:00:00+00:00")
        await client.post("/api/v1/heartbeat", json={"unit": COMMUNE}, headers=keys["writer"])
        await push(client, keys["writer"], COMMUNE, "2026-11-30")
        after, skipped = await stream.until(about(COMMUNE, "observations"))
    assert first.data["reason"] == "first_contact"
    assert valid(back).data["reason"] == "reconnected"
    assert back.data["via"] == "heartbeat"
    assert back.data["previous_contact_at"] == "2026-11-28T10:00:00Z"
    assert back.data["last_contact_at"] == "2026-12-01T10:00:00Z"
    assert not [e for e in skipped if e.type == "connection"], "an hour's silence changes nothing"
    assert after.data["periods"] == ["2026-11-30"]


async def test_imports_are_marked_and_connect_at_their_receipt_time(
    client: httpx.AsyncClient, keys: dict[str, dict[str, str]], live_url: str
) -> None:
    rows = [
        {
            "unit": COMMUNE,
            "indicator": DAILY,
            "value": 3,
            "period": "2026-11-20",
            "received_at": "2026-11-21T08:00:00+07:00",
        }
    ]
    async with open_stream(live_url, keys["operator"]) as stream:
        response = await client.post(
            "/api/v1/imports", json={"observations": rows}, headers=keys["admin"]
        )
        assert response.status_code == 200, response.text
        observations, _ = await stream.until(about(COMMUNE, "observations"))
        series = await stream.next()
        connection = await stream.next()
    assert observations.data["imported"] is True
    assert series.data["status"] == "stale"
    assert connection.data["via"] == "import"
    assert connection.data["last_contact_at"] == "2026-11-21T01:00:00Z"


async def test_the_stream_needs_coverage_read(
    client: httpx.AsyncClient, keys: dict[str, dict[str, str]]
) -> None:
    assert (await client.get("/api/v1/stream")).status_code == 401
    refused = await client.get("/api/v1/stream", headers=keys["writer"])
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"


async def test_a_lost_listener_reconnects_and_tells_subscribers_to_reload(
    client: httpx.AsyncClient,
    keys: dict[str, dict[str, str]],
    live_url: str,
    database_url: str,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("only PostgreSQL has a listener connection to lose")
    async with open_stream(live_url, keys["operator"]) as stream:
        async with session_factory() as session, session.begin():
            killed = await session.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND application_name = :name"
                ),
                {"name": f"ioc-hub {CHANNEL}"},
            )
        assert killed >= 1, "this app's listener (other apps of the session may listen too)"
        reset, _ = await stream.until(lambda e: e.type == "reset")
        await push(client, keys["writer"], COMMUNE, "2026-11-27")
        live, _ = await stream.until(about(COMMUNE, "observations"))
    assert "reconnected" in reset.data["reason"]
    assert live.id is not None
