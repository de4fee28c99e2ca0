"""The queries behind coverage, staleness and completeness.

Two sources answer "what had arrived by ``t``": the state kept at ingest (``series_state``,
``unit_contacts``, ``series_months``), whose size grows with units and series only, and the
stored observations, read for a past ``t`` and for the months of a completeness range the kept
ones cannot answer for. Id filters go into SQL while they are short; a caller given ``None``
filters in Python (a province-wide answer needs no ``IN`` list at all).
"""

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVarTuple

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Date,
    Integer,
    Result,
    Select,
    SQLColumnExpression,
    Subquery,
    and_,
    case,
    cast,
    delete,
    func,
    insert,
    null,
    or_,
    select,
    true,
    type_coerce,
    union,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from ioc_hub.coverage.schemas import GroupBy
from ioc_hub.kit.dialect import code_order, is_postgresql, keys_in, short_list, values_table
from ioc_hub.kit.pagination import AnySelect
from ioc_hub.models import (
    AREA_ONLY_KINDS,
    Indicator,
    IndicatorGroup,
    Obligation,
    Observation,
    ObservationRevision,
    OwedBasis,
    OwedSeries,
    RegistryGeneration,
    SeriesMonth,
    SeriesState,
    Unit,
    UnitContact,
    UnitKind,
    UnitVersion,
)
from ioc_hub.models.base import UTCDateTime
from ioc_hub.registry import timeline


@dataclass(frozen=True, slots=True)
class UnitRow:
    id: int
    code: str
    name: str
    kind: UnitKind
    parent_code: str | None
    area_code: str
    """Its district for a district or commune, the province for every other unit (docs/design.md
    §2)."""


@dataclass(frozen=True, slots=True)
class IndicatorRow:
    id: int
    code: str
    name: str
    cadence: str
    grace_seconds: int | None
    group_code: str
    group_name: str


SeriesKey = tuple[int, int]
"""(unit id, indicator id)."""


@dataclass(frozen=True, slots=True)
class Received:
    """What series had received by ``t``: the start of their latest period and, when it was
    asked for, their latest receipt."""

    latest: dict[SeriesKey, date]
    receipts: dict[SeriesKey, datetime] | None


Ts = TypeVarTuple("Ts")


def _among(statement: Select[*Ts], column: Any, ids: Collection[int] | None) -> Select[*Ts]:
    ids = short_list(ids)
    return statement if ids is None else statement.where(column.in_(ids))


async def _execute(
    session: AsyncSession, statement: Select[*Ts] | CompoundSelect[*Ts]
) -> Result[*Ts]:
    """Run a plain query on the session's connection: no ORM row processing, which adds up over
    hundreds of thousands of series."""
    connection = await session.connection()
    return await connection.execute(statement)


def _answered(tree: Subquery) -> ColumnElement[bool]:
    """The units an answer may cover: active, and not an area only (the province, the nation)."""
    return and_(tree.c.active.is_(True), tree.c.kind.not_in([k.value for k in AREA_ONLY_KINDS]))


async def units(
    session: AsyncSession, tree: Subquery, *conditions: ColumnElement[bool]
) -> list[UnitRow]:
    """Active units other than the province (and the nation) in ``tree``
    (:func:`timeline.tree_on`) that meet ``conditions`` (on ``tree``'s columns), by code, as
    that day's tree has them."""
    rows = await _execute(session, _listed(tree, conditions).order_by(tree.c.code))
    return [_unit_row(r) for r in rows]


def _area_code(tree: Subquery, parent: type[Unit]) -> ColumnElement[str]:
    """Its district for a district or commune, the province for every other unit (docs/design.md
    §2): the unit's own code for a district, its parent's otherwise."""
    return case(
        (tree.c.kind == UnitKind.DISTRICT.value, tree.c.code),
        else_=func.coalesce(parent.code, tree.c.code),
    )


