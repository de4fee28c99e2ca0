"""The event bus behind ``GET /api/v1/stream``: publish events, subscribe from a position.

Every process keeps the most recent events (``stream_retention`` of them) in a ring, in the
order it received them, so a client that reconnects with ``Last-Event-ID`` gets what it missed
without loss, from any process, as long as the ring still holds it.

- :class:`LocalBus` (SQLite, one process): events go straight to the ring. Ids are
  ``epoch milliseconds × 1024``, bumped by one when that would not grow.
- :class:`PostgresBus` (PostgreSQL, many processes): events are published with NOTIFY and every
  process — the publisher too — fills its ring from LISTEN, so all rings hold the same events
  in the same order under the same ids: a notification's id (:mod:`ioc_hub.kit.notify`) × 64 +
  the event's place in it (up to 64 events share one notification).

Events are news about what the database already holds, at most once: a process that dies
between a commit and its publish, or a database that cannot be reached, loses them. A
subscriber that may have missed events gets a ``reset`` event (no id) and should reload the
state it shows.
"""

import abc
import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from ioc_hub.access.principal import UnitRef
from ioc_hub.kit.notify import MAX_MESSAGE_BYTES, NotifyChannel
from ioc_hub.kit.tasks import cancel_and_wait
from ioc_hub.models import UnitKind

log = logging.getLogger(__name__)

CHANNEL = "ioc_hub_events"

RESET = "reset"


@dataclass(frozen=True, slots=True)
class Draft:
    """An event before it has an id: its type, the unit it concerns (``None``: everyone may see
    it) and its data, a JSON object already serialised."""

    type: str
    unit: UnitRef | None
    data: str


@dataclass(frozen=True, slots=True)
class Event:
    """An event as subscribers get it; ``id`` is ``None`` only for ``reset``."""

    id: int | None
    type: str
    unit: UnitRef | None
    data: str


def reset_event(reason: str) -> Event:
    return Event(None, RESET, None, orjson.dumps({"reason": reason}).decode())


class Subscription:
    """One subscriber's queue. ``backlog`` holds what it gets first (a reset and/or the events
    it missed); then :meth:`get` returns live events as they come."""

    def __init__(
        self, bus: "EventBus", accepts: Callable[[Event], bool], limit: int, backlog: list[Event]
    ) -> None:
        self._bus = bus
        self._accepts = accepts
        self._limit = limit
        self.backlog = [e for e in backlog if e.id is None or accepts(e)]
        self._queue: deque[Event] = deque()
        self._wake = asyncio.Event()
        self.closed = False

    def offer(self, event: Event) -> None:
        if self.closed or not (event.id is None or self._accepts(event)):
            return
        if len(self._queue) >= self._limit:
            # Too slow to keep up: end its stream; it resumes from the ring when it reconnects.
            log.info("closing a stream subscriber %d events behind", len(self._queue))
            self.close()
            return
        self._queue.append(event)
        self._wake.set()

    async def get(self, idle: float) -> Event | None:
        """The next event; ``None`` after ``idle`` seconds without one, or once closed."""
        if not self._queue and not self.closed:
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(idle):
                    await self._wake.wait()
        return self._queue.popleft() if self._queue else None

    def close(self) -> None:
        self.closed = True
        self._queue.clear()
        self._wake.set()
        self._bus._subscribers.discard(self)


