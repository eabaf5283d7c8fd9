"""The JSON API as the browser uses it (a Python stand-in for the JavaScript path)."""

import json

import pytest
from sqlalchemy import func, select

from crypto import envelope as env
from crypto.encoding import b64u, unb64u
from crypto.keys import KeyPair
from crypto.receipt import ReceiptCode
from crypto.stream import attachment_key, decrypt_stream
from whistle.custody import offline
from whistle.clock import today
from whistle.models import Attachment, AttachmentChunk, Case, CaseGrant, CaseItem, Member
from whistle.services import services

from tests.client_side import HEADER, credentials, new_locator, proof_of_work, seal_report
from tests.committee.conftest import enrol


def test_js_path_report_roundtrip(client, committee, db_session, tmp_path):
    resp, code, _keys = seal_report(client, "API-MARKER", files=[("a.txt", b"alpha" * 1000)])
    assert resp.status_code == 201, resp.get_json()
    assert set(resp.get_json()) == {"received_on"}
    case = db_session.scalar(select(Case))
    summary = offline.decrypt_case(db_session, case, committee[0], tmp_path)
    assert summary["items"][0]["body"]["narrative"] == "API-MARKER"
    assert (
        tmp_path / case.id / summary["items"][0]["body"]["attachments"][0]["saved_as"]
    ).read_bytes() == b"alpha" * 1000


def test_followup_shows_timeline_replies_and_accepts_messages(app, client, committee, db_session):
    _resp, code, _ = seal_report(client, "x")
    case = db_session.scalar(select(Case))
    offline.reply_to_case(db_session, services(app).rules, case, "REPLY-TEXT", [], today("Asia/Shanghai"))
    db_session.commit()
    creds, keys = credentials(client, code)
    view = client.post("/api/v1/followup", json=creds).get_json()
    assert [e["event"] for e in view["timeline"]] == ["received", "feedback_sent"]
    assert [i["kind"] for i in view["items"]] == ["reply"]  # the report itself is not sealed to the reporter
    body, _ = env.open_envelope(view["items"][0]["envelope"], keys.keypair)
    assert body["text"] == "REPLY-TEXT"
    recipients = [unb64u(r["public_key"]) for r in view["recipients"]] + [keys.keypair.public]
    sealed = env.seal("message", {"case": view["case"]}, {"text": "MORE", "attachments": []}, recipients)
    resp = client.post(
        "/api/v1/followup/messages", json=dict(creds, envelope=sealed.envelope, pow=proof_of_work(client))
    )
    assert resp.status_code == 201, resp.get_json()
    view = client.post("/api/v1/followup", json=creds).get_json()
    assert [i["kind"] for i in view["items"]] == ["reply", "message"]


def test_a_message_sealed_before_a_grant_changed_is_refused_with_its_own_code(app, client, committee, db_session):
    enrol(app, "chen.jie")
    _resp, code, _ = seal_report(client, "x")
    creds, keys = credentials(client, code)
    view = client.post("/api/v1/followup", json=creds).get_json()  # followup.js keeps this view
    case = db_session.scalar(select(Case))
    member = db_session.scalar(select(Member).where(Member.username == "chen.jie"))
    db_session.delete(db_session.get(CaseGrant, (case.id, member.id)))  # routed at first, then revoked
    db_session.commit()

    def send(recipients):
        keys_to = [unb64u(r["public_key"]) for r in recipients] + [keys.keypair.public]
        sealed = env.seal("message", {"case": view["case"]}, {"text": "TYPED", "attachments": []}, keys_to)
        return client.post(
            "/api/v1/followup/messages",
            json=dict(creds, envelope=sealed.envelope, pow=proof_of_work(client)),
            headers={"Accept-Language": "en"},
        )

    stale = send(view["recipients"])
    # A distinct code, so the page can read the recipients again and seal once more.
    assert stale.status_code == 400 and stale.get_json()["error"] == "recipients_changed"
    assert "nothing was sent" in stale.get_json()["message"]
    assert db_session.scalar(select(func.count()).select_from(CaseItem)) == 1
    fresh = client.post("/api/v1/followup", json=creds).get_json()["recipients"]
    revoked = b64u(member.public_key)
    assert revoked in [r["public_key"] for r in view["recipients"]] and revoked not in [r["public_key"] for r in fresh]
    assert send(fresh).status_code == 201


def test_reporter_downloads_reply_attachment(app, client, committee, db_session, tmp_path):
    _resp, code, _ = seal_report(client, "x")
    case = db_session.scalar(select(Case))
    f = tmp_path / "answer.pdf"
    f.write_bytes(b"%PDF-" + bytes(range(256)) * 700)
    offline.reply_to_case(db_session, services(app).rules, case, "see file", [f], today("Asia/Shanghai"))
    db_session.commit()
    creds, keys = credentials(client, code)
    item = client.post("/api/v1/followup", json=creds).get_json()["items"][0]
    body, content_key = env.open_envelope(item["envelope"], keys.keypair)
    meta = body["attachments"][0]
    resp = client.post(f"/api/v1/followup/attachments/{meta['id']}", json=creds)
    assert resp.status_code == 200
    plain = b"".join(decrypt_stream(attachment_key(content_key, meta["id"]), [resp.data], meta["size"]))
    assert plain == f.read_bytes()


