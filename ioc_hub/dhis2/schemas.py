"""DHIS2's wire shapes (docs/design.md §10), named and cased as DHIS2 names them so that DHIS2
clients read them unchanged: the data value set in and out, and the import summary in DHIS2's
web message envelope (DHIS2 2.38+)."""

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from ioc_hub.kit.params import CODE_PATTERN
from ioc_hub.models import Dhis2Kind

DEFAULT_COMBO_IDS = frozenset({"default", "HllvX50cXC0"})
"""DHIS2's default category option combo, by code or name and by its UID: the only one the hub
takes, as its values have no disaggregation."""
DEFAULT_COMBO_UID = "HllvX50cXC0"

# DHIS2 developer manual, Web API, "Data" chapter (dhis2/dhis2-docs,
# src/developer/web-api/data.md), "Sending data values": the JSON form of the Mortality < 5 years
# report for Ngelehun CHC, January 2014.
DOCUMENTED_EXAMPLE: dict[str, JsonValue] = {
    "dataSet": "pBOMPrpg1QX",
    "completeDate": "2014-02-03",
    "period": "201401",
    "orgUnit": "DiszpKrYNg8",
    "dataValues": [
        {"dataElement": "f7n9E0hX8qk", "value": "1"},
        {"dataElement": "Ix2HsbDMLea", "value": "2"},
        {"dataElement": "eY5ehpbEsB7", "value": "3"},
    ],
}


class ImportStrategy(StrEnum):
    CREATE_AND_UPDATE = "CREATE_AND_UPDATE"
    CREATE = "CREATE"
    UPDATE = "UPDATE"
    DELETE = "DELETE"


class DataValueIn(BaseModel):
    """One DHIS2 data value. ``period`` and ``orgUnit`` default to the set's. Other DHIS2 fields
    (``storedBy``, ``created``, ``lastUpdated``, ``followup``) are accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    dataElement: str = Field(description="Data element code, or an identifier mapped to one")
    period: str | None = Field(default=None, description="DHIS2 period id: 20240115, 2024W3...")
    orgUnit: str | None = Field(default=None, description="Org unit code, or a mapped identifier")
    categoryOptionCombo: str | None = Field(default=None, description="Absent or the default")
    attributeOptionCombo: str | None = Field(default=None, description="Absent or the default")
    value: str | float | None = Field(default=None, description="A number, as DHIS2 writes it")
    comment: str | None = None


class DataValueSetIn(BaseModel):
    """A DHIS2 data value set. ``dataSet`` and ``completeDate`` are accepted and not used: the
    hub's obligations say what a unit reports, and completeness is measured from the values."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [DOCUMENTED_EXAMPLE]})

    dataSet: str | None = None
    completeDate: str | None = None
    period: str | None = None
    orgUnit: str | None = None
    attributeOptionCombo: str | None = None
    dataValues: list[DataValueIn] = Field(default_factory=list)


class Dhis2ImportCount(BaseModel):
    imported: int = Field(examples=[3])
    updated: int = Field(examples=[0])
    ignored: int = Field(examples=[1])
    deleted: int = Field(examples=[0])


class Dhis2Conflict(BaseModel):
    """Rows refused for one reason about one object, as DHIS2 reports them."""

    object: str = Field(examples=["Jkhdsf8sdf4"], description="The identifier or value refused")
    objects: dict[str, str] = Field(examples=[{"orgUnit": "Jkhdsf8sdf4"}])
    value: str = Field(examples=["Organisation unit not found or not accessible: `Jkhdsf8sdf4`"])
    errorCode: str = Field(examples=["E7612"], description="DHIS2's error code")
    property: str = Field(examples=["orgUnit"])
    indexes: list[int] = Field(examples=[[3]], description="Positions of the rows, from 0")


class Dhis2ImportOptions(BaseModel):
    idSchemes: dict[str, str] = Field(examples=[{"idScheme": "CODE"}])
    dryRun: bool
    importStrategy: ImportStrategy


class Dhis2ImportSummary(BaseModel):
    responseType: Literal["ImportSummary"] = "ImportSummary"
    status: Literal["SUCCESS", "WARNING", "ERROR"]
    importOptions: Dhis2ImportOptions
    description: str = Field(examples=["Import process completed successfully"])
    importCount: Dhis2ImportCount
    conflicts: list[Dhis2Conflict] = Field(default_factory=list)
    rejectedIndexes: list[int] = Field(default_factory=list)
    dataSetComplete: str = Field(default="false", description="Always false: not recorded")


class Dhis2WebMessage(BaseModel):
    """DHIS2's envelope: HTTP 200 and ``OK`` when every row was stored, HTTP 409 with
    ``WARNING`` when some rows conflicted, HTTP 409 with ``ERROR`` when none could be stored or
    the body could not be read."""

    httpStatus: str = Field(examples=["Conflict"])
    httpStatusCode: int = Field(examples=[409])
    status: Literal["OK", "WARNING", "ERROR"]
    message: str = Field(examples=["One more conflicts encountered, please check import summary."])
    response: Dhis2ImportSummary


class DataValueOut(BaseModel):
    dataElement: str = Field(examples=["DVC-HS-TIEP-NHAN"])
    period: str = Field(examples=["20261127"])
    orgUnit: str = Field(examples=["25741"])
    categoryOptionCombo: str = Field(examples=[DEFAULT_COMBO_UID])
    attributeOptionCombo: str = Field(examples=[DEFAULT_COMBO_UID])
    value: str = Field(examples=["42"])
    storedBy: str = Field(examples=["key:12"], description="The hub key that sent the value")
    created: datetime = Field(description="When the first value of this period arrived")
    lastUpdated: datetime = Field(description="When the current value arrived")
    comment: str | None = None
    followup: bool = False


class DataValueSetOut(BaseModel):
    dataValues: list[DataValueOut]


class MappingIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"kind": "dataElement", "dhis2_id": "f7n9E0hX8qk", "code": "YT-SOI"}]
        },
    )

    kind: Dhis2Kind = Field(description="What the identifier names: a data element or org unit")
    dhis2_id: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[^\x00-\x20\x7f]+$",
        description="The identifier DHIS2 senders use: a UID or a code",
    )
    code: str = Field(
        max_length=64,
        pattern=CODE_PATTERN,
        description="The hub's indicator (or unit) code it names",
    )


class MappingUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"code": "YT-SOI"}]})

    code: str = Field(
        max_length=64,
        pattern=CODE_PATTERN,
        description="The hub's indicator (or unit) code it names from now on",
    )


class MappingOut(BaseModel):
    id: int
    kind: Dhis2Kind
    dhis2_id: str
    code: str
    created_at: datetime
