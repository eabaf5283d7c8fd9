"""The reporter's whole journey in headless Chromium, with JavaScript on and off.

A report with a marker string and a file is typed and submitted; no request body, database
row or log line may hold the marker in clear; the committee CLI decrypts it; a reply sealed
by the CLI reaches the browser through the receipt code; the reporter answers.
"""

import json
import logging

import pytest
from sqlalchemy import select

from crypto.receipt import ReceiptCode
from whistle.cases import store as cases
from whistle.custody import retention
from whistle.clock import today
from whistle.models import Case, CaseGrant, Member

from tests.client_side import seal_report
from tests.committee.conftest import enrol

pytestmark = pytest.mark.browser


def _record_requests(page) -> list:
    seen = []
    page.on("request", lambda r: seen.append((r.method, r.url, r.post_data_buffer or b"")))
    return seen


def _fill_report(page, marker, evidence_path):
    page.select_option("#department", "housing")
    page.check("input[name=accused_rank][value=head]")
    page.check("input[name=category][value=gifts]")
    page.select_option("#money_band", "10k_100k")
    page.check("input[name=frequency][value=regular]")
    page.check("input[name=evidence][value=attached]")
    page.fill("#accused_name", "张某 " + marker)
    page.fill("#narrative", f"他要求我请客吃饭 {marker}")
    page.set_input_files("#files", str(evidence_path))


def _journey(server, page, tmp_path, caplog, js: bool):
    caplog.set_level(logging.DEBUG)
    marker = "MARKER-" + ("JS" if js else "NOJS") + "-e3b0c442"
    evidence = tmp_path / "evidence.txt"
    evidence.write_bytes(b"EVIDENCE " + marker.encode() + b" " + bytes(range(256)) * 600)
    requests = _record_requests(page)

    page.goto(server.url + "/report/contractor?lang=en")
    if js:
        page.wait_for_function("document.getElementById('report-form').dataset.enhanced === 'true'")
    _fill_report(page, marker, evidence)
    page.click("button[type=submit]")
    page.wait_for_selector("#receipt-code:not(:empty)", state="visible", timeout=60_000)
    code = ReceiptCode.parse(page.text_content("#receipt-code"))

    bodies = b"\n".join(body for _m, _u, body in requests)
    if js:
        # Sealed in the browser: the marker never crossed the wire, nor did the receipt code.
        assert marker.encode() not in bodies
        assert code.digits[7:] not in bodies.decode("latin-1")
        assert all(code.digits[7:] not in url for _m, url, _b in requests)
        assert any("/api/v1/reports" in url for _m, url, _b in requests)
    else:
        assert any(url.endswith("/report/contractor?lang=en") and m == "POST" for m, url, _b in requests)
    assert marker.encode() not in server.database_text()
    assert marker not in caplog.text

    # The committee decrypts offline with its key file.
    out = tmp_path / "decrypted"
    with server.session() as s:
        case_id = s.scalar(select(Case.id).where(Case.locator == code.locator))
    printed = server.cli("cases", "decrypt", case_id, "--key", str(server.key_file), "--out", str(out))
    assert marker in printed
    summary = json.loads((out / case_id / "case.json").read_text(encoding="utf-8"))
    body = summary["items"][0]["body"]
    assert body["narrative"] == f"他要求我请客吃饭 {marker}"
    assert (out / case_id / body["attachments"][0]["saved_as"]).read_bytes() == evidence.read_bytes()

    # A reply (with a file) sealed by the CLI reaches the reporter through the code alone.
    reply_file = tmp_path / "questions.txt"
    reply_file.write_text("请于十个工作日内补充证据", encoding="utf-8")
    server.cli("cases", "status", case_id, "acknowledged")
    server.cli("cases", "reply", case_id, "--message", "REPLY-请补充材料", "--attach", str(reply_file))

    requests.clear()
    page.goto(server.url + "/followup?lang=en")
    if js:
        page.wait_for_function("document.getElementById('code-form').dataset.enhanced === 'true'")
    page.fill("#code", code.grouped())
    page.click("#code-form button[type=submit]")
    page.wait_for_selector("text=REPLY-请补充材料", timeout=60_000)
    assert page.is_visible("text=Acknowledged by the committee")
    if js:
        assert all(code.digits[7:] not in (url + body.decode("latin-1")) for _m, url, body in requests)

    with page.expect_download() as download:
        page.click("text=questions.txt")
    assert download.value.path().read_text(encoding="utf-8") == "请于十个工作日内补充证据"

    # The reporter answers, with a file.
    if not js:
        page.goto(server.url + "/followup?lang=en")
        page.fill("#code", code.grouped())
        page.click("#code-form button[type=submit]")
    answer = tmp_path / "answer.txt"
    answer.write_bytes(b"ANSWER-FILE")
    page.fill("#message-text", "ANSWER-" + marker)
    page.set_input_files("#message-files", str(answer))
    page.click("text=Encrypt and send >> nth=-1")
    page.wait_for_selector("text=Your message was sent.", timeout=60_000)
    assert page.is_visible(f"text=ANSWER-{marker}")
    assert ("ANSWER-" + marker).encode() not in server.database_text()
    printed = server.cli("cases", "decrypt", case_id, "--key", str(server.key_file), "--out", str(tmp_path / "again"))
    assert "ANSWER-" + marker in printed
    return code


