"""Working-day arithmetic on the official calendar (holidays and 调休), and due dates."""

import datetime

import pytest

from tests.triage import d, edited, example
from whistle.rules import parse as rules_mod
from whistle.triage.deadlines import WorkCalendar, due_dates, urgency
from whistle.services import services

RULES = example()
CAL = WorkCalendar(RULES)


def with_calendar(holidays: str = "", workdays: str = "") -> WorkCalendar:
    rules = rules_mod.parse(
        edited(
            ("extra_holidays = []", f"extra_holidays = [{holidays}]"),
            ("extra_workdays = []", f"extra_workdays = [{workdays}]"),
        ),
        "rules.toml",
    )
    return WorkCalendar(rules)


@pytest.mark.parametrize(
    "day, workday",
    [
        ("2026-02-13", True),  # Friday before the Spring Festival
        ("2026-02-14", True),  # Saturday, make-up working day (调休)
        ("2026-02-15", False),  # Spring Festival holiday, Feb 15-23
        ("2026-02-17", False),
        ("2026-02-23", False),  # Monday, still holiday
        ("2026-02-24", True),
        ("2026-02-28", True),  # Saturday, make-up working day
        ("2026-03-01", False),  # an ordinary Sunday
        ("2026-09-20", True),  # Sunday, make-up working day for National Day
        ("2026-09-25", False),  # Mid-Autumn Festival (Friday)
        ("2026-10-01", False),  # National Day, Oct 1-7
        ("2026-10-07", False),
        ("2026-10-08", True),
        ("2026-10-10", True),  # Saturday, make-up working day
        ("2026-10-11", False),
    ],
)
def test_is_workday_follows_the_official_calendar(day, workday):
    assert CAL.is_workday(d(day)) is workday


@pytest.mark.parametrize(
    "start, n, due",
    [
        ("2026-02-13", 0, "2026-02-13"),
        ("2026-02-13", 1, "2026-02-14"),  # the make-up Saturday counts
        ("2026-02-13", 2, "2026-02-24"),  # the whole festival is skipped
        ("2026-02-16", 1, "2026-02-24"),  # received during the holiday
        ("2026-02-16", 5, "2026-02-28"),  # the second make-up Saturday
        ("2026-02-16", 6, "2026-03-02"),
        ("2026-09-18", 1, "2026-09-20"),  # make-up Sunday
        ("2026-09-24", 1, "2026-09-28"),  # Mid-Autumn Friday skipped
        ("2026-09-30", 1, "2026-10-08"),  # National Day skipped
        ("2026-09-30", 3, "2026-10-10"),  # make-up Saturday
        ("2026-09-30", 4, "2026-10-12"),
        ("2026-09-28", 5, "2026-10-10"),
    ],
)
def test_add_workdays_counts_from_the_day_after(start, n, due):
    assert CAL.add_workdays(d(start), n) == d(due)


def test_workdays_between_is_the_inverse_of_add_workdays():
    assert CAL.workdays_between(d("2026-02-13"), d("2026-02-24")) == 2
    assert CAL.workdays_between(d("2026-02-24"), d("2026-02-13")) == -2
    assert CAL.workdays_between(d("2026-02-01"), d("2026-02-28")) == 16
    assert CAL.workdays_between(d("2026-10-01"), d("2026-10-07")) == 0
    assert CAL.workdays_between(d("2026-03-03"), d("2026-03-03")) == 0
    for start in (d("2026-01-30"), d("2026-02-14"), d("2026-02-20"), d("2026-09-19"), d("2026-12-20")):
        for n in range(0, 45):
            due = CAL.add_workdays(start, n)
            assert CAL.workdays_between(start, due) == n
            assert n == 0 or CAL.is_workday(due)


def test_add_workdays_refuses_negative_counts():
    with pytest.raises(ValueError):
        CAL.add_workdays(d("2026-02-13"), -1)


def test_unknown_years_fall_back_to_monday_to_friday():
    assert CAL.known(2026) and CAL.known(2004)
    assert not CAL.known(2027) and not CAL.known(2003)
    assert CAL.is_workday(d("2027-01-01"))  # a Friday: no holiday data for 2027
    assert not CAL.is_workday(d("2027-01-02"))  # Saturday
    assert CAL.add_workdays(d("2026-12-30"), 2) == d("2027-01-01")


def test_rules_override_the_calendar_for_2027():
    cal = with_calendar("2027-01-01, 2027-02-08, 2027-02-09", "2027-02-06")
    assert cal.known(2027)
    assert not cal.is_workday(d("2027-01-01"))
    assert not cal.is_workday(d("2027-02-08"))
    assert cal.is_workday(d("2027-02-06"))  # a Saturday made a working day
    assert cal.add_workdays(d("2027-02-05"), 1) == d("2027-02-06")
    assert cal.add_workdays(d("2027-02-06"), 1) == d("2027-02-10")
    assert cal.add_workdays(d("2026-12-30"), 2) == d("2027-01-04")


