"""The few places where PostgreSQL and SQLite differ, and how long lists of keys reach either, so
nothing else needs to know which runs."""

from collections.abc import Collection, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    DateTime,
    Integer,
    SQLColumnExpression,
    Table,
    bindparam,
    column,
    func,
    literal_column,
    select,
    text,
    tuple_,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import DeclarativeBase, QueryableAttribute
from sqlalchemy.types import TypeEngine


def is_postgresql(executor: AsyncSession | AsyncConnection) -> bool:
    if isinstance(executor, AsyncConnection):
        return executor.dialect.name == "postgresql"
    return executor.get_bind().dialect.name == "postgresql"


def upsert(session: AsyncSession, target: type[DeclarativeBase] | Table) -> Any:
    """``INSERT … ON CONFLICT`` for the session's engine (both dialects share the API)."""
    if is_postgresql(session):
        return postgresql.insert(target)
    return sqlite.insert(target)


def greatest(session: AsyncSession, *values: Any) -> ColumnElement[Any]:
    """The largest of its arguments (SQLite spells it as the multi-argument ``max``)."""
    if is_postgresql(session):
        return func.greatest(*values)
    return func.max(*values)


def least(session: AsyncSession, *values: Any) -> ColumnElement[Any]:
    """The smallest of its arguments (SQLite spells it as the multi-argument ``min``)."""
    if is_postgresql(session):
        return func.least(*values)
    return func.min(*values)


def code_order(session: AsyncSession, column: SQLColumnExpression[str]) -> SQLColumnExpression[str]:
    """``column`` to sort by code point, as Python sorts strings: PostgreSQL's default collation
    follows the locale (which skips punctuation), SQLite's compares bytes already."""
    if is_postgresql(session):
        return column.collate("C")
    return column


def keys_in(
    session: AsyncSession,
    columns: Sequence[ColumnElement[Any] | QueryableAttribute[Any]],
    keys: Sequence[Sequence[Any]],
) -> ColumnElement[bool]:
    """``(columns) IN keys``, in a form each engine answers from an index whose leading columns
    are ``columns``. SQLite scans the whole table for a row value IN a bare ``VALUES`` list (what
    ``tuple_().in_()`` renders), but searches the index for one IN a subquery over it. One to a
    statement: on SQLite its parameters are named ``k<row>_<column>``."""
    if is_postgresql(session) or not keys:
        return tuple_(*columns).in_(keys)
    width = len(columns)
    rows = ", ".join(
        "(" + ", ".join(f":k{r}_{c}" for c in range(width)) + ")" for r in range(len(keys))
    )
    listed = text(f"(VALUES {rows})").bindparams(
        *(
            bindparam(f"k{r}_{c}", value, type_=column.type)
            for r, key in enumerate(keys)
            for c, (column, value) in enumerate(zip(columns, key, strict=True))
        )
    )
    names: list[ColumnElement[Any]] = [literal_column(f"column{c + 1}") for c in range(width)]
    return tuple_(*columns).in_(select(*names).select_from(listed))


# Longest id list sent as an IN filter: a wider selection is filtered by a join instead. Beyond
# it, PostgreSQL spends longer planning and checking the list than the rows it spares.
MAX_IN_LIST = 1000


def short_list(ids: Collection[int] | None) -> Collection[int] | None:
    """``ids`` if it is short enough for an IN filter, otherwise ``None`` (no SQL filter)."""
    if ids is None or len(ids) > MAX_IN_LIST:
        return None
    return ids


def values_table(
    session: AsyncSession, name: str, rows: Sequence[Sequence[int | date | datetime]]
) -> Any:
    """``rows`` as a ``VALUES`` list named ``name``, columns ``column1``… on both engines, with
    the figures inline: a list of thousands of rows would pass SQLite's limit on parameters, and
    SQLAlchemy cannot cache a statement holding its ``values()`` construct. Integers, dates and
    instants only, each written as the engine stores it, so ``int()`` and the formats keep the
    text to figures. ``rows`` must not be empty, and the first row gives the columns' types."""
    postgres = is_postgresql(session)

    def figure(value: int | date | datetime) -> str:
        if isinstance(value, datetime):
            utc = value.astimezone(UTC)
            if postgres:
                return f"CAST('{utc.isoformat()}' AS TIMESTAMP WITH TIME ZONE)"
            return f"'{utc.strftime('%Y-%m-%d %H:%M:%S.%f')}'"  # naive UTC, as stored
        if isinstance(value, date):
            return f"CAST('{value.isoformat()}' AS DATE)" if postgres else f"'{value.isoformat()}'"
        return str(int(value))

    listed = ", ".join("(" + ", ".join(figure(value) for value in row) + ")" for row in rows)
    kinds: dict[type, TypeEngine[Any]] = {
        int: Integer(),
        date: Date(),
        datetime: DateTime(timezone=True),
    }
    types = [kinds[type(value)] for value in rows[0]]
    return (
        text(f"VALUES {listed}")
        .columns(*(column(f"column{n + 1}", t) for n, t in enumerate(types)))
        .cte(name)
    )


async def plan_each_call(session: AsyncSession) -> None:
    """Have PostgreSQL plan this transaction's statements for their parameters every time.
    After five runs of a cached prepared statement it may switch to a generic plan, blind to
    the parameters; for queries that join kept months to the owed series of a day, that plan
    nests loops over every row and takes minutes. SQLite plans each statement anyway."""
    if is_postgresql(session):
        await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
