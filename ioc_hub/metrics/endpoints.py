from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from ioc_hub.deps import NowDep
from ioc_hub.errors import HUB_RESPONSES

router = APIRouter(tags=["health"])

EXAMPLE = """\
# HELP ioc_hub_pushes_total Pushes and imports by outcome ...
# TYPE ioc_hub_pushes_total counter
ioc_hub_pushes_total{endpoint="push",outcome="accepted"} 1520.0
# HELP ioc_hub_units_connected Active units heard from within their window
# TYPE ioc_hub_units_connected gauge
ioc_hub_units_connected{kind="department"} 17.0
"""


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    operation_id="metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text exposition format",
            "content": {"text/plain": {"schema": {"type": "string"}, "example": EXAMPLE}},
        },
        # The gauges are read from the database at scrape time.
        503: HUB_RESPONSES[503],
    },
)
async def metrics(request: Request, now: NowDep) -> Response:
    """Pushes, rejected rows by reason, ingest latency and batch sizes, stream subscribers (this
    process's), and series by status and connected units by kind (the whole province, read at
    scrape time). No key needed, like /health."""
    state = request.app.state
    body = await state.metrics.render(state.transactions, state.settings, now)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
