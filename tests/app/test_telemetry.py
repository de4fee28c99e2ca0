"""FastAPI's own OpenTelemetry instrumentation runs only when ``IOC_HUB_OPENTELEMETRY`` asks
for it: otherwise no request looks up the process's providers."""

from typing import Any

import httpx
import pytest
from opentelemetry import trace

from ioc_hub.app import create_app
from ioc_hub.config import Settings


class _Provider(trace.TracerProvider):
    """A configured tracer provider that counts the tracers asked of it."""

    def __init__(self) -> None:
        self.asked = 0

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        self.asked += 1
        return trace.NoOpTracer()


@pytest.mark.parametrize("opentelemetry", [False, True])
async def test_requests_are_traced_only_when_asked(
    opentelemetry: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = _Provider()
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    app = create_app(Settings(opentelemetry=opentelemetry))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        assert (await client.get("/health")).status_code == 200
    assert (provider.asked > 0) is opentelemetry
