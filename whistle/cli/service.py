"""Serving and setting up: `whistle run`, `whistle db upgrade`, `whistle demo`."""

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from whistle.custody import offline
from whistle.clock import today
from whistle.models import CommitteeKey
from whistle.cli import common


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def run(host, port):
    """Migrate the database and serve on HOST:PORT (embedded default, one process)."""
    from werkzeug.serving import run_simple

    from whistle import create_app
    from whistle.security.privacy import QuietRequestHandler

    common.setup()
    app = create_app()
    click.echo(f"whistle is serving on http://{host}:{port}/  (request logging is off by design)")
    run_simple(host, port, app, threaded=True, request_handler=QuietRequestHandler)


@click.group()
def db():
    """Database schema."""


@db.command("upgrade")
def db_upgrade():
    """Apply every migration."""
    common.setup()
    click.echo("database is at the latest revision")


@click.command()
def demo():
    """Create clearly marked DEMO committee keys if no committee key exists."""
    cfg, engine = common.setup()
    with Session(engine, expire_on_commit=False) as session:
        if session.scalar(select(CommitteeKey.kid).where(CommitteeKey.active.is_(True))):
            click.echo("committee keys exist; nothing to do")
            return
        path = cfg.instance_dir / "demo-committee.key"
        if path.exists():
            path.unlink()
        offline.init_keys(
            session,
            path,
            offline.DEMO_PASSPHRASE,
            "DEMO committee key",
            today(cfg.timezone),
            demo=True,
            opslimit=2,
            memlimit=64 * 1024 * 1024,
        )
        session.commit()
    click.echo(f"DEMO committee key written to {path} (passphrase: {offline.DEMO_PASSPHRASE!r}).")
    click.echo("Every page shows a DEMO banner until `whistle keys init` creates a real key.")
