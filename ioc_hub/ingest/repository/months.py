"""Keeping ``series_months`` (docs/design.md §4, §5) in the batch's transaction, the same SQL on
both engines: a write adds the periods it created (the PostgreSQL statement does the same in one
of its steps), a correction or a deletion counts the months it touched again from the
observations as they are then, and ``ioc-hub recount`` counts again the months a change of grace
left untrusted.
"""

from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy import and_, case, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ioc_hub.config import Settings
from ioc_hub.coverage.months import (
    Deadlines,
    MonthCount,
    MonthKey,
    Report,
    count_months,
    next_month,
)
from ioc_hub.kit.dialect import greatest, keys_in, least, upsert
from ioc_hub.kit.periods import Cadence
from ioc_hub.models import Indicator, Observation, SeriesMonth

# SQLite takes at most 32,766 bound parameters per statement: three a key.
_CHUNK = 5000

_KEY = [SeriesMonth.indicator_id, SeriesMonth.month, SeriesMonth.unit_id]
_KEY_NAMES = {column.key for column in _KEY}


def _rows(months: Mapping[MonthKey, MonthCount]) -> list[dict[str, Any]]:
    # In key order: concurrent batches lock shared rows in the same order (no deadlock).
    return [
        {
            "unit_id": unit_id,
            "indicator_id": indicator_id,
            "month": month,
            "received": count.received,
            "on_time": count.on_time,
            "grace_microseconds": count.grace_microseconds,
            "last_received_at": count.last_received_at,
            "value_sum": count.value_sum,
            "value_min": count.value_min,
            "value_max": count.value_max,
            "last_start": count.last_start,
            "last_value": count.last_value,
            "changed_at": count.changed_at,
        }
        for (unit_id, indicator_id, month), count in sorted(
            months.items(), key=lambda item: (item[0][1], item[0][2], item[0][0])
        )
    ]


async def add(session: AsyncSession, months: Mapping[MonthKey, MonthCount]) -> None:
    """Add newly created periods to their months. A month counted under another grace keeps its
    count of receipts but no longer trusts its on-time count (``grace_microseconds`` NULL)."""
    if not months:
        return
    statement = upsert(session, SeriesMonth)
    new = statement.excluded
    same_grace = SeriesMonth.grace_microseconds == new.grace_microseconds
    statement = statement.on_conflict_do_update(
        index_elements=_KEY,
        set_={
            "received": SeriesMonth.received + new.received,
            "on_time": SeriesMonth.on_time + new.on_time,
            "grace_microseconds": case((same_grace, SeriesMonth.grace_microseconds), else_=None),
            "last_received_at": greatest(
                session, SeriesMonth.last_received_at, new.last_received_at
            ),
            "value_sum": SeriesMonth.value_sum + new.value_sum,
            "value_min": least(session, SeriesMonth.value_min, new.value_min),
            "value_max": greatest(session, SeriesMonth.value_max, new.value_max),
            "last_value": case(
                (new.last_start > SeriesMonth.last_start, new.last_value),
                else_=SeriesMonth.last_value,
            ),
            "last_start": greatest(session, SeriesMonth.last_start, new.last_start),
            "changed_at": greatest(session, SeriesMonth.changed_at, new.changed_at),
        },
    )
    await session.execute(statement, _rows(months))


async def recount(session: AsyncSession, deadlines: Deadlines, keys: Collection[MonthKey]) -> None:
    """Count these months again from the observations they hold now, under the grace in force;
    a month left with none is dropped."""
    if not keys:
        return
    wanted = set(keys)
    # Lock the months first (PostgreSQL; SQLite has one writer): a push that counts into one of
    # them then waits, or has committed before the observations are read, so no count is lost.
    ordered = sorted(wanted, key=lambda key: (key[1], key[2], key[0]))
    for start in range(0, len(ordered), _CHUNK):
        await session.execute(
            select(SeriesMonth.unit_id)
            .where(
                keys_in(
                    session,
                    [SeriesMonth.unit_id, SeriesMonth.indicator_id, SeriesMonth.month],
                    ordered[start : start + _CHUNK],
                )
            )
            .order_by(*_KEY)
            .with_for_update()
        )
    series = sorted({(unit_id, indicator_id) for unit_id, indicator_id, _ in wanted})
    first = min(month for *_, month in wanted)
    end = next_month(max(month for *_, month in wanted))
    reports: list[Report] = []
    for start in range(0, len(series), _CHUNK):
        found = await session.execute(
            select(
                Observation.unit_id,
                Observation.indicator_id,
                Observation.period_start,
                Observation.first_received_at,
                Observation.value,
                Observation.received_at,
            ).where(
                keys_in(
                    session,
                    [Observation.unit_id, Observation.indicator_id],
                    series[start : start + _CHUNK],
                ),
                Observation.period_start >= first,
                Observation.period_start < end,
            )
        )
        reports.extend(Report(*row) for row in found)
    months = {
        key: count for key, count in count_months(deadlines, reports).items() if key in wanted
    }
    if months:
        statement = upsert(session, SeriesMonth)
        new = statement.excluded
        statement = statement.on_conflict_do_update(
            index_elements=_KEY,
            set_={
                column.key: new[column.key]
                for column in SeriesMonth.__table__.columns
                if column.key not in _KEY_NAMES
            },
        )
        await session.execute(statement, _rows(months))
    gone = sorted(wanted - months.keys())
    for start in range(0, len(gone), _CHUNK):
        await session.execute(
            delete(SeriesMonth).where(
                keys_in(
                    session,
                    [SeriesMonth.unit_id, SeriesMonth.indicator_id, SeriesMonth.month],
                    gone[start : start + _CHUNK],
                )
            )
        )


async def recount_regraced(session: AsyncSession, settings: Settings) -> int:
    """Count again every month counted under another grace than its indicator's in force (the
    indicator's own, or the ``IOC_HUB_GRACE_*`` setting, changed since): completeness reads
    their observations until then. Returns how many months were counted again."""
    indicators = (
        await session.execute(select(Indicator.id, Indicator.cadence, Indicator.grace_seconds))
    ).all()
    deadlines = Deadlines(settings, ((i, Cadence(c), own) for i, c, own in indicators))
    by_grace: dict[int, list[int]] = {}
    for indicator_id, _, _ in indicators:
        by_grace.setdefault(deadlines.grace(indicator_id), []).append(indicator_id)
    stale = (
        await session.execute(
            select(SeriesMonth.unit_id, SeriesMonth.indicator_id, SeriesMonth.month).where(
                or_(
                    SeriesMonth.grace_microseconds.is_(None),
                    *(
                        and_(
                            SeriesMonth.indicator_id.in_(ids),
                            SeriesMonth.grace_microseconds != grace,
                        )
                        for grace, ids in by_grace.items()
                    ),
                )
            )
        )
    ).all()
    keys = sorted((u, i, month) for u, i, month in stale)
    for start in range(0, len(keys), _CHUNK):
        await recount(session, deadlines, keys[start : start + _CHUNK])
    return len(keys)
