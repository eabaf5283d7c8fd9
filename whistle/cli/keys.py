"""`whistle keys`: the committee key (created whole or split into shares), recovery, retirement."""

from pathlib import Path

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from whistle.custody import audit, offline
from whistle.clock import today
from whistle.models import CommitteeKey
from whistle.rules.parse import load as load_rules
from whistle.cli import common


@click.group()
def keys():
    """Committee keys."""


@keys.command("init")
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    help="One key file: where to write the private key, sealed under one passphrase.",
)
@click.option("--label", default="committee", show_default=True)
@click.option(
    "--passphrase-file",
    type=click.Path(exists=True, dir_okay=False),
    help="One key file: read its passphrase from this file.",
)
@click.option(
    "--shares",
    "share_count",
    type=int,
    metavar="N",
    help="Split key: split the private key into N shares (at most 16), one per --holder.",
)
@click.option("--threshold", type=int, metavar="M", help="Split key: how many shares rebuild it (2 to N).")
@click.option("--out-dir", type=click.Path(file_okay=False), help="Split key: where DIR/<holder>.share files go.")
@click.option(
    "--holder",
    "holders",
    multiple=True,
    metavar="NAME",
    help="Split key: a share holder (repeat N times, in share order).",
)
@click.option(
    "--holder-passphrase-file",
    "holder_files",
    multiple=True,
    metavar="NAME=PATH",
    help="Split key, for scripts: read NAME's passphrase from PATH instead of asking NAME to type it.",
)
@click.option("--kdf-opslimit", type=int, hidden=True)  # tests only: cheaper argon2id
@click.option("--kdf-memlimit", type=int, hidden=True)
def keys_init(
    out, label, passphrase_file, share_count, threshold, out_dir, holders, holder_files, kdf_opslimit, kdf_memlimit
):
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
            raise click.UsageError(
                "give --out FILE (one key file) or --shares N --threshold M --out-dir DIR "
                "--holder NAME ... (a split key)"
            )
        _keys_init_file(out, label, passphrase_file, kdf_opslimit, kdf_memlimit)
        return
    if out or passphrase_file:
        raise click.UsageError(
            "--out and --passphrase-file are for one key file; a split key has one "
            "passphrase per holder (--holder-passphrase-file NAME=PATH)"
        )
    if threshold is None or not out_dir:
        raise click.UsageError("a split key needs --threshold M and --out-dir DIR")
    if len(holders) != share_count:
        raise click.UsageError(f"--shares {share_count} needs {share_count} --holder names ({len(holders)} given)")
    from whistle.custody import ceremony
    from crypto import shares as shares_mod

    files = common.name_paths(holder_files, "--holder-passphrase-file")
    try:
        ceremony.check_holders(list(holders), threshold, Path(out_dir))
    except ceremony.CeremonyError as exc:
        raise click.ClickException(str(exc)) from exc
    unknown = sorted(set(files) - set(holders))
    if unknown:
        raise click.UsageError(f"--holder-passphrase-file names someone who is not a --holder: {', '.join(unknown)}")
    cost = common.kdf_cost(kdf_opslimit, kdf_memlimit, (shares_mod.DEFAULT_OPSLIMIT, shares_mod.DEFAULT_MEMLIMIT))
    click.echo(
        f"Key ceremony: {threshold}-of-{share_count} split. Each holder chooses a passphrase "
        "only they know (at least 12 characters)."
    )
    holder_passphrases = [(name, common.holder_passphrase(name, files)) for name in holders]
    cfg, engine = common.setup()
    written = []
    with Session(engine, expire_on_commit=False) as session:
        try:
            made = ceremony.split_committee_key(
                session, Path(out_dir), holder_passphrases, threshold, label, today(cfg.timezone), **cost
            )
            written = made.paths
            session.commit()
        except ceremony.CeremonyError as exc:
            raise click.ClickException(str(exc)) from exc
        except BaseException:
            for path in written:  # the key was not registered: its shares are useless
                path.unlink(missing_ok=True)
            raise
    click.echo(
        f"committee key {made.kid} registered; the private key was split {threshold}-of-{share_count} "
        "and written nowhere:"
    )
    for index, (name, path) in enumerate(zip(holders, written), start=1):
        click.echo(f"  share {index} of {share_count}: {path}  (for {name})")
    click.echo(
        f"Give each holder their own file to keep offline. Any {threshold} of them rebuild the key "
        f"(`whistle keys recover`); fewer reveal nothing about it."
    )
    click.echo(f"audit signing (Ed25519) verify key: {made.verify_key}")
    common.warn_other_active_keys(engine, made.kid)


