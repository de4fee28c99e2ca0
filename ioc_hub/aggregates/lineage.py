"""Where a stored value goes under ``boundaries=current`` (docs/design.md §8): the pure rule that
follows lineage edges from the unit that reported to the units of the chosen day. No I/O.

- Only edges of reorganisations that took effect after the period began and on or before the
  chosen day apply; a chain of them is followed in the order they took effect, and a unit reached
  through an edge of day E follows only its edges after E.
- A unit with no edge left to follow keeps its value if it exists on the chosen day; otherwise
  the value reaches no unit of that day.
- By share (``sum`` and ``avg`` over areas): each successor gets ``share`` of the value (a unit
  continuing its code keeps its self-edge's share). When a predecessor has a successor of unknown
  share, what its known shares leave (all of it when none is known) goes to its primary successor
  and the contribution is approximate.
- By primary (``min``, ``max``, ``last``): the value counts, whole, as one value of the primary
  successor; approximate too when the predecessor has a successor of unknown share.
"""

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from ioc_hub.registry.timeline import Edge


@dataclass(frozen=True, slots=True)
class Share:
    """A part of a value that reaches ``target``: ``weight`` × the value under ``sum``, the
    weight of the value under ``avg``."""

    target: int
    weight: float
    approximate: bool


class Lineage:
    """The edges in force on the chosen day, grouped by predecessor and by day."""

    def __init__(self, edges: Iterable[Edge], existing: Collection[int]) -> None:
        self._existing = existing
        steps: dict[int, dict[date, list[Edge]]] = defaultdict(lambda: defaultdict(list))
        for edge in edges:
            steps[edge.from_id][edge.effective].append(edge)
        self._steps = {unit: sorted(by_day.items()) for unit, by_day in steps.items()}

    @property
    def sources(self) -> set[int]:
        """Every unit whose values may reach a unit of the day."""
        return set(self._existing) | set(self._steps)

    def shares(self, unit: int, after: date, *, by_share: bool) -> list[Share]:
        """Where the value of ``unit`` for a period that began on ``after`` goes; targets are
        distinct, weights positive."""
        if unit not in self._steps:  # most units: no edge to follow
            return [Share(unit, 1.0, False)] if unit in self._existing else []
        merged: dict[int, tuple[float, bool]] = {}
        for share in self._follow(unit, after, 1.0, False, by_share):
            weight, approximate = merged.get(share.target, (0.0, False))
            merged[share.target] = (weight + share.weight, approximate or share.approximate)
        return [Share(t, w, a) for t, (w, a) in sorted(merged.items()) if w > 0]

    def _follow(
        self, unit: int, after: date, weight: float, approximate: bool, by_share: bool
    ) -> Iterable[Share]:
        step = next(((day, g) for day, g in self._steps.get(unit, ()) if day > after), None)
        if step is None:
            if unit in self._existing:
                yield Share(unit, weight, approximate)
            return
        day, edges = step
        for target, part, unknown in _split(edges, by_share):
            yield from self._follow(target, day, weight * part, approximate or unknown, by_share)


def _split(edges: Sequence[Edge], by_share: bool) -> list[tuple[int, float, bool]]:
    """One predecessor's edges of one day as (successor, part of the value, approximate)."""
    unknown = any(e.share is None for e in edges)
    primary = next((e.to_id for e in edges if e.primary), None)
    if not by_share:
        return [] if primary is None else [(primary, 1.0, unknown)]
    parts = [(e.to_id, e.share, False) for e in edges if e.share is not None]
    rest = 1.0 - sum(e.share for e in edges if e.share is not None)
    if unknown and primary is not None and rest > 0:
        parts.append((primary, rest, True))
    return parts
