"""A small Server-Sent Events reader over httpx streaming.

httpx's ASGI transport answers only once a response is complete, and an event stream never
is, so stream tests read from the app over real HTTP (the ``live_url`` fixture).
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

TIMEOUT = 10.0


@dataclass
class SSEvent:
    type: str
    id: str | None
    data: dict[str, Any]


class SSEReader:
    """Parses ``text/event-stream`` (WHATWG HTML §9.2): fields up to a blank line make an
    event; lines starting with ``:`` are comments."""

    def __init__(self, response: httpx.Response) -> None:
        self._lines = response.aiter_lines()

    async def next(self, within: float = TIMEOUT) -> SSEvent:
        async with asyncio.timeout(within):
            fields: dict[str, str] = {}
            async for line in self._lines:
                if line == "":
                    if "data" in fields:
                        return SSEvent(
                            fields.get("event", "message"),
                            fields.get("id"),
                            orjson.loads(fields["data"]),
                        )
                    fields = {}
                    continue
                if line.startswith(":"):
                    continue
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
        raise AssertionError("the stream ended")

    async def until(
        self, accept: Callable[[SSEvent], bool], within: float = TIMEOUT
    ) -> tuple[SSEvent, list[SSEvent]]:
        """The first event ``accept`` takes, and those that came before it."""
        skipped: list[SSEvent] = []
        async with asyncio.timeout(within):
            while True:
                event = await self.next(within)
                if accept(event):
                    return event, skipped
                skipped.append(event)

    async def opened(self) -> None:
        """Wait for the hub's first line: from then on the subscription is live."""
        async with asyncio.timeout(TIMEOUT):
            async for line in self._lines:
                if line == ": connected":
                    return
        raise AssertionError("the stream ended before it opened")


@contextlib.asynccontextmanager
async def open_stream(
    base_url: str, auth: dict[str, str], last_event_id: str | None = None
) -> AsyncIterator[SSEReader]:
    headers = dict(auth)
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=TIMEOUT) as http,
        http.stream("GET", "/api/v1/stream", headers=headers) as response,
    ):
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        reader = SSEReader(response)
        await reader.opened()
        yield reader
