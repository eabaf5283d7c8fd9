"""Content-free notifications: each member learns how many new cases wait for them, nothing
else (no case id, department, grade or date), by e-mail if the rules file gives an address.

Run from a timer (`whistle notify`); the workspace itself shows the same count."""
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from whistle.models import Case, CaseGrant, Member


@dataclass(frozen=True)
class SmtpSettings:
    """Where notification mail goes out."""

    host: str
    port: int = 587
    sender: str = "whistle@localhost"
    starttls: bool = True
    username: str | None = None
    password: str | None = None


def new_case_counts(db: Session) -> dict[str, int]:
    """username -> number of cases held by that member that nobody has acknowledged yet."""
    rows = db.execute(select(Member.username, func.count(Case.id))
                      .join(CaseGrant, CaseGrant.member_id == Member.id)
                      .join(Case, Case.id == CaseGrant.case_id)
                      .where(Case.status == "received", Member.active.is_(True))
                      .group_by(Member.username)).all()
    return {username: count for username, count in rows if count}


def message_for(count: int, sender: str, recipient: str, language: str = "zh_Hans") -> EmailMessage:
    """The whole e-mail: a count and a reminder, nothing that could identify a case."""
    with force_locale(language):
        msg = EmailMessage()
        msg["From"] = sender
        msg["To"] = recipient
        msg["Subject"] = _("New cases are waiting for you")
        msg.set_content(_("%(num)d new case(s) are waiting for you in the committee workspace. "
                          "Log in to see them.", num=count))
    return msg


def send(settings: SmtpSettings, rules, counts: dict[str, int]) -> list[str]:
    """Mail every member with an address and new cases; returns who was notified."""
    notified = []
    targets = [(rules.member(u).email, n) for u, n in counts.items() if rules.member(u) and rules.member(u).email]
    if not targets:
        return notified
    with smtplib.SMTP(settings.host, settings.port, timeout=30) as smtp:
        if settings.starttls:
            smtp.starttls()
        if settings.username:
            smtp.login(settings.username, settings.password or "")
        for address, count in targets:
            smtp.send_message(message_for(count, settings.sender, address))
            notified.append(address)
    return notified
