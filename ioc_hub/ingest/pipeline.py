"""The push pipeline (docs/design.md §3): rows checked one by one against the registry, the
valid ones stored together with their revisions, the bad ones answered with their index and
reason and kept for operators, idempotent retries, imports of history, heartbeats, and the
deletions the DHIS2 door asks for (docs/design.md §10).

Everything runs in the request's transaction, so a push is all or nothing and a 2xx means it is
stored. Observers (the live stream, metrics) hear of each outcome once it committed.
"""

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import orjson
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ioc_hub.access.principal import Principal
from ioc_hub.config import Settings
from ioc_hub.coverage.months import Deadlines
from ioc_hub.errors import PROBLEM_JSON, Conflict, FieldError, PayloadTooLarge
from ioc_hub.ingest import repository
from ioc_hub.ingest.cache import IngestCache, RegistryCopy
from ioc_hub.ingest.rows import BadRow, Reason, printable
from ioc_hub.ingest.schemas import HeartbeatOut, ImportSummary, ObservationIn, PushProblem, RowError
from ioc_hub.ingest.validation import RowRejected, StoredKey, Validator, ValidRow
from ioc_hub.models import IdempotencyRecord, Rejection
from ioc_hub.quality import flagging
from ioc_hub.quality.flagging import Flag, NewValue
from ioc_hub.registry import service as registry
from ioc_hub.webhooks import outbox

log = logging.getLogger(__name__)

MAX_STORED_ROW = 4000
"""Longest text of a rejected row kept for operators, in characters."""


class Origin(NamedTuple):
    """A row's position in the request as sent, and the unit and indicator codes it names (a
    DHIS2 row names them ``orgUnit`` and ``dataElement``)."""

    position: int
    unit: str | None
    indicator: str | None


@dataclass(frozen=True, slots=True)
class Push:
    """One push or import, as the endpoint received it."""

    principal: Principal
    rows: Sequence[ObservationIn | BadRow]
    sent: Sequence[Any]
    """The rows as sent, in the same order: a refused row is kept for operators as it came."""
    atomic: bool
    idempotency_key: str | None
    body: bytes
    """The body as sent: a retry with the same ``Idempotency-Key`` must send the same."""
    now: datetime
    imported: bool = False
    where: Callable[[int, Reason], str] | None = None
    """Where row ``index`` came from, for what a registry check refused (``Reason``) to begin
    its reason with: an upload names the sheet and cell (``Sheet1!D7``)."""
    origin: Callable[[int], Origin] | None = None
    """Where the row at a position of ``rows`` came from, kept with a refused row, when the
    rows are not a push's body as sent (the DHIS2 door's). Asked of refused rows only."""


@dataclass(frozen=True, slots=True)
class Rejected:
    """A refused row: where it was, what it held, why (for humans) and the reason's code."""

    index: int
    sent: Any
    reason: str
    code: Reason


@dataclass(frozen=True, slots=True)
class Written:
    """What an accepted push stored, for whoever observes ingest (the live stream)."""

    rows: list[ValidRow]
    """The rows stored or found unchanged, one per natural key."""
    counts: repository.WriteCounts
    registry: RegistryCopy
    """The registry the rows were validated against: ids to codes."""
    flags: Sequence[Flag] = ()
    """Stored values flagged as outliers (docs/design.md §9)."""


@dataclass(frozen=True, slots=True)
class PushOutcome:
    """How one push or import ended, told to observers after its transaction committed."""

    imported: bool
    now: datetime
    rows: int
    superseded: int = 0
    rejected: tuple[Reason, ...] = ()
    written: Written | None = None


@dataclass(frozen=True, slots=True)
class HeartbeatOutcome:
    """A heartbeat that committed: the unit and when it was heard from before (if ever)."""

    unit_id: int
    at: datetime
    previous: datetime | None


Observer = Callable[[PushOutcome | HeartbeatOutcome], None]


@dataclass(frozen=True, slots=True)
class Replay:
    """The first answer to an ``Idempotency-Key``, as it was sent."""

    status: int
    body: bytes
    media_type: str


@dataclass(frozen=True, slots=True)
class PushResult:
    """A push's answer: its summary (200), the problem that refused it (422), or a replay."""

    outcome: PushOutcome | None
    summary: ImportSummary | None = None
    problem: PushProblem | None = None
    replay: Replay | None = None
    rejected: tuple[Rejected, ...] = ()
    """The rows refused, kept for operators in the same transaction."""


