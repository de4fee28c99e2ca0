"""The indicator catalogue (groups and indicators) and the obligations that say who reports what.

The catalogue is province-wide: only a province-level key changes it. Obligations are assigned
to one unit or to every unit of a kind; :func:`obligated_series` expands them for other features.
"""

from collections.abc import Collection, Sequence
from datetime import date
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Subquery,
    and_,
    case,
    exists,
    func,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from ioc_hub.access.principal import Principal
from ioc_hub.catalogue.schemas import (
    IndicatorCreate,
    IndicatorGroupCreate,
    IndicatorGroupOut,
    IndicatorOut,
    IndicatorUpdate,
    ObligationCreate,
    ObligationOut,
)
from ioc_hub.config import Settings
from ioc_hub.errors import Conflict, Forbidden, Invalid, NotFound, no_such
from ioc_hub.kit.pagination import AnySelect, Page, PageParams, count_rows
from ioc_hub.kit.periods import Cadence
from ioc_hub.models import Aggregation, Indicator, IndicatorGroup, Obligation, Unit, UnitKind
from ioc_hub.registry import service as registry
from ioc_hub.registry import timeline


def _require_province(principal: Principal) -> None:
    if not principal.is_province:
        raise Forbidden(
            "the indicator catalogue is province-wide: only a province-level key may change it "
            f"(this key is bound to unit {principal.unit.code!r})"
        )


def _number(value: float) -> str:
    return format(value, ".15g")


# Groups


async def find_group(session: AsyncSession, code: str) -> IndicatorGroup | None:
    group: IndicatorGroup | None = await session.scalar(
        select(IndicatorGroup).where(IndicatorGroup.code == code)
    )
    return group


async def get_group(session: AsyncSession, code: str, *, field: str = "code") -> IndicatorGroup:
    group = await find_group(session, code)
    if group is None:
        raise no_such(f"indicator group {code!r} does not exist", field=field)
    return group


def group_out(group: IndicatorGroup) -> IndicatorGroupOut:
    return IndicatorGroupOut(
        code=group.code,
        name=group.name,
        description=group.description,
        created_at=group.created_at,
    )


async def create_group(
    session: AsyncSession, principal: Principal, data: IndicatorGroupCreate
) -> IndicatorGroup:
    _require_province(principal)
    if await find_group(session, data.code) is not None:
        raise Conflict(f"indicator group code {data.code!r} already exists", field="body.code")
    group = IndicatorGroup(code=data.code, name=data.name, description=data.description)
    session.add(group)
    await session.flush()
    await session.refresh(group)
    return group


async def list_groups(session: AsyncSession, page: PageParams) -> Page[IndicatorGroupOut]:
    query = select(IndicatorGroup)
    groups = await session.scalars(page.window(query, IndicatorGroup.code))
    return Page.of([group_out(g) for g in groups], await count_rows(session, query), page)


# Indicators


async def find_indicator(session: AsyncSession, code: str) -> Indicator | None:
    indicator: Indicator | None = await session.scalar(
        select(Indicator).where(Indicator.code == code)
    )
    return indicator


async def get_indicator(session: AsyncSession, code: str, *, field: str = "code") -> Indicator:
    indicator = await find_indicator(session, code)
    if indicator is None:
        raise no_such(f"indicator {code!r} does not exist", field=field)
    return indicator


async def indicators_out(
    session: AsyncSession, settings: Settings, indicators: Sequence[Indicator]
) -> list[IndicatorOut]:
    group_ids = {i.group_id for i in indicators}
    codes: dict[int, str] = {}
    if group_ids:
        rows = await session.execute(
            select(IndicatorGroup.id, IndicatorGroup.code).where(IndicatorGroup.id.in_(group_ids))
        )
        codes = {row.id: row.code for row in rows}
    return [
        IndicatorOut(
            code=i.code,
            name=i.name,
            description=i.description,
            group=codes[i.group_id],
            cadence=Cadence(i.cadence),
            measurement_unit=i.measurement_unit,
            time_aggregation=Aggregation(i.time_aggregation),
            area_aggregation=Aggregation(i.area_aggregation),
            min_value=i.min_value,
            max_value=i.max_value,
            grace_seconds=i.grace_seconds,
            grace_seconds_effective=int(
                settings.grace(Cadence(i.cadence), i.grace_seconds).total_seconds()
            ),
            open=i.open,
            active=i.active,
            created_at=i.created_at,
            updated_at=i.updated_at,
        )
        for i in indicators
    ]


