"""``/api/v1/webhooks``: register, list, get, update, delete (scope ``alerts:admin``); URLs the
hub will not send to are refused with 422 naming ``url``; the secret is shown once and never
again, nor logged."""

import base64
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ioc_hub.app import create_app
from ioc_hub.config import Settings
from ioc_hub.models import Scope
from tests.conftest import MintKey, bearer
from tests.webhooks.helpers import publish_now, receiver, until

HOOK = {"url": "https://ioc.example.org/hooks/ioc-hub", "event_types": ["alert.firing"]}


async def test_register_list_get_update_delete(client: httpx.AsyncClient, hooks_admin: str) -> None:
    auth = bearer(hooks_admin)
    created = await client.post(
        "/api/v1/webhooks", json={**HOOK, "description": "Operations room"}, headers=auth
    )
    assert created.status_code == 201, created.text
    hook = created.json()
    secret = hook.pop("secret")
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert hook["url"] == HOOK["url"]
    assert hook["event_types"] == ["alert.firing"]
    assert hook["enabled"] is True
    assert hook["disabled_reason"] is None

    listed = await client.get("/api/v1/webhooks", headers=auth)
    assert listed.json()["items"] == [hook]
    assert (await client.get(f"/api/v1/webhooks/{hook['id']}", headers=auth)).json() == hook

    changed = await client.patch(
        f"/api/v1/webhooks/{hook['id']}",
        json={"event_types": ["alert.resolved", "alert.firing", "alert.firing"], "enabled": False},
        headers=auth,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["event_types"] == ["alert.firing", "alert.resolved"]
    assert changed.json()["enabled"] is False
    assert changed.json()["disabled_reason"] == "operator"
    assert changed.json()["disabled_at"] is not None
    enabled = await client.patch(
        f"/api/v1/webhooks/{hook['id']}", json={"enabled": True}, headers=auth
    )
    assert enabled.json()["enabled"] is True
    assert enabled.json()["disabled_reason"] is None
    assert enabled.json()["disabled_at"] is None

    deleted = await client.delete(f"/api/v1/webhooks/{hook['id']}", headers=auth)
    assert deleted.status_code == 204
    for gone in (
        await client.get(f"/api/v1/webhooks/{hook['id']}", headers=auth),
        await client.delete(f"/api/v1/webhooks/{hook['id']}", headers=auth),
        await client.get(f"/api/v1/webhooks/{hook['id']}/deliveries", headers=auth),
    ):
        assert gone.status_code == 404
        assert gone.json()["errors"][0]["field"] == "path.webhook_id"


async def test_webhooks_need_the_alerts_admin_scope(
    client: httpx.AsyncClient, seeded: None, mint_key: MintKey
) -> None:
    others = await mint_key("74", *(s for s in Scope if s is not Scope.ALERTS_ADMIN))
    assert (await client.get("/api/v1/webhooks")).status_code == 401
    refused = await client.post("/api/v1/webhooks", json=HOOK, headers=bearer(others))
    assert refused.status_code == 403
    assert "alerts:admin" in refused.json()["detail"]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://ioc.example.org/hook", "URL scheme should be 'http' or 'https'"),
        ("file:///etc/passwd", "URL scheme should be 'http' or 'https'"),
        ("https://user:pw@ioc.example.org/hook", "must not carry credentials"),
        ("https://token@ioc.example.org/hook", "must not carry credentials"),
        ("http://no host", "URL"),
    ],
)
async def test_a_url_that_is_not_plain_http_is_refused(
    client: httpx.AsyncClient, hooks_admin: str, url: str, reason: str
) -> None:
    refused = await client.post(
        "/api/v1/webhooks", json={**HOOK, "url": url}, headers=bearer(hooks_admin)
    )
    assert refused.status_code == 422, refused.text
    [error] = refused.json()["errors"]
    assert error["field"] == "body.url"
    assert reason in error["reason"]
    assert (await client.get("/api/v1/webhooks", headers=bearer(hooks_admin))).json()["total"] == 0


