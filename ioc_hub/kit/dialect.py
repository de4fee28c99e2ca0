"""The few places where PostgreSQL and SQLite differ, so nothing else needs to know which runs."""

from typing import Any

from sqlalchemy import ColumnElement, SQLColumnExpression, Table, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import DeclarativeBase


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


def code_order(session: AsyncSession, column: SQLColumnExpression[str]) -> SQLColumnExpression[str]:
    """``column`` to sort by code point, as Python sorts strings: PostgreSQL's default collation
    follows the locale (which skips punctuation), SQLite's compares bytes already."""
    if is_postgresql(session):
        return column.collate("C")
    return column
