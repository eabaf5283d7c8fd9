"""The public log wired into the audit log: every entry a leaf, appended with it; checkpoints
signed by `whistle audit sign`; the HTTP interface of docs/transparency-log.md §7; witness
cosignatures accepted only from the rules file's witnesses."""

import base64
import datetime as dt
import time

import nacl.signing
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from crypto import note, signing, tlog
from whistle import migrate
from whistle.custody import audit, public_log
from whistle.db import make_engine
from whistle.services import services

from tests.conftest import make_config

DAY = dt.date(2025, 3, 3)
ORIGIN = "whistle.invalid/audit"


def _record(app, n, start=0):
    with Session(services(app).engine) as s:
        for i in range(start, start + n):
            audit.record(s, "view", actor="zhao.lei", on=DAY, case_id=f"{i:032x}", reason="见面谈话 note")
        s.commit()


def _sign(app, keypair):
    with Session(services(app).engine, expire_on_commit=False) as s:
        audit.sign(s, keypair, DAY, origin=ORIGIN)
        s.commit()


def _log_verifier(keypair):
    return public_log.log_verifier(ORIGIN, signing.verify_key_of(keypair.secret))


def test_every_entry_is_a_leaf_appended_with_it(app):
    _record(app, 13)
    with Session(services(app).engine) as s:
        leaves = public_log.entries(s, 0, 13)
        assert len(leaves) == 13
        store = public_log.DbStore(s)
        assert tlog.root_hash(store, 13) == tlog.root_of(leaves)
        assert tlog.root_hash(store, 5) == tlog.root_of(leaves[:5])
        # Stored: one leaf per entry plus the completed subtrees, nothing recomputed later.
        count = s.scalar(text("SELECT count(*) FROM log_nodes"))
        assert count == 13 + 6 + 3 + 1
    # The leaf is the canonical JSON of the entry, its free text withheld.
    assert leaves[0].startswith(b'{"action":"view","actor":"zhao.lei","case_id":"0000')
    assert b'"reason":"withheld"' in leaves[0] and "见面".encode() not in leaves[0]


def test_an_entry_that_fails_writes_no_node(app):
    with Session(services(app).engine) as s:
        audit.record(s, "login", actor="zhao.lei", on=DAY)
        s.rollback()
    with services(app).engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM log_nodes")) == 0


def test_sign_writes_a_checkpoint_and_the_endpoints_prove_it(app, client, committee):
    keypair, _path = committee
    _record(app, 9)
    _sign(app, keypair)  # checkpoint of size 9 + (key_registered) ...
    resp = client.get("/log/checkpoint")
    assert resp.status_code == 200 and resp.mimetype == "text/plain"
    assert "Set-Cookie" not in resp.headers
    opened = note.open_checkpoint(resp.get_data(as_text=True), _log_verifier(keypair))
    size = opened.checkpoint.size
    assert size >= 9
    entries = client.get(f"/log/entries?start=0&end={size}").get_json()
    leaves = [base64.b64decode(e) for e in entries["entries"]]
    assert tlog.root_of(leaves) == opened.checkpoint.root
    for index in (0, 4, size - 1):
        proof = client.get(f"/log/proof/inclusion?index={index}&size={size}").get_json()
        assert base64.b64decode(proof["leaf_hash"]) == tlog.leaf_hash(leaves[index])
        tlog.verify_inclusion(
            tlog.leaf_hash(leaves[index]),
            index,
            size,
            [base64.b64decode(h) for h in proof["proof"]],
            opened.checkpoint.root,
        )
    _record(app, 7, start=20)
    _sign(app, keypair)
    newer = note.open_checkpoint(client.get("/log/checkpoint").get_data(as_text=True), _log_verifier(keypair))
    proof = client.get(f"/log/proof/consistency?from={size}&to={newer.checkpoint.size}").get_json()
    tlog.verify_consistency(
        size,
        newer.checkpoint.size,
        [base64.b64decode(h) for h in proof["proof"]],
        opened.checkpoint.root,
        newer.checkpoint.root,
    )
    with Session(services(app).engine) as s:
        assert audit.verify(s).ok


@pytest.mark.parametrize(
    "query, status",
    [
        ("/log/proof/inclusion?index=3&size=2", 400),
        ("/log/proof/inclusion?index=x&size=2", 400),
        ("/log/proof/inclusion?index=0&size=999", 404),
        ("/log/proof/consistency?from=5&to=2", 400),
        ("/log/proof/consistency?from=0&to=999", 404),
        ("/log/entries?start=2&end=2", 400),
        ("/log/entries?start=0&end=999", 404),
        ("/log/entries?start=-1&end=2", 400),
        ("/log/proof/inclusion?index=0&size=99999999999999999999", 400),
    ],
)
def test_bad_parameters_are_4xx(app, client, query, status):
    _record(app, 3)
    resp = client.get(query)
    assert resp.status_code == status and resp.is_json


def test_no_checkpoint_yet_is_404(app, client):
    assert client.get("/log/checkpoint").status_code == 404


def _witness_rules(tmp_path, vkeys, quorum=1):
    from whistle.config import PACKAGE_DIR

    base = (PACKAGE_DIR / "data" / "rules.example.toml").read_text(encoding="utf-8")
    extra = "".join(f'\n[[witnesses]]\nname = "{v.split("+")[0]}"\nvkey = "{v}"\n' for v in vkeys)
    path = tmp_path / "rules.toml"
    path.write_text(base + extra + f"\n[witnessing]\nquorum = {quorum}\nmax_age_days = 7\n", encoding="utf-8")
    return path


