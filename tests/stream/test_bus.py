"""The bus's ring without a database: resuming, retention, slow subscribers, and PostgresBus'
packing and undecoded keeping of notifications (fed by hand here; tests/stream/test_stream.py
and test_processes.py run it over a real LISTEN/NOTIFY)."""

import pytest

from ioc_hub.access.principal import UnitRef
from ioc_hub.models import UnitKind
from ioc_hub.stream.bus import (
    EVENTS_PER_MESSAGE,
    Draft,
    Event,
    LocalBus,
    PostgresBus,
    _pack,
)

UNIT = UnitRef(id=7, code="25741", kind=UnitKind.COMMUNE, parent_id=3)


def drafts(count: int, start: int = 0) -> list[Draft]:
    return [Draft("observations", UNIT, f'{{"n":{n}}}') for n in range(start, start + count)]


def everything(_: Event) -> bool:
    return True


async def test_local_bus_resumes_after_an_id_and_resets_beyond_retention() -> None:
    bus = LocalBus(retention=5)
    await bus.start()
    bus.publish(drafts(3))
    first = bus.subscribe(None, everything)
    assert first.backlog == []
    bus.publish(drafts(2, start=3))
    ids = [e.id for e in bus._ring]
    assert ids == sorted(ids)

    resumed = bus.subscribe(str(ids[1]), everything)
    assert [e.data for e in resumed.backlog] == ['{"n":2}', '{"n":3}', '{"n":4}']

    bus.publish(drafts(3, start=5))  # the ring keeps 5: ids[0..2] are gone
    assert [e.type for e in bus.subscribe(str(ids[1]), everything).backlog] == ["reset"]
    assert bus.subscribe(str(ids[2]), everything).backlog[0].data == '{"n":3}'
    await bus.stop()
    assert first.closed
    assert bus.subscriber_count == 0


async def test_a_subscriber_too_far_behind_is_closed() -> None:
    bus = LocalBus(retention=100, subscriber_limit=3)
    await bus.start()
    slow = bus.subscribe(None, everything)
    bus.publish(drafts(4))
    assert slow.closed
    assert bus.subscriber_count == 0


def test_packing_keeps_notifications_small_and_in_order() -> None:
    big = [Draft("observations", UNIT, '{"pad":"' + "x" * 3000 + '"}') for _ in range(5)]
    messages = _pack([*drafts(EVENTS_PER_MESSAGE + 1), *big])
    # 64 small ones; the 65th with two big ones; then two big ones; then the last.
    assert [m.count("\n") // 2 + 1 for m in messages] == [EVENTS_PER_MESSAGE, 3, 2, 1]
    assert all(len(m.encode()) < 7900 for m in messages)
    oversized = Draft("observations", UNIT, '{"pad":"' + "x" * 8000 + '"}')
    assert _pack([oversized]) == []


@pytest.fixture
def pg_bus() -> PostgresBus:
    """A PostgresBus that is never started: notifications are handed to it directly."""
    return PostgresBus("postgresql+asyncpg://nobody@127.0.0.1/none", retention=100)


def test_notifications_wait_undecoded_until_someone_subscribes(pg_bus: PostgresBus) -> None:
    messages = _pack(drafts(150))  # 64 + 64 + 22 events
    for message_id, message in enumerate(messages, start=10):
        pg_bus._received(message_id, message)
    assert not pg_bus._ring, "nothing decoded without a subscriber"
    # Retention counts undecoded events too, dropping whole notifications: 150 > 100.
    assert pg_bus._raw_events == 86

    first_kept = 11 * EVENTS_PER_MESSAGE
    subscription = pg_bus.subscribe(str(first_kept + 9), everything)
    assert len(subscription.backlog) == 76
    assert subscription.backlog[0].id == first_kept + 10
    assert subscription.backlog[0].unit == UNIT
    assert subscription.backlog[-1].data == '{"n":149}'
    resumed = pg_bus.subscribe(str(first_kept - 1), everything)
    assert len(resumed.backlog) == 86, "from the floor on, nothing is missing"
    assert [e.type for e in pg_bus.subscribe(str(first_kept - 2), everything).backlog] == ["reset"]

    # With subscribers, notifications are decoded as they come.
    pg_bus._received(20, _pack(drafts(1, start=999))[0])
    assert pg_bus._ring[-1].id == 20 * EVENTS_PER_MESSAGE
    assert pg_bus._ring[-1].data == '{"n":999}'
