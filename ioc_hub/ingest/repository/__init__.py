"""Writes of an accepted batch (observations, revisions, series state and unit contact) in the
request's transaction, and heartbeats. PostgreSQL takes a batch in one statement
(``postgresql``); SQLite takes the portable path (``portable``). Both report what the batch
moved (:class:`WriteCounts`), which the live stream is built from without asking again.
Deletions take the same SQL on both engines (``deletion``).
"""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ioc_hub.coverage.months import Deadlines
from ioc_hub.ingest.repository import portable, postgresql
from ioc_hub.ingest.repository.common import (
    RECEIPT_RESOLUTION,
    Contact,
    StaleRegistry,
    WriteCounts,
)
from ioc_hub.ingest.repository.deletion import delete_batch
from ioc_hub.ingest.validation import ValidRow
from ioc_hub.kit.dialect import greatest, is_postgresql, upsert
from ioc_hub.models import UnitContact

__all__ = [
    "RECEIPT_RESOLUTION",
    "Contact",
    "StaleRegistry",
    "WriteCounts",
    "delete_batch",
    "touch_heartbeat",
    "write_batch",
]


async def write_batch(
    session: AsyncSession,
    rows: Sequence[ValidRow],
    *,
    key_id: int,
    now: datetime,
    generation: int,
    deadlines: Deadlines,
    imported: bool = False,
) -> WriteCounts:
    """Store ``rows`` (one per natural key) and return what changed.

    Writes only while the registry is still at ``generation``; otherwise raises
    :class:`StaleRegistry` having written nothing. Imported rows carry their own
    ``received_at`` (a push is received ``now``) and are stored with ``imported`` set. The
    observations created join their months (``series_months``), judged on time by
    ``deadlines``.
    """
    # A fixed order makes concurrent batches lock shared rows in the same order (no deadlock).
    ordered = sorted(rows, key=lambda r: (r.unit_id, r.indicator_id, r.period))
    store = postgresql.write if is_postgresql(session) else portable.write
    return await store(
        session,
        ordered,
        key_id=key_id,
        now=now,
        generation=generation,
        imported=imported,
        deadlines=deadlines,
    )


async def touch_heartbeat(session: AsyncSession, unit_id: int, now: datetime) -> datetime | None:
    """Record that a unit sent a heartbeat; return when it was heard from before, if ever."""
    previous = await session.scalar(
        select(UnitContact.last_contact_at).where(UnitContact.unit_id == unit_id)
    )
    statement = upsert(session, UnitContact)
    statement = statement.on_conflict_do_update(
        index_elements=[UnitContact.unit_id],
        set_={
            "last_contact_at": greatest(
                session, statement.excluded.last_contact_at, UnitContact.last_contact_at
            ),
            "last_heartbeat_at": statement.excluded.last_heartbeat_at,
        },
    )
    await session.execute(
        statement, {"unit_id": unit_id, "last_contact_at": now, "last_heartbeat_at": now}
    )
    return previous
