"""A batch's write in portable SQL, for SQLite: read the rows the batch touches, then insert
and update. SQLite runs one writer at a time (``BEGIN IMMEDIATE``), so nothing changes between
the reads and the writes; the same steps on PostgreSQL would need the locking that
``postgresql.write`` gets from its single upsert."""

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import case, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ioc_hub.coverage.months import Deadlines, MonthKey, Report, count_months
from ioc_hub.ingest.repository import months
from ioc_hub.ingest.repository.common import (
    CONTACT_GAP,
    RECEIPT_RESOLUTION,
    Advance,
    Contact,
    StaleRegistry,
    WriteCounts,
)
from ioc_hub.ingest.validation import ValidRow
from ioc_hub.kit.dialect import greatest, keys_in, upsert
from ioc_hub.kit.periods import month_of
from ioc_hub.models import (
    Observation,
    ObservationRevision,
    RegistryGeneration,
    SeriesState,
    UnitContact,
)

# SQLite takes at most 32,766 bound parameters per statement: three a key.
_CHUNK = 5000


async def write(
    session: AsyncSession,
    rows: Sequence[ValidRow],
    *,
    key_id: int,
    now: datetime,
    generation: int,
    imported: bool,
    deadlines: Deadlines,
) -> WriteCounts:
    """Store ``rows`` (one per natural key, in a fixed order) with the same effects as the
    PostgreSQL statement."""
    current = await session.scalar(
        select(RegistryGeneration.generation).where(RegistryGeneration.id == 1)
    )
    if current != generation:
        raise StaleRegistry
    existing = await _existing(session, rows)
    counts = WriteCounts()
    new: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    revisions: list[dict[str, Any]] = []
    stored: list[ValidRow] = []
    corrected: set[MonthKey] = set()
    for row in rows:
        received_at = row.received_at or now
        old = existing.get((row.unit_id, row.indicator_id, row.period))
        if old is not None and (old.value, old.comment) == (row.row.value, row.row.comment):
            counts.unchanged += 1
            continue
        counts.add(row.unit_id, created=old is None, updated=old is not None)
        counts.written.append((row.unit_id, row.indicator_id, row.period))
        stored.append(row)
        if old is None:
            new.append(
                {
                    "unit_id": row.unit_id,
                    "indicator_id": row.indicator_id,
                    "period": row.period,
                    "period_start": row.period_start,
                    "value": row.row.value,
                    "comment": row.row.comment,
                    "observed_at": row.row.observed_at,
                    "received_at": received_at,
                    "first_received_at": received_at,
                    "key_id": key_id,
                    "revision": 1,
                    "imported": imported,
                }
            )
            continue
        corrected.add((row.unit_id, row.indicator_id, month_of(row.period_start)))
        changed.append(
            {
                "id": old.id,
                "value": row.row.value,
                "comment": row.row.comment,
                "observed_at": row.row.observed_at,
                "received_at": received_at,
                "key_id": key_id,
                "revision": old.revision + 1,
                "previous_value": old.value,
                "previous_comment": old.comment,
                "previous_received_at": old.received_at,
                "imported": imported,
            }
        )
        revisions.append(
            {
                "observation_id": old.id,
                "revision": old.revision + 1,
                "old_value": old.value,
                "new_value": row.row.value,
                "old_comment": old.comment,
                "new_comment": row.row.comment,
                "old_received_at": old.received_at,
                "changed_at": received_at,
                "key_id": key_id,
            }
        )
    if new:
        await session.execute(insert(Observation), new)
        reports = [
            Report(
                r["unit_id"],
                r["indicator_id"],
                r["period_start"],
                r["first_received_at"],
                r["value"],
                r["received_at"],
            )
            for r in new
        ]
        await months.add(session, count_months(deadlines, reports))
    if changed:
        await session.execute(update(Observation), changed)
        await session.execute(insert(ObservationRevision), revisions)
        # A corrected value may have been its month's least or greatest: count it again whole.
        await months.recount(session, deadlines, corrected)
    if stored:
        counts.advanced = await _move_series(session, stored, now)
    contact_at: dict[int, datetime] = {}
    for row in rows:
        at = row.received_at or now
        contact_at[row.unit_id] = max(at, contact_at.get(row.unit_id, at))
    counts.contacts = await _touch_pushes(session, contact_at)
    return counts


