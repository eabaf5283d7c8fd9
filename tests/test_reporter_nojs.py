"""The no-JavaScript path end to end: form -> server sealing -> CLI decrypt -> reply -> follow-up."""

import dataclasses
import io
import re

from sqlalchemy import select

from crypto import envelope as env
from crypto.receipt import ReceiptCode
from whistle.custody import offline
from whistle.cases import actions, store as cases, uploads
from whistle.clock import today
from whistle.models import AttachmentChunk, Case, CaseItem
from whistle.services import services

from tests.helpers import receipt_from, report_form
from tests.http_client import multipart

MARKER = "MARKER-吃拿卡要-7f3a"


def submit(client, narrative=MARKER, files=(("evidence.txt", b"FILE-" + MARKER.encode()),)):
    resp = client.post("/report/contractor", data=report_form(narrative, files), content_type="multipart/form-data")
    assert resp.status_code == 200, resp.get_data(as_text=True)[:2000]
    return receipt_from(resp.get_data(as_text=True))


def test_report_is_sealed_and_decryptable_offline(client, committee, db_session, tmp_path):
    keypair, _path = committee
    code = submit(client)
    parsed = ReceiptCode.parse(code)
    case = db_session.scalar(select(Case))
    assert case.locator == parsed.locator
    assert case.department == "housing" and case.category == "meals"
    # Nothing in the database holds the narrative or the file in clear.
    for item in db_session.scalars(select(CaseItem)):
        assert MARKER.encode() not in item.envelope
        assert MARKER.encode("unicode_escape") not in item.envelope
    for chunk in db_session.scalars(select(AttachmentChunk)):
        assert b"FILE-" not in chunk.data
    summary = offline.decrypt_case(db_session, case, keypair, tmp_path / "out")
    body = summary["items"][0]["body"]
    assert body["narrative"] == MARKER
    # The server sealed a version 2 report binding the receipt's key (FORMAT.md §3).
    report = cases.item_envelope(case.items[0])
    assert report["v"] == 2 and report["header"]["rk"] == env.reporter_key_id(case.reporter_pk)
    assert env.reporter_key_binding(report, case.reporter_pk) == env.BOUND
    assert body["accused_name"] == "王某"
    saved = tmp_path / "out" / case.id / body["attachments"][0]["saved_as"]
    assert saved.read_bytes() == b"FILE-" + MARKER.encode()


