"""Push ingestion (DESIGN §3): per-row validation, natural-key upsert with revisions, import
summaries, idempotent retries, rejected rows kept for operators, heartbeats."""

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from ioc_hub.access.principal import Principal
from ioc_hub.access.service import require_scope
from ioc_hub.config import Settings
from ioc_hub.errors import (
    PROBLEM_JSON,
    Conflict,
    FieldError,
    Forbidden,
    Invalid,
    NotFound,
    PayloadTooLarge,
)
from ioc_hub.ingest import repository
from ioc_hub.ingest.cache import IngestCache, RegistryCopy
from ioc_hub.ingest.schemas import (
    HeartbeatOut,
    ImportSummary,
    ObservationOut,
    PushProblem,
    RejectionOut,
    RevisionOut,
    RowError,
)
from ioc_hub.ingest.validation import (
    RowRejected,
    Validator,
    ValidRow,
)
from ioc_hub.kit.pagination import Page, PageParams
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

MAX_STORED_ROW = 4000


@dataclass
class PushResult:
    status: int
    body: bytes
    replayed: bool = False
    media_type: str = "application/json"
    rejected: list[tuple[int, Any, str]] = field(default_factory=list)


@dataclass
class _Outcome:
    valid: list[ValidRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    rejected_rows: list[tuple[int, Any, str]] = field(default_factory=list)
    superseded: int = 0


@dataclass(frozen=True)
class IngestContext:
    """What a push needs beyond the request, built once per process by the app's lifespan."""

    settings: Settings
    cache: IngestCache
    sessions: async_sessionmaker[AsyncSession]
    autocommit: AsyncEngine


async def push(
    ctx: IngestContext,
    token: str | None,
    body: bytes,
    *,
    atomic: bool,
    idempotency_key: str | None,
    now: datetime,
) -> PushResult:
    """Validate and store one push (DESIGN §3).

    The common case — PostgreSQL, no ``Idempotency-Key``, every row valid — is one statement
    in autocommit. Everything else runs in one transaction: the idempotency claim, the values,
    the rejected rows and the stored response commit together or not at all.
    """
    principal = await ctx.cache.principal(token)
    require_scope(principal, Scope.OBSERVATIONS_WRITE)
    rows = _parse_envelope(body, ctx.settings.max_batch)
    try:
        if idempotency_key is None and ctx.autocommit.dialect.name == "postgresql":
            async with ctx.autocommit.connect() as connection:
                result = await _validate_and_write(ctx, connection, principal, rows, now, atomic)
            if result is not None:
                return result
        async with ctx.sessions() as session, session.begin():
            return await _push_in_transaction(
                ctx, session, principal, rows, body, atomic, idempotency_key, now
            )
    except repository.KeyNotLive:
        assert token is not None
        ctx.cache.forget(token)
        await ctx.cache.principal(token)  # raises the precise 401
        raise


async def _validate_and_write(
    ctx: IngestContext,
    executor: AsyncSession | AsyncConnection,
    principal: Principal,
    rows: list[Any],
    now: datetime,
    atomic: bool,
    *,
    with_rejections: bool = False,
) -> PushResult | None:
    """Validate against the registry copy and write; reload the copy and retry when the
    registry changed under it. ``None`` when rows were rejected and ``with_rejections`` is off
    (the caller then takes the transactional path, which keeps them)."""
    stale: RegistryCopy | None = None
    while True:
        copy = await ctx.cache.registry(executor, stale)
        outcome = _validate(copy, ctx.settings, principal, rows, now)
        if outcome.errors and not with_rejections:
            return None
        refuse = bool(outcome.errors) and (atomic or not outcome.valid)
        try:
            if refuse:
                # Nothing will be written, so the write's own guard will not run: check that
                # the rows were judged by the current registry, and that the key is live.
                await repository.check_guard(
                    executor, key_id=principal.key_id, generation=copy.generation
                )
                return _refusal(outcome, len(rows), atomic)
            counts = await repository.write_batch(
                executor,
                outcome.valid,
                key_id=principal.key_id,
                now=now,
                generation=copy.generation,
            )
        except repository.StaleRegistry:
            stale = copy
            continue
        summary = ImportSummary(
            created=counts.created,
            updated=counts.updated,
            unchanged=counts.unchanged,
            superseded=outcome.superseded,
            rejected=len(outcome.errors),
            errors=outcome.errors,
        )
        return PushResult(200, orjson.dumps(summary.model_dump()), rejected=outcome.rejected_rows)


async def _push_in_transaction(
    ctx: IngestContext,
    session: AsyncSession,
    principal: Principal,
    rows: list[Any],
    body: bytes,
    atomic: bool,
    idempotency_key: str | None,
    now: datetime,
) -> PushResult:
    if idempotency_key is not None:
        request_hash = hashlib.sha256(body + (b"\x00atomic" if atomic else b"")).hexdigest()
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
        ctx, session, principal, rows, now, atomic, with_rejections=True
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
) -> _Outcome:
    validator = Validator(
        principal=principal,
        units=copy.units,
        indicators=copy.indicators,
        tz=settings.tz,
        now=now,
    )
    outcome = _Outcome()
    latest: dict[tuple[int, int, str], ValidRow] = {}
    for index, row in enumerate(rows):
        try:
            valid = validator.check(row)
        except RowRejected as exc:
            outcome.errors.append(RowError(index=index, reason=exc.reason))
            outcome.rejected_rows.append((index, row, exc.reason))
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
    session: AsyncSession, key_id: int, rejected: list[tuple[int, Any, str]], now: datetime
) -> None:
    if not rejected:
        return
    await session.execute(
        insert(Rejection),
        [
            {
                "received_at": now,
                "key_id": key_id,
                "unit_code": _code(row, "unit"),
                "indicator_code": _code(row, "indicator"),
                "row_index": index,
                "row": _stored_row(row),
                "reason": reason,
            }
            for index, row, reason in rejected
        ],
    )


def _code(row: Any, name: str) -> str | None:
    value = row.get(name) if isinstance(row, dict) else None
    return value[:64] if isinstance(value, str) else None


def _stored_row(row: Any) -> str:
    text = orjson.dumps(row).decode()
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
) -> HeartbeatOut:
    unit_id, code = principal.unit.id, principal.unit.code
    if unit_code is not None and unit_code != code:
        unit = await registry.get_unit(session, unit_code, field="body.unit")
        if not principal.covers(registry.ref(unit)):
            raise Forbidden(f"unit {unit_code} is outside this key's area", field="body.unit")
        unit_id, code = unit.id, unit.code
    await repository.touch_contacts(session, {unit_id}, now, pushed=False)
    return HeartbeatOut(unit=code, last_contact_at=now)


def _area_filter(principal: Principal) -> Any:
    """Units the key may read: its own and its children (everything for a province key)."""
    if principal.is_province:
        return None
    return (Unit.id == principal.unit.id) | (Unit.parent_id == principal.unit.id)


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
    area = _area_filter(principal)
    if area is not None:
        query = query.where(area)
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
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.execute(
        query.order_by(Unit.code, Indicator.code, Observation.period_start)
        .limit(page.limit)
        .offset(page.offset)
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
    return Page(items=items, total=total, **page.model_dump())


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
    area = _area_filter(principal)
    if area is not None:
        query = query.where(area)
    if since is not None:
        query = query.where(Rejection.received_at >= since)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.scalars(
        query.order_by(Rejection.id.desc()).limit(page.limit).offset(page.offset)
    )
    return Page(items=[_rejection_out(r) for r in rows], total=total, **page.model_dump())


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
