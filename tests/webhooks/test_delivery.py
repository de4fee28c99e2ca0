"""Delivery through a real HTTP receiver that verifies with the Standard Webhooks reference
library (issue 19): signed notifications, retries under one ``webhook-id``, a hanging receiver
that delays no other, a 410 that disables, and the delivery log."""

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ioc_hub.access import service as access
from ioc_hub.app import create_app
from ioc_hub.config import Settings
from ioc_hub.models import Scope, WebhookEndpoint
from ioc_hub.registry import service as registry
from ioc_hub.seed import seed_all
from ioc_hub.stream.schemas import EVENT_MODELS
from tests.conftest import WEBHOOKS, bearer
from tests.fixtures.database import ENGINES, database_url_for
from tests.webhooks.helpers import deliveries, publish_now, receiver, settled, until


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
    [delivery] = await until(
        lambda: settled(client, hooks_admin, hook.webhook["id"], "delivered"), within=10
    )
    assert delivery["message_id"] == line["webhook_id"]
    [attempt] = delivery["attempts"]
    assert attempt["status_code"] == 204
    assert attempt["error"] is None
    assert attempt["duration_ms"] >= 0


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
        [delivery] = await until(
            lambda: settled(client, hooks_admin, hook.webhook["id"], "delivered")
        )
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
        [first, *_] = await until(
            lambda: _attempts(client, hooks_admin, hanging.webhook["id"]), within=timeout + 10
        )
        assert prompt.delivered()
        [delivered] = await until(
            lambda: settled(client, hooks_admin, prompt.webhook["id"], "delivered")
        )
    assert first["status_code"] is None
    assert first["error"] == f"no answer within {timeout:g} s"
    assert first["duration_ms"] >= timeout * 1000
    # The other endpoint was served while the hanging attempt still waited for its answer.
    [served] = delivered["attempts"]
    assert _ended(served) < _ended(first)


