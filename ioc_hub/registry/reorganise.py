"""Reorganisations: one change of the map, validated whole and applied in one transaction
(docs/design.md §8).

Nothing stored moves. Units that end get their ``valid_to``; units that start are created with
``valid_from``; units that continue get a version from the day; lineage edges say where each
old unit went; successors take their predecessors' obligations. A push runs in its own
transaction and validates against a registry copy guarded by the registry generation, which
this transaction moves: it sees the map before the change or after it, never half of it.
"""

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from importlib import resources
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ioc_hub.catalogue.service import obligated_series
from ioc_hub.errors import Conflict, Invalid, NotFound
from ioc_hub.models import (
    AccessKey,
    LineageEdge,
    Obligation,
    Observation,
    Reorganisation,
    Unit,
    UnitKind,
    UnitVersion,
)
from ioc_hub.registry import timeline
from ioc_hub.registry.schemas import (
    LineageIn,
    ReorganisationIn,
    ReorganisationOut,
    UnitChange,
    UnitStart,
)


class Builtin(StrEnum):
    """The reorganisations that ship with the hub, each with its data file."""

    BINH_DUONG_2025 = "binh-duong-2025"


_BUILTIN_FILES = {Builtin.BINH_DUONG_2025: "binh_duong_reform_2025.json"}

# Shares are decimals from documents: a sum this close to 1 is 1.
_SHARE_TOLERANCE = 1e-9


@dataclass
class _Node:
    """A unit as it will stand on the day: what the tree of D says of it."""

    code: str
    kind: UnitKind
    parent: str | None


class _Plan:
    """The event checked against the registry: every unit it names, resolved."""

    def __init__(self, event: ReorganisationIn, units: dict[str, Unit]) -> None:
        self.event = event
        self.units = units
        self.day = event.effective

    def unit(self, code: str, field: str) -> Unit:
        unit = self.units.get(code)
        if unit is None:
            raise Invalid(f"unit {code!r} does not exist", field=field)
        return unit

    def alive_before(self, code: str, field: str) -> Unit:
        """A unit that exists on the eve of the day and so can end, change or hand on."""
        unit = self.unit(code, field)
        if unit.valid_from is not None and unit.valid_from >= self.day:
            raise Invalid(
                f"unit {code!r} starts on {unit.valid_from}: the reorganisation's day "
                f"{self.day} must come after it",
                field=field,
            )
        if unit.valid_to is not None and unit.valid_to <= self.day:
            raise Invalid(
                f"unit {code!r} no longer exists from {unit.valid_to}, before {self.day}",
                field=field,
            )
        return unit


def _field(name: str, index: int, attribute: str | None = None) -> str:
    return f"body.{name}.{index}" + (f".{attribute}" if attribute else "")


def _check_lists(event: ReorganisationIn) -> None:
    """Each unit appears at most once per list, and never both ends and continues."""
    seen: dict[str, str] = {}
    for index, code in enumerate(event.ends):
        if code in seen:
            raise Invalid(f"unit {code!r} is listed twice", field=_field("ends", index))
        seen[code] = "ends"
    listed = (
        ("starts", [s.code for s in event.starts]),
        ("versions", [v.code for v in event.versions]),
    )
    for name, codes in listed:
        for index, code in enumerate(codes):
            where = seen.get(code)
            if where == "ends":
                raise Invalid(
                    f"unit {code!r} both ends and continues", field=_field(name, index, "code")
                )
            if where is not None:
                raise Invalid(f"unit {code!r} is listed twice", field=_field(name, index, "code"))
            seen[code] = name
    ending = set(event.ends)
    pairs: set[tuple[str, str]] = set()
    for index, edge in enumerate(event.lineage):
        if edge.to in ending:
            raise Invalid(
                f"unit {edge.to!r} both ends and continues: it ends, so it cannot be a successor",
                field=_field("lineage", index, "to"),
            )
        if (edge.from_, edge.to) in pairs:
            raise Invalid(
                f"edge {edge.from_} → {edge.to} is listed twice", field=_field("lineage", index)
            )
        pairs.add((edge.from_, edge.to))


