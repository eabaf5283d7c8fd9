"""Content-free notifications: each member learns how many cases wait for them (new ones,
ones whose deadline falls within days, ones with a reporter's message not yet answered),
nothing else (no case id, department, unit, grade or date), by e-mail if the rules file
gives an address.

Run from a timer (`whistle notify`); the workspace itself shows the same cases."""

import datetime as dt
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from whistle.committee import case_listing
from whistle.models import Case, CaseGrant, CaseItem, Member

# Reminders look this many working days ahead for deadlines.
DUE_WITHIN_WORKDAYS = 2


@dataclass(frozen=True)
class SmtpSettings:
    """Where notification mail goes out."""

    host: str
    port: int = 587
    sender: str = "whistle@localhost"
    starttls: bool = True
    username: str | None = None
    password: str | None = None


@dataclass(frozen=True)
class Reminder:
    """What one member is told: three counts, nothing that could name a case."""

    new: int = 0
    due_soon: int = 0
    messages: int = 0

    def __bool__(self) -> bool:
        return bool(self.new or self.due_soon or self.messages)


def _held_counts(db: Session, condition) -> dict[str, int]:
    """username -> number of cases matching ``condition`` granted to that active member."""
    rows = db.execute(
        select(Member.username, func.count(Case.id))
        .join(CaseGrant, CaseGrant.member_id == Member.id)
        .join(Case, Case.id == CaseGrant.case_id)
        .where(condition, Member.active.is_(True), Case.status != "purged")
        .group_by(Member.username)
    ).all()
    return {username: count for username, count in rows if count}


def _reporter_spoke_last():
    """Cases whose latest message is the reporter's: no reply since it came."""
    last, mine = aliased(CaseItem), aliased(CaseItem)
    last_seq = (
        select(func.max(last.seq))
        .where(last.case_id == Case.id, last.kind.in_(("message", "reply")))
        .correlate(Case)
        .scalar_subquery()
    )
    return (
        select(mine.id)
        .where(mine.case_id == Case.id, mine.kind == "message", mine.seq == last_seq)
        .correlate(Case)
        .exists()
    )


def new_case_counts(db: Session) -> dict[str, int]:
    """username -> number of cases held by that member that nobody has acknowledged yet."""
    return _held_counts(db, Case.status == "received")


def reminder_counts(db: Session, today: dt.date, due_by: dt.date) -> dict[str, Reminder]:
    """username -> their reminder: new cases, open cases whose deadline falls from ``today``
    to ``due_by``, and cases with a reporter's message not yet answered."""
    new = new_case_counts(db)
    due = _held_counts(db, case_listing.open_due_between(today, due_by))
    messages = _held_counts(db, _reporter_spoke_last())
    return {
        u: Reminder(new.get(u, 0), due.get(u, 0), messages.get(u, 0))
        for u in sorted(set(new) | set(due) | set(messages))
    }


def message_for(reminder: Reminder, sender: str, recipient: str, language: str = "zh_Hans") -> EmailMessage:
    """The whole e-mail: counts and a reminder, nothing that could identify a case."""
    with force_locale(language):
        msg = EmailMessage()
        msg["From"] = sender
        msg["To"] = recipient
        msg["Subject"] = _("Cases are waiting for you")
        lines = []
        if reminder.new:
            lines.append(_("%(num)d new case(s) are waiting for you in the committee workspace.", num=reminder.new))
        if reminder.due_soon:
            lines.append(
                _(
                    "%(num)d case(s) have a deadline within %(days)d working days.",
                    num=reminder.due_soon,
                    days=DUE_WITHIN_WORKDAYS,
                )
            )
        if reminder.messages:
            lines.append(
                _("%(num)d case(s) have a message from the reporter that has not been answered.", num=reminder.messages)
            )
        lines.append(_("Log in to see them."))
        msg.set_content("\n".join(lines))
    return msg


def send(settings: SmtpSettings, rules, reminders: dict[str, Reminder]) -> list[str]:
    """Mail every member with an address and something waiting; returns who was notified."""
    notified: list[str] = []
    targets = [
        (rules.member(u).email, r) for u, r in reminders.items() if r and rules.member(u) and rules.member(u).email
    ]
    if not targets:
        return notified
    with smtplib.SMTP(settings.host, settings.port, timeout=30) as smtp:
        if settings.starttls:
            smtp.starttls()
        if settings.username:
            smtp.login(settings.username, settings.password or "")
        for address, reminder in targets:
            smtp.send_message(message_for(reminder, settings.sender, address))
            notified.append(address)
    return notified
