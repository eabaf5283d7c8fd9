"""`whistle retention purge`: cases past their retention period."""

from pathlib import Path

import click
from sqlalchemy.orm import Session

from whistle.cases import actions
from whistle.clock import today
from whistle.rules.parse import load as load_rules
from whistle.cli import common


@click.group()
def retention():
    """Retention of closed cases."""


@retention.command("purge")
@click.option("--dry-run", is_flag=True, help="List what would be purged; change nothing.")
@click.option("--report", "report_file", type=click.Path(dir_okay=False), help="Also write the report here.")
def retention_purge(dry_run, report_file):
    """Purge closed cases whose retention period, decided when they closed, has ended, and
    the sealed free text of surveys whose period ended [surveys] texts_kept_days ago. A
    high-risk (高危) case whose closing no second member confirmed is kept, and listed."""
    from whistle.custody import retention as retention_mod

    cfg, engine = common.setup()
    rules_ = load_rules(cfg.rules_file)
    on = today(cfg.timezone)
    with Session(engine, expire_on_commit=False) as session:
        texts_due = retention_mod.survey_texts_due(session, rules_.surveys.texts_kept_days, on)
        if dry_run:
            due, withheld = retention_mod.due_for_purge(session, rules_.retention, on)
            lines = [f"would purge {len(due)} case(s)"] + [f"{c.id}  disposition {c.disposition or '-'}" for c in due]
            lines += retention_mod.survey_lines(texts_due, "would purge")
        else:
            purged, withheld = actions.purge_due(session, rules_, on)
            for texts in texts_due:
                retention_mod.purge_survey_texts(session, texts, on=on, actor=None)
            session.commit()
            retention_mod.checkpoint(session)
            lines = retention_mod.report_lines(purged, texts_due)
        lines += retention_mod.withheld_lines(withheld)
    text = "\n".join(lines) + "\n"
    click.echo(text, nl=False)
    if report_file:
        try:
            Path(report_file).write_text(text, encoding="utf-8")
        except OSError as exc:  # after the commit: say so, the report is printed above
            raise click.ClickException(
                f"the report above could not be written to {report_file}: {exc.strerror} (what it lists is done)"
            ) from exc
