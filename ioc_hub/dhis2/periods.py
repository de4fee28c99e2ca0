"""DHIS2 period ids and the hub's periods (docs/design.md §10).

DHIS2's Daily, Weekly (ISO weeks, Monday start), Monthly, Quarterly and Yearly periods are the
hub's five cadences (``kit.periods`` reads their ids as aliases). DHIS2's other period types —
weeks starting on another day, two weeks, two months, six months, financial years — cover spans
no hub period covers, so a value of theirs cannot be stored without inventing figures: they are
named and refused.
"""

import re

from ioc_hub.kit.periods import Period, PeriodError

# DHIS2's own names for the period types the hub has no cadence for, by the shape of their ids
# (DHIS2 developer manual, "Date and period format").
_OTHER_TYPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("WeeklyWednesday", re.compile(r"[0-9]{4}WedW[0-9]{1,2}")),
    ("WeeklyThursday", re.compile(r"[0-9]{4}ThuW[0-9]{1,2}")),
    ("WeeklySaturday", re.compile(r"[0-9]{4}SatW[0-9]{1,2}")),
    ("WeeklySunday", re.compile(r"[0-9]{4}SunW[0-9]{1,2}")),
    ("BiWeekly", re.compile(r"[0-9]{4}BiW[0-9]{1,2}")),
    ("BiMonthly", re.compile(r"[0-9]{6}B")),
    ("QuarterlyNov", re.compile(r"[0-9]{4}NovQ[1-4]")),
    ("SixMonthly", re.compile(r"[0-9]{4}S[12]")),
    ("SixMonthlyApril", re.compile(r"[0-9]{4}AprilS[12]")),
    ("SixMonthlyNov", re.compile(r"[0-9]{4}NovS[12]")),
    ("FinancialApril", re.compile(r"[0-9]{4}April")),
    ("FinancialJuly", re.compile(r"[0-9]{4}July")),
    ("FinancialOct", re.compile(r"[0-9]{4}Oct")),
    ("FinancialNov", re.compile(r"[0-9]{4}Nov")),
)

SUPPORTED = "Daily (20240115), Weekly (2024W3), Monthly (202401), Quarterly (2024Q1), Yearly (2024)"


def hub_period(text: str) -> Period:
    """The hub period a DHIS2 period id names; :class:`PeriodError` says why when none does."""
    for name, pattern in _OTHER_TYPES:
        if pattern.fullmatch(text):
            raise PeriodError(
                f"{text!r} is a DHIS2 {name} period, which no hub cadence covers; "
                f"the hub takes {SUPPORTED}"
            )
    try:
        return Period.parse(text)
    except PeriodError as exc:
        raise PeriodError(f"{exc}; DHIS2 periods the hub takes: {SUPPORTED}") from None
