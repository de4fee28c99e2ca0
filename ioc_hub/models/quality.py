"""Data quality (docs/design.md §9): values flagged as outliers, the baselines ingest judges
them against, and values marked for follow-up."""

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Index, Integer, String
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Mapped, mapped_column

from ioc_hub.models.base import Base, BigId, UTCDateTime


class OutlierFlag(Base):
    """A value ingest found improbable against its series' baseline when it arrived. Kept as
    history: a value changed and flagged again gets a second row."""

    __tablename__ = "outlier_flags"
    __table_args__ = (
        # Listing by indicator and period window; the alert evaluator reads what is new.
        Index("ix_outlier_flags_indicator_id_period_start", "indicator_id", "period_start"),
        Index("ix_outlier_flags_unit_id_indicator_id_period", "unit_id", "indicator_id", "period"),
        Index("ix_outlier_flags_flagged_at", "flagged_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    indicator_id: Mapped[int] = mapped_column(ForeignKey("indicators.id"))
    period: Mapped[str] = mapped_column(String(10))
    period_start: Mapped[date] = mapped_column(Date)
    value: Mapped[float] = mapped_column(Float)
    centre: Mapped[float] = mapped_column(Float)
    spread: Mapped[float] = mapped_column(Float)
    score: Mapped[float] = mapped_column(Float)
    lower: Mapped[float] = mapped_column(Float)
    upper: Mapped[float] = mapped_column(Float)
    algorithm: Mapped[str] = mapped_column(String(16))
    threshold: Mapped[float] = mapped_column(Float)
    n: Mapped[int] = mapped_column(Integer)
    flagged_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OutlierBaseline(Base):
    """The statistics of one series over the baseline of one month (the ``months`` calendar
    months before it), as ingest last computed them: a daily series then costs one baseline a
    month, not one a push. A write into the window deletes the row (``quality.flagging``)."""

    __tablename__ = "outlier_baselines"

    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), primary_key=True)
    indicator_id: Mapped[int] = mapped_column(ForeignKey("indicators.id"), primary_key=True)
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    months: Mapped[int] = mapped_column(Integer)
    """The window's length in months (``outlier_baseline_months`` when it was computed)."""
    n: Mapped[int] = mapped_column(Integer)
    mean: Mapped[float | None] = mapped_column(Float)
    sd: Mapped[float | None] = mapped_column(Float)
    median: Mapped[float | None] = mapped_column(Float)
    mad: Mapped[float | None] = mapped_column(Float)


MonthValues = JSON().with_variant(postgresql.ARRAY(Float), "postgresql")
"""A list of floats: an array on PostgreSQL (built and read in SQL), JSON text on SQLite."""


class OutlierMonth(Base):
    """The values of one series in one calendar month of period start: what a baseline is
    merged from (``quality.flagging``). A month's values outlast the baselines that read them,
    so the baseline of a new month reads the month just ended from observations and the eleven
    before it from here. A write or a deletion in the month deletes the row. A cache of
    observations' values, kept many rows a push: no foreign keys, which would cost two lookups a
    row."""

    __tablename__ = "outlier_months"

    unit_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    indicator_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    month_values: Mapped[list[float]] = mapped_column(MonthValues)


class FollowUp(Base):
    """An observation an operator marked for follow-up, with a note; ``follow_up`` false once
    it is dealt with (the note stays)."""

    __tablename__ = "follow_ups"

    # No foreign key: on PostgreSQL observations' key is (id, period_start) (partitions).
    observation_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    follow_up: Mapped[bool] = mapped_column(Boolean, index=True)
    note: Mapped[str] = mapped_column(String(1000))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    key_id: Mapped[int | None] = mapped_column(ForeignKey("access_keys.id"))