def test_reply_reaches_reporter_and_reporter_can_answer(app, client, committee, db_session, tmp_path):
    code = submit(client)
    case = db_session.scalar(select(Case))
    actions.set_status(
        db_session, case, "acknowledged", by=actions.CONSOLE, on=today("Asia/Shanghai"), rules=services(app).rules
    )
    offline.reply_to_case(db_session, services(app).rules, case, "请补充材料 REPLY-42", [], today("Asia/Shanghai"))
    db_session.commit()
    page = client.post("/followup", data={"code": code}).get_data(as_text=True)
    assert "请补充材料 REPLY-42" in page
    assert "Acknowledged" in page or "已受理" in page
    resp = client.post(
        "/followup/message",
        data={"code": code, "text": "ANSWER-99", "files": [(__import__("io").BytesIO(b"more"), "more.txt")]},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 200
    assert "ANSWER-99" in resp.get_data(as_text=True)
    db_session.expire_all()
    summary = offline.decrypt_case(db_session, db_session.get(Case, case.id), committee[0], tmp_path / "o")
    kinds = [i["kind"] for i in summary["items"]]
    assert kinds == ["report", "reply", "message"]
    assert summary["items"][2]["body"]["text"] == "ANSWER-99"


def test_a_nojs_message_is_never_sealed_to_a_swapped_reporter_key(client, committee, db_session):
    """The server seals a no-JS reporter's message to the key their own receipt stretches to,
    not to the stored one: someone who swapped the stored key reads nothing, and the message
    is refused (4xx) instead of being stored without the reporter's key."""
    from sqlalchemy import update

    from crypto.keys import KeyPair

    code = submit(client)
    case = db_session.scalar(select(Case))
    swapped = KeyPair.generate()
    db_session.execute(update(Case).where(Case.id == case.id).values(reporter_pk=swapped.public))
    db_session.commit()
    resp = client.post(
        "/followup/message", data={"code": code, "text": "FOR-THE-REPORTER-ONLY"}, content_type="multipart/form-data"
    )
    assert 400 <= resp.status_code < 500
    db_session.expire_all()
    envelopes = [
        cases.item_envelope(i) for i in db_session.scalars(select(CaseItem).where(CaseItem.case_id == case.id))
    ]
    assert [e["kind"] for e in envelopes] == ["report"]
    assert all(swapped.kid not in env.recipient_kids(e) for e in envelopes)


def test_wrong_code_and_typo_are_distinguished_without_revealing_cases(client, committee):
    code = submit(client)
    digits = ReceiptCode.parse(code).digits
    typo = digits[:-1] + str((int(digits[-1]) + 1) % 10)
    resp = client.post("/followup", data={"code": typo}, headers={"Accept-Language": "en"})
    assert resp.status_code == 400 and "typo" in resp.get_data(as_text=True)
    other = ReceiptCode.generate(locator=digits[:7]).grouped()  # same case, wrong secret
    unknown = ReceiptCode.generate(locator="0000000" if digits[:7] != "0000000" else "1111111").grouped()
    a = client.post("/followup", data={"code": other}, headers={"Accept-Language": "en"})
    b = client.post("/followup", data={"code": unknown}, headers={"Accept-Language": "en"})
    assert a.status_code == b.status_code == 404
    # The same page but for the digits typed, which go back in the box to be corrected.
    assert other in a.get_data(as_text=True) and unknown in b.get_data(as_text=True)
    assert a.get_data(as_text=True).replace(other, "") == b.get_data(as_text=True).replace(unknown, "")


def test_missing_fields_give_a_400_form_with_messages(client, committee, db_session):
    resp = client.post(
        "/report/contractor",
        data=report_form("", department="nope"),
        content_type="multipart/form-data",
        headers={"Accept-Language": "en"},
    )
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert "Please describe what happened." in html
    assert "Please choose one of the options." in html
    assert db_session.scalar(select(Case)) is None


def test_json_api_salt_is_stable_and_hides_existence(client, committee, db_session):
    from crypto.encoding import unb64u
    from whistle.cases import store as cases

    code = ReceiptCode.parse(submit(client))
    cases.forget_cost_distribution()  # so the fake cost is drawn from the case just made
    unknown = "1234567" if code.locator != "1234567" else "7654321"
    real = client.get(f"/api/v1/receipts/{code.locator}/salt").get_json()
    fake1 = client.get(f"/api/v1/receipts/{unknown}/salt").get_json()
    fake2 = client.get(f"/api/v1/receipts/{unknown}/salt").get_json()
    assert fake1 == fake2 and set(fake1) == set(real) == {"salt", "opslimit", "memlimit"}
    for answer in (real, fake1):
        assert len(unb64u(answer["salt"])) == 16
        assert type(answer["opslimit"]) is int and type(answer["memlimit"]) is int
    case = db_session.scalar(select(Case))
    assert unb64u(real["salt"]) == case.salt and unb64u(fake1["salt"]) != case.salt
    used = {tuple(row) for row in db_session.execute(select(Case.kdf_opslimit, Case.kdf_memlimit))}
    assert (fake1["opslimit"], fake1["memlimit"]) in used  # a cost some case really has


def test_nojs_report_applies_routing_once(app, client, committee):
    """The server seals to the routed recipients and checks the envelope against the same
    reading: the committee keys and the members are read once per report, in one statement."""
    from sqlalchemy import event

    statements = []

    def remember(_conn, _cursor, statement, _params, _context, _many):
        statements.append(statement)

    engine = services(app).engine
    event.listen(engine, "before_cursor_execute", remember)
    try:
        submit(client, files=())
    finally:
        event.remove(engine, "before_cursor_execute", remember)
    shown = [" ".join(s.split())[:100] for s in statements]
    routing_read = [s for s in shown if s.startswith("SELECT 'key' AS source, committee_keys.kid")]
    apart = [
        s
        for s in shown
        if s.startswith(
            (
                "SELECT committee_keys.kid, committee_keys.public_key",
                "SELECT members.id, members.username, members.public_key",
            )
        )
    ]
    assert len(routing_read) == 1 and not apart, shown


def test_a_sealing_routed_for_another_header_is_not_trusted(app, committee, db_session):
    """create_case takes the caller's Sealing only if it was routed for this envelope's header:
    an envelope about housing, sealed to the members a transport report may go to, still
    cannot hand li.na (who works at the housing bureau) a key."""
    import pytest

    from crypto import envelope as env
    from crypto.keys import random_bytes
    from crypto.receipt import derive_reporter_keys
    from whistle.cases import store as cases
    from whistle.errors import InvalidSubmission
    from whistle.models import CaseGrant
    from tests.client_side import HEADER, MEM, OPS
    from tests.committee.conftest import enrol

    enrol(app, "li.na")
    enrol(app, "zhao.lei")
    rules = services(app).rules
    housing = dict(HEADER, department="housing", accused_rank="staff")
    transport = dict(housing, department="transport")
    for_transport = cases.sealing_for(db_session, rules, transport)
    assert "li.na" in [m.username for m, _r in for_transport.members]
    code = ReceiptCode.generate(cases.unused_locator(db_session))
    keys = derive_reporter_keys(code, random_bytes(16), OPS, MEM)
    sealed = env.seal(
        "report",
        env.bind_reporter_key(housing, keys.keypair.public),
        {"narrative": "x"},
        [r.public_key for r in for_transport.recipients],
    )
    with pytest.raises(InvalidSubmission):
        cases.create_case(
            db_session,
            locator=code.locator,
            salt=random_bytes(16),
            opslimit=OPS,
            memlimit=MEM,
            verifier=keys.verifier,
            reporter_pk=keys.keypair.public,
            envelope=sealed.envelope,
            uploads=[],
            rules=rules,
            on=today("Asia/Shanghai"),
            sealing=for_transport,
        )
    db_session.rollback()
    assert db_session.scalars(select(CaseGrant)).all() == []


def test_a_file_larger_than_the_multipart_read_arrives_whole(client, committee, db_session, tmp_path):
    """whistle's request parses multipart bodies MULTIPART_READ at a time: a file spanning several reads, with
    a boundary-like line inside, decrypts to exactly what was sent."""
    keypair, _path = committee
    content = (b"\r\n--not-the-boundary\r\n" + bytes(range(256)) * 97) * 40  # ~ 1 MiB, odd length
    assert len(content) > 3 * uploads.MULTIPART_READ
    body, ctype = multipart(report_form(MARKER, [("big.bin", content)]))  # bytes: no temporary file
    resp = client.post("/report/contractor", data=body, content_type=ctype)
    assert resp.status_code == 200, resp.get_data(as_text=True)[:2000]
    case = db_session.scalar(select(Case))
    body = offline.decrypt_case(db_session, case, keypair, tmp_path / "out")["items"][0]["body"]
    assert (tmp_path / "out" / case.id / body["attachments"][0]["saved_as"]).read_bytes() == content


def test_the_multipart_parser_reads_in_its_own_read_size():
    written = []

    class Recorder(io.BytesIO):
        def write(self, data):
            written.append(len(data))
            return super().write(data)

    boundary = "----whistle-read-size"
    content = b"x" * (3 * uploads.MULTIPART_READ + 123)
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="f"; filename="a"\r\n\r\n'.encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    parser = uploads.WhistleRequest.form_data_parser_class(
        stream_factory=lambda *a, **k: Recorder(), max_form_memory_size=4 * 1024 * 1024
    )
    _stream, _form, files = parser.parse(io.BytesIO(body), "multipart/form-data", len(body), {"boundary": boundary})
    assert sum(written) == len(content) and files["f"].filename == "a"
    assert 64 * 1024 < max(written) <= uploads.MULTIPART_READ  # werkzeug alone writes 64 KiB at most
    # No boundary: the same refusal as werkzeug's own parser (a 400 upstream).
    _stream, form, files = parser.parse(io.BytesIO(body), "multipart/form-data", len(body), {})
    assert not form and not files


