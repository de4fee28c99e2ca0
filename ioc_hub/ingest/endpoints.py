import inspect
from datetime import datetime
from typing import Annotated, Any, cast

from fastapi import APIRouter, BackgroundTasks, Depends, Path, Query, Request, Response
from fastapi.routing import APIRoute
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import BaseModel, TypeAdapter, ValidationError

from ioc_hub.access.dependencies import bearer, scoped
from ioc_hub.access.principal import Principal
from ioc_hub.deps import NowDep, SessionDep, get_now
from ioc_hub.errors import Invalid, Problem
from ioc_hub.ingest import service
from ioc_hub.ingest.schemas import (
    HeartbeatIn,
    HeartbeatOut,
    ImportRequest,
    ImportSummary,
    ObservationOut,
    PushProblem,
    PushRequest,
    RejectionOut,
    RevisionOut,
)
from ioc_hub.kit.direct import DirectApp, Endpoint
from ioc_hub.kit.openapi import json_body
from ioc_hub.kit.pagination import Page, PageDep
from ioc_hub.models import Scope

Writer = Annotated[Principal, Depends(scoped(Scope.OBSERVATIONS_WRITE))]
Reader = Annotated[Principal, Depends(scoped(Scope.AGGREGATES_READ))]
Operator = Annotated[Principal, Depends(scoped(Scope.COVERAGE_READ))]

AUTH_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": Problem, "description": "No key, or an unknown or revoked key"},
    403: {"model": Problem, "description": "Key lacks the scope or the unit is outside its area"},
}

router = APIRouter(prefix="/api/v1", tags=["ingest"], responses=AUTH_ERRORS)


class RequestRoute(APIRoute):
    """A route whose endpoint takes the ``Request`` and returns the ``Response`` itself: FastAPI
    publishes its contract as declared, and calls the endpoint without solving dependencies,
    validating or serializing anything for it."""

    def get_route_handler(self) -> Endpoint:
        # Called as the route is built: a declared parameter here would silently never be read.
        parameters = list(inspect.signature(self.endpoint, eval_str=True).parameters.values())
        if [p.annotation for p in parameters] != [Request]:
            raise TypeError(
                f"{self.name} must take the Request only: it is called with nothing else"
            )
        return cast(Endpoint, self.endpoint)


ATOMIC = "Store all rows or none: one bad row rejects the batch"
IDEMPOTENCY = "Retries with the same key and body get the first response again"


# The push routes read their few inputs off the request themselves (``RequestRoute``): they are
# the hot path, and FastAPI's dependency machinery costs more per request than the rest of a
# single-row push. The contract is the same as if they were declared parameters
# (``PUSH_PARAMETERS``).
PUSH_PARAMETERS: list[dict[str, Any]] = [
    {
        "name": "atomic",
        "in": "query",
        "required": False,
        "schema": {
            "type": "boolean",
            "description": ATOMIC,
            "default": False,
            "title": "Atomic",
        },
        "description": ATOMIC,
    },
    {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "schema": {
            "anyOf": [{"type": "string", "maxLength": 200}, {"type": "null"}],
            "description": IDEMPOTENCY,
            "title": "Idempotency-Key",
        },
        "description": IDEMPOTENCY,
    },
]
_BOOLEAN = TypeAdapter(bool)


