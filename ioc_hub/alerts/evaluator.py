"""The evaluator: one process at a time runs the alert rules, on a clock and after ingest.

Time alone makes series late and units silent, so the leader evaluates every
``alert_interval_seconds``. Data can end an alert sooner: while it leads, a process follows the
event stream (which carries every process's pushes, through PostgreSQL on several processes) and
evaluates shortly after a ``series`` or ``connection`` event, once a burst has settled. Pushes
never wait for it: the evaluator works off the request path, in a transaction of its own.

Leadership is :mod:`ioc_hub.kit.leader`'s: on PostgreSQL an advisory lock held on a dedicated
connection, so when the leading process dies another takes over at its next try, within one
interval; on SQLite the one process leads.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime

from ioc_hub.alerts import service
from ioc_hub.alerts.service import PassSummary
from ioc_hub.config import Settings
from ioc_hub.db import Transaction
from ioc_hub.kit.leader import AdvisoryLock, Leadership, SingleProcess
from ioc_hub.kit.tasks import cancel_and_wait
from ioc_hub.stream.bus import Event, EventBus
from ioc_hub.stream.schemas import EventType

log = logging.getLogger(__name__)

WAKING = frozenset({EventType.SERIES, EventType.CONNECTION, EventType.RESET})
"""Events after which an alert may have ended: a series moved forward, a unit (re)connected, or
events were missed."""

SETTLE_SECONDS = 0.5
"""How long the evaluator lets a burst of ingest events settle before it evaluates once."""


class Evaluator:
    """Runs :func:`ioc_hub.alerts.service.evaluate` while this process leads."""

    def __init__(
        self,
        settings: Settings,
        transaction: Transaction,
        bus: EventBus,
        clock: Callable[[], datetime],
        leadership: Leadership,
    ) -> None:
        self._settings = settings
        self._transaction = transaction
        self._bus = bus
        self._clock = clock
        self._leadership = leadership
        self._turn = asyncio.Lock()  # one pass at a time in this process
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._follower: asyncio.Task[None] | None = None
        self.leading = False
        self.passes = 0
        self.last: PassSummary | None = None

    @classmethod
    def create(
        cls,
        settings: Settings,
        transaction: Transaction,
        bus: EventBus,
        clock: Callable[[], datetime],
    ) -> "Evaluator":
        leadership: Leadership = (
            SingleProcess()
            if settings.is_sqlite
            else AdvisoryLock(
                settings.database_url, "alert evaluator", timeout=settings.db_timeout_seconds
            )
        )
        return cls(settings, transaction, bus, clock, leadership)

    async def evaluate(self) -> PassSummary:
        """One pass at the clock's now, in a transaction of its own, whoever leads: what the
        loop runs, and what tests call directly."""
        async with self._turn:
            async with self._transaction() as session:
                summary = await service.evaluate(session, self._settings, self._clock())
            self.passes += 1
            self.last = summary
            if summary.fired or summary.repeated or summary.resolved:
                log.info(
                    "alerts at %s: %d fired, %d repeated, %d resolved",
                    summary.at.isoformat(),
                    summary.fired,
                    summary.repeated,
                    summary.resolved,
                )
            return summary

    def wake(self) -> None:
        """Evaluate soon, if this process leads."""
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="alert evaluator")

    async def stop(self) -> None:
        await cancel_and_wait(self._task, self._follower)
        self._task = self._follower = None
        self.leading = False
        await self._leadership.release()

    async def _run(self) -> None:
        interval = self._settings.alert_interval_seconds
        while True:
            self._wake.clear()
            try:
                await self._lead()
                if self.leading:
                    await self.evaluate()
            except asyncio.CancelledError:
                raise
            except Exception:  # the next turn tries again
                log.exception("alert evaluation failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await self._wake.wait()
                    await asyncio.sleep(SETTLE_SECONDS)

    async def _lead(self) -> None:
        leading = await self._leadership.lead()
        if leading and self._follower is None:
            self._follower = asyncio.create_task(self._follow(), name="alert evaluator wake-up")
        elif not leading and self._follower is not None:
            await cancel_and_wait(self._follower)
            self._follower = None
        self.leading = leading

    async def _follow(self) -> None:
        """Wake the loop on ingest events while this process leads."""

        def waking(event: Event) -> bool:
            return event.type in WAKING

        while True:
            subscription = self._bus.subscribe(None, waking)
            try:
                while not subscription.closed:
                    if await subscription.get(self._settings.alert_interval_seconds) is not None:
                        self._wake.set()
            finally:
                subscription.close()
            self._wake.set()  # it fell behind and was closed: events were missed
