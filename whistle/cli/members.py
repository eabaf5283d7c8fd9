"""`whistle members invite` and `confirm`: enrolment links for the members the rules file
lists, and the console's confirmation of an enrolment (whistle.committee.enrolment)."""

import click
from sqlalchemy.orm import Session

from whistle.clock import today
from whistle.rules.parse import load as load_rules
from whistle.services import services
from whistle.cli import common


@click.group()
def members():
    """Committee member accounts."""


@members.command("invite")
@click.argument("username")
@click.option(
    "--base-url", default="http://127.0.0.1:5000", show_default=True, help="Where members reach the workspace."
)
def members_invite(username, base_url):
    """Print a one-time enrolment link for USERNAME (who must be listed in the rules file).
    The first administrator is invited this way; later ones from the Members page. The
    enrolment then waits for a confirmation (`whistle members confirm`, or a confirmer's page)."""
    from whistle.committee import enrolment

    cfg, engine = common.setup()
    loaded = load_rules(cfg.rules_file)
    if loaded.member(username) is None:
        raise click.ClickException(f"{username} is not listed in {cfg.rules_file}")
    with Session(engine, expire_on_commit=False) as session:
        outcome = enrolment.invite(session, loaded, enrolment.CONSOLE, username, today(cfg.timezone))
        session.commit()
    click.echo(f"{base_url.rstrip('/')}/committee/enrol/{outcome.token}")


@members.command("confirm")
@click.argument("username")
@click.option("--fingerprint", required=True, help="The 5 groups of digits USERNAME reads to the confirmer.")
@click.option(
    "--by",
    "confirmer",
    default=None,
    help="The confirming member (an admin, the overseer or USERNAME's unit lead, as the rules "
    "allow; not the inviter), who types a code from their authenticator app. Left out only "
    "for the installation's first account, when nobody could confirm it.",
)
def members_confirm(username, fingerprint, confirmer):
    """Confirm USERNAME's enrolment from the console: the confirmer proves themselves with
    their own authenticator code, so the operator alone cannot confirm anyone (but the very
    first account, which has nobody to confirm it)."""
    from whistle import create_app
    from whistle.committee import enrolment

    cfg, engine = common.setup()
    loaded = load_rules(cfg.rules_file)
    code = click.prompt(f"code from {confirmer}'s authenticator app", hide_input=True) if confirmer else None
    app = create_app(cfg)
    with app.app_context(), Session(engine, expire_on_commit=False) as session:
        outcome = enrolment.console_confirm(
            session,
            loaded,
            username,
            fingerprint,
            today(cfg.timezone),
            confirmer=confirmer,
            confirmer_code=code,
            instance_secret=services(app).secret,
            used_steps=services(app).totp_used,
        )
        session.commit()
    services(app).engine.dispose()
    if not outcome.ok:
        raise click.ClickException(f"not confirmed: {outcome.code}")
    click.echo(f"{username} is confirmed")
