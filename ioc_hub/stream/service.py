"""The live event stream: events built from what ingest stored, and the SSE feed of one key.

Ingest tells its observers of every push, import and heartbeat once it committed
(:class:`ioc_hub.ingest.pipeline.IngestContext`). :class:`Publisher` takes each outcome in O(1)
and, in a task of its own, turns it into events for the bus — so a push never waits for the
stream, and costs it no round trip. What each event says is in :mod:`ioc_hub.stream.schemas`:

- ``observations``: one per unit of each accepted push or import;
- ``series``: one per series whose latest period the push moved forward, with its status
  before and after, evaluated at the push's time with coverage's rules;
- ``connection``: a unit heard from for the first time, or after a silence longer than its
  connection window (ingest reports silences of a day or more, the shortest window there is;
  the unit's own window is then looked up from its obligations);
- ``outlier``: one per value ingest flagged (``quality.flagging``).
"""

import asyncio
import contextlib
import logging
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import event as orm_events
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ioc_hub.access.principal import Principal, UnitRef
from ioc_hub.catalogue import service as catalogue
from ioc_hub.config import Settings
from ioc_hub.coverage.rules import Expectations, Schedule, connection_window
from ioc_hub.db import Transaction
from ioc_hub.ingest.cache import IngestCache, RegistryCopy
from ioc_hub.ingest.pipeline import HeartbeatOutcome, PushOutcome, Written
from ioc_hub.ingest.repository import Contact
from ioc_hub.ingest.validation import IndicatorRef
from ioc_hub.kit.periods import Cadence, PeriodError
from ioc_hub.kit.tasks import cancel_and_wait
from ioc_hub.registry import timeline
from ioc_hub.stream.bus import Draft, Event, EventBus, LocalBus, PostgresBus
from ioc_hub.stream.schemas import EventType, Via

log = logging.getLogger(__name__)

MAX_LISTED = 40
"""Most indicators, and most periods, one ``observations`` event lists (NOTIFY payloads are
small); ``truncated`` says when there were more."""

RETRY_MS = 2000
"""How long an EventSource waits before it reconnects (the SSE ``retry`` field)."""

PUBLISH_PAUSE_SECONDS = 0.02
"""How long ingest outcomes wait to become events together: their latency, traded for one turn
of the publisher and one NOTIFY statement per burst of pushes rather than per push."""


# --- building events --------------------------------------------------------------------------
# Built as plain dicts and serialised with orjson: a 1,000-row batch makes up to a thousand
# events, and the models of ``schemas`` (which the tests hold every event to) cost several times
# more. ``Z`` for UTC, as pydantic writes it.


def _json(data: dict[str, Any]) -> str:
    return orjson.dumps(data, option=orjson.OPT_UTC_Z).decode()


class _Described:
    """What events say of one registry copy's units and indicators, each worked out once: the
    publisher keeps it for as long as pushes are validated against that copy."""

    def __init__(self, copy: RegistryCopy, settings: Settings) -> None:
        self.copy = copy
        self._settings = settings
        self._units: dict[int, tuple[UnitRef, dict[str, Any]] | None] = {}
        self._schedules: dict[int, Schedule] = {}

    def unit(self, unit_id: int) -> tuple[UnitRef, dict[str, Any]] | None:
        """A unit's reference and the fields every event about it carries."""
        if unit_id not in self._units:
            info = self.copy.units_by_id.get(unit_id)
            if info is None:
                self._units[unit_id] = None
            else:
                ref = info.ref
                parent_id = ref.parent_id
                parent = self.copy.units_by_id.get(parent_id) if parent_id is not None else None
                fields = {
                    "unit": ref.code,
                    "kind": ref.kind.value,
                    "parent": parent.ref.code if parent else None,
                }
                self._units[unit_id] = (ref, fields)
        return self._units[unit_id]

    def schedule(self, indicator: IndicatorRef) -> Schedule:
        """When the indicator's periods are due: its cadence and the grace in force."""
        schedule = self._schedules.get(indicator.id)
        if schedule is None:
            grace = self._settings.grace(indicator.cadence, indicator.grace_seconds)
            schedule = self._schedules[indicator.id] = Schedule(indicator.cadence, grace)
        return schedule


