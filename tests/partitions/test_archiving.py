"""Detaching a year for archiving, and migration 0009 down and up again, each on a PostgreSQL
database of its own: a detached year would leave the shared test database changed."""

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from alembic import command
from alembic.script import ScriptDirectory
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from ioc_hub.access import service as access
from ioc_hub.app import create_app
from ioc_hub.config import Settings
from ioc_hub.migrate import alembic_config, upgrade
from ioc_hub.models import Scope
from ioc_hub.registry import service as registry
from ioc_hub.seed import seed_all
from tests.conftest import bearer
from tests.fixtures.database import create_database, drop_database, migrate

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
DAILY = "DVC-HS-TIEP-NHAN"  # daily, 0..20000; communes report it
COMMUNE = "25741"


@pytest.fixture
async def own_database(tmp_path: Path) -> AsyncIterator[str]:
    url = await create_database("postgresql", tmp_path)  # skips without PostgreSQL
    try:
        await migrate(url)
        yield url
    finally:
        await drop_database(url)


class Hub:
    def __init__(self, app: FastAPI, http: httpx.AsyncClient, auth: dict[str, str]) -> None:
        self.app, self.http, self.auth = app, http, auth

    async def push(self, period: str, value: float = 7) -> dict[str, Any]:
        row = {"indicator": DAILY, "value": value, "period": period}
        response = await self.http.post(
            "/api/v1/observations", json={"observations": [row]}, headers=self.auth
        )
        assert response.status_code == 200, response.text
        summary: dict[str, Any] = response.json()
        return summary

    async def periods(self) -> set[str]:
        response = await self.http.get(
            "/api/v1/observations", params={"indicator": DAILY}, headers=self.auth
        )
        assert response.status_code == 200, response.text
        return {o["period"] for o in response.json()["items"]}

    async def yearly(self) -> dict[str, tuple[float | None, int]]:
        """The commune's yearly aggregates of 2024 to 2026: (value, values reported)."""
        response = await self.http.get(
            "/api/v1/aggregates",
            params={"indicator": DAILY, "bucket": "yearly", "from": "2024", "to": "2026"},
            headers=self.auth,
        )
        assert response.status_code == 200, response.text
        return {a["period"]: (a["value"], a["reported"]) for a in response.json()["items"]}

    async def settled(self) -> None:
        async with asyncio.timeout(10):
            await self.app.state.partitions.settled()


@asynccontextmanager
async def running(url: str, *, seed: bool = False) -> AsyncIterator[Hub]:
    settings = Settings(database_url=url, alert_evaluator=False, webhooks_dispatcher=False)
    app = create_app(settings)
    async with LifespanManager(app):
        app.state.clock = lambda: NOW
        async with app.state.session_factory() as session, session.begin():
            if seed:
                await seed_all(session)
            unit = await registry.get_unit(session, COMMUNE)
            scopes = [Scope.OBSERVATIONS_WRITE, Scope.AGGREGATES_READ]
            token = (await access.mint_key(session, unit, scopes, "test")).token
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as http:
            yield Hub(app, http, bearer(token))


def ioc_hub(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ioc_hub", *args],
        env={**os.environ, "IOC_HUB_DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(ioc_hub, url, *args)


async def query(url: str, sql: str) -> list[Any]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            return list((await connection.execute(text(sql))).all())
    finally:
        await engine.dispose()


async def test_a_detached_year_leaves_reads_and_stays_in_a_table_of_its_own(
    own_database: str,
) -> None:
    url = own_database
    async with running(url, seed=True) as hub:
        for period in ("2024-03-01", "2025-07-01", "2026-11-27"):
            await hub.push(period)
        await hub.settled()

        listed = await cli(url, "partitions", "list", "--json")
        assert listed.returncode == 0, listed.stderr
        names = [p["name"] for p in orjson.loads(listed.stdout)]
        year = datetime.now(UTC).year  # the hub started on the real clock
        years = sorted({2024, 2025, NOW.year, NOW.year + 1, year, year + 1})
        assert names == [f"observations_{y}" for y in years] + ["observations_default"]

        refused = await cli(url, "partitions", "detach", str(datetime.now(UTC).year))
        assert refused.returncode == 1
        assert "still writes to it" in refused.stderr
        missing = await cli(url, "partitions", "detach", "2019")
        assert missing.returncode == 1
        assert "no partition observations_2019" in missing.stderr

        detached = await cli(url, "partitions", "detach", "2024")
        assert detached.returncode == 0, detached.stderr
        assert "pg_dump --table=observations_2024" in detached.stderr

        # Reads no longer see 2024, kept months included; the rest answers as before.
        assert await hub.periods() == {"2025-07-01", "2026-11-27"}
        assert await hub.yearly() == {"2024": (None, 0), "2025": (7, 1), "2026": (7, 1)}
        archived = await query(
            url,
            "SELECT period, relispartition FROM observations_2024, pg_class "
            "WHERE relname = 'observations_2024'",
        )
        assert [tuple(r) for r in archived] == [("2024-03-01", False)]

        # A late value of the archived year is not refused: the default partition keeps it.
        await hub.push("2024-03-02", value=5)
        await hub.settled()
        assert "2024-03-02" in await hub.periods()
        assert (await hub.yearly())["2024"] == (5, 1)  # counted once, alone
        stored = await query(
            url, "SELECT tableoid::regclass::text FROM observations WHERE period = '2024-03-02'"
        )
        assert [r[0] for r in stored] == ["observations_default"]


async def test_migration_down_and_up_again_keeps_every_observation(own_database: str) -> None:
    url = own_database
    async with running(url, seed=True) as hub:
        for period in ("2001-01-02", "2024-03-01", "2025-07-01", "2026-11-27"):
            await hub.push(period)
        await hub.push("2025-07-01", value=8)  # a revision
        await hub.settled()
    rows = "SELECT id, period, period_start, value, revision FROM observations ORDER BY id"
    kind = "SELECT relkind::text FROM pg_class WHERE relname = 'observations'"
    before = await query(url, rows)
    assert len(before) == 4

    settings = Settings(database_url=url)
    previous = ScriptDirectory.from_config(alembic_config(settings)).get_revision("0009")
    assert previous is not None
    await asyncio.to_thread(command.downgrade, alembic_config(settings), previous.down_revision)
    assert await query(url, kind) == [("r",)]
    assert await query(url, rows) == before
    follow_up_fk = await query(
        url,
        "SELECT conname FROM pg_constraint "
        "WHERE conname = 'fk_follow_ups_observation_id_observations'",
    )
    assert len(follow_up_fk) == 1

    await asyncio.to_thread(upgrade, settings)
    assert await query(url, kind) == [("p",)]
    assert await query(url, rows) == before
    partitions = await query(
        url,
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = CAST('observations' AS regclass) ORDER BY 1",
    )
    year = datetime.now(UTC).year
    years = sorted({2001, 2024, 2025, 2026, year, year + 1})
    assert [r[0] for r in partitions] == [f"observations_{y}" for y in years] + [
        "observations_default"
    ]

    async with running(url) as hub:
        # The id sequence went along (new ids follow the old), and the natural key still
        # finds the rows it updates.
        assert (await hub.push("2026-11-26"))["created"] == 1
        assert (await hub.push("2024-03-01", value=9))["updated"] == 1
    after = await query(url, rows)
    assert after[-1].id > before[-1].id
    assert {r.period: r.revision for r in after}["2024-03-01"] == 2