def test_report_attachment_is_not_downloadable_by_reporter(client, committee, db_session):
    _resp, code, _ = seal_report(client, "x", files=[("a.txt", b"secret")])
    attachment = db_session.scalar(select(Attachment))
    creds, _ = credentials(client, code)
    assert client.post(f"/api/v1/followup/attachments/{attachment.id}", json=creds).status_code == 404


def test_wrong_lookup_is_404_in_users_language(client, committee):
    seal_report(client, "x")
    resp = client.post(
        "/api/v1/followup", json={"locator": "1234567", "lookup": b64u(bytes(32))}, headers={"Accept-Language": "en"}
    )
    assert resp.status_code == 404
    assert resp.get_json()["error"] == "no_match"
    assert "receipt code" in resp.get_json()["message"]


@pytest.mark.parametrize(
    "mutate, status",
    [
        (lambda s: s.update(locator="12ab"), 400),
        (lambda s: s.update(salt="!!"), 400),
        (lambda s: s.update(lookup=b64u(b"short")), 400),
        (lambda s: s["envelope"].update(v=3), 400),
        # FORMAT.md §3 v2: the report binds the reporter key submitted with it.
        (lambda s: s.update(reporter_public_key=b64u(KeyPair.generate().public)), 400),
        (lambda s: s["envelope"]["header"].update(rk=env.reporter_key_id(KeyPair.generate().public)), 400),
        (lambda s: s["envelope"]["header"].pop("rk"), 400),
        (lambda s: (s["envelope"].update(v=1), s["envelope"]["header"].pop("rk")), 400),  # no new v1 report
        (lambda s: s["envelope"].update(v=1), 400),
        (lambda s: s["envelope"]["header"].update(department="nowhere"), 400),
        (lambda s: s["envelope"]["header"].update(extra="x"), 400),
        (lambda s: s["envelope"].update(recipients=s["envelope"]["recipients"][:0]), 400),
        (lambda s: s.update(kdf={"opslimit": 0, "memlimit": 1}), 400),
        (lambda s: s.update(envelope="not an object"), 400),
        (lambda s: s["envelope"].update(header=[None]), 400),  # found by hypothesis: was a 500
        (lambda s: s["envelope"].update(header="housing"), 400),
        (lambda s: s["envelope"].update(header=None), 400),
    ],
)
def test_malformed_submissions_are_refused_and_leave_nothing(client, committee, db_session, mutate, status):
    from tests import client_side

    captured = {}
    real_post = client.post

    def capture(url, **kwargs):
        if url == "/api/v1/reports":
            sub = json.loads(kwargs["data"]["submission"])
            mutate(sub)
            kwargs["data"]["submission"] = json.dumps(sub)
            captured["resp"] = real_post(url, **kwargs)
            return captured["resp"]
        return real_post(url, **kwargs)

    client.post = capture
    try:
        client_side.seal_report(client, "x", files=[("f.txt", b"data")])
    finally:
        client.post = real_post
    resp = captured["resp"]
    assert resp.status_code == status
    assert "error" in resp.get_json() and resp.get_json()["message"]
    for model in (Case, CaseItem, Attachment, AttachmentChunk):
        assert db_session.scalar(select(func.count()).select_from(model)) == 0


def test_taken_locator_is_409_only_with_a_token_for_it(client, committee):
    locator, token = new_locator(client)
    first, code, _ = seal_report(client, "one", code=ReceiptCode.generate(locator=locator), token=token)
    assert first.status_code == 201
    # The locator was handed out to us, so learning it is taken now reveals nothing new...
    again, _, _ = seal_report(client, "two", code=ReceiptCode.generate(locator=locator), token=token)
    assert again.status_code == 409 and again.get_json()["error"] == "locator_taken"
    # ...but someone else's locator cannot be probed: without its token the answer is a 400.
    _other, fresh_token = new_locator(client)
    for wrong in (None, "", fresh_token, token + "A", 12345):
        probe, _, _ = seal_report(client, "probe", code=ReceiptCode.generate(locator=locator), token=wrong)
        assert probe.status_code == 400 and probe.get_json()["error"] == "invalid_submission", wrong


def test_not_json_and_garbage_bodies_are_4xx(client, committee):
    for path in ("/api/v1/followup", "/api/v1/recipients", "/api/v1/reports", "/api/v1/followup/messages"):
        for body, ctype in ((b"\xff\xfe", "application/json"), (b"[]", "application/json"), (b"x=1", "text/plain")):
            resp = client.post(path, data=body, content_type=ctype)
            assert 400 <= resp.status_code < 500, (path, body, resp.status_code)
            assert resp.get_json()["message"]


