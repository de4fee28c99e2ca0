"""Ingest's routes: pushes, imports and heartbeats in, stored values and rejections out."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Body, Depends, Header, Path, Query, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from ioc_hub.access.dependencies import AUTH_RESPONSES, scoped
from ioc_hub.access.principal import Principal
from ioc_hub.deps import NowDep, ReadSessionDep, SessionDep
from ioc_hub.errors import BODY_LIMIT_RESPONSES, Forbidden, problem_doc, problem_response
from ioc_hub.ingest import pipeline, reads
from ioc_hub.ingest.rows import BadRow, Reason
from ioc_hub.ingest.schemas import (
    HeartbeatIn,
    HeartbeatOut,
    ImportRequest,
    ImportSummary,
    ObservationIn,
    ObservationOut,
    PushProblem,
    PushRequest,
    RejectionOut,
    RevisionOut,
)
from ioc_hub.kit.pagination import Page, PageDep
from ioc_hub.kit.params import CODE_PATTERN, IsoDateTime
from ioc_hub.kit.periods import PERIOD_PATTERN
from ioc_hub.models import Scope

Writer = Annotated[Principal, Depends(scoped(Scope.OBSERVATIONS_WRITE))]
Reader = Annotated[Principal, Depends(scoped(Scope.AGGREGATES_READ))]
Operator = Annotated[Principal, Depends(scoped(Scope.COVERAGE_READ))]


async def province_importer(
    principal: Annotated[Principal, Depends(scoped(Scope.OBSERVATIONS_IMPORT))],
) -> Principal:
    """Imports rewrite when values arrived: for province-level (admin) keys only."""
    if not principal.is_province:
        raise Forbidden(
            "imports are for province-level (admin) keys only; "
            f"this key is bound to unit {principal.unit.code!r}"
        )
    return principal


Importer = Annotated[Principal, Depends(province_importer)]


async def get_ingest(request: Request) -> pipeline.IngestContext:
    context: pipeline.IngestContext = request.app.state.ingest
    return context


IngestDep = Annotated[pipeline.IngestContext, Depends(get_ingest)]
Atomic = Annotated[bool, Query(description="Store all rows or none: one bad row rejects the batch")]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        pattern=r"^[^\x00-\x1f\x7f-\x9f]+$",  # printable: it is stored and compared
        description="Retries with the same key and body get the first response again",
    ),
]

router = APIRouter(prefix="/api/v1", tags=["ingest"], responses=AUTH_RESPONSES)

PUSH_RESPONSES: dict[int | str, dict[str, Any]] = {
    409: problem_doc("Idempotency-Key reused with another body"),
    413: problem_doc("Body larger than `max_body_bytes`, or more rows than `max_batch`"),
    422: problem_doc(
        "A malformed body, or rows of which none could be stored (all were rejected, or one was "
        "with `atomic=true`): then `summary` says why each row was",
        model=PushProblem,
    ),
}


@dataclass(frozen=True, slots=True)
class Storing:
    """What storing a push or an import takes besides its rows and its key, declared once for
    both routes (``atomic`` and ``Idempotency-Key`` among them)."""

    request: Request
    session: AsyncSession
    ingest: pipeline.IngestContext
    now: datetime
    after_commit: BackgroundTasks
    atomic: bool
    idempotency_key: str | None

    async def store(
        self, principal: Principal, rows: Sequence[ObservationIn | BadRow], *, imported: bool
    ) -> Response | ImportSummary:
        # The body was read and parsed to validate it; both are kept on the request.
        sent = (await self.request.json())["observations"]
        body = await self.request.body()
        return await self.push(principal, rows, sent, body=body, imported=imported)

    async def push(
        self,
        principal: Principal,
        rows: Sequence[ObservationIn | BadRow],
        sent: Sequence[Any],
        *,
        body: bytes,
        imported: bool = False,
        where: Callable[[int, Reason], str] | None = None,
    ) -> Response | ImportSummary:
        """Store rows however they came (a JSON push, an uploaded sheet): ``sent`` holds them
        as sent, ``body`` what a retry with the same ``Idempotency-Key`` must send again."""
        push = pipeline.Push(
            principal=principal,
            rows=rows,
            sent=sent,
            atomic=self.atomic,
            idempotency_key=self.idempotency_key,
            body=body,
            now=self.now,
            imported=imported,
            where=where,
        )
        result = await pipeline.push(self.ingest, self.session, push)
        # Background tasks run once the response is sent, so after the session committed.
        self.after_commit.add_task(self.ingest.notify, result.outcome)
        if result.replay is not None:
            return Response(
                result.replay.body,
                result.replay.status,
                headers={"Idempotent-Replayed": "true"},
                media_type=result.replay.media_type,
            )
        if result.problem is not None:
            return problem_response(result.problem)
        assert result.summary is not None
        return result.summary


async def storing(
    request: Request,
    session: SessionDep,
    ingest: IngestDep,
    now: NowDep,
    after_commit: BackgroundTasks,
    atomic: Atomic = False,
    idempotency_key: IdempotencyKey = None,
) -> Storing:
    return Storing(request, session, ingest, now, after_commit, atomic, idempotency_key)


StoringDep = Annotated[Storing, Depends(storing)]


@router.post(
    "/observations",
    summary="Push observations",
    operation_id="push_observations",
    response_model=ImportSummary,
    responses=PUSH_RESPONSES,
)
async def push_observations(
    body: PushRequest, principal: Writer, storing: StoringDep
) -> Response | ImportSummary:
    """Store a batch of indicator values; bad rows come back with their index and reason."""
    return await storing.store(principal, body.observations, imported=False)


@router.post(
    "/imports",
    summary="Import a backfill (admin)",
    operation_id="import_observations",
    response_model=ImportSummary,
    responses={
        403: problem_doc("Key lacks `observations:import` or is not a province-level key"),
        **PUSH_RESPONSES,
    },
)
async def import_observations(
    body: ImportRequest, principal: Importer, storing: StoringDep
) -> Response | ImportSummary:
    """Store history as if it had arrived at each row's past `received_at` (rows are marked
    `imported`). Province-level keys with `observations:import` only."""
    return await storing.store(principal, body.observations, imported=True)


@router.post(
    "/heartbeat",
    summary="Send a heartbeat",
    operation_id="heartbeat",
    responses=BODY_LIMIT_RESPONSES,
)
async def heartbeat(
    session: SessionDep,
    principal: Writer,
    ingest: IngestDep,
    now: NowDep,
    after_commit: BackgroundTasks,
    body: Annotated[HeartbeatIn, Body(default_factory=HeartbeatIn)],
) -> HeartbeatOut:
    """Show that a unit's pipe is alive without sending data (counts as contact). Without a
    body, or without `unit`, the heartbeat is the key's own unit's."""
    out, outcome = await pipeline.heartbeat(session, principal, body.unit, now)
    after_commit.add_task(ingest.notify, outcome)
    return out


@router.get(
    "/observations",
    summary="List stored observations",
    operation_id="list_observations",
    responses={404: problem_doc("No such unit or indicator")},
)
async def list_observations(
    session: ReadSessionDep,
    principal: Reader,
    page: PageDep,
    unit: Annotated[
        str | None, Query(max_length=64, pattern=CODE_PATTERN, description="Unit code")
    ] = None,
    indicator: Annotated[
        str | None, Query(max_length=64, pattern=CODE_PATTERN, description="Indicator code")
    ] = None,
    period_from: Annotated[
        str | None,
        Query(alias="from", pattern=PERIOD_PATTERN, description="First period, inclusive"),
    ] = None,
    period_to: Annotated[
        str | None,
        Query(alias="to", pattern=PERIOD_PATTERN, description="Last period, inclusive"),
    ] = None,
) -> Page[ObservationOut]:
    """Current values in the key's area, by unit, indicator and period."""
    return await reads.list_observations(
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
    responses={404: problem_doc("No such unit, indicator or value")},
)
async def observation_revisions(
    unit: Annotated[str, Path(max_length=64, pattern=CODE_PATTERN)],
    indicator: Annotated[str, Path(max_length=64, pattern=CODE_PATTERN)],
    period: Annotated[str, Path(pattern=PERIOD_PATTERN)],
    session: SessionDep,
    principal: Reader,
) -> list[RevisionOut]:
    """Earlier values of (unit, indicator, period): who replaced or deleted them, when, old
    and new (`new_value` null for a deletion)."""
    return await reads.revisions(session, principal, unit, indicator, period)


@router.get("/rejections", summary="List rejected rows", operation_id="list_rejections")
async def list_rejections(
    session: SessionDep,
    principal: Operator,
    page: PageDep,
    since: Annotated[
        IsoDateTime | None, Query(description="Only rows rejected at or after")
    ] = None,
) -> Page[RejectionOut]:
    """Rows refused at push time, newest first, with the reason (scope `coverage:read`)."""
    return await reads.list_rejections(session, principal, page, since=since)