def _check_range(min_value: float | None, max_value: float | None, field: str) -> None:
    if min_value is not None and max_value is not None and min_value > max_value:
        raise Invalid(
            f"min_value {_number(min_value)} is above max_value {_number(max_value)}",
            field=field,
        )


async def create_indicator(
    session: AsyncSession, principal: Principal, data: IndicatorCreate
) -> Indicator:
    _require_province(principal)
    group = await get_group(session, data.group, field="body.group")
    _check_range(data.min_value, data.max_value, "body.min_value")
    if await find_indicator(session, data.code) is not None:
        raise Conflict(f"indicator code {data.code!r} already exists", field="body.code")
    indicator = Indicator(
        code=data.code,
        name=data.name,
        description=data.description,
        group_id=group.id,
        cadence=data.cadence.value,
        measurement_unit=data.measurement_unit,
        time_aggregation=data.time_aggregation.value,
        area_aggregation=data.area_aggregation.value,
        min_value=data.min_value,
        max_value=data.max_value,
        grace_seconds=data.grace_seconds,
        open=data.open,
        active=True,
    )
    session.add(indicator)
    await session.flush()
    await session.refresh(indicator)
    return indicator


async def list_indicators(
    session: AsyncSession,
    settings: Settings,
    page: PageParams,
    *,
    group: str | None = None,
    cadence: Cadence | None = None,
    open: bool | None = None,
    active: bool | None = None,
) -> Page[IndicatorOut]:
    query = select(Indicator)
    if group is not None:
        group_row = await get_group(session, group, field="query.group")
        query = query.where(Indicator.group_id == group_row.id)
    if cadence is not None:
        query = query.where(Indicator.cadence == cadence.value)
    if open is not None:
        query = query.where(Indicator.open == open)
    if active is not None:
        query = query.where(Indicator.active == active)
    indicators = (await session.scalars(page.window(query, Indicator.code))).all()
    items = await indicators_out(session, settings, indicators)
    return Page.of(items, await count_rows(session, query), page)


async def update_indicator(
    session: AsyncSession, principal: Principal, code: str, data: IndicatorUpdate
) -> Indicator:
    _require_province(principal)
    indicator = await get_indicator(session, code, field="path.code")
    sent = data.model_fields_set
    if data.group is not None:
        indicator.group_id = (await get_group(session, data.group, field="body.group")).id
    min_value = data.min_value if "min_value" in sent else indicator.min_value
    max_value = data.max_value if "max_value" in sent else indicator.max_value
    _check_range(
        min_value, max_value, "body.min_value" if "min_value" in sent else "body.max_value"
    )
    for name in ("name", "description", "measurement_unit", "open", "active"):
        value = getattr(data, name)
        if value is not None:
            setattr(indicator, name, value)
    for name in ("min_value", "max_value", "grace_seconds"):
        if name in sent:
            setattr(indicator, name, getattr(data, name))
    await session.flush()
    await session.refresh(indicator)
    return indicator


async def deactivate_indicator(session: AsyncSession, principal: Principal, code: str) -> Indicator:
    """Indicators are never hard-deleted: their observations stay referable. An inactive
    indicator is no longer obligated and takes no new values."""
    _require_province(principal)
    indicator = await get_indicator(session, code, field="path.code")
    indicator.active = False
    await session.flush()
    await session.refresh(indicator)
    return indicator


# Obligations


async def obligations_out(
    session: AsyncSession, obligations: Sequence[Obligation]
) -> list[ObligationOut]:
    indicator_ids = {o.indicator_id for o in obligations}
    unit_ids = {u for o in obligations for u in (o.unit_id, o.district_id) if u is not None}
    indicators: dict[int, str] = {}
    units: dict[int, str] = {}
    if indicator_ids:
        rows = await session.execute(
            select(Indicator.id, Indicator.code).where(Indicator.id.in_(indicator_ids))
        )
        indicators = {row.id: row.code for row in rows}
    if unit_ids:
        rows = await session.execute(select(Unit.id, Unit.code).where(Unit.id.in_(unit_ids)))
        units = {row.id: row.code for row in rows}
    return [
        ObligationOut(
            id=o.id,
            indicator=indicators[o.indicator_id],
            unit=units[o.unit_id] if o.unit_id is not None else None,
            unit_kind=UnitKind(o.unit_kind) if o.unit_kind is not None else None,
            district=units[o.district_id] if o.district_id is not None else None,
            created_at=o.created_at,
        )
        for o in obligations
    ]


