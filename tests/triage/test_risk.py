"""Risk grades from the example's weights, and the "why this grade" data."""

import pytest

from tests.triage import edited, example, header
from whistle.rules import parse as rules_mod
from whistle.triage import risk

RULES = example()


def test_grades_are_ordered_codes():
    assert risk.GRADES == ("high", "medium", "low")


CASES = [
    # bid rigging over 100k, regularly, by the head, with files: 5 + 6 + 4 + 4 + 2
    pytest.param(
        dict(
            channel="contractor",
            category="bid_rigging",
            money_band="over_100k",
            frequency="regular",
            accused_rank="head",
            evidence="attached",
        ),
        21,
        "high",
        id="max",
    ),
    # a meal under 1k once by a clerk, no evidence: 2 + 1 + 0 + 1 + 0
    pytest.param(
        dict(
            channel="contractor",
            category="meals",
            money_band="under_1k",
            frequency="once",
            accused_rank="staff",
            evidence="none",
        ),
        4,
        "low",
        id="low",
    ),
    # gifts 1k-10k several times, staff, attached: 3 + 2 + 2 + 1 + 2
    pytest.param(
        dict(
            channel="contractor",
            category="gifts",
            money_band="1k_10k",
            frequency="several",
            accused_rank="staff",
            evidence="attached",
        ),
        10,
        "medium",
        id="medium",
    ),
    # exactly on the medium threshold: 2 + 2 + 2 + 1 + 1 = 8
    pytest.param(
        dict(
            category="work_style", money_band="1k_10k", frequency="several", accused_rank="staff", evidence="witnesses"
        ),
        8,
        "medium",
        id="medium-boundary",
    ),
    # one below: 2 + 2 + 2 + 1 + 0 = 7
    pytest.param(
        dict(category="work_style", money_band="1k_10k", frequency="several", accused_rank="staff", evidence="none"),
        7,
        "low",
        id="below-medium",
    ),
    # exactly on the high threshold: 5 + 4 + 2 + 3 + 0 = 14
    pytest.param(
        dict(
            category="bribery", money_band="10k_100k", frequency="several", accused_rank="leadership", evidence="none"
        ),
        14,
        "high",
        id="high-boundary",
    ),
    # one below: 5 + 4 + 2 + 1 + 1 = 13
    pytest.param(
        dict(
            category="bribery", money_band="10k_100k", frequency="several", accused_rank="staff", evidence="can_provide"
        ),
        13,
        "medium",
        id="below-high",
    ),
]


@pytest.mark.parametrize("fields, score, grade", CASES)
def test_assess(fields, score, grade):
    result = risk.assess(RULES, header(**fields))
    assert (result.score, result.grade) == (score, grade)
    assert [f for f, _, _ in result.factors] == list(risk.RISK_FIELDS)
    assert sum(p for _, _, p in result.factors) == score
    assert all(header(**fields)[f] == c for f, c, _ in result.factors)


def test_thresholds_come_from_the_rules():
    rules = rules_mod.parse(
        edited(("thresholds = { high = 14, medium = 8 }", "thresholds = { high = 5, medium = 3 }")), "rules.toml"
    )
    fields = dict(
        channel="contractor",
        category="meals",
        money_band="under_1k",
        frequency="once",
        accused_rank="staff",
        evidence="none",
    )
    assert risk.assess(RULES, header(**fields)).grade == "low"
    assert risk.assess(rules, header(**fields)).grade == "medium"


def test_code_without_weight_is_an_error():
    with pytest.raises(ValueError, match="money_band: 'lots'"):
        risk.assess(RULES, header(money_band="lots"))


def test_explain_high():
    result = risk.assess(
        RULES,
        header(
            channel="contractor",
            category="bid_rigging",
            money_band="over_100k",
            frequency="regular",
            accused_rank="head",
            evidence="attached",
        ),
    )
    why = risk.explain(result)
    assert why["grade"] == "high" and why["score"] == 21
    assert why["thresholds"] == {"high": 14, "medium": 8}
    assert why["band"] == {"min": 14, "max": None} and why["to_next"] is None
    # largest contribution first; ties keep field order (frequency before accused_rank)
    assert [(f["field"], f["code"], f["points"]) for f in why["factors"]] == [
        ("money_band", "over_100k", 6),
        ("category", "bid_rigging", 5),
        ("frequency", "regular", 4),
        ("accused_rank", "head", 4),
        ("evidence", "attached", 2),
    ]
    assert why["factors"][0]["share"] == round(6 / 21, 3)


def test_explain_medium_and_low_say_how_far_the_next_grade_is():
    medium = risk.explain(
        risk.assess(
            RULES, header(category="bribery", money_band="10k_100k", frequency="several", evidence="can_provide")
        )
    )
    assert medium["grade"] == "medium" and medium["band"] == {"min": 8, "max": 13} and medium["to_next"] == 1
    low = risk.explain(risk.assess(RULES, header(category="work_style")))
    assert low["grade"] == "low" and low["band"] == {"min": None, "max": 7}
    assert low["score"] == 3 and low["to_next"] == 5


def test_explain_zero_score_has_zero_shares():
    rules = rules_mod.parse(
        edited(
            ("work_style = 2", "work_style = 0"),
            ("head = 4\nleadership = 3\nstaff = 1", "head = 4\nleadership = 3\nstaff = 0"),
        ),
        "rules.toml",
    )
    why = risk.explain(risk.assess(rules, header(category="work_style")))
    assert why["score"] == 0 and all(f["share"] == 0.0 for f in why["factors"])
