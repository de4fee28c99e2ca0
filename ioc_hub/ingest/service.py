"""Push ingestion (DESIGN §3) and admin backfill imports: per-row validation, natural-key upsert
with revisions, import summaries, idempotent retries, rejected rows kept for operators,
heartbeats; observers (the live stream, metrics) hear of each outcome once it committed."""

import functools
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ioc_hub.access.principal import Principal
from ioc_hub.access.service import area_clause, require_scope
from ioc_hub.config import Settings
from ioc_hub.errors import (
    PROBLEM_JSON,
    Conflict,
    FieldError,
    Forbidden,
    HubError,
    Invalid,
    NotFound,
    PayloadTooLarge,
)
from ioc_hub.ingest import repository
from ioc_hub.ingest.cache import IngestCache, RegistryCopy
from ioc_hub.ingest.group_commit import GroupCommit
from ioc_hub.ingest.schemas import (
    HeartbeatOut,
    ImportSummary,
    ObservationOut,
    PushProblem,
    RejectionOut,
    RevisionOut,
    RowError,
)
from ioc_hub.ingest.validation import Reason, RowRejected, Validator, ValidRow, printable
from ioc_hub.kit.pagination import Page, PageParams, count_rows
from ioc_hub.kit.periods import Cadence, Period, PeriodError
from ioc_hub.models import (
    AccessKey,
    IdempotencyRecord,
    Indicator,
    Observation,
    ObservationRevision,
    Rejection,
    Scope,
    Unit,
)
from ioc_hub.registry import service as registry

log = logging.getLogger(__name__)

MAX_STORED_ROW = 4000


@dataclass(frozen=True, slots=True)
class Rejected:
    """A refused row: where it was, what it held, why (for humans) and the reason's code."""

    index: int
    row: Any
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


@dataclass
class PushResult:
    status: int
    body: bytes
    replayed: bool = False
    media_type: str = "application/json"
    rejected: list[Rejected] = field(default_factory=list)
    written: Written | None = None
    superseded: int = 0


@dataclass(frozen=True, slots=True)
class PushOutcome:
    """How one push or import ended, told to observers after its transaction committed."""

    imported: bool
    status: int
    seconds: float
    now: datetime
    rows: int = 0
    """Rows in the batch; 0 when the body was never read as one."""
    replayed: bool = False
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


