"""A DHIS2 client library from PyPI against a running hub process: dhis2.py (``dhis2.Api``),
given the hub's base URL, a user name and a hub key as password, as it would be given a DHIS2
server's. It posts with Basic authentication and reads ``/api/dataValueSets.json``."""

import asyncio
from pathlib import Path
from typing import Any

from dhis2 import Api
from dhis2.exceptions import RequestException

from tests.dhis2.conftest import MEASLES, NGELEHUN
from tests.dhis2.test_documented_examples import SENDING_BULKS, SENDING_DATA_VALUES
from tests.fixtures.process import running_hub


async def test_dhis2_py_posts_and_reads_through_a_running_hub(
    database_url: str, district_key: str, tmp_path: Path
) -> None:
    async with running_hub(database_url, tmp_path / "hub.log") as hub:

        def exchange() -> tuple[dict[str, Any], RequestException, dict[str, Any]]:
            api = Api(hub.url, "district-clerk", district_key)
            posted = api.post("dataValueSets", json=SENDING_DATA_VALUES).json()
            try:
                api.post("dataValueSets", json=SENDING_BULKS)
            except RequestException as exc:  # dhis2.py raises on DHIS2's 409
                conflict = exc
            else:
                raise AssertionError("a set with a conflict was answered 2xx")
            exported = api.get(
                "dataValueSets",
                params={"dataElement": MEASLES, "period": "201401", "orgUnit": NGELEHUN},
            ).json()
            return posted, conflict, exported

        posted, conflict, exported = await asyncio.to_thread(exchange)
    assert posted["status"] == "OK"
    assert posted["response"]["importCount"]["imported"] == 3
    assert conflict.code == 409
    assert '"errorCode":"E7612"' in conflict.description
    assert [(v["dataElement"], v["value"]) for v in exported["dataValues"]] == [(MEASLES, "12")]
