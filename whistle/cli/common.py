"""What the console's commands share: the configuration and database, and reading passphrases and files."""

import os
from pathlib import Path

import click
from sqlalchemy.orm import Session

from whistle import config as config_mod, db as db_mod, migrate
from whistle.custody import offline


def setup():
    cfg = config_mod.from_env()
    cfg.instance_dir.mkdir(parents=True, exist_ok=True)
    engine = db_mod.make_engine(cfg.database_url)
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.call_on_close(engine.dispose)  # release pooled connections when the command ends
    migrate.upgrade(engine)
    return cfg, engine


def read_text_file(path: str) -> str:
    """A text file given on the command line; a clear error (not a trace) when it cannot be
    read or is not UTF-8 text, as `rules check` says of a rules file."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(f"cannot read {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise click.ClickException(f"{path}: not UTF-8 text: {exc.reason} at byte {exc.start}") from exc


def passphrase(confirm: bool, passphrase_file: str | None) -> str:
    if passphrase_file:
        return read_text_file(passphrase_file).rstrip("\n")
    if os.environ.get("WHISTLE_PASSPHRASE"):
        return os.environ["WHISTLE_PASSPHRASE"]
    return click.prompt("Passphrase", hide_input=True, confirmation_prompt=confirm)


def name_paths(values, option: str) -> dict[str, str]:
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


def read_secret_file(path: str) -> str:
    return read_text_file(path).rstrip("\n")


def holder_passphrase(name: str, files: dict[str, str]) -> str:
    """A share holder's new passphrase: from their file (scripts) or typed twice, hidden."""
    if name in files:
        passphrase = read_secret_file(files[name])
        if len(passphrase) < 12:
            raise click.ClickException(f"holder {name}: use a passphrase of at least 12 characters")
        return passphrase
    while True:
        passphrase = click.prompt(
            f"Passphrase for {name}'s share ({name} types it)", hide_input=True, confirmation_prompt=True
        )
        if len(passphrase) >= 12:
            return passphrase
        click.echo("use a passphrase of at least 12 characters", err=True)


def kdf_cost(opslimit, memlimit, defaults) -> dict:
    return {
        "opslimit": opslimit if opslimit is not None else defaults[0],
        "memlimit": memlimit if memlimit is not None else defaults[1],
    }


def warn_other_active_keys(engine, kid: str) -> None:
    """Say which earlier keys new reports are still sealed to (a single key file kept
    active after a split-key ceremony would let its one holder read every new report)."""
    with Session(engine) as session:
        for row in offline.other_active_keys(session, kid):
            click.echo(
                f"note: committee key {row.kid} ({row.label}) is still active: new reports are sealed "
                f"to it too. Retire it with `whistle keys retire {row.kid[:12]}` once it is no longer needed."
            )


def share_passphrase(header, files: dict[str, str]) -> str:
    """A holder's share passphrase: their file, WHISTLE_SHARE_PASSPHRASE_<index>, or typed."""
    if header.holder in files:
        return read_secret_file(files[header.holder])
    from_env = os.environ.get(f"WHISTLE_SHARE_PASSPHRASE_{header.index}")
    if from_env:
        return from_env
    return click.prompt(f"Passphrase of {header.holder} (share {header.index} of {header.count})", hide_input=True)


def echo_orphans(found) -> None:
    if not found:
        click.echo("no orphaned cases: every case has a member who can open it")
        return
    click.echo(f"{len(found)} orphaned case(s): no member can open them, only the committee key holds them")
    for case in found:
        click.echo(f"  {case.id}  {case.received_on}  {case.department:<18} {case.risk_grade:<6} {case.status}")


def committee_keypair(session, key_file, passphrase_file, share_files, holder_files, on):
    """The committee key from its file, or rebuilt in memory from a split key's shares (the
    rebuild is recorded in the audit log, with whose shares)."""
    if key_file:
        try:
            return offline.load_key(Path(key_file), passphrase(False, passphrase_file))
        except offline.OfflineError as exc:
            raise click.ClickException(str(exc)) from exc
    from crypto import shares as shares_mod
    from whistle.custody import ceremony

    files = name_paths(holder_files, "--holder-passphrase-file")
    try:
        given = ceremony.read_share_files(share_files)
        texts = [(s.text, share_passphrase(s.header, files)) for s in given]
        keypair = ceremony.recover_committee_key(texts, db=session)
    except shares_mod.NotEnoughShares as exc:
        raise click.ClickException(f"{exc}: ask another holder to bring their share") from exc
    except ceremony.CeremonyError as exc:
        raise click.ClickException(str(exc)) from exc
    ceremony.record_recovery(session, keypair, [s.header.holder for s in given], on)
    return keypair