def _listed(tree: Subquery, conditions: Collection[ColumnElement[bool]]) -> AnySelect:
    """The columns of a :class:`UnitRow` (:func:`_unit_row`) of the units :func:`units` lists."""
    parent = aliased(Unit)  # codes never change: the parent's code is its code on any day
    return (
        select(
            tree.c.id,
            tree.c.code,
            tree.c.name,
            tree.c.kind,
            parent.code.label("parent_code"),
            _area_code(tree, parent).label("area_code"),
        )
        .outerjoin(parent, parent.id == tree.c.parent_id)
        .where(_answered(tree), *conditions)
    )


async def unit_names(session: AsyncSession, codes: Collection[str], day: date) -> dict[str, str]:
    """The names these units bore on ``day``."""
    tree = timeline.tree_on(day)
    rows = await _execute(session, select(tree.c.code, tree.c.name).where(tree.c.code.in_(codes)))
    return dict(rows.all())


@dataclass(frozen=True, slots=True)
class UnitOnDay:
    """One unit as the tree of a day has it, or the life it had when it did not exist then."""

    id: int
    code: str
    kind: UnitKind | None
    """``None``: the unit did not exist on the day."""
    parent_id: int | None
    active: bool
    valid_from: date | None
    valid_to: date | None


async def unit_on(session: AsyncSession, code: str, day: date) -> UnitOnDay | None:
    """The unit ``code`` on ``day``; ``None`` when no unit ever had the code."""
    tree = timeline.tree_on(day)
    row = (
        await _execute(
            session,
            select(
                Unit.id,
                Unit.code,
                tree.c.kind,
                tree.c.parent_id,
                Unit.active,
                Unit.valid_from,
                Unit.valid_to,
            )
            .outerjoin(tree, tree.c.id == Unit.id)
            .where(Unit.code == code),
        )
    ).one_or_none()
    if row is None:
        return None
    kind = None if row.kind is None else UnitKind(row.kind)
    return UnitOnDay(
        row.id, row.code, kind, row.parent_id, row.active, row.valid_from, row.valid_to
    )


async def change_days(
    session: AsyncSession, after: date | None, until: date, *, ends: bool = True
) -> list[date]:
    """The days in (``after``, ``until``] on which the tree or the obligations change, sorted:
    the registry is the same from one such day until the next (docs/design.md §8). Without
    ``ends``, only the days on which a unit, a version or an obligation begins: the only days a
    series can begin to be owed (a version's end is the next one's beginning)."""
    columns = [Unit.valid_from, UnitVersion.valid_from, Obligation.valid_from]
    if ends:
        columns += [Unit.valid_to, UnitVersion.valid_to, Obligation.valid_to]
    days = union(
        *(select(column.label("day")).where(column.is_not(None)) for column in columns)
    ).subquery()
    statement = select(days.c.day).where(days.c.day <= until).order_by(days.c.day)
    if after is not None:
        statement = statement.where(days.c.day > after)
    return list((await _execute(session, statement)).scalars())


async def indicators(session: AsyncSession, *conditions: ColumnElement[bool]) -> list[IndicatorRow]:
    """Active indicators that meet ``conditions``, with their group, by code."""
    rows = await _execute(
        session,
        select(
            Indicator.id,
            Indicator.code,
            Indicator.name,
            Indicator.cadence,
            Indicator.grace_seconds,
            IndicatorGroup.code.label("group_code"),
            IndicatorGroup.name.label("group_name"),
        )
        .join(IndicatorGroup, IndicatorGroup.id == Indicator.group_id)
        .where(Indicator.active.is_(True), *conditions)
        .order_by(Indicator.code),
    )
    return [
        IndicatorRow(
            id=r.id,
            code=r.code,
            name=r.name,
            cadence=r.cadence,
            grace_seconds=r.grace_seconds,
            group_code=r.group_code,
            group_name=r.group_name,
        )
        for r in rows
    ]


# --- owed series, counted in SQL ----------------------------------------------------------------
#
# A province owes tens of thousands of series and a country hundreds of thousands: coverage and
# staleness count them in the database by what decides their status (their indicator, the day
# they began to be owed and the start of their latest period) and list only the series a page
# shows.


def answer_units(tree: Subquery, *conditions: ColumnElement[bool]) -> Select[tuple[int]]:
    """The ids of the units :func:`units` lists."""
    return select(tree.c.id).where(_answered(tree), *conditions)


