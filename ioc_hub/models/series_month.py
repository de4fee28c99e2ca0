from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Float, ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column

from ioc_hub.models.base import Base, UTCDateTime


class SeriesMonth(Base):
    """The reports of one series whose periods start in one calendar month, kept in the ingest
    transaction so completeness and aggregates need not read observations (docs/design.md §4,
    §5).

    ``received`` counts the observations (one per period, whatever its revisions), ``on_time``
    those first accepted by their period's deadline under the grace ``grace_microseconds`` was
    then; ``NULL`` there means the grace changed while the month was counted and ``on_time`` is
    not to be trusted. ``last_received_at`` is the latest first acceptance among them: the month
    says what had arrived by any instant from then on. The key leads with the indicator and the
    month, as completeness reads a range of months of a few indicators for every unit.

    The ``value_*`` columns, ``last_*`` and ``changed_at`` hold the current values of those
    observations as aggregates combine them over time: their sum, least and greatest, the value
    of the latest period and its start, and the latest receipt (created or changed). They are
    NULL only on a month whose observations were archived before the hub kept them (revision
    0014); aggregates pass over it, as over its missing observations.
    """

    __tablename__ = "series_months"

    indicator_id: Mapped[int] = mapped_column(ForeignKey("indicators.id"), primary_key=True)
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    """The first day of the month."""
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), primary_key=True)
    received: Mapped[int] = mapped_column(Integer)
    on_time: Mapped[int] = mapped_column(Integer)
    grace_microseconds: Mapped[int | None] = mapped_column(BigInteger)
    last_received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    value_sum: Mapped[float | None] = mapped_column(Float)
    value_min: Mapped[float | None] = mapped_column(Float)
    value_max: Mapped[float | None] = mapped_column(Float)
    last_start: Mapped[date | None] = mapped_column(Date)
    last_value: Mapped[float | None] = mapped_column(Float)
    changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
