"""lineage edges move the registry's generation

Aggregates keep the map of an answer (trees, groups, the routes values take through lineage) in
the process for as long as the registry's generation holds (docs/design.md §5). Lineage edges
decide those routes as much as units and obligations do, so a change to them moves the
generation too.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 15:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLE = "lineage_edges"
_BUMP = "UPDATE registry_generation SET generation = generation + 1 WHERE id = 1"
_EVENTS = ("INSERT", "UPDATE", "DELETE")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # bump_registry_generation() is 0001's.
        op.execute(
            f"CREATE TRIGGER {_TABLE}_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
            f"ON {_TABLE} FOR EACH STATEMENT EXECUTE FUNCTION bump_registry_generation()"
        )
        return
    for event in _EVENTS:
        op.execute(
            f"CREATE TRIGGER {_TABLE}_generation_{event.lower()} AFTER {event} ON {_TABLE} "
            f"BEGIN {_BUMP}; END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {_TABLE}_generation ON {_TABLE}")
        return
    for event in _EVENTS:
        op.execute(f"DROP TRIGGER IF EXISTS {_TABLE}_generation_{event.lower()}")
