"""The operator dashboard in a real headless Chromium (Debian's `chromium`, driven by
playwright-python; no browser download) against a real hub process filled by `ioc-hub simulate`:
the numbers on the page are the coverage endpoint's, a district opens onto its communes, the
heatmap has a cell per unit × group, and a push shows up live. The screenshot is left in
`test-artifacts/`."""

import contextlib
import json
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ioc_hub.models import Scope
from tests.conftest import Reformed
from tests.fixtures.database import ENGINES, database_url_for
from tests.fixtures.process import cli, mint, running_hub
from tests.simulate.helpers import ARTICLE

playwright_api = pytest.importorskip("playwright.async_api")

CHROMIUM = os.environ.get("IOC_HUB_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Every wait in the browser is bounded by this (milliseconds); the live update by LIVE_WITHIN.
WAIT_MS = 20_000
LIVE_WITHIN_MS = 15_000
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# The national registry's first answers (every unit's coverage, a province's staleness) take
# seconds on a busy machine until coverage and staleness keep state (issue 18).
NATIONAL_WAIT_MS = 60_000


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(),
        reason=f"no Chromium at {CHROMIUM}: `apt-get install chromium` (.ci/run does)",
    ),
]


@pytest.fixture(params=ENGINES)
async def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    async for url in database_url_for(request.param, tmp_path):
        yield url


@pytest.fixture
async def page() -> AsyncIterator[Any]:
    """A page of a fresh headless Chromium, in the province's time zone."""
    async with playwright_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=WAIT_MS
        )
        try:
            context = await browser.new_context(
                viewport={"width": 1440, "height": 900}, timezone_id="Asia/Ho_Chi_Minh"
            )
            context.set_default_timeout(WAIT_MS)
            yield await context.new_page()
        finally:
            await browser.close()


class Api:
    """The hub's API with one key, for the numbers the page must show."""

    def __init__(self, http: httpx.AsyncClient, token: str) -> None:
        self.http = http
        self.headers = {"Authorization": f"Bearer {token}"}

    async def get(self, path: str, **params: Any) -> Any:
        response = await self.http.get(path, params=params, headers=self.headers)
        assert response.status_code == 200, response.text
        return response.json()

    async def push(self, rows: list[dict[str, Any]]) -> Any:
        response = await self.http.post(
            "/api/v1/observations", json={"observations": rows}, headers=self.headers
        )
        assert response.status_code == 200, response.text
        return response.json()


def value_in_range(indicator: dict[str, Any]) -> float:
    low, high = indicator["min_value"], indicator["max_value"]
    if low is not None:
        return float(low)
    return 0.0 if high is None or high >= 0 else float(high)


async def text(page: Any, selector: str) -> str | None:
    content: str | None = await page.locator(selector).text_content()
    return content


