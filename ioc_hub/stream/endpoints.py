from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.responses import StreamingResponse

from ioc_hub.access.dependencies import AUTH_RESPONSES, scoped
from ioc_hub.access.principal import Principal
from ioc_hub.kit.openapi import event_stream
from ioc_hub.models import Scope
from ioc_hub.stream import service
from ioc_hub.stream.schemas import EVENT_MODELS

Operator = Annotated[Principal, Depends(scoped(Scope.COVERAGE_READ))]

router = APIRouter(prefix="/api/v1", tags=["stream"], responses=AUTH_RESPONSES)


class EventStreamResponse(StreamingResponse):
    media_type = "text/event-stream"


@router.get(
    "/stream",
    summary="Live events (Server-Sent Events)",
    operation_id="stream_events",
    response_class=Response,
    responses={
        200: event_stream(
            EVENT_MODELS,
            "An endless `text/event-stream`: `observations`, `series` and `connection` events "
            "of units in the key's area, `alert.firing` / `alert.resolved` of alerts about "
            "them, and `endpoint.disabled` (a webhook the hub stopped sending to), each with an "
            "`id`; `reset` (no id) when events may have been missed; a comment line while idle",
        ),
    },
)
async def stream_events(
    request: Request,
    principal: Operator,
    last_event_id: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            max_length=64,
            description="Resume after this event (EventSource sends it when it reconnects)",
        ),
    ] = None,
) -> EventStreamResponse:
    """What happens in the key's area as it happens: accepted batches, series moving forward,
    units (re)connecting, alerts firing and resolving. Reconnect with `Last-Event-ID` to get
    what was missed, without loss within the hub's retention (`stream_retention` recent
    events)."""
    settings = request.app.state.settings
    return EventStreamResponse(
        service.feed(
            request.app.state.stream.bus,
            principal,
            last_event_id,
            settings.stream_keepalive_seconds,
        ),
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
