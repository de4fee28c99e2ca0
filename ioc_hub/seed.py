"""``ioc-hub seed``: the Bình Dương registry (and, from the catalogue on, its indicators)."""

from sqlalchemy.ext.asyncio import AsyncSession

from ioc_hub.registry.seed import load_registry_file, seed_registry


async def seed_all(session: AsyncSession) -> list[str]:
    units = await seed_registry(session, load_registry_file())
    return [f"units: {units.created} created, {units.unchanged} already present"]
