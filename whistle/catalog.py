"""The routing envelope's enums (part of the sealed format) and their translated labels.

Codes are stored and travel in the clear header; labels are only for people. Departments
are local data and live in the rules file instead (see whistle.rules.parse).
"""

from flask_babel import lazy_gettext as _l

CHANNELS = {
    "contractor": _l("Contractor complaint"),
    "general": _l("General report"),
    "notice": _l("Comment on a pre-appointment notice (任前公示)"),
}

CHANNEL_HINTS = {
    "contractor": _l(
        "For contractors and suppliers: an official demanded meals, took gifts or "
        "money, held up approvals or payments, or asked for favours."
    ),
    "general": _l("For anyone: report misconduct by a public official or unit."),
    "notice": _l(
        "For anyone: comment on, or report a concern about, a cadre named in a "
        "pre-appointment public notice while its window is open."
    ),
}

CATEGORIES = {
    "contractor": {
        "meals": _l("吃 – demanded meals, banquets or entertainment"),
        "gifts": _l("拿 – took gifts, cash, cards or other property"),
        "obstruction": _l("卡 – held up approvals, inspections or payments"),
        "solicitation": _l("要 – solicited favours, jobs or business for others"),
        "bid_rigging": _l("Rigged bidding or tendering"),
        "unfair_allocation": _l("Unfair allocation of work or contracts"),
        "other": _l("Other"),
    },
    "general": {
        "bribery": _l("Bribery or taking advantage"),
        "abuse_of_power": _l("Abuse of power"),
        "dereliction": _l("Dereliction of duty"),
        "misuse_of_funds": _l("Misuse of public funds"),
        "work_style": _l("Work style (formalism, bureaucratism, extravagance)"),
        "other": _l("Other"),
    },
    "notice": {
        "integrity": _l("Integrity: bribes, gifts or abuse of office"),
        "work_style": _l("Work style or conduct"),
        "qualifications": _l("Qualifications, age, record or personal file not as stated"),
        "family_business": _l("Relatives' business interests or undeclared personal matters"),
        "other": _l("Other"),
    },
}

# The pre-appointment notice channel (任前公示): its routing header also names the notice
# (an opaque random id, public like the notice itself); no other channel's header may.
NOTICE_CHANNEL = "notice"
NOTICE_FIELD = "notice"
# Optional in every channel: a committee member the reporter names as the accused (their
# username, chosen from a list). Clear like the other routing fields: routing keeps the case
# from that person by identity, which it cannot do unless the server reads it.
ACCUSED_FIELD = "accused_member"

RANKS = {
    "head": _l("Head of the unit (一把手)"),
    "leadership": _l("Member of the leadership team"),
    "staff": _l("Ordinary official"),
    "unknown": _l("Not sure"),
}

MONEY_BANDS = {
    "none": _l("No money involved"),
    "under_1k": _l("Under 1,000 yuan"),
    "1k_10k": _l("1,000 – 10,000 yuan"),
    "10k_100k": _l("10,000 – 100,000 yuan"),
    "over_100k": _l("Over 100,000 yuan"),
    "unknown": _l("Not sure"),
}

FREQUENCIES = {
    "once": _l("Once"),
    "several": _l("Several times"),
    "regular": _l("Regularly, as a routine"),
    "unknown": _l("Not sure"),
}

EVIDENCE = {
    "attached": _l("Yes, I am attaching files"),
    "can_provide": _l("Yes, I can provide it later"),
    "witnesses": _l("There are witnesses"),
    "none": _l("No evidence beyond my account"),
}

# Clear header field -> (catalogue, label of the field); department is checked against rules.
ROUTING_FIELDS = ("channel", "department", "category", "accused_rank", "money_band", "frequency", "evidence")

CASE_EVENTS = {
    "received": _l("Received"),
    "acknowledged": _l("Acknowledged by the committee"),
    "in_review": _l("Under review"),
    "closed": _l("Closed"),
    "feedback_sent": _l("Reply from the committee"),  # an interim one too: not "the outcome"
    "disposition": _l("Decision on how the report is handled"),
    "purged": _l("Records deleted"),  # after the retention period, or early by two members
}
CASE_STATUSES = ("received", "acknowledged", "in_review", "closed", "purged")


def is_notice_id(value) -> bool:
    """True for a notice id: 32 lowercase hex digits (random, 128 bits)."""
    return isinstance(value, str) and len(value) == 32 and all(c in "0123456789abcdef" for c in value)


def routing_fields(channel) -> tuple:
    """The routing fields a header of ``channel`` carries (the notice channel adds ``notice``)."""
    return ROUTING_FIELDS + ((NOTICE_FIELD,) if channel == NOTICE_CHANNEL else ())


def routing_problems(header: dict, department_codes) -> list[str]:
    """Names of the routing fields in ``header`` that are missing, not a string or not a
    known code, then of any field that is not a routing field of its channel. Whether a
    notice id names an existing, open notice is checked where the database is at hand."""
    channel = header.get("channel")
    allowed = {
        "channel": CHANNELS,
        "department": department_codes,
        "category": CATEGORIES.get(channel, {}) if isinstance(channel, str) else {},
        "accused_rank": RANKS,
        "money_band": MONEY_BANDS,
        "frequency": FREQUENCIES,
        "evidence": EVIDENCE,
    }
    # Strings only: a list or object is unhashable (a 500 on the membership test) and a
    # number is no code, so both are simply "not a known code".
    fields = routing_fields(channel)
    problems = [
        name
        for name in ROUTING_FIELDS
        if not isinstance(header.get(name), str) or header.get(name) not in allowed[name]
    ]
    if NOTICE_FIELD in fields and not is_notice_id(header.get(NOTICE_FIELD)):
        problems.append(NOTICE_FIELD)
    accused = header.get(ACCUSED_FIELD)
    if ACCUSED_FIELD in header and (not isinstance(accused, str) or not 0 < len(accused) <= 64):
        problems.append(ACCUSED_FIELD)  # whether it names a member is checked against the rules
    problems += [name for name in header if name not in fields and name != ACCUSED_FIELD]
    return problems


def routing_header(case) -> dict:
    """The clear routing envelope of a case (a models.Case)."""
    header = {
        "channel": case.channel,
        "department": case.department,
        "category": case.category,
        "accused_rank": case.accused_rank,
        "money_band": case.money_band,
        "frequency": case.frequency,
        "evidence": case.evidence,
    }
    if case.channel == NOTICE_CHANNEL:
        header[NOTICE_FIELD] = case.notice_id
    if case.accused_member is not None:
        header[ACCUSED_FIELD] = case.accused_member
    return header
