"""The registry as ingest reads it on every push, copied once per process.

A push is validated against this copy and written with a guard that the copy is still current
(see ``repository``): the registry's generation, which every change to the registry
moves, must be the one copied. So a push is never judged by a stale registry, and it does not
read the registry again for each row.
"""

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ioc_hub.access.principal import UnitRef
from ioc_hub.ingest.validation import IndicatorRef, UnitInfo
from ioc_hub.kit.periods import Cadence
from ioc_hub.models import (
    Indicator,
    LineageEdge,
    RegistryGeneration,
    Unit,
    UnitKind,
    UnitVersion,
)


@dataclass(frozen=True, slots=True)
class RegistryCopy:
    generation: int
    units: dict[str, UnitInfo]
    indicators: dict[str, IndicatorRef]
    units_by_id: dict[int, UnitInfo] = field(init=False)
    indicators_by_id: dict[int, IndicatorRef] = field(init=False)

    def __post_init__(self) -> None:
        # By id too: what was stored is described to the stream by code.
        object.__setattr__(self, "units_by_id", {u.ref.id: u for u in self.units.values()})
        object.__setattr__(self, "indicators_by_id", {i.id: i for i in self.indicators.values()})


class IngestCache:
    """Per-process copy; safe to share between the requests of one event loop."""

    def __init__(self) -> None:
        self._registry: RegistryCopy | None = None
        self._loading = asyncio.Lock()

    async def registry(self, via: AsyncSession, stale: RegistryCopy | None = None) -> RegistryCopy:
        """The current copy, read when there is none yet or when ``stale`` — the copy a write
        guard refused — is the one held. Read through ``via``, the caller's session: on SQLite
        a second connection would wait for the caller's write lock."""
        current = self._registry
        if current is not None and current is not stale:
            return current
        async with self._loading:
            if self._registry is not None and self._registry is not stale:
                return self._registry
            self._registry = await self._load(via)
            return self._registry

    @staticmethod
    async def is_current(via: AsyncSession, copy: RegistryCopy) -> bool:
        """Whether ``copy`` is of the registry as ``via``'s transaction sees it."""
        generation = await via.scalar(
            select(RegistryGeneration.generation).where(RegistryGeneration.id == 1)
        )
        return (generation or 0) == copy.generation

    @staticmethod
    async def _load(via: AsyncSession) -> RegistryCopy:
        # The generation first: a change committed after it makes the copy newer than its
        # generation says, which only costs a reload; the other order could hide a change.
        generation = await via.scalar(
            select(RegistryGeneration.generation).where(RegistryGeneration.id == 1)
        )
        units = await via.execute(
            select(
                Unit.id,
                Unit.code,
                Unit.kind,
                Unit.parent_id,
                Unit.active,
                Unit.valid_from,
                Unit.valid_to,
            )
        )
        parents: dict[int, list[tuple[date | None, date | None, int | None]]] = defaultdict(list)
        for unit_id, start, end, parent in await via.execute(
            select(
                UnitVersion.unit_id,
                UnitVersion.valid_from,
                UnitVersion.valid_to,
                UnitVersion.parent_id,
            )
        ):
            parents[unit_id].append((start, end, parent))
        lineage = await via.execute(
            select(
                LineageEdge.from_unit_id,
                LineageEdge.to_unit_id,
                LineageEdge.effective,
                LineageEdge.primary,
            ).order_by(LineageEdge.primary.desc(), LineageEdge.to_unit_id)
        )
        edges = lineage.all()
        indicators = await via.execute(
            select(
                Indicator.id,
                Indicator.code,
                Indicator.cadence,
                Indicator.min_value,
                Indicator.max_value,
                Indicator.active,
                Indicator.grace_seconds,
            )
        )
        return RegistryCopy(
            generation=generation or 0,
            units=_units(units.all(), parents, edges),
            indicators={
                i.code: IndicatorRef(
                    id=i.id,
                    code=i.code,
                    cadence=Cadence(i.cadence),
                    min_value=i.min_value,
                    max_value=i.max_value,
                    active=i.active,
                    grace_seconds=i.grace_seconds,
                )
                for i in indicators
            },
        )


def _units(
    rows: Sequence[Any],
    parents: dict[int, list[tuple[date | None, date | None, int | None]]],
    edges: Sequence[Any],
) -> dict[str, UnitInfo]:
    """Each unit with its life, its parents through time and its lineage."""
    codes = {row[0]: row[1] for row in rows}
    successors: dict[int, list[str]] = defaultdict(list)
    predecessors: dict[int, dict[int, date]] = defaultdict(dict)
    for source, target, effective, primary in edges:
        if source != target:
            successors[source].append(codes[target] + (" (primary)" if primary else ""))
            predecessors[target][source] = effective
    return {
        code: UnitInfo(
            ref=UnitRef(unit_id, code, UnitKind(kind), parent_id),
            active=active,
            valid_from=valid_from,
            valid_to=valid_to,
            parents=tuple(parents.get(unit_id, ())),
            successors=", ".join(successors.get(unit_id, [])),
            predecessors=predecessors.get(unit_id, {}),
        )
        for unit_id, code, kind, parent_id, active, valid_from, valid_to in rows
    }