@dataclass(frozen=True)
class IngestContext:
    """What a push needs beyond the request, built once per process by the app's lifespan."""

    settings: Settings
    cache: IngestCache
    observers: list[Observer] = field(default_factory=list)
    """Told of every push, import and heartbeat once it committed; each must return at once."""

    async def notify(self, outcome: PushOutcome | HeartbeatOutcome | None) -> None:
        """Tell the observers. A coroutine, so that a background task runs it on the event
        loop: a plain function would be handed to a thread, and the hop costs every request
        the GIL's switch interval."""
        if outcome is None:
            return
        for observer in self.observers:
            try:
                observer(outcome)
            except Exception:  # an observer's bug must never fail a stored push
                log.exception("ingest observer %r failed", observer)


@dataclass
class _Verdicts:
    valid: list[ValidRow] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    superseded: int = 0


async def push(ctx: IngestContext, session: AsyncSession, request: Push) -> PushResult:
    """Validate and store one push (or import) in ``session``'s transaction: the idempotency
    claim, the values, the rejected rows and the stored answer commit together or not at all."""
    limit = ctx.settings.max_batch
    if len(request.rows) > limit:
        raise PayloadTooLarge(
            f"batch has {len(request.rows)} rows; max_batch is {limit}",
            field="body.observations",
        )
    if request.idempotency_key is not None:
        replay = await _claim(session, request, ctx.settings.idempotency_ttl)
        if replay is not None:
            return PushResult(outcome=None, replay=replay)
    result = await _validate_and_write(ctx, session, request)
    await _keep_rejections(session, request, result.rejected)
    if request.idempotency_key is not None:
        answer = result.summary or result.problem
        assert answer is not None
        await session.execute(
            update(IdempotencyRecord)
            .where(
                IdempotencyRecord.key_id == request.principal.key_id,
                IdempotencyRecord.idempotency_key == request.idempotency_key,
            )
            .values(
                status_code=200 if result.summary else 422,
                response_body=answer.model_dump_json(),
            )
        )
    return result


async def _validate_and_write(
    ctx: IngestContext, session: AsyncSession, request: Push
) -> PushResult:
    """Validate against the registry copy and write; reload the copy and try again when the
    registry changed under it."""
    stale: RegistryCopy | None = None
    while True:
        copy = await ctx.cache.registry(session, stale)
        verdicts = _judge(copy, ctx.settings, request)
        if verdicts.rejected and (request.atomic or not verdicts.valid):
            # Nothing is written, so no write checks the copy: check it here.
            if not await ctx.cache.is_current(session, copy):
                stale = copy
                continue
            return _refusal(request, verdicts)
        values = [
            NewValue(r.unit_id, r.indicator_id, r.period, r.period_start, r.row.value)
            for r in verdicts.valid
        ]
        baselines = await flagging.baselines_for(session, ctx.settings, values)
        try:
            counts = await repository.write_batch(
                session,
                verdicts.valid,
                key_id=request.principal.key_id,
                now=request.now,
                generation=copy.generation,
                deadlines=_deadlines(ctx.settings, copy),
                imported=request.imported,
            )
        except repository.StaleRegistry:
            stale = copy
            continue
        flags = await flagging.flag_values(
            session, ctx.settings, baselines, _written(values, counts), request.now
        )
        await _notify_flags(session, flags, copy)
        errors = [RowError(index=r.index, reason=r.reason) for r in verdicts.rejected]
        summary = ImportSummary(
            created=counts.created,
            updated=counts.updated,
            unchanged=counts.unchanged,
            superseded=verdicts.superseded,
            rejected=len(errors),
            flagged=len(flags),
            errors=errors,
        )
        outcome = PushOutcome(
            request.imported,
            request.now,
            len(request.rows),
            superseded=verdicts.superseded,
            rejected=tuple(r.code for r in verdicts.rejected),
            written=Written(verdicts.valid, counts, copy, flags),
        )
        return PushResult(outcome, summary=summary, rejected=tuple(verdicts.rejected))


async def _notify_flags(session: AsyncSession, flags: Sequence[Flag], copy: RegistryCopy) -> None:
    """``outlier.flagged`` to the webhooks that want it, written with the values (§9)."""
    await outbox.publish(
        session,
        "outlier.flagged",
        *(
            {
                "unit": copy.units_by_id[flag.unit_id].ref.code,
                "indicator": copy.indicators_by_id[flag.indicator_id].code,
                **flag.facts(),
                "flagged_at": flag.flagged_at,
            }
            for flag in flags
        ),
    )


