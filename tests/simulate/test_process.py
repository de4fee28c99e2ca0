"""`ioc-hub simulate` as a real process against a real hub process on a fresh database."""

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.fixtures.database import ENGINES, database_url_for
from tests.simulate.helpers import ARTICLE

ADMIN_SCOPES = [
    "keys:admin",
    "observations:write",
    "observations:import",
    "coverage:read",
    "aggregates:read",
]
TZ = ZoneInfo("Asia/Ho_Chi_Minh")

pytestmark = pytest.mark.slow


@pytest.fixture(params=ENGINES)
async def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    async for url in database_url_for(request.param, tmp_path):
        yield url


def ioc_hub(
    url: str, *args: str, timeout: float = 120, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ioc_hub", *args],
        env={**os.environ, "IOC_HUB_DATABASE_URL": url, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def hub_process(url: str, log: Path) -> Iterator[str]:
    """A hub serving ``url``'s database on a free port, until the block ends."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "IOC_HUB_DATABASE_URL": url, "IOC_HUB_LOG_LEVEL": "warning"}
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "ioc_hub", "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None:
                    pytest.fail(f"the hub exited with {process.returncode}:\n{log.read_text()}")
                try:
                    if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"the hub did not come up in 60 s:\n{log.read_text()}")
                time.sleep(0.2)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)


def get(base: str, token: str, path: str, **params: Any) -> Any:
    response = httpx.get(
        f"{base}{path}", params=params, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert response.status_code == 200, response.text
    return response.json()


def simulate(url: str, base: str, token: str, *args: str) -> dict[str, Any]:
    done = ioc_hub(
        url,
        "simulate",
        "--url",
        base,
        "--json",
        *args,
        timeout=300,
        IOC_HUB_ADMIN_KEY=token,
    )
    assert done.returncode == 0, done.stderr
    summary: dict[str, Any] = json.loads(done.stdout)
    return summary


async def test_article_scenario_reproduces_the_articles_coverage_table(
    fresh_url: str, tmp_path: Path
) -> None:
    seeded = ioc_hub(fresh_url, "seed")
    assert seeded.returncode == 0, seeded.stderr
    scopes = [arg for scope in ADMIN_SCOPES for arg in ("--scope", scope)]
    minted = ioc_hub(fresh_url, "keys", "create", "--unit", "74", *scopes, "--name", "admin")
    assert minted.returncode == 0, minted.stderr
    token = minted.stdout.strip()

    with hub_process(fresh_url, tmp_path / "hub.log") as base:
        summary = simulate(
            fresh_url,
            base,
            token,
            "--scenario",
            "article",
            "--backfill",
            "3",
            "--out-of-range",
            "0.02",
            "--malformed",
            "0.02",
            "--seed",
            "7",
        )
        assert summary["failures"] == {}
        # Every row of an ended period was imported (it arrived before the run), pushed now by
        # its unit, held back (meant to be late) or never sent. Late in the evening, local time,
        # every value of yesterday has arrived already and there is nothing left to push.
        rows = summary["rows"]
        assert rows["imported"] > 0
        assert rows["planned"] == (
            rows["imported"]
            + rows["pushed"]
            - rows["duplicates"]
            + rows["held_back"]
            + rows["missing"]
        )
        assert summary["coverage"] == {
            k: [v["connected"], v["registered"]] for k, v in ARTICLE.items()
        }

        coverage = get(base, token, "/api/v1/coverage", limit=1)
        assert coverage["kinds"] == ARTICLE

        # Injected faults come back as rejections, by reason, and stay for operators.
        reasons = summary["rejected_by_reason"]
        assert summary["rejected"] == sum(reasons.values()) > 0
        assert any("above max" in r or "below min" in r for r in reasons)
        assert any(
            "no time zone" in r or "not a number" in r or "valid period" in r for r in reasons
        )
        assert get(base, token, "/api/v1/rejections", limit=1)["total"] > 0

        # History: a daily indicator has values on each of the backfilled days, most imported.
        started = datetime.fromisoformat(summary["started_at"]).astimezone(TZ).date()
        days = [(started - timedelta(days=n)).isoformat() for n in (3, 2, 1)]
        history = get(
            base,
            token,
            "/api/v1/observations",
            indicator="DVC-HS-TIEP-NHAN",
            limit=1000,
            **{"from": days[0], "to": days[-1]},
        )["items"]
        assert {o["period"] for o in history} == set(days)
        assert sum(o["imported"] for o in history) > len(history) / 2
        assert len({o["unit"] for o in history}) > 100

        # The silent units sent nothing at all.
        silent = summary["units"]["silent"]
        assert len(silent) == 3
        for unit in silent:
            assert get(base, token, "/api/v1/observations", unit=unit, limit=1)["total"] == 0

        # A short live run on top keeps the table and reaches the present.
        live = simulate(
            fresh_url,
            base,
            token,
            "--live",
            "--speed",
            "3600",
            "--duration",
            "3",
            "--seed",
            "7",
        )
        assert live["rows"]["pushed"] + live["heartbeats"] > 0
        reached = datetime.fromisoformat(live["reached"])
        assert reached >= datetime.fromisoformat(live["started_at"])
        assert get(base, token, "/api/v1/coverage", limit=1)["kinds"] == ARTICLE

        refused = ioc_hub(
            fresh_url, "simulate", "--url", base, "--admin-key", "ioch_not-a-key", timeout=60
        )
        assert refused.returncode == 1
        assert "refused the admin key" in refused.stderr


def test_simulate_says_when_no_hub_answers() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ioc_hub",
            "simulate",
            "--url",
            f"http://127.0.0.1:{free_port()}",
            "--admin-key",
            "ioch_x",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "cannot reach the hub" in done.stderr