async def test_dashboard_shows_the_simulated_province_and_follows_it_live(
    fresh_url: str, tmp_path: Path, page: Any
) -> None:
    started = time.monotonic()
    await cli(fresh_url, "seed")
    admin = await mint(fresh_url, "74", *Scope)
    operator = await mint(fresh_url, "74", Scope.COVERAGE_READ)
    engine = "postgresql" if fresh_url.startswith("postgresql") else "sqlite"
    shot = ARTIFACTS / ("dashboard.png" if engine == "postgresql" else f"dashboard-{engine}.png")
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "console",
        lambda message: problems.append(message.text) if message.type == "error" else None,
    )

    async with (
        running_hub(fresh_url, tmp_path / "hub.log") as hub,
        httpx.AsyncClient(base_url=hub.url, timeout=30) as http,
    ):
        summary = json.loads(
            await cli(
                fresh_url,
                *("simulate", "--url", hub.url, "--json", "--scenario", "article"),
                *("--backfill", "2", "--seed", "7"),
                IOC_HUB_ADMIN_KEY=admin,
            )
        )
        assert summary["failures"] == {}
        api, as_admin = Api(http, operator), Api(http, admin)
        coverage = await api.get("/api/v1/coverage", limit=1000)
        assert coverage["kinds"] == ARTICLE
        units = {u["code"]: u for u in coverage["units"]["items"]}
        groups = (await api.get("/api/v1/indicator-groups", limit=1000))["items"]
        try:
            # A refused key says so; the operator key is asked for once and kept for the tab.
            await page.goto(f"{hub.url}/dashboard")
            await page.fill("#key-input", "ioch_not-a-key")
            await page.click("#key-submit")
            await page.wait_for_selector("#login-error:visible")
            assert "refused" in (await text(page, "#login-error") or "")
            problems.clear()  # the browser logs the 401 it was meant to get
            await page.fill("#key-input", operator)
            await page.click("#key-submit")
            await page.wait_for_selector('#coverage-table tr[data-kind="commune"] .ratio')
            await page.reload()
            await page.wait_for_selector('#coverage-table tr[data-kind="commune"] .ratio')
            assert await page.locator("#login").is_hidden()
            await page.wait_for_selector('#stream-state[data-state="live"]')

            # The article's table, as the coverage endpoint has it.
            for kind, numbers in coverage["kinds"].items():
                row = f'#coverage-table tr[data-kind="{kind}"]'
                ratio = f"{numbers['connected']}/{numbers['registered']}"
                assert await text(page, f"{row} .ratio") == ratio, kind
                percent = round(100 * numbers["connected"] / numbers["registered"])
                assert await text(page, f"{row} .pct") == f"{percent}%", kind
            total = coverage["total"]
            assert await text(page, '#coverage-table tr[data-kind="total"] .ratio') == (
                f"{total['connected']}/{total['registered']}"
            )
            for status, count in coverage["series"].items():
                chip = f'#series-summary [data-status="{status}"] strong'
                assert await text(page, chip) == str(count), status

            # A district opens onto its communes, as many as the endpoint lists for it.
            district = "718"
            in_district = await api.get("/api/v1/coverage", district=district, limit=1000)
            communes = [u for u in in_district["units"]["items"] if u["kind"] == "commune"]
            await page.click(f'#districts-table tr[data-district="{district}"] button')
            await page.wait_for_selector(f'#drilldown[data-district="{district}"]')
            rows = page.locator("#communes-table tbody tr")
            assert await rows.count() == len(communes) > 0
            shown = await rows.evaluate_all("rs => rs.map(r => r.dataset.unit)")
            assert sorted(shown) == sorted(c["code"] for c in communes)
            connected = sum(c["connected"] for c in communes)
            ratio = f'#districts-table tr[data-district="{district}"] .communes-ratio'
            assert await text(page, ratio) == f"{connected}/{len(communes)}"

            # The heatmap: a cell per unit × indicator group.
            heat_rows = page.locator("#heatmap-table tbody tr[data-unit]")
            codes = await heat_rows.evaluate_all("rs => rs.map(r => r.dataset.unit)")
            assert sorted(codes) == sorted(units)
            cells = await page.locator("#heatmap-table tbody td.cell").count()
            assert cells == len(units) * len(groups)
            assert await page.locator("#heatmap-table thead th.group").count() == len(groups)

            # Rejections: the newest ones, as the endpoint has them.
            rejections = await api.get("/api/v1/rejections", limit=1)
            assert await text(page, "#rejections-total") == str(rejections["total"])
            if rejections["items"]:
                first = page.locator("#rejections-table tbody tr").first
                assert await first.get_attribute("data-id") == str(rejections["items"][0]["id"])

            # Live: the silent department pushes one group's values; the page follows.
            silent = next(
                u for u in units.values() if u["kind"] == "department" and not u["connected"]
            )
            series = await api.get("/api/v1/staleness", unit=silent["code"], limit=1000)
            by_group: dict[str, list[dict[str, Any]]] = {}
            for item in series["items"]:
                by_group.setdefault(item["group"], []).append(item)
            group, items = min(by_group.items(), key=lambda entry: len(entry[1]))
            cell = f'#heatmap-table tr[data-unit="{silent["code"]}"] td[data-group="{group}"]'
            assert await page.locator(cell).get_attribute("data-status") == "never"
            assert await text(page, '#coverage-table tr[data-kind="department"] .ratio') == "17/18"
            values = [
                {
                    "unit": silent["code"],
                    "indicator": item["indicator"],
                    "period": item["expected_period"],
                    "value": value_in_range(
                        await api.get(f"/api/v1/indicators/{item['indicator']}")
                    ),
                }
                for item in items
            ]
            pushed_at = time.monotonic()
            assert (await as_admin.push(values))["created"] == len(values)
            await page.wait_for_function(
                """([unit, group]) => {
                    const ratio = document.querySelector(
                        '#coverage-table tr[data-kind="department"] .ratio');
                    const cell = document.querySelector(
                        `#heatmap-table tr[data-unit="${unit}"] td[data-group="${group}"]`);
                    return ratio.textContent === "18/18" && cell.dataset.status === "fresh";
                }""",
                arg=[silent["code"], group],
                timeout=LIVE_WITHIN_MS,
            )
            live_seconds = time.monotonic() - pushed_at
            assert await page.locator(f'#feed li[data-unit="{silent["code"]}"]').count() >= 1
            now = await api.get("/api/v1/coverage", limit=1)
            assert now["kinds"]["department"] == {"registered": 18, "connected": 18}
            assert problems == []
            await page.wait_for_timeout(2000)  # let the highlights of changed values fade
        finally:
            # Left behind whatever happened: on a failure it shows what the page had.
            ARTIFACTS.mkdir(exist_ok=True)
            with contextlib.suppress(playwright_api.Error):
                await page.evaluate("window.scrollTo(0, 0)")
                await page.screenshot(path=str(shot), full_page=True)
    print(
        f"dashboard on {engine}: live update {live_seconds:.2f} s after the push, "
        f"whole test {time.monotonic() - started:.1f} s; screenshot {shot}"
    )


