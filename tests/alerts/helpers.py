"""Shared by the alert tests: rules over HTTP, passes at the test clock, the events they send."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from fastapi import FastAPI

from ioc_hub.alerts.schemas import AlertEvent
from ioc_hub.alerts.service import PassSummary
from ioc_hub.stream.bus import Event, Subscription

WITHIN = 10.0


async def create_rule(
    client: httpx.AsyncClient, auth: dict[str, str], condition: dict[str, Any], **fields: Any
) -> dict[str, Any]:
    body = {"name": f"watch {condition['kind']}", "condition": condition, **fields}
    response = await client.post("/api/v1/alert-rules", json=body, headers=auth)
    assert response.status_code == 201, response.text
    rule: dict[str, Any] = response.json()
    return rule


async def alerts(
    client: httpx.AsyncClient, auth: dict[str, str], **params: Any
) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/alerts", params={"limit": 1000, **params}, headers=auth)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def evaluate(app: FastAPI) -> PassSummary:
    """One pass at the app's (test) clock."""
    summary: PassSummary = await app.state.alerts.evaluate()
    return summary


@dataclass
class Notice:
    type: str
    data: dict[str, Any]


class Notices:
    """The ``alert.*`` events the app's stream carries, as a stream client would get them."""

    def __init__(self, subscription: Subscription) -> None:
        self._subscription = subscription

    async def next(self, within: float = WITHIN) -> Notice:
        async with asyncio.timeout(within):
            while True:
                event: Event | None = await self._subscription.get(within)
                if event is not None:
                    data = orjson.loads(event.data)
                    # The published shape, to the letter.
                    assert set(data) == set(AlertEvent.model_fields), data
                    AlertEvent.model_validate(data)
                    return Notice(event.type, data)

    async def take(self, count: int) -> list[Notice]:
        return [await self.next() for _ in range(count)]

    async def none(self, within: float = 0.5) -> None:
        event = await self._subscription.get(within)
        assert event is None, f"unexpected {event}"


@asynccontextmanager
async def notices(app: FastAPI) -> AsyncIterator[Notices]:
    bus = app.state.stream.bus
    subscription = bus.subscribe(None, lambda event: event.type.startswith("alert."))
    try:
        yield Notices(subscription)
    finally:
        subscription.close()
