"""The reads of ingest: stored observations, their revisions, and the rows refused at push
time, each within the key's area (docs/design.md §3, §6)."""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ioc_hub.access.principal import Principal
from ioc_hub.access.service import area_clause
from ioc_hub.errors import Invalid, NotFound
from ioc_hub.ingest.schemas import ObservationOut, RejectionOut, RevisionOut
from ioc_hub.kit.pagination import Page, PageParams, count_rows
from ioc_hub.kit.periods import Cadence, Period, PeriodError
from ioc_hub.models import (
    AccessKey,
    Indicator,
    Observation,
    ObservationDeletion,
    ObservationRevision,
    Rejection,
    Unit,
)
from ioc_hub.registry import service as registry


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
        select(Observation, Unit.code, Indicator.code)
        .join(Unit, Unit.id == Observation.unit_id)
        .join(Indicator, Indicator.id == Observation.indicator_id)
    )
    query = query.where(area_clause(principal))
    if unit is not None:
        target = await registry.unit_in_area(session, principal, unit, field="query.unit")
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
            comment=obs.comment,
            observed_at=obs.observed_at,
            received_at=obs.received_at,
            first_received_at=obs.first_received_at,
            revision=obs.revision,
            imported=obs.imported,
        )
        for obs, unit_code, indicator_code in rows
    ]
    return Page.of(items, await count_rows(session, query), page)


def _period_bound(text: str | None, name: str, cadence: Cadence | None) -> Period | None:
    if text is None:
        return None
    try:
        return Period.parse(text, cadence)
    except PeriodError as exc:
        raise Invalid(str(exc), field=f"query.{name}") from None


async def _named(
    session: AsyncSession, principal: Principal, unit: str, indicator: str, period: str
) -> tuple[int, int, str]:
    """The unit id, indicator id and canonical period a path names: 404 for an unknown unit or
    indicator, 403 for a unit outside the key's area, 422 for a period not of the indicator's
    cadence."""
    target = await registry.unit_in_area(session, principal, unit, field="path.unit")
    found = await session.scalar(select(Indicator).where(Indicator.code == indicator))
    if found is None:
        raise NotFound(f"unknown indicator {indicator!r}", field="path.indicator")
    try:
        canonical = Period.parse(period, Cadence(found.cadence)).id
    except PeriodError as exc:
        raise Invalid(str(exc), field="path.period") from None
    return target.id, found.id, canonical


async def observation_id(
    session: AsyncSession, principal: Principal, unit: str, indicator: str, period: str
) -> int:
    """The id of the observation a path names (:func:`_named`), 404 when none is stored."""
    unit_id, indicator_id, canonical = await _named(session, principal, unit, indicator, period)
    observation: int | None = await session.scalar(
        select(Observation.id).where(
            Observation.unit_id == unit_id,
            Observation.indicator_id == indicator_id,
            Observation.period == canonical,
        )
    )
    if observation is None:
        raise NotFound(f"no observation of {indicator} for {unit} in {canonical}")
    return observation


async def revisions(
    session: AsyncSession, principal: Principal, unit: str, indicator: str, period: str
) -> list[RevisionOut]:
    unit_id, indicator_id, canonical = await _named(session, principal, unit, indicator, period)
    current = await session.scalar(
        select(Observation.id).where(
            Observation.unit_id == unit_id,
            Observation.indicator_id == indicator_id,
            Observation.period == canonical,
        )
    )
    # A deleted observation's revisions stay under its id, reached through its deletion.
    deletions = (
        await session.scalars(
            select(ObservationDeletion).where(
                ObservationDeletion.unit_id == unit_id,
                ObservationDeletion.indicator_id == indicator_id,
                ObservationDeletion.period == canonical,
            )
        )
    ).all()
    if current is None and not deletions:
        raise NotFound(f"no observation of {indicator} for {unit} in {canonical}")
    ids = [d.observation_id for d in deletions] + ([current] if current is not None else [])
    history = await session.scalars(
        select(ObservationRevision).where(ObservationRevision.observation_id.in_(ids))
    )
    changes = [
        RevisionOut(
            revision=r.revision,
            old_value=r.old_value,
            new_value=r.new_value,
            old_comment=r.old_comment,
            new_comment=r.new_comment,
            old_received_at=r.old_received_at,
            changed_at=r.changed_at,
            key_id=r.key_id,
        )
        for r in history
    ] + [
        RevisionOut(
            revision=d.revision,
            old_value=d.value,
            new_value=None,
            old_comment=d.comment,
            new_comment=None,
            old_received_at=d.received_at,
            changed_at=d.deleted_at,
            key_id=d.key_id,
        )
        for d in deletions
    ]
    return sorted(changes, key=lambda r: (r.changed_at, r.new_value is None, r.revision))


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
