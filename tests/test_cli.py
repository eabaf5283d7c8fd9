"""The `whistle` command, run through Click's runner against the test app's database."""

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from whistle.cli import main
from whistle.models import Case, CommitteeKey

from tests.client_side import HEADER
from tests.helpers import receipt_from, report_form


@pytest.fixture
def cli_env(config, monkeypatch):
    monkeypatch.setenv("WHISTLE_INSTANCE_DIR", str(config.instance_dir))
    monkeypatch.setenv("WHISTLE_DATABASE_URL", config.database_url)
    monkeypatch.delenv("WHISTLE_PASSPHRASE", raising=False)
    return CliRunner()


def test_keys_init_decrypt_reply_status(app, client, cli_env, tmp_path, db_session):
    runner = cli_env
    key = tmp_path / "committee.key"
    result = runner.invoke(
        main, ["keys", "init", "--out", str(key)], input="a long committee passphrase\na long committee passphrase\n"
    )
    assert result.exit_code == 0, result.output
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    assert "box" in json.loads(key.read_text()) and "secret" not in key.read_text()
    page = client.post(
        "/report/general",
        data=report_form("CLI-MARKER", files=[("n.txt", b"NOTE")], category="bribery"),
        content_type="multipart/form-data",
    )
    code = receipt_from(page.get_data(as_text=True))
    case_id = db_session.scalar(select(Case.id))
    out = tmp_path / "out"
    wrong = runner.invoke(
        main, ["cases", "decrypt", case_id[:8], "--key", str(key), "--out", str(out)], input="wrong passphrase\n"
    )
    assert wrong.exit_code != 0 and "wrong passphrase" in wrong.output
    result = runner.invoke(
        main,
        ["cases", "decrypt", case_id[:8], "--key", str(key), "--out", str(out)],
        input="a long committee passphrase\n",
    )
    assert result.exit_code == 0, result.output
    assert "CLI-MARKER" in result.output
    assert (out / case_id / "attachments" / "001-01-n.txt").read_bytes() == b"NOTE"
    assert runner.invoke(main, ["cases", "status", case_id, "acknowledged"]).exit_code == 0
    result = runner.invoke(main, ["cases", "reply", case_id, "--message", "CLI-REPLY 请补充"])
    assert result.exit_code == 0, result.output
    html = client.post("/followup", data={"code": code}).get_data(as_text=True)
    assert "CLI-REPLY 请补充" in html


def test_demo_then_real_key_retires_demo(app, cli_env, tmp_path, db_session):
    runner = cli_env
    assert runner.invoke(main, ["demo"]).exit_code == 0
    assert db_session.scalar(select(CommitteeKey.demo)) is True
    result = runner.invoke(
        main,
        ["keys", "init", "--out", str(tmp_path / "real.key")],
        input="another long passphrase\nanother long passphrase\n",
    )
    assert result.exit_code == 0, result.output
    db_session.expire_all()
    rows = db_session.scalars(select(CommitteeKey)).all()
    assert {(r.demo, r.active) for r in rows} == {(True, False), (False, True)}


def test_an_earlier_key_left_active_is_named_and_can_be_retired(app, cli_env, tmp_path, db_session):
    """New reports are sealed to every active committee key: a single key file kept active
    after a split-key ceremony lets its one holder read every new report."""
    from tests.test_ceremony import CHEAP
    from whistle.models import AuditEntry

    runner = cli_env
    first = runner.invoke(
        main,
        ["keys", "init", "--out", str(tmp_path / "one.key"), *CHEAP],
        input="a long committee passphrase\na long committee passphrase\n",
    )
    assert first.exit_code == 0, first.output
    old_kid = db_session.scalar(select(CommitteeKey.kid))
    split = runner.invoke(
        main,
        [
            "keys",
            "init",
            "--shares",
            "2",
            "--threshold",
            "2",
            "--out-dir",
            str(tmp_path / "shares"),
            "--holder",
            "chen.jie",
            "--holder",
            "liu.yang",
            *CHEAP,
        ],
        input="chen's long passphrase\nchen's long passphrase\nliu's long passphrase!\nliu's long passphrase!\n",
    )
    assert split.exit_code == 0, split.output
    assert f"committee key {old_kid} (committee) is still active" in split.output
    assert f"whistle keys retire {old_kid[:12]}" in split.output
    new_kid = db_session.scalar(select(CommitteeKey.kid).where(CommitteeKey.kid != old_kid))

    assert runner.invoke(main, ["keys", "retire", "zz"]).exit_code == 1  # no such key
    result = runner.invoke(main, ["keys", "retire", old_kid[:12]])
    assert result.exit_code == 0, result.output
    db_session.expire_all()
    assert {(r.kid, r.active) for r in db_session.scalars(select(CommitteeKey))} == {(old_kid, False), (new_kid, True)}
    client = app.test_client()
    sealed_to = {r["kid"] for r in client.post("/api/v1/recipients", json=HEADER).get_json()["recipients"]}
    assert new_kid in sealed_to and old_kid not in sealed_to
    entry = db_session.scalar(select(AuditEntry).where(AuditEntry.action == "key_retired"))
    assert json.loads(entry.detail) == {"kid": old_kid}
    again = runner.invoke(main, ["keys", "retire", old_kid[:12]])
    assert again.exit_code == 1 and "already retired" in again.output
    last = runner.invoke(main, ["keys", "retire", new_kid])
    assert last.exit_code == 1 and "the only active one" in last.output


