"""The `whistle` command: thin Click wrappers, one module per command group, around the
actions the web views call too (whistle.cases.actions) and the offline work
(whistle.custody)."""

import click

from whistle.cli import audit, cases, keys, log, members, notify, retention, rules, service, surveys, witness


@click.group()
def main():
    """whistle: anonymous, end-to-end sealed reporting."""


for command in (
    service.run,
    service.db,
    service.demo,
    rules.rules,
    members.members,
    notify.notify,
    keys.keys,
    cases.cases,
    surveys.surveys,
    retention.retention,
    audit.audit_group,
    witness.witness_group,
    log.log_group,
):
    main.add_command(command)
