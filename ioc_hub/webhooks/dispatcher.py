"""The dispatcher: a task of each hub process that delivers the outbox (docs/design.md §9,
Webhooks).

Each endpoint with due deliveries gets a worker of its own, with its own connections, so a slow
or dead receiver only ever delays itself. A worker claims up to ``webhooks_concurrency`` due
deliveries at a time — ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so processes never claim the
same one, and a lease (``leased_until``) that holds it while the attempt runs — sends them at
once, and records every outcome in one transaction. A process that dies mid-attempt leaves its
leases to run out; the deliveries are then due again. So every notification is delivered at
least once, always under the same ``webhook-id``.
"""

import asyncio
import contextlib
import logging
import random
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import func, insert, or_, select, type_coerce, update
from sqlalchemy.ext.asyncio import AsyncSession
from standardwebhooks import Webhook

from ioc_hub import __version__
from ioc_hub.config import Settings
from ioc_hub.db import Transaction
from ioc_hub.kit.dialect import greatest
from ioc_hub.kit.tasks import cancel_and_wait
from ioc_hub.models import (
    DeliveryStatus,
    DisabledReason,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookMessage,
)
from ioc_hub.models.base import UTCDateTime
from ioc_hub.webhooks import addresses, outbox
from ioc_hub.webhooks.schemas import EndpointDisabled, EventType

log = logging.getLogger(__name__)

MAX_ANSWER_BYTES = 64 * 1024
"""Most of a receiver's answer read (only its status counts); a longer one closes the
connection."""

Announce = Callable[[str, dict[str, object]], None]
"""Tells the live stream (``ioc_hub.stream``) of an endpoint the dispatcher disabled."""


def next_wait(schedule: Sequence[float], attempts_made: int, rng: random.Random) -> float | None:
    """Seconds to wait before the next attempt, up to a tenth more or less than the schedule
    says; ``None`` once every attempt of the schedule was made."""
    if attempts_made >= len(schedule):
        return None
    return schedule[attempts_made] * rng.uniform(0.9, 1.1)


@dataclass(frozen=True, slots=True)
class Claimed:
    delivery_id: int
    webhook_id: str
    body: str
    attempts: int
    manual: bool


