"""Who is calling and what their key's unit lets them touch (docs/design.md §6)."""

from dataclasses import dataclass

from ioc_hub.models import UnitKind


@dataclass(frozen=True, slots=True)
class UnitRef:
    """The few facts about a unit that access and area decisions need."""

    id: int
    code: str
    kind: UnitKind
    parent_id: int | None


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: int
    unit: UnitRef
    scopes: frozenset[str]

    @property
    def is_province(self) -> bool:
        """The key of the registry's root: the province, or the nation above the provinces of
        the national registry (a province under the nation is an area like a district)."""
        kind = self.unit.kind
        return kind is UnitKind.NATION or (
            kind is UnitKind.PROVINCE and self.unit.parent_id is None
        )

    @property
    def area_in_words(self) -> str:
        """What :meth:`covers` covers, for the 403 that names it."""
        if self.is_province:
            return f"the whole {self.unit.kind.value}"
        if self.unit.kind is UnitKind.DISTRICT:
            return f"district {self.unit.code!r} and its communes"
        if self.unit.kind is UnitKind.PROVINCE:
            return f"province {self.unit.code!r} and its units"
        return f"{self.unit.kind.value} {self.unit.code!r} only"

    def covers(self, target: UnitRef) -> bool:
        """True when ``target`` is the key's unit or below it in the tree.

        The tree is province → district → commune and every other kind hangs under the
        province; the nation holds provinces whose communes hang under them directly. So below
        a unit other than the root there are only its direct children.
        """
        return self.is_province or target.id == self.unit.id or target.parent_id == self.unit.id
