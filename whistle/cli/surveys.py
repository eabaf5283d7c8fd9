"""`whistle surveys`: surveys, and their sealed free text opened with the committee key."""

import json
from pathlib import Path

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from whistle.custody import audit, offline
from whistle.clock import today
from whistle.models import Survey
from whistle.cli import common


@click.group()
def surveys():
    """Integrity surveys (offline work with the committee key)."""


@surveys.command("list")
def surveys_list():
    """List surveys: id, period, status, whether published, title."""
    _cfg, engine = common.setup()
    with Session(engine) as session:
        for survey in session.scalars(select(Survey).order_by(Survey.period_start.desc(), Survey.id)):
            shown = "published" if survey.published else "-"
            click.echo(
                f"{survey.id}  {survey.period_start}..{survey.period_end}  {survey.status:<6} {shown:<9} {survey.title}"
            )


@surveys.command("texts")
@click.argument("survey_id")
@click.option("--key", "key_file", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--passphrase-file", type=click.Path(exists=True, dir_okay=False))
def surveys_texts(survey_id, key_file, passphrase_file):
    """Print a survey's free-text answers, decrypted with the committee key, as JSON. The
    reading is recorded in the audit log before anything is decrypted."""
    cfg, engine = common.setup()
    try:
        keypair = offline.load_key(Path(key_file), common.passphrase(False, passphrase_file))
        with Session(engine, expire_on_commit=False) as session:
            survey = offline.get_survey(session, survey_id)
            audit.record(
                session,
                "survey_texts",
                actor=audit.COMMITTEE_KEY,
                on=today(cfg.timezone),
                survey=survey.id,
                kid=keypair.kid,
            )
            session.commit()
            click.echo(json.dumps(offline.decrypt_survey_texts(session, survey, keypair), ensure_ascii=False, indent=2))
    except offline.OfflineError as exc:
        raise click.ClickException(str(exc)) from exc
