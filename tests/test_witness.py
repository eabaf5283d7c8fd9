"""`whistle witness` against a live server (gunicorn): it cosigns a log that only grows, and
refuses, loudly and with exit status 3, a rewritten tail, deleted statements and checkpoints,
a restored backup and a forked log. The server keeps only cosignatures of the rules file's
witnesses; /transparency shows them with their age, and a checkpoint short of the quorum."""

import datetime as dt
import os
import socket
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner
from sqlalchemy.orm import Session

from crypto import note, signing
from whistle.cli import main
from whistle.config import PROJECT_DIR
from whistle.custody import audit, public_log
from whistle.db import make_engine
from whistle.services import services

from tests import forger
from tests.conftest import build_app

DAY = dt.date(2025, 3, 3)
ORIGIN = "whistle.invalid/audit"
DEPLOY = PROJECT_DIR / "deploy"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(port: int, proc) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"gunicorn exited: {proc.stderr.read()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("gunicorn did not start")


class Deployment:
    """A whistle behind gunicorn, its database, its committee key and a witness beside it."""

    def __init__(self, config, tmp_path):
        self.runner = CliRunner()
        self.tmp = tmp_path
        self.key_file, self.state = tmp_path / "witness.key", tmp_path / "witness.state"
        result = self.runner.invoke(
            main, ["witness", "keygen", "--name", "auditor.example", "--out", str(self.key_file)]
        )
        assert result.exit_code == 0, result.output
        self.witness_vkey = next(line for line in result.output.splitlines() if line.startswith("vkey = "))[8:-1]
        assert oct(self.key_file.stat().st_mode & 0o777) == "0o600"
        rules = (PROJECT_DIR / "whistle" / "data" / "rules.example.toml").read_text(encoding="utf-8")
        rules += (
            f'\n[[witnesses]]\nname = "auditor.example"\nvkey = "{self.witness_vkey}"\n'
            f"\n[witnessing]\nquorum = 1\nmax_age_days = 7\n"
        )
        self.rules = tmp_path / "rules.toml"
        self.rules.write_text(rules, encoding="utf-8")
        self.config = config.with_(rules_file=self.rules)
        app = build_app(self.config)
        services(app).engine.dispose()
        self.engine = make_engine(config.database_url)
        from crypto.keys import KeyPair
        from whistle.models import CommitteeKey

        self.keypair = KeyPair.generate()
        with Session(self.engine) as s:
            s.add(CommitteeKey(kid=self.keypair.kid, public_key=self.keypair.public, label="c", created_on=DAY))
            s.commit()
        self.log_vkey = public_log.vkey(ORIGIN, signing.verify_key_of(self.keypair.secret))
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("WHISTLE_", "PG"))}
        env.update(
            WHISTLE_DATABASE_URL=config.database_url,
            WHISTLE_INSTANCE_DIR=str(config.instance_dir),
            WHISTLE_RULES=str(self.rules),
        )
        gunicorn = str(os.path.join(os.path.dirname(sys.executable), "gunicorn"))
        self.proc = subprocess.Popen(
            [
                gunicorn,
                "-c",
                str(DEPLOY / "gunicorn.conf.py"),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "1",
                "whistle:create_app()",
            ],
            env=env,
            cwd=PROJECT_DIR,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        _wait(self.port, self.proc)
        self.get("/log/rules")  # the first request records the rules file: entry 1, before the tests' own

    def get(self, path: str) -> str:
        import urllib.request

        with urllib.request.urlopen(self.url + path, timeout=60) as resp:
            return resp.read().decode("utf-8")

    def stop(self):
        self.proc.terminate()
        self.proc.communicate(timeout=30)
        self.engine.dispose()

    def record(self, n, start=0, on=DAY):
        with Session(self.engine) as s:
            for i in range(start, start + n):
                audit.record(s, "view", actor="zhao.lei", on=on, case_id=f"{i:032x}")
            s.commit()

    def sign(self):
        with Session(self.engine) as s:
            audit.sign(s, self.keypair, DAY, origin=ORIGIN)
            s.commit()

    def witness(self):
        return self.runner.invoke(
            main,
            [
                "witness",
                "run",
                "--url",
                self.url,
                "--log-vkey",
                self.log_vkey,
                "--key",
                str(self.key_file),
                "--state",
                str(self.state),
            ],
        )

    def checkpoint(self) -> str:
        return self.get("/log/checkpoint")


@pytest.fixture
def deployment(config, tmp_path):
    d = Deployment(config, tmp_path)
    try:
        yield d
    finally:
        d.stop()


def cosigned(d: Deployment):
    d.record(6)
    d.sign()
    first = d.witness()
    assert first.exit_code == 0, first.output
    assert "first checkpoint seen" in first.output
    return first


def assert_refuses(d: Deployment, *words):
    state = d.state.read_text()
    result = d.witness()
    assert result.exit_code == 3, result.output
    assert "WITNESS REFUSES TO COSIGN" in result.output
    for word in words:
        assert word in result.output
    assert d.state.read_text() == state, "a refusal keeps the state as it was"
    again = d.witness()
    assert again.exit_code == 3, "and it goes on refusing"


def test_witness_cosigns_a_growing_log(deployment):
    d = deployment
    cosigned(d)
    served = d.checkpoint()
    witness = note.parse_vkey(d.witness_vkey)
    log = note.parse_vkey(d.log_vkey)
    opened = note.open_checkpoint(served, log, [witness], quorum=1)
    assert set(opened.cosignatures) == {"auditor.example"}
    assert abs(opened.cosignatures["auditor.example"] - time.time()) < 120
    d.record(5, start=10)
    d.sign()
    second = d.witness()
    # rules file, 6 entries | the signing, 5 entries
    assert second.exit_code == 0 and "at 13 entries (consistent with 7)" in second.output, second.output
    assert note.open_checkpoint(d.checkpoint(), log, [witness], quorum=1).checkpoint.size == 13
    again = d.witness()  # nothing new: the same tree is cosigned again, with a fresh time
    assert again.exit_code == 0, again.output


def test_a_rewritten_tail_is_refused(deployment):
    d = deployment
    cosigned(d)
    d.record(3, start=10)
    # The operator edits entry 4, recomputes every hash, the head and the stored tree, and
    # deletes the statements and checkpoints that would contradict it; the committee,
    # seeing a chain that verifies, signs again.
    forger.sql(d.engine, "UPDATE audit_log SET actor = 'nobody' WHERE seq = 4")
    forger.recompute(d.engine, from_seq=4)
    forger.sql(d.engine, "DELETE FROM audit_statements")
    forger.sql(d.engine, "DELETE FROM log_checkpoints")
    with Session(d.engine) as s:
        assert audit.verify(s).ok, "the database alone no longer shows it"
    d.sign()
    assert_refuses(d, "fork", "does not extend")


def test_deleted_statements_and_checkpoints_are_refused(deployment):
    d = deployment
    cosigned(d)
    forger.sql(d.engine, "DELETE FROM audit_statements")
    forger.sql(d.engine, "DELETE FROM log_checkpoints")
    assert_refuses(d, "rollback", "serves no checkpoint")


def test_a_restored_backup_is_refused(deployment):
    d = deployment
    d.record(4)
    d.sign()
    backup_size = public_log_size(d)
    first = d.witness()
    assert first.exit_code == 0, first.output
    d.record(6, start=10)
    d.sign()
    assert d.witness().exit_code == 0
    restore(d, backup_size)
    assert_refuses(d, "rollback")
    # Reports keep coming in on the restored database and the committee signs again: the
    # new tree is larger than the one cosigned, but does not extend it.
    d.record(9, start=30)
    d.sign()
    assert_refuses(d, "fork")


def test_a_forked_log_is_refused(deployment):
    d = deployment
    cosigned(d)
    size = public_log_size(d) - 1  # the checkpoint; the entry after it records the signing
    # Another tree of exactly the size the witness cosigned: what a split view shows.
    forger.sql(d.engine, "DELETE FROM audit_log WHERE seq > :n", n=size)
    forger.sql(d.engine, "UPDATE audit_log SET case_id = :c WHERE seq = 2", c="f" * 32)
    forger.recompute(d.engine, from_seq=2)
    forger.sql(d.engine, "DELETE FROM audit_statements")
    forger.sql(d.engine, "DELETE FROM log_checkpoints")
    with Session(d.engine) as s:
        public_log.sign_checkpoint(s, ORIGIN, signing.signing_key(d.keypair.secret), DAY)
        s.commit()
    assert public_log_size(d) == size
    assert_refuses(d, "fork", "same size")


def test_a_checkpoint_under_another_key_is_refused(deployment):
    d = deployment
    cosigned(d)
    import nacl.signing

    other = nacl.signing.SigningKey.generate()
    d.record(2, start=40)
    with Session(d.engine) as s:
        public_log.sign_checkpoint(s, ORIGIN, other, DAY)
        s.commit()
    assert_refuses(d, "not signed by the log key")


def public_log_size(d: Deployment) -> int:
    with Session(d.engine) as s:
        return public_log.size(s)


def restore(d: Deployment, size: int) -> None:
    """The database as a backup taken at ``size`` entries has it (every table of the log)."""
    forger.sql(d.engine, "DELETE FROM audit_log WHERE seq > :n", n=size)
    forger.sql(d.engine, "DELETE FROM log_checkpoints WHERE size > :n", n=size)
    forger.sql(d.engine, "DELETE FROM log_cosignatures WHERE size > :n", n=size)
    forger.sql(d.engine, "DELETE FROM audit_statements WHERE length >= :n", n=size)
    forger.recompute(d.engine)


def test_transparency_shows_cosignatures_and_their_age(deployment):
    d = deployment

    def page():
        return d.get("/transparency?lang=en")

    d.record(3)
    d.sign()
    html = page()
    assert d.log_vkey in html
    assert "not witnessed" in html and 'id="log-witnessed"' not in html
    assert d.witness().exit_code == 0
    html = page()
    assert 'id="log-witnessed"' in html and "auditor.example" in html
    assert "cosigned today" in html


def _verify_from(d: Deployment, *extra):
    return d.runner.invoke(main, ["audit", "verify", "--from", d.url, *extra])


def test_audit_verify_from_the_public_endpoints(deployment):
    d = deployment
    cosigned(d)
    d.record(3, start=50)  # after the checkpoint: linked on, not yet signed
    result = _verify_from(d, "--log-vkey", d.log_vkey, "--witness-vkey", d.witness_vkey)
    assert result.exit_code == 0, result.output
    # the rules file the server loaded and 6 signed, the entry recording the signing, 3 more
    assert "public log intact: 11 entries, 7 under the signed checkpoint" in result.output
    assert "cosigned by auditor.example" in result.output
    assert _verify_from(d).exit_code == 0  # the log key as the deployment publishes it
    # An edit of entry 4 that recomputes the chain but leaves the stored tree: the server's
    # own proofs still tie entries 1-3 to the checkpoint, not entry 4.
    forger.sql(d.engine, "UPDATE audit_log SET actor = 'nobody' WHERE seq = 4")
    forger.recompute(d.engine, from_seq=4, tree=False)
    result = _verify_from(d, "--log-vkey", d.log_vkey)
    assert result.exit_code == 1
    assert "entry 4: does not match the signed checkpoint of size 7" in result.output
    assert "first bad entry: 4" in result.output
    # With the stored tree rebuilt as well, no proof ties any entry: the checkpoint is named.
    forger.rebuild_log(d.engine)
    result = _verify_from(d, "--log-vkey", d.log_vkey)
    assert result.exit_code == 1 and "checkpoint of size 7: the entries served do not hash" in result.output
    assert "first bad entry: 0" in result.output


def test_audit_verify_from_names_a_gap_and_a_foreign_checkpoint(deployment):
    d = deployment
    cosigned(d)
    d.record(3, start=50)
    forger.sql(d.engine, "DELETE FROM audit_log WHERE seq = 9")
    result = _verify_from(d, "--log-vkey", d.log_vkey)
    assert result.exit_code == 1 and "first bad entry: 9" in result.output, result.output
    assert "entry 9: sequence gap" in result.output
    other = public_log.vkey(ORIGIN, bytes(range(32)))
    result = _verify_from(d, "--log-vkey", other)
    assert result.exit_code == 1 and "checkpoint: not signed by the log key given" in result.output
