"""The split committee key through the `whistle keys` CLI: the ceremony (3-of-5), recovery
from any 3 shares, refusal with 2, and re-granting an orphaned case to a member (and not
to a conflicted one). Runs on SQLite, and on PostgreSQL when configured."""

import json
from pathlib import Path

import nacl.bindings as sodium
import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from crypto import envelope as env
from crypto.encoding import b64u, unb64u
from crypto.keyfile import unwrap
from crypto.shares import NotEnoughShares
from crypto.signing import verify_key_of
from whistle.custody import audit, ceremony
from whistle.committee import members
from whistle.cases.store import item_envelope
from whistle.clock import today
from whistle.cli import main
from whistle.models import AuditEntry, Case, CaseGrant, CommitteeKey, ItemKey, Member
from whistle.services import services

from tests.client_side import HEADER, seal_report
from tests.committee.conftest import enrol

CHEAP = ["--kdf-opslimit", "1", "--kdf-memlimit", str(8 * 1024 * 1024)]
HOLDERS = ["chen.jie", "liu.yang", "zhang.wei", "zhao.lei", "sun.hao"]
PASSPHRASES = {name: f"{name} keeps this share safe" for name in HOLDERS}
HOUSING = dict(HEADER, department="housing", accused_rank="leadership")  # stationed_1: zhao.lei, not li.na


@pytest.fixture
def cli_env(config, monkeypatch):
    monkeypatch.setenv("WHISTLE_INSTANCE_DIR", str(config.instance_dir))
    monkeypatch.setenv("WHISTLE_DATABASE_URL", config.database_url)
    for name in ["WHISTLE_PASSPHRASE"] + [f"WHISTLE_SHARE_PASSPHRASE_{i}" for i in range(1, 17)]:
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


def _typed(names) -> str:
    """What the holders type at the recovery prompts, in share order."""
    return "".join(f"{PASSPHRASES[n]}\n" for n in names)


def _ceremony(runner, out_dir: Path, holders=HOLDERS, threshold=3):
    """The 3-of-5 ceremony, each holder typing (and confirming) their own passphrase."""
    args = [
        "keys",
        "init",
        "--shares",
        str(len(holders)),
        "--threshold",
        str(threshold),
        "--out-dir",
        str(out_dir),
        "--label",
        "split committee key",
        *CHEAP,
    ]
    for name in holders:
        args += ["--holder", name]
    typed = "".join(f"{PASSPHRASES[n]}\n{PASSPHRASES[n]}\n" for n in holders)
    result = runner.invoke(main, args, input="short\nshort\n" + typed)  # a too-short one is asked again
    assert result.exit_code == 0, result.output
    assert "at least 12 characters" in result.output
    return result


def _share(out_dir: Path, name: str) -> Path:
    return out_dir / f"{name}.share"


def _recover(runner, out_dir, names, *extra):
    args = ["keys", "recover"]
    for name in names:
        args += ["--share", str(_share(out_dir, name))]
    return runner.invoke(main, args + list(extra), input=_typed(names))


def _case(db_session):
    db_session.expire_all()
    return db_session.scalar(select(Case))


def _actions(db_session, action):
    db_session.expire_all()
    return db_session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)).all()


def _every_file_under(path: Path):
    return [p for p in path.rglob("*") if p.is_file()]


