"""Keeps the owed series for coverage and staleness (:func:`service.keep_owed`), off the request
path: each process looks once a minute, and after it starts, whether what is kept still holds
for today under the current registry, and rewrites it when it does not. Until then readers expand
the obligations themselves, so an answer is never wrong, only slower for at most a minute after
the registry changed. One process rewrites at a time; the others find it kept or skip."""

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from ioc_hub.config import Settings
from ioc_hub.coverage import service
from ioc_hub.db import Transaction
from ioc_hub.kit.tasks import cancel_and_wait
from ioc_hub.registry.timeline import local_day

log = logging.getLogger(__name__)

KEEP_EVERY_SECONDS = 60.0


class OwedKeeper:
    def __init__(
        self,
        settings: Settings,
        transaction: Transaction,
        clock: Callable[[], datetime],
    ) -> None:
        self._settings = settings
        self._transaction = transaction
        self._clock = clock
        self._task: asyncio.Task[None] | None = None

    async def keep(self) -> bool:
        """One look, and a rewrite if needed; whether it wrote."""
        wrote = False
        day = local_day(self._clock(), self._settings.tz)
        async with self._transaction() as session:
            wrote = await service.keep_owed(session, day)
        return wrote

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="owed series keeper")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self.keep()
            except Exception:  # a lost connection, a busy database: the next look retries
                log.exception("keeping the owed series failed; retrying")
            await asyncio.sleep(KEEP_EVERY_SECONDS)
