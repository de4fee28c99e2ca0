"""The outbox: a notification is written in the transaction of the change that caused it, so
it is kept exactly when that change is, and the dispatcher delivers it after the commit
(docs/design.md §9, Webhooks)."""

import secrets
from collections.abc import Callable
from datetime import UTC, datetime

import orjson
from sqlalchemy import event, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from ioc_hub.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint, WebhookMessage

_ARMED = "ioc_hub.webhooks.outbox"
_wakers: set[Callable[[], None]] = set()


def on_commit(wake: Callable[[], None]) -> Callable[[], None]:
    """Call ``wake`` after each commit that wrote notifications in this process; returns the
    function that stops it (the dispatcher's way of delivering at once)."""
    _wakers.add(wake)
    return lambda: _wakers.discard(wake)


def _committed(session: Session) -> None:
    session.info.pop(_ARMED, None)
    for wake in list(_wakers):
        wake()


def new_message_id() -> str:
    """A ``webhook-id``: unique, and the same in every attempt at the message."""
    return "msg_" + secrets.token_urlsafe(21)


def body(event_type: str, at: datetime, data: dict[str, object]) -> str:
    """The Standard Webhooks payload, ``{type, timestamp, data}``, as sent."""
    payload = {"type": event_type, "timestamp": at, "data": data}
    return orjson.dumps(payload, option=orjson.OPT_UTC_Z).decode()


async def publish(session: AsyncSession, event_type: str, *data: dict[str, object]) -> None:
    """Write a notification of ``event_type`` for each of ``data`` to every enabled endpoint
    that wants it, in the caller's transaction: it commits or rolls back with the change that
    caused it.

    Each of ``data`` is a notification's ``data`` object (JSON-serialisable; datetimes are
    written in UTC). Nothing is written when no endpoint wants the type; a batch of values
    flagged at once costs the same few statements as one."""
    if not data:
        return
    endpoints = await session.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.event_types).where(WebhookEndpoint.enabled)
    )
    wanted = [id_ for id_, types in endpoints if event_type in types.split()]
    if not wanted:
        return
    now = datetime.now(UTC)
    message_ids = await session.scalars(
        insert(WebhookMessage).returning(WebhookMessage.id, sort_by_parameter_order=True),
        [
            {
                "message_id": new_message_id(),
                "event_type": event_type,
                "body": body(event_type, now, each),
                "created_at": now,
            }
            for each in data
        ],
    )
    await session.execute(
        insert(WebhookDelivery),
        [
            {
                "message_id": message_id,
                "endpoint_id": endpoint_id,
                "status": DeliveryStatus.PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for message_id in message_ids.all()
            for endpoint_id in wanted
        ],
    )
    wake_after_commit(session)


def wake_after_commit(session: AsyncSession) -> None:
    """Have this process's dispatcher look for due deliveries once ``session`` commits."""
    if _ARMED not in session.info:
        session.info[_ARMED] = True
        event.listen(session.sync_session, "after_commit", _committed, once=True)