@dataclass
class _Outcome:
    valid: list[ValidRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    rejected_rows: list[Rejected] = field(default_factory=list)
    superseded: int = 0


@dataclass(frozen=True)
class IngestContext:
    """What a push needs beyond the request, built once per process by the app's lifespan."""

    settings: Settings
    cache: IngestCache
    sessions: async_sessionmaker[AsyncSession]
    group: GroupCommit | None
    """Stores pushes without an ``Idempotency-Key`` (PostgreSQL only; ``None`` on SQLite)."""
    observers: list[Observer] = field(default_factory=list)
    """Told of every push, import and heartbeat once it committed; each must return at once."""

    def notify(self, outcome: PushOutcome | HeartbeatOutcome) -> None:
        for observer in self.observers:
            try:
                observer(outcome)
            except Exception:  # an observer's bug must never fail a stored push
                log.exception("ingest observer %r failed", observer)


async def push(
    ctx: IngestContext,
    token: str | None,
    body: bytes,
    *,
    atomic: bool,
    idempotency_key: str | None,
    now: datetime,
    imported: bool = False,
) -> PushResult:
    """Validate and store one push (DESIGN §3), or with ``imported`` one backfill import.

    The common case — PostgreSQL, no ``Idempotency-Key``, every row valid — is one statement
    in autocommit, shared with the pushes that arrived meanwhile (``group_commit``). Everything
    else runs in one transaction: the idempotency claim, the values, the rejected rows and the
    stored response commit together or not at all. Observers hear of the outcome once it is
    stored.
    """
    started = time.perf_counter()
    rows: list[Any] = []
    try:
        principal = await ctx.cache.principal(token)
        _require_right(principal, imported)
        rows = _parse_envelope(body, ctx.settings.max_batch)
        result = await _push(
            ctx, token, principal, rows, body, atomic, idempotency_key, now, imported
        )
    except Exception as exc:
        status = exc.status if isinstance(exc, HubError) else 500
        ctx.notify(PushOutcome(imported, status, time.perf_counter() - started, now, len(rows)))
        raise
    ctx.notify(
        PushOutcome(
            imported,
            result.status,
            time.perf_counter() - started,
            now,
            rows=len(rows),
            replayed=result.replayed,
            superseded=result.superseded,
            rejected=tuple(r.code for r in result.rejected),
            written=result.written,
        )
    )
    return result


def _require_right(principal: Principal, imported: bool) -> None:
    if not imported:
        require_scope(principal, Scope.OBSERVATIONS_WRITE)
        return
    require_scope(principal, Scope.OBSERVATIONS_IMPORT)
    if not principal.is_province:
        raise Forbidden(
            "imports are for province-level (admin) keys only; "
            f"this key is bound to unit {principal.unit.code!r}"
        )


async def _push(
    ctx: IngestContext,
    token: str | None,
    principal: Principal,
    rows: list[Any],
    body: bytes,
    atomic: bool,
    idempotency_key: str | None,
    now: datetime,
    imported: bool,
) -> PushResult:
    try:
        if idempotency_key is None and ctx.group is not None:
            result = await _validate_and_write(ctx, None, principal, rows, now, atomic, imported)
            if result is not None:
                return result
        async with ctx.sessions() as session, session.begin():
            return await _push_in_transaction(
                ctx, session, principal, rows, body, atomic, idempotency_key, now, imported
            )
    except repository.KeyNotLive:
        assert token is not None
        ctx.cache.forget(token)
        await ctx.cache.principal(token)  # raises the precise 401
        raise


async def _validate_and_write(
    ctx: IngestContext,
    executor: AsyncSession | None,
    principal: Principal,
    rows: list[Any],
    now: datetime,
    atomic: bool,
    imported: bool,
    *,
    with_rejections: bool = False,
) -> PushResult | None:
    """Validate against the registry copy and write, in ``executor``'s transaction or, without
    one, through group commit; reload the copy and retry when the registry changed under it.
    ``None`` when rows were rejected and ``with_rejections`` is off (the caller then takes the
    transactional path, which keeps them)."""
    stale: RegistryCopy | None = None
    while True:
        copy = await ctx.cache.registry(executor, stale)
        outcome = _validate(copy, ctx.settings, principal, rows, now, imported)
        if outcome.errors and not with_rejections:
            return None
        refuse = bool(outcome.errors) and (atomic or not outcome.valid)
        try:
            if refuse:
                # Nothing will be written, so the write's own guard will not run: check that
                # the rows were judged by the current registry, and that the key is live.
                assert executor is not None, "rejections are kept in a transaction"
                await repository.check_guard(
                    executor, key_id=principal.key_id, generation=copy.generation
                )
                return _refusal(outcome, len(rows), atomic)
            if executor is None:
                assert ctx.group is not None
                write = ctx.group.write
            else:
                write = functools.partial(repository.write_batch, executor)
            counts = await write(
                outcome.valid,
                key_id=principal.key_id,
                now=now,
                generation=copy.generation,
                imported=imported,
            )
        except repository.StaleRegistry:
            stale = copy
            continue
        return PushResult(
            200,
            summary_json(counts, outcome.superseded, outcome.errors),
            rejected=outcome.rejected_rows,
            written=Written(outcome.valid, counts, copy),
            superseded=outcome.superseded,
        )


async def _push_in_transaction(
    ctx: IngestContext,
    session: AsyncSession,
    principal: Principal,
    rows: list[Any],
    body: bytes,
    atomic: bool,
    idempotency_key: str | None,
    now: datetime,
    imported: bool,
) -> PushResult:
    if idempotency_key is not None:
        # An import and a push with one key and body are different requests: a conflict.
        flags = (b"\x00atomic" if atomic else b"") + (b"\x00import" if imported else b"")
        request_hash = hashlib.sha256(body + flags).hexdigest()
        replay = await _claim_idempotency(
            session,
            principal.key_id,
            idempotency_key,
            request_hash,
            now,
            ctx.settings.idempotency_ttl,
        )
        if replay is not None:
            return replay
    result = await _validate_and_write(
        ctx, session, principal, rows, now, atomic, imported, with_rejections=True
    )
    assert result is not None
    await _keep_rejections(session, principal.key_id, result.rejected, now)
    if idempotency_key is not None:
        await session.execute(
            update(IdempotencyRecord)
            .where(
                IdempotencyRecord.key_id == principal.key_id,
                IdempotencyRecord.idempotency_key == idempotency_key,
            )
            .values(status_code=result.status, response_body=result.body.decode())
        )
    return result


def summary_json(counts: repository.WriteCounts, superseded: int, errors: list[RowError]) -> bytes:
    """The :class:`ImportSummary` of a stored push, as JSON. Written out by hand: building and
    dumping the model would cost a single-row push ten times as much (4.5 against 0.4 us)."""
    return orjson.dumps(
        {
            "created": counts.created,
            "updated": counts.updated,
            "unchanged": counts.unchanged,
            "superseded": superseded,
            "rejected": len(errors),
            "errors": [{"index": e.index, "reason": e.reason} for e in errors],
        }
    )


def _parse_envelope(body: bytes, max_batch: int) -> list[Any]:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Invalid(f"body is not valid JSON: {exc}", field="body") from None
    if not isinstance(document, dict):
        raise Invalid("body must be an object with an 'observations' array", field="body")
    extra = sorted(document.keys() - {"observations"})
    if extra:
        raise Invalid(f"unexpected field {extra[0]!r}", field=f"body.{extra[0]}")
    rows = document.get("observations")
    if not isinstance(rows, list):
        raise Invalid("observations must be an array of rows", field="body.observations")
    if not rows:
        raise Invalid("observations must hold at least one row", field="body.observations")
    if len(rows) > max_batch:
        raise PayloadTooLarge(
            f"batch has {len(rows)} rows; max_batch is {max_batch}", field="body.observations"
        )
    return rows


def _validate(
    copy: RegistryCopy,
    settings: Settings,
    principal: Principal,
    rows: list[Any],
    now: datetime,
    imported: bool,
) -> _Outcome:
    validator = Validator(
        principal=principal,
        units=copy.units,
        indicators=copy.indicators,
        tz=settings.tz,
        now=now,
        imported=imported,
    )
    outcome = _Outcome()
    latest: dict[tuple[int, int, str], ValidRow] = {}
    for index, row in enumerate(rows):
        try:
            valid = validator.check(row)
        except RowRejected as exc:
            outcome.errors.append(RowError(index=index, reason=exc.reason))
            outcome.rejected_rows.append(Rejected(index, row, exc.reason, exc.code))
            continue
        key = (valid.unit_id, valid.indicator_id, valid.period)
        if key in latest:
            outcome.superseded += 1
        latest[key] = valid
    outcome.valid = list(latest.values())
    return outcome


def _refusal(outcome: _Outcome, total: int, atomic: bool) -> PushResult:
    bad = len(outcome.errors)
    if atomic:
        detail = f"{bad} of {total} rows were rejected; atomic=true, so nothing was stored"
    else:
        detail = f"all {total} rows were rejected; nothing was stored"
    problem = PushProblem(
        type="https://ioc-hub.dev/problems/rows-rejected",
        title="Rows rejected",
        status=422,
        detail=detail,
        errors=[
            FieldError(field=f"body.observations.{e.index}", reason=e.reason)
            for e in outcome.errors
        ],
        summary=ImportSummary(
            created=0, updated=0, unchanged=0, superseded=0, rejected=total, errors=outcome.errors
        ),
    )
    return PushResult(
        422,
        orjson.dumps(problem.model_dump()),
        media_type=PROBLEM_JSON,
        rejected=outcome.rejected_rows,
    )


async def _keep_rejections(
    session: AsyncSession, key_id: int, rejected: list[Rejected], now: datetime
) -> None:
    if not rejected:
        return
    await session.execute(
        insert(Rejection),
        [
            {
                "received_at": now,
                "key_id": key_id,
                "unit_code": _code(r.row, "unit"),
                "indicator_code": _code(r.row, "indicator"),
                "row_index": r.index,
                "row": _stored_row(r.row),
                "reason": r.reason,
            }
            for r in rejected
        ],
    )


def _code(row: Any, name: str) -> str | None:
    """The code as sent, made storable: a NUL would make PostgreSQL refuse the whole push."""
    value = row.get(name) if isinstance(row, dict) else None
    return printable(value, 63) if isinstance(value, str) else None


def _stored_row(row: Any) -> str:
    try:
        text = orjson.dumps(row).decode()
    except orjson.JSONEncodeError:
        # orjson reads deeper nesting (1,024 levels) than it writes (254).
        return "(not stored: the row is nested too deeply to write back)"
    return text if len(text) <= MAX_STORED_ROW else text[:MAX_STORED_ROW] + "…"


async def _claim_idempotency(
    session: AsyncSession,
    key_id: int,
    idempotency_key: str,
    request_hash: str,
    now: datetime,
    ttl: timedelta,
) -> PushResult | None:
    """Replay the first response to this key, or claim the key for this request.

    The claim is a row inserted before any work: a concurrent request with the same key waits on
    it (PostgreSQL) or on the write lock (SQLite), then replays what the first one answered.
    """
    if not idempotency_key or len(idempotency_key) > 200 or not idempotency_key.isprintable():
        raise Invalid(
            "Idempotency-Key must be 1 to 200 printable characters",
            field="header.Idempotency-Key",
        )
    where = (
        IdempotencyRecord.key_id == key_id,
        IdempotencyRecord.idempotency_key == idempotency_key,
    )
    found = (await session.execute(select(IdempotencyRecord).where(*where))).scalar_one_or_none()
    if found is not None and found.created_at < now - ttl:
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
                        created_at=now,
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
    return PushResult(found.status_code, found.response_body.encode(), True, media)


async def heartbeat(
    session: AsyncSession, principal: Principal, unit_code: str | None, now: datetime
) -> tuple[HeartbeatOut, HeartbeatOutcome]:
    """Record the heartbeat; the outcome is for observers once the session commits."""
    unit_id, code = principal.unit.id, principal.unit.code
    if unit_code is not None and unit_code != code:
        unit = await registry.get_unit(session, unit_code, field="body.unit")
        if not principal.covers(registry.ref(unit)):
            raise Forbidden(f"unit {unit_code} is outside this key's area", field="body.unit")
        unit_id, code = unit.id, unit.code
    previous = await repository.touch_heartbeat(session, unit_id, now)
    return HeartbeatOut(unit=code, last_contact_at=now), HeartbeatOutcome(unit_id, now, previous)


async def list_observations(
    session: AsyncSession,
    principal: Principal,
    page: PageParams,
    *,
    unit: str | None,
    indicator: str | None,
    period_from: str | None,
    period_to: str | None,
) -> Page[ObservationOut]:
    query = (
        select(Observation, Unit.code, Indicator.code, Indicator.cadence)
        .join(Unit, Unit.id == Observation.unit_id)
        .join(Indicator, Indicator.id == Observation.indicator_id)
    )
    query = query.where(area_clause(principal))
    if unit is not None:
        target = await registry.get_unit(session, unit, field="query.unit")
        if not principal.covers(registry.ref(target)):
            raise Forbidden(f"unit {unit} is outside this key's area", field="query.unit")
        query = query.where(Observation.unit_id == target.id)
    cadence: Cadence | None = None
    if indicator is not None:
        found = await session.scalar(select(Indicator).where(Indicator.code == indicator))
        if found is None:
            raise NotFound(f"unknown indicator {indicator!r}", field="query.indicator")
        cadence = Cadence(found.cadence)
        query = query.where(Observation.indicator_id == found.id)
    bounds = [
        _period_bound(text, name, cadence)
        for text, name in ((period_from, "from"), (period_to, "to"))
    ]
    low, high = bounds
    if low is not None and high is not None and low.start > high.start:
        raise Invalid(f"from {low.id} is after to {high.id}", field="query.from")
    if low is not None:
        query = query.where(Observation.period_start >= low.start)
    if high is not None:
        query = query.where(Observation.period_start < high.end)
    rows = await session.execute(
        page.window(query, Unit.code, Indicator.code, Observation.period_start)
    )
    items = [
        ObservationOut(
            unit=unit_code,
            indicator=indicator_code,
            period=obs.period,
            value=obs.value,
            observed_at=obs.observed_at,
            received_at=obs.received_at,
            first_received_at=obs.first_received_at,
            revision=obs.revision,
            imported=obs.imported,
        )
        for obs, unit_code, indicator_code, _ in rows
    ]
    return Page.of(items, await count_rows(session, query), page)


def _period_bound(text: str | None, name: str, cadence: Cadence | None) -> Period | None:
    if text is None:
        return None
    try:
        return Period.parse(text, cadence)
    except PeriodError as exc:
        raise Invalid(str(exc), field=f"query.{name}") from None


async def revisions(
    session: AsyncSession, principal: Principal, unit: str, indicator: str, period: str
) -> list[RevisionOut]:
    target = await registry.get_unit(session, unit, field="path.unit")
    if not principal.covers(registry.ref(target)):
        raise Forbidden(f"unit {unit} is outside this key's area", field="path.unit")
    found = await session.scalar(select(Indicator).where(Indicator.code == indicator))
    if found is None:
        raise NotFound(f"unknown indicator {indicator!r}", field="path.indicator")
    try:
        canonical = Period.parse(period, Cadence(found.cadence)).id
    except PeriodError as exc:
        raise Invalid(str(exc), field="path.period") from None
    observation_id = await session.scalar(
        select(Observation.id).where(
            Observation.unit_id == target.id,
            Observation.indicator_id == found.id,
            Observation.period == canonical,
        )
    )
    if observation_id is None:
        raise NotFound(f"no observation of {indicator} for {unit} in {canonical}")
    history = await session.scalars(
        select(ObservationRevision)
        .where(ObservationRevision.observation_id == observation_id)
        .order_by(ObservationRevision.revision)
    )
    return [
        RevisionOut(
            revision=r.revision,
            old_value=r.old_value,
            new_value=r.new_value,
            old_received_at=r.old_received_at,
            changed_at=r.changed_at,
            key_id=r.key_id,
        )
        for r in history
    ]


async def list_rejections(
    session: AsyncSession,
    principal: Principal,
    page: PageParams,
    *,
    since: datetime | None,
) -> Page[RejectionOut]:
    """Rejected rows sent with keys of units in the caller's area, newest first."""
    query = (
        select(Rejection)
        .outerjoin(AccessKey, AccessKey.id == Rejection.key_id)
        .outerjoin(Unit, Unit.id == AccessKey.unit_id)
    )
    query = query.where(area_clause(principal))
    if since is not None:
        query = query.where(Rejection.received_at >= since)
    rows = await session.scalars(page.window(query, Rejection.id.desc()))
    return Page.of([_rejection_out(r) for r in rows], await count_rows(session, query), page)


def _rejection_out(r: Rejection) -> RejectionOut:
    return RejectionOut(
        id=r.id,
        received_at=r.received_at,
        key_id=r.key_id,
        unit=r.unit_code,
        indicator=r.indicator_code,
        index=r.row_index,
        row=r.row,
        reason=r.reason,
    )