def _push_contract(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {
        **json_body(model, description),
        "parameters": PUSH_PARAMETERS,
        "security": [{bearer.scheme_name: []}],
    }


async def push_observations(request: Request) -> Response:
    """Store a batch of indicator values; bad rows come back with their index and reason."""
    return await _push(request, imported=False)


async def import_observations(request: Request) -> Response:
    """Store history as if it had arrived at each row's past `received_at` (rows are marked
    `imported`). Province-level keys with `observations:import` only."""
    return await _push(request, imported=True)


_REFUSED: dict[int | str, dict[str, Any]] = {
    409: {"model": Problem, "description": "Idempotency-Key reused with another body"},
    413: {"model": Problem, "description": "Body larger than the limit or rows > max_batch"},
    422: {"model": PushProblem, "description": "Malformed body, or nothing could be stored"},
}


def add_push_routes(app: DirectApp) -> None:
    """Put the push and import routes on ``app``: they are the hot path, served directly,
    ahead of the app's middleware stack, whenever the request allows it."""

    def add(path: str, endpoint: Endpoint, **operation: Any) -> None:
        app.router.add_api_route(
            path,
            endpoint,
            methods=["POST"],
            tags=["ingest"],
            response_model=ImportSummary,
            route_class_override=RequestRoute,
            **operation,
        )
        app.add_direct_route(path, endpoint)

    add(
        "/api/v1/observations",
        push_observations,
        summary="Push observations",
        operation_id="push_observations",
        responses={**AUTH_ERRORS, **_REFUSED},
        openapi_extra=_push_contract(PushRequest, "Rows to store; see PushRequest"),
    )
    forbidden = "Key lacks `observations:import` or is not a province-level key"
    add(
        "/api/v1/imports",
        import_observations,
        summary="Import a backfill (admin)",
        operation_id="import_observations",
        responses={**AUTH_ERRORS, 403: {"model": Problem, "description": forbidden}, **_REFUSED},
        openapi_extra=_push_contract(ImportRequest, "Rows to store, each with its received_at"),
    )


def _bearer_token(request: Request) -> str | None:
    """The key in ``Authorization: Bearer <key>``, read as the ``bearer`` scheme reads it."""
    scheme, token = get_authorization_scheme_param(request.headers.get("authorization"))
    return token if token and scheme.lower() == "bearer" else None


async def _push(request: Request, *, imported: bool) -> Response:
    # No session either: the common push is a single autocommit statement, and the service
    # opens a transaction itself when a push needs one.
    # Most pushes carry no query string: then there is nothing to parse.
    atomic = request.query_params.get("atomic") if request.scope["query_string"] else None
    try:
        atomic_flag = atomic is not None and _BOOLEAN.validate_python(atomic)
    except ValidationError:
        raise Invalid(
            f"atomic must be true or false, not {atomic!r}", field="query.atomic"
        ) from None
    result = await service.push(
        request.app.state.ingest,
        _bearer_token(request),
        await request.body(),
        atomic=atomic_flag,
        idempotency_key=request.headers.get("idempotency-key"),
        now=await get_now(request),
        imported=imported,
    )
    headers = {"Idempotent-Replayed": "true"} if result.replayed else None
    return Response(result.body, result.status, headers=headers, media_type=result.media_type)


@router.post("/heartbeat", summary="Send a heartbeat", operation_id="heartbeat")
async def heartbeat(
    request: Request,
    body: HeartbeatIn,
    session: SessionDep,
    principal: Writer,
    now: NowDep,
    after_commit: BackgroundTasks,
) -> HeartbeatOut:
    """Show that a unit's pipe is alive without sending data (counts as contact)."""
    out, outcome = await service.heartbeat(session, principal, body.unit, now)
    # Background tasks run once the response is sent, so after the session committed.
    after_commit.add_task(request.app.state.ingest.notify, outcome)
    return out


@router.get("/observations", summary="List stored observations", operation_id="list_observations")
async def list_observations(
    session: SessionDep,
    principal: Reader,
    page: PageDep,
    unit: Annotated[str | None, Query(max_length=64, description="Unit code")] = None,
    indicator: Annotated[str | None, Query(max_length=64, description="Indicator code")] = None,
    period_from: Annotated[
        str | None, Query(alias="from", max_length=10, description="First period, inclusive")
    ] = None,
    period_to: Annotated[
        str | None, Query(alias="to", max_length=10, description="Last period, inclusive")
    ] = None,
) -> Page[ObservationOut]:
    """Current values in the key's area, by unit, indicator and period."""
    return await service.list_observations(
        session,
        principal,
        page,
        unit=unit,
        indicator=indicator,
        period_from=period_from,
        period_to=period_to,
    )


@router.get(
    "/observations/{unit}/{indicator}/{period}/revisions",
    summary="Revisions of one observation",
    operation_id="observation_revisions",
    responses={404: {"model": Problem}},
)
async def observation_revisions(
    unit: Annotated[str, Path(max_length=64)],
    indicator: Annotated[str, Path(max_length=64)],
    period: Annotated[str, Path(max_length=10)],
    session: SessionDep,
    principal: Reader,
) -> list[RevisionOut]:
    """Earlier values of (unit, indicator, period): who replaced them, when, old and new."""
    return await service.revisions(session, principal, unit, indicator, period)


@router.get("/rejections", summary="List rejected rows", operation_id="list_rejections")
async def list_rejections(
    session: SessionDep,
    principal: Operator,
    page: PageDep,
    since: Annotated[datetime | None, Query(description="Only rows rejected at or after")] = None,
) -> Page[RejectionOut]:
    """Rows refused at push time, newest first, with the reason (scope `coverage:read`)."""
    return await service.list_rejections(session, principal, page, since=since)
