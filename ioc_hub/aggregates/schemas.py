import enum

from pydantic import BaseModel, Field

CSV_COLUMNS = ("indicator", "period", "area", "value", "reported", "expected", "approximate")


class OutputFormat(enum.StrEnum):
    JSON = "json"
    CSV = "csv"


class AggregateRow(BaseModel):
    """One indicator in one bucket for one area. ``reported`` against ``expected`` tells a true
    zero from missing data: a bucket nobody reported has ``value`` null and ``reported`` 0;
    ``approximate`` tells a figure that rests on an unknown share (docs/design.md §8)."""

    indicator: str = Field(examples=["DVC-HS-TIEP-NHAN"])
    period: str = Field(examples=["2026-10"], description="Canonical id of the bucket")
    area: str = Field(
        examples=["718"],
        description="Code of the province, district or commune (unit at level unit) on the "
        "answer's map: the chosen day's under boundaries=current, each period's first day's "
        "under boundaries=as_reported",
    )
    value: float | None = Field(
        examples=[15230.0],
        description="Combined over time by the indicator's time_aggregation, then over the "
        "area's units by its area_aggregation; null when no unit reported in the bucket",
    )
    reported: int = Field(
        examples=[427],
        description="Observations (unit, period) of the indicator in the bucket and area that "
        "the value rests on",
    )
    expected: int = Field(
        examples=[434],
        description="For each period of the indicator's cadence in the bucket that is not in "
        "the future, the active units obliged to report it on its last day whose values count "
        "in the area; summed over those periods",
    )
    approximate: bool = Field(
        examples=[False],
        description="True when the value rests on a unit that was divided with unknown shares "
        "and whose value went whole to its primary successor (boundaries=current)",
    )


CSV_EXAMPLE = (
    "indicator,period,area,value,reported,expected,approximate\r\n"
    "DVC-HS-TIEP-NHAN,2026-10,718,15230.0,427,434,false\r\n"
)
