"""The `whistle` command: thin Click wrappers around whistle.custody.offline and the app."""
import json
import os
import sys
from pathlib import Path

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from whistle import config as config_mod, db as db_mod, migrate
from whistle.custody import audit, offline, public_log
from whistle.cases.store import today
from whistle.models import Case, CommitteeKey, Survey
from whistle.rules.parse import load as load_rules


def _setup():
    cfg = config_mod.from_env()
    cfg.instance_dir.mkdir(parents=True, exist_ok=True)
    engine = db_mod.make_engine(cfg.database_url)
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.call_on_close(engine.dispose)  # release pooled connections when the command ends
    migrate.upgrade(engine)
    return cfg, engine


def _read_text_file(path: str) -> str:
    """A text file given on the command line; a clear error (not a trace) when it cannot be
    read or is not UTF-8 text, as `rules check` says of a rules file."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(f"cannot read {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise click.ClickException(f"{path}: not UTF-8 text: {exc.reason} at byte {exc.start}") from exc


def _passphrase(confirm: bool, passphrase_file: str | None) -> str:
    if passphrase_file:
        return _read_text_file(passphrase_file).rstrip("\n")
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
    from whistle.security.privacy import QuietRequestHandler

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
    from whistle.committee import members as members_mod

    cfg, engine = _setup()
    loaded = load_rules(cfg.rules_file)
    if loaded.member(username) is None:
        raise click.ClickException(f"{username} is not listed in {cfg.rules_file}")
    with Session(engine, expire_on_commit=False) as session:
        before = members_mod.account_state(session, username)
        token = members_mod.invite(session, username, today(cfg.timezone))
        from whistle.custody import audit
        audit.record(session, "invite", actor=None, on=today(cfg.timezone), member=username, before=before)
        session.commit()
    click.echo(f"{base_url.rstrip('/')}/committee/enrol/{token}")


@main.command()
def notify():
    """E-mail each member the number of new cases waiting for them (no case details).
    Needs WHISTLE_SMTP_HOST (and optionally _PORT, _FROM, _STARTTLS=0, _USER, _PASSWORD)."""
    import os

    from whistle import create_app
    from whistle.committee.notify import SmtpSettings, new_case_counts, send

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


def _name_paths(values, option: str) -> dict[str, str]:
    """NAME=PATH pairs of a repeated option, by name."""
    parsed = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            raise click.UsageError(f"{option} {value!r}: use NAME=PATH")
        if name in parsed:
            raise click.UsageError(f"{option}: {name} is given twice")
        parsed[name] = path
    return parsed


def _read_secret_file(path: str) -> str:
    return _read_text_file(path).rstrip("\n")


def _holder_passphrase(name: str, files: dict[str, str]) -> str:
    """A share holder's new passphrase: from their file (scripts) or typed twice, hidden."""
    if name in files:
        passphrase = _read_secret_file(files[name])
        if len(passphrase) < 12:
            raise click.ClickException(f"holder {name}: use a passphrase of at least 12 characters")
        return passphrase
    while True:
        passphrase = click.prompt(f"Passphrase for {name}'s share ({name} types it)", hide_input=True,
                                  confirmation_prompt=True)
        if len(passphrase) >= 12:
            return passphrase
        click.echo("use a passphrase of at least 12 characters", err=True)


def _kdf_cost(opslimit, memlimit, defaults) -> dict:
    return {"opslimit": opslimit if opslimit is not None else defaults[0],
            "memlimit": memlimit if memlimit is not None else defaults[1]}


@keys.command("init")
@click.option("--out", type=click.Path(dir_okay=False),
              help="One key file: where to write the private key, sealed under one passphrase.")
@click.option("--label", default="committee", show_default=True)
@click.option("--passphrase-file", type=click.Path(exists=True, dir_okay=False),
              help="One key file: read its passphrase from this file.")
@click.option("--shares", "share_count", type=int, metavar="N",
              help="Split key: split the private key into N shares (at most 16), one per --holder.")
