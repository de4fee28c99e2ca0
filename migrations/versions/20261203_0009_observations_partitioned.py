"""observations partitioned by year of period start on PostgreSQL

PostgreSQL: ``observations`` becomes a table partitioned by range of ``period_start``, one
partition a year (``observations_2025``) and a default one, so that an old year can be detached
and archived (docs/design.md §11). Its rows are moved over with their ids, and its id sequence
goes with them. PostgreSQL wants the partition key in every unique constraint of a partitioned
table: the primary key becomes (id, period_start) and the natural key (unit, indicator, period,
period_start), which is the same key since a period determines its start. No foreign key can
point at ``observations.id`` any more: ``follow_ups`` loses its own.

SQLite is not partitioned; it takes the same natural key and loses the same foreign key, so
that one model describes both engines and an ON CONFLICT names the same columns on both.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 18:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_KEY = ["unit_id", "indicator_id", "period"]
_NEW_KEY = [*_OLD_KEY, "period_start"]
_FOLLOW_UP_FK = "fk_follow_ups_observation_id_observations"


def upgrade() -> None:
    with op.batch_alter_table("follow_ups", schema=None) as batch_op:
        batch_op.drop_constraint(_FOLLOW_UP_FK, type_="foreignkey")
    if op.get_bind().dialect.name != "postgresql":
        with op.batch_alter_table("observations", schema=None) as batch_op:
            batch_op.drop_constraint(op.f(_unique_name(_OLD_KEY)), type_="unique")
            batch_op.create_unique_constraint(op.f(_unique_name(_NEW_KEY)), _NEW_KEY)
        return
    op.execute(
        "CREATE TABLE observations_partitioned (LIKE observations INCLUDING DEFAULTS) "
        "PARTITION BY RANGE (period_start)"
    )
    # A partition for every year with data, this year and the next; the default one takes any
    # other year until the hub makes its partition (ioc_hub.partitions).
    years = op.get_bind().exec_driver_sql(
        "SELECT DISTINCT extract(year FROM period_start)::int FROM observations "
        "UNION SELECT extract(year FROM current_date)::int + n FROM (VALUES (0), (1)) AS t(n) "
        "ORDER BY 1"
    )
    for (year,) in years.all():
        op.execute(
            f"CREATE TABLE observations_{year} PARTITION OF observations_partitioned "
            f"FOR VALUES FROM ('{year}-01-01') TO ('{year + 1}-01-01')"
        )
    op.execute("CREATE TABLE observations_default PARTITION OF observations_partitioned DEFAULT")
    _swap_in("observations_partitioned", primary_key=["id", "period_start"], natural_key=_NEW_KEY)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        with op.batch_alter_table("observations", schema=None) as batch_op:
            batch_op.drop_constraint(op.f(_unique_name(_NEW_KEY)), type_="unique")
            batch_op.create_unique_constraint(op.f(_unique_name(_OLD_KEY)), _OLD_KEY)
    else:
        # Detached (archived) years are plain tables of their own: they are not brought back.
        op.execute("CREATE TABLE observations_plain (LIKE observations INCLUDING DEFAULTS)")
        _swap_in("observations_plain", primary_key=["id"], natural_key=_OLD_KEY)
    # Follow-ups of observations deleted since cannot keep a foreign key: they were out of
    # sight already (every read of follow-ups joins the observation).
    op.execute("DELETE FROM follow_ups WHERE observation_id NOT IN (SELECT id FROM observations)")
    with op.batch_alter_table("follow_ups", schema=None) as batch_op:
        batch_op.create_foreign_key(_FOLLOW_UP_FK, "observations", ["observation_id"], ["id"])


def _unique_name(columns: list[str]) -> str:
    return "uq_observations_" + "_".join(columns)


def _swap_in(new: str, *, primary_key: list[str], natural_key: list[str]) -> None:
    """Move every observation into ``new`` (same columns, in the same order), hand it the id
    sequence, drop the old table and give ``new`` its name, keys and indexes. The keys and
    indexes are made after the rows are in: one sorted build each, not a row at a time."""
    op.execute(f"INSERT INTO {new} SELECT * FROM observations")
    op.execute(f"ALTER SEQUENCE observations_id_seq OWNED BY {new}.id")
    op.execute("DROP TABLE observations")
    op.execute(f"ALTER TABLE {new} RENAME TO observations")
    op.create_primary_key(op.f("pk_observations"), "observations", primary_key)
    op.create_unique_constraint(op.f(_unique_name(natural_key)), "observations", natural_key)
    op.create_foreign_key(
        op.f("fk_observations_unit_id_units"), "observations", "units", ["unit_id"], ["id"]
    )
    op.create_foreign_key(
        op.f("fk_observations_indicator_id_indicators"),
        "observations",
        "indicators",
        ["indicator_id"],
        ["id"],
    )
    op.create_index(
        "ix_observations_indicator_id_period_start_covering",
        "observations",
        ["indicator_id", "period_start", "unit_id", "value", "received_at"],
    )
    op.create_index("ix_observations_received_at", "observations", ["received_at"])
    op.execute("ANALYZE observations")
