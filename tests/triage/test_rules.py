"""The rules file: the shipped example validates; each broken variant is named precisely."""

import datetime
import re

import pytest

from tests.triage import EXAMPLE_PATH, EXAMPLE_TEXT, edited, example
from whistle import catalog
from whistle.rules import parse as rules_mod
from whistle.rules.parse import RulesError

SRC = "rules.toml"


def problems(text: str) -> list[str]:
    return rules_mod.problems_in(text, SRC)


def without_table(header: str) -> str:
    """The example text without the TOML table that starts at ``header``."""
    match = re.search(rf"^{re.escape(header)}\n(?:[^\[\n].*\n|\n)*", EXAMPLE_TEXT, re.M)
    assert match, header
    return EXAMPLE_TEXT[: match.start()] + EXAMPLE_TEXT[match.end() :]


def test_shipped_example_validates():
    assert rules_mod.check(EXAMPLE_PATH) == []
    rules = example()
    assert rules.committee_unit == "county_cdi" and rules.superior == "city_cdi"
    superior = rules.unit_codes["city_cdi"]
    assert superior.external and len(superior.public_key) == 32
    assert rules.committee_names["zh_Hans"] == "某县纪律检查委员会"
    # every department code the reporter pages and older cases used is still there
    for code in (
        "housing",
        "transport",
        "natural_resources",
        "water",
        "finance",
        "education",
        "health",
        "market_regulation",
        "organization",
        "other",
    ):
        assert code in rules.department_codes
    assert rules.committee_department.code == "commission"
    assert list(rules.department_codes)[-1] == "other"
    assert rules.department_codes["housing"].name("zh_Hant") == "住房和城鄉建設局"
    assert rules.department_codes["commission"].name("xx") == "纪委监委机关"  # falls back


def test_example_members_cover_the_cases_the_brief_needs():
    members = example().member_usernames
    roles = {m.role for m in members.values()}
    assert {"member", "unit_lead", "admin"} <= roles
    assert any(m.custodian for m in members.values())
    assert members["li.na"].unit == "stationed_1" and members["li.na"].departments == ("housing",)
    assert 8 <= len(members) <= 12


def test_every_catalog_code_has_a_weight_in_the_example():
    weights = example().risk.weights
    for channel_categories in catalog.CATEGORIES.values():
        assert set(channel_categories) <= set(weights["category"])
    assert set(weights["money_band"]) == set(catalog.MONEY_BANDS)
    assert set(weights["frequency"]) == set(catalog.FREQUENCIES)
    assert set(weights["accused_rank"]) == set(catalog.RANKS)
    assert set(weights["evidence"]) == set(catalog.EVIDENCE)


def test_example_deadlines_and_fallback():
    deadlines = example().deadlines
    assert deadlines.period("general", "high") == {"acknowledge": 2, "feedback": 30}
    assert deadlines.period("general", "medium") == {"acknowledge": 5, "feedback": 60}
    assert deadlines.period("general", "low") == {"acknowledge": 10, "feedback": 90}
    contractor = deadlines.period("contractor", "high")
    assert contractor["feedback"] < 30 and contractor["acknowledge"] < 2
    assert (deadlines.real_name_acceptance, deadlines.real_name_result, deadlines.due_soon) == (15, 15, 3)
    with pytest.raises(ValueError):
        deadlines.period("general", "urgent")


def test_partial_channel_override_falls_back_per_value():
    rules = rules_mod.parse(edited(append="\n[deadlines.general.low]\nfeedback = 80\n"), SRC)
    assert rules.deadlines.period("general", "low") == {"acknowledge": 10, "feedback": 80}
    assert rules.deadlines.period("general", "high") == {"acknowledge": 2, "feedback": 30}


def test_calendar_dates_are_read():
    rules = rules_mod.parse(
        edited(
            ("extra_holidays = []", "extra_holidays = [2027-02-08, 2027-02-09]"),
            ("extra_workdays = []", "extra_workdays = [2027-02-06]"),
        ),
        SRC,
    )
    assert rules.calendar.extra_holidays == {datetime.date(2027, 2, 8), datetime.date(2027, 2, 9)}
    assert rules.calendar.extra_workdays == {datetime.date(2027, 2, 6)}