def with_starts(pairs: Subquery, before: Collection[tuple[date, Subquery]]) -> Subquery:
    """The (``unit_id``, ``indicator_id``) series of ``pairs`` with ``start``, the day each
    began to be owed: the latest of the days ``before`` lists, each with the series owed on
    the eve of it, on whose eve the series was not owed; null when it was owed on every eve.

    Each eve is computed once, as a materialised CTE, and joined (its series are distinct,
    :func:`catalogue.obligated`): as a subquery, the planner may run it again for every series
    when it misjudges how many there are, as it does on tables never analysed."""
    joined: Any = pairs
    whens = []
    for n, (day, eve) in enumerate(sorted(before, key=lambda item: item[0], reverse=True)):
        owed_then = (
            select(eve.c.unit_id, eve.c.indicator_id)
            .cte(f"eve_{n}")
            .prefix_with("MATERIALIZED", dialect="postgresql")
        )
        joined = joined.outerjoin(
            owed_then,
            and_(
                owed_then.c.unit_id == pairs.c.unit_id,
                owed_then.c.indicator_id == pairs.c.indicator_id,
            ),
        )
        whens.append((owed_then.c.unit_id.is_(None), type_coerce(day, Date)))
    # Typed, not coerced: kept (``owed_series``), a bare NULL would be text to PostgreSQL.
    start = case(*whens, else_=null()) if whens else cast(null(), Date)
    return (
        select(pairs.c.unit_id, pairs.c.indicator_id, start.label("start"))
        .select_from(joined)
        .subquery("owed")
    )


# --- the owed series, kept -----------------------------------------------------------------------
#
# Expanding the obligations over the tree of a day costs as much as the rest of a coverage answer
# at national scale, and changes only with the registry or on the days its changes take effect:
# the expansion is kept (``owed_series``) with the generation and the days it holds for.

_KEEPING_OWED = (2, 0)
"""The advisory lock (two-int form; space 1 is the outlier stripes') of the process keeping the
owed series: one at a time, the others skip."""


async def registry_generation(session: AsyncSession) -> int:
    generation = await session.scalar(
        select(RegistryGeneration.generation).where(RegistryGeneration.id == 1)
    )
    return generation or 0


async def kept_owed(session: AsyncSession, day: date) -> AnySelect | None:
    """The kept owed series (``unit_id``, ``indicator_id``, ``start``) if they are those of
    ``day`` under the registry as the session sees it; ``None`` otherwise."""
    row = (
        await _execute(
            session,
            select(OwedBasis.generation, OwedBasis.day, OwedBasis.until)
            .where(OwedBasis.id == 1)
            .add_columns(
                select(RegistryGeneration.generation)
                .where(RegistryGeneration.id == 1)
                .scalar_subquery()
            ),
        )
    ).one_or_none()
    if row is None:
        return None
    generation, since, until, current = row
    if generation != (current or 0) or day < since or (until is not None and day >= until):
        return None
    return select(OwedSeries.unit_id, OwedSeries.indicator_id, OwedSeries.start)


async def may_keep_owed(session: AsyncSession) -> bool:
    """Whether this transaction may rewrite the kept owed series: on PostgreSQL, no other one is
    at it (a transaction-level advisory lock); SQLite has one writer at a time."""
    if not is_postgresql(session):
        return True
    return bool(await session.scalar(select(func.pg_try_advisory_xact_lock(*_KEEPING_OWED))))


async def keep_owed(
    session: AsyncSession, owed: Subquery, generation: int, day: date, until: date | None
) -> None:
    """Replace the kept owed series by ``owed`` (``unit_id``, ``indicator_id``, ``start``), owed
    from ``day`` to the day before ``until`` under the registry of ``generation``."""
    await session.execute(delete(OwedSeries))
    await session.execute(
        insert(OwedSeries).from_select(
            ["unit_id", "indicator_id", "start"],
            select(owed.c.unit_id, owed.c.indicator_id, owed.c.start),
        )
    )
    await session.execute(delete(OwedBasis))
    await session.execute(
        insert(OwedBasis).values(id=1, generation=generation, day=day, until=until)
    )