def _check_shares(event: ReorganisationIn) -> None:
    """Per predecessor: shares add up to at most 1 (exactly 1 when all are known and it ends),
    and exactly one successor is primary."""
    by_source: dict[str, list[tuple[int, LineageIn]]] = defaultdict(list)
    for index, edge in enumerate(event.lineage):
        by_source[edge.from_].append((index, edge))
    ending = set(event.ends)
    for source, edges in by_source.items():
        first = edges[0][0]
        primaries = [index for index, edge in edges if edge.primary]
        if len(primaries) != 1:
            raise Invalid(
                f"unit {source!r} has {len(primaries)} primary successors; it needs exactly one",
                field=_field("lineage", primaries[1] if primaries else first, "primary"),
            )
        known = [edge.share for _, edge in edges if edge.share is not None]
        total = sum(known)
        last = edges[-1][0]
        if total > 1 + _SHARE_TOLERANCE:
            raise Invalid(
                f"the shares of unit {source!r} add up to {total:g}, more than 1",
                field=_field("lineage", last, "share"),
            )
        if len(known) == len(edges) and source in ending and abs(total - 1) > _SHARE_TOLERANCE:
            raise Invalid(
                f"unit {source!r} ends and all its shares are known, so they must add up to 1, "
                f"not {total:g}",
                field=_field("lineage", last, "share"),
            )


def _check_cycles(event: ReorganisationIn) -> None:
    """No unit may, through other units, be its own successor (an edge to itself is a unit
    continuing its code, not a cycle)."""
    graph: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for index, edge in enumerate(event.lineage):
        if edge.from_ != edge.to:
            graph[edge.from_].append((index, edge.to))
    state: dict[str, int] = {}  # 1: on the path being walked, 2: done

    def walk(code: str) -> None:
        state[code] = 1
        for index, target in graph.get(code, []):
            if state.get(target) == 1:
                raise Invalid(
                    f"lineage cycle: {target!r} would be its own successor through {code!r}",
                    field=_field("lineage", index),
                )
            if target not in state:
                walk(target)
        state[code] = 2

    for code in list(graph):
        if code not in state:
            walk(code)


_ROOT_KINDS = {UnitKind.PROVINCE}


def _check_parent(node: _Node, parent: _Node | None, day: date, field: str) -> None:
    """The hierarchy of the day: a commune hangs under a district or a province, a district
    and every other kind under a province, and a province at the root."""
    if node.kind in _ROOT_KINDS:
        if parent is not None:
            raise Invalid(f"province {node.code!r} is a root: it has no parent", field=field)
        return
    if parent is None:
        raise Invalid(
            f"unit {node.code!r} would be left without a parent on {day}: give it a new version "
            "whose parent exists on that day",
            field=field,
        )
    allowed = (
        {UnitKind.PROVINCE, UnitKind.DISTRICT}
        if node.kind is UnitKind.COMMUNE
        else {UnitKind.PROVINCE}
    )
    if parent.kind not in allowed:
        expected = " or ".join(sorted(kind.value for kind in allowed))
        raise Invalid(
            f"a {node.kind.value}'s parent must be a {expected}; {parent.code!r} is a "
            f"{parent.kind.value} on {day}",
            field=field,
        )


async def _tree_after(
    session: AsyncSession, plan: _Plan
) -> tuple[dict[str, _Node], dict[str, str]]:
    """The tree of the day as the event would leave it, and for each unit the field that placed
    it there (for errors)."""
    tree = timeline.tree_on(plan.day)
    parent = timeline.tree_on(plan.day, "parent")
    rows = await session.execute(
        select(tree.c.code, tree.c.kind, parent.c.code).outerjoin(
            parent, parent.c.id == tree.c.parent_id
        )
    )
    nodes = {code: _Node(code, UnitKind(kind), parent_code) for code, kind, parent_code in rows}
    fields: dict[str, str] = {}
    for code in plan.event.ends:
        nodes.pop(code, None)
    for index, start in enumerate(plan.event.starts):
        nodes[start.code] = _Node(start.code, start.kind, start.parent)
        fields[start.code] = _field("starts", index, "parent")
    for index, change in enumerate(plan.event.versions):
        node = nodes[change.code]
        if change.kind is not None:
            node.kind = change.kind
        if change.parent is not None:
            node.parent = change.parent
        fields[change.code] = _field("versions", index, "parent")
    return nodes, fields


