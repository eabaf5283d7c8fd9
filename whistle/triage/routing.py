"""Who handles a case, and who may read it.

Rules, in order:

1. The accused department is the committee's own organ (``is_committee``) and the accused
   is its head: the case is held for the superior body (``committee.superior``), sealed
   only to its public key; nobody here is eligible (``committee_head_to_superior``).
2. The channel has a fixed unit (``[channels.<code>] unit``): that unit, plus its
   ``also_units`` (``channel_unit``).
3. Otherwise the department's ``supervising_unit`` (``supervising_unit``); when the accused
   is the department's head (一把手), the parent of that unit, the level above
   (``head_to_level_above``). When that level above is external (the rules allow only
   ``committee.superior`` there) or there is none, the case is held for the superior.

Eligible readers are the members with role ``member`` or ``unit_lead`` of the handling
unit(s), minus every member whose own departments include the accused department
(excluded as ``conflict``) and the committee member the report names as the accused
(``accused_member``, a username in the clear header: excluded as ``accused``, by identity,
whatever their departments). Admins are never eligible (excluded as ``admin`` when they sit
in a handling unit). Rank ``unknown`` is routed like ``staff``.

A case may later be handed on (can_grant) only within what routing allows: the handling
unit(s) and the level above each, when that level is ours (grant_units); never down, never
elsewhere, never to a conflicted member, an admin or the accused member.
"""

from dataclasses import dataclass

from sqlalchemy import and_

from whistle.models import Member
from whistle.rules.parse import Rules

READER_ROLES = ("member", "unit_lead")
# The clear header field naming a committee member as the accused (a username). The server
# sees it: it must, to keep the case from that person by identity (docs/architecture.md).
ACCUSED_MEMBER = "accused_member"

# The accounts a key may be sealed to, a case granted or a real name disclosed: the
# eligible usernames above are narrowed to these rows wherever keys are chosen. Active, with
# a key, and confirmed by a second person (whistle.committee.enrolment): an account someone
# enrolled alone receives nothing.
KEY_HOLDER = and_(Member.active.is_(True), Member.public_key.is_not(None), Member.confirmed_on.is_not(None))


def account_refusal(account) -> str | None:
    """Why a member account may not receive a key now (``not_enrolled``, ``unconfirmed``),
    or None: KEY_HOLDER for one loaded row."""
    if account is None or not account.active or account.public_key is None:
        return "not_enrolled"
    if account.confirmed_on is None:
        return "unconfirmed"
    return None


@dataclass(frozen=True)
class Route:
    """Where a case goes. ``unit`` is the handling unit (an external unit when held)."""

    unit: str | None
    escalated: bool
    held_for_superior: bool
    eligible: tuple[str, ...]
    excluded: tuple[tuple[str, str], ...]
    reason: str
    units: tuple[str, ...] = ()  # every handling unit: ``unit`` first, then also_units


def _department(rules: Rules, header: dict):
    code = header.get("department")
    department = rules.department_codes.get(code)
    if department is None:
        raise ValueError(f"unknown department {code!r}")
    return department


def _held(unit: str, reason: str) -> Route:
    return Route(
        unit=unit, escalated=True, held_for_superior=True, eligible=(), excluded=(), reason=reason, units=(unit,)
    )


