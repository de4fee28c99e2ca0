"""Every table of the hub. Alembic and the features import them from here."""

from ioc_hub.models.access_key import AccessKey, Scope
from ioc_hub.models.alert import Alert, AlertRule, AlertRuleKind, AlertState
from ioc_hub.models.base import Base
from ioc_hub.models.dhis2_mapping import Dhis2Kind, Dhis2Mapping
from ioc_hub.models.indicator import Aggregation, Indicator, IndicatorGroup
from ioc_hub.models.obligation import Obligation
from ioc_hub.models.observation import (
    IdempotencyRecord,
    Observation,
    ObservationDeletion,
    ObservationRevision,
    Rejection,
    SeriesState,
    UnitContact,
)
from ioc_hub.models.owed_series import OwedBasis, OwedSeries
from ioc_hub.models.quality import FollowUp, OutlierBaseline, OutlierFlag, OutlierMonth
from ioc_hub.models.registry_generation import RegistryGeneration
from ioc_hub.models.reorganisation import LineageEdge, Reorganisation
from ioc_hub.models.series_month import SeriesMonth
from ioc_hub.models.unit import AREA_ONLY_KINDS, Unit, UnitKind, UnitVersion
from ioc_hub.models.webhook import (
    DeliveryStatus,
    DisabledReason,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookMessage,
)

__all__ = [
    "AREA_ONLY_KINDS",
    "AccessKey",
    "Aggregation",
    "Alert",
    "AlertRule",
    "AlertRuleKind",
    "AlertState",
    "Base",
    "DeliveryStatus",
    "Dhis2Kind",
    "Dhis2Mapping",
    "DisabledReason",
    "FollowUp",
    "IdempotencyRecord",
    "Indicator",
    "IndicatorGroup",
    "LineageEdge",
    "Obligation",
    "Observation",
    "ObservationDeletion",
    "ObservationRevision",
    "OutlierBaseline",
    "OutlierFlag",
    "OutlierMonth",
    "OwedBasis",
    "OwedSeries",
    "RegistryGeneration",
    "Rejection",
    "Reorganisation",
    "Scope",
    "SeriesMonth",
    "SeriesState",
    "Unit",
    "UnitContact",
    "UnitKind",
    "UnitVersion",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookMessage",
]
