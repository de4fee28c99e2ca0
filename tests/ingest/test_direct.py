"""Pushes go direct, ahead of the app's middleware stack (``kit.direct``), when they declare a
Content-Length within the limit; a streamed push takes the long way. Either way the client gets
the same answer: the same status, headers and problem details."""

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI

from ioc_hub.ingest import service
from ioc_hub.models import Scope
from tests.conftest import Clock, MintKey, bearer

NOW = "2026-11-28T10:00:00+00:00"
DAILY = "DVC-HS-TIEP-NHAN"


@pytest.fixture
async def commune(seeded: None, mint_key: MintKey, clock: Clock) -> dict[str, str]:
    clock.set(NOW)
    return bearer(await mint_key("25741", Scope.OBSERVATIONS_WRITE))


@contextmanager
def long_way(app: FastAPI) -> Iterator[list[str]]:
    """The paths of the requests that went through the app's middleware stack meanwhile."""
    stack, seen = app.middleware_stack, []
    assert stack is not None, "the app has served a request: its stack is built"

    async def counted(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            seen.append(scope["path"])
        await stack(scope, receive, send)

    app.middleware_stack = counted
    try:
        yield seen
    finally:
        app.middleware_stack = stack


def streamed(body: bytes) -> AsyncIterator[bytes]:
    """The body without a Content-Length: httpx sends it chunked."""

    async def chunks() -> AsyncIterator[bytes]:
        yield body[: len(body) // 2]
        yield body[len(body) // 2 :]

    return chunks()


async def both_ways(
    client: httpx.AsyncClient, body: bytes, headers: dict[str, str], path: str = ""
) -> tuple[httpx.Response, httpx.Response]:
    url = "/api/v1/observations" + path
    headers = {"content-type": "application/json", **headers}
    direct = await client.post(url, content=body, headers=headers)
    chunked = await client.post(url, content=streamed(body), headers=headers)
    return direct, chunked


def rows(*values: tuple[int, str]) -> bytes:
    pushed = [{"indicator": DAILY, "value": v, "period": p} for v, p in values]
    return orjson.dumps({"observations": pushed})


async def test_a_push_with_a_length_skips_the_stack_and_a_streamed_one_does_not(
    app: FastAPI, client: httpx.AsyncClient, commune: dict[str, str]
) -> None:
    with long_way(app) as seen:
        direct, chunked = await both_ways(client, rows((5, "2026-11-27")), commune, "?atomic=true")
        health = await client.get("/health")
    assert seen == ["/api/v1/observations", "/health"]
    assert direct.status_code == chunked.status_code == health.status_code == 200
    assert direct.json()["created"] == 1
    assert chunked.json()["unchanged"] == 1
    assert direct.headers.items() - chunked.headers.items() == set()


@pytest.mark.parametrize(
    ("body", "query", "status", "title"),
    [
        (rows((5, "2026-11-27")), "", 401, "Unauthenticated"),
        (b'{"observations": [', "", 422, "Invalid request"),
        (rows((5, "2026-11-27")), "?atomic=maybe", 422, "Invalid request"),
        (rows((-5, "2026-11-27")), "", 422, "Rows rejected"),
    ],
    ids=["no key", "malformed json", "bad atomic", "every row refused"],
)
async def test_refusals_are_the_same_both_ways(
    app: FastAPI,
    client: httpx.AsyncClient,
    commune: dict[str, str],
    body: bytes,
    query: str,
    status: int,
    title: str,
) -> None:
    auth = {} if status == 401 else commune
    with long_way(app) as seen:
        direct, chunked = await both_ways(client, body, auth, query)
    assert seen == ["/api/v1/observations"]
    assert direct.status_code == chunked.status_code == status
    assert direct.headers["content-type"] == "application/problem+json"
    assert direct.headers == chunked.headers
    assert direct.json() == chunked.json()
    assert direct.json()["title"] == title


async def test_a_push_over_the_body_limit_takes_the_long_way_to_its_413(
    app: FastAPI, client: httpx.AsyncClient, commune: dict[str, str]
) -> None:
    limit = app.state.settings.max_body_bytes
    body = b'{"observations": [' + b" " * limit + b"]}"
    with long_way(app) as seen:
        response = await client.post(
            "/api/v1/observations",
            content=body,
            headers={**commune, "content-type": "application/json"},
        )
    assert seen == ["/api/v1/observations"]
    assert response.status_code == 413
    assert response.json()["title"] == "Payload too large"


async def test_an_unexpected_error_is_a_problem_500_and_reaches_the_server(
    app: FastAPI, commune: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object, **kwargs: object) -> service.PushResult:
        raise RuntimeError("a bug in the push path")

    monkeypatch.setattr(service, "push", broken)
    body = rows((5, "2026-11-27"))
    headers = {**commune, "content-type": "application/json"}
    quiet = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=quiet, base_url="http://hub.test") as client:
        direct, chunked = await both_ways(client, body, commune)
    for response in (direct, chunked):
        assert response.status_code == 500
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"] == "internal error"
        assert "a bug" not in response.text  # no traceback, no message
    # Uvicorn logs what reaches it: the error is raised on past the 500, either way.
    loud = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=loud, base_url="http://hub.test") as client:
        for content in (body, streamed(body)):
            with pytest.raises(RuntimeError, match="a bug in the push path"):
                await client.post("/api/v1/observations", content=content, headers=headers)