def _keys_init_file(out, label, passphrase_file, kdf_opslimit, kdf_memlimit):
    """The single key file: the private half sealed under one passphrase."""
    from crypto import keyfile

    cfg, engine = common.setup()
    passphrase = common.passphrase(True, passphrase_file)
    if len(passphrase) < 12:
        raise click.ClickException("use a passphrase of at least 12 characters")
    cost = common.kdf_cost(kdf_opslimit, kdf_memlimit, (keyfile.DEFAULT_OPSLIMIT, keyfile.DEFAULT_MEMLIMIT))
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
    common.warn_other_active_keys(engine, keypair.kid)


@keys.command("recover")
@click.option(
    "--key",
    "key_file",
    type=click.Path(exists=True, dir_okay=False),
    help="A single committee key file (`keys init --out`, or the demo key) instead of shares.",
)
@click.option(
    "--passphrase-file",
    type=click.Path(exists=True, dir_okay=False),
    help="With --key: read the key file's passphrase from this file.",
)
@click.option(
    "--share",
    "share_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    metavar="FILE",
    help="A share file (repeat: at least the threshold M of them).",
)
@click.option(
    "--holder-passphrase-file",
    "holder_files",
    multiple=True,
    metavar="NAME=PATH",
    help="For scripts: NAME's share passphrase is in PATH (or set WHISTLE_SHARE_PASSPHRASE_<share number>).",
)
@click.option("--list-orphans", is_flag=True, help="List cases no member can open (needs no share).")
@click.option("--regrant-orphans-to", metavar="USERNAME", help="Re-grant every orphaned case to USERNAME.")
@click.option(
    "--regrant",
    "regrants",
    multiple=True,
    metavar="CASE_ID=USERNAME",
    help="Re-grant one case to one member (repeatable).",
)
def keys_recover(key_file, passphrase_file, share_files, holder_files, list_orphans, regrant_orphans_to, regrants):
    """Open the committee key (rebuilt in memory from M shares, or read from its single key
    file) and re-grant cases with it.

    Each holder types their own passphrase. The key is checked against the registered
    committee key, used for the re-grants asked for, and forgotten when the command ends;
    its use is recorded in the audit log. A re-grant the rules forbid (the member's own
    department, say) is refused and recorded.

    \b
    Reports filed before anyone enrolled (the demo's first day):
      whistle keys recover --key instance/demo-committee.key --regrant-orphans-to USERNAME
    """
    from whistle.custody import ceremony
    from whistle.triage.routing import account_refusal

    if regrant_orphans_to and regrants:
        raise click.UsageError("use either --regrant-orphans-to or --regrant, not both")
    if key_file and (share_files or holder_files):
        raise click.UsageError("use either --key FILE or --share FILE ..., not both")
    if passphrase_file and not key_file:
        raise click.UsageError("--passphrase-file is for --key FILE; share holders type their own")
    pairs = []
    for value in regrants:
        case_id, sep, username = value.partition("=")
        if not sep or not case_id or not username:
            raise click.UsageError(f"--regrant {value!r}: use CASE_ID=USERNAME")
        pairs.append((case_id, username))
    files = common.name_paths(holder_files, "--holder-passphrase-file")
    cfg, engine = common.setup()
    loaded = load_rules(cfg.rules_file)
    with Session(engine, expire_on_commit=False) as session:
        if list_orphans:
            common.echo_orphans(ceremony.orphaned_cases(session, loaded))
        if not share_files and not key_file:
            if list_orphans and not (regrant_orphans_to or regrants):
                return
            raise click.UsageError(
                "give the committee key: --key FILE (a single key file, or the demo key) "
                "or the share files with --share FILE (at least the threshold of them)"
            )
        for username in [regrant_orphans_to] if regrant_orphans_to else sorted({u for _c, u in pairs}):
            if loaded.member(username) is None:
                raise click.ClickException(f"{username} is not listed in {cfg.rules_file}")
            refusal = account_refusal(ceremony.member_by_username(session, username))
            if refusal == "unconfirmed":
                raise click.ClickException(
                    f"{username}'s enrolment is not confirmed yet: nothing can be sealed to them"
                )
            if refusal:
                raise click.ClickException(f"{username} has no enrolled key: nothing can be sealed to them")
        if regrant_orphans_to:
            targets = [(case, regrant_orphans_to) for case in ceremony.orphaned_cases(session, loaded)]
        else:
            try:
                targets = [(offline.get_case(session, case_id), username) for case_id, username in pairs]
            except offline.OfflineError as exc:
                raise click.ClickException(str(exc)) from exc
        on = today(cfg.timezone)
        if key_file:
            keypair = _key_file_for_regrants(session, key_file, passphrase_file, on)
        else:
            keypair = _rebuilt_for_regrants(session, share_files, files, on)
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


