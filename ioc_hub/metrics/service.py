"""Prometheus metrics of one hub process (``GET /metrics``).

Counters and histograms are this process's own: with several processes (``serve --workers``,
or replicas) scrape each one — as its own target — and let Prometheus sum them; a scrape of a
port shared by uvicorn workers reaches whichever worker answers. The coverage gauges are read
from the database at scrape time, so every process reports the same province-wide values.

Rejected rows are counted by :class:`ioc_hub.ingest.validation.Reason`, a fixed set of codes,
never by the free-text reason a sender sees.
"""

import asyncio
import collections
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ioc_hub.access.principal import Principal, UnitRef
from ioc_hub.config import Settings
from ioc_hub.coverage import service as coverage
from ioc_hub.coverage.rules import SeriesStatus
from ioc_hub.coverage.schemas import CoverageReport
from ioc_hub.db import Transaction
from ioc_hub.ingest.pipeline import HeartbeatOutcome, PushOutcome
from ioc_hub.ingest.rows import Reason
from ioc_hub.kit.pagination import PageParams
from ioc_hub.models import UnitKind

log = logging.getLogger(__name__)

ENDPOINTS = ("push", "import")
OUTCOMES = {
    200: "accepted",
    401: "unauthenticated",
    403: "forbidden",
    409: "conflict",
    413: "too_large",
    422: "refused",
}
"""Push outcomes by HTTP status; any other status is ``failed``, a replay is ``replayed``."""
ROW_OUTCOMES = ("created", "updated", "unchanged", "superseded", "rejected")


class CoverageGauges(Collector):
    """Series by status and units by kind, from the coverage service, as of the last refresh."""

    def __init__(self) -> None:
        self._report: CoverageReport | None = None

    async def refresh(self, transaction: Transaction, settings: Settings, now: datetime) -> None:
        # Coverage answers for a key's area; the province's area is everything.
        province = Principal(
            key_id=0,
            unit=UnitRef(id=0, code=settings.province_code, kind=UnitKind.PROVINCE, parent_id=None),
            scopes=frozenset(),
        )
        try:
            async with asyncio.timeout(settings.db_timeout_seconds), transaction() as session:
                self._report = await coverage.coverage(
                    session,
                    settings,
                    province,
                    PageParams(limit=1, offset=0),
                    filters=coverage.SeriesFilter(),
                    at_text=None,
                    now=now,
                )
        except Exception as exc:  # a scrape still answers with the process's own metrics
            log.warning("metrics: coverage unavailable: %s", exc)
            self._report = None

    def describe(self) -> Iterable[Metric]:
        return self._families(None)

    def collect(self) -> Iterable[Metric]:
        return self._families(self._report)

    @staticmethod
    def _families(report: CoverageReport | None) -> list[Metric]:
        up = GaugeMetricFamily(
            "ioc_hub_coverage_up", "1 when the coverage gauges below could be read at this scrape"
        )
        series = GaugeMetricFamily(
            "ioc_hub_series", "Obligated series by status (docs/design.md §4)", labels=["status"]
        )
        connected = GaugeMetricFamily(
            "ioc_hub_units_connected",
            "Active units heard from within their window (docs/design.md §4)",
            labels=["kind"],
        )
        registered = GaugeMetricFamily("ioc_hub_units_registered", "Active units", labels=["kind"])
        up.add_metric([], 0 if report is None else 1)
        if report is not None:
            counts = report.series.model_dump()
            for status in SeriesStatus:
                series.add_metric([status.value], counts[status.value])
            for kind, line in report.kinds.items():
                connected.add_metric([kind.value], line.connected)
                registered.add_metric([kind.value], line.registered)
        return [up, series, connected, registered]


@dataclass(frozen=True, slots=True)
class _EndpointMetrics:
    """The label sets of one endpoint (push or import), resolved once."""

    pushes: dict[str, Counter]
    rows: dict[str, Counter]
    rejected: dict[Reason, Counter]
    latency: Histogram
    batch: Histogram


