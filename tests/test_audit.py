"""The audit log: tamper tests straight on the database, signed statements, the CLI entries
and the public transparency page."""

import datetime as dt
import hashlib
import json

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from crypto import signing
from crypto.encoding import b64u, unb64u
from crypto.keys import KeyPair
from whistle.custody import audit
from whistle.cli import main
from whistle.models import AuditEntry, AuditStatement, Case, CommitteeKey
from whistle.security.privacy import CSP
from whistle.services import services

from tests import forger
from tests.conftest import KEY_PASSPHRASE
from tests.helpers import report_form

DAY = dt.date(2025, 3, 3)
CASE = "ab" * 16
ACTIONS = [
    ("login", "zhao.lei", None, {}),
    ("view", "zhao.lei", CASE, {}),
    ("decrypt", "zhao.lei", CASE, {}),
    ("grant", "zhao.lei", CASE, {"to": "zhang.wei"}),
    ("refused_grant", "zhao.lei", CASE, {"to": "li.na", "reason": "conflict"}),
    ("status", "zhang.wei", CASE, {"event": "acknowledged"}),
    ("grade_override", "zhang.wei", CASE, {"before": "high", "after": "high", "reason": "新的事实"}),
    ("export", "cli", CASE, {}),
    ("reply", "cli", CASE, {"attachments": 0}),
    ("logout", "zhao.lei", None, {}),
]


def _engine(app):
    return services(app).engine


