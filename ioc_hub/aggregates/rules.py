"""The pure rules of aggregated views (docs/design.md §5): which buckets a range covers, which
periods of an indicator fall in each bucket and how many of them are due, and which group each unit
counts in at a level. No I/O; all period arithmetic is :mod:`ioc_hub.kit.periods`.

Definitions the rest of the feature relies on:

- A **bucket** is a period of the requested cadence (the indicator's own or a coarser one). An
  indicator's period belongs to the bucket that holds its anchor (``Period.within``): a week
  belongs to the month, quarter and year of its Thursday.
- A unit's **area** is itself for districts, communes and the province, and the province for every
  other kind (docs/design.md §2). At a **level**, a unit counts in the nearest area of that level
  among itself and its ancestors in the tree of the day (docs/design.md §8): at ``district`` a
  commune counts in its district, a district in itself, and units with no district above them
  (departments, agencies, ministries, and communes of a two-tier map) in no district, so they
  count at ``province`` level only. At ``unit`` level each unit is its own group.
"""

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from ioc_hub.kit.periods import Cadence, Period
from ioc_hub.models import UnitKind

# A bucket count large enough for ten years of days; beyond it a request is refused, not slow.
MAX_BUCKETS = 3_700
# Default window when ``from`` is not given: this many buckets, ending with ``to``.
DEFAULT_SPAN = 12


class Boundaries(enum.StrEnum):
    """Which map an answer uses when the registry changed (docs/design.md §8)."""

    CURRENT = "current"
    AS_REPORTED = "as_reported"


class Level(enum.StrEnum):
    NATION = "nation"
    PROVINCE = "province"
    DISTRICT = "district"
    COMMUNE = "commune"
    UNIT = "unit"

    @property
    def rank(self) -> int:
        """0 for the nation down to 4 for unit: a level may only be at or below its area's."""
        return _LEVEL_RANK[self]


_LEVEL_RANK = {level: rank for rank, level in enumerate(Level)}

# The kinds a unit must have to be an area, and the level each of them is.
AREA_LEVELS: Mapping[UnitKind, Level] = {
    UnitKind.NATION: Level.NATION,
    UnitKind.PROVINCE: Level.PROVINCE,
    UnitKind.DISTRICT: Level.DISTRICT,
    UnitKind.COMMUNE: Level.COMMUNE,
}


class AreaUnit(NamedTuple):
    """The facts about a unit that area and level decisions need (a tuple: a national tree
    makes thousands per answer)."""

    id: int
    code: str
    kind: UnitKind
    parent_id: int | None


# Bucketing ---------------------------------------------------------------------------------------


def first_inside(outer: Period, cadence: Cadence) -> Period:
    """The first period of ``cadence`` (as fine as ``outer``'s or finer) that belongs to
    ``outer`` by its anchor."""
    period = Period.of_date(outer.start, cadence)
    if period.within(outer.cadence) < outer:
        period = period.next()
    return period


def last_inside(outer: Period, cadence: Cadence) -> Period:
    """The last period of ``cadence`` (as fine as ``outer``'s or finer) that belongs to
    ``outer`` by its anchor."""
    period = Period.of_date(outer.last_day, cadence)
    if period.within(outer.cadence) > outer:
        period = period.previous()
    return period


def to_bucket(period: Period, bucket: Cadence, *, end: bool) -> Period:
    """The bucket a range bound names. A bound as fine as the bucket or finer names the bucket
    it belongs to; a coarser one (``from=2026`` with monthly buckets) names its first bucket, or
    its last one when it ends the range."""
    if period.cadence.rank <= bucket.rank:
        return period.within(bucket)
    return last_inside(period, bucket) if end else first_inside(period, bucket)


@dataclass(frozen=True, slots=True)
class Bucket:
    """One bucket of an answer and the indicator periods it holds.

    ``first`` and ``last`` are the first and last periods of the indicator's cadence that belong
    to the bucket; ``due`` counts those not in the future (a period is in the future once it
    starts after the current one, as for pushes), which is what ``expected`` multiplies.
    """

    index: int
    period: Period
    first: Period
    last: Period
    due: int


def plan_buckets(cadence: Cadence, first: Period, last: Period, current: Period) -> list[Bucket]:
    """The buckets from ``first`` to ``last`` (inclusive, of one cadence as coarse as
    ``cadence`` or coarser) for an indicator of ``cadence`` whose current period is ``current``."""
    buckets = []
    bucket = first
    for index in range(last.ordinal - first.ordinal + 1):
        if index:
            bucket = bucket.next()
        begin, end = first_inside(bucket, cadence), last_inside(bucket, cadence)
        due = max(0, min(end, current).ordinal - begin.ordinal + 1)
        buckets.append(Bucket(index=index, period=bucket, first=begin, last=end, due=due))
    return buckets


# Areas and levels --------------------------------------------------------------------------------


def _lineage(unit: AreaUnit, by_id: Mapping[int, AreaUnit]) -> list[AreaUnit]:
    """``unit`` and its ancestors in its tree, nearest first."""
    chain = [unit]
    while (parent := by_id.get(chain[-1].parent_id or 0)) is not None and len(chain) <= len(by_id):
        chain.append(parent)
    return chain


def group_of(chain: Sequence[AreaUnit], level: Level) -> int | None:
    """The id of the group a unit (``chain``: it, then its ancestors) counts in at ``level``:
    itself at ``unit`` level, else its nearest area of that level, if any."""
    if level is Level.UNIT:
        return chain[0].id
    return next((u.id for u in chain if AREA_LEVELS.get(u.kind) is level), None)


def groups(units: Iterable[AreaUnit], area: AreaUnit, level: Level) -> dict[int, int]:
    """unit id → group id for the units of one tree (any depth: a commune may hang under a
    district or straight under its province) lying in ``area`` and counting at ``level``."""
    by_id = {u.id: u for u in units}
    children: dict[int, list[AreaUnit]] = {}
    for unit in by_id.values():
        if unit.parent_id is not None:
            children.setdefault(unit.parent_id, []).append(unit)
    mapping: dict[int, int] = {}
    # Down from the area, each unit handing its group to its children: a unit's group is its
    # nearest area of the level, itself included (each unit once, whatever the tree holds).
    stack = [(by_id.get(area.id, area), group_of(_lineage(area, by_id), level))]
    seen: set[int] = set()
    while stack:
        unit, above = stack.pop()
        if unit.id in seen:
            continue
        seen.add(unit.id)
        group = unit.id if level is Level.UNIT or AREA_LEVELS.get(unit.kind) is level else above
        if group is not None:
            mapping[unit.id] = group
        stack.extend((child, group) for child in children.get(unit.id, ()))
    return mapping


# Values ------------------------------------------------------------------------------------------


def tidy(value: float) -> float:
    """A value rounded to 12 significant digits: sums taken in another order (a parallel plan,
    another engine) then give the same figure, so ETags do not change when data did not."""
    return float(f"{value:.12g}")