def _written(values: Sequence[NewValue], counts: repository.WriteCounts) -> list[NewValue]:
    """The values the write created or changed (unchanged ones were judged when they came)."""
    if not counts.written:
        return []
    written = set(counts.written)
    return [v for v in values if (v.unit_id, v.indicator_id, v.period) in written]


def _judge(copy: RegistryCopy, settings: Settings, request: Push) -> _Verdicts:
    """Each row's verdict; of rows with the same natural key the last one wins."""
    validator = _validator(copy, settings, request)
    verdicts = _Verdicts()
    latest: dict[tuple[int, int, str], ValidRow] = {}
    for index, row in enumerate(request.rows):
        if isinstance(row, BadRow):
            verdicts.rejected.append(Rejected(index, request.sent[index], row.reason, row.code))
            continue
        try:
            valid = validator.check(row)
        except RowRejected as exc:
            reason = exc.reason
            if request.where is not None:
                reason = f"{request.where(index, exc.code)}: {reason}"
            verdicts.rejected.append(Rejected(index, request.sent[index], reason, exc.code))
            continue
        key = (valid.unit_id, valid.indicator_id, valid.period)
        if key in latest:
            verdicts.superseded += 1
        latest[key] = valid
    verdicts.valid = list(latest.values())
    return verdicts


def _validator(copy: RegistryCopy, settings: Settings, request: "Push | Deletion") -> Validator:
    return Validator(
        principal=request.principal,
        units=copy.units,
        indicators=copy.indicators,
        tz=settings.tz,
        now=request.now,
    )


def _deadlines(settings: Settings, copy: RegistryCopy) -> Deadlines:
    return Deadlines(
        settings, ((i.id, i.cadence, i.grace_seconds) for i in copy.indicators.values())
    )


def _refusal(request: Push, verdicts: _Verdicts) -> PushResult:
    total, bad = len(request.rows), len(verdicts.rejected)
    if request.atomic:
        detail = f"{bad} of {total} rows were rejected; atomic=true, so nothing was stored"
    else:
        detail = f"all {total} rows were rejected; nothing was stored"
    errors = [RowError(index=r.index, reason=r.reason) for r in verdicts.rejected]
    problem = PushProblem(
        type="https://ioc-hub.dev/problems/rows-rejected",
        title="Rows rejected",
        status=422,
        detail=detail,
        errors=[FieldError(field=f"body.observations.{e.index}", reason=e.reason) for e in errors],
        summary=ImportSummary(
            created=0, updated=0, unchanged=0, superseded=0, rejected=total, errors=errors
        ),
    )
    outcome = PushOutcome(
        request.imported,
        request.now,
        total,
        rejected=tuple(r.code for r in verdicts.rejected),
    )
    return PushResult(outcome, problem=problem, rejected=tuple(verdicts.rejected))


async def _keep_rejections(
    session: AsyncSession, request: "Push | Deletion", rejected: Sequence[Rejected]
) -> None:
    if not rejected:
        return
    origins = [_origin(request, r) for r in rejected]
    await session.execute(
        insert(Rejection),
        [
            {
                "received_at": request.now,
                "key_id": request.principal.key_id,
                "unit_code": _code(origin.unit),
                "indicator_code": _code(origin.indicator),
                "row_index": origin.position,
                "row": _stored_row(r.sent),
                "reason": r.reason,
            }
            for r, origin in zip(rejected, origins, strict=True)
        ],
    )


def _origin(request: "Push | Deletion", rejected: Rejected) -> Origin:
    if request.origin is not None:
        return request.origin(rejected.index)
    row = rejected.sent
    if not isinstance(row, dict):
        return Origin(rejected.index, None, None)
    return Origin(rejected.index, row.get("unit"), row.get("indicator"))


def _code(value: Any) -> str | None:
    """A code as sent, made storable: a NUL would make PostgreSQL refuse the whole push."""
    return printable(value, 63) if isinstance(value, str) else None


def _stored_row(row: Any) -> str:
    try:
        text = orjson.dumps(row).decode()
    except orjson.JSONEncodeError:
        # orjson writes no deeper nesting than 254 levels, and no lone surrogates.
        return "(not stored: the row cannot be written back as JSON)"
    return text if len(text) <= MAX_STORED_ROW else text[:MAX_STORED_ROW] + "…"


