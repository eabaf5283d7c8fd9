"""A committee member's first day and first case, in headless Chromium: enrol (password,
authenticator, key made in the browser), log in with TOTP, unlock the key, open a case a
reporter sealed, acknowledge it, reply; the reporter then reads the reply with the code."""

import re
import time

import pyotp
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from crypto.receipt import ReceiptCode
from whistle.committee import members
from whistle.clock import today
from whistle.models import Member
from whistle.services import services

pytestmark = pytest.mark.browser

PASSWORD = "login password for zhao"
KEY_PASSPHRASE = "key passphrase for zhao"


def _invite(server, username):
    with Session(services(server.app).engine) as s:
        token = members.invite(s, username, today("Asia/Shanghai"))
        s.commit()
    return token


def _fill_enrolment(page, link, with_key=True):
    """Fill in the enrolment page at ``link``; returns the TOTP secret once the page shows the
    fingerprint a second person confirms. An admin makes no key: they never read cases."""
    page.goto(f"{link}?lang=en")
    secret = page.text_content("#totp-secret").strip()
    page.fill("#password", PASSWORD)
    page.fill("#password2", PASSWORD)
    page.fill("#totp", pyotp.TOTP(secret).now())
    if with_key:
        page.fill("#key_passphrase", KEY_PASSPHRASE)
        page.fill("#key_passphrase2", KEY_PASSPHRASE)
    page.click("text=Finish enrolment")
    page.wait_for_selector("#fingerprint", timeout=60_000)  # waiting for a second person
    return secret


def _enrol(page, server, username, with_key=True):
    secret = _fill_enrolment(page, f"{server.url}/committee/enrol/{_invite(server, username)}", with_key)
    # Confirmed as a second person would (tests/browser/test_enrolment_flow.py types the groups).
    with Session(services(server.app).engine) as s:
        account = s.scalar(select(Member).where(Member.username == username))
        account.confirmed_on = today("Asia/Shanghai")
        s.commit()
    return secret


def _login(page, server, username, secret, home=r".*/committee/(\?.*)?$"):
    page.goto(f"{server.url}/committee/login?lang=en")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.fill("#totp", pyotp.TOTP(secret).at(time.time() + 30))  # the enrolment used the current code
    page.click("button:has-text('Log in')")
    page.wait_for_url(re.compile(home))


def _report(browser, server, marker, evidence=None):
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    page.goto(server.url + "/report/contractor?lang=en")
    page.wait_for_function("document.getElementById('report-form').dataset.enhanced === 'true'")
    page.select_option("#department", "housing")
    page.check("input[name=accused_rank][value=leadership]")
    page.check("input[name=category][value=obstruction]")
    page.select_option("#money_band", "10k_100k")
    page.check("input[name=frequency][value=several]")
    page.check("input[name=evidence][value=can_provide]")
    page.fill("#narrative", marker)
    if evidence is not None:
        page.set_input_files("#files", [str(e) for e in evidence] if isinstance(evidence, list) else str(evidence))
    page.click("button[type=submit]")
    page.wait_for_selector("#receipt-code:not(:empty)", state="visible", timeout=60_000)
    code = ReceiptCode.parse(page.text_content("#receipt-code"))
    context.close()
    return code