def test_ceremony_round_trip_3_of_5(app, client, cli_env, tmp_path, db_session):
    runner, out_dir = cli_env, tmp_path / "shares"
    result = _ceremony(runner, out_dir)
    files = sorted(out_dir.iterdir())
    assert [p.name for p in files] == sorted(f"{n}.share" for n in HOLDERS)
    assert all(oct(p.stat().st_mode & 0o777) == "0o600" for p in files)
    key_row = db_session.scalar(select(CommitteeKey).where(CommitteeKey.active.is_(True)))
    headers = [json.loads(_share(out_dir, n).read_text()) for n in HOLDERS]
    assert {h["committee_kid"] for h in headers} == {key_row.kid} and key_row.kid in result.output
    assert [(h["holder"], h["index"], h["threshold"], h["count"]) for h in headers] == [
        (n, i, 3, 5) for i, n in enumerate(HOLDERS, start=1)
    ]
    assert key_row.label == "split committee key" and not key_row.demo
    assert key_row.verify_key and f"verify key: {key_row.verify_key}" in result.output  # as `keys init --out`

    # A report sealed to the new key, then any three holders rebuild the key.
    resp, _code, _keys = seal_report(client, "CEREMONY-MARKER", header=HOUSING)
    assert resp.status_code == 201, resp.get_json()
    result = _recover(runner, out_dir, ["sun.hao", "chen.jie", "zhang.wei"])
    assert result.exit_code == 0, result.output
    assert f"committee key {key_row.kid} rebuilt in memory" in result.output
    assert result.output.count("Passphrase of") == 3
    # Other holders, passphrases from the environment this time (scripts).
    env_vars = {
        "WHISTLE_SHARE_PASSPHRASE_2": PASSPHRASES["liu.yang"],
        "WHISTLE_SHARE_PASSPHRASE_4": PASSPHRASES["zhao.lei"],
        "WHISTLE_SHARE_PASSPHRASE_5": PASSPHRASES["sun.hao"],
    }
    result = runner.invoke(
        main,
        [
            "keys",
            "recover",
            "--share",
            str(_share(out_dir, "liu.yang")),
            "--share",
            str(_share(out_dir, "zhao.lei")),
            "--share",
            str(_share(out_dir, "sun.hao")),
        ],
        env=env_vars,
    )
    assert result.exit_code == 0, result.output
    assert "Passphrase of" not in result.output

    # The function the CLI wraps gives the key itself: it opens the report.
    keypair = ceremony.recover_committee_key(
        [(_share(out_dir, n).read_text(), PASSPHRASES[n]) for n in ("zhao.lei", "liu.yang", "chen.jie")], db=db_session
    )
    assert keypair.public == bytes(key_row.public_key)
    assert key_row.verify_key == b64u(verify_key_of(keypair.secret))
    body, _ = env.open_envelope(item_envelope(_case(db_session).items[0]), keypair)
    assert body["narrative"] == "CEREMONY-MARKER"
    # The private key was never written: not in a share, not in the instance dir, nowhere.
    for path in _every_file_under(tmp_path):
        data = path.read_bytes()
        for form in (keypair.secret, b64u(keypair.secret).encode(), keypair.secret.hex().encode()):
            assert form not in data, path
    # The ceremony and both recoveries are in the audit log, chain intact.
    [split] = _actions(db_session, "key_split")
    assert (split.actor, json.loads(split.detail)["threshold"], json.loads(split.detail)["holders"]) == (
        "committee-key",
        3,
        HOLDERS,
    )
    recovered = _actions(db_session, "key_recovered")
    assert [json.loads(e.detail)["holders"] for e in recovered] == [
        ["chen.jie", "sun.hao", "zhang.wei"],
        ["liu.yang", "sun.hao", "zhao.lei"],
    ]
    assert {e.actor for e in recovered} == {"committee-key"}
    assert audit.verify(db_session)[1] is None


def test_two_shares_of_three_recover_nothing(app, client, cli_env, tmp_path, db_session):
    runner, out_dir = cli_env, tmp_path / "shares"
    _ceremony(runner, out_dir)
    resp, _code, _keys = seal_report(client, "ORPHAN", header=HOUSING)  # nobody enrolled: an orphan
    assert resp.status_code == 201
    enrol(app, "zhao.lei")
    audit_length = audit.count(db_session)
    result = _recover(runner, out_dir, ["chen.jie", "zhao.lei"], "--regrant-orphans-to", "zhao.lei")
    assert result.exit_code == 1
    assert "2 of 3 shares given: 3 needed; nothing was recovered" in result.output
    assert "Fewer than 3 shares reveal nothing about the key" in result.output
    assert "Passphrase of" not in result.output  # refused before anyone typed a passphrase
    assert "rebuilt" not in result.output and "re-granted" not in result.output
    db_session.expire_all()
    assert db_session.scalars(select(CaseGrant)).all() == [] and db_session.scalars(select(ItemKey)).all() == []
    assert audit.count(db_session) == audit_length
    # The function says the same, with the numbers, and opens nothing.
    with pytest.raises(NotEnoughShares) as caught:
        ceremony.recover_committee_key(
            [(_share(out_dir, n).read_text(), PASSPHRASES[n]) for n in ("chen.jie", "zhao.lei")], db=db_session
        )
    assert (caught.value.have, caught.value.need) == (2, 3)
    # Lowering the threshold written in the files does not help: the clear fields are sealed in.
    for name in ("chen.jie", "zhao.lei"):
        data = json.loads(_share(out_dir, name).read_text())
        data["threshold"] = 2
        _share(out_dir, name).write_text(json.dumps(data))
    result = _recover(runner, out_dir, ["chen.jie", "zhao.lei"], "--regrant-orphans-to", "zhao.lei")
    assert result.exit_code == 1 and "wrong passphrase or damaged share file" in result.output
    assert db_session.scalars(select(CaseGrant)).all() == []


