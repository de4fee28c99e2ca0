"""Alembic is the only way the schema is made: the models and the migrations must agree."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fastapi import FastAPI
from sqlalchemy.engine import Connection

from ioc_hub.migrate import current_and_head, without_partitions
from ioc_hub.models import Base


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(
        connection,
        opts={"compare_type": True, "include_name": without_partitions(connection)},
    )
    return list(compare_metadata(context, Base.metadata))


async def test_migrations_and_models_agree(app: FastAPI) -> None:
    async with app.state.engine.connect() as connection:
        diff = await connection.run_sync(_diff)
    assert diff == []


async def test_database_is_at_the_migration_head(app: FastAPI) -> None:
    async with app.state.engine.connect() as connection:
        current, head = await connection.run_sync(current_and_head)
    assert current == head
    assert head is not None