def observation_drafts(
    described: _Described, written: Written, at: datetime, imported: bool
) -> list[Draft]:
    """One ``observations`` event per unit the batch carried rows for."""
    copy = described.copy
    indicators: dict[int, set[int]] = defaultdict(set)
    periods: dict[int, set[str]] = defaultdict(set)
    rows: dict[int, int] = defaultdict(int)
    for row in written.rows:
        indicators[row.unit_id].add(row.indicator_id)
        periods[row.unit_id].add(row.period)
        rows[row.unit_id] += 1
    at = at.astimezone(UTC)
    drafts = []
    for unit_id in sorted(rows):
        found = described.unit(unit_id)
        if found is None:
            continue
        ref, fields = found
        codes = sorted(copy.indicators_by_id[i].code for i in indicators[unit_id])
        ids = sorted(periods[unit_id])
        created, updated = written.counts.per_unit.get(unit_id, (0, 0))
        data = {
            **fields,
            "at": at,
            "imported": imported,
            "rows": rows[unit_id],
            "created": created,
            "updated": updated,
            "unchanged": rows[unit_id] - created - updated,
            "indicators": codes[:MAX_LISTED],
            "periods": ids[:MAX_LISTED],
            "truncated": len(codes) > MAX_LISTED or len(ids) > MAX_LISTED,
        }
        drafts.append(Draft(EventType.OBSERVATIONS, ref, _json(data)))
    return drafts


def series_drafts(
    described: _Described, written: Written, at: datetime, expectations: Expectations
) -> list[Draft]:
    """One ``series`` event per series whose latest period moved forward."""
    copy = described.copy
    at = at.astimezone(UTC)
    drafts = []
    for advance in written.counts.advanced:
        found = described.unit(advance.unit_id)
        indicator = copy.indicators_by_id.get(advance.indicator_id)
        if found is None or indicator is None:
            continue
        ref, fields = found
        cadence = indicator.cadence
        try:
            # Kept by ``expectations`` while it holds: worked out once per period, not per series.
            expectation = expectations.at(described.schedule(indicator), at)
        except PeriodError:  # at the edge of the supported years: no status to tell
            continue
        data = {
            **fields,
            "at": at,
            "indicator": indicator.code,
            "cadence": cadence.value,
            "period": advance.period,
            "previous_period": advance.previous_period,
            "status": expectation.status(advance.period_start).value,
            "previous_status": expectation.status(advance.previous_start).value,
        }
        drafts.append(Draft(EventType.SERIES, ref, _json(data)))
    return drafts


def outlier_drafts(described: _Described, written: Written) -> list[Draft]:
    """One ``outlier`` event per flagged value."""
    drafts = []
    for flag in written.flags:
        found = described.unit(flag.unit_id)
        indicator = described.copy.indicators_by_id.get(flag.indicator_id)
        if found is None or indicator is None:
            continue
        ref, fields = found
        data = {
            **fields,
            "at": flag.flagged_at.astimezone(UTC),
            "indicator": indicator.code,
            **flag.facts(),
        }
        drafts.append(Draft(EventType.OUTLIER, ref, _json(data)))
    return drafts


async def connection_windows(
    session: AsyncSession, described: _Described, unit_ids: Iterable[int], day: date
) -> dict[int, timedelta]:
    """Each unit's connection window (docs/design.md §4), from its obligations on ``day``, the
    local day of the contact: coverage judges it so (§8)."""
    unit_ids = sorted(set(unit_ids))
    schedules: dict[int, list[Schedule]] = {u: [] for u in unit_ids}
    pairs = await catalogue.obligated_series(session, unit_ids=unit_ids, day=day)
    for unit_id, indicator_id in pairs:
        indicator = described.copy.indicators_by_id.get(indicator_id)
        if indicator is not None:
            schedules[unit_id].append(described.schedule(indicator))
    return {u: connection_window(s).length for u, s in schedules.items()}


