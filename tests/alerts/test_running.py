"""The evaluator running by itself in a hub: on its clock, and woken by ingest, off the request
path. A second app on the test database runs it (the test app leaves its evaluator off), on the
test clock."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from ioc_hub.app import create_app
from ioc_hub.config import Settings
from tests.alerts.helpers import alerts, create_rule
from tests.conftest import Clock, bearer
from tests.coverage.helpers import DAILY, push

SILENT = "DEPT-SNGV"
WITHIN = 10.0


@asynccontextmanager
async def running_hub(
    database_url: str, clock: Clock, interval: float
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    hub = create_app(Settings(database_url=database_url, alert_interval_seconds=interval))
    hub.state.clock = clock
    async with LifespanManager(hub):
        transport = httpx.ASGITransport(app=hub)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as http:
            yield hub, http


async def until(
    client: httpx.AsyncClient, auth: dict[str, str], done: Any, **params: Any
) -> list[dict[str, Any]]:
    """Poll the alerts until ``done(items)``."""
    async with asyncio.timeout(WITHIN):
        while True:
            items = await alerts(client, auth, **params)
            if done(items):
                return items
            await asyncio.sleep(0.05)


async def test_the_evaluator_runs_on_its_clock(
    app: FastAPI, database_url: str, client: httpx.AsyncClient, admin_token: str, clock: Clock
) -> None:
    auth = bearer(admin_token)
    await create_rule(client, auth, {"kind": "unit_silent", "unit": SILENT})
    async with running_hub(database_url, clock, interval=0.2) as (hub, _):
        [fired] = await until(client, auth, lambda items: len(items) == 1)
        assert (fired["state"], fired["repeats"]) == ("firing", 0)
        clock.now += timedelta(hours=4)  # time alone brings the reminder
        await until(client, auth, lambda items: items[0]["repeats"] == 1)
        assert hub.state.alerts.leading


async def test_a_push_wakes_the_evaluator_which_resolves_without_waiting_for_its_clock(
    app: FastAPI, database_url: str, client: httpx.AsyncClient, admin_token: str, clock: Clock
) -> None:
    auth = bearer(admin_token)
    await create_rule(client, auth, {"kind": "unit_silent", "unit": SILENT})
    async with running_hub(database_url, clock, interval=3600) as (hub, http):
        hub.state.alerts.wake()
        await until(client, auth, lambda items: len(items) == 1)
        rows = [{"unit": SILENT, "indicator": DAILY, "value": 1, "period": "2026-11-27"}]
        await push(http, auth, rows)
        [resolved] = await until(client, auth, lambda items: items[0]["state"] == "resolved")
        assert resolved["resolved_at"] is not None
