"""The application factory; the lifespan owns the engines, nothing connects at import."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.telemetry import TelemetryConfig

from ioc_hub import __version__
from ioc_hub.alerts.evaluator import Evaluator
from ioc_hub.api import api_router, root_router
from ioc_hub.config import Settings
from ioc_hub.coverage.keeper import OwedKeeper
from ioc_hub.db import create_engine, create_session_factory, transaction_queue, transactions
from ioc_hub.deps import now_of, utf8_body
from ioc_hub.errors import HUB_RESPONSES, install_error_handlers
from ioc_hub.ingest.cache import IngestCache
from ioc_hub.ingest.pipeline import IngestContext
from ioc_hub.kit import openapi
from ioc_hub.kit.limits import BodySizeLimit
from ioc_hub.metrics.middleware import PushMetrics
from ioc_hub.metrics.service import HubMetrics
from ioc_hub.partitions.keeper import PartitionKeeper
from ioc_hub.registry.memo import RegistryMemo
from ioc_hub.replica import Replica
from ioc_hub.stream.service import Stream
from ioc_hub.webhooks.dispatcher import Dispatcher

DESCRIPTION = """\
The data hub of a provincial Intelligent Operations Center (IOC).

Government units push indicator values; operators see who is connected and who is late;
district IOCs and other consumers pull aggregated views. Authenticate with
`Authorization: Bearer <key>`; every error is RFC 9457 problem details.
"""


_NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings)
        sessions = create_session_factory(engine)
        app.state.engine = engine
        app.state.session_factory = sessions
        app.state.transaction_queue = transaction_queue(engine)
        # The stream, the background loops and a scrape open theirs with this one.
        opened = transactions(sessions, app.state.transaction_queue, settings.db_timeout_seconds)
        app.state.transactions = opened
        app.state.registry_memo = RegistryMemo()
        replica = Replica.create(settings, engine)
        app.state.replica = replica
        if replica is not None:
            await replica.start()
        cache = IngestCache()
        stream = Stream.create(settings, cache, sessions, opened)
        partitions = PartitionKeeper(engine, clock=lambda: now_of(app.state))
        app.state.partitions = partitions
        app.state.ingest = IngestContext(
            settings=settings,
            cache=cache,
            observers=[metrics.observe, stream.publisher.observe, partitions.observe],
        )
        await partitions.start()
        app.state.stream = stream
        metrics.count_subscribers(lambda: stream.bus.subscriber_count)
        await stream.start()
        alerts = Evaluator.create(settings, opened, stream.bus, clock=lambda: now_of(app.state))
        app.state.alerts = alerts
        if settings.alert_evaluator:
            await alerts.start()
        owed = OwedKeeper(settings, opened, clock=lambda: now_of(app.state))
        app.state.owed = owed
        if settings.owed_keeper:
            await owed.start()
        dispatcher = Dispatcher(settings, opened, announce=stream.announce)
        if settings.webhooks_dispatcher:
            await dispatcher.start()
        try:
            yield
        finally:
            await dispatcher.stop()
            await owed.stop()
            await alerts.stop()
            await stream.stop()
            if replica is not None:
                await replica.stop()
            await partitions.stop()
            await engine.dispose()

    app = FastAPI(
        title="ioc-hub",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        dependencies=[Depends(utf8_body)],
        telemetry=None if settings.opentelemetry else _NO_TELEMETRY,
        responses=HUB_RESPONSES,
    )
    metrics = HubMetrics()
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.clock = None
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(PushMetrics, metrics=metrics)
    app.include_router(api_router)
    app.include_router(root_router)
    openapi.install(app)
    return app
