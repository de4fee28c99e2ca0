"""The one query behind aggregated views: observations of one indicator reduced to one row per
(bucket, group) inside the database, on both engines with the same SQL.

Time bucketing needs no date functions, so nothing here depends on the engine: the buckets come
from :mod:`ioc_hub.kit.periods` (which alone knows that a week belongs to the month of its
Thursday) as the first ``period_start`` of each, and a row finds its bucket through a balanced
tree of ``CASE`` comparisons. The unit → group mapping of the level (:func:`rules.groups`) comes
in as a ``VALUES`` list. Observations are read through
``ix_observations_indicator_id_period_start_covering``, which holds every column used here, so
PostgreSQL answers with an index-only scan whose cost follows the size of the answer, not of the
table.

Two stages, as docs/design.md §5 defines them: over time per (bucket, unit) by the indicator's
``time_aggregation``, then over units per (bucket, group) by its ``area_aggregation``. The
group mapping joins the per-unit rows, not the observations: joined to the observations, SQLite
would loop over the (index-less) mapping and search the observations once per unit.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    SQLColumnExpression,
    bindparam,
    case,
    column,
    func,
    literal,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession

from ioc_hub.aggregates.rules import Bucket
from ioc_hub.models import Aggregation, Observation


@dataclass(frozen=True, slots=True)
class Cell:
    """One (bucket, group) that has data: its combined value and how many observations it rests
    on."""

    bucket: int
    group: int
    value: float
    reported: int


async def cells(
    session: AsyncSession,
    *,
    indicator_id: int,
    time_aggregation: Aggregation,
    area_aggregation: Aggregation,
    buckets: Sequence[Bucket],
    members: Mapping[int, int],
    changed_since: datetime | None = None,
) -> list[Cell]:
    """The (bucket, group) cells of one indicator that have at least one observation.

    ``buckets`` are consecutive; ``members`` maps the unit ids that count to their group id;
    ``changed_since`` keeps only the cells with an observation received (created or changed) at
    or after it.
    """
    if not buckets or not members:
        return []
    o = Observation
    observations = (
        select(
            _bucket_of(o.period_start, buckets).label("idx"),
            o.unit_id,
            o.value,
            o.period_start,
            o.received_at,
        )
        .where(
            o.indicator_id == indicator_id,
            o.period_start >= buckets[0].first.start,
            o.period_start <= buckets[-1].last.start,
            o.unit_id.in_(bindparam("units", sorted(members), literal_execute=True)),
        )
        .subquery("obs")
    )
    per_unit = _over_time(observations, time_aggregation, area_aggregation).subquery("per_unit")
    rows = await session.execute(
        _over_units(per_unit, _groups(members), area_aggregation, changed_since)
    )
    return [
        Cell(bucket=row.idx, group=row.grp, value=float(row.value), reported=int(row.reported))
        for row in rows
    ]


def _groups(members: Mapping[int, int]) -> Any:
    """The unit → group mapping as a ``VALUES`` list (its columns are ``column1`` and
    ``column2`` on both engines). Text with the ids inline, because SQLAlchemy cannot cache a
    statement holding its ``values()`` construct and compiling it afresh cost more than running
    it; ``int()`` keeps the inline text to numbers."""
    rows = ", ".join(f"({int(unit)}, {int(group)})" for unit, group in sorted(members.items()))
    return (
        text(f"VALUES {rows}")
        .columns(column("column1", Integer), column("column2", Integer))
        .cte("groups")
    )


def _bucket_of(
    period_start: SQLColumnExpression[date], buckets: Sequence[Bucket]
) -> ColumnElement[int]:
    """The index of the bucket holding a period start within the buckets' range: a balanced tree
    of CASEs over the buckets' first starts, so a row costs log2(buckets) comparisons."""

    def tree(low: int, high: int) -> ColumnElement[int]:
        if low == high:
            return literal(buckets[low].index, Integer)
        middle = (low + high + 1) // 2
        return case(
            (period_start < buckets[middle].first.start, tree(low, middle - 1)),
            else_=tree(middle, high),
        )

    return tree(0, len(buckets) - 1)


def _aggregate(
    aggregation: Aggregation, value: ColumnElement[Any], rank: ColumnElement[Any] | None
) -> ColumnElement[Any]:
    """``value`` combined by ``aggregation``; for ``last``, the value on the row ranked 1."""
    match aggregation:
        case Aggregation.SUM:
            return func.sum(value)
        case Aggregation.AVG:
            return func.avg(value)
        case Aggregation.MIN:
            return func.min(value)
        case Aggregation.MAX:
            return func.max(value)
        case Aggregation.LAST:
            assert rank is not None
            return func.max(case((rank == 1, value)))


def _over_time(obs: Any, aggregation: Aggregation, then: Aggregation) -> Select[Any]:
    """Per (bucket, unit): the unit's value, its observation count and when it last changed;
    for a ``last`` over units next, also its latest period in the bucket. ``last`` over time
    takes the value of the unit's latest period."""
    source, rank = obs, None
    if aggregation is Aggregation.LAST:
        source = select(
            obs,
            func.row_number()
            .over(partition_by=(obs.c.idx, obs.c.unit_id), order_by=obs.c.period_start.desc())
            .label("rank"),
        ).subquery("ranked_obs")
        rank = source.c.rank
    columns = [
        source.c.idx,
        source.c.unit_id,
        _aggregate(aggregation, source.c.value, rank).label("value"),
        func.count().label("n"),
        func.max(source.c.received_at).label("received_at"),
    ]
    if then is Aggregation.LAST:
        columns.append(func.max(source.c.period_start).label("last_start"))
    return select(*columns).group_by(source.c.idx, source.c.unit_id)


def _over_units(
    per_unit: Any, groups: Any, aggregation: Aggregation, changed_since: datetime | None
) -> Select[Any]:
    """Per (bucket, group): the units' values combined. ``last`` takes the value of the unit with
    the latest period; ties go to the unit whose values arrived last, then the newer unit."""
    grouped = (
        select(per_unit, groups.c.column2.label("grp"))
        .join(groups, groups.c.column1 == per_unit.c.unit_id)
        .subquery("grouped")
    )
    source, rank = grouped, None
    if aggregation is Aggregation.LAST:
        source = select(
            grouped,
            func.row_number()
            .over(
                partition_by=(grouped.c.idx, grouped.c.grp),
                order_by=(
                    grouped.c.last_start.desc(),
                    grouped.c.received_at.desc(),
                    grouped.c.unit_id.desc(),
                ),
            )
            .label("rank"),
        ).subquery("ranked_units")
        rank = source.c.rank
    statement = select(
        source.c.idx,
        source.c.grp,
        _aggregate(aggregation, source.c.value, rank).label("value"),
        func.sum(source.c.n).label("reported"),
    ).group_by(source.c.idx, source.c.grp)
    if changed_since is not None:
        statement = statement.having(func.max(source.c.received_at) >= changed_since)
    return statement