class HubMetrics:
    """The metrics of one app; :meth:`observe` is an ingest observer."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
        self.pushes = Counter(
            "ioc_hub_pushes",
            "Pushes and imports by outcome: accepted (something stored, maybe with rejected "
            "rows), refused (422: nothing stored), replayed (Idempotency-Key), unauthenticated, "
            "forbidden, conflict, too_large, failed",
            ["endpoint", "outcome"],
            registry=registry,
        )
        self.rows = Counter(
            "ioc_hub_push_rows",
            "Rows of pushes and imports: created, updated, unchanged, superseded, rejected",
            ["endpoint", "outcome"],
            registry=registry,
        )
        self.rejected = Counter(
            "ioc_hub_rejected_rows",
            "Rejected rows by reason code",
            ["endpoint", "reason"],
            registry=registry,
        )
        self.latency = Histogram(
            "ioc_hub_push_seconds",
            "Time to answer a push or import, from its request to its response",
            ["endpoint"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=registry,
        )
        self.batch = Histogram(
            "ioc_hub_push_batch_rows",
            "Rows per push or import",
            ["endpoint"],
            buckets=(1, 10, 50, 100, 500, 1000, 5000, 10_000),
            registry=registry,
        )
        self.heartbeats = Counter("ioc_hub_heartbeats", "Heartbeats recorded", registry=registry)
        self.subscribers = Gauge(
            "ioc_hub_stream_subscribers",
            "Open event streams (GET /api/v1/stream) on this process",
            registry=registry,
        )
        self.reads = Counter(
            "ioc_hub_reads",
            "Requests of read-heavy routes by the database that answered them: the read "
            "replica, or the primary (none configured, or behind or unreachable)",
            ["database"],
            registry=registry,
        )
        self._reads = {True: self.reads.labels("replica"), False: self.reads.labels("primary")}
        self.coverage = CoverageGauges()
        registry.register(self.coverage)
        # Every label value from the start, so rates work before the first occurrence; each
        # label set is looked up once, as observing runs on every push.
        pushes = [*OUTCOMES.values(), "replayed", "failed"]
        self._by_endpoint = {
            endpoint: _EndpointMetrics(
                pushes={o: self.pushes.labels(endpoint, o) for o in pushes},
                rows={o: self.rows.labels(endpoint, o) for o in ROW_OUTCOMES},
                rejected={r: self.rejected.labels(endpoint, r.value) for r in Reason},
                latency=self.latency.labels(endpoint),
                batch=self.batch.labels(endpoint),
            )
            for endpoint in ENDPOINTS
        }

    def count_subscribers(self, count: Callable[[], int]) -> None:
        self.subscribers.set_function(lambda: float(count()))

    def read(self, replica: bool) -> None:
        """A read-heavy route took its session from the replica, or from the primary."""
        self._reads[replica].inc()

    def answered(self, endpoint: str, status: int, replayed: bool, seconds: float) -> None:
        """A push or import answered, whatever refused or stored it."""
        m = self._by_endpoint[endpoint]
        m.pushes["replayed" if replayed else OUTCOMES.get(status, "failed")].inc()
        m.latency.observe(seconds)

    def observe(self, outcome: PushOutcome | HeartbeatOutcome) -> None:
        """What a committed push stored and refused, row by row."""
        if isinstance(outcome, HeartbeatOutcome):
            self.heartbeats.inc()
            return
        m = self._by_endpoint["import" if outcome.imported else "push"]
        m.batch.observe(outcome.rows)
        if outcome.written is not None:
            counts = outcome.written.counts
            for row_outcome, count in (
                ("created", counts.created),
                ("updated", counts.updated),
                ("unchanged", counts.unchanged),
            ):
                if count:
                    m.rows[row_outcome].inc(count)
        if outcome.superseded:
            m.rows["superseded"].inc(outcome.superseded)
        if outcome.rejected:
            m.rows["rejected"].inc(len(outcome.rejected))
            for reason, count in collections.Counter(outcome.rejected).items():
                m.rejected[reason].inc(count)

    async def render(self, transaction: Transaction, settings: Settings, now: datetime) -> bytes:
        """The text exposition, with the coverage gauges read now in a ``transaction()``."""
        await self.coverage.refresh(transaction, settings, now)
        return generate_latest(self.registry)
