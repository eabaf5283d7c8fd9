"""`whistle audit`: verify the chain, sign its head with the committee key, show the head."""

import json

import click
from sqlalchemy.orm import Session

from whistle.custody import audit, public_log
from whistle.clock import today
from whistle.cli import common


@click.group("audit")
def audit_group():
    """The hash-chained audit log and its signed statements."""


@audit_group.command("verify")
@click.option(
    "--from", "from_url", metavar="URL", help="Verify a deployment from its public endpoints alone (no database)."
)
@click.option("--log-vkey", help="With --from: the log's vkey (default: the one the deployment publishes).")
@click.option(
    "--witness-vkey",
    "witness_vkeys",
    multiple=True,
    metavar="VKEY",
    help="With --from: a witness whose cosignature to check and report (repeat).",
)
def audit_verify(from_url, log_vkey, witness_vkeys):
    """Recompute the chain and check every signed statement; exit 1 naming the first bad
    entry (edited, inserted, reordered, deleted, or history rewritten before a statement).

    With --from URL: check the deployment's signed checkpoint, that its served entries hash
    to it and link up without a gap; exit 1 naming the first bad entry (0: the checkpoint)."""
    if from_url:
        _verify_remote(from_url, log_vkey, witness_vkeys)
        return
    _cfg, engine = common.setup()
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
@click.option("--key", "key_file", type=click.Path(exists=True, dir_okay=False), help="The committee private key file.")
@click.option(
    "--passphrase-file",
    type=click.Path(exists=True, dir_okay=False),
    help="With --key: read its passphrase from this file (or WHISTLE_PASSPHRASE).",
)
@click.option(
    "--share",
    "share_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    metavar="FILE",
    help="A split key: a share file (repeat: at least the threshold of them).",
)
@click.option(
    "--holder-passphrase-file",
    "holder_files",
    multiple=True,
    metavar="NAME=PATH",
    help="With --share, for scripts: NAME's share passphrase is in PATH.",
)
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
    cfg, engine = common.setup()
    with Session(engine, expire_on_commit=False) as session:
        keypair = common.committee_keypair(
            session, key_file, passphrase_file, share_files, holder_files, today(cfg.timezone)
        )
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


@audit_group.command("head")
def audit_head():
    """Print what /transparency/audit-head.json publishes: keys, chain head, latest statement."""
    from whistle.rules.parse import load as load_rules
    from whistle.transparency.views import published

    cfg, engine = common.setup()
    with Session(engine) as session:
        click.echo(json.dumps(published(session, cfg, load_rules(cfg.rules_file)), ensure_ascii=False, indent=2))
