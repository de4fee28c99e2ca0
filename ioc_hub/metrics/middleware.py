"""Counts every push and import by how it was answered, and how long that took: the answer may
come from anywhere on the way (the body limit, the key check, validation, the pipeline)."""

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ioc_hub.metrics.service import HubMetrics

ENDPOINTS = {"/api/v1/observations": "push", "/api/v1/imports": "import"}


class PushMetrics:
    def __init__(self, app: ASGIApp, metrics: HubMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = ENDPOINTS.get(scope["path"]) if scope["type"] == "http" else None
        if endpoint is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status, replayed = 500, False

        async def observed_send(message: Message) -> None:
            nonlocal status, replayed
            if message["type"] == "http.response.start":
                status = message["status"]
                replayed = (b"idempotent-replayed", b"true") in message.get("headers", ())
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        finally:
            self.metrics.answered(endpoint, status, replayed, time.perf_counter() - started)
