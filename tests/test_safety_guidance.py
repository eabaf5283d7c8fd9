"""The safety advice (templates/_safety.html) is on every reporter page, not only the home
page: the report form, the follow-up, a notice's comment page and a survey; with the onion
address on clearnet pages when one is configured, and never on the committee's pages."""

import dataclasses

import pytest
from sqlalchemy.orm import Session

from whistle.services import services

from tests.conftest import build_app
from tests.test_notices import open_notice
from tests.test_surveys import make_survey

ONION = "http://whistleexampleonionaddressxxxxxxxxxxxxxxxxxxxxxxxxxx.onion"
EN = {"Accept-Language": "en"}


@pytest.fixture
def onion_app(config):
    app = build_app(dataclasses.replace(config, onion_url=ONION))
    yield app
    services(app).engine.dispose()


def _pages(app):
    with Session(services(app).engine) as session:
        notice_id = open_notice(session).id
    return [
        "/",
        "/report/general",
        "/followup",
        f"/notices/{notice_id}",
        f"/surveys/{make_survey(app)}",
        "/transparency",
    ]


def test_guidance_and_onion_address_on_every_reporter_page(onion_app):
    client = onion_app.test_client()
    for path in _pages(onion_app):
        html = client.get(path, headers=EN).get_data(as_text=True)
        assert 'id="safety-guidance"' in html, path
        assert "For the strongest protection use Tor Browser" in html, path
        assert f'<code lang="en">{ONION}</code>' in html, path
        assert 'id="tor-hint" class="hint" hidden' in html and "/static/js/tor-hint.js" in html, path
        assert html.count('id="safety-guidance"') == 1, path


def test_no_onion_address_on_the_onion_itself_nor_without_one(onion_app, app):
    on_onion = onion_app.test_client().get("/followup", headers=EN, base_url=ONION)
    assert 'id="safety-guidance"' in on_onion.get_data(as_text=True)
    assert 'id="onion-address"' not in on_onion.get_data(as_text=True)
    plain = app.test_client().get("/followup", headers=EN).get_data(as_text=True)
    assert 'id="safety-guidance"' in plain and 'id="onion-address"' not in plain


def test_not_on_committee_pages(onion_app):
    html = onion_app.test_client().get("/committee/login", headers=EN).get_data(as_text=True)
    assert "Log in" in html or "login" in html
    assert 'id="safety-guidance"' not in html
