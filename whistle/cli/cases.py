"""`whistle cases`: offline work on cases with the committee key (list, decrypt, export, reply, status)."""

import json
from pathlib import Path

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from crypto import envelope as env
from whistle.cases import actions
from whistle.custody import audit, offline, safeconvert
from whistle.errors import CasePurged
from whistle.clock import today
from whistle.models import Case
from whistle.rules.parse import load as load_rules
from whistle.cli import common


@click.group()
def cases():
    """Cases (offline work with the committee key)."""


@cases.command("list")
def cases_list():
    """List cases: id, day received, channel, department, status. Newest day first, then by
    random id: never in the order the database holds them, which is the order they came in."""
    _cfg, engine = common.setup()
    with Session(engine, expire_on_commit=False) as session:
        for case in session.scalars(select(Case).order_by(Case.received_on.desc(), Case.id)):
            held = "  HELD FOR SUPERIOR" if case.held_for_superior else ""
            click.echo(
                f"{case.id}  {case.received_on}  {case.channel:<10} {case.department:<18} "
                f"{case.risk_grade:<6} {case.status}{held}"
            )


@cases.command("decrypt")
@click.argument("case_ids", nargs=-1)
@click.option("--key", "key_file", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--out", required=True, type=click.Path(file_okay=False))
@click.option("--all", "all_cases", is_flag=True, help="Decrypt every case.")
@click.option("--passphrase-file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--safe",
    is_flag=True,
    help="Also write each attachment as a PDF of page images (NAME.safe.pdf), converted "
    "without network; see docs/safe-opening.md.",
)
@click.option(
    "--allow-network",
    is_flag=True,
    help="With --safe on a machine that cannot cut the converter off the network: "
    "convert anyway (only on an offline machine).",
)
def cases_decrypt(case_ids, key_file, out, all_cases, passphrase_file, safe, allow_network):
    """Print decrypted cases and write them, with messages and attachments, under OUT.
    Each case's decryption is recorded in the audit log before anything is decrypted."""
    cfg, engine = common.setup()
    if safe and not allow_network and safeconvert.isolation_prefix() is None:
        raise click.ClickException(
            "--safe: cannot cut the converter off the network here (unshare -n failed); see docs/safe-opening.md"
        )
    try:
        keypair = offline.load_key(Path(key_file), common.passphrase(False, passphrase_file))
        with Session(engine, expire_on_commit=False) as session:
            # By day, then by random id: the table's own order is the order the cases came
            # in (PostgreSQL), and the audit entries below would keep it for good.
            if all_cases:
                chosen = session.scalars(select(Case).order_by(Case.received_on, Case.id)).all()
            else:
                chosen = [offline.get_case(session, cid) for cid in case_ids]
            if not chosen:
                raise offline.OfflineError("name a case id, or use --all")
            for case in chosen:
                audit.record(
                    session,
                    "decrypt",
                    actor=audit.COMMITTEE_KEY,
                    on=today(cfg.timezone),
                    case_id=case.id,
                    kid=keypair.kid,
                )
            session.commit()
            for case in chosen:
                summary = offline.decrypt_case(session, case, keypair, Path(out))
                if safe:
                    summary["safe"] = _make_safe(Path(out) / case.id / "attachments", allow_network)
                click.echo(json.dumps(summary, ensure_ascii=False, indent=2))
    except offline.OfflineError as exc:
        raise click.ClickException(str(exc)) from exc


def _make_safe(folder: Path, allow_network: bool) -> list[dict]:
    """A safe PDF beside each decrypted attachment in ``folder``; what was done to each."""
    done = []
    for source in sorted(folder.iterdir()):
        if source.is_file() and not source.name.endswith(safeconvert.SAFE_SUFFIX):
            done.append(safeconvert.convert(source, allow_network=allow_network).as_dict())
    return done


@cases.command("export")
@click.argument("case_id")
@click.option("--out", required=True, type=click.Path(file_okay=False))
def cases_export(case_id, out):
    """Write a case's sealed envelopes and streams as stored (to forward a held case)."""
    cfg, engine = common.setup()
    with Session(engine, expire_on_commit=False) as session:
        try:
            case = offline.get_case(session, case_id)
        except offline.OfflineError as exc:
            raise click.ClickException(str(exc)) from exc
        audit.record(
            session,
            "export",
            actor=audit.CONSOLE,
            on=today(cfg.timezone),
            case_id=case.id,
            held_for_superior=case.held_for_superior,
        )
        session.commit()
        folder = offline.export_sealed(session, case, Path(out))
    click.echo(f"sealed case written to {folder}")


@cases.command("reply")
@click.argument("case_id")
@click.option("--message", help="Reply text.")
@click.option("--message-file", type=click.Path(exists=True, dir_okay=False))
@click.option("--attach", multiple=True, type=click.Path(exists=True, dir_okay=False))
def cases_reply(case_id, message, message_file, attach):
    """Seal a reply to the reporter of CASE_ID (they read it with their receipt code)."""
    cfg, engine = common.setup()
    text = common.read_text_file(message_file) if message_file else message
    if not text:
        raise click.ClickException("give --message or --message-file")
    with Session(engine, expire_on_commit=False) as session:
        try:
            case = offline.get_case(session, case_id)
            if offline.reporter_key_binding(case) == env.UNBOUND:
                click.echo(f"warning: {offline.KEY_UNCHECKED}", err=True)
            offline.reply_to_case(
                session, load_rules(cfg.rules_file), case, text, [Path(p) for p in attach], today(cfg.timezone)
            )
            audit.record(
                session, "reply", actor=audit.CONSOLE, on=today(cfg.timezone), case_id=case.id, attachments=len(attach)
            )
        except offline.ReporterKeyMismatch as exc:
            session.rollback()
            audit.record(
                session,
                "refused_reply",
                actor=audit.CONSOLE,
                on=today(cfg.timezone),
                case_id=case.id,
                reason="reporter_key_mismatch",
            )
            session.commit()
            raise click.ClickException(str(exc)) from exc
        except offline.OfflineError as exc:
            raise click.ClickException(str(exc)) from exc
        session.commit()
    click.echo(f"reply sealed to the reporter of {case.id}")


@cases.command("status")
@click.argument("case_id")
@click.argument("event", type=click.Choice(["acknowledged", "in_review", "closed"]))
def cases_status(case_id, event):
    """Record a status change the reporter sees on their timeline."""
    cfg, engine = common.setup()
    with Session(engine, expire_on_commit=False) as session:
        try:
            case = offline.get_case(session, case_id)
            outcome = actions.set_status(
                session, case, event, by=actions.CONSOLE, on=today(cfg.timezone), rules=load_rules(cfg.rules_file)
            )
        except (offline.OfflineError, actions.NeedsSecondMember) as exc:
            raise click.ClickException(str(exc)) from exc
        except CasePurged as exc:
            raise click.ClickException(offline.PURGED) from exc
        session.commit()
    changed = outcome is actions.Outcome.DONE
    click.echo(f"{case.id}: {event}" if changed else f"{case.id}: already {event}, nothing recorded")
