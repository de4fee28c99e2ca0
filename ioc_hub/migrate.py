"""Alembic, driven from code: ``serve`` and ``migrate`` upgrade to head; ``/ready`` compares."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from ioc_hub.config import Settings

_PACKAGE = Path(__file__).resolve().parent


def _script_location() -> Path:
    # A wheel carries the revisions inside the package; a checkout has them at the top level.
    for candidate in (_PACKAGE / "_migrations", _PACKAGE.parent / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise RuntimeError("cannot find the migrations directory")


def alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_script_location()))
    config.set_main_option("sqlalchemy.url", settings.database_url.replace("%", "%%"))
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    command.upgrade(alembic_config(settings), revision)


def current_and_head(connection: Connection) -> tuple[str | None, str | None]:
    current = MigrationContext.configure(connection).get_current_revision()
    head = ScriptDirectory(str(_script_location())).get_current_head()
    return current, head


def without_partitions(connection: Connection) -> Callable[[str | None, str, Any], bool]:
    """Alembic's ``include_name`` that leaves out partitions (PostgreSQL's yearly
    ``observations_<year>``): each belongs to its parent table, which is compared with its
    model, and no model lists them. Detached years are plain tables again: compared, and
    reported, until dropped."""
    partitions: set[str] = set()
    if connection.dialect.name == "postgresql":
        found = connection.exec_driver_sql("SELECT relname FROM pg_class WHERE relispartition")
        partitions = set(found.scalars())

    def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
        return not (type_ == "table" and name in partitions)

    return include_name