class EventBus(abc.ABC):
    """The ring and the subscribers; subclasses decide how published events reach the ring."""

    def __init__(self, retention: int, subscriber_limit: int = 1000) -> None:
        self._ring: deque[Event] = deque()
        self._retention = retention
        self._subscriber_limit = subscriber_limit
        # Every event with an id above the floor is in the ring or has yet to come.
        self._floor = 0
        self._latest = 0  # the newest id this process knows of
        self._subscribers: set[Subscription] = set()

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    @abc.abstractmethod
    def publish(self, drafts: Sequence[Draft]) -> None:
        """Hand events to every subscriber of every process; returns at once."""

    @abc.abstractmethod
    async def start(self) -> None:
        """Begin taking events."""

    async def stop(self) -> None:
        """End every subscription (their streams finish)."""
        for subscription in list(self._subscribers):
            subscription.close()

    def subscribe(
        self, last_event_id: str | None, accepts: Callable[[Event], bool]
    ) -> Subscription:
        """A subscription from just after ``last_event_id`` (``None``: from now on).

        A position the ring cannot resume from without a gap — older than what it keeps, from
        before this process started listening, unknown — gets a ``reset`` first, then live
        events.
        """
        backlog: list[Event] = []
        if last_event_id is not None:
            position = _parse_id(last_event_id)
            if (
                position is None
                or position < self._floor
                or position > max(self._latest, self._floor)
            ):
                backlog.append(reset_event(f"cannot resume after event {last_event_id[:64]!r}"))
            else:
                backlog = self._after(position)
        subscription = Subscription(self, accepts, self._subscriber_limit, backlog)
        self._subscribers.add(subscription)
        return subscription

    def _after(self, position: int) -> list[Event]:
        newer: list[Event] = []
        for event in reversed(self._ring):
            if event.id is None or event.id <= position:
                break
            newer.append(event)
        newer.reverse()
        return newer

    def _deliver(self, event: Event) -> None:
        assert event.id is not None
        newest = self._ring[-1].id if self._ring else None
        if newest is not None and event.id <= newest:
            log.warning("dropping event %d: not after %d", event.id, newest)
            return
        self._latest = max(self._latest, event.id)
        self._ring.append(event)
        if len(self._ring) > self._retention:
            evicted = self._ring.popleft()
            assert evicted.id is not None
            self._floor = evicted.id
        for subscription in list(self._subscribers):
            subscription.offer(event)

    def _gap(self, floor: int, reason: str | None) -> None:
        """Events up to ``floor`` may be missing; with a ``reason``, tell live subscribers."""
        self._floor = max(self._floor, floor)
        if reason is not None:
            for subscription in list(self._subscribers):
                subscription.offer(reset_event(reason))


