"""The dashboard's "Alerts" panel in a real headless Chromium against a real hub process whose
evaluator runs every second: a rule made while the page is open fires for the silent department
and the panel shows it live; the department pushes, the alert resolves, and the panel follows."""

import contextlib
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from ioc_hub.models import Scope
from tests.dashboard.test_dashboard import (  # noqa: F401 (fixtures)
    ARTIFACTS,
    CHROMIUM,
    LIVE_WITHIN_MS,
    fresh_url,
    page,
    playwright_api,
)
from tests.fixtures.process import cli, mint, running_hub

SILENT = "DEPT-SNGV"
DAILY = "DVC-HS-TIEP-NHAN"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}"),
]


def row(state: str) -> str:
    return f'#alerts-table tr[data-state="{state}"][data-unit="{SILENT}"]'


async def test_the_alerts_panel_shows_an_alert_firing_and_resolving_live(
    fresh_url: str,  # noqa: F811
    tmp_path: Path,
    page: Any,  # noqa: F811
) -> None:
    await cli(fresh_url, "seed")
    admin = {"Authorization": f"Bearer {await mint(fresh_url, '74', *Scope)}"}
    operator = await mint(fresh_url, "74", Scope.COVERAGE_READ)
    engine = "postgresql" if fresh_url.startswith("postgresql") else "sqlite"
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    async with (
        running_hub(fresh_url, tmp_path / "hub.log", IOC_HUB_ALERT_INTERVAL_SECONDS="1") as hub,
        httpx.AsyncClient(base_url=hub.url, timeout=30) as http,
    ):
        try:
            await page.goto(f"{hub.url}/dashboard")
            await page.fill("#key-input", operator)
            await page.click("#key-submit")
            await page.wait_for_selector('#stream-state[data-state="live"]')
            assert await page.locator("#alerts-empty").is_visible()

            body = {"name": "Sở silent", "condition": {"kind": "unit_silent", "unit": SILENT}}
            created = await http.post("/api/v1/alert-rules", json=body, headers=admin)
            assert created.status_code == 201, created.text
            await page.wait_for_selector(row("firing"), timeout=LIVE_WITHIN_MS)
            assert await page.locator("#alerts-firing").text_content() == "1"
            firing = page.locator(row("firing"))
            assert "not heard from ever" in (await firing.locator(".summary").text_content() or "")
            assert await firing.locator("td").nth(1).text_content() == "Sở silent"

            yesterday = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).date() - timedelta(days=1)
            rows = [{"unit": SILENT, "indicator": DAILY, "value": 1, "period": str(yesterday)}]
            pushed = await http.post(
                "/api/v1/observations", json={"observations": rows}, headers=admin
            )
            assert pushed.status_code == 200, pushed.text
            await page.wait_for_selector(row("resolved"), timeout=LIVE_WITHIN_MS)
            assert await page.locator(row("firing")).count() == 0
            assert await page.locator("#alerts-firing").text_content() == "0"
            assert await page.locator('#feed li[data-type="alert.resolved"]').count() == 1
            assert await page.locator('#feed li[data-type="alert.firing"]').count() == 1
            assert problems == []
        finally:
            ARTIFACTS.mkdir(exist_ok=True)
            with contextlib.suppress(playwright_api.Error):
                await page.screenshot(
                    path=str(ARTIFACTS / f"dashboard-alerts-{engine}.png"), full_page=True
                )
