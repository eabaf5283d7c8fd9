"""Disclosing a real-name reporter's identity in headless Chromium: the reporter gives a name
(sealed apart from the report); the member handling the case sees only "sealed" and asks,
with a reason; the custodian approves and their browser re-seals the identity to the member,
who then reads it on the case page. The name never reaches the server in clear."""

import pytest
from sqlalchemy import select

from whistle.models import AuditEntry

from tests.browser.test_committee_flow import _member, _unlock

pytestmark = pytest.mark.browser

NAME = "实名举报人-91c3"


def _real_name_report(browser, server):
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    page.goto(server.url + "/report/contractor?lang=en")
    page.wait_for_function("document.getElementById('report-form').dataset.enhanced === 'true'")
    page.select_option("#department", "housing")
    page.check("input[name=accused_rank][value=staff]")
    page.check("input[name=category][value=meals]")
    page.select_option("#money_band", "under_1k")
    page.check("input[name=frequency][value=once]")
    page.check("input[name=evidence][value=none]")
    page.fill("#narrative", "IDENTITY-FLOW-REPORT")
    page.fill("#identity_name", NAME)
    page.fill("#identity_contact", "name@example.invalid")
    page.click("#report-form button[type=submit]")
    page.wait_for_selector("#receipt-code:not(:empty)", state="visible", timeout=60_000)
    context.close()


def test_identity_is_disclosed_by_a_custodian_to_the_member_who_asked(server, browser):
    zhao_ctx, zhao, zhao_errors = _member(browser, server, "zhao.lei")
    chen_ctx, chen, chen_errors = _member(browser, server, "chen.jie")
    _real_name_report(browser, server)

    # The member handling the case: the report opens, the name does not.
    zhao.goto(f"{server.url}/committee/?lang=en")
    zhao.click("table.cases a")
    _unlock(zhao)
    zhao.wait_for_selector("text=IDENTITY-FLOW-REPORT", timeout=60_000)
    assert zhao.is_visible("#identity-sealed") and not zhao.is_visible(f"text={NAME}")
    zhao.fill("#identity-reason", "REASON: the reporter offered to testify")
    zhao.click("button:has-text('Request disclosure')")
    zhao.wait_for_selector("text=It waits for a custodian's approval.")

    # The custodian approves; their browser re-seals the identity for zhao.
    chen.goto(f"{server.url}/committee/identity-requests?lang=en")
    assert chen.is_visible("text=REASON: the reporter offered to testify")
    chen.click("button:has-text('Approve')")
    chen.wait_for_selector("button.disclose")
    _unlock(chen)
    chen.click("button.disclose")
    chen.wait_for_selector("text=The identity was disclosed to the member who asked.", timeout=60_000)
    assert not chen.is_visible(f"text={NAME}")  # re-sealed without being shown

    # zhao now reads it in its own section.
    zhao.reload()
    zhao.wait_for_selector(f"#identity-body >> text={NAME}", timeout=60_000)
    assert zhao.is_visible("#identity-body >> text=name@example.invalid")
    for context in (zhao_ctx, chen_ctx):
        context.close()
    assert zhao_errors == [] and chen_errors == []
    assert NAME.encode() not in server.database_text()
    with server.session() as s:
        actions = [
            a for a in s.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)) if a.startswith("identity_")
        ]
    assert actions == ["identity_requested", "identity_approved", "identity_disclosed"]