def connection_drafts(
    described: _Described,
    contacts: Iterable[Contact],
    windows: dict[int, timedelta],
    via: Via,
) -> list[Draft]:
    """``connection`` events for the contacts that end a disconnection (or are the first)."""
    drafts = []
    for contact in contacts:
        window = windows.get(contact.unit_id)
        found = described.unit(contact.unit_id)
        if window is None or found is None:
            continue
        if contact.previous is not None and contact.at - contact.previous <= window:
            continue  # it never dropped out of its window
        ref, fields = found
        at = contact.at.astimezone(UTC)
        data = {
            **fields,
            "at": at,
            "status": "connected",
            "reason": "first_contact" if contact.previous is None else "reconnected",
            "via": via,
            "last_contact_at": at,
            "previous_contact_at": contact.previous.astimezone(UTC) if contact.previous else None,
            "connection_window_seconds": int(window.total_seconds()),
        }
        drafts.append(Draft(EventType.CONNECTION, ref, _json(data)))
    return drafts


# --- events of other features ------------------------------------------------------------------

SESSION_BUS = "ioc_hub.stream.bus"
"""The key under which every session of the app carries its process's bus (``Stream.create``)."""
_PENDING = "ioc_hub.stream.pending"


def publish_after_commit(
    session: AsyncSession, event_type: str, unit: UnitRef | None, data: dict[str, Any]
) -> None:
    """Publish an event once ``session``'s transaction commits, and never if it rolls back: the
    stream tells only what the database holds. A session made outside the app (a command, a
    benchmark) has no bus, and the event goes nowhere."""
    bus: EventBus | None = session.info.get(SESSION_BUS)
    if bus is None:
        return
    pending: list[Draft] | None = session.info.get(_PENDING)
    if pending is None:
        pending = session.info[_PENDING] = []
        sync_session = session.sync_session

        def committed(_: Any) -> None:
            drafts = list(pending)
            pending.clear()
            if drafts:
                bus.publish(drafts)

        def rolled_back(_: Any) -> None:
            pending.clear()

        orm_events.listen(sync_session, "after_commit", committed)
        orm_events.listen(sync_session, "after_rollback", rolled_back)
    pending.append(Draft(event_type, unit, _json(data)))


class Publisher:
    """Hands ingest outcomes to the bus as events, in order, off the request path."""

    def __init__(
        self,
        bus: EventBus,
        cache: IngestCache,
        transaction: Transaction,
        settings: Settings,
        backlog_limit: int = 10_000,
    ) -> None:
        self._bus = bus
        self._cache = cache
        self._transaction = transaction
        self._settings = settings
        self._expectations = Expectations(settings.tz)
        self._described: _Described | None = None
        self._pending: deque[PushOutcome | HeartbeatOutcome] = deque(maxlen=backlog_limit)
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None

    def observe(self, outcome: PushOutcome | HeartbeatOutcome) -> None:
        """The ingest observer: O(1), never blocks."""
        if isinstance(outcome, PushOutcome) and outcome.written is None:
            return
        if len(self._pending) == self._pending.maxlen:
            log.warning("stream publisher behind: dropping the oldest ingest outcome")
        self._pending.append(outcome)
        self._idle.clear()
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="stream publisher")

    async def drained(self) -> None:
        """Wait until every outcome observed so far has been published."""
        await self._idle.wait()

    async def stop(self) -> None:
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2):
                await self._idle.wait()
        await cancel_and_wait(self._task)
        self._task = None

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            # The outcomes of a burst of pushes become events together, a moment later: one
            # turn of the publisher per burst rather than per push, and the bus sends what a
            # turn hands over in one statement.
            await asyncio.sleep(PUBLISH_PAUSE_SECONDS)
            self._wake.clear()
            while self._pending:
                outcome = self._pending.popleft()
                try:
                    drafts = await self.drafts(outcome)
                except asyncio.CancelledError:
                    raise
                except Exception:  # one bad outcome must not stop the stream
                    log.exception("could not build stream events")
                    continue
                if drafts:
                    self._bus.publish(drafts)
            self._idle.set()

    async def drafts(self, outcome: PushOutcome | HeartbeatOutcome) -> list[Draft]:
        if isinstance(outcome, HeartbeatOutcome):
            contact = Contact(outcome.unit_id, outcome.at, outcome.previous)
            if outcome.previous is not None and outcome.at - outcome.previous < min_window():
                return []
            async with self._transaction() as session:
                described = self._describe(await self._cache.registry(session))
                day = timeline.local_day(outcome.at, self._settings.tz)
                windows = await connection_windows(session, described, [outcome.unit_id], day)
            return connection_drafts(described, [contact], windows, "heartbeat")
        written = outcome.written
        assert written is not None
        described = self._describe(written.registry)
        drafts = observation_drafts(described, written, outcome.now, outcome.imported)
        drafts += series_drafts(described, written, outcome.now, self._expectations)
        drafts += outlier_drafts(described, written)
        contacts = written.counts.contacts
        if contacts:
            try:
                async with self._transaction() as session:
                    day = timeline.local_day(outcome.now, self._settings.tz)
                    windows = await connection_windows(
                        session, described, (c.unit_id for c in contacts), day
                    )
            except Exception as exc:  # the batch's other events still go out
                log.warning("no connection events: obligations unavailable: %s", exc)
                return drafts
            via: Via = "import" if outcome.imported else "push"
            drafts += connection_drafts(described, contacts, windows, via)
        return drafts

    def _describe(self, copy: RegistryCopy) -> _Described:
        if self._described is None or self._described.copy is not copy:
            self._described = _Described(copy, self._settings)
        return self._described


