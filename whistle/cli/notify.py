"""`whistle notify`: tell members by email how many cases wait (counts only)."""

import os

import click
from sqlalchemy.orm import Session

from whistle.services import services
from whistle.cli import common


@click.command()
def notify():
    """E-mail each member how many new cases, cases due within two working days and cases
    with an unanswered reporter's message wait for them (counts only, no case details).
    Needs WHISTLE_SMTP_HOST (and optionally _PORT, _FROM, _STARTTLS=0, _USER, _PASSWORD)."""

    from whistle import create_app
    from whistle.clock import committee_today
    from whistle.committee.notify import DUE_WITHIN_WORKDAYS, SmtpSettings, reminder_counts, send

    cfg, engine = common.setup()
    host = os.environ.get("WHISTLE_SMTP_HOST")
    if not host:
        raise click.ClickException("set WHISTLE_SMTP_HOST to send notifications")
    settings = SmtpSettings(
        host=host,
        port=int(os.environ.get("WHISTLE_SMTP_PORT", "587")),
        sender=os.environ.get("WHISTLE_SMTP_FROM", "whistle@localhost"),
        starttls=os.environ.get("WHISTLE_SMTP_STARTTLS", "1") != "0",
        username=os.environ.get("WHISTLE_SMTP_USER"),
        password=os.environ.get("WHISTLE_SMTP_PASSWORD"),
    )
    app = create_app(cfg)
    with app.app_context(), Session(engine) as session:
        today = committee_today()
        due_by = services(app).calendar.add_workdays(today, DUE_WITHIN_WORKDAYS)
        sent = send(settings, services(app).rules, reminder_counts(session, today, due_by))
    services(app).engine.dispose()
    click.echo(f"notified {len(sent)} member(s)")