def test_a_line_break_counts_once_as_the_textarea_counts_it(app, client, committee, db_session, tmp_path):
    # Browsers send a textarea's line break as CRLF, and its maxlength counts it as one.
    services(app).config = dataclasses.replace(services(app).config, max_narrative_chars=20)
    typed = "1234\n1234\n1234\n12345"  # 20 characters in the textarea
    sent = typed.replace("\n", "\r\n")
    code = submit(client, narrative=sent, files=())
    page = client.post(
        "/followup/message",
        data={"code": code, "text": "1234\r1234\r1234\r12345"},
        content_type="multipart/form-data",
        headers={"Accept-Language": "en"},
    )
    assert page.status_code == 200 and "Your message was sent." in page.get_data(as_text=True)
    # Too long even so: the page says so and keeps what was typed, to be shortened.
    page = client.post(
        "/followup/message",
        data={"code": code, "text": sent + "6"},
        content_type="multipart/form-data",
        headers={"Accept-Language": "en"},
    )
    assert page.status_code == 400 and "at most 20 characters" in page.get_data(as_text=True)
    kept = re.search(r'<textarea id="message-text"[^>]*>(.*?)</textarea>', page.get_data(as_text=True), re.S).group(1)
    assert kept == typed + "6"
    summary = offline.decrypt_case(db_session, db_session.scalar(select(Case)), committee[0], tmp_path / "out")
    assert summary["items"][0]["body"]["narrative"] == typed  # sealed as typed: one "\n" per break
    assert summary["items"][1]["body"]["text"] == typed