async def _check_tree(session: AsyncSession, plan: _Plan) -> None:
    nodes, fields = await _tree_after(session, plan)
    ending = set(plan.event.ends)
    for code, node in nodes.items():
        # Only units the event touches, or whose parent it ends, can break the hierarchy.
        if code not in fields and node.parent not in ending:
            continue
        field = fields.get(code, "body.versions")
        parent = nodes.get(node.parent) if node.parent is not None else None
        if node.parent is not None and parent is None:
            gone = "ends on that day" if node.parent in ending else "does not exist on that day"
            raise Invalid(
                f"unit {code!r} would be left without a parent on {plan.day}: its parent "
                f"{node.parent!r} {gone}; give it a new version with a parent",
                field=field,
            )
        _check_parent(node, parent, plan.day, field)


async def _plan(session: AsyncSession, event: ReorganisationIn) -> _Plan:
    _check_lists(event)
    codes = {*event.ends, *(s.code for s in event.starts), *(v.code for v in event.versions)}
    codes |= {s.parent for s in event.starts if s.parent} | {
        v.parent for v in event.versions if v.parent
    }
    codes |= {e.from_ for e in event.lineage} | {e.to for e in event.lineage}
    units = {u.code: u for u in await session.scalars(select(Unit).where(Unit.code.in_(codes)))}
    plan = _Plan(event, units)
    starting = {s.code for s in event.starts}
    for index, start in enumerate(event.starts):
        if start.code in units:
            raise Invalid(
                f"unit {start.code!r} exists already: a unit that continues gets a version",
                field=_field("starts", index, "code"),
            )
    for index, code in enumerate(event.ends):
        plan.alive_before(code, _field("ends", index))
    for index, change in enumerate(event.versions):
        plan.alive_before(change.code, _field("versions", index, "code"))
    parents = [(s.parent, _field("starts", i, "parent")) for i, s in enumerate(event.starts)]
    parents += [(v.parent, _field("versions", i, "parent")) for i, v in enumerate(event.versions)]
    for parent_code, field in parents:
        if parent_code is not None and parent_code not in starting:
            plan.unit(parent_code, field)
    for index, edge in enumerate(event.lineage):
        plan.alive_before(edge.from_, _field("lineage", index, "from"))
        if edge.to not in starting:
            target = plan.unit(edge.to, _field("lineage", index, "to"))
            if target.valid_to is not None and target.valid_to <= event.effective:
                raise Invalid(
                    f"unit {edge.to!r} does not exist on {event.effective}",
                    field=_field("lineage", index, "to"),
                )
    _check_shares(event)
    _check_cycles(event)
    await _check_tree(session, plan)
    return plan


# --- applying ---------------------------------------------------------------------------------


async def _version_on(session: AsyncSession, unit_id: int, day: date) -> UnitVersion:
    version = await session.scalar(
        select(UnitVersion).where(
            UnitVersion.unit_id == unit_id,
            timeline.spans(UnitVersion.valid_from, UnitVersion.valid_to, day),
        )
    )
    assert version is not None  # every unit alive on the day has a version for it
    return version


