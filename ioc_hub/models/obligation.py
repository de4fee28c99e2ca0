from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from ioc_hub.models.base import Base, UTCDateTime


class Obligation(Base):
    """ "Unit U must report indicator I", assigned to one unit or to every unit of a kind,
    optionally only within one district (docs/design.md §2), on the days from ``valid_from`` (none:
    always) until ``valid_to`` (none: open), and only on days its unit exists (§8)."""

    __tablename__ = "obligations"
    __table_args__ = (
        CheckConstraint(
            "(unit_id IS NOT NULL AND unit_kind IS NULL AND district_id IS NULL)"
            " OR (unit_id IS NULL AND unit_kind IS NOT NULL)",
            name="target",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    indicator_id: Mapped[int] = mapped_column(ForeignKey("indicators.id"), index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    unit_kind: Mapped[str | None] = mapped_column(String(20))
    district_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    # The reorganisation that handed the obligation to a successor: undoing it removes it.
    reorganisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("reorganisations.id"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
