"""Webhook endpoints and their deliveries, as the API manages them (docs/design.md §9,
Webhooks)."""

import base64
import secrets
from collections import defaultdict
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from ioc_hub.errors import Conflict, Invalid, NotFound
from ioc_hub.kit.pagination import AnySelect, Page, PageParams, count_rows
from ioc_hub.models import (
    DeliveryStatus,
    DisabledReason,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookMessage,
)
from ioc_hub.webhooks import addresses, outbox
from ioc_hub.webhooks.schemas import (
    AttemptOut,
    DeliveryOut,
    EventType,
    WebhookCreate,
    WebhookCreated,
    WebhookOut,
    WebhookUpdate,
)

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """A Standard Webhooks signing secret: ``whsec_`` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _out(endpoint: WebhookEndpoint) -> WebhookOut:
    return WebhookOut(
        id=endpoint.id,
        url=endpoint.url,
        event_types=sorted(EventType(t) for t in endpoint.event_type_set),
        description=endpoint.description,
        enabled=endpoint.enabled,
        disabled_reason=endpoint.disabled_reason,
        disabled_at=endpoint.disabled_at,
        failing_since=endpoint.failing_since,
        created_at=endpoint.created_at,
        updated_at=endpoint.updated_at,
    )


def _types(event_types: list[EventType]) -> str:
    return " ".join(sorted({t.value for t in event_types}))


async def _allowed(url: str, allow_private: bool) -> str:
    try:
        await addresses.check_registration(url, allow_private)
    except addresses.Refused as exc:
        raise Invalid(str(exc), field="body.url") from None
    return url


async def create_webhook(
    session: AsyncSession, data: WebhookCreate, now: datetime, *, allow_private: bool
) -> WebhookCreated:
    endpoint = WebhookEndpoint(
        url=await _allowed(str(data.url), allow_private),
        description=data.description,
        event_types=_types(data.event_types),
        secret=new_secret(),
        enabled=True,
        created_at=now,
        updated_at=now,
    )
    session.add(endpoint)
    await session.flush()
    return WebhookCreated(**_out(endpoint).model_dump(), secret=endpoint.secret)


async def list_webhooks(session: AsyncSession, page: PageParams) -> Page[WebhookOut]:
    query = select(WebhookEndpoint)
    endpoints = await session.scalars(page.window(query, WebhookEndpoint.id))
    return Page.of([_out(e) for e in endpoints], await count_rows(session, query), page)


async def _endpoint(session: AsyncSession, webhook_id: int) -> WebhookEndpoint:
    endpoint = await session.get(WebhookEndpoint, webhook_id)
    if endpoint is None:
        raise NotFound(f"webhook {webhook_id} does not exist", field="path.webhook_id")
    return endpoint


async def get_webhook(session: AsyncSession, webhook_id: int) -> WebhookOut:
    return _out(await _endpoint(session, webhook_id))


async def update_webhook(
    session: AsyncSession,
    webhook_id: int,
    data: WebhookUpdate,
    now: datetime,
    *,
    allow_private: bool,
) -> WebhookOut:
    endpoint = await _endpoint(session, webhook_id)
    if data.url is not None:
        endpoint.url = await _allowed(str(data.url), allow_private)
    if data.event_types is not None:
        endpoint.event_types = _types(data.event_types)
    if data.description is not None:
        endpoint.description = data.description
    if data.enabled is True and not endpoint.enabled:
        endpoint.enabled = True
        endpoint.disabled_reason = endpoint.disabled_at = endpoint.failing_since = None
        # What waited while it was disabled goes out now.
        outbox.wake_after_commit(session)
    elif data.enabled is False and endpoint.enabled:
        endpoint.enabled = False
        endpoint.disabled_reason = DisabledReason.OPERATOR
        endpoint.disabled_at = now
    endpoint.updated_at = now
    await session.flush()
    return _out(endpoint)


async def delete_webhook(session: AsyncSession, webhook_id: int) -> None:
    """Remove the endpoint with its deliveries and their attempts; nothing more is sent."""
    endpoint = await _endpoint(session, webhook_id)
    await session.execute(delete(WebhookEndpoint).where(WebhookEndpoint.id == endpoint.id))


async def _deliveries_out(
    session: AsyncSession, rows: list[tuple[WebhookDelivery, WebhookMessage]]
) -> list[DeliveryOut]:
    attempts: dict[int, list[AttemptOut]] = defaultdict(list)
    found = await session.scalars(
        select(WebhookAttempt)
        .where(WebhookAttempt.delivery_id.in_([d.id for d, _ in rows]))
        .order_by(WebhookAttempt.id)
    )
    for a in found:
        attempts[a.delivery_id].append(
            AttemptOut(
                attempted_at=a.attempted_at,
                duration_ms=a.duration_ms,
                status_code=a.status_code,
                error=a.error,
                manual=a.manual,
            )
        )
    return [
        DeliveryOut(
            id=d.id,
            message_id=m.message_id,
            event_type=m.event_type,
            status=DeliveryStatus(d.status),
            next_attempt_at=d.next_attempt_at if d.status == DeliveryStatus.PENDING else None,
            delivered_at=d.delivered_at,
            created_at=d.created_at,
            attempts=attempts[d.id],
        )
        for d, m in rows
    ]


def _deliveries_query(webhook_id: int) -> AnySelect:
    return (
        select(WebhookDelivery, WebhookMessage)
        .join(WebhookMessage, WebhookMessage.id == WebhookDelivery.message_id)
        .where(WebhookDelivery.endpoint_id == webhook_id)
    )


async def list_deliveries(
    session: AsyncSession, webhook_id: int, page: PageParams, status: DeliveryStatus | None
) -> Page[DeliveryOut]:
    """The endpoint's deliveries, newest first, each with its attempts."""
    await _endpoint(session, webhook_id)
    query = _deliveries_query(webhook_id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    rows = [(d, m) for d, m in await session.execute(page.window(query, WebhookDelivery.id.desc()))]
    return Page.of(await _deliveries_out(session, rows), await count_rows(session, query), page)


async def retry_delivery(
    session: AsyncSession, webhook_id: int, delivery_id: int, now: datetime
) -> DeliveryOut:
    """Send a delivery once more, now, whatever its state: a failed one gets one attempt, a
    pending one skips its wait, a delivered one goes out again under the same ``webhook-id``."""
    endpoint = await _endpoint(session, webhook_id)
    row = (
        await session.execute(
            _deliveries_query(webhook_id).where(WebhookDelivery.id == delivery_id)
        )
    ).first()
    if row is None:
        raise NotFound(
            f"webhook {webhook_id} has no delivery {delivery_id}", field="path.delivery_id"
        )
    if not endpoint.enabled:
        raise Conflict(
            f"webhook {webhook_id} is disabled: enable it first", field="path.webhook_id"
        )
    delivery, message = row
    delivery.status = DeliveryStatus.PENDING
    delivery.next_attempt_at = now
    delivery.manual = True
    await session.flush()
    outbox.wake_after_commit(session)
    return (await _deliveries_out(session, [(delivery, message)]))[0]