def test_wrong_passphrase_or_mixed_ceremonies_are_refused(app, cli_env, tmp_path, db_session):
    runner, out_dir = cli_env, tmp_path / "shares"
    _ceremony(runner, out_dir)
    args = ["keys", "recover"] + [
        a for n in ("chen.jie", "liu.yang", "sun.hao") for a in ("--share", str(_share(out_dir, n)))
    ]
    typed = f"{PASSPHRASES['chen.jie']}\n{PASSPHRASES['zhao.lei']}\n{PASSPHRASES['sun.hao']}\n"
    result = runner.invoke(main, args, input=typed)
    assert result.exit_code == 1
    assert "share 2 (liu.yang): wrong passphrase or damaged share file" in result.output
    assert _actions(db_session, "key_recovered") == []
    # Shares of a second ceremony do not mix with the first.
    other = tmp_path / "other"
    _ceremony(runner, other)
    result = runner.invoke(
        main,
        [
            "keys",
            "recover",
            "--share",
            str(_share(out_dir, "chen.jie")),
            "--share",
            str(_share(other, "liu.yang")),
            "--share",
            str(_share(out_dir, "sun.hao")),
        ],
        input=_typed(HOLDERS),
    )
    assert result.exit_code == 1 and "different committee keys" in result.output
    result = runner.invoke(
        main,
        [
            "keys",
            "recover",
            "--share",
            str(_share(out_dir, "chen.jie")),
            "--share",
            str(_share(out_dir, "chen.jie")),
            "--share",
            str(_share(out_dir, "sun.hao")),
        ],
        input=_typed(HOLDERS),
    )
    assert result.exit_code == 1 and "share 1 (chen.jie) is given twice" in result.output


def test_orphaned_case_is_regranted_but_never_to_a_conflicted_member(app, client, cli_env, tmp_path, db_session):
    runner, out_dir = cli_env, tmp_path / "shares"
    _ceremony(runner, out_dir)
    # Nobody is enrolled yet: the housing report is sealed to the committee key alone.
    resp, _code, _keys = seal_report(client, "ORPHAN-MARKER", header=HOUSING, files=[("p.txt", b"PROOF")])
    assert resp.status_code == 201, resp.get_json()
    case = _case(db_session)
    assert len(item_envelope(case.items[0])["recipients"]) == 1
    zhao, li = enrol(app, "zhao.lei"), enrol(app, "li.na")
    assert zhao.api("get", f"/committee/api/cases/{case.id}").status_code == 404  # no grant, no key
    result = runner.invoke(main, ["keys", "recover", "--list-orphans"])  # needs no share
    assert result.exit_code == 0 and "1 orphaned case(s)" in result.output and case.id in result.output

    # li.na works at the housing bureau: the re-grant is refused, and recorded.
    result = _recover(runner, out_dir, ["chen.jie", "liu.yang", "zhang.wei"], "--regrant", f"{case.id[:8]}=li.na")
    assert result.exit_code == 1
    assert f"refused: {case.id}: not re-granted to li.na (conflict)" in result.output
    [refused] = _actions(db_session, "refused_grant")
    assert (refused.actor, refused.case_id) == ("committee-key", case.id)
    assert json.loads(refused.detail) == {"to": "li.na", "reason": "conflict"}
    assert db_session.scalars(select(CaseGrant)).all() == [] and db_session.scalars(select(ItemKey)).all() == []

    result = _recover(runner, out_dir, ["chen.jie", "liu.yang", "zhang.wei"], "--regrant", "abcdef12=zhao.lei")
    assert result.exit_code == 1 and "no single case" in result.output and "Passphrase of" not in result.output

    # Re-granting every orphan to zhao.lei: the committee key re-seals each item's key to him.
    result = _recover(runner, out_dir, ["zhao.lei", "sun.hao", "chen.jie"], "--regrant-orphans-to", "zhao.lei")
    assert result.exit_code == 0, result.output
    assert f"re-granted {case.id} to zhao.lei (1 item key(s) sealed to them)" in result.output
    db_session.expire_all()
    [grant] = db_session.scalars(select(CaseGrant)).all()
    zhao_row = db_session.scalar(select(Member).where(Member.username == "zhao.lei"))
    assert (grant.case_id, grant.member_id, grant.granted_by) == (case.id, zhao_row.id, "committee-key")
    [regranted] = _actions(db_session, "regrant")
    assert (regranted.actor, regranted.case_id, json.loads(regranted.detail)["to"]) == (
        "committee-key",
        case.id,
        "zhao.lei",
    )

    # zhao.lei opens it in the workspace with the granted key, as his browser would.
    view = zhao.api("get", f"/committee/api/cases/{case.id}")
    assert view.status_code == 200
    [item] = view.get_json()["items"]
    assert item["granted_key"] is not None
    content_key = sodium.crypto_box_seal_open(unb64u(item["granted_key"]), zhao.keypair.public, zhao.keypair.secret)
    assert env.open_body(item["envelope"], content_key)["narrative"] == "ORPHAN-MARKER"
    attachment = item["attachments"][0]["id"]
    assert zhao.api("get", f"/committee/api/attachments/{attachment}").status_code == 200
    assert li.api("get", f"/committee/api/cases/{case.id}").status_code == 404
    # No longer an orphan; a second run has nothing to do.
    result = runner.invoke(main, ["keys", "recover", "--list-orphans"])
    assert result.exit_code == 0 and "no orphaned cases" in result.output
    assert audit.verify(db_session)[1] is None