def latest_kept() -> Subquery:
    """The start of each series' latest period, as kept at ingest."""
    return select(
        SeriesState.unit_id,
        SeriesState.indicator_id,
        SeriesState.last_period_start.label("last_start"),
    ).subquery("latest")


def latest_received_by(at: datetime) -> Subquery:
    """The start of each series' latest period first received by ``at``, from what is stored."""
    return (
        select(
            Observation.unit_id,
            Observation.indicator_id,
            func.max(Observation.period_start).label("last_start"),
        )
        .where(Observation.first_received_at <= at)
        .group_by(Observation.unit_id, Observation.indicator_id)
        .subquery("latest")
    )


@dataclass(frozen=True, slots=True)
class Census:
    """How many owed series share an indicator, a start and a latest period's start (``None``:
    owed since before the registry's changes looked at; nothing received)."""

    indicator_id: int
    start: date | None
    last_start: date | None
    count: int


def _with_latest(owed: Subquery, latest: Subquery) -> Any:
    return owed.outerjoin(
        latest,
        and_(latest.c.unit_id == owed.c.unit_id, latest.c.indicator_id == owed.c.indicator_id),
    )


async def census(session: AsyncSession, owed: Subquery, latest: Subquery) -> list[Census]:
    """The owed series (:func:`with_starts`) counted by what decides their status."""
    columns = (owed.c.indicator_id, owed.c.start, latest.c.last_start)
    rows = await _execute(
        session,
        select(*columns, func.count()).select_from(_with_latest(owed, latest)).group_by(*columns),
    )
    return [Census(*row) for row in rows]


@dataclass(frozen=True, slots=True)
class OwedRow:
    unit_id: int
    indicator_id: int
    start: date | None
    last_start: date | None


async def owed_series(
    session: AsyncSession,
    owed: Subquery,
    latest: Subquery,
    *,
    unit_ids: Collection[int] | None = None,
    among: Collection[tuple[int, date | None, date | None]] | None = None,
    offset: int = 0,
    limit: int | None = None,
) -> list[OwedRow]:
    """Owed series, of ``unit_ids`` or with an (indicator, start, latest start) in ``among``,
    by unit code then indicator code (code point order, as Python sorts), rows ``offset`` on."""
    condition: ColumnElement[bool] = true()
    if unit_ids is not None:
        condition = owed.c.unit_id.in_(unit_ids)
    if among is not None:
        if not among:
            return []
        condition = and_(
            condition,
            or_(
                *(
                    and_(
                        owed.c.indicator_id == indicator_id,
                        owed.c.start.is_not_distinct_from(start),
                        latest.c.last_start.is_not_distinct_from(last_start),
                    )
                    for indicator_id, start, last_start in among
                )
            ),
        )
    statement = (
        select(owed.c.unit_id, owed.c.indicator_id, owed.c.start, latest.c.last_start)
        .select_from(_with_latest(owed, latest))
        .join(Unit, Unit.id == owed.c.unit_id)
        .join(Indicator, Indicator.id == owed.c.indicator_id)
        .where(condition)
        .order_by(code_order(session, Unit.code), code_order(session, Indicator.code))
        .offset(offset)
        .limit(limit)
    )
    return [OwedRow(*row) for row in await _execute(session, statement)]


async def unit_ids(session: AsyncSession, units: Select[tuple[int]]) -> list[int]:
    """The ids :func:`answer_units` selects."""
    return list(await session.scalars(units))


async def starts(session: AsyncSession, owed: Subquery) -> dict[SeriesKey, date]:
    """The start of every owed series that has one."""
    rows = await _execute(
        session,
        select(owed.c.unit_id, owed.c.indicator_id, owed.c.start).where(owed.c.start.is_not(None)),
    )
    return {(unit_id, indicator_id): start for unit_id, indicator_id, start in rows}


async def receipts(session: AsyncSession, keys: Collection[SeriesKey]) -> dict[SeriesKey, datetime]:
    """When each of these series last received data, as kept at ingest."""
    if not keys:
        return {}
    rows = await _execute(
        session,
        select(SeriesState.unit_id, SeriesState.indicator_id, SeriesState.last_received_at).where(
            keys_in(session, [SeriesState.unit_id, SeriesState.indicator_id], list(keys))
        ),
    )
    return {(unit_id, indicator_id): at for unit_id, indicator_id, at in rows}