def _append(app, actions, start=0):
    with Session(_engine(app)) as s:
        for i, (action, actor, case_id, detail) in enumerate(actions, start=start):
            audit.record(s, action, actor=actor, on=DAY + dt.timedelta(days=i // 3), case_id=case_id, **detail)
        s.commit()


def _sign(app, keypair, on=DAY):
    with Session(_engine(app), expire_on_commit=False) as s:
        row = audit.sign(s, keypair, on)
        s.commit()
    return row


@pytest.fixture
def cli_env(config, monkeypatch):
    monkeypatch.setenv("WHISTLE_INSTANCE_DIR", str(config.instance_dir))
    monkeypatch.setenv("WHISTLE_DATABASE_URL", config.database_url)
    monkeypatch.delenv("WHISTLE_PASSPHRASE", raising=False)
    return CliRunner()


@pytest.fixture
def log(app):
    """Ten entries, as the workspace and the CLI would write them."""
    _append(app, ACTIONS)
    return app


@pytest.fixture
def signed_log(app, committee):
    """Ten entries, a statement signed over them (entry 11 records the signing), two more."""
    _append(app, ACTIONS)
    _sign(app, committee[0])
    _append(app, ACTIONS[:2], start=11)
    return app


def sql(app, statement, **params):
    forger.sql(_engine(app), statement, **params)


def rows(app):
    return forger.rows(_engine(app))


def recompute(app, from_seq=1):
    """What a careful forger does after an edit: recompute every hash, the head and the tree."""
    forger.recompute(_engine(app), from_seq)


def rebuild_log(app):
    """A careful forger also rebuilds the public log's stored tree from the rows as they are."""
    forger.rebuild_log(_engine(app))


def verify(runner):
    return runner.invoke(main, ["audit", "verify"])


def assert_names(result, seq, problem):
    assert result.exit_code == 1, result.output
    assert f"first bad entry: {seq} ({problem})" in result.output, result.output
    assert f"entry {seq}:" in result.output


def test_intact_log_verifies(log, cli_env, db_session):
    result = verify(cli_env)
    length, head = audit.head(db_session)
    assert result.exit_code == 0, result.output
    assert f"audit log intact: 10 entries, head {head}" in result.output and length == 10
    assert audit.verify(db_session) == (10, None)
    count, bad = audit.verify(db_session)  # the old tuple form still unpacks
    assert (count, bad) == (10, None)


def test_an_action_outside_the_list_is_refused_and_writes_nothing(log, db_session):
    """Every recorded action is one of audit.ACTIONS (each has a label in the oversight
    view): a misspelt or new action fails where it is recorded, in the tests."""
    before = audit.head(db_session)
    with pytest.raises(ValueError, match="unknown audit action"):
        audit.record(db_session, "viewed", actor="zhao.lei", on=dt.date(2026, 1, 5))
    db_session.rollback()
    assert audit.head(db_session) == before and audit.verify(db_session) == (10, None)


def test_empty_log_verifies(app, cli_env):
    result = verify(cli_env)
    assert result.exit_code == 0 and "audit log intact: 0 entries, head " + "0" * 64 in result.output


@pytest.mark.parametrize(
    "column, value, seq",
    [
        ("detail", '{"to":"wang.fang"}', 4),
        ("actor", "someone.else", 7),
        ("action", "view", 3),
        ("day", dt.date(2025, 1, 1), 9),
        ("case_id", "cd" * 16, 2),
        ("entry_hash", "f" * 64, 5),
    ],
)
def test_edited_entry_is_named(log, cli_env, column, value, seq):
    sql(log, f"UPDATE audit_log SET {column} = :v WHERE seq = :s", v=value, s=seq)
    assert_names(verify(cli_env), seq, audit.HASH_MISMATCH)


def test_edited_link_is_named(log, cli_env):
    sql(log, "UPDATE audit_log SET prev_hash = :v WHERE seq = 6", v="e" * 64)
    assert_names(verify(cli_env), 6, audit.BROKEN_LINK)


def _shift_up_from(app, seq):
    # Two steps, so no intermediate primary key collides (PostgreSQL checks each row).
    sql(app, "UPDATE audit_log SET seq = seq + 1000 WHERE seq >= :s", s=seq)
    sql(app, "UPDATE audit_log SET seq = seq - 999 WHERE seq >= 1000")


def _forge(app, seq, prev_hash, entry_hash=None):
    detail = '{"to":"forger"}'
    digest = entry_hash or audit.entry_digest(prev_hash, seq, DAY, "zhao.lei", "grant", CASE, detail)
    sql(
        app,
        "INSERT INTO audit_log (seq, day, actor, action, case_id, detail, prev_hash, entry_hash) "
        "VALUES (:seq, :day, 'zhao.lei', 'grant', :case, :detail, :prev, :hash)",
        seq=seq,
        day=DAY,
        case=CASE,
        detail=detail,
        prev=prev_hash,
        hash=digest,
    )


def test_inserted_entry_is_named(log, cli_env):
    """A crude forgery: the new row's own hash does not fit it."""
    before = rows(log)
    _shift_up_from(log, 5)
    _forge(log, 5, before[3]["entry_hash"], entry_hash="1" * 64)
    assert_names(verify(cli_env), 5, audit.HASH_MISMATCH)


def test_inserted_entry_with_a_correct_hash_is_not_in_the_public_log(log, cli_env):
    """A careful forgery: the inserted row hashes correctly, but the log's leaf 4 is the
    entry that was there when it was written."""
    before = rows(log)
    _shift_up_from(log, 5)
    _forge(log, 5, before[3]["entry_hash"])
    result = verify(cli_env)
    assert_names(result, 5, audit.NOT_IN_LOG)


def test_inserted_entry_with_a_correct_hash_breaks_the_next_link(log, cli_env):
    """A careful forgery that rebuilds the stored tree too: the chain breaks right after it."""
    before = rows(log)
    _shift_up_from(log, 5)
    _forge(log, 5, before[3]["entry_hash"])
    rebuild_log(log)
    result = verify(cli_env)
    assert_names(result, 6, audit.BROKEN_LINK)
    assert "not the hash of entry 5" in result.output


def test_entry_appended_outside_the_log_is_named(log, cli_env):
    _forge(log, 11, rows(log)[-1]["entry_hash"])
    assert_names(verify(cli_env), 11, audit.NOT_IN_LOG)  # no leaf of the public log is this entry
    rebuild_log(log)  # and with a leaf made for it, the head row still says it came from outside
    assert_names(verify(cli_env), 11, audit.BROKEN_LINK)


@pytest.mark.parametrize(
    "columns, problem",
    [
        (("day", "actor", "action", "case_id", "detail", "prev_hash", "entry_hash"), audit.BROKEN_LINK),
        (("day", "actor", "action", "case_id", "detail"), audit.HASH_MISMATCH),
    ],
)
def test_reordered_entries_are_named(log, cli_env, columns, problem):
    by_seq = {r["seq"]: r for r in rows(log)}
    for target, source in ((3, 6), (6, 3)):
        assignments = ", ".join(f"{c} = :{c}" for c in columns)
        sql(
            log,
            f"UPDATE audit_log SET {assignments} WHERE seq = :seq",
            seq=target,
            **{c: by_seq[source][c] for c in columns},
        )
    assert_names(verify(cli_env), 3, problem)


def test_deleted_middle_entry_is_named(log, cli_env):
    sql(log, "DELETE FROM audit_log WHERE seq = 5")
    result = verify(cli_env)
    assert_names(result, 5, audit.SEQUENCE_GAP)
    assert "entry 5 is missing" in result.output


def test_deleted_first_entries_are_named(log, cli_env):
    sql(log, "DELETE FROM audit_log WHERE seq <= 2")
    assert_names(verify(cli_env), 1, audit.SEQUENCE_GAP)


def test_deleted_last_entries_are_named(log, cli_env):
    sql(log, "DELETE FROM audit_log WHERE seq >= 9")
    result = verify(cli_env)
    assert_names(result, 9, audit.MISSING_AT_END)
    assert "the head records 10 entries, the log has 8" in result.output


def test_edited_head_row_is_noticed(log, cli_env):
    sql(log, "UPDATE audit_head SET head_hash = :h WHERE id = 1", h="9" * 64)
    assert_names(verify(cli_env), 10, audit.HASH_MISMATCH)


def test_full_rewrite_passes_the_chain_but_not_a_signed_statement(app, committee, cli_env):
    _append(app, ACTIONS)
    sql(app, "UPDATE audit_log SET detail = :d WHERE seq = 5", d='{"reason":"admin","to":"li.na"}')
    recompute(app, from_seq=5)
    # Without a statement, a complete rewrite is self-consistent: that is what statements are for.
    assert verify(cli_env).exit_code == 0


def test_full_rewrite_is_caught_by_a_signed_statement(signed_log, cli_env, db_session):
    assert verify(cli_env).exit_code == 0
    sql(signed_log, "UPDATE audit_log SET detail = :d WHERE seq = 5", d='{"reason":"admin","to":"li.na"}')
    recompute(signed_log, from_seq=5)
    result = verify(cli_env)
    assert_names(result, 10, audit.STATEMENT_MISMATCH)
    assert "signed statement #1" in result.output
    verdict = audit.verify(db_session)
    assert verdict.first_bad == 10 and verdict.statement == 1 and not verdict.ok


def test_earliest_statement_bounds_the_rewrite(app, committee, cli_env):
    _append(app, ACTIONS[:6])
    _sign(app, committee[0])  # statement 1 over 6 entries; entry 7 records it
    _append(app, ACTIONS, start=7)
    _sign(app, committee[0])  # statement 2 over 17 entries
    sql(app, "UPDATE audit_log SET actor = 'nobody' WHERE seq = 2")
    recompute(app, from_seq=2)
    result = verify(cli_env)
    assert_names(result, 6, audit.STATEMENT_MISMATCH)
    assert "signed statement #1" in result.output


def test_truncation_with_a_rewritten_head_is_caught_by_a_statement(signed_log, cli_env):
    sql(signed_log, "DELETE FROM audit_log WHERE seq >= 9")
    recompute(signed_log)
    result = verify(cli_env)
    assert_names(result, 9, audit.MISSING_AT_END)
    assert "statement #1 covers 10 entries, the log has 8" in result.output


def test_tampered_statement_signature_is_detected(signed_log, cli_env, db_session):
    row = db_session.scalar(select(AuditStatement))
    raw = bytearray(unb64u(row.signature))
    raw[5] ^= 0x40
    sql(signed_log, "UPDATE audit_statements SET signature = :s WHERE id = 1", s=b64u(bytes(raw)))
    result = verify(cli_env)
    assert_names(result, 10, audit.BAD_SIGNATURE)
    assert "statement #1" in result.output


@pytest.mark.parametrize("column, value", [("length", 9), ("head", "0" * 64), ("day", DAY + dt.timedelta(days=1))])
def test_edited_statement_fails_its_signature(signed_log, cli_env, column, value):
    sql(signed_log, f"UPDATE audit_statements SET {column} = :v WHERE id = 1", v=value)
    assert verify(cli_env).exit_code == 1
    assert audit.BAD_SIGNATURE in verify(cli_env).output


def test_statement_resigned_by_a_forger_is_detected(signed_log, cli_env, committee):
    """A forger rewrites history and re-signs the statement with a key of their own."""
    sql(signed_log, "UPDATE audit_log SET detail = '{}' WHERE seq = 4")
    recompute(signed_log, from_seq=4)
    forger = KeyPair.generate()
    length, head = 10, rows(signed_log)[9]["entry_hash"]
    obj = signing.statement(committee[0].kid, length, head, DAY)
    key = signing.signing_key(forger.secret)
    sql(
        signed_log,
        "UPDATE audit_statements SET head = :h, verify_key = :k, signature = :s WHERE id = 1",
        h=head,
        k=b64u(bytes(key.verify_key)),
        s=signing.sign(key, obj),
    )
    result = verify(cli_env)
    assert_names(result, 10, audit.UNKNOWN_SIGNER)


def test_sign_refuses_a_broken_chain_and_a_foreign_key(log, committee, db_session):
    with pytest.raises(audit.SigningRefused, match="not a registered committee key"):
        audit.sign(db_session, KeyPair.generate(), DAY)
    db_session.rollback()
    sql(log, "UPDATE audit_log SET detail = '{}' WHERE seq = 4")
    with pytest.raises(audit.SigningRefused, match="entry 4"):
        audit.sign(db_session, committee[0], DAY)
    db_session.rollback()
    assert db_session.scalar(select(AuditStatement)) is None


def test_a_statement_covers_the_log_as_one_snapshot(log, committee, db_session, config):
    """Signing checks the chain, then reads its head: an entry appended in between (its
    transaction committing meanwhile) would be vouched for unchecked. Signing takes the
    head's lock first, so an append in progress finishes before the check, and the
    statement covers it, checked."""
    from tests.helpers import once_it_waits

    audit.record(db_session, "view", actor="zhao.lei", on=DAY)  # holds the head until committed
    statement = once_it_waits(db_session, config.database_url, lambda: _sign(log, committee[0]))
    assert statement.length == 11
    assert [
        e.action for e in db_session.scalars(select(AuditEntry).where(AuditEntry.seq > 10).order_by(AuditEntry.seq))
    ] == ["view", "audit_signed"]


def test_cli_sign_then_verify(log, committee, cli_env, db_session, monkeypatch):
    keypair, path = committee
    length, head = audit.head(db_session)
    result = cli_env.invoke(main, ["audit", "sign", "--key", str(path)], input=KEY_PASSPHRASE + "\n")
    assert result.exit_code == 0, result.output
    assert f"statement #1: {length} entries, head {head}" in result.output
    row = db_session.scalar(select(AuditStatement))
    assert (row.length, row.head, row.committee_kid) == (10, head, keypair.kid)
    assert row.verify_key == b64u(signing.verify_key_of(keypair.secret))
    signing.verify(row.verify_key, audit.statement_of(row), row.signature)
    assert db_session.get(CommitteeKey, keypair.kid).verify_key == row.verify_key
    last = db_session.scalar(select(AuditEntry).order_by(AuditEntry.seq.desc()))
    assert (last.action, last.actor, json.loads(last.detail)) == (
        "audit_signed",
        "committee-key",
        {"length": 10, "statement": 1},
    )
    monkeypatch.setenv("WHISTLE_PASSPHRASE", KEY_PASSPHRASE)
    assert cli_env.invoke(main, ["audit", "sign", "--key", str(path)]).exit_code == 0
    result = verify(cli_env)
    assert result.exit_code == 0 and "audit log intact: 12 entries" in result.output
    assert "signed statements checked: 2" in result.output
    monkeypatch.setenv("WHISTLE_PASSPHRASE", "wrong passphrase")
    wrong = cli_env.invoke(main, ["audit", "sign", "--key", str(path)])
    assert wrong.exit_code != 0 and "wrong passphrase" in wrong.output
    assert cli_env.invoke(main, ["audit", "sign"]).exit_code != 0  # neither --key nor --share


def test_cli_commands_with_the_committee_key_are_audited(app, client, cli_env, tmp_path, db_session):
    runner = cli_env
    key = tmp_path / "committee.key"
    result = runner.invoke(
        main, ["keys", "init", "--out", str(key)], input="a long committee passphrase\na long committee passphrase\n"
    )
    assert result.exit_code == 0, result.output
    kid = db_session.scalar(select(CommitteeKey.kid))
    assert "verify key" in result.output
    client.post(
        "/report/general", data=report_form("AUDIT-MARKER", category="bribery"), content_type="multipart/form-data"
    )
    case_id = db_session.scalar(select(Case.id))
    steps = [
        (
            ["cases", "decrypt", case_id[:8], "--key", str(key), "--out", str(tmp_path / "out")],
            "a long committee passphrase\n",
        ),
        (["cases", "status", case_id, "acknowledged"], None),
        (["cases", "reply", case_id, "--message", "please add the contract number"], None),
        (["cases", "export", case_id, "--out", str(tmp_path / "sealed")], None),
    ]
    for args, stdin in steps:
        result = runner.invoke(main, args, input=stdin)
        assert result.exit_code == 0, result.output
    db_session.expire_all()
    entries = db_session.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
    assert [(e.action, e.actor, e.case_id) for e in entries] == [
        ("key_registered", "cli", None),
        ("decrypt", "committee-key", case_id),
        ("status", "cli", case_id),
        ("reply", "cli", case_id),
        ("export", "cli", case_id),
    ]
    assert json.loads(entries[0].detail) == {"kid": kid}
    assert json.loads(entries[2].detail) == {"event": "acknowledged"}
    assert all("AUDIT-MARKER" not in e.detail and "contract" not in e.detail for e in entries)
    assert db_session.get(CommitteeKey, kid).verify_key is not None
    assert verify(runner).exit_code == 0


def test_record_is_usable_by_other_modules(app, db_session):
    """Purge (whistle.custody.retention) and other helpers append in their own transaction."""
    entry = audit.record(db_session, "purge", actor=None, on=DAY, case_id=CASE, items=3)
    db_session.rollback()  # not committed: nothing lands, the head is untouched
    assert audit.count(db_session) == 0 and audit.head(db_session) == (0, audit.GENESIS)
    entry = audit.record(db_session, "purge", actor=None, on=DAY, case_id=CASE, items=3)
    db_session.commit()
    assert entry.seq == 1 and audit.verify(db_session).ok


# --- the public page ------------------------------------------------------------------------


def test_transparency_page_and_json(signed_log, client, committee, db_session):
    keypair = committee[0]
    length, head = audit.head(db_session)
    resp = client.get("/transparency")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "Set-Cookie" not in resp.headers and resp.headers["Content-Security-Policy"] == CSP
    assert f'<dd id="audit-length">{length}</dd>' in html and head in html
    digest = hashlib.blake2b(keypair.public, digest_size=32).hexdigest()
    assert " ".join(digest[i : i + 4] for i in range(0, 64, 4)) in html
    assert keypair.kid in html
    row = db_session.scalar(select(AuditStatement))
    assert row.signature in html and row.verify_key in html
    resp = client.get("/transparency/audit-head.json")
    assert resp.status_code == 200 and "Set-Cookie" not in resp.headers
    data = resp.get_json()
    assert data["audit"] == {"length": length, "head": head}
    assert data["committee_keys"][0]["kid"] == keypair.kid
    assert data["committee_keys"][0]["audit_verify_key"] == row.verify_key
    statement = data["statement"]
    assert statement["statement"]["length"] == 10 and statement["canonical"] == signing.canonical(
        statement["statement"]
    )
    signing.verify(statement["verify_key"], statement["statement"], statement["signature"])


def test_transparency_page_without_keys_or_statements(app, client):
    resp = client.get("/transparency")
    assert resp.status_code == 200 and "Set-Cookie" not in resp.headers
    data = client.get("/transparency/audit-head.json").get_json()
    assert data == {
        "v": 1,
        "committee_keys": [],
        "audit": {"length": 0, "head": "0" * 64},
        "statement": None,
        "log": {"origin": "whistle.invalid/audit", "vkeys": [], "checkpoint": None},
    }


def test_cli_audit_head_prints_the_published_json(signed_log, cli_env, db_session):
    result = cli_env.invoke(main, ["audit", "head"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["audit"] == dict(zip(("length", "head"), audit.head(db_session)))
