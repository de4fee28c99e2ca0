"""``DirectApp`` serves its direct routes ahead of the middleware stack only while the stack
would add nothing to them, and answers their errors as the stack does."""

from typing import Any

import httpx
import pytest
from fastapi import HTTPException, Request, Response
from fastapi.responses import PlainTextResponse
from starlette.middleware.gzip import GZipMiddleware

from ioc_hub.kit.direct import DirectApp
from ioc_hub.kit.limits import BodySizeLimit

NO_TELEMETRY: Any = {"tracing": False, "metrics": False, "logs": False}


class Teapot(Exception):
    pass


class Unhandled(Exception):
    pass


async def echo(request: Request) -> Response:
    body = await request.body()
    if body == b"teapot":
        raise Teapot
    if body == b"gone":
        raise HTTPException(410, "gone")
    if body == b"bug":
        raise Unhandled("bug")
    return Response(body, media_type="text/plain")


def make(*, middleware: bool = True, **options: Any) -> DirectApp:
    """An app with ``POST /echo`` as a direct route."""
    root_path = options.pop("root_path", "")
    app = DirectApp(**{"telemetry": NO_TELEMETRY, **options})
    app.root_path = root_path  # as the constructor's (deprecated) parameter sets it
    if middleware:
        app.add_middleware(BodySizeLimit, max_bytes=100)
    app.router.add_api_route("/echo", echo, methods=["POST"])
    app.add_direct_route("/echo", echo)
    return app


async def long_way(app: DirectApp, *requests: dict[str, Any], **transport: Any) -> list[int]:
    """Send ``requests`` (after one that builds the stack); the indexes of those that went
    through the stack."""
    seen: list[int] = []
    stacked = 0
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, **transport), base_url="http://test"
    ) as http:
        await http.get("/")
        stack = app.middleware_stack
        assert stack is not None

        async def counted(scope: Any, receive: Any, send: Any) -> None:
            nonlocal stacked
            stacked += 1
            await stack(scope, receive, send)

        app.middleware_stack = counted
        for index, request in enumerate(requests):
            before = stacked
            response = await http.post("/echo", **request)
            assert response.status_code == 200
            assert response.text == "hello"
            if stacked > before:
                seen.append(index)
    return seen


async def test_a_post_with_a_length_within_the_limit_goes_direct() -> None:
    async def chunks() -> Any:
        yield b"hel"
        yield b"lo"

    seen = await long_way(
        make(),
        {"content": b"hello"},
        {"content": chunks()},  # no length: the long way, which streams it under the limit
        {"content": b"hello", "params": {"a": "b"}},
    )
    assert seen == [1]


@pytest.mark.parametrize(
    ("options", "transport"),
    [
        ({"root_path": "/hub"}, {}),
        ({}, {"root_path": "/hub"}),
        ({"debug": True}, {}),
        ({"telemetry": None}, {}),
        ({"max_body_size": 1000}, {}),
        ({"middleware": False}, {}),
    ],
    ids=["app root path", "server root path", "debug", "telemetry", "fastapi limit", "no limit"],
)
async def test_a_stack_that_does_more_keeps_every_request(
    options: dict[str, Any], transport: dict[str, Any]
) -> None:
    app = make(**options)
    if transport:
        app.router.add_api_route("/hub/echo", echo, methods=["POST"])  # where the server sends it
    assert await long_way(app, {"content": b"hello"}, **transport) == [0]


async def test_another_middleware_keeps_every_request() -> None:
    app = make()
    app.add_middleware(GZipMiddleware)
    assert await long_way(app, {"content": b"hello"}) == [0]


async def test_errors_are_answered_by_the_apps_handlers_as_the_stack_would() -> None:
    app = make()

    @app.exception_handler(Teapot)
    def teapot(request: Request, exc: Exception) -> Response:  # a plain function: a thread
        return PlainTextResponse("short and stout", 418)

    @app.exception_handler(410)
    async def gone(request: Request, exc: Exception) -> Response:
        return PlainTextResponse("by status", 410)

    @app.exception_handler(500)
    async def internal(request: Request, exc: Exception) -> Response:
        return PlainTextResponse("internal", 500)

    quiet = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=quiet, base_url="http://test") as http:
        answers = [(await http.post("/echo", content=body)) for body in [b"x", b"teapot", b"gone"]]
        bug = await http.post("/echo", content=b"bug")
    assert [(a.status_code, a.text) for a in answers] == [
        (200, "x"),
        (418, "short and stout"),
        (410, "by status"),
    ]
    assert (bug.status_code, bug.text) == (500, "internal")
    loud = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=loud, base_url="http://test") as http:
        with pytest.raises(Unhandled):
            await http.post("/echo", content=b"bug")


async def test_direct_routes_are_added_before_the_app_serves() -> None:
    app = make()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as http:
        await http.get("/")
    with pytest.raises(RuntimeError, match="before the app serves"):
        app.add_direct_route("/other", echo)
