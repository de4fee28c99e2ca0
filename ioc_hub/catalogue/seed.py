"""Loads the shipped Bình Dương indicator catalogue and who reports each indicator.

Idempotent like the registry seed: groups and indicators already present (by code) and
obligations already present (by indicator and unit, or indicator and kind) are left as they are,
missing ones are added. The registry must be seeded first: obligations name its units.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ioc_hub.kit.periods import Cadence
from ioc_hub.models import Aggregation, Indicator, IndicatorGroup, Obligation, Unit, UnitKind

CATALOGUE_FILE = "binh_duong_catalogue.json"


@dataclass
class SeedCount:
    created: int = 0
    unchanged: int = 0
    skipped: int = 0
    """Obligations of units the registry has no counterpart of (see ``seed_catalogue``)."""

    def line(self, what: str) -> str:
        line = f"{what}: {self.created} created, {self.unchanged} already present"
        return line + (f", {self.skipped} skipped" if self.skipped else "")


@dataclass
class CatalogueSeedCount:
    groups: SeedCount = field(default_factory=SeedCount)
    indicators: SeedCount = field(default_factory=SeedCount)
    obligations: SeedCount = field(default_factory=SeedCount)

    def lines(self) -> list[str]:
        return [
            self.groups.line("indicator groups"),
            self.indicators.line("indicators"),
            self.obligations.line("obligations"),
        ]


def load_catalogue_file(name: str = CATALOGUE_FILE) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        resources.files("ioc_hub.data").joinpath(name).read_text(encoding="utf-8")
    )
    return data


# The registry's units that stand for a unit the catalogue names, by code.
Targets = Callable[[str], list[str]]


async def seed_catalogue(
    session: AsyncSession, data: dict[str, Any], targets: Targets | None = None
) -> CatalogueSeedCount:
    """``targets``: for a registry other than Bình Dương's, the units that take the obligations
    the catalogue gives to one of its units (none: that obligation is skipped)."""
    count = CatalogueSeedCount()
    groups = {g.code: g for g in (await session.scalars(select(IndicatorGroup))).all()}
    for item in data["groups"]:
        if item["code"] in groups:
            count.groups.unchanged += 1
            continue
        group = IndicatorGroup(
            code=item["code"], name=item["name"], description=item.get("description", "")
        )
        session.add(group)
        groups[group.code] = group
        count.groups.created += 1
    await session.flush()  # indicators need the groups' ids

    indicators = {i.code: i for i in (await session.scalars(select(Indicator))).all()}
    for item in data["indicators"]:
        if item["code"] in indicators:
            count.indicators.unchanged += 1
            continue
        indicator = Indicator(
            code=item["code"],
            name=item["name"],
            description=item.get("description", ""),
            group_id=groups[item["group"]].id,
            # The enums fail loudly on a typo in the shipped file.
            cadence=Cadence(item["cadence"]).value,
            measurement_unit=item["measurement_unit"],
            time_aggregation=Aggregation(item["time_aggregation"]).value,
            area_aggregation=Aggregation(item["area_aggregation"]).value,
            min_value=item.get("min_value"),
            max_value=item.get("max_value"),
            grace_seconds=item.get("grace_seconds"),
            open=item.get("open", False),
            active=True,
        )
        session.add(indicator)
        indicators[indicator.code] = indicator
        count.indicators.created += 1
    await session.flush()  # obligations need the indicators' ids

    await _seed_obligations(
        session, data["indicators"], indicators, count.obligations, targets or (lambda c: [c])
    )
    return count


async def _seed_obligations(
    session: AsyncSession,
    items: list[dict[str, Any]],
    indicators: dict[str, Indicator],
    count: SeedCount,
    targets: Targets,
) -> None:
    units = {row.code: row.id for row in await session.execute(select(Unit.code, Unit.id))}
    existing = (
        await session.execute(
            select(Obligation.indicator_id, Obligation.unit_id, Obligation.unit_kind).where(
                Obligation.district_id.is_(None)
            )
        )
    ).all()
    per_unit = {(o.indicator_id, o.unit_id) for o in existing if o.unit_id is not None}
    per_kind = {(o.indicator_id, o.unit_kind) for o in existing if o.unit_kind is not None}
    for item in items:
        indicator_id = indicators[item["code"]].id
        reported_by = item.get("reported_by", {})
        for kind in reported_by.get("kinds", []):
            kind = UnitKind(kind).value
            if (indicator_id, kind) in per_kind:
                count.unchanged += 1
                continue
            session.add(Obligation(indicator_id=indicator_id, unit_kind=kind))
            per_kind.add((indicator_id, kind))
            count.created += 1
        for named in reported_by.get("units", []):
            codes = targets(named)
            count.skipped += not codes
            for code in codes:
                _oblige_unit(session, item["code"], indicator_id, code, units, per_unit, count)
    await session.flush()


def _oblige_unit(
    session: AsyncSession,
    indicator: str,
    indicator_id: int,
    code: str,
    units: dict[str, int],
    per_unit: set[tuple[int, int]],
    count: SeedCount,
) -> None:
    if code not in units:
        raise ValueError(
            f"the catalogue obliges unit {code!r} to report {indicator!r}, "
            "but the registry has no such unit"
        )
    if (indicator_id, units[code]) in per_unit:
        count.unchanged += 1
        return
    session.add(Obligation(indicator_id=indicator_id, unit_id=units[code]))
    per_unit.add((indicator_id, units[code]))
    count.created += 1