async def _start(session: AsyncSession, plan: _Plan, reorganisation: Reorganisation) -> None:
    created: list[tuple[UnitStart, Unit]] = []
    for start in plan.event.starts:
        unit = Unit(
            code=start.code,
            name=start.name,
            name_ascii=start.name_ascii,
            kind=start.kind.value,
            subtype=start.subtype,
            valid_from=plan.day,
        )
        session.add(unit)
        created.append((start, unit))
        plan.units[start.code] = unit
    await session.flush()
    for start, unit in created:
        unit.parent_id = plan.units[start.parent].id if start.parent else None
        session.add(
            UnitVersion(
                unit_id=unit.id,
                valid_from=plan.day,
                name=unit.name,
                name_ascii=unit.name_ascii,
                kind=unit.kind,
                subtype=unit.subtype,
                parent_id=unit.parent_id,
                reorganisation_id=reorganisation.id,
            )
        )


async def _change(
    session: AsyncSession, plan: _Plan, change: UnitChange, reorganisation: Reorganisation
) -> None:
    unit = plan.units[change.code]
    old = await _version_on(session, unit.id, plan.day)
    if old.valid_from == plan.day:
        raise Conflict(
            f"unit {change.code!r} already has a version from {plan.day} (another "
            "reorganisation of that day); undo it first",
            field="body.versions",
        )
    new = UnitVersion(
        unit_id=unit.id,
        valid_from=plan.day,
        valid_to=old.valid_to,
        name=change.name or old.name,
        name_ascii=change.name_ascii or (None if change.name else old.name_ascii),
        kind=(change.kind or UnitKind(old.kind)).value,
        subtype=change.subtype or old.subtype,
        parent_id=plan.units[change.parent].id if change.parent else old.parent_id,
        reorganisation_id=reorganisation.id,
    )
    old.valid_to = plan.day
    session.add(new)


async def _hand_over_obligations(
    session: AsyncSession, plan: _Plan, reorganisation: Reorganisation
) -> int:
    """At D each successor takes the union of its predecessors' obligations that it does not
    already have (docs/design.md §8)."""
    sources: dict[int, set[int]] = defaultdict(set)
    for edge in plan.event.lineage:
        sources[plan.units[edge.to].id].add(plan.units[edge.from_].id)
    if not sources:
        return 0
    before = await obligated_series(
        session,
        unit_ids={u for units in sources.values() for u in units},
        day=plan.day - timedelta(days=1),
    )
    after = set(await obligated_series(session, unit_ids=set(sources), day=plan.day))
    owed: dict[int, set[int]] = defaultdict(set)
    for unit_id, indicator_id in before:
        owed[unit_id].add(indicator_id)
    handed = 0
    for successor, predecessors in sorted(sources.items()):
        wanted = set().union(*(owed[p] for p in predecessors))
        for indicator_id in sorted(wanted):
            if (successor, indicator_id) in after:
                continue
            session.add(
                Obligation(
                    unit_id=successor,
                    indicator_id=indicator_id,
                    valid_from=plan.day,
                    reorganisation_id=reorganisation.id,
                )
            )
            handed += 1
    return handed


async def apply(
    session: AsyncSession, event: ReorganisationIn, *, dry_run: bool = False
) -> ReorganisationOut:
    """Validate ``event`` whole and apply it in the caller's transaction; a dry run rolls the
    transaction back after counting what would change."""
    plan = await _plan(session, event)
    reorganisation = Reorganisation(
        name=event.name,
        effective=event.effective,
        document=event.model_dump_json(by_alias=True, exclude_defaults=False),
    )
    session.add(reorganisation)
    await session.flush()
    await _start(session, plan, reorganisation)
    for code in event.ends:
        plan.units[code].valid_to = event.effective
    for change in event.versions:
        await _change(session, plan, change, reorganisation)
    for edge in event.lineage:
        session.add(
            LineageEdge(
                reorganisation_id=reorganisation.id,
                effective=event.effective,
                from_unit_id=plan.units[edge.from_].id,
                to_unit_id=plan.units[edge.to].id,
                share=edge.share,
                primary=edge.primary,
            )
        )
    await session.flush()
    handed = await _hand_over_obligations(session, plan, reorganisation)
    for change in event.versions:
        await timeline.sync_unit_row(session, plan.units[change.code])
    await session.flush()
    out = ReorganisationOut(
        id=None if dry_run else reorganisation.id,
        name=event.name,
        effective=event.effective,
        dry_run=dry_run,
        ended=len(event.ends),
        started=len(event.starts),
        versions=len(event.versions),
        edges=len(event.lineage),
        approximate_edges=sum(1 for e in event.lineage if e.share is None),
        obligations_handed=handed,
        created_at=None if dry_run else reorganisation.created_at,
    )
    if dry_run:
        await session.rollback()
    return out


