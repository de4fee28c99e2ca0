"""Outliers reach operators (docs/design.md §9): an ``outlier`` rule fires for a flagged value
and resolves when the value is corrected, and every flag goes to the webhooks that want
``outlier.flagged``, written with the value that caused it."""

import httpx
import pytest
from fastapi import FastAPI

from ioc_hub.models import Scope
from tests.alerts.helpers import alerts, create_rule, evaluate
from tests.conftest import Clock, MintKey, bearer
from tests.quality.helpers import COMMUNE, DAILY, MODIFIED_Z_30, NOW, push, push_baseline
from tests.webhooks.helpers import receiver, until


@pytest.fixture
async def admin(seeded: None, mint_key: MintKey, clock: Clock) -> dict[str, str]:
    clock.set(NOW)
    return bearer(await mint_key("74", *Scope, name="admin"))


SPIKE = {"unit": COMMUNE, "indicator": DAILY, "value": 30, "period": "2026-11-02"}


async def test_an_outlier_rule_fires_for_a_flagged_value_and_a_correction_resolves_it(
    app: FastAPI, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await create_rule(client, admin, {"kind": "outlier", "threshold": 5, "area": "718"})
    await create_rule(client, admin, {"kind": "outlier", "threshold": 50})  # too high to fire
    await push_baseline(client, admin)
    assert (await push(client, admin, [SPIKE]))["flagged"] == 1
    await evaluate(app)
    [alert] = await alerts(client, admin)
    assert alert["state"] == "firing"
    assert alert["subject"] == f"outlier:{COMMUNE}/{DAILY}/2026-11-02"
    assert alert["details"]["score"] == pytest.approx(MODIFIED_Z_30)

    await push(client, admin, [{**SPIKE, "value": 12}])  # the sender corrects it
    await evaluate(app)
    [resolved] = await alerts(client, admin)
    assert (resolved["id"], resolved["state"]) == (alert["id"], "resolved")


async def test_a_flag_reaches_the_webhooks_that_want_it(
    client: httpx.AsyncClient, admin: dict[str, str], mint_key: MintKey
) -> None:
    hooks = await mint_key("74", Scope.ALERTS_ADMIN, name="hooks")
    await push_baseline(client, admin)
    async with receiver(client, hooks, ["outlier.flagged"]) as hook:
        await push(client, admin, [SPIKE])
        [line] = await until(hook.delivered)
    assert line["type"] == "outlier.flagged"
    data = line["data"]
    assert (data["unit"], data["indicator"], data["period"], data["value"]) == (
        COMMUNE,
        DAILY,
        "2026-11-02",
        30.0,
    )
    assert data["score"] == pytest.approx(MODIFIED_Z_30)
