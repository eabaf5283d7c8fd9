"""Two front doors (WHISTLE_COMMITTEE_HOST): the committee's pages and member API only on
the committee's host names, reporter pages only on the others; one host serves both when
the setting is empty."""

import pytest

from whistle import create_app
from whistle.services import services
from whistle.config import from_env

from tests.conftest import build_app, make_config

COMMITTEE = "committee.example.org"
COMMITTEE_ONION = "b" * 56 + ".onion"
REPORTER = "report.example.org"
COMMITTEE_ROUTES = [
    "/committee",
    "/committee/",
    "/committee/login",
    "/committee/api/me",
    "/committee/enrol/unknown-token",
]
REPORTER_ROUTES = [
    "/report/contractor",
    "/report/general",
    "/followup",
    "/notices",
    "/transparency",
    "/api/v1/pow",
    "/api/v1/receipts/7654321/salt",
]
SHARED = ["/static/css/site.css", "/static/vendor/libsodium-sumo.mjs", "/healthz"]


@pytest.fixture
def two_doors(tmp_path, request):
    app = build_app(make_config(tmp_path, request, committee_hosts=(COMMITTEE, COMMITTEE_ONION)))
    yield app
    services(app).engine.dispose()


def _get(app, host, path):
    return app.test_client().get(
        path, headers={"Host": host, "Accept-Language": "en"}, environ_base={"wsgi.url_scheme": "https"}
    )


def test_the_setting_lists_the_committee_host_names(tmp_path):
    cfg = from_env(
        {"WHISTLE_INSTANCE_DIR": str(tmp_path), "WHISTLE_COMMITTEE_HOST": f" Committee.Example.org , {COMMITTEE_ONION}"}
    )
    assert cfg.committee_hosts == (COMMITTEE, COMMITTEE_ONION)
    assert from_env({"WHISTLE_INSTANCE_DIR": str(tmp_path)}).committee_hosts == ()


def test_the_reporter_host_has_no_committee(two_doors):
    for host in (REPORTER, "127.0.0.1:8000", "other.onion", f"x.{COMMITTEE}"):
        for path in COMMITTEE_ROUTES:
            resp = _get(two_doors, host, path)
            assert resp.status_code == 404, (host, path, resp.status_code)
            assert "Set-Cookie" not in resp.headers  # no committee session is even started
        assert _get(two_doors, host, "/").status_code == 200
        for path in REPORTER_ROUTES[:5] + SHARED:
            assert _get(two_doors, host, path).status_code == 200, (host, path)
    # A post to the member API is refused as not found, before any other check.
    resp = two_doors.test_client().post("/committee/api/me", headers={"Host": REPORTER})
    assert resp.status_code == 404 and resp.is_json


def test_the_committee_host_has_no_reporter_pages(two_doors):
    for host in (COMMITTEE, COMMITTEE.upper() + ":443", COMMITTEE_ONION):
        for path in REPORTER_ROUTES:
            assert _get(two_doors, host, path).status_code == 404, (host, path)
        assert _get(two_doors, host, "/committee/login").status_code == 200
        assert _get(two_doors, host, "/committee/api/me").status_code == 401  # there, but logged out
        for path in SHARED:
            assert _get(two_doors, host, path).status_code == 200, (host, path)
        home = _get(two_doors, host, "/")
        assert home.status_code == 302 and home.headers["Location"] == "/committee/"
    # The 404 is the error page in the visitor's language, not a trace.
    page = _get(two_doors, COMMITTEE, "/report/contractor")
    assert "<html" in page.get_data(as_text=True)


def test_one_host_serves_both_when_unset(tmp_path):
    app = create_app(make_config(tmp_path, migrated=True))
    for path in ["/committee/login"] + REPORTER_ROUTES[:5]:
        assert _get(app, REPORTER, path).status_code == 200, path
    services(app).engine.dispose()