def test_short_passphrase_and_unknown_case_are_refused(app, cli_env, tmp_path):
    runner = cli_env
    result = runner.invoke(main, ["keys", "init", "--out", str(tmp_path / "k")], input="short\nshort\n")
    assert result.exit_code != 0 and "at least 12" in result.output
    result = runner.invoke(main, ["cases", "reply", "abcdef12", "--message", "x"])
    assert result.exit_code != 0 and "no single case" in result.output


def test_the_console_cannot_close_a_high_risk_case_alone_or_repeat_a_status(app, committee, cli_env, db_session):
    """Dual control holds on the console too: closing a 高危 case is refused there (the
    committee workspace asks a second member); a status the case already has records
    nothing."""
    from whistle.models import AuditEntry, CaseEvent

    from tests.committee.test_workspace import HOUSING, _report

    _report(app, header=HOUSING)
    case = db_session.scalar(select(Case))
    assert case.risk_grade == "high"
    refused = cli_env.invoke(main, ["cases", "status", case.id, "closed"])
    assert refused.exit_code == 1 and "needs a second member" in refused.output
    assert cli_env.invoke(main, ["cases", "status", case.id, "acknowledged"]).exit_code == 0
    again = cli_env.invoke(main, ["cases", "status", case.id, "acknowledged"])
    assert again.exit_code == 0 and "already acknowledged, nothing recorded" in again.output
    db_session.expire_all()
    events = list(
        db_session.scalars(select(CaseEvent.event).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq))
    )
    assert events == ["received", "acknowledged"] and db_session.get(Case, case.id).status == "acknowledged"
    statuses = db_session.scalars(select(AuditEntry).where(AuditEntry.action == "status")).all()
    assert len(statuses) == 1 and statuses[0].actor == "cli"


def test_the_console_cannot_bring_a_purged_case_back(app, committee, cli_env, db_session):
    """A purged case is a tombstone for good: no status change from the console, which would
    put it back among the open cases (the workspace cannot open it at all: no grant is left)."""
    from whistle.custody import retention
    from whistle.clock import today
    from whistle.models import AuditEntry, CaseEvent

    from tests.client_side import HEADER, seal_report

    low = dict(HEADER, department="housing", money_band="none", frequency="once", accused_rank="staff")
    assert seal_report(app.test_client(), "PURGE-ME", header=low)[0].status_code == 201
    case = db_session.scalar(select(Case))
    assert cli_env.invoke(main, ["cases", "status", case.id, "closed"]).exit_code == 0
    db_session.expire_all()
    retention.purge(db_session, db_session.get(Case, case.id), on=today("Asia/Shanghai"), actor=None, reason="test")
    db_session.commit()
    for event in ("acknowledged", "in_review", "closed"):
        refused = cli_env.invoke(main, ["cases", "status", case.id, event])
        assert refused.exit_code == 1 and "was purged" in refused.output and "Traceback" not in refused.output
    db_session.expire_all()
    assert db_session.get(Case, case.id).status == "purged"
    events = list(
        db_session.scalars(select(CaseEvent.event).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq))
    )
    assert events == ["received", "closed", "purged"]
    assert len(db_session.scalars(select(AuditEntry).where(AuditEntry.action == "status")).all()) == 1


