"""The statistics of outliers (docs/design.md §9), pure: a series' baseline summarised, and a
value judged against it. PostgreSQL computes the same summary in SQL (``repository``); SQLite
takes :func:`summarise`, and the tests hold both to the same hand-computed figures."""

import enum
import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

MAGNITUDE = 1e150
"""Values larger than this in magnitude are left out of baselines: their squares would overflow
a double (PostgreSQL then refuses the statement). No real indicator comes near."""

MAD_SCALE = 0.6745
"""Iglewicz and Hoaglin's constant: the MAD of a normal sample is about 0.6745 σ, so a modified
z-score reads like a z-score."""


class Algorithm(enum.StrEnum):
    Z_SCORE = "z_score"
    MODIFIED_Z = "modified_z"
    RANGE = "range"


@dataclass(frozen=True, slots=True)
class Baseline:
    """What a series held in its baseline window: ``n`` values, their mean and sample standard
    deviation, their median and median absolute deviation (None where undefined)."""

    n: int
    mean: float | None = None
    sd: float | None = None
    median: float | None = None
    mad: float | None = None


EMPTY = Baseline(0)


@dataclass(frozen=True, slots=True)
class Judgement:
    """A value scored against a baseline: ``centre`` and ``spread`` (mean and sd, or median
    and MAD), the score, and the bounds outside which a value scores above the threshold."""

    centre: float
    spread: float
    score: float
    lower: float
    upper: float

    def flagged(self, threshold: float) -> bool:
        return self.score > threshold


def summarise(values: Iterable[float]) -> Baseline:
    """The baseline of ``values``: what PostgreSQL's avg, stddev_samp and percentile_cont(0.5)
    give, the MAD being the median of the absolute deviations from the median. Sums are exact
    (``fsum``), so the figures agree with the database's to the last digit or two."""
    ordered = sorted(values)
    if ordered and (ordered[0] < -MAGNITUDE or ordered[-1] > MAGNITUDE):
        ordered = [v for v in ordered if abs(v) <= MAGNITUDE]
    n = len(ordered)
    if n == 0:
        return EMPTY
    mean = math.fsum(ordered) / n
    median = _middle(ordered)
    squares = math.fsum([(v - mean) * (v - mean) for v in ordered])
    return Baseline(
        n=n,
        mean=mean,
        sd=math.sqrt(squares / (n - 1)) if n > 1 else None,
        median=median,
        mad=_middle(sorted([abs(v - median) for v in ordered])),
    )


def _middle(ordered: Sequence[float]) -> float:
    """The median of sorted values (percentile_cont(0.5): the mean of the middle two)."""
    half = len(ordered) // 2
    return ordered[half] if len(ordered) % 2 else (ordered[half - 1] + ordered[half]) / 2


@dataclass(frozen=True, slots=True)
class Scale:
    """What a baseline judges values by: ``centre`` and ``spread`` (mean and sd, or median and
    MAD), and ``scale``, what makes a score read like a z-score. Worked out once per baseline,
    then held against each value."""

    centre: float
    spread: float
    scale: float

    def score(self, value: float) -> float:
        return self.scale * abs(value - self.centre) / self.spread

    def judgement(self, value: float, threshold: float) -> Judgement:
        reach = threshold * self.spread / self.scale
        return Judgement(
            self.centre,
            self.spread,
            _finite(self.score(value)),
            _finite(self.centre - reach),
            _finite(self.centre + reach),
        )


def scale_of(baseline: Baseline, algorithm: Algorithm, min_points: int) -> Scale | None:
    """How ``baseline`` judges values; None when it cannot judge them: fewer than
    ``min_points`` values, or no spread (sd = 0, or MAD = 0 as Iglewicz and Hoaglin say: more
    than half the values equal, so any other value would score infinite)."""
    if baseline.n < min_points:
        return None
    if algorithm is Algorithm.Z_SCORE:
        centre, spread, scale = baseline.mean, baseline.sd, 1.0
    elif algorithm is Algorithm.MODIFIED_Z:
        centre, spread, scale = baseline.median, baseline.mad, MAD_SCALE
    else:
        raise ValueError(f"{algorithm} needs no baseline: use judge_range")
    if centre is None or spread is None or not spread > 0:
        return None
    return Scale(centre, spread, scale)


def judge(
    value: float, baseline: Baseline, algorithm: Algorithm, threshold: float, min_points: int
) -> Judgement | None:
    """``value`` scored against ``baseline``; None when the baseline cannot judge it
    (:func:`scale_of`)."""
    scale = scale_of(baseline, algorithm, min_points)
    return None if scale is None else scale.judgement(value, threshold)


def flag(
    value: float, baseline: Baseline, algorithm: Algorithm, threshold: float, min_points: int
) -> Judgement | None:
    """The judgement of ``value`` when it is flagged (scores above ``threshold``), else None."""
    judgement = judge(value, baseline, algorithm, threshold, min_points)
    return judgement if judgement is not None and judgement.flagged(threshold) else None


def _finite(x: float) -> float:
    """``x`` held within the doubles JSON can carry: values near 1e300 overflow to infinity."""
    return max(-sys.float_info.max, min(sys.float_info.max, x))


@dataclass(frozen=True, slots=True)
class RangeJudgement:
    """A value outside ``[lower, upper]`` (either may be open): ``score`` is how far outside,
    in the indicator's own unit."""

    score: float
    lower: float | None
    upper: float | None


def judge_range(value: float, lower: float | None, upper: float | None) -> RangeJudgement | None:
    """``value`` against fixed bounds; None when it lies within them."""
    if lower is not None and value < lower:
        return RangeJudgement(lower - value, lower, upper)
    if upper is not None and value > upper:
        return RangeJudgement(value - upper, lower, upper)
    return None


def window_months(month: date, months: int) -> list[date]:
    """The months of the baseline window of values in ``month``: the ``months`` months before
    it, oldest first."""
    return [months_before(month, back) for back in range(months, 0, -1)]


def months_after(month: date, count: int) -> date:
    """The first day of the month ``count`` months after ``month``."""
    return months_before(month, -count)


def months_before(month: date, count: int) -> date:
    """The first day of the month ``count`` months before ``month``."""
    index = month.year * 12 + month.month - 1 - count
    return date(index // 12, index % 12 + 1, 1)
