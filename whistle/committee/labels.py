"""Translated labels of the committee side, and the template context of its pages."""

from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

from whistle import catalog
from whistle.committee.access import current_member, rule_of
from whistle.services import services

DISPOSITIONS = {
    "talk_inquiry": _l("Talk or written inquiry (谈话函询)"),
    "preliminary_verification": _l("Preliminary verification (初步核实)"),
    "hold_pending": _l("Hold for later review (暂存待查)"),
    "conclude": _l("Conclude (予以了结)"),
    "transfer_investigation": _l("Transfer for review and investigation (移送审查调查)"),
    "not_accepted": _l("Not accepted (不予受理)"),
    "duplicate": _l("Duplicate of an earlier case"),
}

FACTORS = {
    "category": _l("Kind of problem"),
    "money_band": _l("Money involved"),
    "frequency": _l("How often"),
    "accused_rank": _l("Position of the person"),
    "evidence": _l("Evidence"),
}

PENDING = {
    "disclose": _l("Disclose a real-name reporter's identity"),
    "downgrade": _l("Downgrade from high risk"),
    "close": _l("Close a high-risk case"),
    "purge": _l("Purge before the retention period ends"),
    "disposition": _l("Change the disposition of a closed case so that it is kept for less time"),
}

ROLES = {
    "member": _l("Member"),
    "unit_lead": _l("Unit lead"),
    "admin": _l("Administrator"),
    "overseer": _l("Overseer (supervising body)"),
}

_CATALOGUES = {
    "money_band": catalog.MONEY_BANDS,
    "frequency": catalog.FREQUENCIES,
    "accused_rank": catalog.RANKS,
    "evidence": catalog.EVIDENCE,
}


def code_label(field: str, code: str, channel: str) -> str:
    """The label of a routing code for the "why this grade" table."""
    if field == "category":
        return catalog.CATEGORIES.get(channel, {}).get(code, code)
    return _CATALOGUES.get(field, {}).get(code, code)


def context() -> dict:
    """Template globals of committee pages."""
    from whistle.channels import notices
    from whistle.triage.routing import READER_ROLES

    member = current_member()
    loaded = services().rules
    rule = rule_of(member.username) if member else None
    return {
        "may_view_notices": bool(member) and notices.may_view(loaded, member.username),
        "is_custodian": bool(rule and rule.custodian and rule.role in READER_ROLES),
        "member": member,
        "member_rule": rule_of(member.username) if member else None,
        "departments_by_code": loaded.department_codes,
        "units_by_code": loaded.unit_codes,
        "dispositions_labels": DISPOSITIONS,
        "factor_labels": FACTORS,
        "pending_labels": PENDING,
        "role_labels": ROLES,
        "code_label": code_label,
        "locale": str(get_locale()),
    }
