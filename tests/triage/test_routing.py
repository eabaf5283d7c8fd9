"""Routing on the shipped example: who handles a case and who may read it."""

import pytest

from tests.triage import edited, example, header
from whistle.rules import parse as rules_mod
from whistle.triage import Route, can_grant, route

RULES = example()

ROUTES = [
    # (header fields, unit, escalated, held, eligible, excluded, reason)
    pytest.param(
        dict(department="natural_resources"),
        "office_1",
        False,
        False,
        ("zhang.wei",),
        (),
        "supervising_unit",
        id="normal",
    ),
    pytest.param(
        dict(department="water", accused_rank="leadership"),
        "office_1",
        False,
        False,
        ("zhang.wei",),
        (),
        "supervising_unit",
        id="leadership-stays-with-supervising-unit",
    ),
    pytest.param(
        dict(department="education", accused_rank="unknown"),
        "stationed_2",
        False,
        False,
        ("sun.hao",),
        (),
        "supervising_unit",
        id="unknown-rank-like-staff",
    ),
    pytest.param(
        dict(department="transport"),
        "stationed_1",
        False,
        False,
        ("zhao.lei", "li.na"),
        (),
        "supervising_unit",
        id="stationed-group",
    ),
    pytest.param(
        dict(department="housing"),
        "stationed_1",
        False,
        False,
        ("zhao.lei",),
        (("li.na", "conflict"),),
        "supervising_unit",
        id="conflict-excluded",
    ),
    pytest.param(
        dict(department="housing", accused_rank="head"),
        "county_cdi",
        True,
        False,
        ("chen.jie", "liu.yang"),
        (),
        "head_to_level_above",
        id="head-to-level-above",
    ),
    pytest.param(
        dict(department="finance"),
        "office_2",
        False,
        False,
        (),
        (("wang.fang", "conflict"),),
        "supervising_unit",
        id="everyone-conflicted",
    ),
    pytest.param(
        dict(department="finance", accused_rank="head"),
        "county_cdi",
        True,
        False,
        ("chen.jie", "liu.yang"),
        (),
        "head_to_level_above",
        id="finance-head",
    ),
    pytest.param(
        dict(department="organization"),
        "county_cdi",
        False,
        False,
        ("chen.jie", "liu.yang"),
        (),
        "supervising_unit",
        id="organization-staff",
    ),
    pytest.param(
        dict(department="organization", accused_rank="head"),
        "city_cdi",
        True,
        True,
        (),
        (),
        "head_to_level_above",
        id="head-level-above-external-held",
    ),
    pytest.param(
        dict(department="commission", accused_rank="head"),
        "city_cdi",
        True,
        True,
        (),
        (),
        "committee_head_to_superior",
        id="committee-head-held-for-superior",
    ),
    pytest.param(
        dict(department="commission", channel="contractor", category="meals", accused_rank="head"),
        "city_cdi",
        True,
        True,
        (),
        (),
        "committee_head_to_superior",
        id="committee-head-any-channel",
    ),
    pytest.param(
        dict(department="commission"),
        "cadre_supervision",
        False,
        False,
        ("zhou.min",),
        (),
        "supervising_unit",
        id="committee-staff-to-cadre-supervision",
    ),
    pytest.param(
        dict(department="commission", accused_rank="leadership"),
        "cadre_supervision",
        False,
        False,
        ("zhou.min",),
        (),
        "supervising_unit",
        id="committee-leadership",
    ),
    pytest.param(
        dict(department="other"),
        "case_management",
        False,
        False,
        ("wu.jing",),
        (("ma.lin", "admin"),),
        "supervising_unit",
        id="admin-never-eligible",
    ),
]


@pytest.mark.parametrize("fields, unit, escalated, held, eligible, excluded, reason", ROUTES)
def test_routing_table(fields, unit, escalated, held, eligible, excluded, reason):
    result = route(RULES, header(**fields))
    assert result == Route(
        unit=unit,
        escalated=escalated,
        held_for_superior=held,
        eligible=eligible,
        excluded=excluded,
        reason=reason,
        units=(unit,),
    )


def test_held_case_goes_to_an_external_unit_with_a_key():
    result = route(RULES, header(department="commission", accused_rank="head"))
    unit = RULES.unit_codes[result.unit]
    assert unit.external and unit.public_key is not None and result.eligible == ()


def test_admins_and_conflicted_members_are_never_eligible_anywhere():
    for department in RULES.department_codes:
        for rank in ("head", "leadership", "staff", "unknown"):
            result = route(RULES, header(department=department, accused_rank=rank))
            for username in result.eligible:
                member = RULES.member_usernames[username]
                assert member.role in ("member", "unit_lead")
                assert department not in member.departments
                assert member.unit in result.units
            assert "ma.lin" not in result.eligible


def test_channel_with_fixed_unit():
    rules = rules_mod.parse(
        edited(append='\n[channels.contractor]\nunit = "case_management"\nalso_units = ["stationed_1"]\n'), "rules.toml"
    )
    result = route(rules, header(channel="contractor", category="meals", department="housing"))
    assert result.reason == "channel_unit" and result.unit == "case_management"
    assert result.units == ("case_management", "stationed_1")
    assert result.eligible == ("zhao.lei", "wu.jing")
    assert result.excluded == (("li.na", "conflict"), ("ma.lin", "admin"))
    assert not result.escalated and not result.held_for_superior
    # the general channel is still routed by department
    assert route(rules, header(department="housing")).unit == "stationed_1"
    # the committee's head is never handled locally, whatever the channel
    held = route(rules, header(channel="contractor", category="meals", department="commission", accused_rank="head"))
    assert held.held_for_superior and held.unit == "city_cdi"


def test_head_of_a_unit_without_parent_is_held_for_the_superior():
    rules = rules_mod.parse(
        edited(('supervising_unit = "case_management"', 'supervising_unit = "org_cadre_supervision"')), "rules.toml"
    )
    result = route(rules, header(department="other", accused_rank="head"))
    assert result.held_for_superior and result.unit == "city_cdi" and result.eligible == ()
    assert route(rules, header(department="other")).unit == "org_cadre_supervision"


def test_unknown_department_is_an_error():
    with pytest.raises(ValueError, match="nowhere"):
        route(RULES, header(department="nowhere"))


GRANTS = [
    pytest.param("housing", "li.na", (False, "conflict"), id="own-department"),
    pytest.param("housing", "ma.lin", (False, "admin"), id="admin"),
    pytest.param("housing", "nobody", (False, "unknown"), id="unknown"),
    pytest.param("housing", "zhao.lei", (True, "ok"), id="eligible-member"),
    pytest.param("housing", "wang.fang", (False, "not_routed"), id="member-of-another-unit"),
    pytest.param("finance", "wang.fang", (False, "conflict"), id="seconded-member"),
    pytest.param("transport", "li.na", (True, "ok"), id="stationed-member-other-department"),
]


@pytest.mark.parametrize("department, username, expected", GRANTS)
def test_can_grant(department, username, expected):
    assert can_grant(RULES, header(department=department), username) == expected


def test_nothing_held_for_the_superior_can_be_granted_here():
    held = header(department="commission", accused_rank="head")
    for username in RULES.member_usernames:
        allowed, reason = can_grant(RULES, held, username)
        assert not allowed and reason in ("held", "admin")
    assert can_grant(RULES, held, "chen.jie") == (False, "held")
