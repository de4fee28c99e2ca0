"""Delivery through a real HTTP receiver that verifies with the Standard Webhooks reference
library (issue 19): signed notifications, retries under one ``webhook-id``, a hanging receiver
that delays no other, a 410 that disables, and the delivery log."""

from datetime import datetime

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.webhooks.helpers import deliveries, publish_now, receiver, until


async def test_a_notification_arrives_signed_with_the_standard_shape(
    client: httpx.AsyncClient,
    hooks_admin: str,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with receiver(client, hooks_admin, ["alert.firing"]) as hook:
        await publish_now(session_factory, "alert.firing", {"rule": 7, "subject": "25741"})
        [line] = await until(hook.delivered)
    assert line["type"] == "alert.firing"
    assert line["data"] == {"rule": 7, "subject": "25741"}
    assert line["webhook_id"].startswith("msg_")
    assert datetime.fromisoformat(line["timestamp"]).tzinfo is not None
    [delivery] = await until(lambda: _delivered(client, hooks_admin, hook.webhook["id"]), within=10)
    assert delivery["webhook_id"] == line["webhook_id"]
    [attempt] = delivery["attempts"]
    assert attempt["status_code"] == 204
    assert attempt["error"] is None
    assert attempt["duration_ms"] >= 0


async def _delivered(client: httpx.AsyncClient, token: str, webhook_id: int) -> list[object]:
    found = await deliveries(client, token, webhook_id)
    return found if found and all(d["status"] == "delivered" for d in found) else []


async def test_only_endpoints_wanting_the_type_get_it(
    client: httpx.AsyncClient,
    hooks_admin: str,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with (
        receiver(client, hooks_admin, ["alert.firing"]) as firing,
        receiver(client, hooks_admin, ["outlier.flagged"]) as outliers,
    ):
        await publish_now(session_factory, "outlier.flagged", {"n": 1})
        await publish_now(session_factory, "alert.firing", {"n": 2})
        await until(lambda: firing.delivered() and outliers.delivered())
    assert [line["type"] for line in firing.delivered()] == ["alert.firing"]
    assert [line["type"] for line in outliers.delivered()] == ["outlier.flagged"]


async def test_a_receiver_failing_three_times_gets_it_under_the_same_webhook_id(
    client: httpx.AsyncClient,
    hooks_admin: str,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with receiver(client, hooks_admin, fail_first=3) as hook:
        await publish_now(session_factory, "alert.firing", {"rule": 1})
        await until(hook.delivered)
        [delivery] = await until(lambda: _delivered(client, hooks_admin, hook.webhook["id"]))
    lines = hook.lines
    assert [line["answered"] for line in lines] == [500, 500, 500, 204]
    assert len({line["webhook_id"] for line in lines}) == 1
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 500, 500, 204]
    assert [a["error"] for a in delivery["attempts"]] == ["HTTP 500"] * 3 + [None]
    webhook = await client.get(
        f"/api/v1/webhooks/{hook.webhook['id']}", headers={"Authorization": f"Bearer {hooks_admin}"}
    )
    assert webhook.json()["failing_since"] is None


async def test_a_hanging_receiver_delays_no_other(
    client: httpx.AsyncClient,
    hooks_admin: str,
    session_factory: async_sessionmaker[AsyncSession],
    app: FastAPI,
) -> None:
    timeout = app.state.settings.webhooks_timeout_seconds
    async with (
        receiver(client, hooks_admin, delay=60) as hanging,
        receiver(client, hooks_admin) as prompt,
    ):
        await publish_now(session_factory, "alert.firing", {"rule": 2})
        await until(prompt.delivered)
        # The hanging receiver has the notification and has not answered: its attempt is
        # still running, and the other endpoint was served meanwhile.
        assert await deliveries(client, hooks_admin, hanging.webhook["id"]) != []
        [pending] = await deliveries(client, hooks_admin, hanging.webhook["id"])
        assert pending["attempts"] == []
        [first, *_] = await until(
            lambda: _attempts(client, hooks_admin, hanging.webhook["id"]), within=timeout + 10
        )
    assert first["status_code"] is None
    assert first["error"] == f"no answer within {timeout:g} s"


async def _attempts(client: httpx.AsyncClient, token: str, webhook_id: int) -> list[object]:
    [delivery] = await deliveries(client, token, webhook_id)
    attempts: list[object] = delivery["attempts"]
    return attempts


async def test_a_410_disables_the_endpoint_and_tells_the_others(
    client: httpx.AsyncClient,
    hooks_admin: str,
    session_factory: async_sessionmaker[AsyncSession],
    app: FastAPI,
) -> None:
    events = app.state.stream.bus.subscribe(None, lambda event: True)
    try:
        async with (
            receiver(client, hooks_admin, ["alert.firing"], status=410) as gone,
            receiver(client, hooks_admin, ["endpoint.disabled"]) as watcher,
        ):
            await publish_now(session_factory, "alert.firing", {"rule": 3})
            [notice] = await until(watcher.delivered)
        event = await events.get(5)
    finally:
        events.close()
    webhook = (
        await client.get(
            f"/api/v1/webhooks/{gone.webhook['id']}",
            headers={"Authorization": f"Bearer {hooks_admin}"},
        )
    ).json()
    assert webhook["enabled"] is False
    assert webhook["disabled_reason"] == "gone"
    assert notice["type"] == "endpoint.disabled"
    assert notice["data"]["endpoint_id"] == gone.webhook["id"]
    assert notice["data"]["reason"] == "gone"
    assert notice["data"]["host"] == "127.0.0.1"
    assert event is not None
    assert event.type == "endpoint.disabled"
    # Disabled, it gets nothing more.
    assert [line["answered"] for line in gone.lines] == [410]
