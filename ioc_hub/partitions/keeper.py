"""The hub's side of partitions: each process keeps a partition for this year, the next year and
every year pushed to, on PostgreSQL. Ingest never makes one itself: a row of a year without a
partition lands in the default partition, and the keeper, woken after the push committed, gives
that year its partition and moves the row over. DDL in a push's transaction would hold the
table's locks for as long as the push, and two pushes could deadlock making the same year."""

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from ioc_hub.ingest.pipeline import HeartbeatOutcome, PushOutcome
from ioc_hub.kit.tasks import cancel_and_wait
from ioc_hub.partitions import service

log = logging.getLogger(__name__)

# A pass also runs this often unwoken, so that next year's partition exists before New Year.
PASS_EVERY_SECONDS = 6 * 3600.0
# A pass that failed (a lock it waited for too long) is tried again after this.
RETRY_SECONDS = 30.0


class PartitionKeeper:
    def __init__(self, engine: AsyncEngine, clock: Callable[[], datetime]) -> None:
        self._engine = engine
        self._clock = clock
        self._settled: set[int] = set()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None

    @property
    def active(self) -> bool:
        return self._engine.dialect.name == "postgresql"

    def observe(self, outcome: PushOutcome | HeartbeatOutcome) -> None:
        """The ingest observer: wakes the keeper when a push stored a year not settled yet."""
        if not isinstance(outcome, PushOutcome) or outcome.written is None or not self.active:
            return
        if any(r.period_start.year not in self._settled for r in outcome.written.rows):
            self._idle.clear()
            self._wake.set()

    async def start(self) -> None:
        """Make this year's and next year's partitions (before the hub serves), then keep on."""
        if not self.active:
            return
        if not await self._pass():
            self._wake.set()
        self._task = asyncio.create_task(self._run(), name="partition keeper")

    async def settled(self) -> None:
        """Wait until every year observed so far has its partition (tests)."""
        await self._idle.wait()

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(PASS_EVERY_SECONDS):
                    await self._wake.wait()
            self._wake.clear()
            if not await self._pass():
                self._wake.set()
                await asyncio.sleep(RETRY_SECONDS)
            elif not self._wake.is_set():
                self._idle.set()

    async def _pass(self) -> bool:
        year = self._clock().year
        try:
            self._settled |= await service.ensure(self._engine, {year, year + 1})
        except Exception:  # a lock not had in time, a lost connection: the next pass retries
            log.exception("making observations' partitions failed; retrying")
            return False
        return True