def test_channel_table_is_read():
    rules = rules_mod.parse(
        edited(append='\n[channels.general]\nunit = "case_management"\nalso_units = ["office_2"]\n'), SRC
    )
    assert rules.channels["general"].unit == "case_management"
    assert rules.channels["general"].also_units == ("office_2",)


BROKEN = [
    # departments
    pytest.param(
        edited(('supervising_unit = "office_1"', 'supervising_unit = "x"')),
        "rules.toml: departments #3 (natural_resources): supervising_unit 'x' is not a unit",
        id="supervising-unit-unknown",
    ),
    pytest.param(
        edited(('supervising_unit = "office_1"', 'supervising_unit = "city_cdi"')),
        "rules.toml: departments #3 (natural_resources): supervising_unit 'city_cdi' is an external unit",
        id="supervising-unit-external",
    ),
    pytest.param(
        edited(('supervising_unit = "stationed_1"\n', "")),
        "rules.toml: departments #1 (housing): supervising_unit is required",
        id="supervising-unit-missing",
    ),
    pytest.param(
        edited(('code = "transport"', 'code = "housing"')),
        "rules.toml: departments #2 (housing): code 'housing' is used twice",
        id="department-twice",
    ),
    pytest.param(
        edited(('code = "water"', 'code = "water bureau"')),
        "rules.toml: departments #4 (water bureau): 'code' must be 1-64 letters, digits and underscores",
        id="department-code",
    ),
    pytest.param(
        edited(('code = "water"', 'code = "' + "w" * 65 + '"')),  # cases.department holds 64
        f"rules.toml: departments #4 ({'w' * 65}): 'code' must be 1-64 letters, digits and underscores",
        id="department-code-long",
    ),
    pytest.param(
        edited(('en = "Transport Bureau" }', 'en = "" }')),
        "rules.toml: departments #2 (transport): name is missing for en",
        id="name-language",
    ),
    pytest.param(
        edited(('supervising_unit = "case_management"', 'supervising_unit = "case_management"\nis_committee = true')),
        "rules.toml: departments: is_committee is set on more than one department: commission, other",
        id="two-committee-organs",
    ),
    pytest.param(
        edited(('supervising_unit = "office_2"', 'supervising_unit = "office_2"\nsupervisor = "x"')),
        "rules.toml: departments #5 (finance): unknown field 'supervisor' "
        "(expected code, name, supervising_unit, is_committee)",
        id="department-unknown-field",
    ),
    # units
    pytest.param(
        edited(('parent = "city_cdi"', 'parent = "case_management"')),
        "rules.toml: units #2 (county_cdi): parent cycle: county_cdi -> case_management -> county_cdi",
        id="parent-cycle",
    ),
    pytest.param(
        edited(('parent = "county_cdi"', 'parent = "office_1"')),
        "rules.toml: units #3 (office_1): parent cycle: office_1 -> office_1",
        id="parent-self",
    ),
    pytest.param(
        edited(('parent = "city_cdi"', 'parent = "province_cdi"')),
        "rules.toml: units #2 (county_cdi): parent 'province_cdi' is not a unit",
        id="parent-unknown",
    ),
    pytest.param(
        edited(('code = "office_2"', 'code = "office_1"')),
        "rules.toml: units #4 (office_1): code 'office_1' is used twice",
        id="unit-twice",
    ),
    pytest.param(
        edited(('code = "office_2"', 'code = "' + "o" * 65 + '"')),  # cases.handling_unit holds 64
        f"rules.toml: units #4 ({'o' * 65}): 'code' must be 1-64 letters, digits and underscores",
        id="unit-code-long",
    ),
    pytest.param(
        edited(('public_key = "wkF6yj9vEd2H5GrB0PaZLWyGv2OAeT6KcyrPbMaNvCE"', 'public_key = "not a key"')),
        "rules.toml: units #1 (city_cdi): public_key must be a base64url X25519 public key (32 bytes)",
        id="public-key-bad",
    ),
    pytest.param(
        edited(
            (
                'public_key = "wkF6yj9vEd2H5GrB0PaZLWyGv2OAeT6KcyrPbMaNvCE"',
                'public_key = "wkF6yj9vEd2H5GrB0PaZLWyGv2OAeT6KcyrPbMaNv"',
            )
        ),
        "rules.toml: units #1 (city_cdi): public_key must be a base64url X25519 public key (32 bytes)",
        id="public-key-short",
    ),
    pytest.param(
        edited(('public_key = "wkF6yj9vEd2H5GrB0PaZLWyGv2OAeT6KcyrPbMaNvCE"\n', "")),
        "rules.toml: [committee]: superior 'city_cdi' has no public_key: reports held for the "
        "superior could not be accepted",
        id="superior-without-key",
    ),
    pytest.param(
        edited(
            ('parent = "city_cdi"', 'parent = "city_cdi"\npublic_key = "wkF6yj9vEd2H5GrB0PaZLWyGv2OAeT6KcyrPbMaNvCE"')
        ),
        "rules.toml: units #2 (county_cdi): public_key is only for external units (members of "
        "local units use their own keys)",
        id="public-key-on-local-unit",
    ),
    pytest.param(
        edited(("\nexternal = true", '\nexternal = "yes"')),
        "rules.toml: units #1 (city_cdi): external must be true or false",
        id="external-not-bool",
    ),
    # committee
    pytest.param(
        edited(('superior = "city_cdi"', 'superior = "county_cdi"')),
        "rules.toml: [committee]: superior 'county_cdi' must be an external unit (external = true)",
        id="superior-local",
    ),
    pytest.param(
        edited(('superior = "city_cdi"', 'superior = "province"')),
        "rules.toml: [committee]: superior 'province' is not a unit",
        id="superior-unknown",
    ),
    pytest.param(
        edited(('unit = "county_cdi"        #', 'unit = "city_cdi"        #')),
        "rules.toml: [committee]: unit 'city_cdi' is an external unit",
        id="committee-unit-external",
    ),
    pytest.param(
        edited(('unit = "county_cdi"        #', "#")),
        "rules.toml: [committee]: unit (the code of this committee's own unit) is required",
        id="committee-unit-missing",
    ),
    # members
    pytest.param(
        edited(('username = "liu.yang"\nunit = "county_cdi"', 'username = "liu.yang"\nunit = "nowhere"')),
        "rules.toml: members #2 (liu.yang): unit 'nowhere' is not a unit",
        id="member-unit",
    ),
    pytest.param(
        edited(('username = "liu.yang"\nunit = "county_cdi"', 'username = "liu.yang"\nunit = "city_cdi"')),
        "rules.toml: members #2 (liu.yang): unit 'city_cdi' is an external unit",
        id="member-external-unit",
    ),
    pytest.param(
        edited(('departments = ["finance"]', 'departments = ["finanse"]')),
        "rules.toml: members #4 (wang.fang): departments: 'finanse' is not a department",
        id="member-department",
    ),
    pytest.param(
        edited(('username = "zhang.wei"', 'username = "Zhang Wei"')),
        "rules.toml: members #3 (Zhang Wei): username must be 2-64 of a-z, 0-9, '_', '.', '-'",
        id="username",
    ),
    pytest.param(
        edited(('username = "zhang.wei"', 'username = "z"')),  # an invitation needs 2 or more
        "rules.toml: members #3 (z): username must be 2-64 of a-z, 0-9, '_', '.', '-'",
        id="username-one-letter",
    ),
    pytest.param(
        edited(('username = "liu.yang"', 'username = "chen.jie"')),
        "rules.toml: members #2 (chen.jie): username 'chen.jie' is used twice",
        id="username-twice",
    ),
    pytest.param(
        edited(('role = "admin"', 'role = "root"')),
        "rules.toml: members #10 (ma.lin): role must be one of member, unit_lead, admin, overseer (got 'root')",
        id="role",
    ),
    pytest.param(
        edited(("\ncustodian = true", "\ncustodian = 1")),
        "rules.toml: members #1 (chen.jie): custodian must be true or false",
        id="custodian",
    ),
    # channels
    pytest.param(
        edited(append='\n[channels.general]\nunit = "nowhere"\n'),
        "rules.toml: [channels.general]: unit 'nowhere' is not a unit",
        id="channel-unit",
    ),
    pytest.param(
        edited(append='\n[channels.notices]\nunit = "org_cadre_supervision"\n'),
        "rules.toml: [channels.notices]: 'notices' is not a channel (known: contractor, general, notice)",
        id="channel-unknown",
    ),
    pytest.param(
        edited(append='\n[channels.general]\nunit = "office_2"\nalso_units = ["city_cdi"]\n'),
        "rules.toml: [channels.general]: also_units: 'city_cdi' is an external unit",
        id="channel-also-external",
    ),
    # risk
    pytest.param(
        edited(("bid_rigging = 5\n", "")),
        "rules.toml: [risk.weights.category]: no weight for bid_rigging",
        id="weight-missing",
    ),
    pytest.param(
        edited(("bribery = 5", "bribery = 5\nbribes = 3")),
        "rules.toml: [risk.weights.category]: unknown code 'bribes'",
        id="weight-unknown-code",
    ),
    pytest.param(
        edited(("over_100k = 6", 'over_100k = "6"')),
        "rules.toml: [risk.weights.money_band]: over_100k must be a whole number of points (got '6')",
        id="weight-not-int",
    ),
    pytest.param(
        without_table("[risk.weights.evidence]"),
        "rules.toml: [risk.weights.evidence]: is missing (every code needs a weight: attached, "
        "can_provide, witnesses, none)",
        id="weights-table-missing",
    ),
    pytest.param(
        edited(("thresholds = { high = 14, medium = 8 }", "thresholds = { high = 8, medium = 8 }")),
        "rules.toml: [risk] thresholds: high (8) must be greater than medium (8)",
        id="thresholds",
    ),
    pytest.param(
        edited(("thresholds = { high = 14, medium = 8 }", "thresholds = { high = 14 }")),
        "rules.toml: [risk] thresholds: medium must be a whole number of points",
        id="threshold-missing",
    ),
    # deadlines
    pytest.param(
        edited(("acknowledge = 10\nfeedback = 90\n", "acknowledge = 10\n")),
        "rules.toml: [deadlines.default.low]: missing feedback",
        id="deadline-missing",
    ),
    pytest.param(
        edited(("acknowledge = 1\nfeedback = 20", "acknowledge = 25\nfeedback = 20")),
        "rules.toml: [deadlines.contractor.high]: acknowledge (25) is later than feedback (20)",
        id="deadline-order",
    ),
    pytest.param(
        edited(("acknowledge = 2\n", "acknowledge = 0\n")),
        "rules.toml: [deadlines.default.high]: acknowledge must be a whole number of working days, at least 1 (got 0)",
        id="deadline-zero",
    ),
    pytest.param(
        edited(("acknowledge = 2\n", "acknowledge = 2100000\n")),
        "rules.toml: [deadlines.default.high]: acknowledge must be at most 3650 working days (got 2100000)",
        id="deadline-huge",
    ),
    pytest.param(
        edited(("due_soon = 3", "due_soon = 3651")),
        "rules.toml: [deadlines]: due_soon must be at most 3650 working days (got 3651)",
        id="due-soon-huge",
    ),
    pytest.param(
        edited(("[deadlines.contractor.low]", "[deadlines.contracter.low]")),
        "rules.toml: [deadlines.contracter]: 'contracter' is neither 'default' nor a channel "
        "(known: contractor, general, notice)",
        id="deadline-channel",
    ),
    pytest.param(
        edited(("[deadlines.contractor.low]", "[deadlines.contractor.urgent]")),
        "rules.toml: [deadlines.contractor.urgent]: 'urgent' is not a grade (use high, medium, low)",
        id="deadline-grade",
    ),
    pytest.param(
        edited(("due_soon = 3", "due_soon = 2.5")),
        "rules.toml: [deadlines]: due_soon must be a whole number of working days, at least 1 (got 2.5)",
        id="due-soon",
    ),
    # calendar
    pytest.param(
        edited(
            ("extra_holidays = []", "extra_holidays = [2027-02-08]"),
            ("extra_workdays = []", "extra_workdays = [2027-02-08]"),
        ),
        "rules.toml: [calendar]: both a holiday and a workday: 2027-02-08",
        id="calendar-both",
    ),
    pytest.param(
        edited(("extra_holidays = []", 'extra_holidays = ["2027-02-08"]')),
        "rules.toml: [calendar]: extra_holidays: '2027-02-08' is not a date (write 2027-02-08, without quotes or time)",
        id="calendar-string",
    ),
    # file level
    pytest.param(
        edited(append='\n[[member]]\nusername = "x"\n'),
        "rules.toml: unknown table 'member' (expected committee, units, departments, members, "
        "channels, risk, deadlines, calendar, retention, surveys, enrolment, witnesses, witnessing)",
        id="unknown-table",
    ),
    pytest.param(edited(append="\n[broken\n"), "rules.toml: not valid TOML: ", id="not-toml"),
    pytest.param(
        edited(append="\nnested = " + "[" * 5000 + "]" * 5000 + "\n"),
        "rules.toml: not valid TOML: ",
        id="nested-too-deep",
    ),
]


