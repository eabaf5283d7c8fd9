"""Grants only where routing allows: the handling unit(s) and the level above, never down,
never another unit, never a conflicted member, never the committee member the report names."""

import pytest

from tests.triage import example, header
from whistle.triage import can_grant, route
from whistle.triage.routing import custodians

RULES = example()

GRANTS = [
    # (header fields, username, allowed, reason)
    pytest.param(dict(department="housing"), "zhao.lei", True, "ok", id="handling-unit"),
    pytest.param(dict(department="housing"), "chen.jie", True, "ok", id="its-lead-the-level-above"),
    pytest.param(dict(department="housing"), "zhang.wei", False, "not_routed", id="another-office"),
    pytest.param(
        dict(department="housing", channel="contractor", category="meals"),
        "he.ping",
        False,
        "not_routed",
        id="contractor-complaint-to-the-organization-department",
    ),
    pytest.param(dict(department="housing", accused_rank="head"), "chen.jie", True, "ok", id="head-level-above"),
    pytest.param(
        dict(department="housing", accused_rank="head"),
        "zhao.lei",
        False,
        "not_routed",
        id="head-never-back-down-to-the-accused-level",
    ),
    pytest.param(
        dict(department="commission", accused_member="zhou.min"),
        "zhou.min",
        False,
        "accused",
        id="named-staff-member-never",
    ),
    pytest.param(dict(department="commission"), "zhou.min", True, "ok", id="cadre-supervision-otherwise"),
    pytest.param(dict(department="housing"), "li.na", False, "conflict", id="conflict"),
]


@pytest.mark.parametrize("fields, username, allowed, reason", GRANTS)
def test_grant_follows_routing(fields, username, allowed, reason):
    assert can_grant(RULES, header(**fields), username) == (allowed, reason)


def test_the_named_member_is_excluded_by_identity_from_routing_and_custody():
    """zhou.min's own departments do not include "commission" (it would exclude her office
    from its work): only her name in the header keeps a complaint about her from her."""
    named = header(department="commission", accused_member="zhou.min")
    result = route(RULES, named)
    assert "zhou.min" not in result.eligible and ("zhou.min", "accused") in result.excluded
    assert "chen.jie" not in custodians(RULES, header(department="commission", accused_member="chen.jie"))
    assert "chen.jie" in custodians(RULES, header(department="commission"))
