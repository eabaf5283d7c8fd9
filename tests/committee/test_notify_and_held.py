"""Content-free notifications over real SMTP, and reports that must go straight up."""

import dataclasses
import socketserver
import threading

import pytest
from sqlalchemy import select

from crypto import envelope as env
from crypto.errors import CryptoError
from whistle.custody import offline
from whistle.models import Case, CaseGrant
from whistle.committee.notify import Reminder, SmtpSettings, new_case_counts, reminder_counts, send
from whistle.services import services

from tests.client_side import HEADER, followup_message, seal_report
from tests.committee.conftest import enrol


def _with_mail(app, username, address):
    """The app's rules with an e-mail address for ``username``."""
    rules = services(app).rules
    member = dataclasses.replace(rules.member(username), email=address)
    return dataclasses.replace(rules, members=tuple(member if m.username == username else m for m in rules.members))


class _SmtpSink(socketserver.StreamRequestHandler):
    """Just enough SMTP to accept messages and keep them (no TLS)."""

    def handle(self):
        self.wfile.write(b"220 sink\r\n")
        data, in_data = [], False
        while line := self.rfile.readline():
            if in_data:
                if line == b".\r\n":
                    self.server.messages.append(b"".join(data).decode("utf-8"))
                    data, in_data = [], False
                    self.wfile.write(b"250 ok\r\n")
                else:
                    data.append(line)
                continue
            verb = line[:4].upper()
            if verb == b"DATA":
                in_data = True
                self.wfile.write(b"354 go\r\n")
            elif verb == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            elif verb in (b"EHLO", b"HELO"):
                self.wfile.write(b"250 sink\r\n")
            else:
                self.wfile.write(b"250 ok\r\n")


@pytest.fixture
def smtp():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SmtpSink)
    server.messages = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_notification_is_a_count_and_nothing_else(app, committee, db_session, smtp):
    enrol(app, "zhao.lei")
    for n in range(2):
        resp, _code, _keys = seal_report(
            app.test_client(), f"SECRET-NARRATIVE-{n}", header=dict(HEADER, department="housing", accused_rank="staff")
        )
        assert resp.status_code == 201
    counts = new_case_counts(db_session)
    assert counts == {"zhao.lei": 2}
    rules_with_mail = _with_mail(app, "zhao.lei", "zhao@example.invalid")
    with app.app_context():
        sent = send(
            SmtpSettings("127.0.0.1", smtp.server_address[1], starttls=False),
            rules_with_mail,
            {u: Reminder(new=n) for u, n in counts.items()},
        )
    assert sent == ["zhao@example.invalid"]
    mail = smtp.messages[0]
    assert "2" in mail and "SECRET-NARRATIVE" not in mail
    for case in db_session.scalars(select(Case)):
        assert case.id not in mail and case.id[:8] not in mail
    assert "housing" not in mail.lower() and "住房" not in mail


def test_complaint_about_the_committee_head_goes_only_to_the_superior(app, committee, db_session, tmp_path):
    enrol(app, "zhou.min")  # cadre supervision: handles complaints about the commission's staff
    header = dict(HEADER, department="commission", accused_rank="head")
    recipients = app.test_client().post("/api/v1/recipients", json=header).get_json()["recipients"]
    superior = services(app).rules.superior_public_key()
    from crypto.encoding import b64u

    assert [r["public_key"] for r in recipients] == [b64u(superior)]
    resp, _code, _keys = seal_report(app.test_client(), "ABOUT-THE-HEAD", header=header)
    assert resp.status_code == 201
    case = db_session.scalar(select(Case))
    assert case.held_for_superior and case.handling_unit == "city_cdi"
    assert db_session.scalar(select(CaseGrant).where(CaseGrant.case_id == case.id)) is None
    # Not even the committee's own key opens it here.
    with pytest.raises(CryptoError):
        env.open_envelope(offline.cases.item_envelope(case.items[0]), committee[0])
    # Staff of the commission (not its head) go to cadre supervision, readable here.
    resp, _code, _keys = seal_report(app.test_client(), "ABOUT-STAFF", header=dict(header, accused_rank="staff"))
    assert resp.status_code == 201
    staff_case = db_session.scalar(select(Case).where(Case.held_for_superior.is_(False)))
    assert staff_case.handling_unit == "cadre_supervision"