def test_not_ready_without_committee_key(client):
    resp = client.post("/api/v1/recipients", json=HEADER)
    assert resp.status_code == 503 and resp.get_json()["error"] == "not_ready"


def test_openapi_document_is_valid(client):
    from openapi_spec_validator import validate

    doc = client.get("/api/v1/openapi.json").get_json()
    validate(doc)
    rules = {str(r) for r in client.application.url_map.iter_rules() if str(r).startswith("/api/")}
    documented = {p.replace("{", "<").replace("}", ">") for p in doc["paths"]} | {"/api/v1/openapi.json"}
    assert rules == documented
    # With every method the route answers: schemathesis calls only what the document lists.
    methods = {
        (str(r), m.lower())
        for r in client.application.url_map.iter_rules()
        if str(r).startswith("/api/")
        for m in r.methods - {"HEAD", "OPTIONS"}
        if str(r) != "/api/v1/openapi.json"
    }
    assert methods == {(p.replace("{", "<").replace("}", ">"), m) for p, ops in doc["paths"].items() for m in ops}
    # Reports go under a server-issued locator, and need the token that came with it.
    assert doc["paths"]["/api/v1/locators"]["post"]["responses"]["200"]
    submission = doc["components"]["schemas"]["ReportSubmission"]
    assert "locator_token" in submission["required"] and "locator_token" in submission["properties"]
    assert set(doc["components"]["schemas"]["Locator"]["required"]) == {"locator", "token"}


def test_followup_answers_match_the_openapi_document(client, committee):
    from jsonschema import Draft202012Validator, FormatChecker

    doc = client.get("/api/v1/openapi.json").get_json()

    def check(name, data):
        schema = {"$ref": f"#/components/schemas/{name}", "components": doc["components"]}
        Draft202012Validator(schema, format_checker=FormatChecker()).validate(data)
        declared = doc["components"]["schemas"][name]["properties"]
        assert set(data) <= set(declared), set(data) - set(declared)  # nothing undocumented

    _resp, code, _ = seal_report(client, "x")
    creds, keys = credentials(client, code)
    view = client.post("/api/v1/followup", json=creds).get_json()
    check("CaseView", view)
    recipients = [unb64u(r["public_key"]) for r in view["recipients"]] + [keys.keypair.public]
    sealed = env.seal("message", {"case": view["case"]}, {"text": "MORE", "attachments": []}, recipients)
    stored = client.post(
        "/api/v1/followup/messages", json=dict(creds, envelope=sealed.envelope, pow=proof_of_work(client))
    )
    assert stored.status_code == 201
    operation = doc["paths"]["/api/v1/followup/messages"]["post"]["responses"]
    assert operation["201"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/MessageStored"}
    check("MessageStored", stored.get_json())
    assert {"400", "409", "503"} <= set(operation)


def test_upload_limits_enforced_while_streaming(tmp_path, request):
    from tests.conftest import build_app, make_config, KEY_PASSPHRASE
    from sqlalchemy.orm import Session

    cfg = make_config(tmp_path, request, max_attachments=2, max_attachment_bytes=1000)
    app = build_app(cfg)
    with Session(services(app).engine) as s:
        offline.init_keys(
            s, tmp_path / "k.key", KEY_PASSPHRASE, "k", today("Asia/Shanghai"), opslimit=1, memlimit=8192 * 8
        )
        s.commit()
    client = app.test_client()
    resp, _, _ = seal_report(client, "x", files=[("big.bin", b"x" * 5000)])
    assert resp.status_code == 413
    resp, _, _ = seal_report(client, "x", files=[("1", b"a"), ("2", b"b"), ("3", b"c")])
    assert resp.status_code == 413
    from tests.helpers import report_form
    import io

    form = report_form("n")
    form["files"] = [(io.BytesIO(b"y" * 5000), "big.txt")]
    resp = client.post("/report/general", data=dict(form, category="bribery"), content_type="multipart/form-data")
    assert resp.status_code == 413
    with Session(services(app).engine) as s:
        assert s.scalar(select(func.count()).select_from(Case)) == 0
    services(app).engine.dispose()


def test_reporter_sees_deadlines_and_overdue_flags(app, client, committee, db_session):
    import datetime as dt

    _resp, code, _ = seal_report(client, "x")
    case = db_session.scalar(select(Case))
    creds, _keys = credentials(client, code)
    deadlines = client.post("/api/v1/followup", json=creds).get_json()["deadlines"]
    assert deadlines["acknowledge_by"] == case.ack_due.isoformat() and deadlines["acknowledge_overdue"] is False
    case.ack_due = dt.date(2026, 1, 5)  # long past, never acknowledged
    db_session.commit()
    deadlines = client.post("/api/v1/followup", json=creds).get_json()["deadlines"]
    assert deadlines["acknowledge_overdue"] is True and deadlines["feedback_overdue"] is False
    html = client.post("/followup", data={"code": code.grouped()}, headers={"Accept-Language": "en"}).get_data(
        as_text=True
    )
    assert "acknowledge your report by 2026-01-05" in html and "overdue-flag" in html
