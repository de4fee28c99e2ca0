"""The outbox (``ioc_hub.webhooks.outbox.publish``) writes in the caller's transaction: what
commits is delivered, what rolls back is never sent."""

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ioc_hub.models import WebhookDelivery, WebhookMessage
from ioc_hub.webhooks.outbox import publish
from tests.conftest import bearer
from tests.webhooks.helpers import publish_now, receiver, until


class Abandoned(Exception):
    """The caller's change failed after it published."""


async def _count(sessions: async_sessionmaker[AsyncSession], model: type[object]) -> int:
    async with sessions() as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


async def _publish_then_fail(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session, session.begin():
        await publish(session, "alert.firing", {"rolled_back": True})
        assert await session.scalar(select(func.count(WebhookDelivery.id))) == 1
        raise Abandoned


async def test_a_rolled_back_transaction_sends_nothing(
    client: httpx.AsyncClient,
    hooks_admin: str,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with receiver(client, hooks_admin) as hook:
        with pytest.raises(Abandoned):
            await _publish_then_fail(session_factory)
        # A committed one after it arrives; the rolled-back one never existed.
        await publish_now(session_factory, "alert.resolved", {"rolled_back": False})
        [line] = await until(hook.delivered)
    assert line["data"] == {"rolled_back": False}
    assert hook.lines == [line]
    assert await _count(session_factory, WebhookMessage) == 1


async def test_nothing_is_written_when_no_enabled_endpoint_wants_the_type(
    client: httpx.AsyncClient,
    hooks_admin: str,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with receiver(client, hooks_admin, ["alert.resolved"]) as hook:
        await publish_now(session_factory, "alert.firing", {"n": 1})
        await client.patch(
            f"/api/v1/webhooks/{hook.webhook['id']}",
            json={"enabled": False},
            headers=bearer(hooks_admin),
        )
        await publish_now(session_factory, "alert.resolved", {"n": 2})
    assert await _count(session_factory, WebhookMessage) == 0
    assert await _count(session_factory, WebhookDelivery) == 0


async def test_one_message_goes_to_every_endpoint_under_one_webhook_id(
    client: httpx.AsyncClient,
    hooks_admin: str,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with receiver(client, hooks_admin) as first, receiver(client, hooks_admin) as second:
        await publish_now(session_factory, "outlier.flagged", {"score": 4.2})
        [a] = await until(first.delivered)
        [b] = await until(second.delivered)
    assert a == b
    assert await _count(session_factory, WebhookMessage) == 1
