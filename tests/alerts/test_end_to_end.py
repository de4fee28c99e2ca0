"""Issue 19 end to end, with real processes: a hub (``ioc-hub serve``), the province emulator
(``ioc-hub simulate``) and a receiver (``ioc-hub webhook-receiver``), which verifies every
notification with the Standard Webhooks reference library before printing it. A department the
emulator keeps silent fires ``alert.firing``; it pushes, and ``alert.resolved`` arrives."""

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.database import create_database, drop_database
from tests.fixtures.process import cli, free_port, mint, running_hub
from tests.webhooks.helpers import receiver_process, until

ADMIN_SCOPES = [
    "keys:admin",
    "observations:write",
    "observations:import",
    "coverage:read",
    "aggregates:read",
    "registry:write",
    "alerts:admin",
]
HUB = {
    "IOC_HUB_WEBHOOKS_ALLOW_PRIVATE": "true",
    "IOC_HUB_WEBHOOKS_RETRY_SCHEDULE": "[0, 0.5, 0.5, 0.5, 0.5]",
    "IOC_HUB_WEBHOOKS_POLL_SECONDS": "0.2",
    "IOC_HUB_ALERT_INTERVAL_SECONDS": "0.5",
}


def simulate(database_url: str, base: str, token: str) -> None:
    """The article's province for a day: one department stays silent."""
    done = subprocess.run(
        [sys.executable, "-m", "ioc_hub", "simulate", "--url", base, "--backfill", "1", "--json"],
        env={**os.environ, "IOC_HUB_DATABASE_URL": database_url, "IOC_HUB_ADMIN_KEY": token},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def of_type(lines: list[dict[str, Any]], event_type: str) -> list[dict[str, Any]]:
    return [line for line in lines if line["type"] == event_type and line["answered"] < 300]


@pytest.mark.slow
async def test_a_silent_department_alerts_and_its_push_resolves_it(tmp_path: Path) -> None:
    url = await create_database("postgresql", tmp_path)
    try:
        await cli(url, "seed")
        token = await mint(url, "74", *ADMIN_SCOPES)
        auth = {"Authorization": f"Bearer {token}"}
        port = free_port()
        async with (
            running_hub(url, tmp_path / "hub.log", **HUB) as hub,
            httpx.AsyncClient(base_url=hub.url, headers=auth, timeout=30) as http,
        ):
            await asyncio.to_thread(simulate, url, hub.url, token)
            hook = await http.post(
                "/api/v1/webhooks",
                json={
                    "url": f"http://127.0.0.1:{port}/hook",
                    "event_types": ["alert.firing", "alert.resolved"],
                },
            )
            assert hook.status_code == 201, hook.text
            async with receiver_process(port, secret=hook.json()["secret"]) as receiver:
                # After the emulator has played: every department but the silent one is connected.
                rule = await http.post(
                    "/api/v1/alert-rules",
                    json={
                        "name": "silent departments",
                        "condition": {"kind": "unit_silent", "unit_kind": "department"},
                    },
                )
                assert rule.status_code == 201, rule.text
                [fired] = await until(lambda: of_type(receiver.lines, "alert.firing"), 60)
                silent = fired["data"]["unit"]
                assert silent.startswith("DEPT-")
                assert fired["webhook_id"].startswith("msg_")

                key = await http.post(
                    "/api/v1/keys",
                    json={"unit": silent, "scopes": ["observations:write"], "name": "dept"},
                )
                assert key.status_code == 201, key.text
                owed = await http.get("/api/v1/staleness", params={"unit": silent, "limit": 1})
                series = owed.json()["items"][0]
                pushed = await http.post(
                    "/api/v1/observations",
                    json={
                        "observations": [
                            {
                                "indicator": series["indicator"],
                                "period": series["expected_period"],
                                "value": 1,
                            }
                        ]
                    },
                    headers={"Authorization": f"Bearer {key.json()['token']}"},
                )
                assert pushed.status_code == 200, pushed.text
                [resolved] = await until(lambda: of_type(receiver.lines, "alert.resolved"), 60)
        assert resolved["data"]["id"] == fired["data"]["id"]
        assert resolved["data"]["unit"] == silent
        assert resolved["webhook_id"] != fired["webhook_id"]
        assert len(of_type(receiver.lines, "alert.firing")) == 1
    finally:
        await drop_database(url)
