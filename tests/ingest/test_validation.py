"""Row validation on its own (ioc_hub.ingest.validation), without a database.

A rejected row comes back with a reason a person understands, such as `period 2027-01 is in the
future` (docs/design.md §3), and a period is an interval of a cadence in the province's zone
(§2). So a period is in the future when it comes after the one holding now, in that zone.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ioc_hub.access.principal import Principal, UnitRef
from ioc_hub.ingest.rows import Reason
from ioc_hub.ingest.schemas import ObservationIn
from ioc_hub.ingest.validation import IndicatorRef, RowRejected, UnitInfo, Validator, ValidRow
from ioc_hub.kit.periods import Cadence, Period
from ioc_hub.models import UnitKind

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
PROVINCE = UnitRef(1, "74", UnitKind.PROVINCE, None)
INDICATORS = {
    cadence.value: IndicatorRef(i, cadence.value, cadence, None, None, active=True)
    for i, cadence in enumerate(Cadence, start=1)
}


@dataclass
class RowChecker:
    """Checks a row as sent (a dict): its shape, then against the registry as of ``now``."""

    now: datetime

    def check(self, row: dict[str, object]) -> ValidRow:
        principal = Principal(key_id=1, unit=PROVINCE, scopes=frozenset())
        units = {PROVINCE.code: UnitInfo(PROVINCE, active=True)}
        validator = Validator(principal, units, INDICATORS, HCM, self.now)
        return validator.check(ObservationIn.model_validate(row))


@given(
    st.sampled_from(list(Cadence)),
    st.datetimes(
        min_value=datetime(2001, 1, 1), max_value=datetime(2098, 1, 1), timezones=st.just(UTC)
    ),
    st.integers(min_value=-3, max_value=3),
)
def test_a_period_is_future_exactly_when_it_comes_after_the_one_holding_now(
    cadence: Cadence, now: datetime, shift: int
) -> None:
    current = Period.containing(now, cadence, HCM)
    period = current.shift(shift)
    row = {"indicator": cadence.value, "value": 1, "period": period.id}
    if period > current:
        with pytest.raises(RowRejected) as rejected:
            RowChecker(now).check(row)
        assert rejected.value.code is Reason.FUTURE_PERIOD
        assert rejected.value.reason == f"period {period.id} is in the future"
    else:
        assert RowChecker(now).check(row).period == period.id


@pytest.mark.parametrize(
    ("now", "accepted", "future"),
    [
        # Local midnight is 17:00 UTC: from then on it is already the next day, month and year.
        ("2026-12-31T16:59:59+00:00", "2026-12-31", "2027-01-01"),
        ("2026-12-31T17:00:00+00:00", "2027-01-01", "2027-01-02"),
    ],
)
def test_today_is_the_province_s_day_not_utc_s(now: str, accepted: str, future: str) -> None:
    check = RowChecker(datetime.fromisoformat(now)).check
    assert check({"indicator": "daily", "value": 1, "period": accepted}).period == accepted
    with pytest.raises(RowRejected, match="is in the future"):
        check({"indicator": "daily", "value": 1, "period": future})
    month, year = accepted[:7], accepted[:4]
    assert check({"indicator": "monthly", "value": 1, "period": month}).period == month
    assert check({"indicator": "yearly", "value": 1, "period": year}).period == year
