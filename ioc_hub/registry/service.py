"""The unit registry: the province → district → commune tree and the bodies that report."""

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ioc_hub.access.principal import Principal, UnitRef
from ioc_hub.errors import Conflict, Forbidden, Invalid, NotFound, no_such
from ioc_hub.kit.pagination import Page, PageParams, count_rows
from ioc_hub.models import AREA_ONLY_KINDS, LineageEdge, Unit, UnitKind, UnitVersion
from ioc_hub.registry import timeline
from ioc_hub.registry.schemas import (
    LinkOut,
    UnitCreate,
    UnitHistory,
    UnitOut,
    UnitUpdate,
    VersionOut,
)


def ref(unit: Unit) -> UnitRef:
    return UnitRef(id=unit.id, code=unit.code, kind=UnitKind(unit.kind), parent_id=unit.parent_id)


async def find_unit(session: AsyncSession, code: str) -> Unit | None:
    unit: Unit | None = await session.scalar(select(Unit).where(Unit.code == code))
    return unit


async def get_unit(session: AsyncSession, code: str, *, field: str = "code") -> Unit:
    unit = await find_unit(session, code)
    if unit is None:
        raise no_such(f"unit {code!r} does not exist", field=field)
    return unit


async def get_province(session: AsyncSession) -> Unit:
    """The root of today's registry: the province (after a reorganisation, the new one), or the
    nation of the national registry."""
    province: Unit | None = await session.scalar(
        select(Unit)
        .where(
            Unit.kind.in_([k.value for k in AREA_ONLY_KINDS]),
            Unit.parent_id.is_(None),
            Unit.valid_to.is_(None),
        )
        .order_by(Unit.valid_from.desc().nulls_last())
        .limit(1)
    )
    if province is None:
        raise NotFound("the registry has no province yet; run `ioc-hub seed`")
    return province


async def to_out(
    session: AsyncSession, units: Sequence[Unit], day: date | None = None
) -> list[UnitOut]:
    """Units as the API shows them: as they stand, or with ``day`` in that day's version."""
    versions: dict[int, UnitVersion] = {}
    if day is not None and units:
        in_force = await session.scalars(
            select(UnitVersion).where(
                UnitVersion.unit_id.in_([u.id for u in units]),
                timeline.spans(UnitVersion.valid_from, UnitVersion.valid_to, day),
            )
        )
        versions = {v.unit_id: v for v in in_force}
    shown = [versions.get(u.id, u) for u in units]
    parent_ids = {v.parent_id for v in shown if v.parent_id is not None}
    codes: dict[int, str] = {}
    if parent_ids:
        rows = await session.execute(select(Unit.id, Unit.code).where(Unit.id.in_(parent_ids)))
        codes = {row.id: row.code for row in rows}
    return [
        UnitOut(
            code=u.code,
            name=v.name,
            name_ascii=v.name_ascii,
            kind=UnitKind(v.kind),
            subtype=v.subtype,
            parent=codes.get(v.parent_id) if v.parent_id is not None else None,
            active=u.active,
            valid_from=u.valid_from,
            valid_to=u.valid_to,
            created_at=u.created_at,
            updated_at=u.updated_at,
        )
        for u, v in zip(units, shown, strict=True)
    ]


async def history(session: AsyncSession, unit: Unit) -> UnitHistory:
    """A unit with its versions, its predecessors and its successors (docs/design.md §8)."""
    versions = (
        await session.scalars(
            select(UnitVersion)
            .where(UnitVersion.unit_id == unit.id)
            .order_by(UnitVersion.valid_from.asc().nulls_first())
        )
    ).all()
    parents = {v.parent_id for v in versions if v.parent_id is not None}
    codes = dict(
        (await session.execute(select(Unit.id, Unit.code).where(Unit.id.in_(parents)))).all()
    )

    async def links(mine: Any, theirs: Any) -> list[LinkOut]:
        rows = await session.execute(
            select(Unit.code, Unit.name, LineageEdge)
            .join(LineageEdge, theirs == Unit.id)
            .where(mine == unit.id)
            .order_by(LineageEdge.effective, Unit.code)
        )
        return [
            LinkOut(
                code=code,
                name=name,
                effective=edge.effective,
                share=edge.share,
                primary=edge.primary,
                reorganisation=edge.reorganisation_id,
            )
            for code, name, edge in rows
        ]

    (out,) = await to_out(session, [unit])
    return UnitHistory(
        **out.model_dump(),
        versions=[
            VersionOut(
                valid_from=v.valid_from,
                valid_to=v.valid_to,
                name=v.name,
                kind=UnitKind(v.kind),
                subtype=v.subtype,
                parent=codes.get(v.parent_id) if v.parent_id is not None else None,
            )
            for v in versions
        ],
        predecessors=await links(LineageEdge.to_unit_id, LineageEdge.from_unit_id),
        successors=await links(LineageEdge.from_unit_id, LineageEdge.to_unit_id),
    )


def require_covered(principal: Principal, unit: Unit | UnitRef, field: str) -> None:
    """403 unless ``unit`` is in the key's area (docs/design.md §6)."""
    target = unit if isinstance(unit, UnitRef) else ref(unit)
    if not principal.covers(target):
        raise Forbidden(
            f"unit {target.code!r} is outside this key's area: it covers {principal.area_in_words}",
            field=field,
        )


