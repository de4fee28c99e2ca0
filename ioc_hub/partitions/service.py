"""Observations' partitions on PostgreSQL (docs/design.md §11).

``observations`` is partitioned by range of ``period_start``: ``observations_<year>`` holds a
calendar year, ``observations_default`` any year without a partition of its own, so no row is
ever refused for want of one. :func:`ensure` makes the partitions of the years asked for and of
the years found in the default one, moving their rows out of it; :func:`detach` turns an old
year into a plain table an operator can dump and drop. SQLite is not partitioned: every function
here refuses it (:class:`NotPartitioned`) or, for :func:`ensure`, does nothing.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import delete, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ioc_hub.errors import HubError
from ioc_hub.models import OutlierBaseline, OutlierMonth, SeriesMonth

PARENT = "observations"
DEFAULT = "observations_default"

# Making a partition locks observations; a pass that waits longer than this for the lock gives up
# and is tried again later, rather than hold every read and push queued behind its request.
_LOCK_TIMEOUT = "2s"
# Detaching locks the whole table: an operator's command may wait longer for it.
_DETACH_LOCK_TIMEOUT = "60s"

_PARTITIONS = text("""
SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound,
    c.reltuples::bigint AS rows, pg_total_relation_size(c.oid) AS bytes
FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = CAST(:parent AS regclass)
""")
_FROM_YEAR = re.compile(r"FROM \('(\d{4})-01-01'\)")


class NotPartitioned(HubError):
    status, title, slug = 409, "Not partitioned", "not-partitioned"


class CannotDetach(HubError):
    status, title, slug = 409, "Cannot detach", "cannot-detach"


@dataclass(frozen=True, slots=True)
class Partition:
    name: str
    year: int | None
    """The calendar year it holds; None for the default partition."""
    rows: int | None
    """PostgreSQL's estimate (``reltuples``); None before the partition was first analysed."""
    bytes: int


def partition_name(year: int) -> str:
    return f"{PARENT}_{year}"


def _require_postgresql(engine: AsyncEngine) -> None:
    if engine.dialect.name != "postgresql":
        raise NotPartitioned(
            "observations are partitioned on PostgreSQL only; this hub runs on "
            f"{engine.dialect.name}, where the table is one"
        )


async def list_partitions(engine: AsyncEngine) -> list[Partition]:
    """Every partition of ``observations``, the default one last."""
    _require_postgresql(engine)
    async with engine.connect() as connection:
        found = (await connection.execute(_PARTITIONS, {"parent": PARENT})).all()
    partitions = []
    for name, bound, rows, size in found:
        match = _FROM_YEAR.search(bound)
        year = int(match.group(1)) if match else None
        partitions.append(Partition(name, year, rows if rows >= 0 else None, size))
    return sorted(partitions, key=lambda p: (p.year is None, p.year or 0))


async def ensure(engine: AsyncEngine, years: Iterable[int]) -> set[int]:
    """Make the partitions of ``years`` and of every year that has rows in the default partition,
    moving those rows into them, in one transaction; return the years now settled (with a
    partition, or with a detached table of that name: those stay in the default partition).

    A year's rows must leave the default partition before its partition exists (PostgreSQL
    refuses a partition whose rows sit in the default), so each new year is a plain table first,
    filled from the default partition and then attached. The table is locked against readers and
    writers first: a push that had routed its row to the default partition before the attach
    would be refused once it got there (the row no longer belongs there), and a read planned
    before the attach but run after it would find the moved rows in neither place. Concurrent
    passes (several hub processes) take turns. Nothing is locked when nothing is missing.
    """
    if engine.dialect.name != "postgresql":
        return set(years)
    async with engine.connect() as connection:
        wanted = set(years) | await _years_in_default(connection)
        missing = [y for y in sorted(wanted) if not await _exists(connection, y)]
        await connection.commit()
        if not missing:
            return wanted
        async with connection.begin():
            await connection.execute(text(f"SET LOCAL lock_timeout = '{_LOCK_TIMEOUT}'"))
            await connection.execute(text(f"LOCK TABLE {PARENT} IN ACCESS EXCLUSIVE MODE"))
            for year in missing:
                if not await _exists(connection, year):  # another pass may have made it
                    await _split_out(connection, year)
    return wanted


async def _years_in_default(connection: AsyncConnection) -> set[int]:
    found = await connection.scalars(
        text(f"SELECT DISTINCT CAST(extract(year FROM period_start) AS integer) FROM {DEFAULT}")
    )
    return set(found)


async def _exists(connection: AsyncConnection, year: int) -> bool:
    found = await connection.scalar(
        text("SELECT to_regclass(:name) IS NOT NULL"), {"name": partition_name(year)}
    )
    return bool(found)


async def _split_out(connection: AsyncConnection, year: int) -> None:
    name, start, end = partition_name(year), date(year, 1, 1), date(year + 1, 1, 1)
    await connection.execute(text(f"CREATE TABLE {name} (LIKE {PARENT})"))
    # Same columns in the same order (LIKE the parent, as every partition is): rows move whole,
    # ids and all, so revisions, deletions and follow-ups still find them.
    await connection.execute(
        text(
            f"WITH moved AS (DELETE FROM {DEFAULT} WHERE period_start >= :start "
            f"AND period_start < :end RETURNING *) INSERT INTO {name} SELECT * FROM moved"
        ),
        {"start": start, "end": end},
    )
    await connection.execute(
        text(
            f"ALTER TABLE {PARENT} ATTACH PARTITION {name} FOR VALUES FROM ('{start}') TO ('{end}')"
        )
    )


async def detach(engine: AsyncEngine, year: int, today: date) -> str:
    """Detach the partition of ``year``, leaving a plain table of the same name; return it.

    The hub keeps writing this year and the next, so only earlier years may go. What the hub
    keeps from the year's observations goes with them, in the same transaction: its kept months
    (completeness and aggregates read them instead of observations) and its months' values for
    outlier baselines, with every baseline from the year on, whose windows may hold it. Reads
    then answer as if the year had never been pushed, and a late value of it counts once.
    """
    _require_postgresql(engine)
    if year >= today.year:
        raise CannotDetach(
            f"year {year} is not over: the hub still writes to it (detach {today.year - 1} "
            "or earlier)"
        )
    name = partition_name(year)
    async with engine.begin() as connection:
        attached = await connection.scalar(
            text(
                "SELECT EXISTS (SELECT FROM pg_inherits WHERE inhrelid = to_regclass(:name) "
                "AND inhparent = CAST(:parent AS regclass))"
            ),
            {"name": name, "parent": PARENT},
        )
        if not attached:
            raise CannotDetach(f"no partition {name} to detach (see `ioc-hub partitions list`)")
        await connection.execute(text(f"SET LOCAL lock_timeout = '{_DETACH_LOCK_TIMEOUT}'"))
        await connection.execute(text(f"ALTER TABLE {PARENT} DETACH PARTITION {name}"))
        start, end = date(year, 1, 1), date(year + 1, 1, 1)
        for kept in (SeriesMonth, OutlierMonth):
            await connection.execute(delete(kept).where(kept.month >= start, kept.month < end))
        await connection.execute(delete(OutlierBaseline).where(OutlierBaseline.month >= start))
    return name
