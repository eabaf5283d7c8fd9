"""A contractor answers an integrity survey in headless Chromium: with JavaScript the written
answer is sealed in the browser and a proof of work is solved there; a bribery "yes" offers a
full report; without JavaScript the same form works and makes the same offer."""

import datetime as dt
import json

import pytest
from sqlalchemy import select

from crypto import envelope as env
from whistle.security import proof_of_work as proof
from whistle.channels import surveys
from whistle.clock import today
from whistle.models import SurveyAnswer, SurveyText

from tests.browser.conftest import Server

pytestmark = pytest.mark.browser
POW_BITS = 10  # real work in the browser, still quick


@pytest.fixture
def survey_server(tmp_path):
    srv = Server(tmp_path, pow_bits=POW_BITS)
    day = today("Asia/Shanghai")
    with srv.session() as s:
        survey = surveys.create(
            s,
            title="廉政回访 2026",
            intro="Anonymous questions for contractors.",
            start=day - dt.timedelta(days=1),
            end=day + dt.timedelta(days=7),
            items=[
                surveys.ItemSpec("choice", "Your sector", breakdown=True, options=["Construction", "Supplies"]),
                surveys.ItemSpec("likert", "Officials treated me fairly"),
                surveys.ItemSpec("yes_no", "Were you asked to pay for meals or give gifts?", bribery=True),
                surveys.ItemSpec("free_text", "Anything else?"),
            ],
            owner_unit="stationed_1",
            created_by="zhao.lei",
            on=day,
        )
        survey.status = "open"
        s.commit()
        srv.survey_id = survey.id
    yield srv
    srv.stop()


def _answer(page, sector: str, bribery: str, text: str | None):
    page.check(f"input[name=q0][value='{sector}']")
    page.check("input[name=q1][value='4']")
    page.check(f"input[name=q2][value='{bribery}']")
    if text:
        page.fill("#q3", text)
    page.click("#survey-form button[type=submit]")


def test_answering_a_survey_with_javascript(survey_server, browser):
    srv = survey_server
    marker = "SURVEY-MARKER-他让我请客"
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    errors, requests = [], []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("request", lambda r: requests.append((r.method, r.url, r.post_data or "")))
    try:
        page.goto(f"{srv.url}/surveys/{srv.survey_id}?lang=en")
        page.wait_for_function("document.getElementById('survey-form').dataset.enhanced === 'true'")
        _answer(page, "1", "1", marker)
        page.wait_for_selector("#survey-thanks", state="visible", timeout=60_000)
        assert page.is_visible("#offer-report") and page.is_hidden("#survey-section")
        assert page.get_attribute("#offer-report-link", "href").startswith("/report/contractor")

        # The proof of work was asked for and solved here; the written answer never left in clear.
        assert any(m == "POST" and "/api/v1/pow" in u for m, u, _b in requests)
        posted = [json.loads(b) for m, u, b in requests if m == "POST" and u.split("?")[0].endswith("/responses")]
        assert len(posted) == 1
        sent = posted[0]
        assert sent["answers"] == {"0": 1, "1": 4, "2": 1}
        assert proof.leading_zero_bits(proof.digest(sent["pow"]["challenge"], sent["pow"]["nonce"])) >= POW_BITS
        assert sent["pow"]["challenge"].split(".")[2] == str(POW_BITS)
        assert all(marker not in b for _m, _u, b in requests)
        assert marker.encode() not in srv.database_text()
        with srv.session() as s:
            stored = json.loads(bytes(s.scalar(select(SurveyText.envelope))))
            answers = sorted(s.execute(select(SurveyAnswer.idx, SurveyAnswer.value)).all())
        body, _ = env.open_envelope(stored, srv.keypair)
        assert body == {"answers": [{"item": 3, "text": marker}]}
        assert answers == [(0, 1), (1, 4), (2, 1)]

        # The offer leads to an empty report form: nothing is carried over.
        page.click("#offer-report-link")
        page.wait_for_selector("#report-form")
        assert page.input_value("#narrative") == "" and marker not in page.content()

        # A "no" makes no offer.
        page.goto(f"{srv.url}/surveys/{srv.survey_id}?lang=en")
        page.wait_for_function("document.getElementById('survey-form').dataset.enhanced === 'true'")
        _answer(page, "0", "0", None)
        page.wait_for_selector("#survey-thanks", state="visible", timeout=60_000)
        assert page.is_hidden("#offer-report")
    finally:
        context.close()
    assert not errors, errors


def test_answering_a_survey_without_javascript(survey_server, browser):
    srv = survey_server
    context = browser.new_context(java_script_enabled=False, locale="en-US")
    page = context.new_page()
    try:
        page.goto(f"{srv.url}/surveys/{srv.survey_id}?lang=en")
        _answer(page, "0", "1", "NOJS-SURVEY-TEXT")
        page.wait_for_selector("text=your answers were received")
        assert page.is_visible("#offer-report") and page.is_visible("text=File a contractor report")
        assert b"NOJS-SURVEY-TEXT" not in srv.database_text()
        with srv.session() as s:
            stored = json.loads(bytes(s.scalar(select(SurveyText.envelope))))
        body, _ = env.open_envelope(stored, srv.keypair)
        assert body["answers"][0]["text"] == "NOJS-SURVEY-TEXT"
    finally:
        context.close()
