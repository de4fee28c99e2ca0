"""The ``outlier`` rule kind: values ingest flagged (docs/design.md §9, Outliers), read from
``outlier_flags`` rather than from the coverage snapshot the other kinds share."""

from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ioc_hub.alerts.conditions import Finding, iso
from ioc_hub.alerts.schemas import Outlier
from ioc_hub.models import FollowUp, Indicator, IndicatorGroup, Observation, OutlierFlag, Unit

WATCHED_FOR = timedelta(days=30)
"""How long after it was flagged a value can alert: long enough for a weekly or monthly
reviewer, short enough that a pass reads a bounded window of flags."""


async def findings(
    session: AsyncSession, condition: Outlier, at: datetime, province_code: str
) -> list[Finding]:
    """Each value whose latest flag scores at or above the rule's threshold, flagged within
    :data:`WATCHED_FOR` of ``at``, while the value stands as flagged and no one has recorded a
    follow-up decision on it: a correction or a follow-up resolves the alert."""
    latest = (
        select(func.max(OutlierFlag.id).label("id"))
        .where(OutlierFlag.flagged_at > at - WATCHED_FOR, OutlierFlag.flagged_at <= at)
        .group_by(OutlierFlag.unit_id, OutlierFlag.indicator_id, OutlierFlag.period)
        .subquery()
    )
    query = (
        select(OutlierFlag, Unit.code, Indicator.code)
        .join(latest, latest.c.id == OutlierFlag.id)
        .join(Unit, Unit.id == OutlierFlag.unit_id)
        .join(Indicator, Indicator.id == OutlierFlag.indicator_id)
        .join(
            Observation,
            and_(
                Observation.unit_id == OutlierFlag.unit_id,
                Observation.indicator_id == OutlierFlag.indicator_id,
                Observation.period == OutlierFlag.period,
            ),
        )
        .outerjoin(FollowUp, FollowUp.observation_id == Observation.id)
        .where(
            OutlierFlag.score >= condition.threshold,
            Observation.value == OutlierFlag.value,
            FollowUp.observation_id.is_(None),
        )
        .order_by(OutlierFlag.score.desc(), OutlierFlag.id)
    )
    if condition.area is not None and condition.area != province_code:
        district = select(Unit.id).where(Unit.code == condition.area).scalar_subquery()
        query = query.where(or_(Unit.id == district, Unit.parent_id == district))
    if condition.indicator is not None:
        query = query.where(Indicator.code == condition.indicator)
    if condition.group is not None:
        group = select(IndicatorGroup.id).where(IndicatorGroup.code == condition.group)
        query = query.where(Indicator.group_id == group.scalar_subquery())
    found = []
    for flag, unit, indicator in await session.execute(query):
        found.append(
            Finding(
                subject=f"outlier:{unit}/{indicator}/{flag.period}",
                unit_id=flag.unit_id,
                summary=f"{indicator} of {unit} for {flag.period}: {flag.value:g} scores "
                f"{flag.score:.2f} ({flag.algorithm}), at or above {condition.threshold:g}",
                details={
                    "unit": unit,
                    "indicator": indicator,
                    "period": flag.period,
                    "value": flag.value,
                    "centre": flag.centre,
                    "spread": flag.spread,
                    "score": flag.score,
                    "lower": flag.lower,
                    "upper": flag.upper,
                    "n": flag.n,
                    "algorithm": flag.algorithm,
                    "flagged_at": iso(flag.flagged_at),
                },
            )
        )
    return found
