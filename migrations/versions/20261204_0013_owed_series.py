"""owed_series: the series the registry owes, kept for coverage and staleness

Coverage and staleness (docs/design.md §4) count the owed series joined to their kept state.
Expanding the obligations over the tree of the day costs as much as the rest of the answer at
national scale, and it changes only with the registry or on the days its changes take effect.
The hub keeps the expansion here with the registry generation and the days it holds for; a
reader uses it only while both still hold, and expands the obligations itself otherwise.

The registry's generation now also moves with obligations and unit versions, which decide what
is owed as much as units and indicators do.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COUNTED = ("obligations", "unit_versions")
_BUMP = "UPDATE registry_generation SET generation = generation + 1 WHERE id = 1"
_EVENTS = ("INSERT", "UPDATE", "DELETE")


def upgrade() -> None:
    op.create_table(
        "owed_series",
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("indicator_id", sa.Integer(), nullable=False),
        sa.Column("start", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("unit_id", "indicator_id", name=op.f("pk_owed_series")),
    )
    op.create_table(
        "owed_basis",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("until", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_owed_basis")),
    )
    if op.get_bind().dialect.name == "postgresql":
        # bump_registry_generation() is 0001's.
        for table in _COUNTED:
            op.execute(
                f"CREATE TRIGGER {table}_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION bump_registry_generation()"
            )
        return
    for table in _COUNTED:
        for event in _EVENTS:
            op.execute(
                f"CREATE TRIGGER {table}_generation_{event.lower()} AFTER {event} ON {table} "
                f"BEGIN {_BUMP}; END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in _COUNTED:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_generation ON {table}")
    else:
        for table in _COUNTED:
            for event in _EVENTS:
                op.execute(f"DROP TRIGGER IF EXISTS {table}_generation_{event.lower()}")
    op.drop_table("owed_basis")
    op.drop_table("owed_series")