def contacts_kept() -> Subquery:
    """When each unit was last heard from, as kept at ingest: ``unit_id``, ``at``."""
    return select(UnitContact.unit_id, UnitContact.last_contact_at.label("at")).subquery("contacts")


async def series_received_by(
    session: AsyncSession,
    at: datetime,
    unit_ids: Collection[int] | None,
    indicator_ids: Collection[int] | None,
) -> Received:
    """Series state as it was at ``at``, rebuilt from stored observations.

    The latest period is the latest one first received by ``at``; the latest receipt is the
    latest first acceptance or revision by ``at``. A resent unchanged value leaves no trace in
    the observations, so it is not seen here (the state kept at ingest does count it).
    """
    received = select(
        Observation.unit_id,
        Observation.indicator_id,
        func.max(Observation.period_start),
        func.max(Observation.first_received_at),
    ).where(Observation.first_received_at <= at)
    received = _among(received, Observation.unit_id, unit_ids)
    received = _among(received, Observation.indicator_id, indicator_ids)
    latest: dict[SeriesKey, date] = {}
    last: dict[SeriesKey, datetime] = {}
    for unit_id, indicator_id, start, first_received_at in await _execute(
        session, received.group_by(Observation.unit_id, Observation.indicator_id)
    ):
        latest[(unit_id, indicator_id)] = start
        last[(unit_id, indicator_id)] = first_received_at
    revised = (
        select(
            Observation.unit_id, Observation.indicator_id, func.max(ObservationRevision.changed_at)
        )
        .join(Observation, Observation.id == ObservationRevision.observation_id)
        .where(ObservationRevision.changed_at <= at)
    )
    revised = _among(revised, Observation.unit_id, unit_ids)
    revised = _among(revised, Observation.indicator_id, indicator_ids)
    for unit_id, indicator_id, changed_at in await _execute(
        session, revised.group_by(Observation.unit_id, Observation.indicator_id)
    ):
        key = (unit_id, indicator_id)
        if key in last and changed_at > last[key]:
            last[key] = changed_at
    return Received(latest, last)


def _within(statement: Select[*Ts], column: Any, units: Select[tuple[int]] | None) -> Select[*Ts]:
    return statement if units is None else statement.where(column.in_(units))


def contacts_received_by(at: datetime, units: Select[tuple[int]] | None) -> Subquery:
    """When each unit (of ``units``; ``None``: every unit) was last heard from by ``at``, rebuilt
    from what is stored: ``unit_id``, ``at``.

    Pushes are known from the observations' first acceptances and revisions (admin imports
    excluded: they are not the unit's pipe speaking). Heartbeats leave no history: only a unit's
    latest contact, push and heartbeat instants are kept, so a heartbeat counts here only if it
    is the latest one and came by ``at``; earlier heartbeats are not known.
    """

    first = _within(
        select(Observation.unit_id, func.max(Observation.first_received_at).label("at"))
        .where(Observation.first_received_at <= at, Observation.imported.is_(False))
        .group_by(Observation.unit_id),
        Observation.unit_id,
        units,
    )
    revised = _within(
        select(Observation.unit_id, func.max(ObservationRevision.changed_at))
        .join(Observation, Observation.id == ObservationRevision.observation_id)
        .where(ObservationRevision.changed_at <= at)
        .group_by(Observation.unit_id),
        Observation.unit_id,
        units,
    )
    kept = [
        _within(
            select(UnitContact.unit_id, instant).where(instant <= at), UnitContact.unit_id, units
        )
        for instant in (
            UnitContact.last_contact_at,
            UnitContact.last_push_at,
            UnitContact.last_heartbeat_at,
        )
    ]
    instants = union_all(first, revised, *kept).subquery("instants")
    return (
        select(instants.c.unit_id, func.max(instants.c.at).label("at"))
        .group_by(instants.c.unit_id)
        .subquery("contacts")
    )


