"""`whistle log`: upkeep of the public log (whistle.custody.intake_log) from cron."""

import click
from sqlalchemy.orm import Session

from whistle import config as config_mod, db as db_mod, migrate
from whistle.clock import today
from whistle.custody import intake_log


@click.group("log")
def log_group():
    """The public log: seal the finished days' intake, record the rules file."""


@log_group.command("seal-day")
def seal_day():
    """Append every finished day's reports to the public log (one batch per day, in an order
    that carries no arrival order) and record the rules file if it changed. Run it from cron
    shortly after midnight; the first request of a new day does it too."""
    cfg = config_mod.from_env()
    engine = db_mod.make_engine(cfg.database_url)
    try:
        migrate.upgrade(engine)
        with Session(engine) as session:
            day = today(cfg.timezone)
            recorded = intake_log.record_rules(session, cfg.rules_file.read_bytes(), day)
            count = intake_log.seal_days(session, day)
            session.commit()
    finally:
        engine.dispose()
    click.echo(f"{count} report(s) entered the public log" + ("; rules file recorded" if recorded else ""))