def _shots(tmp_path):
    """Where screenshots go: WHISTLE_SCREENSHOTS to keep them, else the test's temp dir."""
    import os
    from pathlib import Path

    folder = Path(os.environ.get("WHISTLE_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_member_first_day_and_first_case(server, browser, tmp_path):
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    secret = _enrol(page, server, "zhao.lei")
    _login(page, server, "zhao.lei", secret)
    cookies = context.cookies()
    assert [c["name"] for c in cookies] == ["__Host-session"] and cookies[0]["httpOnly"] and cookies[0]["secure"]

    evidence = tmp_path / "审批单.txt"
    evidence.write_text("审批单号 2026-0419, held since October", encoding="utf-8")
    code = _report(browser, server, "OBSTRUCTION-MARKER 审批被卡", evidence)
    page.goto(f"{server.url}/committee/?lang=en")
    page.click("table.cases a")
    page.wait_for_selector("#unlock:not([hidden])")
    page.fill("#key-passphrase", "wrong passphrase!!")
    page.click("#unlock-form button")
    page.wait_for_selector("#unlock-status.error")
    page.fill("#key-passphrase", KEY_PASSPHRASE)
    page.click("#unlock-form button")
    page.wait_for_selector("text=OBSTRUCTION-MARKER 审批被卡", timeout=60_000)
    page.screenshot(path=str(_shots(tmp_path) / "committee-case.png"), full_page=True)
    # The attachment is fetched as ciphertext and decrypted here, shown as text; downloaded
    # only after a warning, under a neutral name.
    page.click("#report-body button:has-text('审批单.txt')")
    page.wait_for_selector("#report-body pre.safe-text:has-text('审批单号 2026-0419')")
    with page.expect_download() as download:
        page.click("#report-body button:has-text('Download as attachment-1.bin')")
    assert download.value.suggested_filename == "attachment-1.bin"
    assert download.value.path().read_text(encoding="utf-8") == "审批单号 2026-0419, held since October"

    page.click("button:has-text('Acknowledge')")
    page.wait_for_selector("#case-status:has-text('Acknowledged')")
    assert "The case is acknowledged" in page.text_content("p.flash")  # every action says it was done
    # The key stays unlocked across pages of this session (sealed under the session's key).
    page.wait_for_selector("text=OBSTRUCTION-MARKER 审批被卡", timeout=60_000)
    page.fill("#reply-text", "REPLY-请提供审批单号")
    page.click("button:has-text('Encrypt and send reply')")
    page.wait_for_selector("text=Reply sent to the reporter.")
    page.wait_for_selector("#conversation >> text=REPLY-请提供审批单号")
    # The disposition list preselects nothing; a submit without a choice records nothing
    # (the browser's own check stops it; without that, the server says so).
    assert page.eval_on_selector("#disposition", "s => s.value") == ""
    page.eval_on_selector("#disposition", "s => s.removeAttribute('required')")
    page.click("button:has-text('Record disposition')")
    assert "Choose a disposition" in page.text_content("p.flash.error")
    assert page.text_content("#case-disposition").strip() == "—"
    page.select_option("#disposition", "talk_inquiry")
    page.click("button:has-text('Record disposition')")
    assert "Disposition recorded." in page.text_content("p.flash")
    page.fill("#grade-reason", "checked the amounts")
    page.click("button:has-text('Change grade')")
    assert "Grade changed." in page.text_content("p.flash")
    page.goto(page.url.split("?")[0] + "?lang=zh_Hans")
    page.click("button:has-text('标为正在核查')")
    assert "核查" in page.text_content("p.flash")
    page.goto(f"{server.url}/committee/dashboard?lang=en")
    page.screenshot(path=str(_shots(tmp_path) / "committee-dashboard.png"), full_page=True)
    page.goto(f"{server.url}/committee/?lang=en")
    page.screenshot(path=str(_shots(tmp_path) / "committee-list.png"), full_page=True)

    # Logging out locks the key: the next session must unlock it again.
    page.click("button:has-text('Log out')")
    page.wait_for_url(re.compile(r".*/committee/login.*"))
    context.close()
    assert errors == []

    reporter = browser.new_context(locale="en-US")
    rpage = reporter.new_page()
    rpage.goto(server.url + "/followup?lang=en")
    rpage.wait_for_function("document.getElementById('code-form').dataset.enhanced === 'true'")
    rpage.fill("#code", code.grouped())
    rpage.click("#code-form button[type=submit]")
    rpage.wait_for_selector("text=REPLY-请提供审批单号", timeout=60_000)
    assert rpage.is_visible("text=Acknowledged by the committee")
    reporter.close()


def _member(browser, server, username):
    """A new browser context for ``username``: enrolled, logged in; and its page errors."""
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    secret = _enrol(page, server, username)
    _login(page, server, username, secret)
    return context, page, errors


def _unlock(page):
    page.wait_for_selector("#unlock:not([hidden])")
    page.fill("#key-passphrase", KEY_PASSPHRASE)
    page.click("#unlock-form button")


def _open_case(page, server, marker):
    """Open the one case in the list, unlocking the key (the first time in a session)."""
    page.goto(f"{server.url}/committee/?lang=en")
    page.click("table.cases a")
    _unlock(page)
    page.wait_for_selector(f"text={marker}", timeout=60_000)


def test_a_purge_the_case_outgrew_is_withdrawn_and_a_logged_out_page_says_so(server, browser, tmp_path):
    """Two members in two browsers. Zhao hands the case to Zhang, closes it and proposes an
    early purge; Zhang reopens it for review, then clicks Confirm on the old proposal: the
    page says it was withdrawn and the case is still there. After Zhang logs out in another
    tab, the open case page's next call says the session has ended, in English."""
    zhao_context, zhao, zhao_errors = _member(browser, server, "zhao.lei")
    zhang_context, liu, zhang_errors = _member(browser, server, "liu.yang")
    _report(browser, server, "PURGE-MARKER 押款")
    _open_case(zhao, server, "PURGE-MARKER 押款")
    zhao.select_option("#grant-member", "liu.yang")
    zhao.click("#grant-form button")
    zhao.wait_for_selector("#grant-form .status:has-text('The case was handed over.')")
    zhao.click("button[name=event][value=closed]")
    zhao.wait_for_selector("#case-status:has-text('Closed')")
    zhao.fill("#purge-reason", "a test report")
    zhao.click("button:has-text('Propose purge')")
    zhao.wait_for_selector("text=Purging needs a second member")

    _open_case(liu, server, "PURGE-MARKER 押款")
    liu.click("button:has-text('Reopen for review')")
    liu.wait_for_selector("#case-status:has-text('Under review')")
    # The page has finished opening the case (its script redraws the page as it decrypts):
    # only then is the pending request's button the one a person would press.
    liu.wait_for_selector("text=PURGE-MARKER 押款", timeout=60_000)
    liu.click("ul.pending button:has-text('Confirm')")
    liu.wait_for_selector("text=This case is no longer closed, so the request to purge it was withdrawn.")
    liu.wait_for_selector("text=PURGE-MARKER 押款", timeout=60_000)  # still there, still opens
    assert not liu.is_visible("ul.pending")
    liu.screenshot(path=str(_shots(tmp_path) / "committee-purge-withdrawn.png"), full_page=True)

    other_tab = zhang_context.new_page()
    other_tab.goto(f"{server.url}/committee/?lang=en")
    other_tab.click("button:has-text('Log out')")
    other_tab.wait_for_url(re.compile(r".*/committee/login.*"))
    liu.fill("#note-text", "a note after logout")
    liu.click("button:has-text('Encrypt and save note')")
    liu.wait_for_selector("#note-form .status.error:has-text('Your session has ended. Please log in again.')")
    liu.screenshot(path=str(_shots(tmp_path) / "committee-session-ended.png"), full_page=True)
    zhao_context.close()
    zhang_context.close()
    assert zhao_errors == [] and zhang_errors == []


def test_a_swapped_reporter_key_is_refused_in_the_members_browser(server, browser):
    """Someone who can write the database swaps the stored reporter key for one of their own,
    to read every later reply. The report binds its reporter's key (FORMAT.md §3 v2): the
    member's browser compares before sealing, refuses, says so, and the refusal is audited."""
    from sqlalchemy import func, select, update

    from crypto.keys import KeyPair
    from whistle.models import AuditEntry, Case, CaseItem

    context, page, errors = _member(browser, server, "zhao.lei")
    _report(browser, server, "SWAP-MARKER 调包")
    _open_case(page, server, "SWAP-MARKER 调包")
    assert not page.is_visible("#reporter-key-warning")  # a version 2 report, its own key: no warning
    with server.session() as s:
        s.execute(update(Case).values(reporter_pk=KeyPair.generate().public))
        s.commit()
    page.reload()
    page.wait_for_selector("text=SWAP-MARKER 调包", timeout=60_000)
    page.fill("#reply-text", "REPLY-TO-A-STRANGER")
    page.click("button:has-text('Encrypt and send reply')")
    warning = "The reporter's key given by the server is not the one bound in this report"
    page.wait_for_selector(f'#reporter-key-warning:has-text("{warning}")')
    page.wait_for_selector(f'#reply-form .status.error:has-text("{warning}")')
    with server.session() as s:
        case = s.scalar(select(Case))
        assert s.scalar(select(func.count()).select_from(CaseItem).where(CaseItem.case_id == case.id)) == 1
        refused = s.scalars(select(AuditEntry).where(AuditEntry.action == "refused_reply")).all()
        assert [(e.actor, e.case_id, e.detail) for e in refused] == [
            ("zhao.lei", case.id, '{"reason":"reporter_key_mismatch"}')
        ]
        assert s.scalar(select(AuditEntry).where(AuditEntry.action == "reply")) is None
    # A note is not sealed to the reporter: it still goes through.
    page.fill("#note-text", "NOTE-AFTER-SWAP")
    page.click("button:has-text('Encrypt and save note')")
    page.wait_for_selector("#notes >> text=NOTE-AFTER-SWAP")
    context.close()
    assert errors == []


def test_a_version_1_report_is_answered_with_a_notice_that_its_key_is_unchecked(server, browser):
    """A report stored before version 2 binds no reporter key: the member is told the key
    cannot be checked, and the reply still goes out (old cases stay answerable)."""
    import json

    from sqlalchemy import select, update

    from crypto import envelope as env
    from whistle.models import CaseItem, CommitteeKey, Member

    context, page, errors = _member(browser, server, "zhao.lei")
    _report(browser, server, "OLD-MARKER 旧案")
    with server.session() as s:
        item = s.scalar(select(CaseItem).where(CaseItem.kind == "report"))
        header = {k: v for k, v in json.loads(item.envelope)["header"].items() if k != "rk"}
        keys = [k for k in [*s.scalars(select(CommitteeKey.public_key)), *s.scalars(select(Member.public_key))] if k]
        old = env.seal("report", header, {"narrative": "OLD-MARKER 旧案"}, keys, version=1).envelope
        s.execute(update(CaseItem).where(CaseItem.id == item.id).values(envelope=json.dumps(old).encode()))
        s.commit()
    _open_case(page, server, "OLD-MARKER 旧案")
    page.wait_for_selector('#reporter-key-warning:has-text("filed before reports bound the reporter\'s key")')
    page.fill("#reply-text", "REPLY-TO-AN-OLD-CASE")
    page.click("button:has-text('Encrypt and send reply')")
    page.wait_for_selector("#conversation >> text=REPLY-TO-AN-OLD-CASE")
    context.close()
    assert errors == []


SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>'
    b'document.title="SVG-RAN"</script><rect width="10" height="10" fill="red"/></svg>'
)


def test_attachments_open_safely(server, browser, tmp_path):
    """A PNG is drawn on a canvas from decoded pixels; an SVG is never rendered (no <img>, no
    <svg>, no frame); an unknown type is offered as attachment-N.bin only after a warning."""
    from PIL import Image

    Image.new("RGB", (30, 20), (220, 0, 0)).save(tmp_path / "photo.png")
    (tmp_path / "drawing.svg").write_bytes(SVG)
    (tmp_path / "ledger.xyz").write_bytes(b"\x00\x01UNKNOWN-BYTES")
    context, page, errors = _member(browser, server, "zhao.lei")
    _report(
        browser, server, "SAFE-OPEN-MARKER", [tmp_path / "photo.png", tmp_path / "drawing.svg", tmp_path / "ledger.xyz"]
    )
    _open_case(page, server, "SAFE-OPEN-MARKER")
    svgs_before = page.evaluate("document.querySelectorAll('svg').length")

    page.click("#report-body button:has-text('photo.png')")
    canvas = page.wait_for_selector("#report-body canvas.safe-image")
    assert canvas.evaluate("c => [c.width, c.height]") == [30, 20]
    assert canvas.evaluate("c => Array.from(c.getContext('2d').getImageData(15, 10, 1, 1).data)")[:3] == [220, 0, 0]

    page.click("#report-body button:has-text('drawing.svg')")
    page.wait_for_selector("#report-body .safe-view[data-kind=other]")
    assert page.evaluate("document.querySelectorAll('img, object, embed, iframe:not([sandbox])').length") == 0
    assert page.evaluate("document.querySelectorAll('svg').length") == svgs_before
    assert page.evaluate("document.querySelectorAll('canvas').length") == 1 and page.title() != "SVG-RAN"

    page.click("#report-body button:has-text('ledger.xyz')")
    view = page.wait_for_selector("#report-body li:has-text('ledger.xyz') .safe-view")
    assert "not connected to any network" in view.text_content()
    with page.expect_download() as download:
        view.query_selector("button:has-text('.bin')").click()
    assert download.value.suggested_filename.endswith(".bin")
    assert "ledger" not in download.value.suggested_filename
    assert download.value.path().read_bytes() == b"\x00\x01UNKNOWN-BYTES"
    context.close()
    assert errors == []


class _Watcher:
    """An HTTP server on its own port that records every request it gets."""

    def __init__(self):
        import http.server
        import random
        import threading

        hits = self.hits = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the stdlib's name
                hits.append(self.path)
                self.send_response(200)
                self.send_header("Access-Control-Allow-Origin", "*")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 5100 + random.randrange(800, 900)), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_pdf_renders_in_a_sandboxed_frame_without_network(server, browser, tmp_path):
    """A PDF attachment is drawn by pdf.js inside <iframe sandbox="allow-scripts">; from inside
    that frame, no request reaches another server (fetch, an image, a worker's fetch)."""
    from tests.test_safe_open import pdf_with_text

    (tmp_path / "memo.pdf").write_bytes(pdf_with_text("PDF-IN-FRAME", "A title"))
    watcher = _Watcher()
    try:
        context, page, errors = _member(browser, server, "zhao.lei")
        _report(browser, server, "PDF-MARKER", tmp_path / "memo.pdf")
        _open_case(page, server, "PDF-MARKER")
        page.click("#report-body button:has-text('memo.pdf')")
        frame_el = page.wait_for_selector("#report-body iframe.safe-pdf[data-rendered=true]", timeout=15_000)
        assert frame_el.get_attribute("sandbox") == "allow-scripts"
        frame = frame_el.content_frame()
        assert frame.evaluate("document.body.dataset.pages") == "1"
        # The page was drawn: some dark pixels (the text) on the white page.
        dark = frame.evaluate("""() => { const c = document.querySelector('#pages canvas');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] < 100) n++; return n; }""")
        assert dark > 50
        assert (
            frame.evaluate("() => { try { return document.cookie, 'cookie readable'; } catch { return 'opaque'; } }")
            == "opaque"
        )
        outcome = frame.evaluate(f"""async () => {{
            const img = new Image(); img.src = "{watcher.url}/img";
            const w = new Worker(URL.createObjectURL(new Blob(['fetch("{watcher.url}/worker").catch(() => 0)'])));
            try {{ await fetch("{watcher.url}/fetch"); return "fetched"; }} catch {{ return "blocked"; }} }}""")
        page.wait_for_timeout(1000)
        assert outcome == "blocked" and watcher.hits == []
        # The control: the same fetch from the test itself reaches the watcher.
        import urllib.request

        urllib.request.urlopen(watcher.url + "/control").close()
        assert watcher.hits == ["/control"]
        context.close()
        assert errors == []
    finally:
        watcher.stop()


