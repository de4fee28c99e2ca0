"""Read-heavy routes on a real streaming standby (issue 18, docs/design.md §7, Read replica).

A primary and a standby of the test's own (``pg_basebackup -R -X stream``). One hub reads only
the primary, another the standby too: the second answers every read route as the first does,
from the standby while it keeps up, and from the primary, never with a 5xx, when the standby is
stopped or its replay is paused behind the bound.
"""

import asyncio
import contextlib
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from pydantic import ValidationError

from ioc_hub.access import service as access
from ioc_hub.app import create_app
from ioc_hub.config import Settings
from ioc_hub.models import Scope
from ioc_hub.registry import service as registry
from ioc_hub.replica import Replica
from ioc_hub.seed import seed_all
from tests.conftest import bearer
from tests.fixtures.database import PG_ENV, migrate
from tests.fixtures.private_postgres import Cluster, streaming_pair

MAX_LAG = 2.0
NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
DAILY = "DVC-HS-TIEP-NHAN"
OPEN_MONTHLY = "DVC-TY-LE-TRUC-TUYEN"
COMMUNES = ("25741", "25816", "25819")
NEW_DAY = "2026-11-25"

READS = (
    "/api/v1/coverage",
    "/api/v1/staleness?limit=50",
    "/api/v1/completeness?from=2026-10&to=2026-11&group_by=unit",
    f"/api/v1/aggregates?indicator={DAILY}&from=2026-10&to=2026-11&level=commune",
    f"/api/v1/outliers?indicator={DAILY}",
    "/api/v1/units?kind=commune&limit=20",
    f"/api/v1/observations?indicator={DAILY}&limit=200",
    f"/api/dataValueSets?dataElement={DAILY}&startDate=2026-10-01&endDate=2026-11-30"
    "&orgUnit=718&children=true",
    "/open/v1/catalog",
    f"/open/v1/data/{OPEN_MONTHLY}?from=2026-06&to=2026-10&level=district",
)
"""One call of every route that takes the read session."""

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Pair:
    primary: Cluster
    standby: Cluster
    database_url: str
    read_url: str
    reader: dict[str, str]
    writer: dict[str, str]


