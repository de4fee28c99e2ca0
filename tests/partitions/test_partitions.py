"""Observations' yearly partitions (docs/design.md §11): made by the migration and ahead by the
hub, rows in their year's partition, any other year in the default one until the hub gives it
a partition. PostgreSQL only: SQLite keeps one plain table."""

import asyncio
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ioc_hub.models import Scope
from ioc_hub.partitions import service
from tests.conftest import Clock, MintKey, bearer

NOW = "2026-11-28T10:00:00+00:00"
DAILY = "DVC-HS-TIEP-NHAN"  # daily, 0..20000; communes report it
COMMUNE = "25741"


def postgresql_only(app: FastAPI) -> AsyncEngine:
    engine: AsyncEngine = app.state.engine
    if engine.dialect.name != "postgresql":
        pytest.skip("observations are partitioned on PostgreSQL only")
    return engine


@pytest.fixture
async def commune(seeded: None, mint_key: MintKey, clock: Clock) -> dict[str, str]:
    clock.set(NOW)
    return bearer(await mint_key(COMMUNE, Scope.OBSERVATIONS_WRITE, Scope.AGGREGATES_READ))


async def push(client: httpx.AsyncClient, auth: dict[str, str], *periods: str) -> None:
    rows = [{"indicator": DAILY, "value": 7, "period": p} for p in periods]
    response = await client.post("/api/v1/observations", json={"observations": rows}, headers=auth)
    assert response.status_code == 200, response.text


async def read_periods(client: httpx.AsyncClient, auth: dict[str, str]) -> set[str]:
    response = await client.get(
        "/api/v1/observations", params={"indicator": DAILY, "limit": 1000}, headers=auth
    )
    assert response.status_code == 200, response.text
    return {o["period"] for o in response.json()["items"]}


async def where_stored(engine: AsyncEngine) -> dict[str, str]:
    """Each stored period and the partition its row is in."""
    async with engine.connect() as connection:
        found = await connection.execute(
            text("SELECT period, tableoid::regclass::text FROM observations")
        )
        return {row.period: row.tableoid for row in found}


async def test_sqlite_keeps_one_plain_table(app: FastAPI) -> None:
    if app.state.engine.dialect.name != "sqlite":
        pytest.skip("the SQLite side of partitions")
    with pytest.raises(service.NotPartitioned, match="PostgreSQL only"):
        await service.list_partitions(app.state.engine)
    assert await service.ensure(app.state.engine, {1999}) == {1999}  # nothing to make


async def test_observations_are_partitioned_by_year_with_a_default(app: FastAPI) -> None:
    engine = postgresql_only(app)
    async with engine.connect() as connection:
        kind = await connection.scalar(
            text("SELECT relkind::text FROM pg_class WHERE relname = 'observations'")
        )
        key = await connection.scalar(
            text("SELECT pg_get_partkeydef(CAST('observations' AS regclass))")
        )
    assert (kind, key) == ("p", "RANGE (period_start)")
    partitions = {p.name: p.year for p in await service.list_partitions(engine)}
    year = datetime.now(UTC).year  # the hub started on the real clock
    assert partitions[f"observations_{year}"] == year
    assert partitions[f"observations_{year + 1}"] == year + 1
    assert partitions["observations_default"] is None


async def test_pushes_land_in_their_years_partition(
    app: FastAPI, client: httpx.AsyncClient, commune: dict[str, str]
) -> None:
    engine = postgresql_only(app)
    await service.ensure(engine, {2025})
    await push(client, commune, "2025-12-31", "2026-01-01", "2026-11-27")
    assert await where_stored(engine) == {
        "2025-12-31": "observations_2025",
        "2026-01-01": "observations_2026",
        "2026-11-27": "observations_2026",
    }
    # An update finds the row in its partition (the natural key names period_start).
    response = await client.post(
        "/api/v1/observations",
        json={"observations": [{"indicator": DAILY, "value": 9, "period": "2025-12-31"}]},
        headers=commune,
    )
    assert response.json()["updated"] == 1, response.text


async def test_a_year_without_partition_lands_at_once_and_gets_one(
    app: FastAPI, client: httpx.AsyncClient, commune: dict[str, str]
) -> None:
    engine = postgresql_only(app)
    assert "observations_2003" not in {p.name for p in await service.list_partitions(engine)}
    await push(client, commune, "2003-05-01")
    assert "2003-05-01" in await read_periods(client, commune)
    # The keeper, woken by the push, gives 2003 a partition and moves the row into it.
    async with asyncio.timeout(10):
        await app.state.partitions.settled()
    assert (await where_stored(engine))["2003-05-01"] == "observations_2003"
    assert "2003-05-01" in await read_periods(client, commune)


async def test_partitions_are_made_while_pushes_go_on(
    app: FastAPI, client: httpx.AsyncClient, commune: dict[str, str]
) -> None:
    """Passes take turns on the default partition's lock; pushes of the year wait a moment,
    none is refused or lost, and every row ends in the year's partition."""
    engine = postgresql_only(app)
    days = [f"2004-0{month}-{day:02}" for month in range(1, 7) for day in range(1, 11)]
    pushes = [push(client, commune, *days[i : i + 6]) for i in range(0, len(days), 6)]
    passes = [service.ensure(engine, {2004}) for _ in range(3)]
    await asyncio.gather(*pushes, *passes)
    await service.ensure(engine, set())  # whatever landed in the default after the passes
    stored = await where_stored(engine)
    assert {stored[d] for d in days} == {"observations_2004"}
    assert await read_periods(client, commune) >= set(days)


def run_cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "ioc_hub", *args],
        env={**os.environ, "IOC_HUB_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_cli_refuses_sqlite(tmp_path: Any) -> None:
    done = await asyncio.to_thread(
        run_cli, f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}", "partitions", "list"
    )
    assert done.returncode == 1
    assert "partitioned on PostgreSQL only" in done.stderr


async def test_reads_see_every_row_while_a_year_moves_out_of_the_default(
    app: FastAPI, client: httpx.AsyncClient, commune: dict[str, str]
) -> None:
    """A read running while the rows of a year move to its new partition finds each of them
    once: the move locks the table whole."""
    engine = postgresql_only(app)
    await push(client, commune, *[f"2026-10-{day:02}" for day in range(1, 31)])
    async with engine.begin() as connection:  # the same values twenty years back: the default
        await connection.execute(
            text(
                "INSERT INTO observations (unit_id, indicator_id, period, period_start, value, "
                "received_at, first_received_at) SELECT unit_id, indicator_id, "
                "'2006' || substr(period, 5), CAST(period_start - interval '20 years' AS date), "
                "value, received_at, first_received_at FROM observations"
            )
        )
    counts: list[int] = []
    moving = asyncio.create_task(service.ensure(engine, set()))
    while not moving.done():
        async with engine.connect() as connection:
            counts.append(
                await connection.scalar(
                    text("SELECT count(*) FROM observations WHERE period LIKE '2006-%'")
                )
                or 0
            )
    await moving
    assert set(counts) == {30}
    assert set((await where_stored(engine)).values()) == {"observations_2006", "observations_2026"}
