"""``ioc-hub simulate --scenario reform``: the article's province through the 1 July 2025
reorganisation (docs/design.md §8).

The play covers 2025-06-01 to 2025-07-31 on the hub's own clock, hour by hour. Each unit's
system sends once a night, at an hour of its own between 01:00 and 06:00 local, everything whose
period has ended (a value meant to be late waits for the first night after its deadline): at
that hour the hub's clock is set to it and the unit pushes with its own key. One request per unit
and night keeps two months of a province to a few thousand requests.

On the effective day D the registry switches: the play applies the shipped event (``GET`` then
``POST /api/v1/reorganisations``), and from then on the units of the new map (the hub's tree as
of D) report, over the obligations the hub lists then. The old units still send the values of
their last periods, which arrive after D.

The hub stamps every value with its clock, so coverage as of any instant of the span is what it
would have been on that day. A hub serving real traffic keeps real time: the play therefore
runs the hub in its own process, on the hub's database (:func:`hub_in_process`), and afterwards
``ioc-hub serve`` on that database shows it.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, tzinfo
from datetime import time as clock_time

import httpx
from rich.console import Console

from ioc_hub.app import create_app
from ioc_hub.config import Settings
from ioc_hub.simulate.client import SimulationError
from ioc_hub.simulate.runner import (
    DUPLICATE_DELAY,
    CoverageAt,
    Options,
    Runner,
    Summary,
    Tally,
    connected,
    coverage_by_kind,
)
from ioc_hub.simulate.scenario import Plan, PlannedRow
from ioc_hub.simulate.scenario import _uniform as uniform

BUILTIN = "binh-duong-2025"
FIRST_DAY = date(2025, 6, 1)
LAST_DAY = date(2025, 7, 31)
TICK = timedelta(hours=1)
# The local hours units send at; each unit has one (from the seed), after the midnight that
# ends every period and well before the next one, where a daily value falls due.
SEND_HOURS = (1, 2, 3, 4, 5, 6)
# Periods that ended this long before the play may still arrive in it (a yearly grace is 30 days).
LOOKBACK = timedelta(days=62)
# The coverage tables read afterwards: noon on the day before D and on the day after it.
TABLE_HOUR = clock_time(12)

MoveClock = Callable[[datetime | None], None]
"""Sets the hub's clock to an instant, or back to real time with ``None``."""


def midnight(day: date, tz: tzinfo) -> datetime:
    """The instant ``day`` begins in the province."""
    return datetime.combine(day, clock_time(), tz).astimezone(UTC)


def table_instants(effective: date, tz: tzinfo) -> tuple[datetime, datetime]:
    """Noon of the last day of the old map, and of the second day of the new one."""
    day = timedelta(days=1)
    return (
        datetime.combine(effective - day, TABLE_HOUR, tz),
        datetime.combine(effective + day, TABLE_HOUR, tz),
    )


def send_hour(unit: str, seed: int) -> int:
    """The local hour ``unit``'s system sends at each night."""
    return SEND_HOURS[int(uniform(seed, unit, "send hour") * len(SEND_HOURS))]


def nightly(row: PlannedRow, hour: int, tz: tzinfo) -> PlannedRow:
    """``row`` as a nightly sender sends it: at ``hour`` on the first night after its period
    ends, or, if it is meant to be late, after it would have arrived."""
    ready = row.arrival if row.late else row.period.end_at(tz)
    local = ready.astimezone(tz)
    sent = datetime.combine(local.date(), clock_time(hour), tz)
    if sent < local:
        sent += timedelta(days=1)
    return replace(row, arrival=sent.astimezone(UTC))


def played_rows(
    plan: Plan, ending_after: datetime, ending_by: datetime, start: datetime, end: datetime
) -> list[PlannedRow]:
    """The rows of periods that end in (``ending_after``, ``ending_by``], as nightly senders
    send them, of those sent in (``start``, ``end``]; missing ones included (flagged)."""
    hours = {u.code: send_hour(u.code, plan.seed) for u in plan.units}
    sent = (nightly(r, hours[r.unit], plan.tz) for r in plan.rows_between(ending_after, ending_by))
    return [row for row in sent if start < row.arrival <= end]


def ticks(start: datetime, end: datetime) -> Iterator[datetime]:
    """The instants the hub's clock is set to: every :data:`TICK` after ``start`` up to ``end``."""
    tick = start + TICK
    while tick <= end:
        yield tick
        tick += TICK


