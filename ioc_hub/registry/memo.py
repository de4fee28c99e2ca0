"""Answers worked out from the registry alone, kept in the process while the registry is the same
(docs/design.md §5, "The map of an answer").

The registry's generation moves with every change to units, their versions, indicators,
obligations and lineage edges (a trigger on each table), so a value computed under one generation
holds for as long as a session still reads that generation. A reader asks for the generation in
its own session (a replica's may lag the primary's), and each value is kept under it; a few
generations side by side keep a lagging replica and the primary from evicting each other.
"""

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ioc_hub.models import RegistryGeneration

T = TypeVar("T")

# Enough for the maps of every area and level a dashboard reads, for a few generations; a
# national map (a few thousand routes) is about a megabyte.
_ENTRIES = 64


class RegistryMemo:
    """Values keyed by (generation, key), the least recently used dropped past ``entries``."""

    def __init__(self, entries: int = _ENTRIES) -> None:
        self._entries = entries
        self._values: OrderedDict[tuple[int, Hashable], Any] = OrderedDict()

    async def generation(self, session: AsyncSession) -> int:
        """The registry's generation as ``session`` reads it."""
        generation = await session.scalar(
            select(RegistryGeneration.generation).where(RegistryGeneration.id == 1)
        )
        return generation or 0

    async def get(self, generation: int, key: Hashable, compute: Callable[[], Awaitable[T]]) -> T:
        """The value of ``key`` under ``generation``, computed once. Two readers asking at once
        may both compute it; they get equal values. A kept value is shared: nobody changes it."""
        slot = (generation, key)
        if slot in self._values:
            self._values.move_to_end(slot)
            kept: T = self._values[slot]
            return kept
        value = await compute()
        self._values[slot] = value
        while len(self._values) > self._entries:
            self._values.popitem(last=False)
        return value