def _key_file_for_regrants(session, key_file, passphrase_file, on):
    """The committee key from its single file, checked against the registered key; its use
    is audited (key_opened) as a rebuild from shares is."""
    from whistle.custody import ceremony

    keypair = common.committee_keypair(session, key_file, passphrase_file, (), (), on)
    row = session.get(CommitteeKey, keypair.kid)
    if row is None or bytes(row.public_key) != keypair.public:
        raise click.ClickException(f"{key_file} holds key {keypair.kid}, not a committee key of this database")
    audit.record(session, "key_opened", actor=ceremony.ACTOR, on=on, key=keypair.kid)
    click.echo(f"committee key {keypair.kid} read from {key_file}")
    return keypair


def _rebuilt_for_regrants(session, share_files, files, on):
    """The split committee key rebuilt in memory from the shares given (audited, with whose)."""
    from crypto import shares as shares_mod
    from whistle.custody import ceremony

    try:
        given = ceremony.read_share_files(share_files)
    except shares_mod.NotEnoughShares as exc:
        raise click.ClickException(
            f"{exc}. Fewer than {exc.need} shares reveal nothing about the key: ask another holder to bring theirs."
        ) from exc
    except ceremony.CeremonyError as exc:
        raise click.ClickException(str(exc)) from exc
    texts = [(s.text, common.share_passphrase(s.header, files)) for s in given]
    try:
        keypair = ceremony.recover_committee_key(texts, db=session)
    except shares_mod.NotEnoughShares as exc:
        raise click.ClickException(f"{exc}. Fewer than {exc.need} shares reveal nothing about the key.") from exc
    except ceremony.CeremonyError as exc:
        raise click.ClickException(str(exc)) from exc
    holders = [s.header.holder for s in given]
    ceremony.record_recovery(session, keypair, holders, on)
    click.echo(
        f"committee key {keypair.kid} rebuilt in memory from the shares of {', '.join(holders)} "
        f"({given[0].header.threshold} needed); it is not written anywhere"
    )
    return keypair


@keys.command("retire")
@click.argument("kid")
def keys_retire(kid):
    """Stop sealing new reports to the committee key whose id starts with KID. Cases already
    sealed to it stay readable with it; the last active key cannot be retired."""
    cfg, engine = common.setup()
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
    _cfg, engine = common.setup()
    with Session(engine, expire_on_commit=False) as session:
        for row in session.scalars(select(CommitteeKey)):
            flags = ("active" if row.active else "retired") + (" DEMO" if row.demo else "")
            click.echo(f"{row.kid}  {row.created_on}  {flags}  {row.label}")
