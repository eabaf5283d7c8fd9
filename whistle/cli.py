"""The `whistle` command: thin Click wrappers around whistle.offline and the app."""
import json
import os
import sys
from pathlib import Path

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from whistle import config as config_mod
from whistle import db as db_mod
from whistle import migrate, offline
from whistle.cases import today
from whistle.models import Case, CommitteeKey
from whistle.rules import load as load_rules


def _setup():
    cfg = config_mod.from_env()
    cfg.instance_dir.mkdir(parents=True, exist_ok=True)
    engine = db_mod.make_engine(cfg.database_url)
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.call_on_close(engine.dispose)  # release pooled connections when the command ends
    migrate.upgrade(engine)
    return cfg, engine


def _passphrase(confirm: bool, passphrase_file: str | None) -> str:
    if passphrase_file:
        return Path(passphrase_file).read_text(encoding="utf-8").rstrip("\n")
    if os.environ.get("WHISTLE_PASSPHRASE"):
        return os.environ["WHISTLE_PASSPHRASE"]
    return click.prompt("Passphrase", hide_input=True, confirmation_prompt=confirm)


@click.group()
def main():
    """whistle: anonymous, end-to-end sealed reporting."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def run(host, port):
    """Migrate the database and serve on HOST:PORT (embedded default, one process)."""
    from werkzeug.serving import run_simple

    from whistle import create_app
    from whistle.privacy import QuietRequestHandler

    _setup()
    app = create_app()
    click.echo(f"whistle is serving on http://{host}:{port}/  (request logging is off by design)")
    run_simple(host, port, app, threaded=True, request_handler=QuietRequestHandler)


@main.group()
def db():
    """Database schema."""


@db.command("upgrade")
def db_upgrade():
    """Apply every migration."""
    _setup()
    click.echo("database is at the latest revision")


@main.command()
def demo():
    """Create clearly marked DEMO committee keys if no committee key exists."""
    cfg, engine = _setup()
    with Session(engine, expire_on_commit=False) as session:
        if session.scalar(select(CommitteeKey.kid).where(CommitteeKey.active.is_(True))):
            click.echo("committee keys exist; nothing to do")
            return
        path = cfg.instance_dir / "demo-committee.key"
        if path.exists():
            path.unlink()
        offline.init_keys(session, path, offline.DEMO_PASSPHRASE, "DEMO committee key", today(cfg.timezone),
                          demo=True, opslimit=2, memlimit=64 * 1024 * 1024)
        session.commit()
    click.echo(f"DEMO committee key written to {path} (passphrase: {offline.DEMO_PASSPHRASE!r}).")
    click.echo("Every page shows a DEMO banner until `whistle keys init` creates a real key.")


@main.group()
def rules():
    """The committee's rules file."""


@rules.command("check")
@click.argument("path", type=click.Path(dir_okay=False))
def rules_check(path):
    """Validate a rules file without starting the server; lists every problem."""
    from whistle.rules import check

    problems = check(path)
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        raise SystemExit(1)
    click.echo(f"{path}: valid")


@main.group()
def members():
    """Committee member accounts."""


@members.command("invite")
@click.argument("username")
@click.option("--base-url", default="http://127.0.0.1:5000", show_default=True,
              help="Where members reach the workspace.")
def members_invite(username, base_url):
    """Print a one-time enrolment link for USERNAME (who must be listed in the rules file).
    The first administrator is invited this way; later ones from the Members page."""
    from whistle import members as members_mod

    cfg, engine = _setup()
    loaded = load_rules(cfg.rules_file)
    if loaded.member(username) is None:
        raise click.ClickException(f"{username} is not listed in {cfg.rules_file}")
    with Session(engine, expire_on_commit=False) as session:
        token = members_mod.invite(session, username, today(cfg.timezone))
        from whistle import audit
        audit.record(session, "invite", actor=None, on=today(cfg.timezone), member=username)
        session.commit()
    click.echo(f"{base_url.rstrip('/')}/committee/enrol/{token}")


@main.command()
def notify():
    """E-mail each member the number of new cases waiting for them (no case details).
    Needs WHISTLE_SMTP_HOST (and optionally _PORT, _FROM, _STARTTLS=0, _USER, _PASSWORD)."""
    import os

    from whistle import create_app
    from whistle.notify import SmtpSettings, new_case_counts, send

    cfg, engine = _setup()
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
        sent = send(settings, app.extensions["whistle.rules"], new_case_counts(session))
    app.extensions["whistle.engine"].dispose()
    click.echo(f"notified {len(sent)} member(s)")


@main.group()
def keys():
    """Committee keys."""


@keys.command("init")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Where to write the private key file.")
@click.option("--label", default="committee", show_default=True)
@click.option("--passphrase-file", type=click.Path(exists=True, dir_okay=False))
def keys_init(out, label, passphrase_file):
    """Create the committee key pair; the private half is written encrypted under a passphrase."""
    cfg, engine = _setup()
    passphrase = _passphrase(True, passphrase_file)
    if len(passphrase) < 12:
        raise click.ClickException("use a passphrase of at least 12 characters")
    with Session(engine, expire_on_commit=False) as session:
        try:
            keypair = offline.init_keys(session, Path(out), passphrase, label, today(cfg.timezone))
        except offline.OfflineError as exc:
            raise click.ClickException(str(exc)) from exc
        session.commit()
    click.echo(f"committee key {keypair.kid} registered; private key written to {out}")


