"""report.js submits under a server-issued locator, and asks for another one after a 409."""

import json

import pytest
from sqlalchemy import select

from crypto.receipt import ReceiptCode
from whistle.models import Case

pytestmark = pytest.mark.browser


def test_report_js_uses_server_locators_and_retries_after_a_409(server, browser, tmp_path):
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    errors, seen, answered = [], [], []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("request", lambda r: seen.append((r.url, r.post_data_buffer or b"")))

    def first_report_is_taken(route):
        # As if someone took the locator between its issue and our submission.
        if not answered:
            answered.append(409)
            route.fulfill(
                status=409,
                content_type="application/json",
                body=json.dumps({"error": "locator_taken", "message": "taken"}),
            )
        else:
            route.continue_()

    page.route("**/api/v1/reports*", first_report_is_taken)
    evidence = tmp_path / "evidence.txt"
    evidence.write_bytes(b"EVIDENCE")
    try:
        page.goto(server.url + "/report/contractor?lang=en")
        page.wait_for_function("document.getElementById('report-form').dataset.enhanced === 'true'")
        page.select_option("#department", "housing")
        page.check("input[name=accused_rank][value=head]")
        page.check("input[name=category][value=gifts]")
        page.select_option("#money_band", "10k_100k")
        page.check("input[name=frequency][value=regular]")
        page.check("input[name=evidence][value=attached]")
        page.fill("#narrative", "locator retry")
        page.set_input_files("#files", str(evidence))
        page.click("button[type=submit]")
        page.wait_for_selector("#receipt-code:not(:empty)", state="visible", timeout=60_000)
        code = ReceiptCode.parse(page.text_content("#receipt-code"))
    finally:
        context.close()
    assert errors == []
    locators = [url for url, _body in seen if "/api/v1/locators" in url]
    reports = [body for url, body in seen if "/api/v1/reports" in url]
    assert len(locators) == 2 and len(reports) == 2  # a new locator for the second attempt
    assert len([url for url, _body in seen if "/api/v1/recipients" in url]) == 1  # sealed once
    assert all(b'"locator_token"' in body for body in reports)
    assert code.digits[7:] not in b"\n".join(reports).decode("latin-1")  # the secret never sent
    with server.session() as session:
        assert session.scalars(select(Case.locator)).all() == [code.locator]