async def _unit_target(session: AsyncSession, principal: Principal, code: str) -> Unit:
    unit = await registry.unit_in_area(session, principal, code, field="body.unit")
    if unit.kind == UnitKind.PROVINCE:
        raise Invalid("the province itself reports nothing; oblige its units", field="body.unit")
    if not unit.active:
        raise Invalid(f"unit {unit.code!r} is inactive", field="body.unit")
    return unit


async def _district_filter(
    session: AsyncSession, kind: UnitKind, district_code: str | None
) -> Unit | None:
    if district_code is None:
        return None
    if kind is not UnitKind.COMMUNE:
        raise Invalid(
            "district restricts only a commune-wide obligation (unit_kind 'commune')",
            field="body.district",
        )
    district = await registry.get_unit(session, district_code, field="body.district")
    if district.kind != UnitKind.DISTRICT:
        raise Invalid(
            f"district must be a district; {district.code!r} is a {district.kind}",
            field="body.district",
        )
    if not district.active:
        raise Invalid(f"district {district.code!r} is inactive", field="body.district")
    return district


async def _unit_obligation(
    session: AsyncSession, principal: Principal, indicator: Indicator, code: str
) -> tuple[Obligation, ColumnElement[bool], str]:
    unit = await _unit_target(session, principal, code)
    obligation = Obligation(indicator_id=indicator.id, unit_id=unit.id)
    return obligation, Obligation.unit_id == unit.id, f"unit {unit.code!r}"


async def _kind_obligation(
    session: AsyncSession,
    principal: Principal,
    indicator: Indicator,
    kind: UnitKind,
    district_code: str | None,
) -> tuple[Obligation, ColumnElement[bool], str]:
    if not principal.is_province:
        raise Forbidden(
            "a kind-wide obligation spans the province: only a province-level key may "
            f"create it (this key is bound to unit {principal.unit.code!r})",
            field="body.unit_kind",
        )
    if kind is UnitKind.PROVINCE:
        raise Invalid(
            "the province itself reports nothing; oblige another kind", field="body.unit_kind"
        )
    district = await _district_filter(session, kind, district_code)
    obligation = Obligation(
        indicator_id=indicator.id,
        unit_kind=kind.value,
        district_id=district.id if district is not None else None,
    )
    if district is None:
        return (
            obligation,
            and_(Obligation.unit_kind == kind.value, Obligation.district_id.is_(None)),
            f"every {kind.value}",
        )
    return (
        obligation,
        and_(Obligation.unit_kind == kind.value, Obligation.district_id == district.id),
        f"every {kind.value} of district {district.code!r}",
    )


async def create_obligation(
    session: AsyncSession, principal: Principal, data: ObligationCreate
) -> ObligationOut:
    indicator = await get_indicator(session, data.indicator, field="body.indicator")
    if not indicator.active:
        raise Invalid(f"indicator {indicator.code!r} is inactive", field="body.indicator")
    if data.unit is not None and data.unit_kind is None:
        if data.district is not None:
            raise Invalid(
                "district restricts a kind-wide obligation only; drop it or use unit_kind",
                field="body.district",
            )
        obligation, same_target, target = await _unit_obligation(
            session, principal, indicator, data.unit
        )
        field = "body.unit"
    elif data.unit_kind is not None and data.unit is None:
        obligation, same_target, target = await _kind_obligation(
            session, principal, indicator, data.unit_kind, data.district
        )
        field = "body.unit_kind"
    else:
        raise Invalid(
            "give exactly one of unit or unit_kind",
            field="body.unit" if data.unit is None else "body.unit_kind",
        )
    # No unique index covers both target shapes, so the check is here; two racing identical
    # requests could both pass it, which leaves a harmless duplicate (series are distinct).
    duplicate = await session.scalar(
        select(Obligation.id).where(Obligation.indicator_id == indicator.id, same_target)
    )
    if duplicate is not None:
        raise Conflict(
            f"{target} is already obliged to report {indicator.code!r} (obligation {duplicate})",
            field=field,
        )
    session.add(obligation)
    await session.flush()
    await session.refresh(obligation)
    return (await obligations_out(session, [obligation]))[0]


