"""Each rule kind judged against one coverage snapshot: pure functions, no I/O.

Coverage, connection and series status are coverage's (:func:`ioc_hub.coverage.service.snapshot`
and :mod:`ioc_hub.coverage.rules`); this module only selects the units and series a rule names
and says, for each subject for which the rule's condition holds, what to tell operators.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ioc_hub.alerts.schemas import Condition, CoverageBelow, Outlier, SeriesLate, UnitSilent
from ioc_hub.coverage.repository import IndicatorRow, UnitRow
from ioc_hub.coverage.rules import SeriesStatus
from ioc_hub.coverage.service import Snapshot
from ioc_hub.kit.periods import Cadence, Period, PeriodError

MAX_LISTED = 50
"""Most units a coverage alert names as not connected (the count is always whole)."""


@dataclass(frozen=True, slots=True)
class Finding:
    """A subject for which a rule's condition holds now."""

    subject: str
    unit_id: int
    """The unit the alert concerns: the unit, the series' unit, or a coverage rule's area."""
    summary: str
    details: dict[str, Any]


def iso(instant: datetime | None) -> str | None:
    """An instant as JSON text, in UTC."""
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z") if instant else None


def _words(duration: timedelta) -> str:
    hours = duration.total_seconds() / 3600
    return f"{hours / 24:g} days" if hours >= 48 else f"{hours:g} h"