# --- units and their connections, judged in SQL -------------------------------------------------
#
# A country has thousands of units: coverage counts them per kind in the database and lists only
# the page's, and a unit's connection is judged where its contact and its fastest obligation are.


@dataclass(frozen=True, slots=True)
class UnitConnection:
    """A unit of an answer, when it was last heard from, the rank of its fastest obligation
    (``None``: it must report nothing) and whether it is connected."""

    unit: UnitRow
    last_contact_at: datetime | None
    speed: int | None
    connected: bool


def connections(
    tree: Subquery,
    conditions: Collection[ColumnElement[bool]],
    speeds: AnySelect | None,
    contacts: Subquery,
    heard_since: Sequence[datetime],
    otherwise: datetime,
) -> Subquery:
    """The units :func:`units` lists, each with its last contact (``contacts``), the rank of its
    fastest obligation (``speeds``: :func:`catalogue.fastest_obligations`; ``None`` when the
    answer covers no indicator) and whether it is connected: heard from at or after
    ``heard_since[rank]``, or ``otherwise`` when it must report nothing (docs/design.md §4)."""
    statement = (
        _listed(tree, conditions)
        .add_columns(contacts.c.at.label("last_contact_at"))
        .outerjoin(contacts, contacts.c.unit_id == tree.c.id)
    )
    since: ColumnElement[datetime] = type_coerce(otherwise, UTCDateTime)
    if speeds is None:
        statement = statement.add_columns(type_coerce(null(), Integer).label("speed"))
    else:
        fastest = speeds.subquery("fastest")
        statement = statement.add_columns(fastest.c.speed).outerjoin(
            fastest, fastest.c.unit_id == tree.c.id
        )
        if heard_since:
            whens = ((fastest.c.speed == rank, start) for rank, start in enumerate(heard_since))
            since = type_coerce(case(*whens, else_=otherwise), UTCDateTime)
    connected = and_(contacts.c.at.is_not(None), contacts.c.at >= since)
    return statement.add_columns(case((connected, 1), else_=0).label("connected")).subquery(
        "connections"
    )


def _unit_row(row: Any) -> UnitRow:
    return UnitRow(
        id=row.id,
        code=row.code,
        name=row.name,
        kind=UnitKind(row.kind),
        parent_code=row.parent_code,
        area_code=row.area_code,
    )


@dataclass(frozen=True, slots=True)
class CountedConnections:
    """Units of :func:`connections` counted per kind, (kind, registered, connected), and a page
    of them."""

    counts: list[tuple[str, int, int]]
    page: list[UnitConnection]


# What :func:`connections` tells of each unit, besides its kind.
_UNIT_COLUMNS = ("id", "code", "name", "parent_code", "area_code", "last_contact_at", "speed")


async def count_and_list_connections(
    session: AsyncSession,
    units: Subquery,
    *,
    order: Mapping[UnitKind, int],
    offset: int,
    limit: int,
) -> CountedConnections:
    """Units of :func:`connections` counted per kind, and a page of them from ``offset``: not
    connected first, then by kind in ``order``, then by code. In one statement, so that each
    unit's contact and fastest obligation are worked out once for both: the page's rows have a
    ``place``, and the counts' rows, one per kind, have none."""
    listed = select(units).cte("listed")
    kinds = {kind.value: rank for kind, rank in order.items()}
    keys = [
        listed.c.connected,
        case(kinds, value=listed.c.kind),
        code_order(session, listed.c.code),
    ]
    page = (
        select(listed, func.row_number().over(order_by=keys).label("place"))
        .order_by(*keys)
        .offset(offset)
        .limit(limit)
        .subquery("page")
    )
    no_number = type_coerce(null(), Integer)
    rows = await _execute(
        session,
        union_all(
            select(
                page.c.place,
                page.c.kind,
                no_number.label("registered"),
                *(page.c[name] for name in _UNIT_COLUMNS),
                page.c.connected,
            ),
            select(
                no_number,
                listed.c.kind,
                func.count(),
                *(null() for _ in _UNIT_COLUMNS),
                func.sum(listed.c.connected),
            ).group_by(listed.c.kind),
        ).order_by("place"),
    )
    counted = CountedConnections([], [])
    for r in rows:
        if r.place is None:
            counted.counts.append((r.kind, r.registered, int(r.connected)))
        else:
            counted.page.append(
                UnitConnection(_unit_row(r), r.last_contact_at, r.speed, bool(r.connected))
            )
    return counted