def test_reporter_journey_with_javascript(server, browser, tmp_path, caplog):
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        _journey(server, page, tmp_path, caplog, js=True)
    finally:
        context.close()
    assert errors == []


def test_reporter_journey_without_javascript(server, browser, tmp_path, caplog):
    context = browser.new_context(locale="en-US", java_script_enabled=False)
    page = context.new_page()
    try:
        _journey(server, page, tmp_path, caplog, js=False)
    finally:
        context.close()


def test_a_message_typed_while_a_grant_changed_is_sealed_again_and_sent(server, browser):
    enrol(server.app, "chen.jie")
    _resp, code, _keys = seal_report(server.app.test_client(), "x")  # routed to chen.jie too
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    requests = _record_requests(page)
    try:
        page.goto(server.url + "/followup?lang=en")
        page.wait_for_function("document.getElementById('code-form').dataset.enhanced === 'true'")
        page.fill("#code", code.grouped())
        page.click("#code-form button[type=submit]")
        page.wait_for_selector("#message-text", state="visible", timeout=60_000)
        with server.session() as s:  # a colleague revokes a grant while the reporter writes
            case = s.scalar(select(Case).where(Case.locator == code.locator))
            member = s.scalar(select(Member).where(Member.username == "chen.jie"))
            s.delete(s.get(CaseGrant, (case.id, member.id)))
            s.commit()
        page.fill("#message-text", "TYPED-BEFORE-THE-GRANT-CHANGED")
        page.click("text=Encrypt and send >> nth=-1")
        page.wait_for_selector("text=Your message was sent.", timeout=60_000)
        assert page.is_visible("text=TYPED-BEFORE-THE-GRANT-CHANGED")
    finally:
        context.close()
    assert errors == []
    sends = [url for method, url, _b in requests if method == "POST" and "/api/v1/followup/messages" in url]
    assert len(sends) == 2  # refused once (recipients_changed), sealed again and accepted
    printed = server.cli(
        "cases", "decrypt", case.id, "--key", str(server.key_file), "--out", str(server.config.instance_dir / "out")
    )
    assert "TYPED-BEFORE-THE-GRANT-CHANGED" in printed


def test_a_purged_case_offers_no_message_form(server, browser):
    _resp, code, _keys = seal_report(server.app.test_client(), "x")
    with server.session() as s:
        case = s.scalar(select(Case).where(Case.locator == code.locator))
        cases.add_event(s, case, "closed", today("Asia/Shanghai"))
        retention.purge(s, case, on=today("Asia/Shanghai"), actor=None, reason="retention period ended")
        s.commit()
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    try:
        page.goto(server.url + "/followup?lang=en")
        page.wait_for_function("document.getElementById('code-form').dataset.enhanced === 'true'")
        page.fill("#code", code.grouped())
        page.click("#code-form button[type=submit]")
        page.wait_for_selector("text=new messages can no longer be sent", timeout=60_000)
        assert not page.is_visible("#message-text")
    finally:
        context.close()


def test_typo_in_code_is_caught_before_any_request(server, browser):
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    requests = _record_requests(page)
    page.goto(server.url + "/followup?lang=en")
    page.wait_for_function("document.getElementById('code-form').dataset.enhanced === 'true'")
    digits = ReceiptCode.generate().digits
    typo = digits[:-1] + str((int(digits[-1]) + 3) % 10)
    requests.clear()
    page.fill("#code", typo)
    page.click("#code-form button[type=submit]")
    page.wait_for_selector("#code-status.error")
    assert "typo" in page.text_content("#code-status")
    assert [r for r in requests if "/api/" in r[1]] == []
    context.close()


@pytest.mark.parametrize(
    "answer",
    [
        {"opslimit": 1, "memlimit": 8192},
        {"opslimit": 0, "memlimit": 64 << 20},
        {"opslimit": 1, "memlimit": (8 << 20) - 1},
        {"opslimit": "3", "memlimit": 64 << 20},
        {"salt_bytes": 8},
    ],
)
def test_a_follow_up_cost_below_the_floor_is_refused_before_deriving(server, browser, answer):
    """A server (or whoever answers for it) that hands out a cost of 1 pass and 8 KiB makes
    the lookup token the browser derives, and sends, cheap to test guesses against."""
    import base64
    import os

    context = browser.new_context(locale="en-US")
    page = context.new_page()
    salt = base64.urlsafe_b64encode(os.urandom(answer.pop("salt_bytes", 16))).rstrip(b"=").decode()
    body = {"salt": salt, "opslimit": 3, "memlimit": 64 << 20, **answer}
    page.route(
        "**/api/v1/receipts/*/salt?*",
        lambda route: route.fulfill(status=200, content_type="application/json", body=json.dumps(body)),
    )
    requests = _record_requests(page)
    page.goto(server.url + "/followup?lang=en")
    page.wait_for_function("document.getElementById('code-form').dataset.enhanced === 'true'")
    requests.clear()
    page.fill("#code", ReceiptCode.generate().grouped())
    page.click("#code-form button[type=submit]")
    page.wait_for_selector("#code-status.error")
    assert "weaker than this site allows" in page.text_content("#code-status")
    assert [url for _m, url, _b in requests if "/api/" in url and "/salt" not in url] == []  # no token sent
    context.close()
