from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from ioc_hub.models.base import Base, UTCDateTime


class Reorganisation(Base):
    """One change of the map on its effective day (docs/design.md §8). ``document`` is the
    event as it was applied, so it can be listed and undone."""

    __tablename__ = "reorganisations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    effective: Mapped[date] = mapped_column(Date, index=True)
    document: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())


class LineageEdge(Base):
    """``from_unit`` as it was before ``effective`` went, wholly (share 1) or in part, to
    ``to_unit``. A unit that continues its code may have an edge to itself."""

    __tablename__ = "lineage_edges"
    __table_args__ = (
        UniqueConstraint("reorganisation_id", "from_unit_id", "to_unit_id"),
        CheckConstraint("share IS NULL OR (share > 0 AND share <= 1)", name="share"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reorganisation_id: Mapped[int] = mapped_column(ForeignKey("reorganisations.id"), index=True)
    effective: Mapped[date] = mapped_column(Date)
    from_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    to_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    share: Mapped[float | None] = mapped_column(Float)
    primary: Mapped[bool] = mapped_column(Boolean)
    # Why the share is what it is ("whole", "divided, proportions unknown"): shown, never used.
    note: Mapped[str | None] = mapped_column(String(200))