class Deliveries:
    """Rows waiting for their arrival, second copies of duplicates included."""

    def __init__(self) -> None:
        self._queue: list[tuple[datetime, int, bool, PlannedRow]] = []
        self._order = itertools.count()  # ties leave in the order they came

    def add(self, rows: Iterable[PlannedRow]) -> None:
        for row in rows:
            self._push(row.arrival, False, row)
            if row.duplicate:
                self._push(row.arrival + DUPLICATE_DELAY, True, row)

    def _push(self, at: datetime, duplicate: bool, row: PlannedRow) -> None:
        heapq.heappush(self._queue, (at, next(self._order), duplicate, row))

    def due(self, by: datetime) -> tuple[list[PlannedRow], int]:
        """The rows arrived by ``by``, and how many of them are second copies."""
        rows: list[PlannedRow] = []
        copies = 0
        while self._queue and self._queue[0][0] <= by:
            _, _, duplicate, row = heapq.heappop(self._queue)
            rows.append(row)
            copies += duplicate
        return rows, copies

    def left(self) -> int:
        """Rows still to come (their second copies not counted)."""
        return sum(1 for _, _, duplicate, _ in self._queue if not duplicate)


class Play:
    """One run of the reform over a runner whose hub's clock ``move_clock`` sets."""

    def __init__(self, runner: Runner, move_clock: MoveClock) -> None:
        self.runner = runner
        self.move_clock = move_clock
        self.tz = runner.tz

    async def run(self, started_at: datetime) -> Summary:
        runner, hub = self.runner, self.runner.hub
        if await hub.reorganisations():
            raise SimulationError(
                "this hub's registry has been reorganised already: the reform scenario plays "
                "the 2025 reorganisation onto the seeded registry (`ioc-hub seed` on an empty "
                "database)"
            )
        event = await hub.builtin_reorganisation(BUILTIN)
        effective = date.fromisoformat(event["effective"])
        before = runner.plan(await runner.load_registry(effective - timedelta(days=1)))
        summary = Summary(options=runner.options, plan=before, started_at=started_at)
        tally = summary.tally
        start, switch = midnight(FIRST_DAY, self.tz), midnight(effective, self.tz)
        end = midnight(LAST_DAY + timedelta(days=1), self.tz)
        if not start < switch < end:
            raise SimulationError(f"{event['name']} takes effect outside the play, on {effective}")

        deliveries = Deliveries()
        schedule(played_rows(before, start - LOOKBACK, switch, start, end), deliveries, tally)
        self.move_clock(start)
        after: Plan | None = None
        try:
            await runner.mint_keys(before)
            task = runner.progress.add_task("reform", total=len(list(ticks(start, end))))
            for tick in ticks(start, end):
                self.move_clock(tick)
                rows, copies = deliveries.due(tick)
                tally.duplicates += copies
                await runner.push(rows, tally)
                if tick == switch:
                    summary.reorganisation = await hub.reorganise(event)
                    after = runner.plan(await runner.load_registry(effective))
                    schedule(played_rows(after, switch, end, start, end), deliveries, tally)
                    await runner.mint_keys(after)
                local = tick.astimezone(self.tz)
                runner.progress.update(
                    task, advance=1, description=f"reform · {local:%Y-%m-%d %H:%M} local"
                )
            tally.held_back += deliveries.left()
            summary.reached = end
        finally:
            self.move_clock(None)
            if not runner.options.keep_keys:
                await runner.revoke_keys()
        assert after is not None  # the switch is one of the ticks
        for at, plan in zip(table_instants(effective, self.tz), (before, after), strict=True):
            report = await hub.coverage(at)
            if report is None:
                summary.coverage_note = "unavailable: this hub has no GET /api/v1/coverage"
                break
            summary.coverage_at.append(
                CoverageAt(at=at, coverage=coverage_by_kind(report), expected=expected(plan))
            )
        return summary


def schedule(rows: list[PlannedRow], deliveries: Deliveries, tally: Tally) -> None:
    """Count ``rows`` as planned and queue those that are sent."""
    tally.planned += len(rows)
    tally.missing += sum(row.missing for row in rows)
    deliveries.add(row for row in rows if not row.missing)


def expected(plan: Plan) -> dict[str, tuple[int, int]]:
    """The plan's coverage once every reporting unit has been heard from, kinds it has no
    units of left out (the new map has no districts)."""
    return {kind: counts for kind, counts in plan.expected_coverage().items() if counts[1]}


@asynccontextmanager
async def hub_in_process(
    settings: Settings,
) -> AsyncIterator[tuple[httpx.ASGITransport, MoveClock]]:
    """The hub's app in this process on ``settings``' database, with a clock the play moves."""
    app = create_app(settings)

    def move_clock(instant: datetime | None) -> None:
        app.state.clock = None if instant is None else (lambda: instant)

    async with app.router.lifespan_context(app):
        yield httpx.ASGITransport(app=app), move_clock


async def simulate_reform(
    options: Options,
    progress_console: Console,
    transport: httpx.AsyncBaseTransport,
    move_clock: MoveClock,
) -> Summary:
    """Play the reform against the hub behind ``transport``, whose clock ``move_clock`` sets."""
    began = time.monotonic()
    started_at = datetime.now(UTC)
    async with connected(options, progress_console, transport) as runner:
        summary = await Play(runner, move_clock).run(started_at)
        summary.requests = runner.hub.requests
    summary.elapsed = time.monotonic() - began
    return summary
