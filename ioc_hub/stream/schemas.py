"""The data of each event type on ``GET /api/v1/stream`` (the SSE ``data:`` line, one JSON
object). The SSE ``event:`` field names the type and ``id:`` the event's id."""

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from ioc_hub.alerts.schemas import AlertEvent
from ioc_hub.coverage.rules import SeriesStatus
from ioc_hub.kit.periods import Cadence
from ioc_hub.models import UnitKind
from ioc_hub.webhooks.schemas import EndpointDisabled

Via = Literal["push", "import", "heartbeat"]


class EventType(StrEnum):
    OBSERVATIONS = "observations"
    SERIES = "series"
    CONNECTION = "connection"
    OUTLIER = "outlier"
    RESET = "reset"
    ALERT_FIRING = "alert.firing"
    ALERT_RESOLVED = "alert.resolved"
    ENDPOINT_DISABLED = "endpoint.disabled"


class UnitFields(BaseModel):
    """The unit an event concerns: the stream shows a key the events of its area only."""

    unit: str = Field(examples=["25741"], description="Unit code")
    kind: UnitKind = Field(examples=["commune"])
    parent: str | None = Field(examples=["718"], description="Parent unit code")


class ObservationsEvent(UnitFields):
    """`observations`: a push or import was accepted; one event per unit it carried rows for."""

    at: datetime = Field(description="When the hub accepted the batch")
    imported: bool = Field(examples=[False], description="An admin's backfill import")
    rows: int = Field(examples=[3], description="The unit's rows stored or found unchanged")
    created: int = Field(examples=[2])
    updated: int = Field(examples=[1])
    unchanged: int = Field(examples=[0])
    indicators: list[str] = Field(examples=[["DVC-HS-TIEP-NHAN"]], description="Sorted")
    periods: list[str] = Field(examples=[["2026-11-27"]], description="Sorted")
    truncated: bool = Field(
        default=False,
        description="`indicators` or `periods` were cut short to keep the event small",
    )


class SeriesEvent(UnitFields):
    """`series`: a push or import moved a series' latest period forward (or gave the series its
    first value). `status` and `previous_status` are evaluated at `at` (docs/design.md §4), before
    and after the move: when they differ, the series changed status."""

    at: datetime = Field(description="When the hub accepted the value")
    indicator: str = Field(examples=["DVC-HS-TIEP-NHAN"])
    cadence: Cadence = Field(examples=["daily"])
    period: str = Field(examples=["2026-11-27"], description="The series' latest period now")
    previous_period: str | None = Field(
        examples=["2026-11-25"], description="Its latest period before; null: none"
    )
    status: SeriesStatus = Field(examples=["fresh"])
    previous_status: SeriesStatus = Field(examples=["overdue"])


class ConnectionEvent(UnitFields):
    """`connection`: a unit was heard from (accepted push, import or heartbeat) for the first
    time, or after a silence longer than its connection window (docs/design.md §4), so it counts as
    connected again. Units dropping out of their window send nothing, so no event says so:
    the coverage endpoint does."""

    at: datetime = Field(description="When the hub recorded the contact")
    status: Literal["connected"] = "connected"
    reason: Literal["first_contact", "reconnected"] = Field(examples=["reconnected"])
    via: Via = Field(examples=["push"])
    last_contact_at: datetime = Field(description="The contact (an import's past receipt time)")
    previous_contact_at: datetime | None = Field(description="The contact before; null: none")
    connection_window_seconds: int = Field(examples=[172_800])


class OutlierEvent(UnitFields):
    """`outlier`: a push or import stored a value that scores above the threshold against its
    series' baseline (docs/design.md §9). The value is stored all the same."""

    at: datetime = Field(description="When the hub flagged it")
    indicator: str = Field(examples=["DVC-HS-TIEP-NHAN"])
    period: str = Field(examples=["2026-11-27"])
    value: float = Field(examples=[1480.0])
    centre: float = Field(examples=[142.0], description="Median (modified_z) or mean (z_score)")
    spread: float = Field(examples=[11.0], description="MAD (modified_z) or sd (z_score)")
    score: float = Field(examples=[81.9])
    lower: float = Field(examples=[93.1], description="Values below score above the threshold")
    upper: float = Field(examples=[190.9], description="Values above score above the threshold")
    n: int = Field(examples=[365], description="Values in the baseline")
    algorithm: Literal["z_score", "modified_z"] = Field(examples=["modified_z"])
    threshold: float = Field(examples=[3.0])


class ResetEvent(BaseModel):
    """`reset` (no id): events this stream should have carried may be missing — the position
    given in `Last-Event-ID` is older than the hub keeps, or events were lost. Reload the state
    shown (coverage, staleness) and go on reading."""

    reason: str = Field(examples=["cannot resume after event '1234'"])


EVENT_MODELS: dict[str, type[BaseModel]] = {
    EventType.OBSERVATIONS: ObservationsEvent,
    EventType.SERIES: SeriesEvent,
    EventType.CONNECTION: ConnectionEvent,
    EventType.OUTLIER: OutlierEvent,
    EventType.RESET: ResetEvent,
    EventType.ALERT_FIRING: AlertEvent,
    EventType.ALERT_RESOLVED: AlertEvent,
    EventType.ENDPOINT_DISABLED: EndpointDisabled,
}