@click.option("--threshold", type=int, metavar="M", help="Split key: how many shares rebuild it (2 to N).")
@click.option("--out-dir", type=click.Path(file_okay=False), help="Split key: where DIR/<holder>.share files go.")
@click.option("--holder", "holders", multiple=True, metavar="NAME",
              help="Split key: a share holder (repeat N times, in share order).")
@click.option("--holder-passphrase-file", "holder_files", multiple=True, metavar="NAME=PATH",
              help="Split key, for scripts: read NAME's passphrase from PATH instead of asking NAME to type it.")
@click.option("--kdf-opslimit", type=int, hidden=True)  # tests only: cheaper argon2id
@click.option("--kdf-memlimit", type=int, hidden=True)
def keys_init(out, label, passphrase_file, share_count, threshold, out_dir, holders, holder_files,
              kdf_opslimit, kdf_memlimit):
    """Create the committee key pair and register its public half.

    \b
    One key file:  whistle keys init --out committee.key
    Split key:     whistle keys init --shares 5 --threshold 3 --out-dir shares \\
                     --holder chen.jie --holder liu.yang --holder zhang.wei --holder zhao.lei --holder sun.hao
    In the split mode each holder types their own passphrase; the private key is never
    written anywhere, only the N sealed shares (any M of them rebuild it: `keys recover`).
    """
    if share_count is None:
        if threshold is not None or out_dir or holders or holder_files:
            raise click.UsageError("--threshold, --out-dir, --holder and --holder-passphrase-file need --shares N")
        if not out:
            raise click.UsageError("give --out FILE (one key file) or --shares N --threshold M --out-dir DIR "
                                   "--holder NAME ... (a split key)")
        _keys_init_file(out, label, passphrase_file, kdf_opslimit, kdf_memlimit)
        return
    if out or passphrase_file:
        raise click.UsageError("--out and --passphrase-file are for one key file; a split key has one "
                               "passphrase per holder (--holder-passphrase-file NAME=PATH)")
    if threshold is None or not out_dir:
        raise click.UsageError("a split key needs --threshold M and --out-dir DIR")
    if len(holders) != share_count:
        raise click.UsageError(f"--shares {share_count} needs {share_count} --holder names ({len(holders)} given)")
    from whistle.custody import ceremony
    from crypto import shares as shares_mod

    files = _name_paths(holder_files, "--holder-passphrase-file")
    try:
        ceremony.check_holders(list(holders), threshold, Path(out_dir))
    except ceremony.CeremonyError as exc:
        raise click.ClickException(str(exc)) from exc
    unknown = sorted(set(files) - set(holders))
    if unknown:
        raise click.UsageError(f"--holder-passphrase-file names someone who is not a --holder: {', '.join(unknown)}")
    cost = _kdf_cost(kdf_opslimit, kdf_memlimit, (shares_mod.DEFAULT_OPSLIMIT, shares_mod.DEFAULT_MEMLIMIT))
    click.echo(f"Key ceremony: {threshold}-of-{share_count} split. Each holder chooses a passphrase "
               "only they know (at least 12 characters).")
    holder_passphrases = [(name, _holder_passphrase(name, files)) for name in holders]
    cfg, engine = _setup()
    written = []
    with Session(engine, expire_on_commit=False) as session:
        try:
            made = ceremony.split_committee_key(session, Path(out_dir), holder_passphrases, threshold,
                                                label, today(cfg.timezone), **cost)
            written = made.paths
            session.commit()
        except ceremony.CeremonyError as exc:
            raise click.ClickException(str(exc)) from exc
        except BaseException:
            for path in written:  # the key was not registered: its shares are useless
                path.unlink(missing_ok=True)
            raise
    click.echo(f"committee key {made.kid} registered; the private key was split {threshold}-of-{share_count} "
               "and written nowhere:")
    for index, (name, path) in enumerate(zip(holders, written), start=1):
        click.echo(f"  share {index} of {share_count}: {path}  (for {name})")
    click.echo(f"Give each holder their own file to keep offline. Any {threshold} of them rebuild the key "
               f"(`whistle keys recover`); fewer reveal nothing about it.")
    click.echo(f"audit signing (Ed25519) verify key: {made.verify_key}")
    _warn_other_active_keys(engine, made.kid)


