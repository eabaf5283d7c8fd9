"""The follow-up page checks, in the browser, that the report is in the committee's public
log (entry, inclusion proof, checkpoint signature, cosignatures), says so, and gives the
reporter a text to keep; a case that no longer opens while the log has it is named."""

import datetime as dt

from sqlalchemy import select, text

from whistle.clock import today
from whistle.custody import audit, intake_log
from whistle.models import Case, PendingIntake
from whistle.services import services

from tests.client_side import seal_report


def _logged_report(server):
    _resp, code, _keys = seal_report(server.app.test_client(), "log check")
    with server.session() as s:
        day = s.scalar(select(PendingIntake.day))
        intake_log.seal_days(s, day + dt.timedelta(days=1))
        audit.sign(s, server.keypair, today("Asia/Shanghai"), origin=server.config.log_origin)
        s.commit()
    return code, day


def _follow_up(browser, server, code, wait_for):
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    page.goto(server.url + "/followup?lang=en")
    page.wait_for_function("document.getElementById('code-form').dataset.enhanced === 'true'")
    page.fill("#code", code.grouped())
    page.click("#code-form button[type=submit]")
    page.wait_for_selector(wait_for, timeout=60_000)
    return context, page


def test_the_browser_verifies_the_report_is_in_the_log(server, browser):
    code, day = _logged_report(server)
    context, page = _follow_up(browser, server, code, "text=Your report is in the committee's public log since")
    try:
        sentence = page.text_content('#case-area [data-slot="log-result"]')
        assert f"since {day.isoformat()}" in sentence and "No witness" in sentence
        kept = page.input_value('#case-area [data-slot="log-text"]')
        assert "inclusion proof:" in kept and "checkpoint:" in kept and "whistle.invalid/audit" in kept
    finally:
        context.close()


def test_a_tampered_log_does_not_verify(server, browser):
    code, _day = _logged_report(server)
    with services(server.app).engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET day = :d WHERE action = 'intake'"), {"d": dt.date(2020, 1, 1)})
    context, page = _follow_up(browser, server, code, "text=did not verify")
    context.close()


def test_a_case_that_no_longer_opens_but_is_in_the_log_is_named(server, browser):
    code, day = _logged_report(server)
    with server.session() as s:  # the case's row kept, but it no longer answers to its receipt
        case = s.scalar(select(Case).where(Case.locator == code.locator))
        case.verifier = bytes(32)
        s.commit()
    context, page = _follow_up(browser, server, code, "#log-deleted:not([hidden])")
    try:
        assert f"the committee's public log has your report since {day.isoformat()}" in page.text_content(
            "#log-deleted"
        )
        assert "checkpoint:" in page.input_value('#log-deleted [data-slot="log-text"]')
    finally:
        context.close()
