"""Webhook endpoints and their outbox (docs/design.md §9, Webhooks).

A notification is one ``webhook_messages`` row (its body, signed afresh at every attempt) and
one ``webhook_deliveries`` row per endpoint it goes to; every try is a ``webhook_attempts``
row."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from ioc_hub.models.base import Base, BigId, UTCDateTime, one_of


class DisabledReason(StrEnum):
    OPERATOR = "operator"
    """Switched off through the API."""
    GONE = "gone"
    """The receiver answered 410 Gone."""
    FAILING = "failing"
    """Every attempt failed for ``webhooks_disable_after`` (five days by default)."""


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    """Every attempt of the retry schedule failed; only a retry by hand sends it again."""


class WebhookEndpoint(Base):
    """A receiver: its URL, the event types it wants, and the secret that signs for it. The
    secret is kept as given (signing needs it) and never listed or logged."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (
        CheckConstraint(
            f"disabled_reason IS NULL OR {one_of('disabled_reason', DisabledReason)}",
            name="disabled_reason",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2083))
    description: Mapped[str] = mapped_column(String(200))
    event_types: Mapped[str] = mapped_column(String(500))
    """Space-separated, as access keys keep their scopes."""
    secret: Mapped[str] = mapped_column(String(100))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    disabled_reason: Mapped[str | None] = mapped_column(String(20))
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """The first failed attempt since the last success; ``None`` while the endpoint answers."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
    # Set by every change the API makes (with the request's clock), never by the database.
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())

    @property
    def event_type_set(self) -> frozenset[str]:
        return frozenset(self.event_types.split())


class WebhookMessage(Base):
    """One notification: its ``webhook-id`` and the body every endpoint gets, byte for byte."""

    __tablename__ = "webhook_messages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[str] = mapped_column(String(40), unique=True)
    event_type: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WebhookDelivery(Base):
    """One message to one endpoint, until it is delivered or its retries run out.

    Due when pending, ``next_attempt_at`` has come and no process holds it: a dispatcher
    claims it by setting ``leased_until`` for the length of an attempt, so a process that dies
    mid-attempt lets it go when the lease runs out."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint(one_of("status", DeliveryStatus), name="status"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_endpoint", "endpoint_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_messages.id", ondelete="CASCADE"), index=True
    )
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(10))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    leased_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    manual: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    """The next attempt was asked for by hand."""
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WebhookAttempt(Base):
    """One try at a delivery: when, how long, and what came back."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    duration_ms: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(500))
    manual: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
