"""A committee member's first day and first case, in headless Chromium: enrol (password,
authenticator, key made in the browser), log in with TOTP, unlock the key, open a case a
reporter sealed, acknowledge it, reply; the reporter then reads the reply with the code."""
import re
import time

import pyotp
import pytest
from sqlalchemy.orm import Session

from crypto.receipt import ReceiptCode
from whistle import members
from whistle.cases import today

pytestmark = pytest.mark.browser

PASSWORD = "login password for zhao"
KEY_PASSPHRASE = "key passphrase for zhao"


def _invite(server, username):
    with Session(server.app.extensions["whistle.engine"]) as s:
        token = members.invite(s, username, today("Asia/Shanghai"))
        s.commit()
    return token


def _enrol(page, server, username):
    page.goto(f"{server.url}/committee/enrol/{_invite(server, username)}?lang=en")
    secret = page.text_content("#totp-secret").strip()
    page.fill("#password", PASSWORD)
    page.fill("#password2", PASSWORD)
    page.fill("#totp", pyotp.TOTP(secret).now())
    page.fill("#key_passphrase", KEY_PASSPHRASE)
    page.fill("#key_passphrase2", KEY_PASSPHRASE)
    page.click("text=Finish enrolment")
    page.wait_for_url(re.compile(r".*/committee/login.*"), timeout=60_000)
    return secret


def _login(page, server, username, secret):
    page.goto(f"{server.url}/committee/login?lang=en")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.fill("#totp", pyotp.TOTP(secret).at(time.time() + 30))  # the enrolment used the current code
    page.click("button:has-text('Log in')")
    page.wait_for_url(re.compile(r".*/committee/(\?.*)?$"))


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
        page.set_input_files("#files", str(evidence))
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
    # The attachment is fetched as ciphertext and decrypted here, into a file named as sent.
    with page.expect_download() as download:
        page.click("#report-body button:has-text('审批单.txt')")
    assert download.value.suggested_filename == "审批单.txt"
    assert download.value.path().read_text(encoding="utf-8") == "审批单号 2026-0419, held since October"

    page.click("button:has-text('Acknowledge')")
    page.wait_for_selector("#case-status:has-text('Acknowledged')")
    # The key stays unlocked across pages of this session (sealed under the session's key).
    page.wait_for_selector("text=OBSTRUCTION-MARKER 审批被卡", timeout=60_000)
    page.fill("#reply-text", "REPLY-请提供审批单号")
    page.click("button:has-text('Encrypt and send reply')")
    page.wait_for_selector("text=Reply sent to the reporter.")
    page.wait_for_selector("#conversation >> text=REPLY-请提供审批单号")
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