def test_held_case_can_be_exported_sealed_for_forwarding(app, committee, db_session, tmp_path):
    import json as _json

    resp, _code, _keys = seal_report(
        app.test_client(),
        "FORWARD-ME",
        files=[("f.txt", b"F")],
        header=dict(HEADER, department="commission", accused_rank="head"),
    )
    assert resp.status_code == 201
    case = db_session.scalar(select(Case))
    folder = offline.export_sealed(db_session, case, tmp_path)
    manifest = _json.loads((folder / "manifest.json").read_text())
    assert manifest["held_for_superior"] is True and len(manifest["items"][0]["streams"]) == 1
    assert b"FORWARD-ME" not in (folder / manifest["items"][0]["envelope"]).read_bytes()


def test_reminders_count_cases_due_within_days_and_unanswered_messages(app, committee, db_session, smtp):
    """Besides new cases, a member is told how many cases fall due within two working days
    and how many carry a reporter's message nobody answered: counts, never a case."""
    import datetime as dt

    enrol(app, "zhao.lei")
    codes = []
    for n in range(3):
        resp, code, _keys = seal_report(
            app.test_client(), f"SECRET-NARRATIVE-{n}", header=dict(HEADER, department="housing", accused_rank="staff")
        )
        assert resp.status_code == 201
        codes.append(code)
    assert followup_message(app.test_client(), codes[0], "SECRET-FOLLOWUP").status_code == 201
    cases_by_age = list(db_session.scalars(select(Case).order_by(Case.id)))
    today = min(c.ack_due for c in cases_by_age) - dt.timedelta(days=30)
    due_by = today + dt.timedelta(days=3)
    assert reminder_counts(db_session, today, due_by)["zhao.lei"] == Reminder(new=3, due_soon=0, messages=1)
    # one case's acknowledgement falls due tomorrow; another's too, but it lies beyond the window
    cases_by_age[0].ack_due = today + dt.timedelta(days=1)
    cases_by_age[1].ack_due = due_by + dt.timedelta(days=1)
    db_session.commit()
    reminders = reminder_counts(db_session, today, due_by)
    assert reminders == {"zhao.lei": Reminder(new=3, due_soon=1, messages=1)}
    with app.app_context():
        sent = send(
            SmtpSettings("127.0.0.1", smtp.server_address[1], starttls=False),
            _with_mail(app, "zhao.lei", "zhao@example.invalid"),
            reminders,
        )
    assert sent == ["zhao@example.invalid"]
    from email import message_from_bytes, policy

    body = message_from_bytes(smtp.messages[0].encode("utf-8"), policy=policy.default).get_content()
    assert body.splitlines() == [
        "委员会工作台中有 3 件新举报在等您处理。",
        "1 件举报的期限在 2 个工作日内到期。",
        "1 件举报有举报人的留言尚未答复。",
        "请登录查看。",
    ]
    assert "SECRET" not in smtp.messages[0]
    for case in cases_by_age:
        assert case.id not in smtp.messages[0] and case.id[:8] not in smtp.messages[0]
        assert case.locator not in smtp.messages[0]
    assert "housing" not in smtp.messages[0].lower() and "stationed" not in smtp.messages[0]
    assert str(today + dt.timedelta(days=1)) not in smtp.messages[0]


def test_whistle_notify_mails_the_counts(app, config, committee, smtp, monkeypatch, tmp_path):
    """The console command end to end: today's counts from the app's calendar, over SMTP."""
    from click.testing import CliRunner

    from whistle.cli import main
    from whistle.config import PROJECT_DIR

    enrol(app, "zhao.lei")
    resp, _code, _keys = seal_report(
        app.test_client(), "SECRET-NARRATIVE", header=dict(HEADER, department="housing", accused_rank="staff")
    )
    assert resp.status_code == 201
    example = (PROJECT_DIR / "whistle" / "data" / "rules.example.toml").read_text(encoding="utf-8")
    entry = 'username = "zhao.lei"\nunit = "stationed_1"\n'
    assert entry in example
    rules = tmp_path / "rules.toml"
    rules.write_text(example.replace(entry, entry + 'email = "zhao@example.invalid"\n'), encoding="utf-8")
    for name, value in {
        "WHISTLE_INSTANCE_DIR": str(config.instance_dir),
        "WHISTLE_DATABASE_URL": config.database_url,
        "WHISTLE_RULES": str(rules),
        "WHISTLE_SMTP_HOST": "127.0.0.1",
        "WHISTLE_SMTP_PORT": str(smtp.server_address[1]),
        "WHISTLE_SMTP_STARTTLS": "0",
    }.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(main, ["notify"])
    assert result.exit_code == 0, result.output
    assert "notified 1 member(s)" in result.output
    [mail] = smtp.messages
    assert "zhao@example.invalid" in mail and "SECRET" not in mail