def route(rules: Rules, header: dict) -> Route:
    """Route a case from its clear routing header (channel, department, accused_rank …)."""
    department = _department(rules, header)
    head = header.get("accused_rank") == "head"
    units = rules.unit_codes
    if department.is_committee and head:
        return _held(rules.superior, "committee_head_to_superior")
    channel = rules.channels.get(header.get("channel"))
    if channel is not None:
        handling, escalated, reason = (channel.unit, *channel.also_units), False, "channel_unit"
    elif head:
        parent = units[department.supervising_unit].parent
        if parent is None:
            return _held(rules.superior, "head_to_level_above")
        if units[parent].external:
            return _held(parent, "head_to_level_above")
        handling, escalated, reason = (parent,), True, "head_to_level_above"
    else:
        handling, escalated, reason = (department.supervising_unit,), False, "supervising_unit"
    eligible, excluded = [], []
    for member in rules.members:
        if member.unit not in handling:
            continue
        if member.username == header.get(ACCUSED_MEMBER):
            excluded.append((member.username, "accused"))
        elif department.code in member.departments:
            excluded.append((member.username, "conflict"))
        elif member.role not in READER_ROLES:
            excluded.append((member.username, "admin"))
        else:
            eligible.append(member.username)
    return Route(
        unit=handling[0],
        escalated=escalated,
        held_for_superior=False,
        eligible=tuple(eligible),
        excluded=tuple(excluded),
        reason=reason,
        units=tuple(handling),
    )


def custodians(rules: Rules, header: dict) -> tuple[str, ...]:
    """Who a real-name reporter's identity is sealed to besides the committee key: the
    rules' custodians (``custodian = true``) who may read cases (member or unit_lead) and
    whose own departments do not include the accused department. Nobody for a case held for
    the superior body (its identity is sealed to the superior's key alone), nor for a case
    whose department the rules no longer list (no one can be cleared of a conflict)."""
    if header.get("department") not in rules.department_codes:
        return ()
    department = _department(rules, header)
    if route(rules, header).held_for_superior:
        return ()
    return tuple(
        m.username
        for m in rules.members
        if m.custodian and holder_refusal(rules, m.username, department.code, header.get(ACCUSED_MEMBER)) is None
    )


def grant_units(rules: Rules, header: dict) -> tuple[str, ...]:
    """The units a case may be handed to: its handling unit(s) and the level above each
    (its lead), when that level is one of ours. Never the level below: a 一把手 case handled
    above its supervising unit is not handed back down to it, nor to any unrelated unit."""
    handling = route(rules, header).units
    above = [rules.unit_codes[u].parent for u in handling if rules.unit_codes.get(u) is not None]
    return tuple(dict.fromkeys([*handling, *(u for u in above if u is not None and not rules.unit_codes[u].external)]))


def can_grant(rules: Rules, header: dict, username: str) -> tuple[bool, str]:
    """May a case with ``header`` be handed to ``username``? (allowed, reason).

    Reasons: ``unknown`` (no such member), ``unknown_department`` (the rules no longer list
    the case's department, removed or renamed since: whose own department it was cannot be
    told, so nobody is cleared), ``held`` (the case is held for the superior: nobody here
    may read it), ``accused`` (the report names this member as the accused), ``conflict``
    (the member's own department is the accused department), ``admin`` (admins never read
    cases), ``not_routed`` (routing does not send this case to the member's unit or to the
    level above it: grant_units), ``ok``.
    """
    if username not in rules.member_usernames:
        return False, "unknown"
    if header.get("department") not in rules.department_codes:
        return False, "unknown_department"
    department = _department(rules, header)
    if route(rules, header).held_for_superior:
        return False, "held"
    refusal = holder_refusal(rules, username, department.code, header.get(ACCUSED_MEMBER))
    if refusal:
        return False, refusal
    if rules.member_usernames[username].unit not in grant_units(rules, header):
        return False, "not_routed"
    return True, "ok"


def holder_refusal(rules: Rules, username: str, department: str, accused: str | None = None) -> str | None:
    """Why ``username`` may not hold a case of ``department`` (whose report names
    ``accused`` as the accused member, if any) under the rules as they are now
    (``unknown``, ``accused``, ``conflict``, ``admin``), or None if they may. Checked again
    after a grant, for every new item: a rules change can make a holder conflicted or no reader."""
    member = rules.member_usernames.get(username)
    if member is None:
        return "unknown"
    if accused is not None and username == accused:
        return "accused"
    if department in member.departments:
        return "conflict"
    if member.role not in READER_ROLES:
        return "admin"
    return None
