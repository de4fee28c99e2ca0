"""Outliers flagged as ingest stores them (docs/design.md §9): each new or changed value scored
against its series' baseline, in the push's transaction, flagged values kept in
``outlier_flags`` and handed back, never rejected.

A value's baseline is its series' values in the ``outlier_baseline_months`` calendar months
before the month its period starts in. Baselines are cached per (series, month) in
``outlier_baselines``, so a daily series costs one baseline computation a month; every write
drops the cached baselines whose window it may fall in, flagging on or off, so the cache is
never stale. A batch costs a handful of statements however many series it touches.
"""

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession

from ioc_hub.config import Settings
from ioc_hub.quality import repository
from ioc_hub.quality.stats import EMPTY, Algorithm, flag, month_of, months_before


class NewValue(NamedTuple):
    """A value ingest created or changed."""

    unit_id: int
    indicator_id: int
    period: str
    period_start: date
    value: float


@dataclass(frozen=True, slots=True)
class Flag:
    """A value flagged as an outlier: what ``outlier_flags`` holds, the stream tells, and the
    alert rules and webhooks build on."""

    unit_id: int
    indicator_id: int
    period: str
    period_start: date
    value: float
    centre: float
    spread: float
    score: float
    lower: float
    upper: float
    n: int
    algorithm: str
    threshold: float
    flagged_at: datetime

    def facts(self) -> dict[str, object]:
        """What the stream's ``outlier`` event and the ``outlier.flagged`` webhook tell of the
        value, besides its unit, indicator and time."""
        return {
            "period": self.period,
            "value": self.value,
            "centre": self.centre,
            "spread": self.spread,
            "score": self.score,
            "lower": self.lower,
            "upper": self.upper,
            "n": self.n,
            "algorithm": self.algorithm,
            "threshold": self.threshold,
        }


async def flag_new_values(
    session: AsyncSession, settings: Settings, values: Sequence[NewValue], now: datetime
) -> list[Flag]:
    """Score ``values`` (just written, one per natural key) against their baselines and store
    the flags; return them. Keeps the baseline cache true even with flagging off."""
    if not values:
        return []
    months = settings.outlier_baseline_months
    keys = sorted({(v.unit_id, v.indicator_id, month_of(v.period_start)) for v in values})
    after = min(v.period_start for v in values)
    read = settings.outlier_flagging
    known = await repository.forget_and_read_baselines(session, keys, after, months, read=read)
    if not read:
        return []
    missing = [k for k in keys if k not in known]
    if missing:
        # Another batch may be computing them: wait for it, then take what it stored.
        await repository.lock_series(session, sorted({(u, i) for u, i, _ in missing}))
        known.update(await repository.cached_baselines(session, missing, months))
        missing = [k for k in missing if k not in known]
    if missing:
        windows = {
            k: repository.Window(k[0], k[1], months_before(k[2], months), k[2]) for k in missing
        }
        found = await repository.baselines(session, windows.values())
        computed = {k: found.get(w, EMPTY) for k, w in windows.items()}
        await repository.cache_baselines(session, computed, months)
        known.update(computed)
    algorithm = Algorithm(settings.outlier_algorithm)
    threshold = settings.outlier_threshold
    flags = []
    for v in values:
        baseline = known[(v.unit_id, v.indicator_id, month_of(v.period_start))]
        judgement = flag(v.value, baseline, algorithm, threshold, settings.outlier_min_points)
        if judgement is None:
            continue
        flags.append(
            Flag(
                *v,
                centre=judgement.centre,
                spread=judgement.spread,
                score=judgement.score,
                lower=judgement.lower,
                upper=judgement.upper,
                n=baseline.n,
                algorithm=algorithm.value,
                threshold=threshold,
                flagged_at=now,
            )
        )
    await repository.insert_flags(session, [asdict(f) for f in flags])
    return flags