def _keys_init_file(out, label, passphrase_file, kdf_opslimit, kdf_memlimit):
    """The single key file: the private half sealed under one passphrase."""
    from crypto import keyfile

    cfg, engine = _setup()
    passphrase = _passphrase(True, passphrase_file)
    if len(passphrase) < 12:
        raise click.ClickException("use a passphrase of at least 12 characters")
    cost = _kdf_cost(kdf_opslimit, kdf_memlimit, (keyfile.DEFAULT_OPSLIMIT, keyfile.DEFAULT_MEMLIMIT))
    with Session(engine, expire_on_commit=False) as session:
        try:
            keypair = offline.init_keys(session, Path(out), passphrase, label, today(cfg.timezone), **cost)
        except offline.OfflineError as exc:
            raise click.ClickException(str(exc)) from exc
        session.flush()
        verify_key = audit.register_verify_key(session, keypair)
        audit.record(session, "key_registered", actor=audit.CONSOLE, on=today(cfg.timezone), kid=keypair.kid)
        session.commit()
    click.echo(f"committee key {keypair.kid} registered; private key written to {out}")
    click.echo(f"audit signing (Ed25519) verify key: {verify_key}")
    _warn_other_active_keys(engine, keypair.kid)


def _warn_other_active_keys(engine, kid: str) -> None:
    """Say which earlier keys new reports are still sealed to (a single key file kept
    active after a split-key ceremony would let its one holder read every new report)."""
    with Session(engine) as session:
        for row in offline.other_active_keys(session, kid):
            click.echo(f"note: committee key {row.kid} ({row.label}) is still active: new reports are sealed "
                       f"to it too. Retire it with `whistle keys retire {row.kid[:12]}` once it is no longer needed.")


def _share_passphrase(header, files: dict[str, str]) -> str:
    """A holder's share passphrase: their file, WHISTLE_SHARE_PASSPHRASE_<index>, or typed."""
    if header.holder in files:
        return _read_secret_file(files[header.holder])
    from_env = os.environ.get(f"WHISTLE_SHARE_PASSPHRASE_{header.index}")
    if from_env:
        return from_env
    return click.prompt(f"Passphrase of {header.holder} (share {header.index} of {header.count})", hide_input=True)


def _echo_orphans(found) -> None:
    if not found:
        click.echo("no orphaned cases: every case has a member who can open it")
        return
    click.echo(f"{len(found)} orphaned case(s): no member can open them, only the committee key holds them")
    for case in found:
        click.echo(f"  {case.id}  {case.received_on}  {case.department:<18} {case.risk_grade:<6} {case.status}")


@keys.command("recover")
@click.option("--share", "share_files", multiple=True, type=click.Path(exists=True, dir_okay=False),
              metavar="FILE", help="A share file (repeat: at least the threshold M of them).")
@click.option("--holder-passphrase-file", "holder_files", multiple=True, metavar="NAME=PATH",
              help="For scripts: NAME's share passphrase is in PATH (or set WHISTLE_SHARE_PASSPHRASE_<share number>).")
@click.option("--list-orphans", is_flag=True, help="List cases no member can open (needs no share).")
@click.option("--regrant-orphans-to", metavar="USERNAME", help="Re-grant every orphaned case to USERNAME.")
@click.option("--regrant", "regrants", multiple=True, metavar="CASE_ID=USERNAME",
              help="Re-grant one case to one member (repeatable).")