async def coverage_row(page: Any, kind: str) -> str | None:
    """The ratio the coverage card shows for ``kind``, or None when it has no row."""
    row = page.locator(f'#coverage-table tr[data-kind="{kind}"] .ratio')
    return await row.text_content() if await row.count() else None


async def show_as_of(page: Any, wall_time: str, instant: str) -> None:
    """Pick a local wall time in the "as of" field and wait until the page shows it."""
    await page.fill("#as-of", wall_time)
    await page.wait_for_selector(f'#app[data-at="{instant}"]')


async def test_dashboard_shows_either_day_of_the_reform(
    reformed: Reformed, tmp_path: Path, page: Any
) -> None:
    fresh_url = reformed.url
    operator = await mint(fresh_url, "74", Scope.COVERAGE_READ)
    engine = "postgresql" if fresh_url.startswith("postgresql") else "sqlite"
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "console",
        lambda message: problems.append(message.text) if message.type == "error" else None,
    )
    assert reformed.summary["failures"] == {}

    async with running_hub(fresh_url, tmp_path / "hub.log") as hub:
        try:
            await page.goto(f"{hub.url}/dashboard")
            await page.fill("#key-input", operator)
            await page.click("#key-submit")
            await page.wait_for_selector('#coverage-table tr[data-kind="total"] .ratio')
            assert await page.locator("#as-of-banner").is_hidden()

            # The last day of the old map: the article's table, districts and all.
            await show_as_of(page, "2025-06-30T12:00", "2025-06-30T05:00:00.000Z")
            for kind, numbers in ARTICLE.items():
                ratio = f"{numbers['connected']}/{numbers['registered']}"
                assert await coverage_row(page, kind) == ratio, kind
            assert await page.locator("#districts").is_visible()
            assert await page.locator("#districts-table tbody tr").count() == 9
            assert "as of" in (await text(page, "#as-of-banner") or "")
            assert await text(page, "#province") == "Bình Dương"

            # The second day of the new one: no districts, 36 communes, the rest as before.
            await show_as_of(page, "2025-07-02T12:00", "2025-07-02T05:00:00.000Z")
            assert await coverage_row(page, "district") is None
            assert await coverage_row(page, "commune") == "36/36"
            assert await text(page, "#province") == "Thành phố Hồ Chí Minh"
            for kind in ("ministry", "department", "vertical_agency"):
                numbers = ARTICLE[kind]
                ratio = f"{numbers['connected']}/{numbers['registered']}"
                assert await coverage_row(page, kind) == ratio, kind
            assert await page.locator("#districts").is_hidden()
            heat_rows = page.locator("#heatmap-table tbody tr[data-unit]")
            codes = await heat_rows.evaluate_all("rs => rs.map(r => r.dataset.unit)")
            assert "25945" in codes
            assert "718" not in codes
            await page.evaluate("window.scrollTo(0, 0)")
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / f"dashboard-reform-{engine}.png"))

            # Now again: the picker empties and the banner goes.
            await page.click("#as-of-now")
            await page.wait_for_selector('#app[data-at=""]')
            assert await page.locator("#as-of-banner").is_hidden()
            assert problems == []
        finally:
            ARTIFACTS.mkdir(exist_ok=True)
            with contextlib.suppress(playwright_api.Error):
                await page.screenshot(
                    path=str(ARTIFACTS / f"dashboard-reform-{engine}-last.png"), full_page=True
                )