def _ended(attempt: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(attempt["attempted_at"]) + timedelta(
        milliseconds=attempt["duration_ms"]
    )


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
    assert (
        EVENT_MODELS[event.type].model_validate_json(event.data).model_dump(mode="json")
        == (notice["data"])
    )
    # Disabled, it gets nothing more.
    assert [line["answered"] for line in gone.lines] == [410]


async def test_five_days_of_failures_disable_the_endpoint(
    client: httpx.AsyncClient,
    hooks_admin: str,
    session_factory: async_sessionmaker[AsyncSession],
    app: FastAPI,
) -> None:
    async with receiver(client, hooks_admin, ["alert.firing"], status=503) as failing:
        # It has failed since before the limit; the next failure disables it.
        since = datetime.now(UTC) - app.state.settings.webhooks_disable_after - timedelta(hours=1)
        async with session_factory() as session, session.begin():
            endpoint = await session.get(WebhookEndpoint, failing.webhook["id"])
            assert endpoint is not None
            endpoint.failing_since = since
        await publish_now(session_factory, "alert.firing", {"rule": 4})
        webhook = await until(lambda: _disabled(client, hooks_admin, failing.webhook["id"]))
    assert webhook["disabled_reason"] == "failing"
    assert datetime.fromisoformat(webhook["failing_since"]) == since
    assert [line["answered"] for line in failing.lines] == [503]


async def test_failures_for_less_than_the_limit_leave_it_enabled(
    client: httpx.AsyncClient,
    hooks_admin: str,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with receiver(client, hooks_admin, ["alert.firing"], status=503) as failing:
        await publish_now(session_factory, "alert.firing", {"rule": 5})
        [delivery] = await until(
            lambda: settled(client, hooks_admin, failing.webhook["id"], "failed")
        )
    webhook = await client.get(
        f"/api/v1/webhooks/{failing.webhook['id']}", headers=bearer(hooks_admin)
    )
    assert webhook.json()["enabled"] is True
    assert webhook.json()["failing_since"] is not None
    # Every attempt of the schedule (five in the tests), then it stops.
    assert [a["status_code"] for a in delivery["attempts"]] == [503] * 5
    assert delivery["next_attempt_at"] is None


async def _disabled(client: httpx.AsyncClient, token: str, webhook_id: int) -> object:
    webhook = (await client.get(f"/api/v1/webhooks/{webhook_id}", headers=bearer(token))).json()
    return None if webhook["enabled"] else webhook


async def test_a_redirect_is_a_failure_and_is_not_followed(
    client: httpx.AsyncClient,
    hooks_admin: str,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with receiver(client, hooks_admin, ["alert.firing"], status=307) as moved:
        await publish_now(session_factory, "alert.firing", {"rule": 6})
        [delivery] = await until(
            lambda: settled(client, hooks_admin, moved.webhook["id"], "failed")
        )
    assert {a["error"] for a in delivery["attempts"]} == {"HTTP 307: redirects are not followed"}
    assert len(moved.lines) == len(delivery["attempts"])


async def test_a_failed_delivery_is_sent_again_by_hand(
    client: httpx.AsyncClient,
    hooks_admin: str,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    # Five attempts answered 500 (the whole schedule), then the receiver takes it.
    async with receiver(client, hooks_admin, ["alert.firing"], fail_first=5) as hook:
        await publish_now(session_factory, "alert.firing", {"rule": 8})
        [failed] = await until(lambda: settled(client, hooks_admin, hook.webhook["id"], "failed"))
        retried = await client.post(
            f"/api/v1/webhooks/{hook.webhook['id']}/deliveries/{failed['id']}/retry",
            headers=bearer(hooks_admin),
        )
        assert retried.status_code == 202, retried.text
        assert retried.json()["status"] == "pending"
        [delivered] = await until(
            lambda: settled(client, hooks_admin, hook.webhook["id"], "delivered")
        )
    assert [a["manual"] for a in delivered["attempts"]] == [False] * 5 + [True]
    assert delivered["attempts"][-1]["status_code"] == 204
    assert {line["webhook_id"] for line in hook.lines} == {failed["message_id"]}


async def test_retrying_by_hand_needs_an_enabled_webhook_and_its_own_delivery(
    client: httpx.AsyncClient,
    hooks_admin: str,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with (
        receiver(client, hooks_admin, ["alert.firing"]) as hook,
        receiver(client, hooks_admin, ["outlier.flagged"]) as other,
    ):
        await publish_now(session_factory, "alert.firing", {"rule": 9})
        [delivery] = await until(
            lambda: settled(client, hooks_admin, hook.webhook["id"], "delivered")
        )
    base = f"/api/v1/webhooks/{other.webhook['id']}/deliveries"
    elsewhere = await client.post(f"{base}/{delivery['id']}/retry", headers=bearer(hooks_admin))
    assert elsewhere.status_code == 404
    assert elsewhere.json()["errors"][0]["field"] == "path.delivery_id"
    await client.patch(
        f"/api/v1/webhooks/{hook.webhook['id']}",
        json={"enabled": False},
        headers=bearer(hooks_admin),
    )
    disabled = await client.post(
        f"/api/v1/webhooks/{hook.webhook['id']}/deliveries/{delivery['id']}/retry",
        headers=bearer(hooks_admin),
    )
    assert disabled.status_code == 409


@pytest.mark.parametrize("engine", ENGINES)
async def test_a_process_with_its_dispatcher_off_leaves_delivery_to_another(
    engine: str, tmp_path: Path
) -> None:
    async with contextlib.aclosing(database_url_for(engine, tmp_path)) as urls:
        url = await anext(urls)
        settings = Settings(database_url=url, alert_evaluator=False, **WEBHOOKS)
        writer = create_app(settings.model_copy(update={"webhooks_dispatcher": False}))
        async with LifespanManager(writer):
            sessions: async_sessionmaker[AsyncSession] = writer.state.session_factory
            async with sessions() as session, session.begin():
                await seed_all(session)
                province = await registry.get_unit(session, "74")
                token = (await access.mint_key(session, province, [Scope.ALERTS_ADMIN])).token
            transport = httpx.ASGITransport(app=writer)
            async with (
                httpx.AsyncClient(transport=transport, base_url="http://hub.test") as http,
                receiver(http, token, ["alert.firing"]) as hook,
            ):
                await publish_now(sessions, "alert.firing", {"rule": 4})
                await asyncio.sleep(5 * settings.webhooks_poll_seconds)
                assert hook.delivered() == []
                [pending] = await deliveries(http, token, hook.webhook["id"])
                assert pending["status"] == "pending"
                deliverer = create_app(settings)
                async with LifespanManager(deliverer):
                    [line] = await until(hook.delivered)
    assert line["data"] == {"rule": 4}
