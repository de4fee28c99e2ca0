from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from ioc_hub.models.base import Base, BigId, UTCDateTime


class Observation(Base):
    """The current value of one (unit, indicator, period); earlier values live in revisions.

    On PostgreSQL the table is partitioned by range of ``period_start``, a partition a year and
    a default one (``ioc_hub.partitions``, docs/design.md §11). PostgreSQL wants the partition key
    in every unique constraint there: the natural key names ``period_start`` (which the period
    determines) on both engines, and the primary key is (id, period_start) on PostgreSQL. The
    mapper keeps ``id`` alone as the identity: its sequence keeps it unique. Since nothing can
    point a foreign key at ``id`` alone, nothing does.
    """

    __tablename__ = "observations"
    __table_args__ = (
        UniqueConstraint("unit_id", "indicator_id", "period", "period_start"),
        # Aggregates read (indicator, period range) and use unit, value and received_at: with
        # them in the index that read is an index-only scan, so its cost follows the answer and
        # not the table (bench/aggregates.py). It serves every (indicator, period) lookup too.
        Index(
            "ix_observations_indicator_id_period_start_covering",
            "indicator_id",
            "period_start",
            "unit_id",
            "value",
            "received_at",
        ),
        Index("ix_observations_received_at", "received_at"),
        {"postgresql_partition_by": "RANGE (period_start)"},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    indicator_id: Mapped[int] = mapped_column(ForeignKey("indicators.id"))
    period: Mapped[str] = mapped_column(String(10))
    period_start: Mapped[date] = mapped_column(Date)
    value: Mapped[float] = mapped_column(Float)
    comment: Mapped[str | None] = mapped_column(String(500))
    observed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    first_received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The key that sent the current value. No foreign key on purpose: keys are never deleted
    # (only revoked), and the check would cost a lookup per ingested row on the hottest table.
    key_id: Mapped[int | None] = mapped_column(Integer)
    revision: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # What the row held before its latest revision. Written by the same UPDATE that replaces the
    # value, so the revision log gets the true old value even when pushes race.
    previous_value: Mapped[float | None] = mapped_column(Float)
    previous_comment: Mapped[str | None] = mapped_column(String(500))
    previous_received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    imported: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")


class ObservationRevision(Base):
    """A value (and comment) an observation held before an update replaced it: who, when, old
    and new."""

    __tablename__ = "observation_revisions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # No foreign key: the revisions of a deleted observation outlive it, reached through its
    # ObservationDeletion.
    observation_id: Mapped[int] = mapped_column(BigId, index=True)
    revision: Mapped[int] = mapped_column(Integer)
    old_value: Mapped[float] = mapped_column(Float)
    new_value: Mapped[float] = mapped_column(Float)
    old_comment: Mapped[str | None] = mapped_column(String(500))
    new_comment: Mapped[str | None] = mapped_column(String(500))
    old_received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    key_id: Mapped[int | None] = mapped_column(ForeignKey("access_keys.id"))


class ObservationDeletion(Base):
    """An observation that a sender deleted (DHIS2's ``importStrategy=DELETE``): its last state,
    the revision the deletion made, who deleted it and when. Its earlier revisions keep its
    ``observation_id``."""

    __tablename__ = "observation_deletions"
    __table_args__ = (Index("ix_observation_deletions_key", "unit_id", "indicator_id", "period"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    observation_id: Mapped[int] = mapped_column(BigId)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    indicator_id: Mapped[int] = mapped_column(ForeignKey("indicators.id"))
    period: Mapped[str] = mapped_column(String(10))
    period_start: Mapped[date] = mapped_column(Date)
    value: Mapped[float] = mapped_column(Float)
    comment: Mapped[str | None] = mapped_column(String(500))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revision: Mapped[int] = mapped_column(Integer, doc="The revision the deletion made")
    deleted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    key_id: Mapped[int | None] = mapped_column(ForeignKey("access_keys.id"))


class Rejection(Base):
    """A pushed row that was refused, kept with its reason for operators."""

    __tablename__ = "rejections"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    key_id: Mapped[int | None] = mapped_column(ForeignKey("access_keys.id"))
    unit_code: Mapped[str | None] = mapped_column(String(64))
    indicator_code: Mapped[str | None] = mapped_column(String(64))
    row_index: Mapped[int] = mapped_column(Integer)
    row: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)


class SeriesState(Base):
    """Kept in the ingest transaction so coverage never scans observations (docs/design.md §4).

    ``last_period`` is the latest period the series has a value for and ``last_value`` that
    value; ``last_received_at`` is when a value of the series last arrived that created or
    changed an observation (re-sending an unchanged value does not move it). A value of an
    earlier period than ``last_period`` moves it only when it arrives more than a second after
    it (``ingest.repository.RECEIPT_RESOLUTION``).
    """

    __tablename__ = "series_state"

    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), primary_key=True)
    indicator_id: Mapped[int] = mapped_column(ForeignKey("indicators.id"), primary_key=True)
    last_period: Mapped[str] = mapped_column(String(10))
    last_period_start: Mapped[date] = mapped_column(Date)
    last_value: Mapped[float] = mapped_column(Float)
    last_received_at: Mapped[datetime] = mapped_column(UTCDateTime)


class UnitContact(Base):
    """When a unit was last heard from, by push or heartbeat."""

    __tablename__ = "unit_contacts"

    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), primary_key=True)
    last_contact_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_push_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class IdempotencyRecord(Base):
    """The first response to a push sent with an ``Idempotency-Key``, replayed to retries."""

    __tablename__ = "idempotency_records"

    key_id: Mapped[int] = mapped_column(ForeignKey("access_keys.id"), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now(), index=True)
