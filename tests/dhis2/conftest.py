"""The DHIS2 door's fixtures: three monthly health indicators standing for DHIS2's documented
example data elements, and mappings from the documented identifiers to hub codes."""

from typing import Any

import httpx
import pytest

from ioc_hub.models import Scope
from tests.conftest import Clock, MintKey, bearer

# DHIS2 developer manual, "Sending data values": Measles, Dysentery and Cholera at Ngelehun CHC.
MEASLES, DYSENTERY, CHOLERA = "f7n9E0hX8qk", "Ix2HsbDMLea", "eY5ehpbEsB7"
NGELEHUN, SECOND_FACILITY = "DiszpKrYNg8", "FNnj3jKGS7i"
# What they are in the hub: indicators made for the test, and two communes of district 718.
INDICATORS = {MEASLES: "YT-SOI", DYSENTERY: "YT-LY", CHOLERA: "YT-TA"}
UNITS = {NGELEHUN: "25741", SECOND_FACILITY: "25744"}
DISTRICT = "718"


@pytest.fixture
async def admin(admin_token: str, clock: Clock) -> dict[str, str]:
    return bearer(admin_token)


@pytest.fixture
async def health(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    """The example's data elements as monthly indicators, and the example's identifiers mapped
    to hub codes (only the codes are adapted, never the payloads)."""
    for code in INDICATORS.values():
        created = await client.post(
            "/api/v1/indicators",
            headers=admin,
            json={
                "code": code,
                "name": f"Số ca {code}",
                "group": "G-YTE",
                "cadence": "monthly",
                "measurement_unit": "ca",
                "time_aggregation": "sum",
                "area_aggregation": "sum",
                "min_value": 0,
                "max_value": 100000,
            },
        )
        assert created.status_code == 201, created.text
    for kind, table in (("dataElement", INDICATORS), ("orgUnit", UNITS)):
        for dhis2_id, code in table.items():
            mapped = await client.post(
                "/api/v1/dhis2/mappings",
                headers=admin,
                json={"kind": kind, "dhis2_id": dhis2_id, "code": code},
            )
            assert mapped.status_code == 201, mapped.text


@pytest.fixture
async def district_key(mint_key: MintKey, health: None) -> str:
    """A key of district 718, which pushes for its communes and reads them."""
    return await mint_key(DISTRICT, Scope.OBSERVATIONS_WRITE, Scope.AGGREGATES_READ)


async def post_set(
    client: httpx.AsyncClient, headers: dict[str, str], body: Any, **params: Any
) -> httpx.Response:
    return await client.post("/api/dataValueSets", json=body, headers=headers, params=params)
