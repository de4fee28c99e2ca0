"""Loads a shipped registry: Bình Dương's (the default), or the national one, Vietnam's two-tier
map of 2025 with synthetic departments (docs/design.md §2). Idempotent: units already present are
left as they are (an operator may have renamed one since), missing ones are added. A database
holds one registry: seeding the other one into it is refused."""

import json
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from importlib import resources
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from ioc_hub.errors import Conflict
from ioc_hub.models import Unit, UnitKind
from ioc_hub.registry import timeline

REGISTRY_FILE = "binh_duong_units.json"
NATIONAL_FILE = "vietnam_2025_units.json"
NATION_CODE = "VN"
NATION_NAME = "Việt Nam"
# The two-tier map is in force from this day (Resolution 203/2025/QH15).
NATIONAL_MAP_FROM = date(2025, 7, 1)
DEFAULT_DEPARTMENTS = 20
# Rows per INSERT of the national load.
_CHUNK = 1000

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
    if await session.scalar(select(Unit.code).where(Unit.kind == UnitKind.NATION).limit(1)):
        raise Conflict(
            "this database holds the national registry; seed Bình Dương into an empty database"
        )
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


def ascii_name(name: str) -> str:
    """``name`` without diacritics, as the shipped files spell ``name_ascii``."""
    decomposed = unicodedata.normalize("NFD", name.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def synthetic_departments(
    province: dict[str, str], count: int, templates: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """``count`` made-up departments of ``province``, modelled on Bình Dương's 18 in turn: the
    first copy of ``DEPT-SYT`` is ``01-DEPT-SYT``, a second one ``01-DEPT-SYT-2``. Their names
    say they are synthetic: no source lists every province's departments."""
    departments = []
    for index in range(count):
        template = templates[index % len(templates)]
        copy = index // len(templates) + 1
        suffix = f"-{copy}" if copy > 1 else ""
        name = template["name"] + (f" {copy}" if copy > 1 else "")
        name = f"{name}, {province['name']} (synthetic)"
        departments.append(
            {
                "code": f"{province['code']}-{template['code']}{suffix}",
                "name": name,
                "kind": UnitKind.DEPARTMENT.value,
                "subtype": template.get("subtype"),
                "parent": province["code"],
            }
        )
    return departments


def national_units(data: dict[str, Any], departments: int) -> list[list[dict[str, Any]]]:
    """The national registry level by level (each level's parents in the one before): the
    nation, its provinces, then their communes and synthetic departments."""
    templates = [u for u in load_registry_file()["units"] if u["kind"] == UnitKind.DEPARTMENT]
    nation = {"code": NATION_CODE, "name": NATION_NAME, "kind": UnitKind.NATION.value}
    provinces = [
        {
            "code": p["code"],
            "name": p["name"],
            "kind": UnitKind.PROVINCE.value,
            "subtype": "thành phố" if p["name"].startswith("Thành phố") else "tỉnh",
            "parent": NATION_CODE,
        }
        for p in data["provinces"]
    ]
    communes = [
        {
            "code": c["code"],
            "name": c["name"],
            "kind": UnitKind.COMMUNE.value,
            "subtype": c["type"].lower(),
            "parent": c["province"],
        }
        for c in data["communes"]
    ]
    synthetic = [
        d for p in data["provinces"] for d in synthetic_departments(p, departments, templates)
    ]
    return [[nation], provinces, communes + synthetic]


def department_copies(code: str, units: list[list[dict[str, Any]]]) -> list[str]:
    """The units of :func:`national_units` standing for Bình Dương's unit ``code`` in the
    catalogue's obligations: the first synthetic copy of that department in each province (none
    for a ministry or a vertical agency, nor with fewer departments than Bình Dương's 18)."""
    _, provinces, children = units
    present = {u["code"] for u in children}
    return [c for c in (f"{p['code']}-{code}" for p in provinces) if c in present]


async def seed_national_registry(
    session: AsyncSession,
    data: dict[str, Any],
    departments: int = DEFAULT_DEPARTMENTS,
    advance: Callable[[int], None] = lambda _: None,
) -> SeedCount:
    """Load the nation, its provinces, communes and ``departments`` synthetic departments per
    province, in bulk; ``advance`` hears how many units each step handled."""
    other = await session.scalar(
        select(Unit.code).where(Unit.parent_id.is_(None), Unit.code != NATION_CODE).limit(1)
    )
    if other is not None:
        raise Conflict(
            f"this database holds the registry rooted at {other!r}; seed the national "
            "registry into an empty database"
        )
    count = SeedCount()
    ids = {row.code: row.id for row in await session.execute(select(Unit.code, Unit.id))}
    for level in national_units(data, departments):
        new = [u for u in level if u["code"] not in ids]
        count.unchanged += len(level) - len(new)
        count.created += len(new)
        advance(len(level) - len(new))
        for start in range(0, len(new), _CHUNK):
            chunk = new[start : start + _CHUNK]
            rows = [
                {
                    "code": u["code"],
                    "name": u["name"],
                    "name_ascii": ascii_name(u["name"]),
                    "kind": u["kind"],
                    "subtype": u.get("subtype"),
                    "parent_id": ids[u["parent"]] if "parent" in u else None,
                    "valid_from": NATIONAL_MAP_FROM,
                }
                for u in chunk
            ]
            await session.execute(insert(Unit), rows)
            advance(len(chunk))
        ids = {row.code: row.id for row in await session.execute(select(Unit.code, Unit.id))}
    await timeline.record_missing_versions(session)
    return count
