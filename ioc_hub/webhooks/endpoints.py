from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response, status

from ioc_hub.access.dependencies import AUTH_RESPONSES, AlertsAdmin
from ioc_hub.deps import NowDep, SessionDep, SettingsDep
from ioc_hub.errors import BODY_LIMIT_RESPONSES, problem_doc
from ioc_hub.kit.pagination import Page, PageDep
from ioc_hub.models import DeliveryStatus
from ioc_hub.webhooks import service
from ioc_hub.webhooks.schemas import (
    DeliveryOut,
    WebhookCreate,
    WebhookCreated,
    WebhookOut,
    WebhookUpdate,
)

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"], responses=AUTH_RESPONSES)

WebhookId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The webhook's id")]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: problem_doc("No webhook has this id")}


@router.post(
    "",
    summary="Register a webhook",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_webhook",
    responses=BODY_LIMIT_RESPONSES,
)
async def create_webhook(
    body: WebhookCreate, session: SessionDep, settings: SettingsDep, now: NowDep, _: AlertsAdmin
) -> WebhookCreated:
    """Send notifications of the chosen types to a URL, signed (Standard Webhooks) with the
    secret in this answer, which is never shown again (scope `alerts:admin`)."""
    return await service.create_webhook(
        session, body, now, allow_private=settings.webhooks_allow_private
    )


@router.get("", summary="List webhooks", operation_id="list_webhooks")
async def list_webhooks(session: SessionDep, page: PageDep, _: AlertsAdmin) -> Page[WebhookOut]:
    """Every webhook, by id; secrets are never shown."""
    return await service.list_webhooks(session, page)


@router.get(
    "/{webhook_id}", summary="Get a webhook", operation_id="get_webhook", responses=NOT_FOUND
)
async def get_webhook(webhook_id: WebhookId, session: SessionDep, _: AlertsAdmin) -> WebhookOut:
    """One webhook, enabled or why not; its secret is never shown."""
    return await service.get_webhook(session, webhook_id)


@router.patch(
    "/{webhook_id}",
    summary="Update a webhook",
    operation_id="update_webhook",
    responses={**BODY_LIMIT_RESPONSES, **NOT_FOUND},
)
async def update_webhook(
    webhook_id: WebhookId,
    body: WebhookUpdate,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    _: AlertsAdmin,
) -> WebhookOut:
    """Change the URL, the event types or the label; disable it, or enable it again (what
    waited meanwhile is then sent)."""
    return await service.update_webhook(
        session, webhook_id, body, now, allow_private=settings.webhooks_allow_private
    )


@router.delete(
    "/{webhook_id}",
    summary="Delete a webhook",
    operation_id="delete_webhook",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=NOT_FOUND,
)
async def delete_webhook(webhook_id: WebhookId, session: SessionDep, _: AlertsAdmin) -> None:
    """Remove the webhook with its delivery log; nothing more is sent to it."""
    await service.delete_webhook(session, webhook_id)


@router.get(
    "/{webhook_id}/deliveries",
    summary="List a webhook's deliveries",
    operation_id="list_webhook_deliveries",
    responses=NOT_FOUND,
)
async def list_deliveries(
    webhook_id: WebhookId,
    session: SessionDep,
    page: PageDep,
    _: AlertsAdmin,
    delivery_status: Annotated[
        DeliveryStatus | None, Query(alias="status", description="Only deliveries in this state")
    ] = None,
) -> Page[DeliveryOut]:
    """Notifications sent or to send to this webhook, newest first, each with every attempt:
    when, how long, the status code or the error."""
    return await service.list_deliveries(session, webhook_id, page, delivery_status)


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/retry",
    summary="Send a delivery again",
    operation_id="retry_webhook_delivery",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        404: problem_doc("No webhook has this id, or it has no such delivery"),
        409: problem_doc("The webhook is disabled"),
    },
)
async def retry_delivery(
    webhook_id: WebhookId,
    delivery_id: Annotated[int, Path(ge=1, le=2**63 - 1, description="The delivery's id")],
    session: SessionDep,
    now: NowDep,
    _: AlertsAdmin,
) -> DeliveryOut:
    """Queue one more attempt at once, under the same `webhook-id` (a failed delivery, one
    still waiting for its next retry, or one delivered that the receiver lost)."""
    return await service.retry_delivery(session, webhook_id, delivery_id, now)
