"""``ioc-hub simulate``: plays every unit of the registry against a running hub over HTTP.

A run reads the registry, the catalogue and the obligations from the hub, mints one key per
reporting unit, then delivers each value at the time the scenario says it arrives:

- values that arrived before the run (``--backfill DAYS`` of history) go through the admin
  import, ``POST /api/v1/imports``, stamped with the time they arrived;
- the rest are pushed by the units themselves, with their own keys, ``POST /api/v1/observations``.
  Without ``--live`` that is one round for the periods that have ended and are not yet in
  (values meant to be late stay back), then a heartbeat from every unit that pushed nothing,
  so the coverage table is right when the run ends. With ``--live`` the units keep pushing as
  their values fall due and send heartbeats in between.

The hub keeps real time and refuses periods that have not ended, so a compressed live run
(``--speed``) cannot run ahead of it: its clock starts ``duration × speed`` (at most two days)
in the past, runs ``speed`` times faster until it meets the hub's clock, then keeps real time.
Values pushed during that catch-up are stamped by the hub when they arrive, so those whose
deadline fell inside the replayed stretch count as late.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import re
import signal
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import httpx
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from ioc_hub.kit.periods import Cadence, Period
from ioc_hub.seed import RegistryName
from ioc_hub.simulate.client import HubClient, PushOutcome, SimulationError
from ioc_hub.simulate.scenario import (
    KINDS,
    Behaviour,
    FaultRates,
    IndicatorSpec,
    ObligationSpec,
    Plan,
    PlannedRow,
    Scenario,
    UnitSpec,
)

T = TypeVar("T")

MAX_BATCH = 1000
# The longest stretch of the past a compressed live run replays before it meets real time.
MAX_REPLAY = timedelta(days=2)
# A unit with nothing to push says it is alive this often (simulated time)...
HEARTBEAT_EVERY = timedelta(minutes=15)
# ...but no more often than this in real seconds, so a fast run does not flood the hub.
HEARTBEAT_MIN_SECONDS = 15.0
LIVE_TICK_SECONDS = 0.5
# A duplicate is sent again this long after the original (simulated time).
DUPLICATE_DELAY = timedelta(minutes=30)
WRITE_SCOPE = "observations:write"


@dataclass(frozen=True)
class Options:
    url: str
    admin_key: str
    scenario: Scenario
    seed: int
    backfill_days: int
    live: bool
    speed: float
    duration: float | None
    faults: FaultRates
    timezone: str
    concurrency: int = 4
    batch_size: int = MAX_BATCH
    keep_keys: bool = False
    indicators: frozenset[str] | None = None
    """Only these indicators' series (none: every obliged indicator)."""
    import_only: bool = False
    """Import the backfill and stop: no unit keys, no pushes, no heartbeats."""
    registry: RegistryName | None = None
    """The registry the hub must hold (none: whichever it holds)."""


@dataclass
class Tally:
    """Counts of everything sent and what the hub made of it."""

    planned: int = 0
    """Rows of the periods that had ended when the run started, sent or not."""
    imported: int = 0
    pushed: int = 0
    duplicates: int = 0
    missing: int = 0
    held_back: int = 0
    heartbeats: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    superseded: int = 0
    rejected: int = 0
    failed: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)

    def add(self, outcomes: Iterable[PushOutcome]) -> int:
        """Count outcomes; returns how many rows the hub accepted."""
        accepted = 0
        for o in outcomes:
            self.created += o.created
            self.updated += o.updated
            self.unchanged += o.unchanged
            self.superseded += o.superseded
            self.rejected += o.rejected
            self.reasons.update(reason_kind(r) for r in o.reasons)
            if o.problem is not None:
                self.failed += o.rows
                self.failures[o.problem] += o.rows
            accepted += o.accepted
        return accepted


_QUOTED = re.compile(r"'[^']*'")
_NUMBERS = re.compile(r"-?\d[\d.:+\-TWQ]*")
_ASIDE = re.compile(r"\s*\([^)]*\)$")


