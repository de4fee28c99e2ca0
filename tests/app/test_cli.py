"""The `ioc-hub` command, run as a real process against a real database."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.database import ENGINES, database_url_for


@pytest.fixture(params=ENGINES)
async def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> object:
    async for url in database_url_for(request.param, tmp_path):
        yield url


def ioc_hub(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "IOC_HUB_DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "ioc_hub", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_seed_keys_create_list_revoke(fresh_url: str) -> None:
    first = ioc_hub(fresh_url, "seed")
    assert first.returncode == 0, first.stderr
    assert "128 created" in first.stderr
    second = ioc_hub(fresh_url, "seed")
    assert "0 created, 128 already present" in second.stderr

    created = ioc_hub(
        fresh_url,
        "keys",
        "create",
        "--unit",
        "74",
        "--scope",
        "keys:admin",
        "--scope",
        "coverage:read",
        "--name",
        "admin",
    )
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("ioch_")
    assert created.stdout == token + "\n", "stdout carries the token only"

    listed = ioc_hub(fresh_url, "keys", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert token not in listed.stdout
    assert '"coverage:read"' in listed.stdout

    revoked = ioc_hub(fresh_url, "keys", "revoke", "1")
    assert revoked.returncode == 0, revoked.stderr
    missing = ioc_hub(fresh_url, "keys", "revoke", "42")
    assert missing.returncode == 1
    assert "key 42 does not exist" in missing.stderr


async def test_keys_create_refuses_unknown_scope_and_unit(fresh_url: str) -> None:
    assert ioc_hub(fresh_url, "migrate").returncode == 0
    bad_scope = ioc_hub(fresh_url, "keys", "create", "--unit", "74", "--scope", "root")
    assert bad_scope.returncode == 2
    assert "known scopes" in bad_scope.stderr
    bad_unit = ioc_hub(fresh_url, "keys", "create", "--unit", "nope", "--scope", "keys:admin")
    assert bad_unit.returncode == 2
    assert "does not exist" in bad_unit.stderr


async def test_reorganise_dry_run_then_apply_then_refuse_a_bad_file(
    fresh_url: str, tmp_path: Path
) -> None:
    assert ioc_hub(fresh_url, "seed").returncode == 0
    dry = ioc_hub(fresh_url, "reorganise", "--builtin", "binh-duong-2025", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would change: 65 units end, 1 start" in " ".join(dry.stderr.split())
    applied = ioc_hub(fresh_url, "reorganise", "--builtin", "binh-duong-2025")
    assert applied.returncode == 0, applied.stderr
    assert "applied: 65 units end" in " ".join(applied.stderr.split())
    again = ioc_hub(fresh_url, "reorganise", "--builtin", "binh-duong-2025")
    assert again.returncode == 1
    assert "exists already" in again.stderr

    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "x", "effective": "2026-01-01", "ends": ["nope"]}', "utf-8")
    refused = ioc_hub(fresh_url, "reorganise", str(bad))
    assert refused.returncode == 1
    assert "unit 'nope' does not exist (body.ends.0)" in " ".join(refused.stderr.split())
    neither = ioc_hub(fresh_url, "reorganise")
    assert neither.returncode == 2
