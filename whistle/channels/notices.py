"""Pre-appointment public notices (任前公示).

A member of the organization department's cadre-supervision unit (the rules file's
``[channels.notice] unit``, role member or unit_lead) publishes a notice: the candidate's
name, current post and department, the proposed post, and a comment window. Notices are
public information and are stored in clear.

The window runs from 00:00 of ``opens_on`` to 24:00 of ``closes_on`` in the committee's time
zone, both days included, and must hold at least ``MIN_WORKING_DAYS`` working days of the
committee's calendar (Chinese public holidays and make-up working days, see
``whistle.triage.deadlines``). While it is open anyone may comment through the reporter form
(channel ``notice``): the same sealing, receipt code and follow-up as every report. The
routing header names the notice; ``window_state`` decides, to the second, whether a comment
is still accepted, though nothing finer than the day is ever stored.

The committee sees, per notice, how many comments arrived, where they were routed and how
they were disposed of: counts only, never content (``summary``).
"""

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from whistle import catalog
from whistle.errors import InvalidSubmission, WhistleError
from whistle.models import Case, Notice, new_id
from whistle.triage import routing

MIN_WORKING_DAYS = 5
# A notice is published shortly before its window, which lasts about a week; these bound
# what the form takes, generously, so a mistyped year cannot make a window of centuries.
MAX_LEAD_DAYS = 366  # the first day at most this long after publishing
MAX_WINDOW_DAYS = 366  # the last day at most this long after the first
RECENT_DAYS = 30  # closed notices stay on the public list this long
TEXT_LIMITS = {"candidate_name": 100, "current_post": 200, "proposed_post": 200}
PUBLISHER_ROLES = ("member", "unit_lead")

UPCOMING, OPEN, CLOSED = "upcoming", "open", "closed"


class NoticeClosed(WhistleError):
    """A comment on a notice whose window has closed: a clear 4xx, never an error page."""

    status = 409
    code = "notice_closed"
    message = _l("The comment window of this notice has closed: no new comments are accepted.")


class NoticeNotOpen(WhistleError):
    """A comment on a notice whose window has not opened yet."""

    status = 409
    code = "notice_not_open"
    message = _l("The comment window of this notice has not opened yet: comments are accepted from its first day.")


class NoSuchNotice(WhistleError):
    """The routing header names a notice that does not exist."""

    status = 404
    code = "no_such_notice"
    message = _l("There is no such notice.")


def window_bounds(notice: Notice, tz: str) -> tuple[dt.datetime, dt.datetime]:
    """(first instant, first instant after) of the notice's window, aware, in ``tz``."""
    zone = ZoneInfo(tz)
    opens = dt.datetime.combine(notice.opens_on, dt.time(0), tzinfo=zone)
    if notice.closes_on == dt.date.max:
        # No day follows the last one a date can hold; its last instant is never reached.
        return opens, dt.datetime.combine(dt.date.max, dt.time.max, tzinfo=zone)
    closes = dt.datetime.combine(notice.closes_on + dt.timedelta(days=1), dt.time(0), tzinfo=zone)
    return opens, closes


def window_state(notice: Notice, now: dt.datetime, tz: str = "Asia/Shanghai") -> str:
    """``upcoming``, ``open`` or ``closed`` at the instant ``now`` (an aware datetime): open
    from 00:00 of ``opens_on`` up to, not including, 24:00 of ``closes_on`` in ``tz``."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("window_state needs an aware datetime")
    opens, closes = window_bounds(notice, tz)
    if now < opens:
        return UPCOMING
    if now >= closes:
        return CLOSED
    return OPEN


def state_on(notice: Notice, today: dt.date) -> str:
    """The window's state on a whole day (for lists: a notice open on that day is open)."""
    if today < notice.opens_on:
        return UPCOMING
    if today > notice.closes_on:
        return CLOSED
    return OPEN