async def list_connections(session: AsyncSession, units: Subquery) -> list[UnitConnection]:
    """Units of :func:`connections` by code."""
    rows = await _execute(session, select(units).order_by(code_order(session, units.c.code)))
    return [
        UnitConnection(_unit_row(r), r.last_contact_at, r.speed, bool(r.connected)) for r in rows
    ]


# --- completeness, grouped in SQL ----------------------------------------------------------------
#
# Completeness sums reports by a group key over a country's series: the series owed in a stretch
# of unchanged registry are joined with their key (:func:`series_groups`), and only groups and
# indicators come back, never series.


def series_groups(tree: Subquery, pairs: Subquery, group_by: GroupBy) -> Subquery:
    """``unit_id``, ``indicator_id``, ``key`` and ``name`` of each series of ``pairs`` (owed on
    the day of ``tree``, :func:`timeline.tree_on`): the group completeness counts it under, and
    the group's name; a district's name is its code here (:func:`unit_names` has the name)."""
    parent = aliased(Unit)
    key: SQLColumnExpression[str]
    name: SQLColumnExpression[str]
    match group_by:
        case GroupBy.KIND:
            key = name = tree.c.kind
        case GroupBy.UNIT:
            key, name = tree.c.code, tree.c.name
        case GroupBy.INDICATOR:
            key, name = Indicator.code, Indicator.name
        case GroupBy.GROUP:
            key, name = IndicatorGroup.code, IndicatorGroup.name
        case GroupBy.DISTRICT:
            key = name = _area_code(tree, parent)
    return (
        select(pairs.c.unit_id, pairs.c.indicator_id, key.label("key"), name.label("name"))
        .join(tree, tree.c.id == pairs.c.unit_id)
        .outerjoin(parent, parent.id == tree.c.parent_id)
        .join(Indicator, Indicator.id == pairs.c.indicator_id)
        .join(IndicatorGroup, IndicatorGroup.id == Indicator.group_id)
        .subquery("groups")
    )


async def owed_groups(session: AsyncSession, groups: Subquery) -> "Result[str, str, int, int]":
    """(key, name, indicator id, series owed) of :func:`series_groups`."""
    return await _execute(
        session,
        select(groups.c.key, func.min(groups.c.name), groups.c.indicator_id, func.count()).group_by(
            groups.c.key, groups.c.indicator_id
        ),
    )


async def report_counts(
    session: AsyncSession,
    at: datetime,
    groups: Subquery,
    slots: Sequence[tuple[int, date, datetime]],
    unit_ids: Collection[int] | None,
) -> "Result[str, int, int, int]":
    """(key, indicator id, received, on time) of each group of ``groups``
    (:func:`series_groups`) and indicator: its series' observations first accepted by ``at``
    for the periods of ``slots`` (indicator id, period start, deadline), and how many of those
    were first accepted by the deadline. One row per (unit, indicator, period) whatever its
    revisions: the natural key is unique and ``first_received_at`` never changes. ``unit_ids``,
    when short, narrows the scan to what ``groups`` holds."""
    listed = values_table(session, "slots", slots)
    indicator, start, deadline = listed.c.column1, listed.c.column2, listed.c.column3
    on_time = case((Observation.first_received_at <= deadline, 1), else_=0)
    # Summed per series first, then per group: joined to the owed series row by row, the
    # planner (misjudging how many series are owed) looked each observation up on its own.
    per_series = (
        select(
            Observation.unit_id,
            Observation.indicator_id,
            func.count().label("received"),
            func.sum(on_time).label("on_time"),
        )
        .join(
            listed,
            and_(indicator == Observation.indicator_id, start == Observation.period_start),
        )
        .where(
            Observation.first_received_at <= at,
            # The slots' days, for the index and the partitions.
            Observation.period_start >= min(slot[1] for slot in slots),
            Observation.period_start <= max(slot[1] for slot in slots),
            Observation.indicator_id.in_(sorted({slot[0] for slot in slots})),
        )
        .group_by(Observation.unit_id, Observation.indicator_id)
    )
    counted = _among(per_series, Observation.unit_id, unit_ids).subquery("counted")
    statement = (
        select(
            groups.c.key,
            counted.c.indicator_id,
            # PostgreSQL sums counts (bigint) as numeric, which would come back as Decimal.
            cast(func.sum(counted.c.received), Integer),
            cast(func.sum(counted.c.on_time), Integer),
        )
        .join(
            groups,
            and_(
                groups.c.unit_id == counted.c.unit_id,
                groups.c.indicator_id == counted.c.indicator_id,
            ),
        )
        .group_by(groups.c.key, counted.c.indicator_id)
    )
    return await _execute(session, statement)


