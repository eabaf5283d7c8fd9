"""`whistle rules check`: the rules file, checked before it is deployed."""

import click

from whistle import config as config_mod
from whistle.clock import today
from whistle.rules.parse import load as load_rules


@click.group()
def rules():
    """The committee's rules file."""


@rules.command("check")
@click.argument("path", type=click.Path(dir_okay=False))
def rules_check(path):
    """Validate a rules file without starting the server; lists every problem."""
    from whistle.rules.parse import check

    problems = check(path)
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        raise SystemExit(1)
    click.echo(f"{path}: valid")
    from whistle.triage.deadlines import unknown_years_warning

    # Today in the default zone (the file is checked without a configuration): a day's
    # difference does not change which years a deadline months long reaches.
    warning = unknown_years_warning(load_rules(path), today(config_mod.Config.timezone))
    if warning:
        click.echo(f"{path}: warning: {warning}", err=True)
