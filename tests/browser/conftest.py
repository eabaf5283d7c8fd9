"""Browser fixtures: Debian's Chromium driven by Playwright, and the app on a real port.

The browser is never downloaded: Playwright launches /usr/bin/chromium. Each test gets a
fresh browser context (no shared storage between tests); the server runs once per session
in a background thread on an ephemeral port.
"""
import threading
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

from tests.conftest import build_app, make_config
from whistle.privacy import QuietRequestHandler

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the whole session."""
    if not CHROMIUM.exists():
        pytest.fail(f"browser tests need {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    """The whistle app served by werkzeug in a background thread; yields its base URL."""
    app = build_app(make_config(tmp_path_factory.mktemp("live")))
    # The quiet handler writes no access line: those carry the client address.
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietRequestHandler)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()
    app.extensions["whistle.engine"].dispose()


def _console_error(errors: list, msg) -> None:
    # Chromium asks for /favicon.ico on its own; the app has none, and that 404 is noise.
    if msg.type == "error" and not msg.location.get("url", "").endswith("/favicon.ico"):
        errors.append(f"{msg.text} ({msg.location.get('url')})")


def _new_page(browser, errors: list):
    # No bypass_csp: the crypto must work under the app's real Content-Security-Policy,
    # and a CSP violation shows up as a console error, which fails the test.
    context = browser.new_context()
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: _console_error(errors, msg))
    return context, page


@pytest.fixture
def page(browser):
    """A page in a fresh context, for one test. Uncaught page errors fail the test."""
    errors: list[str] = []
    context, page = _new_page(browser, errors)
    page.errors = errors
    yield page
    context.close()
    assert not errors, f"errors in the page: {errors}"


@pytest.fixture(scope="module")
def module_page(browser):
    """One page shared by a module's tests (the vector runner loads the wasm only once)."""
    errors: list[str] = []
    context, page = _new_page(browser, errors)
    page.errors = errors
    yield page
    context.close()
    assert not errors, f"errors in the page: {errors}"