async def unit_in_area(
    session: AsyncSession, principal: Principal, code: str, *, field: str
) -> Unit:
    """The unit named ``code``: 404 when there is none (422 named in a body), 403 when it is
    outside the key's area."""
    unit = await get_unit(session, code, field=field)
    require_covered(principal, unit, field)
    return unit


async def _valid_parent(
    session: AsyncSession, kind: UnitKind, parent_code: str | None, field: str
) -> Unit:
    """The hierarchy rule of today's tree: a commune's parent is a district or, on a two-tier
    map, the province; every other kind hangs under the province, on the national registry
    under one of its provinces (docs/design.md §2, §8)."""
    if kind in AREA_ONLY_KINDS:
        raise Invalid(
            f"a {kind} is the root of the registry (or of its areas) and is created by "
            "`ioc-hub seed`",
            field="body.kind",
        )
    if kind is UnitKind.COMMUNE:
        if parent_code is None:
            raise Invalid("a commune needs its district (or province) as parent", field=field)
        parent = await get_unit(session, parent_code, field=field)
        if parent.valid_to is not None:
            raise Invalid(f"unit {parent_code!r} ended on {parent.valid_to}", field=field)
        if parent.kind not in (UnitKind.DISTRICT, UnitKind.PROVINCE):
            raise Invalid(
                f"a commune's parent must be a district or province; {parent_code!r} is a "
                f"{parent.kind}",
                field=field,
            )
        if not parent.active:
            raise Invalid(f"district {parent_code!r} is inactive", field=field)
        return parent
    province = await get_province(session)
    if province.kind == UnitKind.NATION:
        parent = await get_unit(session, parent_code or province.code, field=field)
        if parent.kind != UnitKind.PROVINCE or parent.valid_to is not None:
            raise Invalid(f"a {kind} hangs under one of the nation's provinces", field=field)
        return parent
    if parent_code is not None and parent_code != province.code:
        raise Invalid(
            f"a {kind} hangs under the province {province.code!r}, not {parent_code!r}",
            field=field,
        )
    return province


async def create_unit(session: AsyncSession, principal: Principal, data: UnitCreate) -> Unit:
    parent = await _valid_parent(session, data.kind, data.parent, "body.parent")
    require_covered(principal, parent, "body.parent")
    if await find_unit(session, data.code) is not None:
        raise Conflict(f"unit code {data.code!r} already exists", field="body.code")
    unit = Unit(
        code=data.code,
        name=data.name,
        name_ascii=data.name_ascii,
        kind=data.kind.value,
        subtype=data.subtype,
        parent_id=parent.id,
        active=True,
    )
    session.add(unit)
    await timeline.record_version(session, unit)
    await session.refresh(unit)
    return unit


async def list_units(
    session: AsyncSession,
    page: PageParams,
    *,
    kind: UnitKind | None = None,
    parent: str | None = None,
    active: bool | None = None,
    day: date | None = None,
) -> Page[UnitOut]:
    """The registry as it stands, or with ``day`` the tree as of that day: the units that
    existed then, with that day's name, kind and parent (docs/design.md §8)."""
    if day is None:
        query = select(Unit)
        source: Any = Unit
    else:
        tree = timeline.tree_on(day)
        query = select(Unit).join(tree, tree.c.id == Unit.id)
        source = tree.c
    if kind is not None:
        query = query.where(source.kind == kind.value)
    if parent is not None:
        parent_unit = await get_unit(session, parent, field="query.parent")
        query = query.where(source.parent_id == parent_unit.id)
    if active is not None:
        query = query.where(Unit.active == active)
    units = (await session.scalars(page.window(query, Unit.code))).all()
    out = await to_out(session, units, day)
    return Page.of(out, await count_rows(session, query), page)


async def update_unit(
    session: AsyncSession, principal: Principal, code: str, data: UnitUpdate
) -> Unit:
    unit = await get_unit(session, code, field="path.code")
    require_covered(principal, unit, "path.code")
    if unit.kind in AREA_ONLY_KINDS and (data.parent is not None or data.active is False):
        raise Invalid(
            f"the {unit.kind} stays where the seed put it, and stays active",
            field="body.parent" if data.parent is not None else "body.active",
        )
    if data.parent is not None:
        parent = await _valid_parent(session, UnitKind(unit.kind), data.parent, "body.parent")
        require_covered(principal, parent, "body.parent")
        unit.parent_id = parent.id
    for name in ("name", "name_ascii", "subtype"):
        value = getattr(data, name)
        if value is not None:
            setattr(unit, name, value)
    if data.active is False:
        await _check_can_deactivate(session, unit)
        unit.active = False
    elif data.active is True:
        unit.active = True
    await timeline.record_version(session, unit)
    await session.refresh(unit)
    return unit


async def _check_can_deactivate(session: AsyncSession, unit: Unit) -> None:
    if unit.kind in AREA_ONLY_KINDS:
        raise Invalid(f"the {unit.kind} cannot be deactivated", field="path.code")
    active_children = await session.scalar(
        select(func.count()).where(Unit.parent_id == unit.id, Unit.active.is_(True))
    )
    if active_children:
        raise Conflict(
            f"unit {unit.code!r} still has {active_children} active child units; "
            "deactivate them first",
            field="path.code",
        )


async def deactivate_unit(session: AsyncSession, principal: Principal, code: str) -> Unit:
    """Units are never hard-deleted: their observations, keys and history stay referable."""
    unit = await get_unit(session, code, field="path.code")
    require_covered(principal, unit, "path.code")
    await _check_can_deactivate(session, unit)
    unit.active = False
    await session.flush()
    await session.refresh(unit)
    return unit