def reason_kind(reason: str) -> str:
    """A rejection reason without its particulars, so reasons can be counted together."""
    return _NUMBERS.sub("#", _QUOTED.sub("'…'", _ASIDE.sub("", reason)))


@dataclass(frozen=True, slots=True)
class CoverageAt:
    """Coverage per kind as of a past instant, as the hub answers it and as the run expects it
    (connected, registered)."""

    at: datetime
    coverage: dict[str, tuple[int, int]]
    expected: dict[str, tuple[int, int]]


def coverage_by_kind(report: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """(connected, registered) per kind of a ``GET /api/v1/coverage`` answer."""
    kinds = report.get("kinds", {})
    return {
        k: (int(kinds[k]["connected"]), int(kinds[k]["registered"])) for k in KINDS if k in kinds
    }


@dataclass
class Summary:
    options: Options
    plan: Plan
    started_at: datetime
    elapsed: float = 0.0
    requests: int = 0
    reached: datetime | None = None
    tally: Tally = field(default_factory=Tally)
    coverage: dict[str, tuple[int, int]] | None = None
    coverage_note: str | None = None
    # The reform scenario: the reorganisation it applied, and coverage as of instants around it.
    reorganisation: dict[str, Any] | None = None
    coverage_at: list[CoverageAt] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        t = self.tally
        silent = self.plan.units_behaving(Behaviour.SILENT)
        late = self.plan.units_behaving(Behaviour.LATE)
        return {
            "url": self.options.url,
            "scenario": self.options.scenario.value,
            "seed": self.options.seed,
            "backfill_days": self.options.backfill_days,
            "live": self.options.live,
            "speed": self.options.speed,
            "faults": dict(self.options.faults.items()),
            "started_at": self.started_at.isoformat(),
            "reached": self.reached.isoformat() if self.reached else None,
            "elapsed_seconds": round(self.elapsed, 2),
            "requests": self.requests,
            "units": {
                "reporting": len(self.plan.reporting_units),
                "silent": [u.code for u in silent],
                "late": [u.code for u in late],
            },
            "series": len(self.plan.series),
            "rows": {
                "planned": t.planned,
                "imported": t.imported,
                "pushed": t.pushed,
                "duplicates": t.duplicates,
                "missing": t.missing,
                "held_back": t.held_back,
                "failed": t.failed,
            },
            "heartbeats": t.heartbeats,
            "accepted": {
                "created": t.created,
                "updated": t.updated,
                "unchanged": t.unchanged,
                "superseded": t.superseded,
            },
            "rejected": t.rejected,
            "rejected_by_reason": dict(t.reasons.most_common()),
            "failures": dict(t.failures),
            "expected_coverage": {k: list(v) for k, v in self.plan.expected_coverage().items()},
            "coverage": {k: list(v) for k, v in self.coverage.items()} if self.coverage else None,
            "coverage_note": self.coverage_note,
            "reorganisation": self.reorganisation,
            "coverage_at": {
                c.at.isoformat(): {
                    "coverage": {k: list(v) for k, v in c.coverage.items()},
                    "expected": {k: list(v) for k, v in c.expected.items()},
                }
                for c in self.coverage_at
            },
        }


async def _bounded(limit: int, jobs: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
    """Run ``jobs`` with at most ``limit`` in flight; results in order."""
    gate = asyncio.Semaphore(limit)

    async def one(job: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await job()

    return list(await asyncio.gather(*(one(j) for j in jobs)))


def batches_by_area(rows: Iterable[PlannedRow], size: int) -> list[list[PlannedRow]]:
    """Rows in batches of at most ``size``, a district (with its communes) in one batch where it
    fits, so each request touches as few districts as possible."""
    groups: dict[str, list[PlannedRow]] = defaultdict(list)
    for row in rows:
        groups[row.area].append(row)
    batches: list[list[PlannedRow]] = []
    current: list[PlannedRow] = []
    for area in sorted(groups):
        group = sorted(groups[area], key=lambda r: (r.unit, r.indicator, r.period.start))
        if current and len(current) + len(group) > size:
            batches.append(current)
            current = []
        for row in group:
            if len(current) == size:
                batches.append(current)
                current = []
            current.append(row)
    if current:
        batches.append(current)
    return batches


def _import_payload(row: PlannedRow, received_at: datetime) -> dict[str, Any]:
    return {**row.payload, "received_at": received_at.isoformat()}


def _units(raw: list[dict[str, Any]]) -> list[UnitSpec]:
    return [
        UnitSpec(code=u["code"], name=u["name"], kind=u["kind"], parent=u.get("parent"))
        for u in raw
        if u.get("active", True)
    ]


def _indicators(raw: list[dict[str, Any]]) -> dict[str, IndicatorSpec]:
    return {
        i["code"]: IndicatorSpec(
            code=i["code"],
            group=i["group"],
            cadence=Cadence(i["cadence"]),
            measurement_unit=i["measurement_unit"],
            time_aggregation=i["time_aggregation"],
            min_value=i.get("min_value"),
            max_value=i.get("max_value"),
            grace=timedelta(seconds=i["grace_seconds_effective"]),
        )
        for i in raw
        if i.get("active", True)
    }


@dataclass(frozen=True, slots=True)
class Registry:
    """What the hub lists: its units, its active indicators and its obligations."""

    units: list[UnitSpec]
    indicators: dict[str, IndicatorSpec]
    obligations: list[ObligationSpec]


def _obligations(raw: list[dict[str, Any]]) -> list[ObligationSpec]:
    return [
        ObligationSpec(
            indicator=o["indicator"],
            unit=o.get("unit"),
            unit_kind=o.get("unit_kind"),
            district=o.get("district"),
        )
        for o in raw
    ]


class Runner:
    def __init__(self, options: Options, hub: HubClient, progress: Progress) -> None:
        self.options = options
        self.hub = hub
        self.progress = progress
        self.tz = ZoneInfo(options.timezone)
        self.tokens: dict[str, str] = {}
        self.key_ids: list[int] = []

    # --- setup -------------------------------------------------------------------------------

    async def load_registry(self, day: date | None = None) -> Registry:
        """The hub's units (with ``day``, its tree as of that day), indicators and obligations."""
        raw_units, raw_indicators, raw_obligations = await asyncio.gather(
            self.hub.list_all("/api/v1/units", {"at": day.isoformat()} if day else None),
            self.hub.list_all("/api/v1/indicators"),
            self.hub.list_all("/api/v1/obligations"),
        )
        return Registry(
            _units(raw_units), _indicators(raw_indicators), _obligations(raw_obligations)
        )

    def plan(self, registry: Registry) -> Plan:
        """Who reports what over ``registry``, in this run's scenario."""
        expected = self.options.registry
        if expected is not None:
            national = any(u.kind == "nation" for u in registry.units)
            if national != (expected is RegistryName.VIETNAM_2025):
                raise SimulationError(
                    f"the hub does not hold the {expected} registry: seed it into an empty "
                    f"database with `ioc-hub seed --registry {expected}`"
                )
        indicators = registry.indicators
        if self.options.indicators is not None:
            unknown = sorted(self.options.indicators - indicators.keys())
            if unknown:
                raise SimulationError(
                    f"the hub has no active indicator {', '.join(unknown)}: see GET "
                    "/api/v1/indicators"
                )
            indicators = {c: i for c, i in indicators.items() if c in self.options.indicators}
        plan = Plan(
            registry.units,
            indicators,
            registry.obligations,
            scenario=self.options.scenario,
            faults=self.options.faults,
            seed=self.options.seed,
            tz=self.tz,
        )
        if not plan.units:
            raise SimulationError("the hub's registry has no units: run `ioc-hub seed` first")
        return plan

    async def load_plan(self) -> Plan:
        return self.plan(await self.load_registry())

    async def mint_keys(self, plan: Plan) -> None:
        """A key for each reporting unit of ``plan`` that has none yet."""
        units = [u for u in plan.reporting_units if u.code not in self.tokens]
        if not units:
            return
        task = self.progress.add_task("minting keys", total=len(units))
        label = f"simulate {self.options.scenario.value}"

        def mint(unit: UnitSpec) -> Callable[[], Awaitable[None]]:
            async def job() -> None:
                key_id, token = await self.hub.create_key(unit.code, [WRITE_SCOPE], label)
                self.key_ids.append(key_id)
                self.tokens[unit.code] = token
                self.progress.advance(task)

            return job

        await _bounded(self.options.concurrency * 2, [mint(u) for u in units])

    async def revoke_keys(self) -> None:
        ids, self.key_ids = self.key_ids, []
        task = self.progress.add_task("revoking keys", total=len(ids))
        left: list[int] = []

        def revoke(key_id: int) -> Callable[[], Awaitable[None]]:
            async def job() -> None:
                try:
                    await self.hub.revoke_key(key_id)
                except SimulationError:
                    left.append(key_id)
                self.progress.advance(task)

            return job

        await _bounded(self.options.concurrency * 2, [revoke(i) for i in ids])
        if left:
            # Said, not raised: a failure here must not hide why the run stopped.
            self.progress.console.print(
                f"[yellow]{len(left)} keys could not be revoked; revoke them with "
                f"`ioc-hub keys revoke` (ids {min(left)}..{max(left)})[/yellow]"
            )

    # --- sending -----------------------------------------------------------------------------

    async def backfill(
        self, rows: Iterable[PlannedRow], planned: int, cut: datetime, tally: Tally
    ) -> None:
        """Import the history through the admin endpoint, each row stamped with its arrival.

        ``rows`` (in series order, so a batch holds few areas) are read as they are sent, at
        most ``concurrency`` batches in flight: a year of the national registry never sits in
        memory. ``planned`` sizes the progress bar.
        """
        size = self.options.batch_size
        task = self.progress.add_task("backfill (imports)", total=planned)
        gate = asyncio.Semaphore(self.options.concurrency)
        sending: set[asyncio.Task[None]] = set()

        async def send(batch: list[dict[str, Any]]) -> None:
            try:
                tally.add(await self.hub.import_rows(batch))
                tally.imported += len(batch)
                self.progress.advance(task, len(batch))
            finally:
                gate.release()

        async def submit(batch: list[dict[str, Any]]) -> None:
            await gate.acquire()
            for done in [t for t in sending if t.done()]:
                sending.remove(done)
                done.result()  # a failed request stops the run now, not after a year of rows
            sending.add(asyncio.create_task(send(batch)))

        duplicates: list[PlannedRow] = []
        batch: list[dict[str, Any]] = []
        for row in rows:
            if row.duplicate:
                duplicates.append(row)
            batch.append(_import_payload(row, row.arrival))
            if len(batch) == size:
                await submit(batch)
                batch = []
        if batch:
            await submit(batch)
        # The second copy comes an hour later, in a batch of its own, as a resend would.
        for again in batches_by_area(duplicates, size):
            await submit(
                [_import_payload(r, min(cut, r.arrival + timedelta(hours=1))) for r in again]
            )
        tally.duplicates += len(duplicates)
        await asyncio.gather(*sending)
        self.progress.update(task, total=tally.imported)

    async def push(
        self, rows: Sequence[PlannedRow], tally: Tally, task: TaskID | None = None
    ) -> set[str]:
        """Each unit pushes its rows with its own key; returns the units the hub accepted from."""
        by_unit: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            by_unit[row.unit].append(row.payload)
        heard: set[str] = set()
        size = self.options.batch_size

        def send(unit: str, payloads: list[dict[str, Any]]) -> Callable[[], Awaitable[None]]:
            async def job() -> None:
                if tally.add(await self.hub.push(self.tokens[unit], payloads)):
                    heard.add(unit)
                tally.pushed += len(payloads)
                if task is not None:
                    self.progress.advance(task, len(payloads))

            return job

        jobs = [
            send(unit, payloads[i : i + size])
            for unit, payloads in by_unit.items()
            for i in range(0, len(payloads), size)
        ]
        await _bounded(self.options.concurrency, jobs)
        return heard

    async def heartbeats(self, units: Iterable[str], tally: Tally) -> set[str]:
        heard: set[str] = set()

        def beat(unit: str) -> Callable[[], Awaitable[None]]:
            async def job() -> None:
                if await self.hub.heartbeat(self.tokens[unit]):
                    heard.add(unit)
                    tally.heartbeats += 1

            return job

        await _bounded(self.options.concurrency, [beat(u) for u in units])
        return heard

    # --- the two ways of ending a run ---------------------------------------------------------

    async def once(
        self, plan: Plan, due: list[PlannedRow], later: list[PlannedRow], tally: Tally
    ) -> None:
        """Push what has ended and is not meant to be late, once; then everyone says hello."""
        now_rows = due + [r for r in later if not r.late]
        tally.held_back += sum(1 for r in later if r.late)
        duplicates = [r for r in now_rows if r.duplicate]
        task = self.progress.add_task(
            "pushing current periods", total=len(now_rows) + len(duplicates)
        )
        heard = await self.push(now_rows, tally, task)
        tally.duplicates += len(duplicates)
        await self.push(duplicates, tally, task)
        silent_so_far = [u.code for u in plan.reporting_units if u.code not in heard]
        await self.heartbeats(silent_so_far, tally)

    async def live(
        self,
        plan: Plan,
        due: list[PlannedRow],
        later: list[PlannedRow],
        cut: datetime,
        start: datetime,
        tally: Tally,
    ) -> datetime:
        """Push values as they fall due and heartbeats in between, until the duration is up or
        the process is interrupted; returns the simulated instant reached."""
        options = self.options
        queue: list[tuple[datetime, int, bool, PlannedRow]] = []
        sequence = 0

        def enqueue(row: PlannedRow) -> None:
            nonlocal sequence
            heapq.heappush(queue, (row.arrival, sequence, False, row))
            sequence += 1
            if row.duplicate:
                heapq.heappush(queue, (row.arrival + DUPLICATE_DELAY, sequence, True, row))
                sequence += 1

        for row in [*due, *later]:
            enqueue(row)
        # All of ``due`` arrived before the clock starts: it goes out on the first tick.
        sim = cut
        generated_until = start
        last_contact: dict[str, datetime] = {}
        beat_every = max(HEARTBEAT_EVERY, timedelta(seconds=HEARTBEAT_MIN_SECONDS * options.speed))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        handled = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
                handled.append(sig)
            except (NotImplementedError, RuntimeError):  # not the main thread, or Windows
                pass
        task = self.progress.add_task("live", total=options.duration)
        began = time.monotonic()
        try:
            while not stop.is_set():
                elapsed = time.monotonic() - began
                if options.duration is not None:
                    # The last tick lands exactly on the end, so the run reaches its horizon.
                    elapsed = min(elapsed, options.duration)
                sim = min(datetime.now(UTC), cut + timedelta(seconds=elapsed * options.speed))
                # Every period ends at a local midnight: no midnight crossed, no new period.
                if Period.containing(sim, Cadence.DAILY, self.tz) != Period.containing(
                    generated_until, Cadence.DAILY, self.tz
                ):
                    for row in plan.rows_between(generated_until, sim):
                        if row.missing:
                            tally.missing += 1
                        else:
                            enqueue(row)
                generated_until = max(generated_until, sim)
                now_rows: list[PlannedRow] = []
                resent: list[PlannedRow] = []
                while queue and queue[0][0] <= sim:
                    _, _, duplicate, row = heapq.heappop(queue)
                    (resent if duplicate else now_rows).append(row)
                tally.duplicates += len(resent)
                heard = await self.push([*now_rows, *resent], tally)
                for unit in heard:
                    last_contact[unit] = sim
                quiet = [
                    u.code
                    for u in plan.reporting_units
                    if u.code not in last_contact or sim - last_contact[u.code] >= beat_every
                ]
                for unit in await self.heartbeats(quiet, tally):
                    last_contact[unit] = sim
                local = sim.astimezone(self.tz)
                self.progress.update(
                    task,
                    completed=elapsed if options.duration is not None else None,
                    description=f"live · {local:%Y-%m-%d %H:%M} local · {len(queue)} queued",
                )
                if options.duration is not None and elapsed >= options.duration:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), LIVE_TICK_SECONDS)
        finally:
            for sig in handled:
                loop.remove_signal_handler(sig)
        tally.held_back += sum(1 for _, _, duplicate, _ in queue if not duplicate)
        return sim

    async def read_coverage(self, plan: Plan, summary: Summary) -> None:
        try:
            report = await self.hub.coverage()
        except SimulationError as exc:
            summary.coverage_note = f"unavailable: {exc}"
            return
        if report is None:
            summary.coverage_note = "unavailable: this hub has no GET /api/v1/coverage"
            return
        summary.coverage = coverage_by_kind(report)
        expected = plan.expected_coverage()
        more = [k for k, (c, _) in summary.coverage.items() if c > expected[k][0]]
        fewer = [k for k, (c, _) in summary.coverage.items() if c < expected[k][0]]
        if more:
            summary.coverage_note = (
                f"more {', '.join(more)} connected than this run reports for: units it keeps "
                "silent were heard from recently (an earlier run, or real senders)"
            )
        elif fewer:
            summary.coverage_note = (
                f"fewer {', '.join(fewer)} connected than expected: see the failures above"
            )


def _arrived(
    rows: Iterable[PlannedRow], cut: datetime, tally: Tally, later: list[PlannedRow]
) -> Iterator[PlannedRow]:
    """The rows that arrived by ``cut``, as they are read; the others are kept in ``later`` and
    missing ones only counted."""
    for row in rows:
        tally.planned += 1
        if row.missing:
            tally.missing += 1
        elif row.arrival <= cut:
            yield row
        else:
            later.append(row)


def replay_span(options: Options) -> timedelta:
    """How far in the past a compressed live run starts its clock (see the module docstring)."""
    if not options.live or options.speed <= 1:
        return timedelta(0)
    if options.duration is None:
        return MAX_REPLAY
    return min(MAX_REPLAY, timedelta(seconds=options.duration * options.speed))


@contextlib.asynccontextmanager
async def connected(
    options: Options,
    progress_console: Console,
    transport: httpx.AsyncBaseTransport | None = None,
) -> AsyncIterator[Runner]:
    """A runner talking to the hub at ``options.url`` (through ``transport`` when given), with
    its progress bars on ``progress_console``."""
    async with HubClient(
        options.url, options.admin_key, concurrency=options.concurrency, transport=transport
    ) as hub:
        await hub.check()
        progress = Progress(
            SpinnerColumn(),
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=progress_console,
        )
        with progress:
            yield Runner(options, hub, progress)


async def simulate(options: Options, progress_console: Console) -> Summary:
    """One emulator run against the hub at ``options.url``."""
    began = time.monotonic()
    start = datetime.now(UTC)
    async with connected(options, progress_console) as runner:
        plan = await runner.load_plan()
        summary = Summary(options=options, plan=plan, started_at=start)
        tally = summary.tally
        cut = start - replay_span(options)
        # A replay needs the periods that end inside it, backfill or not.
        history_start = min(cut, start - timedelta(days=options.backfill_days))
        due: list[PlannedRow] = []
        later: list[PlannedRow] = []
        arrived = _arrived(plan.initial_rows(history_start, start), cut, tally, later)
        if not options.import_only:
            await runner.mint_keys(plan)
        try:
            if options.backfill_days > 0:
                planned = plan.initial_row_count(history_start, start)
                await runner.backfill(arrived, planned, cut, tally)
            else:
                due = list(arrived)
            if options.import_only:
                tally.held_back += len(later)
                summary.reached = start
                summary.coverage_note = "not read: an import-only run connects no unit"
            elif options.live:
                summary.reached = await runner.live(plan, due, later, cut, start, tally)
            else:
                await runner.once(plan, due, later, tally)
                summary.reached = start
            if not options.import_only:
                await runner.read_coverage(plan, summary)
        finally:
            if not options.keep_keys:
                await runner.revoke_keys()
        summary.requests = runner.hub.requests
    summary.elapsed = time.monotonic() - began
    return summary


def render(summary: Summary, console: Console) -> None:
    """The summary tables: what was sent, what the hub made of it, and the coverage table."""
    options, plan, t = summary.options, summary.plan, summary.tally
    run = Table(title="ioc-hub simulate", show_header=False, title_justify="left")
    run.add_column(style="bold")
    run.add_column()
    run.add_row("hub", options.url)
    run.add_row("scenario", f"{options.scenario.value} (seed {options.seed})")
    mode = f"live, speed {options.speed:g}" if options.live else "once"
    run.add_row("history", f"{options.backfill_days} days backfilled · {mode}")
    run.add_row(
        "faults", ", ".join(f"{k.replace('_', '-')} {v:g}" for k, v in options.faults.items())
    )
    run.add_row("units", f"{len(plan.reporting_units)} of {len(plan.units)} reporting")
    for label, behaviour in (("silent", Behaviour.SILENT), ("late", Behaviour.LATE)):
        chosen = plan.units_behaving(behaviour)
        if chosen:
            shown = "; ".join(f"{u.code} {u.name}" for u in chosen[:8])
            more = f"; … {len(chosen) - 8} more" if len(chosen) > 8 else ""
            run.add_row(f"{label} units", shown + more)
    run.add_row("series", f"{len(plan.series)} of {plan.obligated} obligations reported")
    run.add_row("time", f"{summary.elapsed:.1f} s, {summary.requests} requests")
    console.print(run)

    rows = Table(title="rows", title_justify="left")
    rows.add_column("")
    rows.add_column("rows", justify="right")
    for label, count in (
        ("planned (periods ended at the start)", t.planned),
        ("imported (backfill)", t.imported),
        ("pushed by units", t.pushed),
        ("second copies of duplicates (in the above)", t.duplicates),
        ("accepted: created", t.created),
        ("accepted: updated", t.updated),
        ("accepted: unchanged", t.unchanged),
        ("accepted: superseded in batch", t.superseded),
        ("rejected", t.rejected),
        ("failed requests (rows)", t.failed),
        ("missing (never sent)", t.missing),
        ("still to come when the run ended", t.held_back),
        ("heartbeats", t.heartbeats),
    ):
        rows.add_row(label, f"{count:,}")
    console.print(rows)

    for title, column, counter in (
        ("rejected by reason", "reason", t.reasons),
        ("failed requests", "error", t.failures),
    ):
        if counter:
            listed = Table(title=title, title_justify="left")
            listed.add_column(column)
            listed.add_column("rows", justify="right")
            for name, count in counter.most_common():
                listed.add_row(name, f"{count:,}")
            console.print(listed)

    if summary.reorganisation is not None:
        event = summary.reorganisation
        console.print(
            f"reorganisation {event['id']} applied on {event['effective']}: {event['name']} "
            f"({event['ended']} units end, {event['started']} start, {event['edges']} lineage "
            "edges)"
        )
    tables = [
        (f"coverage as of {c.at.isoformat()} (GET /api/v1/coverage?at=…)", c.coverage, c.expected)
        for c in summary.coverage_at
    ]
    if not tables:
        tables = [
            (
                "coverage (GET /api/v1/coverage)",
                summary.coverage or {},
                plan.expected_coverage(),
            )
        ]
    for title, got, expected in tables:
        coverage = Table(title=title, title_justify="left")
        coverage.add_column("kind")
        coverage.add_column("connected", justify="right")
        coverage.add_column("this run expects", justify="right")
        for kind in KINDS:
            if kind in got or kind in expected:
                coverage.add_row(kind, _ratio(got.get(kind)), _ratio(expected.get(kind)))
        console.print(coverage)
    if summary.coverage_note:
        console.print(f"coverage: {summary.coverage_note}")


def _ratio(counts: tuple[int, int] | None) -> str:
    return f"{counts[0]}/{counts[1]}" if counts else "—"