async def list_obligations(
    session: AsyncSession,
    page: PageParams,
    *,
    indicator: str | None = None,
    unit: str | None = None,
    unit_kind: UnitKind | None = None,
) -> Page[ObligationOut]:
    query = select(Obligation)
    if indicator is not None:
        indicator_row = await get_indicator(session, indicator, field="query.indicator")
        query = query.where(Obligation.indicator_id == indicator_row.id)
    if unit is not None:
        unit_row = await registry.get_unit(session, unit, field="query.unit")
        query = query.where(Obligation.unit_id == unit_row.id)
    if unit_kind is not None:
        query = query.where(Obligation.unit_kind == unit_kind.value)
    obligations = (await session.scalars(page.window(query, Obligation.id))).all()
    items = await obligations_out(session, obligations)
    return Page.of(items, await count_rows(session, query), page)


async def delete_obligation(
    session: AsyncSession, principal: Principal, obligation_id: int
) -> ObligationOut:
    """Obligations carry no history of their own, so removing one is a hard delete."""
    obligation = await session.get(Obligation, obligation_id)
    if obligation is None:
        raise NotFound(f"obligation {obligation_id} does not exist", field="path.obligation_id")
    if obligation.unit_id is None:
        if not principal.is_province:
            raise Forbidden(
                "a kind-wide obligation spans the province: only a province-level key may "
                "remove it",
                field="path.obligation_id",
            )
    else:
        unit = await session.get_one(Unit, obligation.unit_id)
        registry.require_covered(principal, unit, "path.obligation_id")
    out = (await obligations_out(session, [obligation]))[0]
    await session.delete(obligation)
    await session.flush()
    return out


async def obligated_series(
    session: AsyncSession,
    *,
    unit_ids: Collection[int] | None = None,
    indicator_ids: Collection[int] | None = None,
    day: date | None = None,
) -> list[tuple[int, int]]:
    """The distinct (unit_id, indicator_id) pairs that must be reported, sorted: the rows of
    :func:`obligated`, which says which."""
    if (unit_ids is not None and not unit_ids) or (indicator_ids is not None and not indicator_ids):
        return []
    pairs = obligated(unit_ids=unit_ids, indicator_ids=indicator_ids, day=day)
    rows = await session.execute(
        select(pairs.c.unit_id, pairs.c.indicator_id).order_by(
            pairs.c.unit_id, pairs.c.indicator_id
        )
    )
    return [(int(unit_id), int(indicator_id)) for unit_id, indicator_id in rows]


def _covers(kind: Any, district_id: Any, tree: Subquery) -> ColumnElement[bool]:
    """A kind-wide obligation (``kind``, within ``district_id`` or anywhere) applies to the unit
    of ``tree`` it is joined with."""
    return and_(kind == tree.c.kind, or_(district_id.is_(None), district_id == tree.c.parent_id))