def test_regrant_functions(app, client, cli_env, tmp_path, db_session):
    """The functions the CLI wraps: a refused grant raises after recording it; a member who
    enrolled a new key after losing their passphrase can no longer open their cases, so
    those cases count as orphaned again, and a re-grant gives the new key access."""
    runner, out_dir = cli_env, tmp_path / "shares"
    _ceremony(runner, out_dir)
    assert seal_report(client, "FN-MARKER", header=HOUSING)[0].status_code == 201
    enrol(app, "zhao.lei")
    enrol(app, "li.na")
    rules = services(app).rules
    keypair = ceremony.recover_committee_key(
        [(_share(out_dir, n).read_text(), PASSPHRASES[n]) for n in ("zhao.lei", "liu.yang", "chen.jie")], db=db_session
    )
    on = today("Asia/Shanghai")
    case = _case(db_session)
    assert ceremony.orphaned_cases(db_session, rules) == [case]
    with pytest.raises(ceremony.GrantRefused) as caught:
        ceremony.regrant(db_session, rules, keypair, case, ceremony.member_by_username(db_session, "li.na"), on)
    assert caught.value.reason == "conflict"
    assert (
        ceremony.regrant(db_session, rules, keypair, case, ceremony.member_by_username(db_session, "zhao.lei"), on) == 1
    )
    db_session.commit()
    assert ceremony.orphaned_cases(db_session, rules) == []
    assert [m.username for m in ceremony.readers(db_session, rules, case)] == ["zhao.lei"]
    assert [e.action for e in _actions(db_session, "refused_grant")] == ["refused_grant"]
    # zhao.lei lost his key passphrase and enrolled a new key: his grant no longer opens anything.
    with Session(services(app).engine) as s:
        members.invite(s, "zhao.lei", on)
        s.commit()
    zhao = enrol(app, "zhao.lei")
    db_session.expire_all()
    assert ceremony.orphaned_cases(db_session, rules) == [_case(db_session)]
    result = _recover(runner, out_dir, ["chen.jie", "liu.yang", "zhang.wei"], "--regrant-orphans-to", "zhao.lei")
    assert result.exit_code == 0, result.output
    view = zhao.api("get", f"/committee/api/cases/{case.id}").get_json()
    assert view["items"][0]["granted_key"] is not None
    assert ceremony.orphaned_cases(db_session, rules) == []


def test_ceremony_refusals_write_nothing(app, cli_env, tmp_path, db_session):
    runner, out_dir = cli_env, tmp_path / "shares"

    def init(*args, holders=("a.one", "b.two", "c.three")):
        argv = ["keys", "init", "--out-dir", str(out_dir), *CHEAP, *args]
        for name in holders:
            argv += ["--holder", name]
        return runner.invoke(main, argv, input="a long passphrase here\n" * 40)

    cases = [
        (init("--shares", "3", "--threshold", "1"), "at least 2"),
        (init("--shares", "3", "--threshold", "4"), "cannot exceed the number of shares"),
        (init("--shares", "17", "--threshold", "3", holders=[f"h{i}" for i in range(17)]), "at most 16"),
        (init("--shares", "3", "--threshold", "2", holders=("a.one", "b.two", "A.ONE")), "listed twice"),
        (init("--shares", "3", "--threshold", "2", holders=("a.one", "../b", "c.three")), "holder '../b'"),
        (init("--shares", "4", "--threshold", "2"), "needs 4 --holder names (3 given)"),
        (init("--shares", "3"), "needs --threshold"),
        (init("--shares", "3", "--threshold", "2", "--out", str(tmp_path / "k")), "for one key file"),
    ]
    for result, message in cases:
        assert result.exit_code != 0 and message in result.output, (message, result.output)
    assert not out_dir.exists() or list(out_dir.iterdir()) == []
    out_dir.mkdir()
    (out_dir / "b.two.share").write_text("keep me")
    result = init("--shares", "3", "--threshold", "2")
    assert result.exit_code != 0 and "exists; refusing to overwrite" in result.output
    assert "Passphrase" not in result.output  # refused before anyone typed
    assert sorted(p.name for p in out_dir.iterdir()) == ["b.two.share"]
    assert (out_dir / "b.two.share").read_text() == "keep me"
    assert db_session.scalars(select(CommitteeKey)).all() == []


