"""The gentle Tor Browser hint (static/js/tor-hint.js) is decided in the browser alone: shown
in Chromium (plainly not Tor Browser), with no request beyond the page's own files."""

import pytest

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("path", ["/", "/followup", "/report/general"])
def test_hint_shown_in_chromium_without_any_request(server, browser, path):
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    try:
        page.goto(f"{server.url}{path}?lang=en")
        page.wait_for_selector("#tor-hint:not([hidden])")
        assert "nothing is stored or sent" in page.inner_text("#tor-hint")
        page.wait_for_load_state("networkidle")
        others = [
            u for u in requests if not u.startswith(f"{server.url}/static/") and u != f"{server.url}{path}?lang=en"
        ]
        assert others == [f"{server.url}/favicon.ico"] or others == [], others
        assert page.evaluate("localStorage.length + sessionStorage.length") == 0
        assert context.cookies() == []
    finally:
        context.close()