def test_cosignatures_only_from_configured_witnesses(config, tmp_path):
    from tests.conftest import build_app

    witness = nacl.signing.SigningKey.generate()
    stranger = nacl.signing.SigningKey.generate()
    vkey = note.verifier_of("auditor.example", witness, note.COSIGNATURE_V1).vkey()
    app = build_app(config.with_(rules_file=_witness_rules(tmp_path, [vkey])))
    try:
        keypair = _committee(app)
        _record(app, 4)
        _sign(app, keypair)
        client = app.test_client()
        served = client.get("/log/checkpoint").get_data(as_text=True)
        body = note.parse_note(served).text
        now = int(time.time())
        good = served + note.cosign(body, "auditor.example", witness, now).line()
        bad_line = note.cosign(body, "auditor.example", stranger, now)
        forged = (
            served
            + note.Signature(
                "auditor.example",
                note.key_id("auditor.example", note.COSIGNATURE_V1, bytes(witness.verify_key)),
                bad_line.signature,
            ).line()
        )
        unknown = served + note.cosign(body, "stranger", stranger, now).line()
        assert client.post("/log/cosignature", data=forged, content_type="text/plain").status_code == 400
        assert client.post("/log/cosignature", data=unknown, content_type="text/plain").status_code == 400
        other = note.Checkpoint(ORIGIN, 4, bytes(32)).body()
        assert (
            client.post(
                "/log/cosignature", data=note.sign_note(other, "auditor.example", witness), content_type="text/plain"
            ).status_code
            == 400
        )
        assert client.post("/log/cosignature", data=b"\xff", content_type="text/plain").status_code == 400
        resp = client.post("/log/cosignature", data=good, content_type="text/plain")
        assert resp.status_code == 204, resp.get_data(as_text=True)
        cosigned = client.get("/log/checkpoint").get_data(as_text=True)
        opened = note.open_checkpoint(cosigned, _log_verifier(keypair), [note.parse_vkey(vkey)], quorum=1)
        assert opened.cosignatures == {"auditor.example": now}
    finally:
        services(app).engine.dispose()


def _committee(app):
    from crypto.keys import KeyPair
    from whistle.models import CommitteeKey

    keypair = KeyPair.generate()
    with Session(services(app).engine) as s:
        s.add(CommitteeKey(kid=keypair.kid, public_key=keypair.public, label="c", created_on=DAY))
        s.commit()
    return keypair


def test_migration_builds_the_tree_of_existing_entries(tmp_path):
    cfg = make_config(tmp_path)
    engine = make_engine(cfg.database_url)
    try:
        migrate.upgrade(engine, "0008")
        prev = audit.GENESIS
        with engine.begin() as conn:
            for seq in range(1, 8):
                digest = audit.entry_digest(prev, seq, DAY, "zhao.lei", "login", None, "{}")
                conn.execute(
                    text(
                        "INSERT INTO audit_log (seq, day, actor, action, case_id, detail, prev_hash, "
                        "entry_hash) VALUES (:s, :d, 'zhao.lei', 'login', NULL, '{}', :p, :h)"
                    ),
                    dict(s=seq, d=DAY, p=prev, h=digest),
                )
                prev = digest
            conn.execute(
                text(
                    "INSERT INTO audit_head (id, length, head_hash) VALUES (1, 7, :h) "
                    "ON CONFLICT (id) DO UPDATE SET length = 7, head_hash = :h"
                ),
                dict(h=prev),
            )
        migrate.upgrade(engine, "heads")
        with Session(engine) as s:
            assert audit.verify(s).ok
            audit.record(s, "logout", actor="zhao.lei", on=DAY)
            s.commit()
            assert audit.verify(s).ok
            assert tlog.root_hash(public_log.DbStore(s), 8) == tlog.root_of(public_log.entries(s, 0, 8))
    finally:
        engine.dispose()


def test_edited_leaf_and_resigned_checkpoint_are_named(app, committee, db_session):
    keypair, _path = committee
    _record(app, 6)
    _sign(app, keypair)
    engine = services(app).engine
    with engine.begin() as conn:
        conn.execute(text("UPDATE log_nodes SET hash = :h WHERE level = 0 AND idx = 2"), dict(h=bytes(32)))
    verdict = audit.verify(db_session)
    assert verdict.first_bad == 3 and verdict.problem == audit.NOT_IN_LOG
    with engine.begin() as conn:
        real = tlog.leaf_hash(public_log.entries(Session(bind=conn), 2, 3)[0])
        conn.execute(text("UPDATE log_nodes SET hash = :h WHERE level = 0 AND idx = 2"), dict(h=real))
        forged = note.sign_checkpoint(note.Checkpoint(ORIGIN, 3, bytes(32)), nacl.signing.SigningKey.generate())
        conn.execute(text("INSERT INTO log_checkpoints (size, day, note) VALUES (3, :d, :n)"), dict(d=DAY, n=forged))
    db_session.expire_all()
    verdict = audit.verify(db_session)
    assert verdict.problem == audit.BAD_CHECKPOINT and verdict.first_bad == 3