def keys_recover(share_files, holder_files, list_orphans, regrant_orphans_to, regrants):
    """Rebuild the split committee key, in memory only, from M shares; re-grant cases.

    Each holder types their own passphrase. The rebuilt key is checked against the registered
    committee key, used for the re-grants asked for, and forgotten when the command ends.
    A re-grant the rules forbid (the member's own department, say) is refused and recorded.
    """
    from crypto import shares as shares_mod
    from whistle.custody import ceremony

    if regrant_orphans_to and regrants:
        raise click.UsageError("use either --regrant-orphans-to or --regrant, not both")
    pairs = []
    for value in regrants:
        case_id, sep, username = value.partition("=")
        if not sep or not case_id or not username:
            raise click.UsageError(f"--regrant {value!r}: use CASE_ID=USERNAME")
        pairs.append((case_id, username))
    files = _name_paths(holder_files, "--holder-passphrase-file")
    cfg, engine = _setup()
    loaded = load_rules(cfg.rules_file)
    with Session(engine, expire_on_commit=False) as session:
        if list_orphans:
            _echo_orphans(ceremony.orphaned_cases(session, loaded))
        if not share_files:
            if list_orphans and not (regrant_orphans_to or regrants):
                return
            raise click.UsageError("give the share files with --share FILE (at least the threshold of them)")
        for username in [regrant_orphans_to] if regrant_orphans_to else sorted({u for _c, u in pairs}):
            if loaded.member(username) is None:
                raise click.ClickException(f"{username} is not listed in {cfg.rules_file}")
            member = ceremony.member_by_username(session, username)
            if member is None or member.public_key is None or not member.active:
                raise click.ClickException(f"{username} has no enrolled key: nothing can be sealed to them")
        if regrant_orphans_to:
            targets = [(case, regrant_orphans_to) for case in ceremony.orphaned_cases(session, loaded)]
        else:
            try:
                targets = [(offline.get_case(session, case_id), username) for case_id, username in pairs]
            except offline.OfflineError as exc:
                raise click.ClickException(str(exc)) from exc
        try:
            given = ceremony.read_share_files(share_files)
        except shares_mod.NotEnoughShares as exc:
            raise click.ClickException(f"{exc}. Fewer than {exc.need} shares reveal nothing about the key: "
                                       "ask another holder to bring theirs.") from exc
        except ceremony.CeremonyError as exc:
            raise click.ClickException(str(exc)) from exc
        texts = [(s.text, _share_passphrase(s.header, files)) for s in given]
        try:
            keypair = ceremony.recover_committee_key(texts, db=session)
        except shares_mod.NotEnoughShares as exc:
            raise click.ClickException(f"{exc}. Fewer than {exc.need} shares reveal nothing about the key.") from exc
        except ceremony.CeremonyError as exc:
            raise click.ClickException(str(exc)) from exc
        on = today(cfg.timezone)
        holders = [s.header.holder for s in given]
        ceremony.record_recovery(session, keypair, holders, on)
        click.echo(f"committee key {keypair.kid} rebuilt in memory from the shares of {', '.join(holders)} "
                   f"({given[0].header.threshold} needed); it is not written anywhere")
        if regrant_orphans_to and not targets:
            click.echo("no orphaned cases to re-grant")
        problems = 0
        for case, username in targets:
            member = ceremony.member_by_username(session, username)
            try:
                count = ceremony.regrant(session, loaded, keypair, case, member, on, username=username)
            except ceremony.GrantRefused as exc:
                problems += 1
                click.echo(f"refused: {exc}; recorded in the audit log", err=True)
            except ceremony.CeremonyError as exc:
                problems += 1
                click.echo(f"not re-granted: {exc}", err=True)
            else:
                click.echo(f"re-granted {case.id} to {username} ({count} item key(s) sealed to them)")
        session.commit()
    if problems:
        raise SystemExit(1)