@keys.command("list")
def keys_list():
    """List committee public keys."""
    _cfg, engine = _setup()
    with Session(engine, expire_on_commit=False) as session:
        for row in session.scalars(select(CommitteeKey)):
            flags = ("active" if row.active else "retired") + (" DEMO" if row.demo else "")
            click.echo(f"{row.kid}  {row.created_on}  {flags}  {row.label}")


@main.group()
def cases():
    """Cases (offline work with the committee key)."""


@cases.command("list")
def cases_list():
    """List cases: id, day received, channel, department, status."""
    _cfg, engine = _setup()
    with Session(engine, expire_on_commit=False) as session:
        for case in session.scalars(select(Case).order_by(Case.received_on.desc())):
            held = "  HELD FOR SUPERIOR" if case.held_for_superior else ""
            click.echo(f"{case.id}  {case.received_on}  {case.channel:<10} {case.department:<18} "
                       f"{case.risk_grade:<6} {case.status}{held}")


@cases.command("decrypt")
@click.argument("case_ids", nargs=-1)
@click.option("--key", "key_file", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--out", required=True, type=click.Path(file_okay=False))
@click.option("--all", "all_cases", is_flag=True, help="Decrypt every case.")
@click.option("--passphrase-file", type=click.Path(exists=True, dir_okay=False))
def cases_decrypt(case_ids, key_file, out, all_cases, passphrase_file):
    """Print decrypted cases and write them, with messages and attachments, under OUT."""
    _cfg, engine = _setup()
    try:
        keypair = offline.load_key(Path(key_file), _passphrase(False, passphrase_file))
        with Session(engine, expire_on_commit=False) as session:
            chosen = session.scalars(select(Case)).all() if all_cases else \
                [offline.get_case(session, cid) for cid in case_ids]
            if not chosen:
                raise offline.OfflineError("name a case id, or use --all")
            for case in chosen:
                summary = offline.decrypt_case(session, case, keypair, Path(out))
                click.echo(json.dumps(summary, ensure_ascii=False, indent=2))
    except offline.OfflineError as exc:
        raise click.ClickException(str(exc)) from exc


@cases.command("export")
@click.argument("case_id")
@click.option("--out", required=True, type=click.Path(file_okay=False))
def cases_export(case_id, out):
    """Write a case's sealed envelopes and streams as stored (to forward a held case)."""
    _cfg, engine = _setup()
    with Session(engine, expire_on_commit=False) as session:
        try:
            case = offline.get_case(session, case_id)
        except offline.OfflineError as exc:
            raise click.ClickException(str(exc)) from exc
        folder = offline.export_sealed(session, case, Path(out))
    click.echo(f"sealed case written to {folder}")


@cases.command("reply")
@click.argument("case_id")
@click.option("--message", help="Reply text.")
@click.option("--message-file", type=click.Path(exists=True, dir_okay=False))
@click.option("--attach", multiple=True, type=click.Path(exists=True, dir_okay=False))
def cases_reply(case_id, message, message_file, attach):
    """Seal a reply to the reporter of CASE_ID (they read it with their receipt code)."""
    cfg, engine = _setup()
    text = Path(message_file).read_text(encoding="utf-8") if message_file else message
    if not text:
        raise click.ClickException("give --message or --message-file")
    with Session(engine, expire_on_commit=False) as session:
        try:
            case = offline.get_case(session, case_id)
            offline.reply_to_case(session, load_rules(cfg.rules_file), case, text, [Path(p) for p in attach], today(cfg.timezone))
        except offline.OfflineError as exc:
            raise click.ClickException(str(exc)) from exc
        session.commit()
    click.echo(f"reply sealed to the reporter of {case.id}")


@cases.command("status")
@click.argument("case_id")
@click.argument("event", type=click.Choice(["acknowledged", "in_review", "closed"]))
def cases_status(case_id, event):
    """Record a status change the reporter sees on their timeline."""
    cfg, engine = _setup()
    with Session(engine, expire_on_commit=False) as session:
        try:
            case = offline.get_case(session, case_id)
            offline.set_status(session, case, event, today(cfg.timezone))
        except offline.OfflineError as exc:
            raise click.ClickException(str(exc)) from exc
        session.commit()
    click.echo(f"{case.id}: {event}")


@main.group()
def retention():
    """Retention of closed cases."""


@retention.command("purge")
@click.option("--dry-run", is_flag=True, help="List what would be purged; change nothing.")
@click.option("--report", "report_file", type=click.Path(dir_okay=False), help="Also write the report here.")
def retention_purge(dry_run, report_file):
    """Purge closed cases whose retention period (by disposition, rules file) has ended."""
    from whistle import retention as retention_mod

    cfg, engine = _setup()
    periods = load_rules(cfg.rules_file).retention
    on = today(cfg.timezone)
    with Session(engine, expire_on_commit=False) as session:
        due = retention_mod.due_for_purge(session, periods, on)
        if dry_run:
            lines = [f"would purge {len(due)} case(s)"] + [f"{c.id}  disposition {c.disposition or '-'}" for c in due]
        else:
            purged = [retention_mod.purge(session, c, on=on, actor=None, reason="retention period ended")
                      for c in due]
            session.commit()
            retention_mod.checkpoint(session)
            lines = retention_mod.report_lines(purged)
    text = "\n".join(lines) + "\n"
    click.echo(text, nl=False)
    if report_file:
        Path(report_file).write_text(text, encoding="utf-8")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
