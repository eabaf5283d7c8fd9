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
from whistle.committee.notify import SmtpSettings, new_case_counts, send
from whistle.services import services

from tests.client_side import HEADER, seal_report
from tests.committee.conftest import enrol


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
        resp, _code, _keys = seal_report(app.test_client(), f"SECRET-NARRATIVE-{n}",
                                         header=dict(HEADER, department="housing", accused_rank="staff"))
        assert resp.status_code == 201
    counts = new_case_counts(db_session)
    assert counts == {"zhao.lei": 2}
    rules = services(app).rules
    member = dataclasses.replace(rules.member("zhao.lei"), email="zhao@example.invalid")
    rules_with_mail = dataclasses.replace(rules, members=tuple(member if m.username == "zhao.lei" else m
                                                               for m in rules.members))
    with app.app_context():
        sent = send(SmtpSettings("127.0.0.1", smtp.server_address[1], starttls=False), rules_with_mail, counts)
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
    resp, _code, _keys = seal_report(app.test_client(), "FORWARD-ME", files=[("f.txt", b"F")],
                                     header=dict(HEADER, department="commission", accused_rank="head"))
    assert resp.status_code == 201
    case = db_session.scalar(select(Case))
    folder = offline.export_sealed(db_session, case, tmp_path)
    manifest = _json.loads((folder / "manifest.json").read_text())
    assert manifest["held_for_superior"] is True and len(manifest["items"][0]["streams"]) == 1
    assert b"FORWARD-ME" not in (folder / manifest["items"][0]["envelope"]).read_bytes()