# --- listing and undoing ----------------------------------------------------------------------


def _summary(reorganisation: Reorganisation, handed: int) -> ReorganisationOut:
    event = ReorganisationIn.model_validate_json(reorganisation.document)
    return ReorganisationOut(
        id=reorganisation.id,
        name=reorganisation.name,
        effective=reorganisation.effective,
        dry_run=False,
        ended=len(event.ends),
        started=len(event.starts),
        versions=len(event.versions),
        edges=len(event.lineage),
        approximate_edges=sum(1 for e in event.lineage if e.share is None),
        obligations_handed=handed,
        created_at=reorganisation.created_at,
    )


async def list_reorganisations(session: AsyncSession) -> list[ReorganisationOut]:
    handed = dict(
        (
            await session.execute(
                select(Obligation.reorganisation_id, func.count())
                .where(Obligation.reorganisation_id.is_not(None))
                .group_by(Obligation.reorganisation_id)
            )
        ).all()
    )
    rows = await session.scalars(select(Reorganisation).order_by(Reorganisation.id))
    return [_summary(r, handed.get(r.id, 0)) for r in rows]


async def _refuse_undo(
    session: AsyncSession, reorganisation: Reorganisation, event: ReorganisationIn
) -> None:
    later = await session.scalar(
        select(Reorganisation.id).where(Reorganisation.id > reorganisation.id).limit(1)
    )
    if later is not None:
        raise Conflict(
            f"reorganisation {later} came after this one; undo it first", field="path.id"
        )
    new_units = {*(s.code for s in event.starts), *(v.code for v in event.versions)}
    new_units |= {e.to for e in event.lineage}
    stored = (
        (
            await session.execute(
                select(Unit.code)
                .join(Observation, Observation.unit_id == Unit.id)
                .where(Unit.code.in_(new_units), Observation.period_start >= event.effective)
                .distinct()
                .order_by(Unit.code)
                .limit(5)
            )
        )
        .scalars()
        .all()
    )
    if stored:
        raise Conflict(
            f"data has been stored under its new units for periods from {event.effective} on "
            f"({', '.join(stored)}): undoing it would orphan them",
            field="path.id",
        )
    started = select(Unit.id).where(Unit.code.in_([s.code for s in event.starts]))
    # What a unit it started is still referred to by: it cannot go while any of it exists.
    referrers = [
        ("keys", select(AccessKey.unit_id).where(AccessKey.unit_id.in_(started))),
        ("data", select(Observation.unit_id).where(Observation.unit_id.in_(started))),
        (
            "obligations",
            select(Obligation.id).where(
                or_(Obligation.unit_id.in_(started), Obligation.district_id.in_(started)),
                or_(
                    Obligation.reorganisation_id.is_(None),
                    Obligation.reorganisation_id != reorganisation.id,
                ),
            ),
        ),
        (
            "child units",
            select(UnitVersion.id).where(
                UnitVersion.parent_id.in_(started),
                UnitVersion.unit_id.not_in(started),
                or_(
                    UnitVersion.reorganisation_id.is_(None),
                    UnitVersion.reorganisation_id != reorganisation.id,
                ),
            ),
        ),
    ]
    for what, query in referrers:
        if await session.scalar(query.limit(1)) is not None:
            raise Conflict(
                f"units it started have {what} of their own since; a reorganisation is undone "
                "only while nothing refers to what it created",
                field="path.id",
            )


