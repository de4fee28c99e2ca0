from datetime import date

from sqlalchemy import BigInteger, Date, Integer
from sqlalchemy.orm import Mapped, mapped_column

from ioc_hub.models.base import Base


class OwedSeries(Base):
    """A series the registry owes on the days of :class:`OwedBasis`, with the day it began to be
    owed (``None``: before every change of the registry), kept so that coverage and staleness
    need not expand the obligations over the tree on every call (docs/design.md §4). No foreign
    keys: the rows are only read while the basis says they hold."""

    __tablename__ = "owed_series"

    unit_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    indicator_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    start: Mapped[date | None] = mapped_column(Date)


class OwedBasis(Base):
    """One row saying what ``owed_series`` holds: the series owed from ``day`` until the day
    before ``until`` (the registry's next change; ``None``: none planned) under the registry of
    ``generation`` (:class:`RegistryGeneration`)."""

    __tablename__ = "owed_basis"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger)
    day: Mapped[date] = mapped_column(Date)
    until: Mapped[date | None] = mapped_column(Date)