def test_admin_home_is_members(server, browser):
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    secret = _enrol(page, server, "ma.lin", with_key=False)
    _login(page, server, "ma.lin", secret, home=r".*/committee/admin/members$")
    assert page.locator("nav.workspace-nav a:has-text('My cases')").count() == 0
    context.close()


def test_the_first_day_in_the_readmes_order(server, browser, tmp_path):
    """README "Try the committee side": a report filed before anyone enrolled; a member
    enrols and the console confirms the first account; the list and the dashboard agree that
    the member can open nothing yet and say one case waits for a re-grant, and how; the
    single key file re-grants it; the member reads the report in the browser."""
    _report(browser, server, "FIRST-DAY-MARKER 押款")
    link = server.cli("members", "invite", "zhao.lei", "--base-url", server.url).strip().splitlines()[-1]
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    secret = _fill_enrolment(page, link)
    fingerprint = page.text_content("#fingerprint").strip()
    server.cli("members", "confirm", "zhao.lei", "--fingerprint", fingerprint)
    _login(page, server, "zhao.lei", secret)
    page.goto(f"{server.url}/committee/?lang=en")
    assert page.locator("table.cases a").count() == 0
    notice = page.text_content("#awaiting-regrant")
    assert "1 case of your unit waits for a re-grant." in notice and "--regrant-orphans-to zhao.lei" in notice
    page.screenshot(path=str(_shots(tmp_path) / "committee-awaiting-regrant.png"), full_page=True)
    page.goto(f"{server.url}/committee/dashboard?lang=en")
    assert page.text_content("ul.figures li:first-child strong") == "0"
    assert page.text_content("ul.figures li:nth-child(2) strong") == "0"
    assert "1 case of your unit waits for a re-grant." in page.text_content("#awaiting-regrant")

    output = server.cli("keys", "recover", "--key", str(server.key_file), "--regrant-orphans-to", "zhao.lei")
    assert "re-granted" in output
    page.goto(f"{server.url}/committee/?lang=en")
    assert page.locator("#awaiting-regrant").count() == 0
    page.click("table.cases a")
    page.wait_for_selector("#unlock:not([hidden])")
    page.fill("#key-passphrase", KEY_PASSPHRASE)
    page.click("#unlock-form button")
    page.wait_for_selector("text=FIRST-DAY-MARKER 押款", timeout=60_000)
    # The case page: content on the left and the facts and actions beside it at 1280 px,
    # one column (content first) on a phone, with nothing wider than the screen.
    page.set_viewport_size({"width": 1280, "height": 900})
    main, side = page.locator(".case-main").bounding_box(), page.locator(".case-side").bounding_box()
    assert side["x"] >= main["x"] + main["width"] and abs(side["y"] - main["y"]) < 2
    page.set_viewport_size({"width": 360, "height": 800})
    main, side = page.locator(".case-main").bounding_box(), page.locator(".case-side").bounding_box()
    assert side["y"] >= main["y"] + main["height"] and page.evaluate("document.documentElement.scrollWidth") <= 360
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{server.url}/committee/dashboard?lang=en")
    assert page.text_content("ul.figures li:first-child strong") == "1"
    context.close()
