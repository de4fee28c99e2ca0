"""Deleting observations (DHIS2's ``importStrategy=DELETE``), the same SQL on both engines.

A deleted observation leaves the table, so every read (aggregates, exports, coverage) stops
seeing it without a filter of its own; its last state goes to ``observation_deletions`` with the
revision the deletion made, and its earlier revisions stay where they are. The series it belonged
to falls back to its latest remaining value, or is forgotten when none remains; the month it
counted in is counted again, and what outlier flagging cached from it is dropped.
"""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ioc_hub.coverage.months import Deadlines, MonthKey
from ioc_hub.ingest.repository import months
from ioc_hub.ingest.validation import StoredKey
from ioc_hub.kit.dialect import keys_in
from ioc_hub.kit.periods import month_of
from ioc_hub.models import Observation, ObservationDeletion, SeriesState
from ioc_hub.quality import repository as outlier_caches

# SQLite takes at most 32,766 bound parameters per statement: three a key.
_CHUNK = 5000


async def delete_batch(
    session: AsyncSession,
    keys: Sequence[StoredKey],
    *,
    key_id: int,
    now: datetime,
    deadlines: Deadlines,
) -> int:
    """Delete the observations at ``keys`` (those that exist) and return how many were; the
    months completeness reads are counted again (their on-time counts by ``deadlines``)."""
    ordered = sorted(set(keys))  # a fixed order: concurrent batches lock rows alike
    # Before any row lock, as ingest takes it: no baseline of these series is being computed
    # while the deletion drops what it makes stale.
    await outlier_caches.lock_series(session, {(k.unit_id, k.indicator_id) for k in ordered}, set())
    deleted: list[dict[str, object]] = []
    touched: set[MonthKey] = set()
    for start in range(0, len(ordered), _CHUNK):
        found = await session.execute(
            select(Observation)
            .where(
                keys_in(
                    session,
                    [Observation.unit_id, Observation.indicator_id, Observation.period],
                    ordered[start : start + _CHUNK],
                )
            )
            .order_by(Observation.id)
            .with_for_update()  # PostgreSQL: a concurrent push of the key waits; SQLite: no-op
        )
        rows = found.scalars().all()
        touched.update((o.unit_id, o.indicator_id, month_of(o.period_start)) for o in rows)
        deleted.extend(
            {
                "observation_id": o.id,
                "unit_id": o.unit_id,
                "indicator_id": o.indicator_id,
                "period": o.period,
                "period_start": o.period_start,
                "value": o.value,
                "comment": o.comment,
                "received_at": o.received_at,
                "revision": o.revision + 1,
                "deleted_at": now,
                "key_id": key_id,
            }
            for o in rows
        )
    if not deleted:
        return 0
    await session.execute(insert(ObservationDeletion), deleted)
    ids = [d["observation_id"] for d in deleted]
    for start in range(0, len(ids), _CHUNK):
        await session.execute(
            delete(Observation).where(Observation.id.in_(ids[start : start + _CHUNK]))
        )
    series = sorted({(d["unit_id"], d["indicator_id"]) for d in deleted})
    await _fall_back(session, series)  # type: ignore[arg-type]
    await months.recount(session, deadlines, touched)
    await outlier_caches.forget_months(session, sorted(touched))
    return len(deleted)


async def _fall_back(session: AsyncSession, series: list[tuple[int, int]]) -> None:
    """Point each series at its latest remaining value; forget a series left with none."""
    for start in range(0, len(series), _CHUNK):
        pairs = series[start : start + _CHUNK]
        latest = (
            select(
                Observation.unit_id,
                Observation.indicator_id,
                func.max(Observation.period_start).label("period_start"),
            )
            .where(keys_in(session, [Observation.unit_id, Observation.indicator_id], pairs))
            .group_by(Observation.unit_id, Observation.indicator_id)
            .subquery()
        )
        remaining = await session.execute(
            select(
                Observation.unit_id,
                Observation.indicator_id,
                Observation.period,
                Observation.period_start,
                Observation.value,
            ).join(
                latest,
                (latest.c.unit_id == Observation.unit_id)
                & (latest.c.indicator_id == Observation.indicator_id)
                & (latest.c.period_start == Observation.period_start),
            )
        )
        kept: set[tuple[int, int]] = set()
        for unit_id, indicator_id, period, period_start, value in remaining:
            kept.add((unit_id, indicator_id))
            await session.execute(
                update(SeriesState)
                .where(SeriesState.unit_id == unit_id, SeriesState.indicator_id == indicator_id)
                .values(
                    last_period=period,
                    last_period_start=period_start,
                    last_value=value,
                )
            )
        gone = [pair for pair in pairs if pair not in kept]
        if gone:
            await session.execute(
                delete(SeriesState).where(
                    keys_in(session, [SeriesState.unit_id, SeriesState.indicator_id], gone)
                )
            )
