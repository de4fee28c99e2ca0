"""``ioc-hub webhook-receiver``: a small receiver that checks each notification's signature
with the Standard Webhooks reference library and prints the verified ones, one JSON line each
on stdout. For trying webhooks out and for rehearsing failures (``--fail-first``, ``--status``,
``--delay``); the tests use it as a receiver in a process of its own."""

import asyncio
import sys
from collections import Counter
from pathlib import Path
from typing import TextIO

import orjson
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from starlette.types import Receive, Scope, Send


class Receiver:
    """An ASGI app: ``POST`` any path with a notification.

    ``secret`` is the signing secret, or a file that will hold it: the receiver can start
    before the webhook is registered, and answers 503 until the file is there. Answers 400 to a
    notification whose signature does not verify; otherwise waits ``delay`` seconds, answers 500
    to the first ``fail_first`` attempts of each ``webhook-id`` and ``status`` to the rest, and
    prints ``{webhook_id, attempt, answered, type, timestamp, data}``."""

    def __init__(
        self,
        secret: str | Path,
        *,
        fail_first: int = 0,
        status: int = 204,
        delay: float = 0.0,
        out: TextIO = sys.stdout,
    ) -> None:
        self._secret_file = secret if isinstance(secret, Path) else None
        self._webhook = Webhook(secret) if isinstance(secret, str) else None
        self._fail_first = fail_first
        self._status = status
        self._delay = delay
        self._out = out
        self._attempts: Counter[str] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["method"] != "POST":
            await _answer(send, 405, b"POST notifications here\n")
            return
        body = bytearray()
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        webhook = self._verifier()
        if webhook is None:
            await _answer(send, 503, b"no signing secret yet\n")
            return
        try:
            payload = webhook.verify(bytes(body), headers)
        except (WebhookVerificationError, ValueError) as exc:
            print(f"refused a notification: {exc}", file=sys.stderr, flush=True)
            await _answer(send, 400, f"signature does not verify: {exc}\n".encode())
            return
        webhook_id = headers["webhook-id"]
        self._attempts[webhook_id] += 1
        attempt = self._attempts[webhook_id]
        if self._delay:
            await asyncio.sleep(self._delay)
        status = 500 if attempt <= self._fail_first else self._status
        line = {"webhook_id": webhook_id, "attempt": attempt, "answered": status, **payload}
        self._out.write(orjson.dumps(line).decode() + "\n")
        self._out.flush()
        await _answer(send, status, b"")

    def _verifier(self) -> Webhook | None:
        if self._webhook is None and self._secret_file is not None:
            secret = self._secret_file.read_text().strip() if self._secret_file.exists() else ""
            if secret:
                self._webhook = Webhook(secret)
        return self._webhook


async def _answer(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def run(receiver: Receiver, host: str, port: int) -> None:
    import uvicorn

    uvicorn.run(
        receiver, host=host, port=port, lifespan="off", access_log=False, log_level="warning"
    )