def test_rules_override_even_a_known_year():
    cal = with_calendar("2026-03-02", "2026-02-16")
    assert not cal.is_workday(d("2026-03-02"))
    assert cal.is_workday(d("2026-02-16"))
    assert CAL.is_workday(d("2026-03-02")) and not CAL.is_workday(d("2026-02-16"))


def test_due_dates_per_channel_and_grade():
    assert due_dates(RULES, CAL, "contractor", "high", d("2026-02-13")) == {
        "acknowledge": d("2026-02-14"),
        "feedback": d("2026-03-19"),
    }
    assert due_dates(RULES, CAL, "general", "high", d("2026-09-29")) == {
        "acknowledge": d("2026-10-08"),
        "feedback": d("2026-11-16"),
    }
    medium = due_dates(RULES, CAL, "general", "medium", d("2026-09-28"))
    assert medium["acknowledge"] == d("2026-10-10")
    assert CAL.workdays_between(d("2026-09-28"), medium["feedback"]) == 60
    contractor_low = due_dates(RULES, CAL, "contractor", "low", d("2026-09-28"))
    general_low = due_dates(RULES, CAL, "general", "low", d("2026-09-28"))
    assert contractor_low["feedback"] < general_low["feedback"]


def test_real_name_notices():
    open_case = due_dates(RULES, CAL, "general", "high", d("2026-09-29"), real_name=True)
    assert open_case["acceptance_notice"] == d("2026-10-26")
    assert open_case["result_notice"] is None
    closed = due_dates(RULES, CAL, "general", "high", d("2026-09-29"), real_name=True, closed_on=d("2026-12-30"))
    assert closed["result_notice"] == d("2027-01-20")  # 2027 unknown: Jan 1 counts (Mon-Fri)
    cal = with_calendar("2027-01-01")
    assert due_dates(RULES, cal, "general", "high", d("2026-09-29"), real_name=True, closed_on=d("2026-12-30"))[
        "result_notice"
    ] == d("2027-01-21")
    anonymous = due_dates(RULES, CAL, "general", "high", d("2026-09-29"), closed_on=d("2026-12-30"))
    assert set(anonymous) == {"acknowledge", "feedback"}


@pytest.mark.parametrize(
    "today, due_soon, expected",
    [
        ("2026-09-25", 3, "ok"),  # 5 working days left (Sep 28-30, Oct 8-9)
        ("2026-09-28", 3, "ok"),  # 4 left
        ("2026-09-28", 4, "due_soon"),
        ("2026-09-30", 3, "due_soon"),  # 9 calendar days, but only 2 working days left
        ("2026-10-09", 3, "due_soon"),  # the due day itself
        ("2026-10-10", 3, "overdue"),
        ("2026-10-09", 0, "due_soon"),
        ("2026-10-08", 0, "ok"),
    ],
)
def test_urgency(today, due_soon, expected):
    assert urgency(d("2026-10-09"), d(today), CAL, due_soon) == expected


def test_calendar_accepts_datetimes_and_works_without_rules():
    assert WorkCalendar().is_workday(datetime.datetime(2026, 2, 14, 12, 0)) is True
    assert WorkCalendar().is_workday(d("2026-02-16")) is False


# --- years the holiday calendar does not know -----------------------------------------------


def test_deadlines_reaching_an_unknown_year_are_warned_about():
    """1.11 of the package knows 2004-2026: on 2026-11-26 a 90-working-day deadline ends in
    2027, which would be counted Monday to Friday without a word."""
    from whistle.triage.deadlines import unknown_years_warning

    warning = unknown_years_warning(RULES, d("2026-11-26"))
    assert warning and "does not know 2027" in warning
    assert "[calendar] extra_holidays" in warning and "extra_workdays" in warning
    assert unknown_years_warning(RULES, d("2026-01-05")) is None  # every deadline ends in 2026
    listed = rules_mod.parse(edited(("extra_holidays = []", "extra_holidays = [2027-01-01, 2027-02-16]")), "rules.toml")
    assert unknown_years_warning(listed, d("2026-11-26")) is None  # the committee filled 2027 in


def test_rules_check_and_app_start_warn_of_an_unknown_year(tmp_path, caplog):
    """Ten years of working days reach past any year the package knows, whatever today is."""
    from click.testing import CliRunner

    from tests.conftest import build_app, make_config
    from whistle.cli import main

    path = tmp_path / "rules.toml"
    path.write_text(
        edited(("acknowledge = 10\nfeedback = 90\n", "acknowledge = 10\nfeedback = 3650\n")), encoding="utf-8"
    )
    result = CliRunner().invoke(main, ["rules", "check", str(path)])
    assert result.exit_code == 0, result.output  # valid: a warning, not a refusal
    assert f"{path}: valid" in result.output
    assert "warning: the holiday calendar does not know" in result.output and "extra_holidays" in result.output

    caplog.set_level("WARNING", logger="whistle")
    app = build_app(make_config(tmp_path, rules_file=path))  # it starts
    services(app).engine.dispose()
    warned = [r.getMessage() for r in caplog.records if r.name == "whistle" and r.levelname == "WARNING"]
    assert any("the holiday calendar does not know" in message for message in warned), warned
