"""The open-data catalogue in DCAT's vocabulary, with the field names of the Project Open Data
metadata schema (DCAT-US v1.1), which open-data portals harvest as they are."""

from datetime import datetime

from pydantic import BaseModel, Field

from ioc_hub.kit.periods import Cadence

CONFORMS_TO = "https://project-open-data.cio.gov/v1.1/schema"

# ISO 8601 repeating durations, as DCAT-US spells accrualPeriodicity.
ACCRUAL_PERIODICITY = {
    Cadence.DAILY: "R/P1D",
    Cadence.WEEKLY: "R/P1W",
    Cadence.MONTHLY: "R/P1M",
    Cadence.QUARTERLY: "R/P3M",
    Cadence.YEARLY: "R/P1Y",
}


class Publisher(BaseModel):
    name: str = Field(examples=["Bình Dương"])


class Distribution(BaseModel):
    """One download of a dataset."""

    title: str = Field(examples=["Toàn tỉnh, CSV"])
    format: str = Field(examples=["CSV"])
    mediaType: str = Field(examples=["text/csv"])
    downloadURL: str = Field(
        examples=["https://hub.example/open/v1/data/CPI?format=csv&level=province"]
    )


class Dataset(BaseModel):
    """One open indicator."""

    identifier: str = Field(examples=["CPI"], description="The indicator's code")
    title: str = Field(examples=["Chỉ số giá tiêu dùng"])
    description: str
    keyword: list[str] = Field(examples=[["G-SXTM", "monthly"]])
    theme: list[str] = Field(examples=[["Sản xuất, thương mại, giá cả và du lịch"]])
    accrualPeriodicity: str = Field(
        examples=["R/P1M"], description="The cadence as an ISO 8601 repeating duration"
    )
    cadence: Cadence = Field(examples=["monthly"])
    measurementUnit: str = Field(examples=["%"])
    modified: datetime | None = Field(
        description="When a value of the indicator was last received; null before the first"
    )
    spatial: str = Field(examples=["Bình Dương"])
    publisher: Publisher
    distribution: list[Distribution]


class Catalog(BaseModel):
    """Every indicator flagged open, with links to its data in JSON and CSV."""

    conformsTo: str = Field(examples=[CONFORMS_TO])
    title: str = Field(examples=["Dữ liệu mở – Bình Dương"])
    description: str
    publisher: Publisher
    modified: datetime | None = Field(description="The latest `modified` of its datasets")
    dataset: list[Dataset]