async def _claim(session: AsyncSession, request: Push, ttl: timedelta) -> Replay | None:
    """Replay the first answer to this key, or claim the key for this request.

    The claim is a row inserted before any work: a concurrent request with the same key waits on
    it (PostgreSQL) or on the write lock (SQLite), then replays what the first one answered.
    """
    key_id, idempotency_key = request.principal.key_id, request.idempotency_key
    # An import and a push with one key and body are different requests: a conflict.
    flags = (b"\x00atomic" if request.atomic else b"") + (
        b"\x00import" if request.imported else b""
    )
    request_hash = hashlib.sha256(request.body + flags).hexdigest()
    where = (
        IdempotencyRecord.key_id == key_id,
        IdempotencyRecord.idempotency_key == idempotency_key,
    )
    found = (await session.execute(select(IdempotencyRecord).where(*where))).scalar_one_or_none()
    if found is not None and found.created_at < request.now - ttl:
        await session.execute(delete(IdempotencyRecord).where(*where))
        found = None
    if found is None:
        try:
            async with session.begin_nested():
                await session.execute(
                    insert(IdempotencyRecord).values(
                        key_id=key_id,
                        idempotency_key=idempotency_key,
                        request_hash=request_hash,
                        status_code=0,
                        response_body="",
                        created_at=request.now,
                    )
                )
            return None
        except IntegrityError:
            found = (
                await session.execute(
                    select(IdempotencyRecord)
                    .where(*where)
                    .execution_options(populate_existing=True)
                )
            ).scalar_one()
    if found.request_hash != request_hash:
        raise Conflict(
            "this Idempotency-Key was used with a different request body",
            field="header.Idempotency-Key",
        )
    media = PROBLEM_JSON if found.status_code >= 400 else "application/json"
    return Replay(found.status_code, found.response_body.encode(), media)


class DeleteRow(NamedTuple):
    """A row that names an observation to delete: its unit (the key's own when ``None``),
    indicator and period."""

    unit: str | None
    indicator: str
    period: str


@dataclass(frozen=True, slots=True)
class Deletion:
    """Rows whose observations a sender deletes (DHIS2's ``importStrategy=DELETE``)."""

    principal: Principal
    rows: Sequence[DeleteRow | BadRow]
    sent: Sequence[Any]
    now: datetime
    origin: Callable[[int], Origin] | None = None


@dataclass(frozen=True, slots=True)
class DeleteResult:
    deleted: int
    """Observations deleted (a row naming one that does not exist deletes nothing)."""
    rejected: tuple[Rejected, ...]


async def delete_rows(ctx: IngestContext, session: AsyncSession, request: Deletion) -> DeleteResult:
    """Check each row against the registry as a push's rows are (its unit in the key's area, its
    period of the indicator's cadence...), delete what the valid ones name, keep the refused
    ones for operators; all in ``session``'s transaction."""
    limit = ctx.settings.max_batch
    if len(request.rows) > limit:
        raise PayloadTooLarge(
            f"batch has {len(request.rows)} rows; max_batch is {limit}", field="body"
        )
    stale: RegistryCopy | None = None
    while True:
        copy = await ctx.cache.registry(session, stale)
        validator = _validator(copy, ctx.settings, request)
        keys: list[StoredKey] = []
        rejected: list[Rejected] = []
        for index, row in enumerate(request.rows):
            sent = request.sent[index]
            if isinstance(row, BadRow):
                rejected.append(Rejected(index, sent, row.reason, row.code))
                continue
            try:
                keys.append(validator.locate(row.unit, row.indicator, row.period))
            except RowRejected as exc:
                rejected.append(Rejected(index, sent, exc.reason, exc.code))
        # The deletion does not check the copy as a push's write does: check it here.
        if await ctx.cache.is_current(session, copy):
            break
        stale = copy
    deleted = await repository.delete_batch(
        session,
        keys,
        key_id=request.principal.key_id,
        now=request.now,
        deadlines=_deadlines(ctx.settings, copy),
    )
    await _keep_rejections(session, request, rejected)
    return DeleteResult(deleted, tuple(rejected))


async def heartbeat(
    session: AsyncSession, principal: Principal, unit_code: str | None, now: datetime
) -> tuple[HeartbeatOut, HeartbeatOutcome]:
    """Record the heartbeat of the key's unit, or of ``unit_code`` in its area; the outcome is
    for observers once the session commits."""
    unit_id, code = principal.unit.id, principal.unit.code
    if unit_code is not None and unit_code != code:
        unit = await registry.unit_in_area(session, principal, unit_code, field="body.unit")
        unit_id, code = unit.id, unit.code
    previous = await repository.touch_heartbeat(session, unit_id, now)
    return HeartbeatOut(unit=code, last_contact_at=now), HeartbeatOutcome(unit_id, now, previous)