async def test_dashboard_drills_from_a_province_to_its_communes_on_the_national_registry(
    fresh_url: str, tmp_path: Path, page: Any
) -> None:
    """3,321 communes: the page lists the 34 provinces, and a province opens onto its communes
    and its own heatmap rows, never a wall of every unit of the country."""
    started = time.monotonic()
    await cli(fresh_url, "seed", "--registry", "vietnam-2025", "--departments", "3")
    admin = await mint(fresh_url, "VN", *Scope)
    operator = await mint(fresh_url, "VN", Scope.COVERAGE_READ)
    engine = "postgresql" if fresh_url.startswith("postgresql") else "sqlite"
    shot = ARTIFACTS / f"dashboard-national-{engine}.png"
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "console",
        lambda message: problems.append(message.text) if message.type == "error" else None,
    )
    province = "01"  # Thành phố Hà Nội
    async with (
        running_hub(fresh_url, tmp_path / "hub.log") as hub,
        httpx.AsyncClient(base_url=hub.url, timeout=30) as http,
    ):
        api, as_admin = Api(http, operator), Api(http, admin)
        # Most of Hà Nội's communes and one department send their public-service figures.
        in_province = await api.get("/api/v1/coverage", area=province, limit=1000)
        units = in_province["units"]["items"]
        communes = sorted(u["code"] for u in units if u["kind"] == "commune")
        departments = sorted(u["code"] for u in units if u["kind"] == "department")
        assert len(departments) == 3
        sending = {*communes[: len(communes) * 3 // 4], departments[0]}
        series = await api.get("/api/v1/staleness", district=province, group="G-DVC", limit=1000)
        codes = {item["indicator"] for item in series["items"]}
        indicators = {code: await api.get(f"/api/v1/indicators/{code}") for code in codes}
        rows = [
            {
                "unit": item["unit"],
                "indicator": item["indicator"],
                "period": item["expected_period"],
                "value": value_in_range(indicators[item["indicator"]]),
            }
            for item in series["items"]
            if item["unit"] in sending
        ]
        pushed = await as_admin.push(rows)
        assert pushed["created"] == len(rows) > len(sending)
        in_province = await api.get("/api/v1/coverage", area=province, limit=1000)
        units = in_province["units"]["items"]
        groups = (await api.get("/api/v1/indicator-groups", limit=1000))["items"]
        coverage = await api.get("/api/v1/coverage", limit=1)
        assert coverage["kinds"]["commune"]["registered"] == 3321
        try:
            await page.goto(f"{hub.url}/dashboard")
            await page.fill("#key-input", operator)
            await page.click("#key-submit")
            await page.wait_for_selector('#coverage-table tr[data-kind="commune"] .ratio')
            assert await text(page, "#province") == "Việt Nam"
            await page.wait_for_selector('#app[data-registry="national"]', state="attached")
            for kind in ("department", "commune"):
                numbers = coverage["kinds"][kind]
                ratio = f"{numbers['connected']}/{numbers['registered']}"
                assert await text(page, f'#coverage-table tr[data-kind="{kind}"] .ratio') == ratio

            # The areas are the 34 provinces; no heatmap rows until one is chosen.
            assert await text(page, "#districts-title") == "Provinces"
            assert await page.locator("#districts-table tbody tr").count() == 34
            assert await page.locator("#heatmap-table tbody tr").count() == 0
            assert await page.locator("#heatmap-pick").is_visible()

            # Hà Nội opens onto its communes, as many as the endpoint lists for it.
            await page.click(f'#districts-table tr[data-district="{province}"] button')
            await page.wait_for_selector(f'#drilldown[data-district="{province}"]')
            rows = page.locator("#communes-table tbody tr")
            assert await rows.count() == len(communes) > 50
            shown = await rows.evaluate_all("rs => rs.map(r => r.dataset.unit)")
            assert sorted(shown) == communes
            connected = sum(u["connected"] for u in units if u["kind"] == "commune")
            assert 0 < connected < len(communes)
            area_row = f'#districts-table tr[data-district="{province}"]'
            assert await text(page, f"{area_row} .communes-ratio") == (
                f"{connected}/{len(communes)}"
            )
            assert await text(page, f"{area_row} .departments-ratio") == "1/3"

            # The heatmap holds that province's departments and communes, loaded for it alone.
            heat_rows = page.locator("#heatmap-table tbody tr[data-unit]")
            await page.wait_for_function(
                "n => document.querySelectorAll('#heatmap-table tbody tr[data-unit]').length === n",
                arg=len(units),
            )
            codes = await heat_rows.evaluate_all("rs => rs.map(r => r.dataset.unit)")
            assert sorted(codes) == sorted(u["code"] for u in units)
            cells = page.locator("#heatmap-table tbody td.cell")
            assert await cells.count() == len(units) * len(groups)
            fresh = f'#heatmap-table tr[data-unit="{communes[0]}"] td[data-group="G-DVC"]'
            await page.wait_for_selector(f"{fresh}.status-fresh", timeout=NATIONAL_WAIT_MS)
            silent = f'#heatmap-table tr[data-unit="{communes[-1]}"] td[data-group="G-DVC"]'
            assert await page.locator(silent).get_attribute("data-status") == "never"
            assert await page.locator("#heatmap-pick").is_hidden()
            assert problems == []
        finally:
            ARTIFACTS.mkdir(exist_ok=True)
            with contextlib.suppress(playwright_api.Error):
                await page.evaluate("window.scrollTo(0, 0)")
                await page.screenshot(path=str(shot), full_page=True)
    print(f"national dashboard on {engine}: {time.monotonic() - started:.1f} s; screenshot {shot}")