@pytest.mark.parametrize("text, message", BROKEN)
def test_broken_rules_are_named_precisely(text, message):
    found = problems(text)
    if message.endswith(": "):  # the TOML parser's own wording follows
        assert len(found) == 1 and found[0].startswith(message)
    else:
        assert message in found
    with pytest.raises(RulesError) as raised:
        rules_mod.parse(text, SRC)
    assert str(raised.value) == found[0]


def test_every_problem_is_listed_not_just_the_first(tmp_path):
    text = edited(
        ('supervising_unit = "office_1"', 'supervising_unit = "x"'),
        ("bid_rigging = 5\n", ""),
        ("witnesses = 1\n", ""),
        ('role = "admin"', 'role = "root"'),
    )
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    found = rules_mod.check(path)
    assert found == [
        f"{path}: departments #3 (natural_resources): supervising_unit 'x' is not a unit",
        f"{path}: members #10 (ma.lin): role must be one of member, unit_lead, admin, overseer (got 'root')",
        f"{path}: [risk.weights.category]: no weight for bid_rigging",
        f"{path}: [risk.weights.evidence]: no weight for witnesses",
    ]
    with pytest.raises(RulesError, match="supervising_unit 'x' is not a unit"):
        rules_mod.load(path)


def test_missing_weights_are_all_named_in_one_message():
    found = problems(edited(("meals = 2\n", ""), ("work_style = 2\n", "")))
    assert found == ["rules.toml: [risk.weights.category]: no weight for meals, work_style"]