def daily_rows(day: date, days: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for n in range(days):
        period = (day + timedelta(days=n)).isoformat()
        for i, unit in enumerate(COMMUNES):
            # Steady values, and one far off: something for the outliers route to find.
            value = 900 if (unit, n) == (COMMUNES[0], days - 1) else 20 + i + n % 3
            rows.append({"unit": unit, "indicator": DAILY, "value": value, "period": period})
    return rows


def monthly_rows() -> list[dict[str, object]]:
    return [
        {"unit": unit, "indicator": OPEN_MONTHLY, "value": 60 + month, "period": f"2026-{month:02}"}
        for month in range(6, 11)
        for unit in COMMUNES
    ]


@contextlib.asynccontextmanager
async def hub(database_url: str, read_url: str | None = None) -> AsyncIterator[FastAPI]:
    settings = Settings(
        database_url=database_url,
        read_database_url=read_url,
        read_max_lag_seconds=MAX_LAG,
        alert_evaluator=False,
        webhooks_dispatcher=False,
    )
    app = create_app(settings)
    app.state.clock = lambda: NOW
    async with LifespanManager(app):
        app.state.clock = lambda: NOW
        yield app


@contextlib.asynccontextmanager
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as http:
        yield http


async def push(
    http: httpx.AsyncClient, auth: dict[str, str], rows: list[dict[str, object]]
) -> None:
    response = await http.post("/api/v1/observations", json={"observations": rows}, headers=auth)
    assert response.status_code == 200, response.text
    assert not response.json().get("rejected"), response.text


async def answers(http: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, tuple[int, str]]:
    found = {}
    for path in READS:
        response = await http.get(path, headers=auth)
        found[path] = (response.status_code, response.text)
    return found


async def reads_by_database(http: httpx.AsyncClient) -> dict[str, float]:
    text = (await http.get("/metrics")).text
    pattern = r'^ioc_hub_reads_total\{database="(\w+)"\} (\S+)$'
    return {database: float(count) for database, count in re.findall(pattern, text, re.M)}


async def caught_up(pair: Pair) -> None:
    """Until the standby has replayed everything the primary has flushed now."""
    position = await pair.primary.execute("SELECT pg_current_wal_flush_lsn()::text")
    replayed = f"SELECT pg_last_wal_replay_lsn() >= '{position}'::pg_lsn"
    async with asyncio.timeout(15):
        while not await pair.standby.execute(replayed):  # noqa: ASYNC110 (a query, no event)
            await asyncio.sleep(0.05)


async def until_fresh(replica: Replica) -> None:
    """Until the hub's watch has found the standby within the bound."""
    async with asyncio.timeout(15):
        while not replica.fresh:  # noqa: ASYNC110 (a watch's finding, no event)
            await asyncio.sleep(0.05)


@dataclass(frozen=True)
class Hubs:
    on_primary: httpx.AsyncClient
    """A hub without a replica."""
    on_standby: httpx.AsyncClient
    """A hub whose read routes use the standby."""
    replica: Replica
    """The second hub's standby."""


@contextlib.asynccontextmanager
async def hubs(pair: Pair) -> AsyncIterator[Hubs]:
    """Both hubs, with the standby caught up and in use."""
    await caught_up(pair)
    async with (
        hub(pair.database_url) as plain,
        hub(pair.database_url, pair.read_url) as read,
        client(plain) as on_primary,
        client(read) as on_standby,
    ):
        await until_fresh(read.state.replica)
        yield Hubs(on_primary, on_standby, read.state.replica)


@pytest.fixture(scope="module")
async def pair() -> AsyncIterator[Pair]:
    """The clusters, the hub's database migrated and seeded on the primary, with two months of
    daily values and five of an open monthly indicator."""
    if not os.environ.get(PG_ENV):
        pytest.skip(f"{PG_ENV} is not set: PostgreSQL tests skipped (.ci/run sets it)")
    async with streaming_pair() as (primary, standby):
        database_url = await primary.create_database("hub")
        await migrate(database_url)
        async with hub(database_url) as app:
            async with app.state.session_factory() as session, session.begin():
                await seed_all(session)
                province = await registry.get_unit(session, "74")
                reader = await access.mint_key(session, province, list(Scope), "reader")
                writer = await access.mint_key(
                    session, province, [Scope.OBSERVATIONS_WRITE], "writer"
                )
            writer_auth = bearer(writer.token)
            async with client(app) as http:
                await push(http, writer_auth, daily_rows(date(2026, 10, 1), 55))
                await push(http, writer_auth, monthly_rows())
        yield Pair(
            primary,
            standby,
            database_url,
            standby.url_of("hub"),
            bearer(reader.token),
            writer_auth,
        )


def test_a_replica_needs_postgresql() -> None:
    with pytest.raises(ValidationError, match="SQLite, which has no replicas"):
        Settings(
            database_url="sqlite+aiosqlite:///./hub.db",
            read_database_url="postgresql+asyncpg://postgres@127.0.0.1:5433/hub",
        )


async def test_reads_from_the_standby_answer_as_the_primary_does(pair: Pair) -> None:
    async with hubs(pair) as hub_pair:
        expected = await answers(hub_pair.on_primary, pair.reader)
        assert all(status == 200 for status, _ in expected.values()), expected
        assert await answers(hub_pair.on_standby, pair.reader) == expected
        assert await reads_by_database(hub_pair.on_standby) == {
            "replica": len(READS),
            "primary": 0,
        }
        assert await reads_by_database(hub_pair.on_primary) == {
            "replica": 0,
            "primary": len(READS),
        }

        # An idle primary is no lagging one: the standby stays in use past the bound.
        await asyncio.sleep(MAX_LAG + 1)
        assert await answers(hub_pair.on_standby, pair.reader) == expected
        assert (await reads_by_database(hub_pair.on_standby))["replica"] == 2 * len(READS)


async def watch_nothing() -> None:
    """A watch that finds nothing new, as between two real ones."""


async def test_a_stopped_standby_sends_reads_to_the_primary(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with hubs(pair) as hub_pair:
        on_standby, replica = hub_pair.on_standby, hub_pair.replica
        expected = await answers(hub_pair.on_primary, pair.reader)
        try:
            # The standby stops between two watches: the read that finds it gone is the one
            # that must go to the primary.
            with monkeypatch.context() as patched:
                patched.setattr(replica, "check", watch_nothing)
                await pair.standby.stop()
                assert replica.fresh
                before = await reads_by_database(on_standby)
                response = await on_standby.get(READS[0], headers=pair.reader)
                assert (response.status_code, response.text) == expected[READS[0]]
                after = await reads_by_database(on_standby)
                assert after["primary"] == before["primary"] + 1
                assert not replica.fresh
            # And from then on, with the watch finding it gone.
            assert await answers(on_standby, pair.reader) == expected
            assert not replica.fresh
        finally:
            await pair.standby.start()
        await until_fresh(replica)
        assert await answers(on_standby, pair.reader) == expected


async def test_a_standby_behind_the_bound_sends_reads_to_the_primary(pair: Pair) -> None:
    new_rows = [{"unit": COMMUNES[1], "indicator": DAILY, "value": 7, "period": NEW_DAY}]
    observations = f"/api/v1/observations?unit={COMMUNES[1]}&indicator={DAILY}&from={NEW_DAY}"
    on_standby_itself = f"SELECT count(*) FROM observations WHERE period = '{NEW_DAY}'"
    async with hubs(pair) as hub_pair:
        on_standby, replica = hub_pair.on_standby, hub_pair.replica
        await pair.standby.execute("SELECT pg_wal_replay_pause()")
        try:
            await push(hub_pair.on_primary, pair.writer, new_rows)
            # Within the bound the standby may still answer, without the new value; past it,
            # the primary does, with it.
            async with asyncio.timeout(MAX_LAG + 5):
                while True:
                    response = await on_standby.get(observations, headers=pair.reader)
                    assert response.status_code == 200, response.text
                    if response.json()["items"]:
                        break
                    await asyncio.sleep(0.1)
            assert not replica.fresh
            expected = await answers(hub_pair.on_primary, pair.reader)
            assert await answers(on_standby, pair.reader) == expected
            # The standby itself still lacks the value: those answers came from the primary.
            assert await pair.standby.execute(on_standby_itself, database="hub") == 0
        finally:
            await pair.standby.execute("SELECT pg_wal_replay_resume()")
        await caught_up(pair)
        await until_fresh(replica)
        assert await answers(on_standby, pair.reader) == expected
        assert await pair.standby.execute(on_standby_itself, database="hub") == 1
