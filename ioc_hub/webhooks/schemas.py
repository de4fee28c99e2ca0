"""What the webhook routes take and answer, and the notification types."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    StrictBool,
    UrlConstraints,
)

from ioc_hub.kit.params import TEXT_PATTERN
from ioc_hub.models import DeliveryStatus, DisabledReason


class EventType(StrEnum):
    """What a notification tells; an endpoint chooses the types it wants."""

    ALERT_FIRING = "alert.firing"
    ALERT_RESOLVED = "alert.resolved"
    OUTLIER_FLAGGED = "outlier.flagged"
    ENDPOINT_DISABLED = "endpoint.disabled"


def _no_credentials(url: HttpUrl) -> HttpUrl:
    # A password in the URL would be listed to every reader of the endpoint, and sent by
    # receivers' proxies to their logs: receivers authenticate the signature instead.
    if url.username is not None or url.password is not None:
        raise ValueError("a webhook URL must not carry credentials (user:password@)")
    return url


WebhookUrl = Annotated[
    HttpUrl,
    # UrlConstraints, not Field(max_length): pydantic before 2.11 applies the latter to a URL
    # object and fails.
    UrlConstraints(max_length=2000),
    AfterValidator(_no_credentials),
    Field(
        description="Where notifications are POSTed: http or https, no credentials, a public "
        "address unless the hub allows private ones (`IOC_HUB_WEBHOOKS_ALLOW_PRIVATE`)",
        examples=["https://ioc.binhduong.gov.vn/hooks/ioc-hub"],
    ),
]
EventTypes = Annotated[
    list[EventType],
    Field(min_length=1, max_length=len(EventType), description="The types to send"),
]
Description = Annotated[str, Field(max_length=200, pattern=TEXT_PATTERN)]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "url": "https://ioc.binhduong.gov.vn/hooks/ioc-hub",
                    "event_types": ["alert.firing", "alert.resolved"],
                    "description": "Operations room",
                }
            ]
        },
    )

    url: WebhookUrl
    event_types: EventTypes
    description: Description = Field(default="", description="A label for operators")


class WebhookUpdate(BaseModel):
    """Fields to change; absent ones stay. Enabling clears why it was disabled."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"enabled": True}]})

    url: WebhookUrl | None = None
    event_types: EventTypes | None = None
    description: Description | None = None
    enabled: StrictBool | None = None


class WebhookOut(BaseModel):
    """An endpoint as listed: never its secret."""

    id: int = Field(examples=[3])
    url: str = Field(examples=["https://ioc.binhduong.gov.vn/hooks/ioc-hub"])
    event_types: list[EventType] = Field(examples=[["alert.firing", "alert.resolved"]])
    description: str = Field(examples=["Operations room"])
    enabled: bool = Field(examples=[True])
    disabled_reason: DisabledReason | None = Field(
        examples=[None],
        description="`operator`: switched off here; `gone`: the receiver answered 410; "
        "`failing`: every attempt failed for five days",
    )
    disabled_at: datetime | None = None
    failing_since: datetime | None = Field(
        default=None, description="The first failed attempt since the last success"
    )
    created_at: datetime
    updated_at: datetime


class WebhookCreated(WebhookOut):
    """The one answer that carries the signing secret: it cannot be shown again."""

    secret: str = Field(
        examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
        description="Verifies `webhook-signature` (Standard Webhooks)",
    )


class EndpointDisabled(BaseModel):
    """`endpoint.disabled`: the hub stopped sending to a webhook by itself — it answered 410, or
    every attempt failed for five days. Sent to the other webhooks that want it and to the live
    stream; an operator enables it again with `PATCH /api/v1/webhooks/{id}`."""

    endpoint_id: int = Field(examples=[3], description="The webhook's id")
    host: str = Field(
        examples=["ioc.binhduong.gov.vn"],
        description="Its URL's host (a URL's path may hold a token, so it is not repeated)",
    )
    reason: DisabledReason = Field(examples=["gone"])
    failing_since: datetime | None = Field(description="Its first failure since it last answered")
    disabled_at: datetime


class AttemptOut(BaseModel):
    attempted_at: datetime
    duration_ms: int = Field(examples=[42])
    status_code: int | None = Field(examples=[500], description="Null: no answer")
    error: str | None = Field(examples=["HTTP 500"], description="Null on success")
    manual: bool = Field(examples=[False], description="Asked for by hand")


class DeliveryOut(BaseModel):
    """One notification to this endpoint, and every attempt at it, oldest first."""

    id: int = Field(examples=[812])
    message_id: str = Field(
        examples=["msg_2cQhbbDkWyVTwLkmn8Rp4kBVqAp"],
        description="Sent as the `webhook-id` header: the same in every attempt",
    )
    event_type: str = Field(examples=["alert.firing"])
    status: DeliveryStatus = Field(examples=["pending"])
    next_attempt_at: datetime | None = Field(description="Null unless pending")
    delivered_at: datetime | None = None
    created_at: datetime
    attempts: list[AttemptOut]
