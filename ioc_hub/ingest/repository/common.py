"""What both engines' writes share: what a batch moved, the guards, and receipt resolution."""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta


@dataclass(frozen=True, slots=True)
class Advance:
    """A series whose latest period moved forward (or that received its first value)."""

    unit_id: int
    indicator_id: int
    period: str
    period_start: date
    previous_period: str | None
    previous_start: date | None


@dataclass(frozen=True, slots=True)
class Contact:
    """A unit heard from at ``at`` after ``previous`` (``None``: never before), where the silence
    was at least :data:`CONTACT_GAP` long."""

    unit_id: int
    at: datetime
    previous: datetime | None


@dataclass
class WriteCounts:
    """What a batch's write did: the import summary's counts, and what the live stream reports
    (per-unit counts, series that advanced, units heard from after a silence)."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    per_unit: dict[int, tuple[int, int]] = field(default_factory=dict)
    """(created, updated) per unit; units whose rows were all unchanged are absent."""
    advanced: list[Advance] = field(default_factory=list)
    contacts: list[Contact] = field(default_factory=list)
    written: list[tuple[int, int, str]] = field(default_factory=list)
    """The natural keys (unit, indicator, period) created or changed: what outliers judge."""

    def add(self, unit_id: int, created: int, updated: int) -> None:
        """Stored rows of ``unit_id``: new observations, and changed ones."""
        new, changed = self.per_unit.get(unit_id, (0, 0))
        self.per_unit[unit_id] = (new + created, changed + updated)
        self.created += created
        self.updated += updated


# Receipt times are kept to this resolution. A push within it of a unit's stored contact does
# not rewrite (and lock) the unit's contact row, so concurrent pushes of one unit do not queue on
# it. A value of an earlier period than a series' latest, received within it of the series'
# ``last_received_at``, does not rewrite the series' row: the row would change by that time
# only, and a batch of history would rewrite a row for each of its series.
RECEIPT_RESOLUTION = timedelta(seconds=1)

# Contacts after a silence this long are reported back (:class:`Contact`): no connection window
# is shorter (the shortest cadence is daily), so a shorter silence never ends a disconnection.
CONTACT_GAP = timedelta(days=1)


class StaleRegistry(Exception):
    """The registry changed since the copy the rows were validated against; nothing was written."""
