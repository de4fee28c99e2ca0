"""``ioc-hub seed``: a shipped registry, then the indicator catalogue and its obligations."""

from collections.abc import Callable
from enum import StrEnum

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from ioc_hub.catalogue.seed import load_catalogue_file, seed_catalogue
from ioc_hub.kit.dialect import is_postgresql
from ioc_hub.registry.seed import (
    DEFAULT_DEPARTMENTS,
    NATIONAL_FILE,
    department_copies,
    load_registry_file,
    national_units,
    seed_national_registry,
    seed_registry,
)


class RegistryName(StrEnum):
    """The registries ``ioc-hub seed`` can load (docs/design.md §2)."""

    BINH_DUONG = "binh-duong"
    VIETNAM_2025 = "vietnam-2025"


def units_to_seed(registry: RegistryName, departments: int = DEFAULT_DEPARTMENTS) -> int:
    """How many units ``registry`` has, for a progress bar."""
    if registry is RegistryName.BINH_DUONG:
        return len(load_registry_file()["units"]) + 1
    return sum(map(len, national_units(load_registry_file(NATIONAL_FILE), departments)))


async def seed_all(
    session: AsyncSession,
    registry: RegistryName = RegistryName.BINH_DUONG,
    departments: int = DEFAULT_DEPARTMENTS,
    advance: Callable[[int], None] = lambda _: None,
) -> list[str]:
    """Load ``registry`` and the catalogue; ``advance`` hears of the units as they are loaded."""
    catalogue_data = load_catalogue_file()
    if registry is RegistryName.BINH_DUONG:
        units = await seed_registry(session, load_registry_file())
        advance(units.created + units.unchanged)
        catalogue = await seed_catalogue(session, catalogue_data)
    else:
        data = load_registry_file(NATIONAL_FILE)
        units = await seed_national_registry(session, data, departments, advance)
        levels = national_units(data, departments)
        catalogue = await seed_catalogue(
            session, catalogue_data, lambda code: department_copies(code, levels)
        )
        if is_postgresql(session):
            # Thousands of units at once: the planner's statistics must know them before the
            # first answer joins them, not when autovacuum next passes.
            await session.execute(text("ANALYZE units, unit_versions, obligations"))
    return [
        f"units: {units.created} created, {units.unchanged} already present",
        *catalogue.lines(),
    ]