async def _existing(
    session: AsyncSession, rows: Sequence[ValidRow]
) -> dict[tuple[int, int, str], Any]:
    keys = [(r.unit_id, r.indicator_id, r.period) for r in rows]
    existing: dict[tuple[int, int, str], Any] = {}
    for start in range(0, len(keys), _CHUNK):
        found = await session.execute(
            select(
                Observation.unit_id,
                Observation.indicator_id,
                Observation.period,
                Observation.id,
                Observation.value,
                Observation.comment,
                Observation.received_at,
                Observation.revision,
            ).where(
                keys_in(
                    session,
                    [Observation.unit_id, Observation.indicator_id, Observation.period],
                    keys[start : start + _CHUNK],
                )
            )
        )
        for r in found:
            existing[(r.unit_id, r.indicator_id, r.period)] = r
    return existing


async def _move_series(
    session: AsyncSession, rows: Sequence[ValidRow], now: datetime
) -> list[Advance]:
    latest: dict[tuple[int, int], ValidRow] = {}
    received: dict[tuple[int, int], datetime] = {}
    for row in rows:
        key = (row.unit_id, row.indicator_id)
        if key not in latest or row.period_start > latest[key].period_start:
            latest[key] = row
        at = row.received_at or now
        received[key] = max(at, received.get(key, at))
    before: dict[tuple[int, int], tuple[str, date, datetime]] = {}
    pairs = list(latest)
    for start in range(0, len(pairs), _CHUNK):
        found = await session.execute(
            select(
                SeriesState.unit_id,
                SeriesState.indicator_id,
                SeriesState.last_period,
                SeriesState.last_period_start,
                SeriesState.last_received_at,
            ).where(
                keys_in(
                    session,
                    [SeriesState.unit_id, SeriesState.indicator_id],
                    pairs[start : start + _CHUNK],
                )
            )
        )
        for r in found:
            before[(r.unit_id, r.indicator_id)] = (
                r.last_period,
                r.last_period_start,
                r.last_received_at,
            )
    statement = upsert(session, SeriesState)
    new = statement.excluded
    newer = new.last_period_start >= SeriesState.last_period_start
    statement = statement.on_conflict_do_update(
        index_elements=[SeriesState.unit_id, SeriesState.indicator_id],
        set_={
            "last_period": case((newer, new.last_period), else_=SeriesState.last_period),
            "last_value": case((newer, new.last_value), else_=SeriesState.last_value),
            "last_period_start": greatest(
                session, new.last_period_start, SeriesState.last_period_start
            ),
            "last_received_at": greatest(
                session, new.last_received_at, SeriesState.last_received_at
            ),
        },
    )
    # As the PostgreSQL statement: an earlier period received within the resolution of the
    # series' receipt time leaves its row alone.
    changes = [
        {
            "unit_id": r.unit_id,
            "indicator_id": r.indicator_id,
            "last_period": r.period,
            "last_period_start": r.period_start,
            "last_value": r.row.value,
            "last_received_at": received[key],
        }
        for key, r in latest.items()
        if key not in before
        or r.period_start >= before[key][1]
        or before[key][2] < received[key] - RECEIPT_RESOLUTION
    ]
    if changes:
        await session.execute(statement, changes)
    advanced = []
    for key, row in latest.items():
        old = before.get(key)
        if old is None or row.period_start > old[1]:
            advanced.append(
                Advance(
                    *key,
                    row.period,
                    row.period_start,
                    old[0] if old else None,
                    old[1] if old else None,
                )
            )
    return advanced


async def _touch_pushes(session: AsyncSession, contact_at: dict[int, datetime]) -> list[Contact]:
    found = await session.execute(
        select(UnitContact.unit_id, UnitContact.last_contact_at).where(
            UnitContact.unit_id.in_(list(contact_at))
        )
    )
    before = {r.unit_id: r.last_contact_at for r in found}
    statement = upsert(session, UnitContact)
    statement = statement.on_conflict_do_update(
        index_elements=[UnitContact.unit_id],
        set_={
            "last_contact_at": greatest(
                session, statement.excluded.last_contact_at, UnitContact.last_contact_at
            ),
            "last_push_at": greatest(
                session, statement.excluded.last_push_at, UnitContact.last_push_at
            ),
        },
    )
    await session.execute(
        statement,
        [
            {"unit_id": u, "last_contact_at": at, "last_push_at": at}
            for u, at in sorted(contact_at.items())
        ],
    )
    return [
        Contact(unit_id, at, before.get(unit_id))
        for unit_id, at in sorted(contact_at.items())
        if unit_id not in before or before[unit_id] <= at - CONTACT_GAP
    ]
