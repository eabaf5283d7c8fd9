"""Risk grade (高危 / 中危 / 低危) from the weights in the rules file.

The score is the sum of the weights of the case's category, money band, frequency,
accused rank and evidence; ``score >= thresholds.high`` is high, ``>= thresholds.medium``
is medium, anything else low. Labels are the interface's business; codes live here.
"""

from dataclasses import dataclass

from whistle.rules.parse import GRADES, RISK_FIELDS, Rules

__all__ = ["GRADES", "RISK_FIELDS", "Assessment", "assess", "explain", "grade_for"]


@dataclass(frozen=True)
class Assessment:
    """A computed grade with the points each field contributed."""

    grade: str
    score: int
    factors: tuple[tuple[str, str, int], ...]  # (field, code, points), in RISK_FIELDS order
    thresholds: tuple[tuple[str, int], ...] = ()  # (("high", N), ("medium", M))


def grade_for(score: int, thresholds: dict) -> str:
    """The grade a score falls into."""
    if score >= thresholds["high"]:
        return "high"
    if score >= thresholds["medium"]:
        return "medium"
    return "low"


def assess(rules: Rules, header: dict) -> Assessment:
    """Grade a case from its clear routing header; ValueError for a code without weight."""
    factors = []
    for name in RISK_FIELDS:
        code = header.get(name)
        weights = rules.risk.weights[name]
        if code not in weights:
            raise ValueError(f"{name}: {code!r} has no risk weight")
        factors.append((name, code, weights[code]))
    score = sum(points for _, _, points in factors)
    thresholds = rules.risk.thresholds
    return Assessment(
        grade_for(score, thresholds),
        score,
        tuple(factors),
        (("high", thresholds["high"]), ("medium", thresholds["medium"])),
    )


def explain(assessment: Assessment) -> dict:
    """Why this grade, as data for the interface to render.

    ``factors`` are ordered by points (largest first, ties in field order), each with its
    share of the score; ``band`` is the score range of the grade; ``to_next`` is how many
    more points would have reached the next grade up (None for high).
    """
    thresholds = dict(assessment.thresholds)
    high, medium = thresholds["high"], thresholds["medium"]
    bands = {"high": (high, None), "medium": (medium, high - 1), "low": (None, medium - 1)}
    to_next = {"high": None, "medium": high - assessment.score, "low": medium - assessment.score}
    order = sorted(range(len(assessment.factors)), key=lambda i: (-assessment.factors[i][2], i))
    total = assessment.score
    factors = [
        {"field": f, "code": c, "points": p, "share": round(p / total, 3) if total > 0 else 0.0}
        for f, c, p in (assessment.factors[i] for i in order)
    ]
    low_bound, high_bound = bands[assessment.grade]
    return {
        "grade": assessment.grade,
        "score": assessment.score,
        "thresholds": {"high": high, "medium": medium},
        "band": {"min": low_bound, "max": high_bound},
        "to_next": to_next[assessment.grade],
        "factors": factors,
    }