@pytest.mark.parametrize("key", ["", 'public_key = "wkF6yj9vEd2H5GrB0PaZLWyGv2OAeT6KcyrPbMaNvCE"\n'])
def test_an_external_parent_of_a_local_unit_must_be_the_superior(key):
    """Cases about the head of a unit are held sealed to committee.superior's key: an external
    level above that is another body, with a key or without, is refused rather than named as
    the holder of cases it could not open."""
    text = edited(
        append='\n[[units]]\ncode = "province_cdi"\nname = { zh_Hans = "省纪委监委", '
        'zh_Hant = "省紀委監委", en = "Province Commission" }\nexternal = true\n' + key + "\n"
        '[[units]]\ncode = "liaison"\nname = { zh_Hans = "联络组", zh_Hant = "聯絡組", '
        'en = "Liaison group" }\nparent = "province_cdi"\n'
    )
    assert problems(text) == [
        "rules.toml: units #11 (liaison): its parent 'province_cdi' is external but not the superior body "
        "([committee] superior = 'city_cdi'): cases about the head of this unit are held sealed to the "
        "superior's key, so an external level above must be the superior"
    ]


def test_check_reports_unreadable_files(tmp_path):
    missing = tmp_path / "nope.toml"
    found = rules_mod.check(missing)
    assert len(found) == 1 and found[0].startswith(f"{missing}: cannot read:")
    with pytest.raises(RulesError, match="cannot read"):
        rules_mod.load(missing)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe[committee]")
    assert rules_mod.check(binary)[0].startswith(f"{binary}: not UTF-8 text")


def test_minimal_file_lists_each_missing_section():
    found = problems('[committee]\nname = { zh_Hans = "a", zh_Hant = "a", en = "a" }\n')
    assert found == [
        "rules.toml: [committee]: unit (the code of this committee's own unit) is required",
        "rules.toml: [committee]: superior (the code of the superior body, an external unit) is required",
        "rules.toml: at least one [[departments]] entry is required",
        "rules.toml: a [risk] table with thresholds and weights is required",
        "rules.toml: a [deadlines] table is required ([deadlines.default.high] acknowledge = …)",
    ]


def test_lookups_used_by_the_workspace():
    rules = example()
    assert rules.member("li.na").departments == ("housing",)
    assert rules.member("nobody") is None
    assert rules.superior_public_key() == rules.unit_codes["city_cdi"].public_key
    assert len(rules.superior_public_key()) == 32
    assert rules.unit_codes["stationed_1"].name("en") == "First Stationed Discipline Inspection Group"
