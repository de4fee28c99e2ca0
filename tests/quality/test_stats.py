"""The pure statistics of outliers against figures worked out by hand."""

import math
from datetime import date

import pytest

from ioc_hub.quality.stats import (
    EMPTY,
    MAD_SCALE,
    Algorithm,
    Baseline,
    judge,
    judge_range,
    months_before,
    summarise,
)

# 10, 12, 14 twenty times each: mean 12, median 12; deviations from the median are 20 zeros
# and 40 twos, so MAD = 2; the squared deviations add to 40 × 4 = 160, so sd = √(160 / 59).
BASELINE = [10.0, 12.0, 14.0] * 20
SD = math.sqrt(160 / 59)


def test_summary_of_a_hand_computed_series() -> None:
    b = summarise(BASELINE)
    assert b.n == 60
    assert b.mean == pytest.approx(12.0)
    assert b.sd == pytest.approx(SD)
    assert b.median == 12.0
    assert b.mad == 2.0


def test_median_and_mad_of_an_even_count_interpolate() -> None:
    # Sorted 1, 2, 4, 10: median (2 + 4) / 2 = 3; deviations 2, 1, 1, 7 → sorted 1, 1, 2, 7:
    # MAD (1 + 2) / 2 = 1.5 (what PostgreSQL's percentile_cont(0.5) gives).
    b = summarise([10.0, 1.0, 4.0, 2.0])
    assert (b.median, b.mad) == (3.0, 1.5)
    assert b.mean == 4.25


def test_modified_z_of_a_hand_computed_value() -> None:
    j = judge(30.0, summarise(BASELINE), Algorithm.MODIFIED_Z, 3.0, 8)
    assert j is not None
    assert (j.centre, j.spread) == (12.0, 2.0)
    assert j.score == pytest.approx(0.6745 * 18 / 2)  # 6.0705
    assert j.lower == pytest.approx(12 - 3 * 2 / 0.6745)
    assert j.upper == pytest.approx(12 + 3 * 2 / 0.6745)
    assert j.flagged(3.0)
    assert not j.flagged(7.0)


def test_z_score_of_a_hand_computed_value() -> None:
    j = judge(30.0, summarise(BASELINE), Algorithm.Z_SCORE, 3.0, 8)
    assert j is not None
    assert j.centre == pytest.approx(12.0)
    assert j.spread == pytest.approx(SD)
    assert j.score == pytest.approx(18 / SD)  # 10.93
    assert (j.lower, j.upper) == (pytest.approx(12 - 3 * SD), pytest.approx(12 + 3 * SD))


def test_a_value_on_the_bound_is_not_flagged() -> None:
    j = judge(14.0, summarise(BASELINE), Algorithm.MODIFIED_Z, MAD_SCALE, 8)
    assert j is not None
    assert j.score == pytest.approx(MAD_SCALE)
    assert not j.flagged(j.score)


def test_mad_zero_flags_nothing() -> None:
    # Eleven values, six of them 5: the median is 5 and so is more than half, so MAD = 0.
    values = [5.0] * 6 + [1.0, 2.0, 8.0, 9.0, 40.0]
    b = summarise(values)
    assert (b.median, b.mad) == (5.0, 0.0)
    assert judge(1000.0, b, Algorithm.MODIFIED_Z, 3.0, 8) is None
    # The mean and sd still exist, so z_score judges.
    assert judge(1000.0, b, Algorithm.Z_SCORE, 3.0, 8) is not None


def test_sd_zero_flags_nothing() -> None:
    b = summarise([7.0] * 12)
    assert (b.sd, b.mad) == (0.0, 0.0)
    assert judge(8.0, b, Algorithm.Z_SCORE, 3.0, 8) is None
    assert judge(8.0, b, Algorithm.MODIFIED_Z, 3.0, 8) is None


def test_a_series_too_short_is_not_judged() -> None:
    b = summarise(BASELINE[:7])
    assert b.n == 7
    assert judge(1000.0, b, Algorithm.MODIFIED_Z, 3.0, 8) is None
    assert judge(1000.0, b, Algorithm.MODIFIED_Z, 3.0, 7) is not None
    assert judge(1000.0, EMPTY, Algorithm.Z_SCORE, 3.0, 2) is None
    assert summarise([3.0]) == Baseline(1, 3.0, None, 3.0, 0.0)


def test_huge_values_stay_out_of_baselines_and_scores_stay_finite() -> None:
    b = summarise([*BASELINE, 1e300])
    assert b.n == 60
    j = judge(-1e300, b, Algorithm.Z_SCORE, 1e6, 8)
    assert j is not None
    assert math.isfinite(j.score)


def test_range_scores_the_distance_outside() -> None:
    assert judge_range(5.0, 0.0, 10.0) is None
    assert judge_range(10.0, 0.0, 10.0) is None
    above = judge_range(12.5, 0.0, 10.0)
    assert above is not None
    assert above.score == 2.5
    below = judge_range(-3.0, 0.0, None)
    assert below is not None
    assert (below.score, below.lower, below.upper) == (3.0, 0.0, None)
    assert judge_range(1e9, None, None) is None


def test_months_before() -> None:
    assert months_before(date(2026, 11, 1), 12) == date(2025, 11, 1)
    assert months_before(date(2026, 1, 1), 1) == date(2025, 12, 1)
    assert months_before(date(2026, 3, 1), 27) == date(2023, 12, 1)
