"""The read replica: a PostgreSQL standby that read-heavy routes use while it keeps up.

Each process watches the standby (docs/design.md §7, Read replica). About every second it notes
the primary's flushed WAL position, then asks the standby how far it has replayed. Once the
standby has replayed past a position noted at instant t, it holds everything the primary had
committed at t: a read may use it while t is within ``read_max_lag_seconds`` of now. That promise
expires by itself, so a standby that stops answering, or a watch that hangs, sends the reads to
the primary within the bound without anything having to decide it.

Two simpler rules give wrong answers. ``now() - pg_last_xact_replay_timestamp()`` is the age of
the last transaction replayed, which grows on an idle primary while the standby is caught up.
"Replayed all it received" holds on a standby cut off from its primary, which falls behind.
"""

import asyncio
import collections
import logging
import time

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from ioc_hub.config import Settings
from ioc_hub.db import create_read_engine, create_session_factory
from ioc_hub.kit.tasks import cancel_and_wait

log = logging.getLogger(__name__)

# Positions as byte offsets: pg_lsn minus the origin is a number.
PRIMARY_FLUSHED = text("SELECT pg_current_wal_flush_lsn() - '0/0'::pg_lsn")
STANDBY_REPLAYED = text("SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn() - '0/0'::pg_lsn")


class Replica:
    """The standby's engine and what the last watch found; :meth:`session` hands reads to it."""

    def __init__(self, engine: AsyncEngine, primary: AsyncEngine, max_lag: float) -> None:
        self.engine = engine
        self._sessions = create_session_factory(engine)
        self._primary = primary
        self.max_lag = max_lag
        # Watched several times within the bound, so that a standby keeping up is always used.
        self.interval = min(1.0, max_lag / 4)
        self._noted: collections.deque[tuple[float, int]] = collections.deque()
        self._caught_up_at: float | None = None
        self._state = "not checked yet"
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def create(cls, settings: Settings, primary: AsyncEngine) -> "Replica | None":
        if settings.read_database_url is None:
            return None
        engine = create_read_engine(settings, settings.read_database_url)
        return cls(engine, primary, settings.read_max_lag_seconds)

    @property
    def fresh(self) -> bool:
        """The standby held all the primary had committed within the bound."""
        return (
            self._caught_up_at is not None and time.monotonic() - self._caught_up_at <= self.max_lag
        )

    async def session(self) -> AsyncSession | None:
        """A session on the standby, its connection taken; None when the standby is behind or
        cannot be reached now, and the read goes to the primary."""
        if not self.fresh:
            return None
        session = self._sessions()
        try:
            await session.connection()
        except Exception as exc:  # whatever keeps the standby from answering: read the primary
            await session.close()
            self._caught_up_at = None
            self._report(f"unreachable ({exc.__class__.__name__})")
            return None
        return session

    async def check(self) -> None:
        """Note the primary's position, then see what the standby has replayed."""
        noted_at = time.monotonic()  # before the query: the position is at least this recent
        async with self._primary.connect() as connection:
            position = int((await connection.execute(PRIMARY_FLUSHED)).scalar_one())
        self._noted.append((noted_at, position))
        async with self.engine.connect() as connection:
            recovering, replayed = (await connection.execute(STANDBY_REPLAYED)).one()
        if not recovering:
            self._caught_up_at = None
            self._report("not a standby (not in recovery): it may hold other data")
            return
        for at, noted in reversed(self._noted):
            if replayed is not None and noted <= replayed:
                self._caught_up_at = at
                break
        # Older positions are passed, or too old ever to make the standby fresh again.
        while self._noted and (
            self._noted[0][0] < (self._caught_up_at or 0.0)
            or noted_at - self._noted[0][0] > self.max_lag
        ):
            self._noted.popleft()
        self._report("in use" if self.fresh else f"more than {self.max_lag:g} s behind")

    def _report(self, state: str) -> None:
        if state != self._state:
            log.log(
                logging.INFO if state == "in use" else logging.WARNING, "read replica: %s", state
            )
            self._state = state

    async def start(self) -> None:
        self._task = asyncio.create_task(self._watch(), name="read replica watch")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        await self.engine.dispose()

    async def _watch(self) -> None:
        while True:
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the standby or the primary is away: try again next turn
                self._caught_up_at = None
                self._report(f"cannot be checked ({exc.__class__.__name__})")
            await asyncio.sleep(self.interval)