@keys.command("retire")
@click.argument("kid")
def keys_retire(kid):
    """Stop sealing new reports to the committee key whose id starts with KID. Cases already
    sealed to it stay readable with it; the last active key cannot be retired."""
    cfg, engine = _setup()
    with Session(engine, expire_on_commit=False) as session:
        try:
            row = offline.retire_key(session, kid)
        except offline.OfflineError as exc:
            raise click.ClickException(str(exc)) from exc
        audit.record(session, "key_retired", actor=audit.CONSOLE, on=today(cfg.timezone), kid=row.kid)
        session.commit()
    click.echo(f"committee key {row.kid} retired: new reports are no longer sealed to it")


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
    """List cases: id, day received, channel, department, status. Newest day first, then by
    random id: never in the order the database holds them, which is the order they came in."""
    _cfg, engine = _setup()
    with Session(engine, expire_on_commit=False) as session:
        for case in session.scalars(select(Case).order_by(Case.received_on.desc(), Case.id)):
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
    """Print decrypted cases and write them, with messages and attachments, under OUT.
    Each case's decryption is recorded in the audit log before anything is decrypted."""
    cfg, engine = _setup()
    try:
        keypair = offline.load_key(Path(key_file), _passphrase(False, passphrase_file))
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
                audit.record(session, "decrypt", actor=audit.COMMITTEE_KEY, on=today(cfg.timezone),
                             case_id=case.id, kid=keypair.kid)
            session.commit()
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
    cfg, engine = _setup()
    with Session(engine, expire_on_commit=False) as session:
        try:
            case = offline.get_case(session, case_id)
        except offline.OfflineError as exc:
            raise click.ClickException(str(exc)) from exc
        audit.record(session, "export", actor=audit.CONSOLE, on=today(cfg.timezone), case_id=case.id,
                     held_for_superior=case.held_for_superior)
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
    cfg, engine = _setup()
    text = _read_text_file(message_file) if message_file else message
    if not text:
        raise click.ClickException("give --message or --message-file")
    with Session(engine, expire_on_commit=False) as session:
        try:
            case = offline.get_case(session, case_id)
            offline.reply_to_case(session, load_rules(cfg.rules_file), case, text, [Path(p) for p in attach], today(cfg.timezone))
            audit.record(session, "reply", actor=audit.CONSOLE, on=today(cfg.timezone), case_id=case.id,
                         attachments=len(attach))
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
            changed = offline.set_status(session, case, event, today(cfg.timezone))
            if changed:
                audit.record(session, "status", actor=audit.CONSOLE, on=today(cfg.timezone), case_id=case.id,
                             event=event)
        except offline.OfflineError as exc:
            raise click.ClickException(str(exc)) from exc
        session.commit()
    click.echo(f"{case.id}: {event}" if changed else f"{case.id}: already {event}, nothing recorded")


@main.group()
def surveys():
    """Integrity surveys (offline work with the committee key)."""


@surveys.command("list")
def surveys_list():
    """List surveys: id, period, status, whether published, title."""
    _cfg, engine = _setup()
    with Session(engine) as session:
        for survey in session.scalars(select(Survey).order_by(Survey.period_start.desc(), Survey.id)):
            shown = "published" if survey.published else "-"
            click.echo(f"{survey.id}  {survey.period_start}..{survey.period_end}  {survey.status:<6} "
                       f"{shown:<9} {survey.title}")