@pytest.fixture
async def strict_client(database_url: str, app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The hub as shipped: private addresses refused (the session's app allows them, for the
    receivers of the other tests)."""
    strict = create_app(Settings(database_url=database_url))
    assert strict.state.settings.webhooks_allow_private is False
    async with LifespanManager(strict):
        transport = httpx.ASGITransport(app=strict)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as http:
            yield http


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:9000/hook", "127.0.0.1 is a loopback address"),
        ("http://[::1]/hook", "::1 is a loopback address"),
        ("http://[::ffff:10.0.0.7]/hook", "10.0.0.7 is a private address"),
        ("https://10.1.2.3/hook", "10.1.2.3 is a private address"),
        ("https://192.168.1.20/hook", "192.168.1.20 is a private address"),
        ("http://169.254.169.254/latest/meta-data", "169.254.169.254 is a link-local address"),
        ("http://0.0.0.0/", "0.0.0.0 is an unspecified address"),
        ("http://2130706433/", "127.0.0.1 is a loopback address"),
        ("http://localhost:8000/", "localhost is this machine"),
        ("http://hub.localhost/", "hub.localhost is this machine"),
    ],
)
async def test_private_addresses_are_refused_unless_allowed(
    strict_client: httpx.AsyncClient, hooks_admin: str, url: str, reason: str
) -> None:
    auth = bearer(hooks_admin)
    refused = await strict_client.post("/api/v1/webhooks", json={**HOOK, "url": url}, headers=auth)
    assert refused.status_code == 422, refused.text
    [error] = refused.json()["errors"]
    assert error["field"] == "body.url"
    assert reason in error["reason"]
    created = await strict_client.post("/api/v1/webhooks", json=HOOK, headers=auth)
    assert created.status_code == 201
    moved = await strict_client.patch(
        f"/api/v1/webhooks/{created.json()['id']}", json={"url": url}, headers=auth
    )
    assert moved.status_code == 422
    assert moved.json()["errors"][0]["field"] == "body.url"
    kept = await strict_client.get(f"/api/v1/webhooks/{created.json()['id']}", headers=auth)
    assert kept.json()["url"] == HOOK["url"]


async def test_a_public_address_and_an_unresolved_name_are_taken(
    strict_client: httpx.AsyncClient, hooks_admin: str
) -> None:
    # A name that does not resolve yet is taken: it is checked again at delivery.
    for url in ("https://93.184.215.14/x", "http://8.8.8.8/hook", "https://hooks.invalid/x"):
        created = await strict_client.post(
            "/api/v1/webhooks", json={**HOOK, "url": url}, headers=bearer(hooks_admin)
        )
        assert created.status_code == 201, (url, created.text)


async def test_the_secret_is_shown_once_and_never_logged(
    client: httpx.AsyncClient,
    hooks_admin: str,
    session_factory: async_sessionmaker[AsyncSession],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Everything the hub, its server and its HTTP client log. (SQL echo — SQLAlchemy's engine
    # log, a driver's debug log — shows the rows read and written, the secret's among them: it
    # is a view into the database and stays off in a running hub.)
    for logger in ("ioc_hub", "uvicorn", "httpx", "httpcore"):
        caplog.set_level(logging.DEBUG, logger=logger)
    auth = bearer(hooks_admin)
    async with receiver(client, hooks_admin, status=410) as hook:
        await publish_now(session_factory, "alert.firing", {"rule": 1})
        await until(lambda: hook.lines)
        answers = [
            await client.get("/api/v1/webhooks", headers=auth),
            await client.get(f"/api/v1/webhooks/{hook.webhook['id']}", headers=auth),
            await client.patch(
                f"/api/v1/webhooks/{hook.webhook['id']}", json={"description": "x"}, headers=auth
            ),
            await client.get(f"/api/v1/webhooks/{hook.webhook['id']}/deliveries", headers=auth),
        ]
    secret = hook.secret
    needles = [secret, secret.removeprefix("whsec_")]
    for answer in answers:
        assert answer.status_code == 200
        assert not any(needle in answer.text for needle in needles)
    assert "webhook endpoint" in caplog.text  # the disabling was logged, without the secret
    assert not any(needle in caplog.text for needle in needles)
