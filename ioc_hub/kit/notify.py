"""Messages between the hub's processes through PostgreSQL LISTEN/NOTIFY, on one dedicated
connection per process. Domain-free: text messages on a channel, each given an id.

**Ids.** A message's id is ``xid × 1024 + its position in the publishing statement``, where
``xid`` is the publishing transaction's id. The statement takes an advisory lock *before* it
takes its transaction id and holds it until it commits, so publishers get transaction ids in
the order they commit — which is the order PostgreSQL delivers notifications to every listener.
So ids are unique across processes and grow in delivery order everywhere, with no sequence or
table to migrate, and they keep growing across restarts of the hub.

**Completeness.** Each time the listener (re)connects it learns a *horizon*: an id such that
every message with a larger id is certain to reach it. Messages published while it was away are
lost to it; the caller hears of the new horizon and can tell its own clients.

Notifications are not durable: a message published while the listener is down, or a publish
that fails, is gone. Use this for news about state the database keeps, never for the state.
"""

import asyncio
import contextlib
import logging
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from ioc_hub.kit.tasks import cancel_and_wait

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 7900
"""PostgreSQL refuses a notification payload of 8000 bytes or more; the id takes the rest."""

MAX_MESSAGES_PER_PUBLISH = 1000
"""Positions within one statement stay below the 1024 an id reserves for them."""

_LOCKED = """
WITH lock AS MATERIALIZED (
    -- Notifications are news, not state: their commit need not wait for the disk.
    SELECT pg_advisory_xact_lock($1) AS got, set_config('synchronous_commit', 'off', true)
),
base AS MATERIALIZED (SELECT pg_current_xact_id()::text::bigint * 1024 AS id FROM lock)
"""
_PUBLISH = (
    _LOCKED
    + """
SELECT count(pg_notify($2, (base.id + m.n - 1)::text || ' ' || m.message))
FROM base, unnest($3::text[]) WITH ORDINALITY AS m(message, n)
"""
)
_HORIZON = _LOCKED + "SELECT id FROM base"

KEEPALIVE_SECONDS = 30.0
"""How often an idle listener checks that its connection still answers."""


class ChannelDown(Exception):
    """The channel has no live connection: the message was not published."""


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    """``postgresql+asyncpg://…`` as the plain DSN asyncpg itself takes."""
    url = make_url(sqlalchemy_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class NotifyChannel:
    """LISTEN on ``channel`` and publish to it, reconnecting with backoff when the connection
    drops.

    ``on_message(id, message)`` runs in the event loop for every message, this process's own
    included. ``on_connected(horizon, reconnected)`` runs each time the listener (re)connects.
    """

    def __init__(
        self,
        url: str,
        channel: str,
        on_message: Callable[[int, str], None],
        on_connected: Callable[[int, bool], None],
        *,
        timeout: float = 10.0,
    ) -> None:
        self._dsn = asyncpg_dsn(url)
        self._channel = channel
        self._lock_key = zlib.crc32(channel.encode())
        self._on_message = on_message
        self._on_connected = on_connected
        self._timeout = timeout
        self._connection: Any = None
        self._use = asyncio.Lock()  # one operation at a time on an asyncpg connection
        self._connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start listening; wait (up to the timeout) for the first connection, then go on
        trying in the background if the database is not there yet."""
        self._task = asyncio.create_task(self._run(), name=f"listen {self._channel}")
        try:
            async with asyncio.timeout(self._timeout):
                await self._connected.wait()
        except TimeoutError:
            log.warning("LISTEN %s: no connection yet; retrying in the background", self._channel)

    async def close(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def publish(self, messages: Sequence[str]) -> None:
        """NOTIFY every message, in order, in one transaction per chunk.

        Raises :class:`ChannelDown` when there is no connection, and asyncpg's errors when the
        statement fails; in both cases nothing of the failed chunk was published.
        """
        for start in range(0, len(messages), MAX_MESSAGES_PER_PUBLISH):
            chunk = list(messages[start : start + MAX_MESSAGES_PER_PUBLISH])
            async with self._use:
                if self._connection is None:
                    raise ChannelDown(f"no connection to LISTEN/NOTIFY on {self._channel}")
                await self._connection.fetchval(
                    _PUBLISH, self._lock_key, self._channel, chunk, timeout=self._timeout
                )

    async def _run(self) -> None:
        backoff, reconnected = 0.5, False
        while True:
            try:
                await self._listen(reconnected)
                backoff = 0.5
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure means: reconnect
                log.warning("LISTEN %s: connection lost or refused: %s", self._channel, exc)
            reconnected = True
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10.0)

    async def _listen(self, reconnected: bool) -> None:
        connection = await asyncpg.connect(
            self._dsn,
            timeout=self._timeout,
            server_settings={"application_name": f"ioc-hub {self._channel}"},
        )
        closed = asyncio.Event()
        connection.add_termination_listener(lambda _: closed.set())
        try:
            await connection.add_listener(self._channel, self._receive)
            # Taken after LISTEN is in force: a message with a larger id commits after it.
            horizon = await connection.fetchval(_HORIZON, self._lock_key, timeout=self._timeout)
            self._connection = connection
            self._on_connected(int(horizon), reconnected)
            self._connected.set()
            while not closed.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(KEEPALIVE_SECONDS):
                        await closed.wait()
                if not closed.is_set():
                    async with self._use:
                        await connection.fetchval("SELECT 1", timeout=self._timeout)
        finally:
            self._connection = None
            self._connected.clear()
            connection.terminate()

    def _receive(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        head, _, message = payload.partition(" ")
        try:
            message_id = int(head)
        except ValueError:
            log.warning("LISTEN %s: ignoring a message without an id", self._channel)
            return
        self._on_message(message_id, message)
