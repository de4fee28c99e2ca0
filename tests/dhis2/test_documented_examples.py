"""DHIS2's own documented payloads, posted unchanged; only the identifiers they use are mapped
to hub codes (``conftest.py``). Source of every payload: the DHIS2 developer manual, Web API,
"Data" chapter (dhis2/dhis2-docs, ``src/developer/web-api/data.md``)."""

import httpx

from ioc_hub.dhis2.schemas import DOCUMENTED_EXAMPLE
from tests.conftest import bearer
from tests.dhis2.conftest import CHOLERA, DISTRICT, DYSENTERY, MEASLES, NGELEHUN, post_set

# data.md, "Sending data values": the JSON form of the Mortality < 5 years report for Ngelehun
# CHC, January 2014 (also the example the published contract shows).
SENDING_DATA_VALUES = DOCUMENTED_EXAMPLE

# data.md, "Sending bulks of data values", the JSON form: values for several periods and org
# units, the last of which ("Jkhdsf8sdf4") the manual calls an invalid org unit reference.
SENDING_BULKS = {
    "dataValues": [
        {"dataElement": "f7n9E0hX8qk", "period": "201401", "orgUnit": "DiszpKrYNg8", "value": "12"},
        {"dataElement": "f7n9E0hX8qk", "period": "201401", "orgUnit": "FNnj3jKGS7i", "value": "14"},
        {"dataElement": "f7n9E0hX8qk", "period": "201402", "orgUnit": "DiszpKrYNg8", "value": "16"},
        {"dataElement": "f7n9E0hX8qk", "period": "201402", "orgUnit": "Jkhdsf8sdf4", "value": "18"},
    ]
}

# data.md, "Sending individual data values as payload": one value with a comment and a
# non-default category option combo ("PT59n8BQbqM"), which the hub cannot store.
INDIVIDUAL_VALUE = {
    "dataElement": "fbfJHSPpUQD",
    "categoryOptionCombo": "PT59n8BQbqM",
    "period": "202201",
    "orgUnit": "DiszpKrYNg8",
    "value": "10",
    "comment": "OK",
}


async def test_dhis2_aggregate_data_exchange(client: httpx.AsyncClient, district_key: str) -> None:
    """A DHIS2 aggregate data exchange: the documented set is posted as DHIS2 posts it, the
    answer is DHIS2's summary, and the values are in the hub's observations and aggregates."""
    response = await post_set(client, bearer(district_key), SENDING_DATA_VALUES)
    assert response.status_code == 200, response.text
    message = response.json()
    assert message["httpStatus"] == "OK"
    assert message["httpStatusCode"] == 200
    assert message["status"] == "OK"
    assert message["message"] == "Import was successful."
    summary = message["response"]
    assert summary["responseType"] == "ImportSummary"
    assert summary["status"] == "SUCCESS"
    assert summary["importCount"] == {"imported": 3, "updated": 0, "ignored": 0, "deleted": 0}
    assert summary["conflicts"] == []

    listed = await client.get(
        "/api/v1/observations", params={"unit": "25741"}, headers=bearer(district_key)
    )
    stored = {(o["indicator"], o["period"], o["value"]) for o in listed.json()["items"]}
    assert stored == {
        ("YT-SOI", "2014-01", 1.0),
        ("YT-LY", "2014-01", 2.0),
        ("YT-TA", "2014-01", 3.0),
    }

    aggregates = await client.get(
        "/api/v1/aggregates",
        params={
            "indicator": "YT-SOI,YT-LY,YT-TA",
            "from": "2014-01",
            "to": "2014-01",
            "area": DISTRICT,
        },
        headers=bearer(district_key),
    )
    assert aggregates.status_code == 200, aggregates.text
    rows = {(r["indicator"], r["period"], r["value"]) for r in aggregates.json()["items"]}
    assert rows == {
        ("YT-SOI", "2014-01", 1.0),
        ("YT-LY", "2014-01", 2.0),
        ("YT-TA", "2014-01", 3.0),
    }


async def test_bulk_example_gets_the_summary_the_manual_describes(
    client: httpx.AsyncClient, district_key: str
) -> None:
    """The manual: sent after the first example, the bulk "imported 2, updated 1, ignored 1",
    the ignored value referencing an invalid org unit. DHIS2 answers that with HTTP 409."""
    await post_set(client, bearer(district_key), SENDING_DATA_VALUES)
    response = await post_set(client, bearer(district_key), SENDING_BULKS)
    assert response.status_code == 409, response.text
    message = response.json()
    assert (message["httpStatus"], message["status"]) == ("Conflict", "WARNING")
    assert message["message"] == "One more conflicts encountered, please check import summary."
    summary = message["response"]
    assert summary["status"] == "WARNING"
    assert summary["importCount"] == {"imported": 2, "updated": 1, "ignored": 1, "deleted": 0}
    [conflict] = summary["conflicts"]
    assert conflict["object"] == "Jkhdsf8sdf4"
    assert conflict["objects"] == {"orgUnit": "Jkhdsf8sdf4"}
    assert conflict["errorCode"] == "E7612"
    assert conflict["property"] == "orgUnit"
    assert conflict["indexes"] == [3]
    assert conflict["value"].startswith(
        "Organisation unit not found or not accessible: `Jkhdsf8sdf4`"
    )
    assert summary["rejectedIndexes"] == [3]

    exported = await client.get(
        "/api/dataValueSets",
        params={"dataElement": MEASLES, "period": ["201401", "201402"], "orgUnit": NGELEHUN},
        headers=bearer(district_key),
    )
    assert exported.status_code == 200, exported.text
    values = {
        (v["dataElement"], v["period"], v["orgUnit"], v["value"])
        for v in exported.json()["dataValues"]
    }
    assert values == {(MEASLES, "201401", NGELEHUN, "12"), (MEASLES, "201402", NGELEHUN, "16")}


async def test_individual_value_with_another_combo_is_a_conflict(
    client: httpx.AsyncClient, district_key: str
) -> None:
    response = await post_set(client, bearer(district_key), {"dataValues": [INDIVIDUAL_VALUE]})
    assert response.status_code == 409, response.text
    summary = response.json()["response"]
    assert summary["importCount"] == {"imported": 0, "updated": 0, "ignored": 1, "deleted": 0}
    [conflict] = summary["conflicts"]
    assert (conflict["errorCode"], conflict["property"], conflict["object"]) == (
        "E7613",
        "categoryOptionCombo",
        "PT59n8BQbqM",
    )
    assert conflict["indexes"] == [0]


async def test_export_has_the_documented_shape(
    client: httpx.AsyncClient, district_key: str
) -> None:
    """data.md, "Reading data values": the JSON answer lists each value with its data element,
    category option combo, period, org unit and value (as a string)."""
    await post_set(client, bearer(district_key), SENDING_DATA_VALUES)
    response = await client.get(
        "/api/dataValueSets.json",
        params={"dataSet": "G-YTE", "period": "201401", "orgUnit": NGELEHUN},
        headers=bearer(district_key),
    )
    assert response.status_code == 200, response.text
    values = response.json()["dataValues"]
    assert [(v["dataElement"], v["period"], v["orgUnit"], v["value"]) for v in values] == [
        (DYSENTERY, "201401", NGELEHUN, "2"),
        (MEASLES, "201401", NGELEHUN, "1"),
        (CHOLERA, "201401", NGELEHUN, "3"),
    ]
    assert {v["categoryOptionCombo"] for v in values} == {"HllvX50cXC0"}