def test_single_key_file_still_works(app, cli_env, tmp_path, db_session):
    runner = cli_env
    key = tmp_path / "committee.key"
    passphrase_file = tmp_path / "pass"
    passphrase_file.write_text("one long committee passphrase\n")
    result = runner.invoke(main, ["keys", "init", "--out", str(key), "--passphrase-file", str(passphrase_file), *CHEAP])
    assert result.exit_code == 0, result.output
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    keypair = unwrap(key.read_text(), "one long committee passphrase")
    row = db_session.scalar(select(CommitteeKey))
    assert row.kid == keypair.kid and bytes(row.public_key) == keypair.public and row.active
    assert runner.invoke(main, ["keys", "init"]).exit_code != 0  # neither --out nor --shares
    result = runner.invoke(main, ["keys", "init", "--out", str(tmp_path / "k2"), "--threshold", "2"])
    assert result.exit_code != 0 and "need --shares" in result.output
    result = runner.invoke(main, ["keys", "init", "--out", str(key), "--passphrase-file", str(passphrase_file)])
    assert result.exit_code != 0 and "refusing to overwrite" in result.output


def test_a_share_file_of_deeply_nested_json_is_refused_by_name(app, cli_env, tmp_path):
    share = tmp_path / "deep.share"
    share.write_text("[" * 100_000 + "]" * 100_000)
    result = cli_env.invoke(main, ["keys", "recover", "--share", str(share)])
    assert result.exit_code == 1 and not isinstance(result.exception, RecursionError)
    assert f"{share}: not a whistle key-share file" in result.output


def test_a_single_key_file_regrants_reports_filed_before_anyone_enrolled(app, client, cli_env, tmp_path, db_session):
    """The demo's first day in the README's order: a report, then a member enrols; the one
    key file (as the demo key) re-grants the report to them, and that use is audited."""
    runner = cli_env
    key, passphrase_file = tmp_path / "committee.key", tmp_path / "pass"
    passphrase_file.write_text("one long committee passphrase\n")
    result = runner.invoke(main, ["keys", "init", "--out", str(key), "--passphrase-file", str(passphrase_file), *CHEAP])
    assert result.exit_code == 0, result.output
    resp, _code, _keys = seal_report(client, "EARLY-MARKER", header=HOUSING)
    assert resp.status_code == 201
    case = _case(db_session)
    zhao = enrol(app, "zhao.lei")
    assert zhao.api("get", f"/committee/api/cases/{case.id}").status_code == 404
    result = runner.invoke(main, ["keys", "recover", "--regrant-orphans-to", "zhao.lei"])
    assert result.exit_code != 0 and "--key FILE" in result.output
    result = runner.invoke(
        main,
        [
            "keys",
            "recover",
            "--key",
            str(key),
            "--passphrase-file",
            str(passphrase_file),
            "--regrant-orphans-to",
            "zhao.lei",
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"re-granted {case.id} to zhao.lei" in result.output
    [opened] = _actions(db_session, "key_opened")
    assert opened.actor == "committee-key" and json.loads(opened.detail) == {
        "key": unwrap(key.read_text(), "one long committee passphrase").kid
    }
    [regranted] = _actions(db_session, "regrant")
    assert regranted.case_id == case.id
    item = zhao.api("get", f"/committee/api/cases/{case.id}").get_json()["items"][0]
    content_key = sodium.crypto_box_seal_open(unb64u(item["granted_key"]), zhao.keypair.public, zhao.keypair.secret)
    assert env.open_body(item["envelope"], content_key)["narrative"] == "EARLY-MARKER"
    assert audit.verify(db_session)[1] is None
