"""`whistle members invite`: enrolment links for the members the rules file lists."""
import click
from sqlalchemy.orm import Session

from whistle.clock import today
from whistle.rules.parse import load as load_rules
from whistle.cli import common


@click.group()
def members():
    """Committee member accounts."""


@members.command("invite")
@click.argument("username")
@click.option("--base-url", default="http://127.0.0.1:5000", show_default=True,
              help="Where members reach the workspace.")
def members_invite(username, base_url):
    """Print a one-time enrolment link for USERNAME (who must be listed in the rules file).
    The first administrator is invited this way; later ones from the Members page."""
    from whistle.committee import members as members_mod

    cfg, engine = common.setup()
    loaded = load_rules(cfg.rules_file)
    if loaded.member(username) is None:
        raise click.ClickException(f"{username} is not listed in {cfg.rules_file}")
    with Session(engine, expire_on_commit=False) as session:
        token = members_mod.invite_recorded(session, username, today(cfg.timezone), by=None)
        session.commit()
    click.echo(f"{base_url.rstrip('/')}/committee/enrol/{token}")