async def undo(session: AsyncSession, reorganisation_id: int) -> ReorganisationOut:
    """Remove a reorganisation and everything it wrote, while nothing depends on it."""
    reorganisation = await session.get(Reorganisation, reorganisation_id)
    if reorganisation is None:
        raise NotFound(f"reorganisation {reorganisation_id} does not exist", field="path.id")
    event = ReorganisationIn.model_validate_json(reorganisation.document)
    await _refuse_undo(session, reorganisation, event)
    handed = await session.scalar(
        select(func.count()).where(Obligation.reorganisation_id == reorganisation.id)
    )
    out = _summary(reorganisation, handed or 0)
    await session.execute(
        delete(Obligation).where(Obligation.reorganisation_id == reorganisation.id)
    )
    await session.execute(
        delete(LineageEdge).where(LineageEdge.reorganisation_id == reorganisation.id)
    )
    versions = (
        await session.scalars(
            select(UnitVersion).where(UnitVersion.reorganisation_id == reorganisation.id)
        )
    ).all()
    started = {s.code for s in event.starts}
    units = {
        u.id: u
        for u in await session.scalars(
            select(Unit).where(
                Unit.code.in_({*started, *event.ends, *(v.code for v in event.versions)})
            )
        )
    }
    for version in versions:
        # The version it cut short runs on again to where this one ran.
        await session.execute(
            update(UnitVersion)
            .where(
                UnitVersion.unit_id == version.unit_id,
                UnitVersion.valid_to == reorganisation.effective,
            )
            .values(valid_to=version.valid_to)
        )
        await session.delete(version)
    await session.flush()
    for unit in units.values():
        if unit.code in started:
            await session.delete(unit)
        elif unit.code in event.ends:
            unit.valid_to = None
        else:
            await timeline.sync_unit_row(session, unit)
    await session.delete(reorganisation)
    await session.flush()
    return out


# --- the reform that ships with the hub -------------------------------------------------------


def _load(name: Builtin) -> dict[str, Any]:
    text = resources.files("ioc_hub.data").joinpath(_BUILTIN_FILES[name]).read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


async def builtin(session: AsyncSession, name: Builtin) -> ReorganisationIn:
    """A shipped reorganisation as an event for the registry as it stands.

    ``binh-duong-2025``: the province 74 and its districts end; 79 starts; the 36 successors
    continue a predecessor's code with a new name under 79; the other communes end; the
    province-level units of 74 continue under 79.
    """
    data = _load(name)
    old, new = data["province"]["ends"], data["province"]["successor"]
    successors = data["successors"]
    continuing = {s["code"] for s in successors}
    ends = [old["code"], *data["districts_end"]]
    ends += [c for c in data["communes_end"] if c not in continuing]
    district_codes = set(data["districts_end"])
    children = await session.execute(
        select(Unit.code).where(
            Unit.parent_id == select(Unit.id).where(Unit.code == old["code"]).scalar_subquery(),
            Unit.valid_to.is_(None),
        )
    )
    province_level = sorted(c for c in children.scalars() if c not in district_codes)
    versions = [
        UnitChange(code=s["code"], name=s["name"], subtype=s["type"].lower(), parent=new["code"])
        for s in successors
    ]
    versions += [UnitChange(code=code, parent=new["code"]) for code in province_level]
    lineage = [
        LineageIn.model_validate(
            {"from": old["code"], "to": new["code"], "share": 1, "primary": True}
        )
    ]
    for successor in successors:
        for predecessor in successor["predecessors"]:
            lineage.append(
                LineageIn.model_validate(
                    {
                        "from": predecessor["code"],
                        "to": successor["code"],
                        "share": 1 if predecessor["whole"] else predecessor.get("share"),
                        "primary": predecessor["primary"],
                    }
                )
            )
    return ReorganisationIn(
        name=f"{old['name']} into {new['name']}",
        effective=date.fromisoformat(data["effective"]),
        ends=ends,
        starts=[
            UnitStart(
                code=new["code"], name=new["name"], kind=UnitKind(new["kind"]), subtype="thành phố"
            )
        ],
        versions=versions,
        lineage=lineage,
    )
