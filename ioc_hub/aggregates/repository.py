"""The one query behind aggregated views: observations of one indicator reduced to one row per
(bucket, group) inside the database, on both engines with the same SQL.

Time bucketing needs no date functions, so nothing here depends on the engine: the buckets come
from :mod:`ioc_hub.kit.periods` (which alone knows that a week belongs to the month of its
Thursday) as the first ``period_start`` of each, and a row finds its bucket through a balanced
tree of ``CASE`` comparisons. Observations are read through
``ix_observations_indicator_id_period_start_covering``, which holds every column used here, so
PostgreSQL answers with an index-only scan whose cost follows the size of the answer, not of the
table.

Where each observation goes is a list of :class:`Route` rows, inlined as a ``VALUES`` list: the
unit it reaches on the answer's map (itself, or through lineage under ``boundaries=current``,
docs/design.md §8), with a weight, in which group. Routes depend on the segment of days the
period starts in (segments are cut where the map changes), found by the same kind of ``CASE``
tree as buckets.

Three stages, as docs/design.md §5 and §8 define them: when several units reach one unit in one
period (predecessors merged into their successor), their values combine first by the indicator's
``area_aggregation``, weighted by share; then over time per (bucket, unit) by its
``time_aggregation``; then over units per (bucket, group) by its ``area_aggregation``.

Where whole months make up every bucket and segment, the rows come from ``series_months``
instead, one per series and month, kept at ingest: a month stands in for its observations, with
the value the time aggregation needs (its sum, least, greatest or latest), its latest period's
start, its latest receipt and its count. That holds for every stage but the first, which needs
each period apart, and for ``avg`` over time only before routing (a mean is the sums over the
counts, and routing zeroes the counts of a second route into one group).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Float,
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
    union,
)
from sqlalchemy.ext.asyncio import AsyncSession

from ioc_hub.aggregates.rules import Bucket
from ioc_hub.kit.dialect import short_list
from ioc_hub.kit.periods import Cadence
from ioc_hub.models import (
    Aggregation,
    LineageEdge,
    Obligation,
    Observation,
    SeriesMonth,
    Unit,
    UnitVersion,
)


class Route(NamedTuple):
    """Observations of ``unit`` whose periods start in segment ``segment`` reach ``target`` (a
    unit of the answer's map, in group ``group``) with ``weight``. ``counts`` is true on one
    route per (segment, unit, group), so an observation counts once in a group's ``reported``
    even when it reaches several of its units. (A tuple: a national map makes thousands.)"""

    segment: int
    unit: int
    target: int
    group: int
    weight: float
    approximate: bool
    counts: bool


@dataclass(frozen=True)
class RouteTable:
    """An answer's routes, what the query's shape depends on, and the ``VALUES`` list it joins:
    worked out once per map (at national scale, as costly as the query itself)."""

    routes: Sequence[Route]
    table: Any
    units: Sequence[int]
    """Every unit whose values go somewhere."""
    weighted: bool
    """Some route carries part of a value."""
    single: bool
    """Each unit of the map has one source."""
    meeting: bool
    """Several units reach one unit of the map in one segment."""

    @classmethod
    def of(cls, routes: Sequence[Route], cuts: int) -> "RouteTable":
        """``routes`` of a map with ``cuts`` cuts (segments less one)."""
        return cls(
            routes=routes,
            table=_routes(routes, cuts) if routes else None,
            units=sorted({r.unit for r in routes}),
            weighted=any(r.weight != 1 for r in routes),
            single=len({(r.target, r.group) for r in routes}) == len(routes),
            meeting=len({(r.segment, r.target) for r in routes}) < len(routes),
        )


@dataclass(frozen=True, slots=True)
class Cell:
    """One (bucket, group) that has data: its combined value, how many observations it rests
    on, and whether a share it rests on was unknown."""

    bucket: int
    group: int
    value: float
    reported: int
    approximate: bool


async def cells(
    session: AsyncSession,
    *,
    indicator_id: int,
    time_aggregation: Aggregation,
    area_aggregation: Aggregation,
    buckets: Sequence[Bucket],
    cuts: Sequence[date],
    routes: RouteTable,
    changed_since: datetime | None = None,
    from_kept: bool = True,
) -> list[Cell]:
    """The (bucket, group) cells of one indicator that have at least one observation.

    ``buckets`` are consecutive; ``cuts`` are the days that begin segments 1, 2, … (sorted);
    ``changed_since`` keeps only the cells with an observation received (created or changed) at
    or after it. ``from_kept`` reads the kept months where they answer alike (False: always the
    observations, which tests compare them with).
    """
    if not buckets or not routes.routes:
        return []
    table, weighted, single = routes.table, routes.weighted, routes.single
    listed = short_list(routes.units)
    units: Any = None if listed is None else bindparam("units", listed, literal_execute=True)
    # With one source per unit of the map: over time per source first, then along the routes,
    # so only the per-unit rows are joined (as cheap as a map that never changed). Values
    # meeting in one unit and period combine first, unless the same aggregation over time would
    # combine them anyway (sum of sums, min of mins, max of maxes).
    merge = (
        not single
        and routes.meeting
        and not (
            time_aggregation is area_aggregation
            and area_aggregation in (Aggregation.SUM, Aggregation.MIN, Aggregation.MAX)
        )
    )
    kept = (
        from_kept
        and not merge
        and (single or time_aggregation is not Aggregation.AVG)
        and _whole_months(buckets, cuts)
    )
    rows = _rows(indicator_id, time_aggregation, buckets, cuts, units, kept=kept).subquery("obs")
    per_unit: Any
    if single:
        if kept and _month_each(buckets):
            over_time = _kept_alone(rows, time_aggregation, area_aggregation)
        else:
            over_time = _over_time(
                rows, ("idx", "route"), time_aggregation, area_aggregation, counted=kept
            )
        per_source = over_time.subquery("per_source")
        per_unit = _routed(per_source, table, area_aggregation, weighted).subquery("per_unit")
    else:
        routed = _routed(rows, table, area_aggregation, weighted).subquery("routed")
        if merge:
            routed = _merged(routed, area_aggregation, weighted)
        per_unit = _over_time(
            routed, ("idx", "target", "grp"), time_aggregation, area_aggregation
        ).subquery("per_unit")
    found = await session.execute(_over_units(per_unit, area_aggregation, changed_since))
    return [
        Cell(
            bucket=row.idx,
            group=row.grp,
            value=float(row.value),
            reported=int(row.reported),
            approximate=bool(row.approximate),
        )
        for row in found
    ]


def _month_each(buckets: Sequence[Bucket]) -> bool:
    """Whether each bucket's periods start in one calendar month: then a source has at most one
    kept month in a bucket."""
    return all(
        (b.first.start.year, b.first.start.month) == (b.last.start.year, b.last.start.month)
        for b in buckets
    )


def _whole_months(buckets: Sequence[Bucket], cuts: Sequence[date]) -> bool:
    """Whether every bucket and segment is whole calendar months of period starts: then a
    month's periods all share one bucket and one route. Not for weeks, which belong to the month
    of their Thursday, not of their start."""
    last_day = buckets[-1].last.last_day
    return (
        buckets[0].first.cadence is not Cadence.WEEKLY
        and all(b.first.start.day == 1 for b in buckets)
        and (last_day + timedelta(days=1)).day == 1
        and all(cut.day == 1 for cut in cuts)
    )


# The month's value that stands in for its observations' under each aggregation over time.
_MONTH_VALUE = {
    Aggregation.SUM: SeriesMonth.value_sum,
    Aggregation.AVG: SeriesMonth.value_sum,
    Aggregation.MIN: SeriesMonth.value_min,
    Aggregation.MAX: SeriesMonth.value_max,
    Aggregation.LAST: SeriesMonth.last_value,
}


def _rows(
    indicator_id: int,
    time_aggregation: Aggregation,
    buckets: Sequence[Bucket],
    cuts: Sequence[date],
    units: Any | None,
    *,
    kept: bool,
) -> Select[Any]:
    """The indicator's rows in the buckets, each with its bucket and route: its observations,
    or its kept months shaped alike (a month is one row of ``n`` observations, dated by its
    latest period and received when it last changed). Only ``units``' rows unless ``None``:
    then the join to the routes keeps the map's."""
    if kept:
        m = SeriesMonth
        day, unit, indicator = m.month, m.unit_id, m.indicator_id
        value, start, received = _MONTH_VALUE[time_aggregation], m.last_start, m.changed_at
        n: Any = m.received
        stored = [m.value_sum.is_not(None)]  # not a month archived before values were kept
    else:
        o = Observation
        day, unit, indicator = o.period_start, o.unit_id, o.indicator_id
        value, start, received = o.value, o.period_start, o.received_at
        n, stored = literal(1, Integer), []
    columns: list[Any] = [
        _index_of(day, [b.first.start for b in buckets[1:]]).label("idx"),
        _route_key(unit.expression, day, cuts).label("route"),
        unit.label("unit_id"),
        value.label("value"),
        start.label("period_start"),
        received.label("received_at"),
        n.label("n"),
        literal(0, Integer).label("approximate"),
    ]
    return select(*columns).where(
        indicator == indicator_id,
        day >= buckets[0].first.start,
        day <= buckets[-1].last.start,
        *stored,
        *([] if units is None else [unit.in_(units)]),
    )


# The columns of :func:`_routes`, in order.
_ROUTE_COLUMNS = ("route", "target", "grp", "weight", "approximate", "counts")


def _route_key(
    unit: ColumnElement[int], period_start: SQLColumnExpression[date], cuts: Sequence[date]
) -> ColumnElement[int]:
    """The key of the route an observation takes: its unit and the segment its period starts
    in, as one number (:func:`_routes` numbers them alike), so that the join is on one column
    and PostgreSQL estimates it well (on two, it guessed a handful of rows and looped over the
    routes)."""
    if not cuts:
        return unit
    return unit * (len(cuts) + 1) + _index_of(period_start, cuts)


def _routes(routes: Sequence[Route], cuts: int) -> Any:
    """The routes as a ``VALUES`` list (its columns are ``column1``… on both engines). Text with
    the figures inline, because SQLAlchemy cannot cache a statement holding its ``values()``
    construct and compiling it afresh cost more than running it; ``int()`` and ``float()`` keep
    the inline text to numbers."""
    rows = ", ".join(
        f"({int(r.unit) * (cuts + 1) + int(r.segment)}, {int(r.target)}, {int(r.group)}, "
        f"CAST({float(r.weight)!r} AS DOUBLE PRECISION), {int(r.approximate)}, {int(r.counts)})"
        for r in sorted(routes, key=lambda r: (r.segment, r.unit, r.target))
    )
    types = (Integer, Integer, Integer, Float, Integer, Integer)
    return (
        text(f"VALUES {rows}")
        .columns(*(column(f"column{i + 1}", t) for i, t in enumerate(types)))
        .cte("routes")
    )


def _index_of(day: SQLColumnExpression[date], cuts: Sequence[date]) -> ColumnElement[int]:
    """How many of the sorted ``cuts`` are on or before ``day``: a balanced tree of CASEs, so a
    row costs log2(cuts) comparisons."""

    def tree(low: int, high: int) -> ColumnElement[int]:
        if low == high:
            return literal(low, Integer)
        middle = (low + high + 1) // 2
        return case((day < cuts[middle - 1], tree(low, middle - 1)), else_=tree(middle, high))

    return tree(0, len(cuts))


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


def _ranked(source: Any, partition: Sequence[Any], order: Sequence[Any], name: str) -> Any:
    """``source`` with a ``rank`` column: 1 on the row that comes first in ``order`` within each
    ``partition``."""
    return select(
        source, func.row_number().over(partition_by=partition, order_by=order).label("rank")
    ).subquery(name)


def _routed(source: Any, routes: Any, aggregation: Aggregation, weighted: bool) -> Select[Any]:
    """``source`` (observations, or per-source rows) along its routes: each row once per unit of
    the map it reaches, with that unit, its group, the share (``sum`` takes share × value), and
    its count only where the route counts."""
    r = dict(zip(_ROUTE_COLUMNS, routes.c, strict=True))
    value: ColumnElement[Any] = source.c.value
    if weighted and aggregation is Aggregation.SUM:
        value = source.c.value * r["weight"]
    carried = [c for c in source.c if c.key in ("period_start", "unit_id", "last_start")]
    return (
        select(
            source.c.idx,
            r["target"].label("target"),
            r["grp"].label("grp"),
            value.label("value"),
            (source.c.n * r["counts"]).label("n"),
            source.c.received_at,
            r["approximate"].label("approximate"),
            r["weight"].label("weight"),
            *carried,
        )
        .select_from(source)
        .join(routes, r["route"] == source.c.route)
    )


def _merged(routed: Any, aggregation: Aggregation, weighted: bool) -> Any:
    """Per (bucket, unit of the map, group, period): the values of the units reaching it
    combined by the area ``aggregation``: ``avg`` weighs by share, ``last`` takes the value that
    arrived last."""
    key = (routed.c.idx, routed.c.target, routed.c.grp, routed.c.period_start)
    source, rank = routed, None
    combined: ColumnElement[Any]
    if aggregation is Aggregation.AVG and weighted:
        combined = func.sum(routed.c.value * routed.c.weight) / func.sum(routed.c.weight)
    else:
        if aggregation is Aggregation.LAST:
            order = (routed.c.received_at.desc(), routed.c.unit_id.desc())
            source = _ranked(routed, key, order, "ranked_routed")
            rank = source.c.rank
        combined = _aggregate(aggregation, source.c.value, rank)
    return (
        select(
            source.c.idx,
            source.c.target,
            source.c.grp,
            source.c.period_start,
            combined.label("value"),
            func.sum(source.c.n).label("n"),
            func.max(source.c.received_at).label("received_at"),
            func.max(source.c.approximate).label("approximate"),
        )
        .group_by(source.c.idx, source.c.target, source.c.grp, source.c.period_start)
        .subquery("merged")
    )


def _over_time(
    rows: Any,
    keys: Sequence[str],
    aggregation: Aggregation,
    then: Aggregation,
    *,
    counted: bool = False,
) -> Select[Any]:
    """Per ``keys`` (a bucket and a source, or a bucket, a unit of the map and its group): the
    value over time, the observation count, when it last changed and whether it is
    approximate; for a ``last`` over units next, also the latest period in the bucket. ``last``
    over time takes the value of the latest period. ``counted`` rows each hold the sum of ``n``
    values, so their mean is the sums over the counts."""
    source, rank = rows, None
    if aggregation is Aggregation.LAST:
        partition = [rows.c[k] for k in keys]
        source = _ranked(rows, partition, (rows.c.period_start.desc(),), "ranked_obs")
        rank = source.c.rank
    grouping = [source.c[k] for k in keys]
    value = _aggregate(aggregation, source.c.value, rank)
    if counted and aggregation is Aggregation.AVG:
        value = func.sum(source.c.value) / func.sum(source.c.n)
    columns = [
        *grouping,
        value.label("value"),
        func.sum(source.c.n).label("n"),
        func.max(source.c.received_at).label("received_at"),
        func.max(source.c.approximate).label("approximate"),
    ]
    if then is Aggregation.LAST:
        columns.append(func.max(source.c.period_start).label("last_start"))
    return select(*columns).group_by(*grouping)


def _kept_alone(rows: Any, aggregation: Aggregation, then: Aggregation) -> Select[Any]:
    """What :func:`_over_time` gives per (bucket, source) when each holds one kept month at
    most: the month's own figures, with no grouping (at national scale, grouping or ranking a
    year of kept months costs more than reading them)."""
    value = rows.c.value / rows.c.n if aggregation is Aggregation.AVG else rows.c.value
    columns = [
        rows.c.idx,
        rows.c.route,
        value.label("value"),
        rows.c.n,
        rows.c.received_at,
        rows.c.approximate,
    ]
    if then is Aggregation.LAST:
        columns.append(rows.c.period_start.label("last_start"))
    return select(*columns)


def _over_units(
    per_unit: Any, aggregation: Aggregation, changed_since: datetime | None
) -> Select[Any]:
    """Per (bucket, group): the units' values combined. ``last`` takes the value of the unit with
    the latest period; ties go to the unit whose values arrived last, then the newer unit."""
    source, rank = per_unit, None
    if aggregation is Aggregation.LAST:
        source = _ranked(
            per_unit,
            (per_unit.c.idx, per_unit.c.grp),
            (
                per_unit.c.last_start.desc(),
                per_unit.c.received_at.desc(),
                per_unit.c.target.desc(),
            ),
            "ranked_units",
        )
        rank = source.c.rank
    statement = select(
        source.c.idx,
        source.c.grp,
        _aggregate(aggregation, source.c.value, rank).label("value"),
        func.sum(source.c.n).label("reported"),
        func.max(source.c.approximate).label("approximate"),
    ).group_by(source.c.idx, source.c.grp)
    if changed_since is not None:
        statement = statement.having(func.max(source.c.received_at) >= changed_since)
    return statement


@dataclass(frozen=True, slots=True)
class Changes:
    """The days on which an answer's map may change, each list sorted."""

    tree: list[date]  # a unit starts or ends, a version begins or ends
    obligations: list[date]  # an obligation begins or ends
    edges: list[date]  # a reorganisation's lineage edges take effect


async def change_days(
    session: AsyncSession, first: date, last: date, edges_until: date | None
) -> Changes:
    """The days after ``first`` up to ``last`` on which the tree or the obligations change, and
    those after ``first`` up to ``edges_until`` (none: no edge) on which edges took effect; in
    one query, since most answers find none."""
    sources = [
        ("tree", Unit.valid_from, last),
        ("tree", Unit.valid_to, last),
        ("tree", UnitVersion.valid_from, last),
        ("tree", UnitVersion.valid_to, last),
        ("obligations", Obligation.valid_from, last),
        ("obligations", Obligation.valid_to, last),
    ]
    if edges_until is not None:
        sources.append(("edges", LineageEdge.effective, edges_until))
    days = union(
        *(
            select(literal(name).label("kind"), day.label("day")).where(day > first, day <= until)
            for name, day, until in sources
        )
    ).subquery()
    found: dict[str, list[date]] = {"tree": [], "obligations": [], "edges": []}
    for kind, day in await session.execute(select(days.c.kind, days.c.day)):
        found[kind].append(day)
    return Changes(**{kind: sorted(days) for kind, days in found.items()})
