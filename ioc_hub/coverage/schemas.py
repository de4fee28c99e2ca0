from datetime import date, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from ioc_hub.coverage.rules import SeriesStatus
from ioc_hub.kit.pagination import Page
from ioc_hub.kit.periods import Cadence
from ioc_hub.models import UnitKind

Source = Literal["state", "observations"]

SOURCE_DESCRIPTION = (
    "`state`: the state kept at ingest (now, or a future `at` if nothing more arrives); "
    "`observations`: a past `at`, evaluated from stored receipt times"
)


class GroupBy(StrEnum):
    KIND = "kind"
    UNIT = "unit"
    INDICATOR = "indicator"
    GROUP = "group"
    DISTRICT = "district"


class SeriesCounts(BaseModel):
    """How many series (unit × obligated indicator) are in each status."""

    fresh: int = Field(default=0, examples=[27])
    overdue: int = Field(default=0, examples=[2])
    stale: int = Field(default=0, examples=[1])
    never: int = Field(default=0, examples=[0])


class KindCoverage(BaseModel):
    """One line of the article's table: ``department 17/18``."""

    registered: int = Field(examples=[18], description="Active units of the kind")
    connected: int = Field(examples=[17], description="Those heard from within their window")


class UnitCoverage(BaseModel):
    code: str = Field(examples=["DEPT-SYT"])
    name: str = Field(examples=["Sở Y tế"])
    kind: UnitKind = Field(examples=["department"])
    parent: str | None = Field(examples=["74"])
    connected: bool = Field(examples=[True])
    last_contact_at: datetime | None = Field(
        examples=["2026-11-28T09:12:00Z"], description="Last accepted push or heartbeat by `at`"
    )
    connection_window_seconds: int = Field(
        examples=[172_800],
        description="Shortest cadence among its obligations plus that cadence's grace; 7 days "
        "without obligations (docs/design.md §4)",
    )
    fastest_cadence: Cadence | None = Field(
        examples=["daily"], description="Cadence the window derives from; null: no obligations"
    )
    series: SeriesCounts


class CoverageReport(BaseModel):
    """Who is connected as of `at`: per kind, then unit by unit (disconnected first)."""

    at: datetime = Field(examples=["2026-11-28T10:00:00Z"], description="The instant evaluated")
    source: Source = Field(examples=["state"], description=SOURCE_DESCRIPTION)
    day: date = Field(
        examples=["2026-11-28"],
        description="The local day of `at`: its tree (units, kinds, parents) and its "
        "obligations answer (docs/design.md §8)",
    )
    kinds: dict[UnitKind, KindCoverage] = Field(
        examples=[
            {
                "ministry": {"registered": 3, "connected": 3},
                "department": {"registered": 18, "connected": 17},
                "vertical_agency": {"registered": 6, "connected": 4},
                "district": {"registered": 9, "connected": 9},
                "commune": {"registered": 91, "connected": 91},
            }
        ],
        description="Connected over registered active units, per kind (the province itself is "
        "not counted)",
    )
    total: KindCoverage
    series: SeriesCounts = Field(description="Series of every unit in the answer, by status")
    units: Page[UnitCoverage]


class SeriesStaleness(BaseModel):
    unit: str = Field(examples=["25741"])
    kind: UnitKind = Field(examples=["commune"])
    indicator: str = Field(examples=["DVC-HS-TIEP-NHAN"])
    group: str = Field(examples=["G-DVC"])
    cadence: Cadence = Field(examples=["daily"])
    status: SeriesStatus = Field(examples=["overdue"])
    last_period: str | None = Field(
        examples=["2026-11-25"], description="Latest period received by `at`; null: never"
    )
    expected_period: str = Field(
        examples=["2026-11-26"], description="Latest period whose deadline is ≤ `at`"
    )
    lag_periods: int | None = Field(
        examples=[1], description="Periods behind the expected one; null: never"
    )
    last_received_at: datetime | None = Field(
        examples=["2026-11-26T08:30:00Z"], description="When the series last received data by `at`"
    )
    deadline: datetime = Field(
        examples=["2026-11-28T00:00:00+07:00"],
        description="Deadline of the expected period, in the province's time zone",
    )
    grace_seconds: int = Field(examples=[86_400], description="The grace in force for the series")
    first_period: str | None = Field(
        examples=["2025-07"],
        description="First period the series owes, when its unit or obligation started within "
        "the registry's history (docs/design.md §8): nothing before it is missing; null: owed "
        "since before any change the answer needs to know",
    )


class StalenessReport(Page[SeriesStaleness]):
    """Series worst first: never, stale (most periods behind first), overdue, fresh."""

    at: datetime = Field(examples=["2026-11-28T10:00:00Z"], description="The instant evaluated")
    source: Source = Field(examples=["state"], description=SOURCE_DESCRIPTION)
    day: date = Field(
        examples=["2026-11-28"],
        description="The local day of `at`: its tree (units, kinds, parents) and its "
        "obligations answer (docs/design.md §8)",
    )
    counts: SeriesCounts = Field(description="Every matching series by status, across all pages")


class CompletenessCounts(BaseModel):
    expected: int = Field(examples=[300], description="Obligations × due periods in the range")
    actual: int = Field(examples=[285], description="Those received by `at`, once per period")
    on_time: int = Field(examples=[270], description="Those first accepted by their deadline")
    late: int = Field(examples=[15], description="actual - on_time")
    missing: int = Field(examples=[15], description="expected - actual")
    rate: float | None = Field(examples=[0.95], description="actual / expected; null if none due")
    on_time_rate: float | None = Field(
        examples=[0.9], description="on_time / expected; null if none due"
    )


class CompletenessRow(CompletenessCounts):
    key: str = Field(
        examples=["department"],
        description="Kind, unit code, indicator code, group code or district code (the province "
        "code for units outside any district)",
    )
    name: str = Field(examples=["department"])


class CompletenessReport(Page[CompletenessRow]):
    """DHIS2's reporting rate over a period range, lowest rate first."""

    from_period: str = Field(examples=["2026-11"], description="`from`, canonical")
    to_period: str = Field(examples=["2026-11"], description="`to`, canonical")
    first_day: date = Field(examples=["2026-11-01"], description="First local day of the range")
    last_day: date = Field(examples=["2026-11-30"], description="Last local day of the range")
    at: datetime = Field(examples=["2026-12-10T00:00:00Z"], description="The instant evaluated")
    group_by: GroupBy = Field(examples=["kind"])
    overall: CompletenessCounts = Field(description="All rows together")