class Judge:
    """One snapshot, judged against rule after rule; its lookups are built once."""

    def __init__(
        self,
        snapshot: Snapshot,
        province_id: int,
        province_code: str,
        areas: Mapping[str, int],
    ) -> None:
        """``province_*`` name the root; ``areas`` the ids of the areas that are not among the
        snapshot's units (the root, and the provinces under the nation), by code."""
        self.snapshot = snapshot
        self.province_id = province_id
        self.province_code = province_code
        self._areas = {u.code: u.id for u in snapshot.units.values()} | dict(areas)
        self._indicators_by_code = {i.code: i for i in snapshot.indicators.values()}
        # A series is often watched by several rules (its kind's, its area's, its group's).
        self._late_findings: dict[tuple[tuple[int, int], datetime | None], Finding] = {}

    def findings(self, condition: Condition) -> list[Finding] | None:
        """Every subject for which ``condition`` holds; ``None`` for a kind this module does not
        judge (``outlier``: flags are not kept in this snapshot)."""
        match condition:
            case CoverageBelow():
                return self._coverage_below(condition)
            case SeriesLate():
                return self._series_late(condition)
            case UnitSilent():
                return self._unit_silent(condition)
            case Outlier():
                return None

    # --- selections ---------------------------------------------------------------------------

    def _in_area(self, area: str | None) -> Callable[[UnitRow], bool]:
        if area is None or area == self.province_code:
            return lambda unit: True
        return lambda unit: unit.area_code == area

    def _units(
        self, *, area: str | None, kind: str | None = None, code: str | None = None
    ) -> list[UnitRow]:
        in_area = self._in_area(area)
        return [
            unit
            for unit in self.snapshot.units.values()
            if in_area(unit)
            and (kind is None or unit.kind == kind)
            and (code is None or unit.code == code)
        ]

    def _area_unit(self, area: str | None) -> tuple[int, str]:
        """The unit an area's alert is filed under: the area's own (the root when there is
        none)."""
        if area is None:
            return self.province_id, self.province_code
        return self._areas.get(area, self.province_id), area

    # --- the kinds ----------------------------------------------------------------------------

    def _coverage_below(self, condition: CoverageBelow) -> list[Finding]:
        units = self._units(area=condition.area, kind=condition.unit_kind)
        if not units:
            return []
        connected = self.snapshot.connected
        silent = sorted(u.code for u in units if not connected[u.id])
        registered, heard = len(units), len(units) - len(silent)
        share = heard / registered
        if share >= condition.ratio:
            return []
        unit_id, area = self._area_unit(condition.area)
        return [
            Finding(
                subject=f"coverage:{condition.unit_kind}@{area}",
                unit_id=unit_id,
                summary=f"{condition.unit_kind} in {area}: {heard}/{registered} connected "
                f"({share:.0%}), below {condition.ratio:.0%}",
                details={
                    "unit_kind": condition.unit_kind,
                    "area": area,
                    "connected": heard,
                    "registered": registered,
                    "ratio": round(share, 4),
                    "threshold": condition.ratio,
                    "not_connected": silent[:MAX_LISTED],
                },
            )
        ]

    def _indicators(self, condition: SeriesLate) -> set[int]:
        return {
            i.id
            for i in self.snapshot.indicators.values()
            if (condition.indicator is None or i.code == condition.indicator)
            and (condition.group is None or i.group_code == condition.group)
        }

    def _series_late(self, condition: SeriesLate) -> list[Finding]:
        snapshot = self.snapshot
        units = {u.id for u in self._units(area=condition.area, kind=condition.unit_kind)}
        indicators = self._indicators(condition)
        wanted = SeriesStatus(condition.status)
        late_for = timedelta(seconds=condition.late_for_seconds)
        found = []
        for key in snapshot.series:
            unit_id, indicator_id = key
            if unit_id not in units or indicator_id not in indicators:
                continue
            expectation = snapshot.expectation(key)
            latest = snapshot.latest.get(key)
            if latest is None:
                if condition.include_never:
                    found.append(self._late(key, None, SeriesStatus.NEVER, None))
                continue
            if expectation.rank(latest) > wanted.rank:  # fresher than asked: quick way out
                continue
            try:
                last = Period(expectation.schedule.cadence, latest)
                since = expectation.late_since(last, wanted)
            except PeriodError:  # at the edge of the supported years: nothing to tell
                continue
            if since is not None and snapshot.at - since >= late_for:
                found.append(self._late(key, last, expectation.status(latest), since))
        return found

    def _late(
        self,
        key: tuple[int, int],
        last: Period | None,
        status: SeriesStatus,
        since: datetime | None,
    ) -> Finding:
        found = self._late_findings.get((key, since))
        if found is not None:
            return found
        unit: UnitRow = self.snapshot.units[key[0]]
        indicator: IndicatorRow = self.snapshot.indicators[key[1]]
        expectation = self.snapshot.expectation(key)
        lag = expectation.lag(last)
        behind = "nothing received" if last is None else f"{lag} periods behind since {iso(since)}"
        found = self._late_findings[(key, since)] = Finding(
            subject=f"series:{unit.code}/{indicator.code}",
            unit_id=unit.id,
            summary=f"{unit.name} ({unit.code}), {indicator.code}: {status.value}, {behind}",
            details={
                "indicator": indicator.code,
                "group": indicator.group_code,
                "cadence": Cadence(indicator.cadence).value,
                "status": status.value,
                "last_period": last.id if last else None,
                "expected_period": expectation.expected.id,
                "lag_periods": lag,
                "late_since": iso(since),
            },
        )
        return found

    def _unit_silent(self, condition: UnitSilent) -> list[Finding]:
        snapshot = self.snapshot
        found = []
        for unit in self._units(area=condition.area, kind=condition.unit_kind, code=condition.unit):
            if snapshot.connected[unit.id]:
                continue
            window = snapshot.windows[unit.id]
            last = snapshot.contacts.get(unit.id)
            heard = f"since {iso(last)}" if last else "ever"
            found.append(
                Finding(
                    subject=f"unit:{unit.code}",
                    unit_id=unit.id,
                    summary=f"{unit.name} ({unit.code}): not heard from {heard} "
                    f"(connection window {_words(window.length)})",
                    details={
                        "last_contact_at": iso(last),
                        "connection_window_seconds": int(window.length.total_seconds()),
                        "fastest_cadence": window.fastest.cadence.value if window.fastest else None,
                    },
                )
            )
        return found
