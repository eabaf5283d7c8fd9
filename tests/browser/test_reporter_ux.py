"""What a first real user trips over on the reporter's side: the receipt that must be kept,
the code typed with a typo, the timeline that must say only what happened, the footer that
leads to the published figures."""
import pytest

from crypto.receipt import ReceiptCode

pytestmark = pytest.mark.browser


def _context(browser, js=True, lang="en-US"):
    return browser.new_context(locale=lang, java_script_enabled=js)


def test_without_javascript_a_typo_keeps_the_digits_typed(server, browser):
    context = _context(browser, js=False)
    page = context.new_page()
    try:
        digits = ReceiptCode.generate().digits
        typo = digits[:-1] + str((int(digits[-1]) + 3) % 10)
        page.goto(server.url + "/followup?lang=en")
        page.fill("#code", typo)
        page.click("#code-form button[type=submit]")
        page.wait_for_selector("#code-error")
        assert "typo" in page.text_content("#code-error")
        assert page.input_value("#code") == typo  # one digit to fix, not 28 to type again
    finally:
        context.close()
