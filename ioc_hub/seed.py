"""``ioc-hub seed``: the Bình Dương registry, then its indicator catalogue and obligations."""

from sqlalchemy.ext.asyncio import AsyncSession

from ioc_hub.catalogue.seed import load_catalogue_file, seed_catalogue
from ioc_hub.registry.seed import load_registry_file, seed_registry


async def seed_all(session: AsyncSession) -> list[str]:
    units = await seed_registry(session, load_registry_file())
    catalogue = await seed_catalogue(session, load_catalogue_file())
    return [
        f"units: {units.created} created, {units.unchanged} already present",
        *catalogue.lines(),
    ]