def working_days(calendar, opens_on: dt.date, closes_on: dt.date) -> int | None:
    """Working days from ``opens_on`` to ``closes_on``, both included; None for a window
    longer than MAX_WINDOW_DAYS (the form refuses those; the calendar counts day by day, and
    one stored before that limit could span millions of days)."""
    if closes_on < opens_on:
        return 0
    if (closes_on - opens_on).days > MAX_WINDOW_DAYS:
        return None
    # (opens_on, closes_on] and opens_on itself: the day before the first may not exist.
    return calendar.workdays_between(opens_on, closes_on) + calendar.is_workday(opens_on)


def require_open(db: Session, notice_id, now: dt.datetime, tz: str) -> Notice:
    """The notice ``notice_id`` if comments are accepted at ``now``; NoSuchNotice,
    NoticeNotOpen or NoticeClosed otherwise."""
    notice = db.get(Notice, notice_id) if catalog.is_notice_id(notice_id) else None
    if notice is None:
        raise NoSuchNotice()
    state = window_state(notice, now, tz)
    if state == UPCOMING:
        raise NoticeNotOpen()
    if state == CLOSED:
        raise NoticeClosed()
    return notice


def check_comment_header(db: Session, header: dict, now: dt.datetime, tz: str) -> Notice | None:
    """For a notice comment: its notice must exist and be open at ``now``, and the header's
    department must be the candidate's (routing and conflicts follow it). None for other
    channels."""
    if header.get("channel") != catalog.NOTICE_CHANNEL:
        return None
    notice = require_open(db, header.get(catalog.NOTICE_FIELD), now, tz)
    if header.get("department") != notice.department:
        raise InvalidSubmission(detail="routing: department is not the notice's")
    return notice


# -- who may do what ----------------------------------------------------------------------


def publishing_unit(rules) -> str | None:
    """The unit whose members publish notices: ``[channels.notice] unit`` (None without it)."""
    channel = rules.channels.get(catalog.NOTICE_CHANNEL)
    return channel.unit if channel is not None else None


def may_publish(rules, username: str) -> bool:
    """Members and unit leads of the publishing unit may publish notices."""
    member = rules.member(username)
    unit = publishing_unit(rules)
    return member is not None and unit is not None and member.unit == unit and member.role in PUBLISHER_ROLES


def may_view(rules, username: str) -> bool:
    """Who sees the notices and their comment summaries in the workspace: the members and
    unit leads of every unit notice comments are routed to."""
    member = rules.member(username)
    channel = rules.channels.get(catalog.NOTICE_CHANNEL)
    if member is None or channel is None or member.role not in routing.READER_ROLES:
        return False
    return member.unit in (channel.unit, *channel.also_units)


def conflicted(rules, username: str, notice: Notice) -> bool:
    """True if the candidate's department is one of the member's own (as for a case about
    it): they see neither the notice's comment summary nor the notice in their list."""
    return routing.holder_refusal(rules, username, notice.department) in ("unknown", "conflict")


# -- publishing ---------------------------------------------------------------------------


@dataclass
class Draft:
    """A notice as typed into the form, before it is checked."""

    candidate_name: str
    current_post: str
    proposed_post: str
    department: str
    opens_on: dt.date | None
    closes_on: dt.date | None


def _date(text) -> dt.date | None:
    try:
        return dt.date.fromisoformat((text or "").strip())
    except ValueError:
        return None


def draft_from(form) -> Draft:
    """Read the publishing form (text is trimmed; a date that does not parse is None)."""
    return Draft(
        *((form.get(name) or "").strip() for name in ("candidate_name", "current_post", "proposed_post", "department")),
        _date(form.get("opens_on")),
        _date(form.get("closes_on")),
    )