def test_files_that_are_not_utf8_text_are_refused_with_a_message(app, committee, cli_env, db_session, tmp_path):
    """A passphrase, share passphrase or reply text read from a file that is not UTF-8 text:
    the command says which file and why, records nothing, and prints no trace."""
    from whistle.models import AuditEntry, CaseItem

    from tests.client_side import seal_report

    keypair, key_path = committee
    assert seal_report(app.test_client(), "UTF8-CASE")[0].status_code == 201
    case_id = db_session.scalar(select(Case.id))
    binary = tmp_path / "gbk.txt"
    binary.write_bytes("口令 passphrase".encode("gb18030") + b"\xff\xfe")
    runs = {
        "reply": ["cases", "reply", case_id, "--message-file", str(binary)],
        "decrypt": [
            "cases",
            "decrypt",
            case_id,
            "--key",
            str(key_path),
            "--out",
            str(tmp_path / "out"),
            "--passphrase-file",
            str(binary),
        ],
        "keys init": ["keys", "init", "--out", str(tmp_path / "new.key"), "--passphrase-file", str(binary)],
        "split": [
            "keys",
            "init",
            "--shares",
            "2",
            "--threshold",
            "2",
            "--out-dir",
            str(tmp_path / "shares"),
            "--holder",
            "a",
            "--holder",
            "b",
            "--holder-passphrase-file",
            f"a={binary}",
            "--holder-passphrase-file",
            f"b={binary}",
        ],
    }
    for name, args in runs.items():
        result = cli_env.invoke(main, args)
        assert result.exit_code == 1, (name, result.output)
        assert isinstance(result.exception, SystemExit), (name, repr(result.exception))
        assert f"{binary}: not UTF-8 text" in result.output, (name, result.output)
    assert not (tmp_path / "out").exists() and not (tmp_path / "new.key").exists()
    assert not (tmp_path / "shares").exists() or not any((tmp_path / "shares").iterdir())
    assert db_session.scalar(select(func.count()).select_from(CaseItem)) == 1
    assert db_session.scalar(select(AuditEntry).where(AuditEntry.action.in_(("reply", "decrypt")))) is None


def test_the_console_adds_nothing_to_a_purged_case(app, committee, client, cli_env, db_session):
    import datetime as dt

    from whistle.cases import store as cases
    from whistle.custody import retention
    from whistle.models import CaseEvent, CaseItem

    client.post("/report/contractor", data=report_form("x"), content_type="multipart/form-data")
    case = db_session.scalar(select(Case))
    cases.add_event(db_session, case, "closed", dt.date.today())
    retention.purge(db_session, case, on=dt.date.today(), actor=None, reason="retention period ended")
    db_session.commit()
    for args in (["cases", "reply", case.id, "--message", "LATE"], ["cases", "status", case.id, "acknowledged"]):
        refused = cli_env.invoke(main, args)
        assert refused.exit_code == 1 and "the case was purged" in refused.output, refused.output
    db_session.expire_all()
    assert db_session.get(Case, case.id).status == "purged"
    assert db_session.scalar(select(CaseItem.id).where(CaseItem.case_id == case.id)) is None
    assert list(
        db_session.scalars(select(CaseEvent.event).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq))
    ) == ["received", "closed", "purged"]


def test_reply_refuses_a_swapped_reporter_key(client, cli_env, committee, db_session):
    """A database writer who swaps the stored reporter key would read every later reply: the
    report binds its reporter's key (FORMAT.md §3 v2), and `cases reply` seals nothing to
    another key. The refusal is in the audit log."""
    from sqlalchemy import update

    from crypto import envelope as env
    from crypto.keys import KeyPair
    from whistle.models import AuditEntry, CaseItem

    client.post("/report/contractor", data=report_form("x"), content_type="multipart/form-data")
    case = db_session.scalar(select(Case))
    report = json.loads(db_session.scalar(select(CaseItem.envelope).where(CaseItem.case_id == case.id)))
    assert env.reporter_key_binding(report, case.reporter_pk) == env.BOUND
    db_session.execute(update(Case).where(Case.id == case.id).values(reporter_pk=KeyPair.generate().public))
    db_session.commit()
    refused = cli_env.invoke(main, ["cases", "reply", case.id, "--message", "TO-THE-WRONG-KEY"])
    assert refused.exit_code == 1 and "reporter key" in refused.output, refused.output
    db_session.expire_all()
    assert db_session.scalar(select(func.count()).select_from(CaseItem).where(CaseItem.case_id == case.id)) == 1
    entry = db_session.scalar(select(AuditEntry).where(AuditEntry.action == "refused_reply"))
    assert entry is not None and entry.case_id == case.id
    assert json.loads(entry.detail) == {"reason": "reporter_key_mismatch"}
    assert db_session.scalar(select(AuditEntry).where(AuditEntry.action == "reply")) is None


def test_reply_to_a_version_1_report_is_allowed_with_a_warning(client, cli_env, committee, db_session):
    """A report stored before version 2 binds no key: the reply goes out, and the console says
    the key could not be checked."""
    from sqlalchemy import update

    from crypto import envelope as env
    from crypto.keys import KeyPair
    from whistle.models import CaseItem

    client.post("/report/contractor", data=report_form("x"), content_type="multipart/form-data")
    case = db_session.scalar(select(Case))
    committee_keys = [KeyPair(k.public_key, b"") for k in db_session.scalars(select(CommitteeKey))]
    old = env.seal(
        "report", {"channel": "contractor"}, {"narrative": "x"}, [k.public for k in committee_keys], version=1
    ).envelope
    db_session.execute(update(CaseItem).where(CaseItem.case_id == case.id).values(envelope=json.dumps(old).encode()))
    db_session.commit()
    result = cli_env.invoke(main, ["cases", "reply", case.id, "--message", "OLD-CASE"])
    assert result.exit_code == 0, result.output
    assert "cannot be checked" in result.output