@dataclass(frozen=True, slots=True)
class Outcome:
    attempted_at: datetime
    duration_ms: int
    status_code: int | None
    error: str | None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class Dispatcher:
    def __init__(
        self,
        settings: Settings,
        transaction: Transaction,
        announce: Announce | None = None,
    ) -> None:
        self._settings = settings
        self._transaction = transaction
        self._announce = announce
        self._rng = random.Random()
        self._wake = asyncio.Event()
        self._workers: dict[int, asyncio.Task[None]] = {}
        self._task: asyncio.Task[None] | None = None
        self._unhook: Callable[[], None] | None = None
        timeout = settings.webhooks_timeout_seconds
        # Loading the certificate authorities takes a tenth of a second: once per process.
        self._tls = ssl.create_default_context()
        # An attempt ends within the timeout; the rest is for recording it.
        self._lease = timedelta(seconds=2 * timeout + 5)

    async def start(self) -> None:
        self._unhook = outbox.on_commit(self._wake.set)
        self._task = asyncio.create_task(self._run(), name="webhook dispatcher")

    async def stop(self) -> None:
        if self._unhook is not None:
            self._unhook()
        await cancel_and_wait(self._task, *self._workers.values())
        self._task = None

    async def _run(self) -> None:
        poll = self._settings.webhooks_poll_seconds
        while True:
            self._wake.clear()
            wait = poll
            try:
                next_due = await self._start_due_workers()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: try again at the next poll
                log.warning("webhook dispatcher: cannot read the outbox: %s", exc)
            else:
                if next_due is not None:
                    wait = min(poll, max(0.0, (next_due - datetime.now(UTC)).total_seconds()))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()

    async def _start_due_workers(self) -> datetime | None:
        """Start a worker for every endpoint with a delivery due and none running; the time
        the next delivery falls due, if it is later."""
        now = datetime.now(UTC)
        async with self._transaction() as session:
            due_at = greatest(
                session,
                WebhookDelivery.next_attempt_at,
                func.coalesce(WebhookDelivery.leased_until, WebhookDelivery.next_attempt_at),
            )
            rows = await session.execute(
                select(WebhookDelivery.endpoint_id, type_coerce(func.min(due_at), UTCDateTime))
                .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
                .where(WebhookDelivery.status == DeliveryStatus.PENDING, WebhookEndpoint.enabled)
                .group_by(WebhookDelivery.endpoint_id)
            )
        later: list[datetime] = []
        for endpoint_id, first_due in rows:
            if first_due > now:
                later.append(first_due)
            elif endpoint_id not in self._workers:
                self._workers[endpoint_id] = asyncio.create_task(
                    self._serve(endpoint_id), name=f"webhook endpoint {endpoint_id}"
                )
        return min(later, default=None)

    async def _serve(self, endpoint_id: int) -> None:
        """Deliver what is due to one endpoint until nothing is."""
        worked = False
        try:
            async with contextlib.AsyncExitStack() as stack:
                # A client of one connection for each attempt in flight: httpx's pool looks
                # at every connection it holds for each request, which costs more than the
                # request itself once it holds a dozen.
                clients = [
                    await stack.enter_async_context(
                        httpx.AsyncClient(
                            follow_redirects=False,
                            trust_env=False,
                            limits=httpx.Limits(max_connections=1),
                            verify=self._tls,
                        )
                    )
                    for _ in range(self._settings.webhooks_concurrency)
                ]
                while True:
                    claim = await self._claim(endpoint_id)
                    if claim is None:
                        return
                    url, signer, batch = claim
                    worked = True
                    # The attempts of a batch start together: one look-up and check of the
                    # address serves them all.
                    target = asyncio.ensure_future(
                        addresses.pin(url, self._settings.webhooks_allow_private)
                    )
                    try:
                        outcomes = await asyncio.gather(
                            *(
                                self._attempt(http, target, signer, c)
                                for http, c in zip(clients, batch, strict=False)
                            )
                        )
                    finally:
                        target.cancel()
                    await self._record(endpoint_id, batch, outcomes)
        except asyncio.CancelledError:
            raise
        except Exception:  # leases run out and the deliveries are due again
            log.exception("webhook endpoint %d: delivery interrupted", endpoint_id)
        finally:
            self._workers.pop(endpoint_id, None)
            if worked:
                self._wake.set()

    async def _claim(self, endpoint_id: int) -> tuple[str, Webhook, list[Claimed]] | None:
        now = datetime.now(UTC)
        async with self._transaction() as session:
            endpoint = (
                await session.execute(
                    select(WebhookEndpoint.url, WebhookEndpoint.secret).where(
                        WebhookEndpoint.id == endpoint_id, WebhookEndpoint.enabled
                    )
                )
            ).first()
            if endpoint is None:
                return None
            due = (
                select(WebhookDelivery.id)
                .where(
                    WebhookDelivery.endpoint_id == endpoint_id,
                    WebhookDelivery.status == DeliveryStatus.PENDING,
                    WebhookDelivery.next_attempt_at <= now,
                    or_(
                        WebhookDelivery.leased_until.is_(None), WebhookDelivery.leased_until <= now
                    ),
                )
                .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
                .limit(self._settings.webhooks_concurrency)
                .with_for_update(skip_locked=True)
            )
            claimed = (
                await session.execute(
                    update(WebhookDelivery)
                    .where(WebhookDelivery.id.in_(due.scalar_subquery()))
                    .values(leased_until=now + self._lease)
                    .returning(
                        WebhookDelivery.id,
                        WebhookDelivery.message_id,
                        WebhookDelivery.attempts,
                        WebhookDelivery.manual,
                    )
                    .execution_options(synchronize_session=False)
                )
            ).all()
            if not claimed:
                return None
            found = await session.execute(
                select(WebhookMessage.id, WebhookMessage.message_id, WebhookMessage.body).where(
                    WebhookMessage.id.in_({c.message_id for c in claimed})
                )
            )
            messages = {row.id: (row.message_id, row.body) for row in found}
        batch = [
            Claimed(c.id, *messages[c.message_id], attempts=c.attempts, manual=c.manual)
            for c in claimed
        ]
        return endpoint.url, Webhook(endpoint.secret), batch

    async def _attempt(
        self,
        http: httpx.AsyncClient,
        pinned: "asyncio.Future[addresses.Target]",
        signer: Webhook,
        claimed: Claimed,
    ) -> Outcome:
        timeout = self._settings.webhooks_timeout_seconds
        attempted_at = datetime.now(UTC)
        started = time.perf_counter()
        status_code: int | None = None
        error: str | None = None
        try:
            async with asyncio.timeout(timeout):
                target = await asyncio.shield(pinned)
                signed_at = datetime.now(UTC)
                headers = {
                    **target.headers,
                    "Content-Type": "application/json",
                    "User-Agent": f"ioc-hub/{__version__}",
                    "webhook-id": claimed.webhook_id,
                    "webhook-timestamp": str(int(signed_at.timestamp())),
                    "webhook-signature": signer.sign(claimed.webhook_id, signed_at, claimed.body),
                }
                async with http.stream(
                    "POST",
                    target.url,
                    content=claimed.body.encode(),
                    headers=headers,
                    extensions=target.extensions,
                    timeout=timeout,
                ) as response:
                    status_code = response.status_code
                    read = 0
                    async for chunk in response.aiter_raw():
                        read += len(chunk)
                        if read > MAX_ANSWER_BYTES:
                            break
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}"
                if 300 <= status_code < 400:
                    error += ": redirects are not followed"
        except TimeoutError:
            error = f"no answer within {timeout:g} s"
        except addresses.Refused as exc:
            error = str(exc)
        except (httpx.HTTPError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}".rstrip(": ")
        duration_ms = round((time.perf_counter() - started) * 1000)
        return Outcome(attempted_at, duration_ms, status_code, error and error[:500])

    async def _record(
        self, endpoint_id: int, batch: list[Claimed], outcomes: Sequence[Outcome]
    ) -> None:
        settings = self._settings
        now = datetime.now(UTC)
        changes: list[dict[str, object]] = []
        for claimed, outcome in zip(batch, outcomes, strict=True):
            change: dict[str, object] = {
                "id": claimed.delivery_id,
                "attempts": claimed.attempts + 1,
                "leased_until": None,
                "manual": False,
                "last_status_code": outcome.status_code,
            }
            if outcome.delivered:
                change.update(status=DeliveryStatus.DELIVERED, delivered_at=now)
            else:
                wait = next_wait(settings.webhooks_retry_schedule, claimed.attempts + 1, self._rng)
                if wait is None:
                    change.update(status=DeliveryStatus.FAILED)
                else:
                    change.update(next_attempt_at=now + timedelta(seconds=wait))
            changes.append(change)
        failures = [o.attempted_at for o in outcomes if not o.delivered]
        gone = any(o.status_code == 410 for o in outcomes)
        disabled: dict[str, object] | None = None
        async with self._transaction() as session:
            await session.execute(
                insert(WebhookAttempt),
                [
                    {
                        "delivery_id": c.delivery_id,
                        "attempted_at": o.attempted_at,
                        "duration_ms": o.duration_ms,
                        "status_code": o.status_code,
                        "error": o.error,
                        "manual": c.manual,
                    }
                    for c, o in zip(batch, outcomes, strict=True)
                ],
            )
            await session.execute(update(WebhookDelivery), changes)
            if len(failures) < len(outcomes):
                await session.execute(
                    update(WebhookEndpoint)
                    .where(
                        WebhookEndpoint.id == endpoint_id,
                        WebhookEndpoint.failing_since.is_not(None),
                    )
                    .values(failing_since=None)
                )
            else:
                await session.execute(
                    update(WebhookEndpoint)
                    .where(WebhookEndpoint.id == endpoint_id)
                    .values(
                        failing_since=func.coalesce(WebhookEndpoint.failing_since, min(failures))
                    )
                )
            if gone or len(failures) == len(outcomes):
                reason = DisabledReason.GONE if gone else DisabledReason.FAILING
                disabled = await self._disable(session, endpoint_id, reason, now)
        if disabled is not None and self._announce is not None:
            self._announce(EventType.ENDPOINT_DISABLED, disabled)

    async def _disable(
        self, session: AsyncSession, endpoint_id: int, reason: DisabledReason, now: datetime
    ) -> dict[str, object] | None:
        """Disable the endpoint if it still is enabled — for a 410 at once, for failures once
        they have lasted ``webhooks_disable_after`` — and notify the endpoints that want to know
        (in this transaction). The notification's data, if this call disabled it."""
        conditions = [WebhookEndpoint.id == endpoint_id, WebhookEndpoint.enabled]
        if reason is DisabledReason.FAILING:
            cutoff = now - self._settings.webhooks_disable_after
            conditions.append(WebhookEndpoint.failing_since <= cutoff)
        row = (
            await session.execute(
                update(WebhookEndpoint)
                .where(*conditions)
                .values(enabled=False, disabled_reason=reason, disabled_at=now, updated_at=now)
                .returning(WebhookEndpoint.url, WebhookEndpoint.failing_since)
            )
        ).first()
        if row is None:
            return None
        data = EndpointDisabled(
            endpoint_id=endpoint_id,
            host=httpx.URL(row.url).host,
            reason=reason,
            failing_since=row.failing_since,
            disabled_at=now,
        ).model_dump(mode="json")
        log.warning("webhook endpoint %d disabled: %s", endpoint_id, reason.value)
        await outbox.publish(session, EventType.ENDPOINT_DISABLED, data)
        return data
