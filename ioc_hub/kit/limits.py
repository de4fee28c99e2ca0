"""ASGI middleware that refuses request bodies above a size without reading them whole."""

from typing import Any

import orjson
from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(HTTPException):
    """Raised from ``receive``; an HTTPException so the framework's body parser lets it through.
    Its answer closes the connection, as a refused ``Content-Length`` does: the rest of the body
    is never read."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(
            413, f"request body is larger than {max_bytes} bytes", headers={"Connection": "close"}
        )


class BodySizeLimit:
    """413 on a declared ``Content-Length`` above the limit, or as soon as a streamed body
    passes it; the rest of the body is never buffered."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_bytes:
                    await self._refuse(send)
                    return

        seen = 0
        response_started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not response_started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body: dict[str, Any] = {
            "type": "https://ioc-hub.dev/problems/payload-too-large",
            "title": "Payload too large",
            "status": 413,
            "detail": f"request body is larger than {self.max_bytes} bytes",
            "errors": [],
        }
        payload = orjson.dumps(body)
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