@surveys.command("texts")
@click.argument("survey_id")
@click.option("--key", "key_file", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--passphrase-file", type=click.Path(exists=True, dir_okay=False))
def surveys_texts(survey_id, key_file, passphrase_file):
    """Print a survey's free-text answers, decrypted with the committee key, as JSON. The
    reading is recorded in the audit log before anything is decrypted."""
    cfg, engine = _setup()
    try:
        keypair = offline.load_key(Path(key_file), _passphrase(False, passphrase_file))
        with Session(engine, expire_on_commit=False) as session:
            survey = offline.get_survey(session, survey_id)
            audit.record(session, "survey_texts", actor=audit.COMMITTEE_KEY, on=today(cfg.timezone),
                         survey=survey.id, kid=keypair.kid)
            session.commit()
            click.echo(json.dumps(offline.decrypt_survey_texts(session, survey, keypair),
                                  ensure_ascii=False, indent=2))
    except offline.OfflineError as exc:
        raise click.ClickException(str(exc)) from exc


@main.group()
def retention():
    """Retention of closed cases."""


@retention.command("purge")
@click.option("--dry-run", is_flag=True, help="List what would be purged; change nothing.")
@click.option("--report", "report_file", type=click.Path(dir_okay=False), help="Also write the report here.")
def retention_purge(dry_run, report_file):
    """Purge closed cases whose retention period (by disposition, rules file) has ended, and
    the sealed free text of surveys whose period ended [surveys] texts_kept_days ago."""
    from whistle.custody import retention as retention_mod

    cfg, engine = _setup()
    rules_ = load_rules(cfg.rules_file)
    on = today(cfg.timezone)
    with Session(engine, expire_on_commit=False) as session:
        due = retention_mod.due_for_purge(session, rules_.retention, on)
        texts_due = retention_mod.survey_texts_due(session, rules_.surveys.texts_kept_days, on)
        if dry_run:
            lines = [f"would purge {len(due)} case(s)"] + [f"{c.id}  disposition {c.disposition or '-'}" for c in due]
            lines += retention_mod.survey_lines(texts_due, "would purge")
        else:
            # Every case's lock first, then the purges: a purge appends to the audit log and
            # holds its head, and a member's change takes its case's lock before the head.
            due = [c for c in due if retention_mod.still_due(session, c, rules_.retention, on)]
            purged = [retention_mod.purge(session, c, on=on, actor=None, reason="retention period ended")
                      for c in due]
            for texts in texts_due:
                retention_mod.purge_survey_texts(session, texts, on=on, actor=None)
            session.commit()
            retention_mod.checkpoint(session)
            lines = retention_mod.report_lines(purged, texts_due)
    text = "\n".join(lines) + "\n"
    click.echo(text, nl=False)
    if report_file:
        try:
            Path(report_file).write_text(text, encoding="utf-8")
        except OSError as exc:  # after the commit: say so, the report is printed above
            raise click.ClickException(f"the report above could not be written to {report_file}: {exc.strerror} "
                                       "(what it lists is done)") from exc


@main.group("audit")
def audit_group():
    """The hash-chained audit log and its signed statements."""


@audit_group.command("verify")
@click.option("--from", "from_url", metavar="URL",
              help="Verify a deployment from its public endpoints alone (no database).")
@click.option("--log-vkey", help="With --from: the log's vkey (default: the one the deployment publishes).")
@click.option("--witness-vkey", "witness_vkeys", multiple=True, metavar="VKEY",
              help="With --from: a witness whose cosignature to check and report (repeat).")
def audit_verify(from_url, log_vkey, witness_vkeys):
    """Recompute the chain and check every signed statement; exit 1 naming the first bad
    entry (edited, inserted, reordered, deleted, or history rewritten before a statement).

    With --from URL: check the deployment's signed checkpoint, that its served entries hash
    to it and link up without a gap; exit 1 naming the first bad entry (0: the checkpoint)."""
    if from_url:
        _verify_remote(from_url, log_vkey, witness_vkeys)
        return
    _cfg, engine = _setup()
    with Session(engine) as session:
        verdict = audit.verify(session)
    if not verdict.ok:
        click.echo(f"audit log BROKEN: {verdict.message}", err=True)
        click.echo(f"first bad entry: {verdict.first_bad} ({verdict.problem})", err=True)
        raise SystemExit(1)
    click.echo(f"audit log intact: {verdict.count} entries, head {verdict.head}")
    click.echo(f"signed statements checked: {verdict.statements}")


def _verify_remote(url, log_vkey, witness_vkeys):
    from crypto.errors import FormatError
    from whistle.transparency import remote_verify, witness

    try:
        verdict = remote_verify.verify(url, log_vkey, witness_vkeys)
    except FormatError as exc:
        raise click.BadParameter(str(exc), param_hint="--log-vkey / --witness-vkey") from exc
    except witness.WitnessError as exc:
        raise click.ClickException(f"cannot read {url}: {exc}") from exc
    if not verdict.ok:
        click.echo(f"public log BROKEN: {verdict.message}", err=True)
        click.echo(f"first bad entry: {verdict.first_bad}", err=True)
        raise SystemExit(1)
    click.echo(verdict.message)
    for name, timestamp in sorted(verdict.cosigners.items()):
        click.echo(f"cosigned by {name} at {timestamp} (POSIX seconds, the witness's clock)")


@audit_group.command("sign")
@click.option("--key", "key_file", type=click.Path(exists=True, dir_okay=False),
              help="The committee private key file.")
@click.option("--passphrase-file", type=click.Path(exists=True, dir_okay=False),
              help="With --key: read its passphrase from this file (or WHISTLE_PASSPHRASE).")
@click.option("--share", "share_files", multiple=True, type=click.Path(exists=True, dir_okay=False),
              metavar="FILE", help="A split key: a share file (repeat: at least the threshold of them).")
@click.option("--holder-passphrase-file", "holder_files", multiple=True, metavar="NAME=PATH",
              help="With --share, for scripts: NAME's share passphrase is in PATH.")
def audit_sign(key_file, passphrase_file, share_files, holder_files):
    """Sign the current chain length and head with the committee key (the Ed25519 key
    derived from it) and store the statement; /transparency publishes the latest one.
    The same key signs the public log's checkpoint of that size (GET /log/checkpoint).

    \b
    One key file:  whistle audit sign --key committee.key
    Split key:     whistle audit sign --share a.share --share b.share --share c.share
    """
    from crypto import signing

    if bool(key_file) == bool(share_files):
        raise click.UsageError("give --key FILE (one key file) or --share FILE ... (a split key)")
    cfg, engine = _setup()
    with Session(engine, expire_on_commit=False) as session:
        keypair = _committee_keypair(session, key_file, passphrase_file, share_files, holder_files,
                                     today(cfg.timezone))
        session.commit()  # a rebuilt split key is on record even if signing is refused
        try:
            row = audit.sign(session, keypair, today(cfg.timezone), origin=cfg.log_origin)
        except audit.SigningRefused as exc:
            raise click.ClickException(str(exc)) from exc
        session.commit()
        text = signing.canonical(audit.statement_of(row))
        checkpoint = public_log.latest_checkpoint(session)
        log_vkey = public_log.vkey(cfg.log_origin, signing.verify_key_of(keypair.secret))
    click.echo(f"statement #{row.id}: {row.length} entries, head {row.head}")
    click.echo(f"statement: {text}")
    click.echo(f"signature: {row.signature}")
    click.echo(f"verify key: {row.verify_key}")
    click.echo(f"public log checkpoint (GET /log/checkpoint), log vkey {log_vkey}:")
    click.echo(checkpoint.note, nl=False)


def _committee_keypair(session, key_file, passphrase_file, share_files, holder_files, on):
    """The committee key from its file, or rebuilt in memory from a split key's shares (the
    rebuild is recorded in the audit log, with whose shares)."""
    if key_file:
        try:
            return offline.load_key(Path(key_file), _passphrase(False, passphrase_file))
        except offline.OfflineError as exc:
            raise click.ClickException(str(exc)) from exc
    from crypto import shares as shares_mod
    from whistle.custody import ceremony

    files = _name_paths(holder_files, "--holder-passphrase-file")
    try:
        given = ceremony.read_share_files(share_files)
        texts = [(s.text, _share_passphrase(s.header, files)) for s in given]
        keypair = ceremony.recover_committee_key(texts, db=session)
    except shares_mod.NotEnoughShares as exc:
        raise click.ClickException(f"{exc}: ask another holder to bring their share") from exc
    except ceremony.CeremonyError as exc:
        raise click.ClickException(str(exc)) from exc
    ceremony.record_recovery(session, keypair, [s.header.holder for s in given], on)
    return keypair


@audit_group.command("head")
def audit_head():
    """Print what /transparency/audit-head.json publishes: keys, chain head, latest statement."""
    from whistle.transparency.views import published

    cfg, engine = _setup()
    with Session(engine) as session:
        click.echo(json.dumps(published(session, cfg, load_rules(cfg.rules_file)), ensure_ascii=False, indent=2))


def _add_groups() -> None:
    """Command groups kept in their own files (they import nothing from this one)."""
    from whistle.cli.log import log_group
    from whistle.cli.witness import witness_group

    main.add_command(witness_group)
    main.add_command(log_group)


_add_groups()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