def _unsettled(at: datetime, graces: dict[int, int]) -> ColumnElement[bool]:
    """A kept month that cannot answer at ``at``: it holds a report first accepted after
    ``at``, or was counted under another grace than its indicator's now (``graces``, as
    :func:`~ioc_hub.coverage.months.grace_key` stores it)."""
    by_grace: dict[int, list[int]] = defaultdict(list)
    for indicator_id, grace in graces.items():
        by_grace[grace].append(indicator_id)
    return or_(
        SeriesMonth.last_received_at > at,
        SeriesMonth.grace_microseconds.is_(None),
        *(
            and_(
                SeriesMonth.indicator_id.in_(sorted(ids)),
                SeriesMonth.grace_microseconds != grace,
            )
            for grace, ids in sorted(by_grace.items())
        ),
    )


async def month_totals(
    session: AsyncSession,
    at: datetime,
    graces: dict[int, int],
    runs: Collection[tuple[date, date, Collection[int]]],
    groups: Subquery,
    unit_ids: Collection[int] | None,
) -> "Result[str, int, int, int, int]":
    """(key, indicator id, received, on time, unsettled months) of each group of ``groups``
    (:func:`series_groups`) and indicator, summed over its series' kept months: those of each
    run (first month, last month, indicator ids), one scan for them all. ``graces`` holds each
    indicator's grace now; the sums hold only when no month is unsettled (:func:`_unsettled`).
    ``unit_ids``, when short, narrows the scan to what ``groups`` holds."""
    unsettled = case((_unsettled(at, graces), 1), else_=0)
    statement = (
        select(
            groups.c.key,
            SeriesMonth.indicator_id,
            func.sum(SeriesMonth.received),
            func.sum(SeriesMonth.on_time),
            func.sum(unsettled),
        )
        .join(
            groups,
            and_(
                groups.c.unit_id == SeriesMonth.unit_id,
                groups.c.indicator_id == SeriesMonth.indicator_id,
            ),
        )
        .where(
            or_(
                *(
                    and_(
                        SeriesMonth.indicator_id.in_(sorted(indicator_ids)),
                        SeriesMonth.month >= first,
                        SeriesMonth.month <= last,
                    )
                    for first, last, indicator_ids in runs
                )
            )
        )
        .group_by(groups.c.key, SeriesMonth.indicator_id)
    )
    return await _execute(session, _among(statement, SeriesMonth.unit_id, unit_ids))


async def unsettled_months(
    session: AsyncSession,
    at: datetime,
    graces: dict[int, int],
    first: date,
    last: date,
    unit_ids: Collection[int] | None,
) -> set[tuple[int, date]]:
    """The (indicator id, month) among ``first``..``last`` of the indicators of ``graces``
    where some kept month cannot answer at ``at`` (:func:`_unsettled`)."""
    statement = (
        select(SeriesMonth.indicator_id, SeriesMonth.month)
        .distinct()
        .where(
            SeriesMonth.indicator_id.in_(sorted(graces)),
            SeriesMonth.month >= first,
            SeriesMonth.month <= last,
            _unsettled(at, graces),
        )
    )
    statement = _among(statement, SeriesMonth.unit_id, unit_ids)
    return {(indicator_id, month) for indicator_id, month in await _execute(session, statement)}
