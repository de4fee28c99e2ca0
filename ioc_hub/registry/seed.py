"""Loads the shipped Bình Dương registry. Idempotent: units already present are left as they are
(an operator may have renamed one since), missing ones are added."""

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ioc_hub.models import Unit, UnitKind
from ioc_hub.registry import timeline

REGISTRY_FILE = "binh_duong_units.json"

# Parents before children, so every parent exists when its children are added.
_ORDER = [
    UnitKind.MINISTRY,
    UnitKind.DEPARTMENT,
    UnitKind.VERTICAL_AGENCY,
    UnitKind.DISTRICT,
    UnitKind.COMMUNE,
]


@dataclass
class SeedCount:
    created: int = 0
    unchanged: int = 0


def load_registry_file(name: str = REGISTRY_FILE) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        resources.files("ioc_hub.data").joinpath(name).read_text(encoding="utf-8")
    )
    return data


async def seed_registry(session: AsyncSession, data: dict[str, Any]) -> SeedCount:
    count = SeedCount()
    existing = {u.code: u for u in (await session.scalars(select(Unit))).all()}
    province = data["province"]
    root = existing.get(province["code"])
    if root is None:
        root = Unit(
            code=province["code"],
            name=province["name"],
            kind=UnitKind.PROVINCE.value,
            name_ascii=province.get("name_ascii"),
            subtype="tỉnh",
        )
        session.add(root)
        await session.flush()
        existing[root.code] = root
        count.created += 1
    else:
        count.unchanged += 1

    units = sorted(data["units"], key=lambda u: _ORDER.index(UnitKind(u["kind"])))
    for item in units:
        if item["code"] in existing:
            count.unchanged += 1
            continue
        parent = existing[item["parent"]]
        unit = Unit(
            code=item["code"],
            name=item["name"],
            name_ascii=item.get("name_ascii"),
            kind=item["kind"],
            subtype=item.get("subtype"),
            parent_id=parent.id,
        )
        session.add(unit)
        existing[unit.code] = unit
        count.created += 1
        if unit.kind == UnitKind.DISTRICT:
            await session.flush()  # communes need the district's id
    await timeline.record_missing_versions(session)
    return count
