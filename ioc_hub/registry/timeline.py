"""The registry through time: units' lives, their versions, and the tree as of a day
(docs/design.md §8).

Every time-aware answer reads the tree through :func:`tree_on`: a selectable with one row per
unit that exists on the day, carrying the version valid that day. Queries that used ``Unit``'s
columns join it instead and keep their shape.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Subquery, and_, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ioc_hub.models import LineageEdge, Unit, UnitVersion


def local_day(at: datetime, tz: ZoneInfo) -> date:
    """The province's calendar day of an instant: the tree of that day answers for it."""
    return at.astimezone(tz).date()


def spans(valid_from: Any, valid_to: Any, day: date | ColumnElement[date]) -> ColumnElement[bool]:
    """``day`` lies in [valid_from, valid_to), either end open when null."""
    return and_(
        or_(valid_from.is_(None), valid_from <= day), or_(valid_to.is_(None), valid_to > day)
    )


def exists_on(day: date | ColumnElement[date]) -> ColumnElement[bool]:
    """The unit (``Unit``) exists on ``day``."""
    return spans(Unit.valid_from, Unit.valid_to, day)


def tree_on(day: date | ColumnElement[date], name: str = "tree") -> Subquery:
    """The tree as of ``day``: every unit existing that day, with that day's version.

    Columns: ``id``, ``code``, ``name``, ``name_ascii``, ``kind``, ``subtype``, ``parent_id``,
    ``active``, ``valid_from``, ``valid_to`` (the unit's life, not the version's).
    """
    return (
        select(
            Unit.id,
            Unit.code,
            UnitVersion.name,
            UnitVersion.name_ascii,
            UnitVersion.kind,
            UnitVersion.subtype,
            UnitVersion.parent_id,
            Unit.active,
            Unit.valid_from,
            Unit.valid_to,
        )
        .join(UnitVersion, UnitVersion.unit_id == Unit.id)
        .where(exists_on(day), spans(UnitVersion.valid_from, UnitVersion.valid_to, day))
        .subquery(name)
    )


@dataclass(frozen=True, slots=True)
class Edge:
    """One lineage edge, by unit id, with the day it took effect."""

    from_id: int
    to_id: int
    effective: date
    share: float | None
    primary: bool


async def edges(session: AsyncSession, *conditions: ColumnElement[bool]) -> list[Edge]:
    rows = await session.execute(
        select(
            LineageEdge.from_unit_id,
            LineageEdge.to_unit_id,
            LineageEdge.effective,
            LineageEdge.share,
            LineageEdge.primary,
        )
        .where(*conditions)
        .order_by(LineageEdge.effective, LineageEdge.from_unit_id, LineageEdge.to_unit_id)
    )
    return [Edge(r[0], r[1], r[2], r[3], r[4]) for r in rows]


def versions_in_force(versions: Iterable[UnitVersion], day: date) -> UnitVersion | None:
    """The version of one unit valid on ``day``."""
    for version in versions:
        if (version.valid_from is None or version.valid_from <= day) and (
            version.valid_to is None or version.valid_to > day
        ):
            return version
    return None


_VERSIONED = ("name", "name_ascii", "kind", "subtype", "parent_id")


async def record_version(session: AsyncSession, unit: Unit) -> None:
    """Make ``unit``'s latest version say what its row says (a new unit gets its first version).

    Direct edits of a unit (``PATCH``, the seed) change the unit as it is now; only a
    reorganisation writes dated versions.
    """
    await session.flush()
    latest = await session.scalar(
        select(UnitVersion)
        .where(UnitVersion.unit_id == unit.id)
        .order_by(UnitVersion.valid_from.desc().nulls_last())
        .limit(1)
    )
    if latest is None:
        latest = UnitVersion(unit_id=unit.id, valid_from=unit.valid_from)
        session.add(latest)
    for name in _VERSIONED:
        setattr(latest, name, getattr(unit, name))
    await session.flush()


async def sync_unit_row(session: AsyncSession, unit: Unit) -> None:
    """The reverse of :func:`record_version`: the unit's row repeats its latest version."""
    latest = await session.scalar(
        select(UnitVersion)
        .where(UnitVersion.unit_id == unit.id)
        .order_by(UnitVersion.valid_from.desc().nulls_last())
        .limit(1)
    )
    if latest is not None:
        for name in _VERSIONED:
            setattr(unit, name, getattr(latest, name))


async def record_missing_versions(session: AsyncSession) -> None:
    """Give every unit without a version its first one, copied from its row (bulk loads)."""
    await session.flush()
    columns = [getattr(Unit, name) for name in _VERSIONED]
    await session.execute(
        insert(UnitVersion).from_select(
            ["unit_id", "valid_from", *_VERSIONED],
            select(Unit.id, Unit.valid_from, *columns).where(
                ~select(UnitVersion.id).where(UnitVersion.unit_id == Unit.id).exists()
            ),
        )
    )
