"""the nation kind

A unit may be the nation, the root of the national registry above its provinces
(docs/design.md §2): the CHECK on ``units.kind`` and ``unit_versions.kind`` admits it.

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-03 18:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KINDS = ("province", "ministry", "department", "vertical_agency", "district", "commune")
_TABLES = ("units", "unit_versions")
_BUMP = "UPDATE registry_generation SET generation = generation + 1 WHERE id = 1"


def _check(kinds: Sequence[str]) -> None:
    condition = f"kind IN ({', '.join(repr(k) for k in kinds)})"
    for table in _TABLES:
        # SQLite changes a CHECK only by copying the table, which drops its triggers.
        with op.batch_alter_table(table, recreate="auto") as batch_op:
            batch_op.drop_constraint(op.f(f"ck_{table}_kind"), type_="check")
            batch_op.create_check_constraint(op.f(f"ck_{table}_kind"), condition)
    if op.get_bind().dialect.name == "sqlite":
        # The copy of ``units`` lost the triggers that bump the registry's generation (0001).
        for event in ("INSERT", "UPDATE", "DELETE"):
            op.execute(f"DROP TRIGGER IF EXISTS units_generation_{event.lower()}")
            op.execute(
                f"CREATE TRIGGER units_generation_{event.lower()} AFTER {event} ON units "
                f"BEGIN {_BUMP}; END"
            )


def upgrade() -> None:
    _check(("nation", *_KINDS))


def downgrade() -> None:
    _check(_KINDS)
