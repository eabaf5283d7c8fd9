"""`whistle notify`: tell members by email how many new cases wait (counts only)."""
import os

import click
from sqlalchemy.orm import Session

from whistle.services import services
from whistle.cli import common


@click.command()
def notify():
    """E-mail each member the number of new cases waiting for them (no case details).
    Needs WHISTLE_SMTP_HOST (and optionally _PORT, _FROM, _STARTTLS=0, _USER, _PASSWORD)."""

    from whistle import create_app
    from whistle.committee.notify import SmtpSettings, new_case_counts, send

    cfg, engine = common.setup()
    host = os.environ.get("WHISTLE_SMTP_HOST")
    if not host:
        raise click.ClickException("set WHISTLE_SMTP_HOST to send notifications")
    settings = SmtpSettings(host=host, port=int(os.environ.get("WHISTLE_SMTP_PORT", "587")),
                            sender=os.environ.get("WHISTLE_SMTP_FROM", "whistle@localhost"),
                            starttls=os.environ.get("WHISTLE_SMTP_STARTTLS", "1") != "0",
                            username=os.environ.get("WHISTLE_SMTP_USER"),
                            password=os.environ.get("WHISTLE_SMTP_PASSWORD"))
    app = create_app(cfg)
    with app.app_context(), Session(engine) as session:
        sent = send(settings, services(app).rules, new_case_counts(session))
    services(app).engine.dispose()
    click.echo(f"notified {len(sent)} member(s)")