def obligated(
    *,
    unit_ids: Collection[int] | None = None,
    indicator_ids: Collection[int] | None = None,
    day: date | None = None,
) -> Subquery:
    """The distinct (``unit_id``, ``indicator_id``) pairs that must be reported, as a query for
    a caller to count or join rather than list.

    Only active units and active indicators count. Kind-wide obligations expand to every unit of
    the kind (within their district when they name one). ``unit_ids`` and ``indicator_ids``
    restrict the answer.

    ``day`` asks for the obligations of that day over the tree of that day (docs/design.md §8):
    units existing then, with that day's kind and parent, and obligations valid then. Without
    it, the answer is today's registry as it stands: units that have not ended, as they are now.
    """

    def in_force(obligation: type[Obligation]) -> ColumnElement[bool]:
        if day is None:
            return obligation.valid_to.is_(None)
        return timeline.spans(obligation.valid_from, obligation.valid_to, day)

    if day is None:
        units = select(Unit.id, Unit.kind, Unit.parent_id, Unit.active).where(
            Unit.valid_to.is_(None)
        )
    else:
        units = select(*timeline.tree_on(day).c)
    tree = units.subquery("tree")
    # Each unit gets each indicator from one obligation at most, so the two parts hold no pair
    # twice and nothing is deduplicated pair by pair (a country owes hundreds of thousands): an
    # obligation is left out when another in force gives the same units the same indicator
    # (a kind-wide one naming no district covers its kind's district ones; of equal ones the
    # first counts), and a unit's own obligation when a kind-wide one covers the unit.
    other = aliased(Obligation)

    def covers(rule: type[Obligation]) -> ColumnElement[bool]:
        return _covers(rule.unit_kind, rule.district_id, tree)

    conditions = [tree.c.active.is_(True), Indicator.active.is_(True), in_force(Obligation)]
    if unit_ids is not None:
        conditions.append(tree.c.id.in_(unit_ids))
    if indicator_ids is not None:
        conditions.append(Obligation.indicator_id.in_(indicator_ids))
    per_kind = (
        select(tree.c.id.label("unit_id"), Obligation.indicator_id.label("indicator_id"))
        .select_from(Obligation)
        .join(tree, covers(Obligation))
        .join(Indicator, Indicator.id == Obligation.indicator_id)
        .where(
            *conditions,
            ~exists().where(
                other.indicator_id == Obligation.indicator_id,
                other.unit_kind == Obligation.unit_kind,
                in_force(other),
                or_(
                    and_(other.district_id.is_(None), Obligation.district_id.is_not(None)),
                    and_(
                        other.district_id.is_not_distinct_from(Obligation.district_id),
                        other.id < Obligation.id,
                    ),
                ),
            ),
        )
    )
    per_unit = (
        select(tree.c.id.label("unit_id"), Obligation.indicator_id.label("indicator_id"))
        .select_from(Obligation)
        .join(tree, tree.c.id == Obligation.unit_id)
        .join(Indicator, Indicator.id == Obligation.indicator_id)
        .where(
            *conditions,
            ~exists().where(
                other.indicator_id == Obligation.indicator_id,
                in_force(other),
                or_(
                    covers(other),
                    and_(other.unit_id == Obligation.unit_id, other.id < Obligation.id),
                ),
            ),
        )
    )
    return union_all(per_kind, per_unit).subquery("obligated")


def fastest_obligations(speed: dict[int, int], *, day: date) -> AnySelect:
    """Each unit's least ``speed`` (by indicator id; indicators not in it do not count) among
    the indicators it must report on ``day`` (as :func:`obligated` says), computed from the
    obligations rather than the series they expand to: rows (``unit_id``, ``speed``)."""
    tree = timeline.tree_on(day)
    rank = case(speed, value=Obligation.indicator_id)
    conditions = [
        Indicator.active.is_(True),
        Obligation.indicator_id.in_(speed),
        timeline.spans(Obligation.valid_from, Obligation.valid_to, day),
    ]
    by_kind = (
        select(Obligation.unit_kind, Obligation.district_id, func.min(rank).label("speed"))
        .join(Indicator, Indicator.id == Obligation.indicator_id)
        .where(Obligation.unit_kind.is_not(None), *conditions)
        .group_by(Obligation.unit_kind, Obligation.district_id)
        .subquery("by_kind")
    )
    own = (
        select(Obligation.unit_id, func.min(rank).label("speed"))
        .join(Indicator, Indicator.id == Obligation.indicator_id)
        .where(Obligation.unit_id.is_not(None), *conditions)
        .group_by(Obligation.unit_id)
        .subquery("own")
    )
    speeds = union_all(
        select(tree.c.id.label("unit_id"), by_kind.c.speed).join(
            by_kind, _covers(by_kind.c.unit_kind, by_kind.c.district_id, tree)
        ),
        select(tree.c.id, own.c.speed).join(own, own.c.unit_id == tree.c.id),
    ).subquery("speeds")
    return select(speeds.c.unit_id, func.min(speeds.c.speed).label("speed")).group_by(
        speeds.c.unit_id
    )
