"""Outliers flagged as ingest stores them (docs/design.md §9): each new or changed value scored
against its series' baseline, in the push's transaction, flagged values kept in
``outlier_flags`` and handed back, never rejected.

A value's baseline is its series' values in the ``outlier_baseline_months`` calendar months
before the month its period starts in. Baselines are cached per (series, month) in
``outlier_baselines``, so a daily series costs one baseline a month; and each is merged from the
series' values per month, kept in ``outlier_months``, so that a month's baseline reads one
month of observations (the one just ended), not a year. Every write and deletion drops the
months' values it changes and the cached baselines whose window it may fall in, flagging on or
off, so neither cache is ever stale. A batch costs a handful of statements however many series
it touches.
"""

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession

from ioc_hub.config import Settings
from ioc_hub.kit.periods import month_of
from ioc_hub.quality import repository
from ioc_hub.quality.stats import Algorithm, Baseline, scale_of, window_months


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


_Key = tuple[int, int, date]
"""(unit, indicator, month)."""


@dataclass(slots=True)
class Baselines:
    """The baselines a batch's values are judged against, by (unit, indicator, month); the
    months whose baseline waits for the batch's write, as their windows hold months it writes;
    and the series whose computed baselines it may keep."""

    known: dict[_Key, Baseline] = field(default_factory=dict)
    after_write: list[_Key] = field(default_factory=list)
    kept: set[tuple[int, int]] = field(default_factory=set)


async def flag_new_values(
    session: AsyncSession, settings: Settings, values: Sequence[NewValue], now: datetime
) -> list[Flag]:
    """Score ``values`` (just written, one per natural key) against their baselines and store
    the flags; return them. Keeps the caches true even with flagging off."""
    baselines = await baselines_for(session, settings, values)
    return await flag_values(session, settings, baselines, values, now)


async def baselines_for(
    session: AsyncSession, settings: Settings, values: Sequence[NewValue]
) -> Baselines:
    """Drop what writing ``values`` makes stale in the caches, and find the baselines
    ``values`` are judged against (none with flagging off). Ingest calls it before its write:
    the write locks its series' state rows until the transaction ends, and a concurrent batch of
    the same series waits on them, so baselines are computed before they are taken, except
    those whose windows the write itself changes."""
    baselines = Baselines()
    if not values:
        return baselines
    months = settings.outlier_baseline_months
    months_of = _months_of(values)
    judged = {(v.unit_id, v.indicator_id, months_of[v.period_start]) for v in values}
    read = settings.outlier_flagging
    if read:
        # Every series' baseline for the batch's newest month too: the first batch to reach a
        # month then computes all its series' baselines of it, and the next batches find them
        # kept instead of computing them in turn.
        newest = max(m for _, _, m in judged)
        judged |= {(u, i, newest) for u, i, _ in judged}
    keys = sorted(judged)
    after = min(v.period_start for v in values)
    if read:
        baselines.kept = await _lock(session, keys, after, months)
    known = await repository.forget_and_read_baselines(session, keys, after, months, read=read)
    if not read:
        return baselines
    baselines.known = known
    written = set(keys)
    now: list[_Key] = []
    for key in (k for k in keys if k not in known):
        u, i, _ = key
        changed = any((u, i, m) in written for m in window_months(key[2], months))
        (baselines.after_write if changed else now).append(key)
    known.update(await repository.merged_baselines(session, now, months, baselines.kept))
    return baselines


# How many times a batch that finds baselines missing waits for another that computes some.
_LOOKS = 3


async def _lock(
    session: AsyncSession, keys: Sequence[_Key], after: date, months: int
) -> set[tuple[int, int]]:
    """Lock the series of ``keys`` (:func:`repository.lock_series`); return those whose
    baselines this batch computes and keeps, which it locks exclusively: those not cached, and
    those its own write drops (after its earliest day). While another batch in flight computes
    baselines, it waits for that one and looks again: at a new month's start, the first batch
    computes and the next ones read. After ``_LOOKS`` waits it keeps none, and computes what it
    lacks for itself."""
    series = {(u, i) for u, i, _ in keys}
    dropped = {(u, i) for u, i, m in keys if m > after}
    for _ in range(_LOOKS):
        # A batch that computes nothing is locked by the look itself.
        missing, locked = await repository.look(
            session, keys, months, lock=None if dropped else series
        )
        if locked:
            return set()
        computes = dropped | {(u, i) for u, i, _ in missing}
        if not computes or await repository.lead(session):
            return await repository.lock_series(session, series, computes)
    return await repository.lock_series(session, series, set())


async def flag_values(
    session: AsyncSession,
    settings: Settings,
    baselines: Baselines,
    values: Sequence[NewValue],
    now: datetime,
) -> list[Flag]:
    """Score ``values`` against ``baselines`` (from :func:`baselines_for` of these values or
    more, and the write since) and store the flags; return them."""
    if not settings.outlier_flagging or not values:
        return []
    known = baselines.known
    months = settings.outlier_baseline_months
    known.update(
        await repository.merged_baselines(session, baselines.after_write, months, baselines.kept)
    )
    algorithm = Algorithm(settings.outlier_algorithm)
    threshold = settings.outlier_threshold
    scales = {
        key: scale_of(baseline, algorithm, settings.outlier_min_points)
        for key, baseline in known.items()
    }
    months_of = _months_of(values)
    flags = []
    for v in values:
        key = (v.unit_id, v.indicator_id, months_of[v.period_start])
        scale = scales[key]
        if scale is None or not scale.score(v.value) > threshold:
            continue
        judgement = scale.judgement(v.value, threshold)
        flags.append(
            Flag(
                *v,
                centre=judgement.centre,
                spread=judgement.spread,
                score=judgement.score,
                lower=judgement.lower,
                upper=judgement.upper,
                n=known[key].n,
                algorithm=algorithm.value,
                threshold=threshold,
                flagged_at=now,
            )
        )
    await repository.insert_flags(session, [asdict(f) for f in flags])
    return flags


def _months_of(values: Sequence[NewValue]) -> dict[date, date]:
    """The month of each day the values start on: a batch holds a few days, and thousands of
    values."""
    return {day: month_of(day) for day in {v.period_start for v in values}}
