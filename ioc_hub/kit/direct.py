"""A FastAPI app that serves its hot routes ahead of its middleware stack.

Every request passes the app's ASGI layers: server errors, telemetry, FastAPI's and our body
limits, exception handlers, an exit stack, then the router's match. Each wraps ``send`` or
``receive`` and awaits the next: with an endpoint that returns a constant, a request spends
about 45 us in them and 20 us in the route. Without them a single-row push costs the hub's
process 13 % fewer instructions (``python -m bench.push_cost``). A *direct* route is one that
needs none of them but what it gets done inline here:

- the app's exception handlers, chosen as Starlette's ``ExceptionMiddleware`` chooses them. An
  exception that none of them takes gets the app's 500 handler and is raised on to the server,
  which logs it, as ``ServerErrorMiddleware`` does;
- the body limit of the app's ``BodySizeLimit``: a request goes direct only if it declares a
  ``Content-Length`` within it, and the server then delivers no more than it declared.

Everything else takes the long way: another method or path, a request without a length (a
streamed body) or over the limit, and every request of an app whose stack does something the
direct path does not (a root path, debug pages, native telemetry, a middleware other than the
body limit). A direct route is also an ordinary route of the app, so the long way serves it the
same, and the OpenAPI document shows it as declared.
"""

import inspect
from collections.abc import Callable, Coroutine
from typing import Any, cast

from fastapi import FastAPI, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from ioc_hub.kit.limits import BodySizeLimit

Endpoint = Callable[[Request], Coroutine[Any, Any, Response]]
"""An endpoint that takes the ``Request`` only and returns its ``Response``."""
Handler = Callable[[Request, Exception], Any]


class DirectApp(FastAPI):
    """A FastAPI app whose direct routes (``add_direct_route``) skip its middleware stack."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        # FastAPI's native telemetry instruments a request when a signal is on (the default) and
        # OpenTelemetry is configured, which may happen after the app is built.
        telemetry = options.get("telemetry") or {}
        self._telemetry_on = any(telemetry.get(s, True) for s in ("tracing", "metrics", "logs"))
        self._declared: dict[str, Endpoint] = {}
        self._direct: dict[str, Endpoint] = {}
        """The direct routes by path, once the stack is built and allows going direct."""
        self._body_limit = 0
        self._handlers: dict[Any, Handler] = {}
        self._error_handler: Handler | None = None

    def add_direct_route(self, path: str, endpoint: Endpoint) -> None:
        """Serve ``POST path`` with ``endpoint`` ahead of the stack: it must also be a route of
        the app (the long way), taking the ``Request`` only and returning its ``Response``."""
        if self.middleware_stack is not None:
            raise RuntimeError("direct routes are added before the app serves")
        self._declared[path] = endpoint

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        # What the stack would do, the direct path does: with these settings only.
        self._handlers = {}
        self._error_handler = None
        for key, handler in self.exception_handlers.items():
            if key in (500, Exception):
                self._error_handler = handler
            else:
                self._handlers[key] = handler
        # The body limit is the stack's only user middleware, set by keyword.
        classes: list[object] = [m.cls for m in self.user_middleware]
        limits = [m.kwargs.get("max_bytes") for m in self.user_middleware]
        self._direct = {}
        if (
            self._declared
            and classes
            and all(cls is BodySizeLimit for cls in classes)
            and all(isinstance(limit, int) for limit in limits)
            and not self.root_path
            and not self.debug
            and self.max_body_size is None
            and not self._telemetry_on
        ):
            self._body_limit = min(cast(list[int], limits))
            self._direct = self._declared
        return stack

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            endpoint = self._direct.get(scope["path"])
            if endpoint is not None and not scope.get("root_path") and self._within_limit(scope):
                await self._serve(endpoint, scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    def _within_limit(self, scope: Scope) -> bool:
        declared = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = value
            elif name == b"transfer-encoding":
                return False
        return declared is not None and declared.isdigit() and int(declared) <= self._body_limit

    async def _serve(self, endpoint: Endpoint, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self
        request = Request(scope, receive, send)
        try:
            response = await endpoint(request)
        except Exception as exc:
            handler = self._handler_for(exc)
            if handler is None:
                # As ServerErrorMiddleware: the app's 500 answer, and the server logs the error.
                if self._error_handler is not None:
                    answer = await _call(self._error_handler, request, exc)
                    await answer(scope, receive, send)
                raise
            response = await _call(handler, request, exc)
        await response(scope, receive, send)

    def _handler_for(self, exc: Exception) -> Handler | None:
        if isinstance(exc, HTTPException) and exc.status_code in self._handlers:
            return self._handlers[exc.status_code]
        for cls in type(exc).__mro__:
            if cls in self._handlers:
                return self._handlers[cls]
        return None


async def _call(handler: Handler, request: Request, exc: Exception) -> Response:
    if inspect.iscoroutinefunction(handler):
        response: Response = await handler(request, exc)
    else:
        response = await run_in_threadpool(handler, request, exc)
    return response