def min_window() -> timedelta:
    """No connection window is shorter: a day (the shortest cadence), plus a grace ≥ 0."""
    return connection_window([Schedule(Cadence.DAILY, timedelta(0))]).length


@dataclass
class Stream:
    """The bus and the publisher of one process, started and stopped by the app's lifespan."""

    bus: EventBus
    publisher: Publisher

    @classmethod
    def create(
        cls,
        settings: Settings,
        cache: IngestCache,
        sessions: async_sessionmaker[AsyncSession],
        transaction: Transaction,
    ) -> "Stream":
        bus: EventBus
        if settings.is_sqlite:
            bus = LocalBus(settings.stream_retention)
        else:
            bus = PostgresBus(
                settings.database_url,
                settings.stream_retention,
                timeout=settings.db_timeout_seconds,
            )
        # Every session of the app can then publish what it commits (publish_after_commit).
        sessions.configure(info={SESSION_BUS: bus})
        return cls(bus, Publisher(bus, cache, transaction, settings))

    async def start(self) -> None:
        await self.bus.start()
        await self.publisher.start()

    def announce(self, event_type: str, data: dict[str, object]) -> None:
        """Publish an event for every key that reads the stream, whatever its area (the
        webhook dispatcher's ``endpoint.disabled``)."""
        self.bus.publish([Draft(event_type, None, _json(data))])

    async def stop(self) -> None:
        await self.publisher.stop()
        await self.bus.stop()


# --- the feed ---------------------------------------------------------------------------------


def encode(event: Event) -> bytes:
    """One event in the SSE wire format."""
    head = f"id: {event.id}\n" if event.id is not None else ""
    return f"{head}event: {event.type}\ndata: {event.data}\n\n".encode()


async def feed(
    bus: EventBus, principal: Principal, last_event_id: str | None, keepalive: float
) -> AsyncIterator[bytes]:
    """The SSE body for one key: its area's events, after ``last_event_id`` when given, with a
    comment every ``keepalive`` seconds of silence so proxies keep the connection open."""

    def in_area(event: Event) -> bool:
        return event.unit is None or principal.covers(event.unit)

    subscription = bus.subscribe(last_event_id, in_area)
    try:
        # The subscription is live from here on: a client may rely on having it once it reads
        # this first line.
        yield f"retry: {RETRY_MS}\n: connected\n\n".encode()
        for missed in subscription.backlog:
            yield encode(missed)
        while True:
            event = await subscription.get(keepalive)
            if event is not None:
                yield encode(event)
            elif subscription.closed:
                return
            else:
                yield b": keep-alive\n\n"
    finally:
        subscription.close()
