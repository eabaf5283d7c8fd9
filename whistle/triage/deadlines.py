"""Working-day deadlines on the Chinese official calendar.

Convention: a deadline of *n* working days from a day *start* is the *n*-th working day
AFTER *start* (the day of receipt never counts, whether or not it is a working day), so
``add_workdays(start, n)`` is that day and ``workdays_between(start, due) == n``. Work on
the due day itself is still in time; the case is overdue from the next day.

The calendar is the ``chinese_calendar`` package (public holidays and 调休 make-up
working days, 2004-2026 in 1.11), corrected by the rules' ``[calendar]`` dates, which win.
For a year the package does not know, Monday to Friday are working days, except the
rules' corrections; ``known(year)`` says whether that fallback is in use.
"""

import datetime

import chinese_calendar

from whistle.rules.parse import Rules

__all__ = ["WorkCalendar", "due_dates", "unknown_years_warning", "urgency"]

_ONE_DAY = datetime.timedelta(days=1)


class WorkCalendar:
    """Which days are working days, for the committee."""

    def __init__(self, rules: Rules | None = None):
        calendar = rules.calendar if rules is not None else None
        self.extra_holidays = frozenset(calendar.extra_holidays) if calendar else frozenset()
        self.extra_workdays = frozenset(calendar.extra_workdays) if calendar else frozenset()
        self._package_years: dict[int, bool] = {}
        self._cache: dict[datetime.date, bool] = {}

    def _package_knows(self, year: int) -> bool:
        if year not in self._package_years:
            try:
                chinese_calendar.is_workday(datetime.date(year, 6, 1))
            except NotImplementedError:
                self._package_years[year] = False
            else:
                self._package_years[year] = True
        return self._package_years[year]

    def known(self, year: int) -> bool:
        """True when the holidays of ``year`` are known: the package has the year, or the
        rules list holidays in it. False means deadlines in that year count Mon-Fri only."""
        return self._package_knows(year) or any(d.year == year for d in self.extra_holidays)

    def is_workday(self, day: datetime.date) -> bool:
        """Is ``day`` a working day?"""
        if isinstance(day, datetime.datetime):
            day = day.date()
        cached = self._cache.get(day)
        if cached is None:
            if day in self.extra_workdays:
                cached = True
            elif day in self.extra_holidays:
                cached = False
            elif self._package_knows(day.year):
                cached = chinese_calendar.is_workday(day)
            else:
                cached = day.weekday() < 5
            self._cache[day] = cached
        return cached

    def add_workdays(self, start: datetime.date, n: int) -> datetime.date:
        """The ``n``-th working day after ``start`` (``start`` itself when n == 0)."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"n must be a whole number >= 0, not {n!r}")
        day = start
        while n:
            day += _ONE_DAY
            if self.is_workday(day):
                n -= 1
        return day

    def workdays_between(self, a: datetime.date, b: datetime.date) -> int:
        """Working days in (a, b]: a excluded, b included; negative (-(b, a]) when b < a."""
        if b < a:
            return -self.workdays_between(b, a)
        count, day = 0, a
        while day < b:
            day += _ONE_DAY
            count += self.is_workday(day)
        return count


def due_dates(
    rules: Rules,
    calendar: WorkCalendar,
    channel: str,
    grade: str,
    received_on: datetime.date,
    real_name: bool = False,
    closed_on: datetime.date | None = None,
) -> dict:
    """Due days for a case: ``acknowledge`` and ``feedback`` (per channel and grade); for a
    real-name report also ``acceptance_notice`` and ``result_notice`` (counted from
    ``closed_on``; None while the case is open)."""
    period = rules.deadlines.period(channel, grade)
    due = {
        "acknowledge": calendar.add_workdays(received_on, period["acknowledge"]),
        "feedback": calendar.add_workdays(received_on, period["feedback"]),
    }
    if real_name:
        due["acceptance_notice"] = calendar.add_workdays(received_on, rules.deadlines.real_name_acceptance)
        due["result_notice"] = (
            calendar.add_workdays(closed_on, rules.deadlines.real_name_result) if closed_on is not None else None
        )
    return due


def urgency(due: datetime.date, today: datetime.date, calendar: WorkCalendar, due_soon: int) -> str:
    """``overdue`` after the due day; ``due_soon`` when at most ``due_soon`` working days
    remain (the due day itself included); ``ok`` otherwise."""
    if today > due:
        return "overdue"
    if calendar.workdays_between(today, due) <= due_soon:
        return "due_soon"
    return "ok"


def longest_deadline(rules: Rules) -> int:
    """The most working days any configured deadline counts."""
    periods = [
        days for grades in rules.deadlines.periods.values() for kinds in grades.values() for days in kinds.values()
    ]
    return max(periods + [rules.deadlines.real_name_acceptance, rules.deadlines.real_name_result])


def unknown_years_warning(rules: Rules, today: datetime.date) -> str | None:
    """What to tell the committee when a deadline set today can reach a year whose holidays
    are not known (counted Monday to Friday only, so due days fall on holidays); None when
    every year up to today + the longest deadline is known. A warning, never a refusal:
    whistle still runs, with deadlines a few days off."""
    calendar = WorkCalendar(rules)
    reach = calendar.add_workdays(today, longest_deadline(rules))
    unknown = [year for year in range(today.year, reach.year + 1) if not calendar.known(year)]
    if not unknown:
        return None
    years = ", ".join(str(year) for year in unknown)
    return (
        f"the holiday calendar does not know {years}: deadlines that reach it (up to {reach.isoformat()}) "
        f"count Monday to Friday only. List that year's public holidays in the rules file's [calendar] "
        f"extra_holidays and its make-up working days (调休) in extra_workdays, or update the "
        f"chinese_calendar package"
    )