def problems(draft: Draft, rules, calendar, today: dt.date) -> dict:
    """Field -> problem code: ``required``, ``too_long``, ``unknown``, ``date``, ``past``,
    ``too_far`` (the first day more than MAX_LEAD_DAYS after ``today``), ``order``,
    ``too_short`` (the window has fewer than MIN_WORKING_DAYS working days) or
    ``too_wide`` (the last day more than MAX_WINDOW_DAYS after the first)."""
    found = {}
    for name, limit in TEXT_LIMITS.items():
        value = getattr(draft, name)
        if not value:
            found[name] = "required"
        elif len(value) > limit:
            found[name] = "too_long"
    if draft.department not in rules.department_codes:
        found["department"] = "unknown"
    if draft.opens_on is None:
        found["opens_on"] = "date"
    elif draft.opens_on < today:
        found["opens_on"] = "past"
    elif (draft.opens_on - today).days > MAX_LEAD_DAYS:
        found["opens_on"] = "too_far"
    if draft.closes_on is None:
        found["closes_on"] = "date"
    elif draft.opens_on is not None and draft.closes_on < draft.opens_on:
        found["closes_on"] = "order"
    elif draft.opens_on is not None and (draft.closes_on - draft.opens_on).days > MAX_WINDOW_DAYS:
        found["closes_on"] = "too_wide"
    elif "opens_on" in found:
        pass  # working days are counted only once the first day is right (it may be 0001-01-01)
    elif working_days(calendar, draft.opens_on, draft.closes_on) < MIN_WORKING_DAYS:
        found["closes_on"] = "too_short"
    return found


def publish(db: Session, draft: Draft, *, by: str, on: dt.date) -> Notice:
    """Store a checked draft as a published notice."""
    notice = Notice(
        id=new_id(),
        candidate_name=draft.candidate_name,
        current_post=draft.current_post,
        proposed_post=draft.proposed_post,
        department=draft.department,
        opens_on=draft.opens_on,
        closes_on=draft.closes_on,
        published_on=on,
        published_by=by,
    )
    db.add(notice)
    db.flush()
    return notice


# -- lists and summaries --------------------------------------------------------------------


def public_lists(db: Session, today: dt.date) -> tuple[list[Notice], list[Notice]]:
    """(open notices, notices closed within the last RECENT_DAYS days), for the public page."""
    open_ = db.scalars(
        select(Notice)
        .where(Notice.opens_on <= today, Notice.closes_on >= today)
        .order_by(Notice.closes_on, Notice.candidate_name, Notice.id)
    ).all()
    recent = db.scalars(
        select(Notice)
        .where(Notice.closes_on < today, Notice.closes_on >= today - dt.timedelta(days=RECENT_DAYS))
        .order_by(Notice.closes_on.desc(), Notice.candidate_name, Notice.id)
    ).all()
    return list(open_), list(recent)


def all_notices(db: Session) -> list[Notice]:
    """Every notice, latest window first (the workspace list)."""
    return list(db.scalars(select(Notice).order_by(Notice.opens_on.desc(), Notice.candidate_name, Notice.id)))


def summary(db: Session, rules, notice: Notice) -> dict:
    """For the appointment decision: how many comments, where they were routed and how they
    were disposed of. Counts of codes only: never a case id, a date or any content."""
    comments = db.scalars(select(Case).where(Case.notice_id == notice.id)).all()
    units, dispositions, statuses = Counter(), Counter(), Counter()
    held = 0
    for case in comments:
        if case.department in rules.department_codes:
            routed_to = routing.route(rules, catalog.routing_header(case)).units
        else:  # no longer in the rules file (merged away): the unit it went to when it came in
            routed_to = (case.handling_unit,)
        if case.held_for_superior:
            held += 1
        for unit in routed_to:
            units[unit] += 1
        dispositions[case.disposition or ""] += 1
        statuses[case.status] += 1
    return {
        "comments": len(comments),
        "held_for_superior": held,
        "units": sorted(units.items()),
        "dispositions": sorted(dispositions.items()),
        "statuses": sorted(statuses.items()),
    }