def _parse_id(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() and len(text) < 30 else None


class LocalBus(EventBus):
    """Within one process (SQLite): published events go straight to the ring."""

    def __init__(self, retention: int, subscriber_limit: int = 1000) -> None:
        super().__init__(retention, subscriber_limit)
        self._last_id = 0

    async def start(self) -> None:
        # Ids from before this start are unknown here: resuming from one is a reset.
        self._gap(self._next_id() - 1, None)

    def publish(self, drafts: Sequence[Draft]) -> None:
        for draft in drafts:
            self._deliver(Event(self._next_id(), draft.type, draft.unit, draft.data))

    def _next_id(self) -> int:
        self._last_id = max(self._last_id + 1, time.time_ns() // 1_000_000 * 1024)
        return self._last_id


class PostgresBus(EventBus):
    """Between processes (PostgreSQL): NOTIFY out, LISTEN in; publishing runs in a task of its
    own, so a push never waits for it."""

    def __init__(
        self,
        url: str,
        retention: int,
        *,
        subscriber_limit: int = 1000,
        outbox_limit: int = 100_000,
        timeout: float = 10.0,
    ) -> None:
        super().__init__(retention, subscriber_limit)
        self._channel = NotifyChannel(
            url, CHANNEL, self._received, self._connected, timeout=timeout
        )
        self._outbox: deque[Draft] = deque()
        self._outbox_limit = outbox_limit
        # Notifications received while this process has no subscriber, kept undecoded (most
        # API processes never serve a stream): (first event id, events, message). All newer
        # than the ring; decoded when a client subscribes.
        self._raw: deque[tuple[int, int, str]] = deque()
        self._raw_events = 0
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._sender: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._channel.start()
        self._sender = asyncio.create_task(self._send(), name="publish events")

    async def stop(self) -> None:
        if self._sender is not None:
            # Let what is queued go out (briefly), then stop.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2):
                    await self._idle.wait()
            await cancel_and_wait(self._sender)
            self._sender = None
        await self._channel.close()
        await super().stop()

    def publish(self, drafts: Sequence[Draft]) -> None:
        self._outbox.extend(drafts)
        self._idle.clear()
        overflow = len(self._outbox) - self._outbox_limit
        if overflow > 0:
            for _ in range(overflow):
                self._outbox.popleft()
            self._gap(self._latest, f"{overflow} events were dropped: the hub fell behind")
        self._wake.set()

    async def _send(self) -> None:
        while True:
            await self._wake.wait()
            # The publisher hands a burst over in one turn (``stream.service``): what it handed
            # over by the time this runs goes out in one statement.
            self._wake.clear()
            while self._outbox:
                batch = [self._outbox.popleft() for _ in range(min(10_000, len(self._outbox)))]
                messages = _pack(batch)
                try:
                    await self._channel.publish(messages)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # the database is away: these events are lost
                    log.warning("could not publish %d events: %s", len(batch), exc)
                    self._gap(self._latest, "events were lost: the database was unreachable")
            self._idle.set()

    def subscribe(
        self, last_event_id: str | None, accepts: Callable[[Event], bool]
    ) -> Subscription:
        self._decode_raw()
        return super().subscribe(last_event_id, accepts)

    def _received(self, message_id: int, message: str) -> None:
        if not self._subscribers:
            count = message.count("\n") // 2 + 1
            first = message_id * EVENTS_PER_MESSAGE
            self._raw.append((first, count, message))
            self._raw_events += count
            self._latest = max(self._latest, first + count - 1)
            while self._raw and len(self._ring) + self._raw_events > self._retention:
                if self._ring:
                    evicted = self._ring.popleft()
                    assert evicted.id is not None
                    self._floor = max(self._floor, evicted.id)
                else:
                    first, count, _ = self._raw.popleft()
                    self._raw_events -= count
                    self._floor = max(self._floor, first + count - 1)
            return
        self._decode_raw()
        self._decode(message_id * EVENTS_PER_MESSAGE, message)

    def _decode_raw(self) -> None:
        while self._raw:
            first, count, message = self._raw.popleft()
            self._raw_events -= count
            self._decode(first, message)

    def _decode(self, first: int, message: str) -> None:
        try:
            events = _unpack(first, message)
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            log.warning("ignoring malformed events from id %d: %s", first, exc)
            return
        for event in events:
            self._deliver(event)

    def _connected(self, horizon: int, reconnected: bool) -> None:
        reason = "the event listener reconnected; events may have been missed"
        self._gap(horizon, reason if reconnected else None)


# Several events travel in one notification — a line of header, a line of data, for each — as
# one notification costs PostgreSQL and every listener about as much as a few events' bytes.
# An event's id is its notification's id × 64 + its place in it.
EVENTS_PER_MESSAGE = 64


def _pack(drafts: Sequence[Draft]) -> list[str]:
    messages: list[str] = []
    lines: list[str] = []
    size = count = 0
    for draft in drafts:
        unit = draft.unit
        head: list[Any] = [draft.type]
        if unit is not None:
            head += [unit.id, unit.code, unit.kind.value, unit.parent_id]
        event = orjson.dumps(head).decode() + "\n" + draft.data
        length = len(event.encode()) + 1
        if length > MAX_MESSAGE_BYTES:
            log.warning("dropping a %s event too large for NOTIFY", draft.type)
            continue
        if count == EVENTS_PER_MESSAGE or size + length > MAX_MESSAGE_BYTES:
            messages.append("\n".join(lines))
            lines, size, count = [], 0, 0
        lines.append(event)
        size += length
        count += 1
    if lines:
        messages.append("\n".join(lines))
    return messages


def _unpack(first: int, message: str) -> list[Event]:
    lines = message.split("\n")
    events = []
    for place in range(0, len(lines) - 1, 2):
        head = orjson.loads(lines[place])
        unit = None
        if len(head) > 1:
            unit = UnitRef(id=head[1], code=head[2], kind=UnitKind(head[3]), parent_id=head[4])
        events.append(Event(first + place // 2, str(head[0]), unit, lines[place + 1]))
    return events
