"""`whistle witness`: watch a whistle deployment's public log from outside and cosign it
(whistle.transparency.witness). Needs no database and no configuration of the server."""

import os
import time
from pathlib import Path

import click

from crypto import note
from crypto.errors import FormatError
from whistle.transparency import witness as witness_mod

REFUSED = 3  # exit status of a refusal: the log is inconsistent (1 and 2 are Click's own)


@click.group("witness")
def witness_group():
    """Witness a deployment's public log: check each checkpoint extends the last, cosign it."""


@witness_group.command("keygen")
@click.option("--name", required=True, help="The witness's name, e.g. auditor.example.org (no space, no '+').")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Where the private key file goes (0600).")
def keygen(name, out):
    """Make a witness key file; print the vkey to list in the log's rules file ([[witnesses]])."""
    try:
        text, vkey = witness_mod.new_key(name)
    except FormatError as exc:
        raise click.BadParameter(f"{name!r}: a key name has no space and no '+'", param_hint="--name") from exc
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never overwrite a key
    except FileExistsError as exc:
        raise click.ClickException(f"{out} exists: a witness key is never overwritten") from exc
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    click.echo(f"witness key written to {out}")
    click.echo("add to the log's rules file:")
    click.echo(f'[[witnesses]]\nname = "{name}"\nvkey = "{vkey}"')


@witness_group.command("run")
@click.option("--url", required=True, help="The deployment's public address, e.g. https://report.example.org")
@click.option("--log-vkey", required=True, help="The log's vkey as the committee publishes it (/transparency).")
@click.option(
    "--key",
    "key_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="This witness's key file (whistle witness keygen).",
)
@click.option(
    "--state",
    "state_file",
    required=True,
    type=click.Path(dir_okay=False),
    help="This witness's state file: the last checkpoint it accepted (created on the first run).",
)
def run(url, log_vkey, key_file, state_file):
    """Check the log's latest checkpoint against the last one seen and cosign it.

    Refuses (exit 3, state kept) on a rollback, a fork or a rewrite; run it from cron. The
    first run has nothing to compare with and accepts what it is served: check that size
    and root against what the committee published elsewhere before relying on it."""
    try:
        log = note.parse_vkey(log_vkey)
    except FormatError as exc:
        raise click.BadParameter(str(exc), param_hint="--log-vkey") from exc
    if log.key_type != note.ED25519:
        raise click.BadParameter("the log's vkey is an Ed25519 note key (type 0x01)", param_hint="--log-vkey")
    try:
        key = witness_mod.read_key(Path(key_file).read_text(encoding="utf-8"))
        outcome = witness_mod.witness(url, log, key, Path(state_file), int(time.time()))
    except witness_mod.Refusal as exc:
        click.echo(f"WITNESS REFUSES TO COSIGN {url}: {exc}", err=True)
        click.echo("the state file is kept as it was; tell the supervising body", err=True)
        raise SystemExit(REFUSED) from exc
    except (witness_mod.WitnessError, OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(str(exc)) from exc
    since = "first checkpoint seen" if outcome.previous is None else f"consistent with {outcome.previous}"
    click.echo(f"cosigned {log.name} at {outcome.size} entries ({since})")
