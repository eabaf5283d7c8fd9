"""Browser fixtures: Debian's Chromium driven by Playwright, and the app on a real port.

The browser is never downloaded: Playwright launches /usr/bin/chromium. Each test gets a
fresh browser context (no shared storage between tests); the server runs once per session
in a background thread on an ephemeral port.
"""

import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from playwright.sync_api import sync_playwright
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from crypto.receipt import ReceiptCode
from whistle.custody import offline
from whistle.clock import today
from whistle.cli import main as cli
from whistle.models import Base
from whistle.security.privacy import QuietRequestHandler
from whistle.services import services

from tests.conftest import KEY_PASSPHRASE, build_app, make_config

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


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
    services(app).engine.dispose()


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


class Server:
    """The app on a real port, with its committee key and a log capture."""

    def __init__(self, tmp_path, **overrides):
        self.config = make_config(tmp_path, **overrides)
        self.app = build_app(self.config)
        self.key_file = tmp_path / "committee.key"
        with Session(services(self.app).engine) as s:
            self.keypair = offline.init_keys(
                s,
                self.key_file,
                KEY_PASSPHRASE,
                "committee",
                today("Asia/Shanghai"),
                opslimit=1,
                memlimit=8 * 1024 * 1024,
            )
            s.commit()
        self.httpd = make_server("127.0.0.1", 0, self.app, threaded=True, request_handler=QuietRequestHandler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def session(self) -> Session:
        return Session(services(self.app).engine, expire_on_commit=False)

    def database_text(self) -> bytes:
        """Every stored byte of every row, for a plaintext scan."""
        out = []
        with services(self.app).engine.connect() as conn:
            for table in Base.metadata.sorted_tables:
                for row in conn.execute(table.select()):
                    for value in row:
                        out.append(bytes(value) if isinstance(value, (bytes, memoryview)) else str(value).encode())
        return b"\n".join(out)

    def cli(self, *args, input=None):
        env = {
            "WHISTLE_INSTANCE_DIR": str(self.config.instance_dir),
            "WHISTLE_DATABASE_URL": self.config.database_url,
            "WHISTLE_PASSPHRASE": KEY_PASSPHRASE,
        }
        result = CliRunner().invoke(cli, list(args), env=env, input=input)
        assert result.exit_code == 0, result.output
        return result.output

    def stop(self):
        self.httpd.shutdown()
        self.thread.join(10)
        self.httpd.server_close()
        services(self.app).engine.dispose()


@pytest.fixture
def server(tmp_path):
    """A fresh app with a committee key on a real port, for one test."""
    srv = Server(tmp_path)
    yield srv
    srv.stop()


def submitted_receipt(page):
    """Submit the report form on ``page`` and read the receipt code it shows."""
    page.click("button[type=submit]")
    page.wait_for_selector("#receipt-code:not(:empty)", state="visible", timeout=60_000)
    return ReceiptCode.parse(page.text_content("#receipt-code"))
