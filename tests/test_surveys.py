"""Integrity surveys (廉政回访): the committee writes, opens, closes and publishes a
questionnaire; contractors answer anonymously through one link, with or without JavaScript;
a bribery "yes" offers a full report; free text is sealed; results carry no small count."""

import datetime as dt
import json
import re

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from crypto import envelope as env
from crypto.encoding import unb64u
from whistle.channels import surveys
from whistle.clock import today
from whistle.config import PACKAGE_DIR
from whistle.models import AuditEntry, Survey, SurveyAnswer, SurveyResponse, SurveyText
from whistle.rules.parse import RulesError, parse
from whistle.services import services

from tests.client_side import proof_of_work
from tests.committee.conftest import enrol

EN = {"Accept-Language": "en"}
TODAY = today("Asia/Shanghai")
ITEMS = [
    surveys.ItemSpec("choice", "Your sector", breakdown=True, options=["Construction", "Supplies", "Services"]),
    surveys.ItemSpec("likert", "Officials handled my matter fairly"),
    surveys.ItemSpec("yes_no", "Were you asked to pay for meals or give gifts?", bribery=True),
    surveys.ItemSpec("yes_no", "Was an approval or payment delayed until you did?", bribery=True),
    surveys.ItemSpec("free_text", "Anything else?"),
]


def make_survey(app, *, start=None, end=None, status="open", items=ITEMS, unit="stationed_1", published=False):
    with Session(services(app).engine, expire_on_commit=False) as s:
        survey = surveys.create(
            s,
            title="2026 contractor survey",
            intro="Anonymous.",
            start=start or TODAY - dt.timedelta(days=1),
            end=end or TODAY + dt.timedelta(days=10),
            items=items,
            owner_unit=unit,
            created_by="zhao.lei",
            on=TODAY,
        )
        survey.status, survey.published = status, published
        s.commit()
        return survey.id


def answer(client, survey_id, answers, texts=None, **extra):
    """Answer the way survey.js does: seal the texts to the survey's recipients, solve a proof."""
    submission = {"answers": {str(k): v for k, v in answers.items()}, "pow": proof_of_work(client)}
    if texts:
        info = client.get(f"/api/v1/surveys/{survey_id}").get_json()
        body = {"answers": [{"item": k, "text": v} for k, v in sorted(texts.items())]}
        submission["envelope"] = env.seal(
            "survey", {"survey": survey_id}, body, [unb64u(r["public_key"]) for r in info["recipients"]]
        ).envelope
    submission.update(extra)
    return client.post(f"/api/v1/surveys/{survey_id}/responses", json=submission, headers=EN)


# --- rules ---------------------------------------------------------------------------------


RULES = (PACKAGE_DIR / "data" / "rules.example.toml").read_text(encoding="utf-8")


def _with_surveys(table: str) -> str:
    start = RULES.index("[surveys]")
    return RULES[:start] + table


def test_rules_surveys_table():
    rules = parse(RULES, "rules.toml")
    assert rules.surveys.min_cell == 5 and rules.surveys.unit == "case_management"
    assert parse(RULES[: RULES.index("[surveys]")], "rules.toml").surveys == surveys_defaults()
    assert parse(_with_surveys("[surveys]\nmin_cell = 10\n"), "r").surveys.min_cell == 10
    assert rules.surveys.texts_kept_days == 365
    assert parse(_with_surveys("[surveys]\ntexts_kept_days = 30\n"), "r").surveys.texts_kept_days == 30
    for bad, message in [
        ("min_cell = 1", "min_cell must be a whole number from 2 to 1000"),
        ("min_cell = true", "min_cell must be"),
        ('min_cell = "5"', "min_cell must be"),
        ('unit = "nowhere"', "unit 'nowhere' is not a unit"),
        ('unit = "city_cdi"', "must be a local unit"),
        ("k = 3", "unknown field 'k'"),
        ("texts_kept_days = 0", "texts_kept_days must be a whole number of days from 1"),
        ('texts_kept_days = "1y"', "texts_kept_days must be"),
    ]:
        with pytest.raises(RulesError, match=re.escape(message)):
            parse(_with_surveys(f"[surveys]\n{bad}\n"), "rules.toml")


def surveys_defaults():
    from whistle.rules.parse import SurveyRules

    return SurveyRules(5, None, 365)


# --- committee pages -----------------------------------------------------------------------


@pytest.fixture
def staff(app, committee):
    return {name: enrol(app, name) for name in ("zhao.lei", "li.na", "wu.jing", "zhang.wei", "ma.lin")}


def test_who_manages_surveys(staff):
    for name, status in (("zhao.lei", 200), ("wu.jing", 200), ("zhang.wei", 200), ("li.na", 403), ("ma.lin", 403)):
        assert staff[name].client.get("/committee/surveys/new").status_code == status, name
        assert staff[name].client.get("/committee/surveys").status_code == 200, name


# 2000 characters as a textarea counts them; a browser sends each line break as CRLF (2199).
TYPED_2000 = ("x" * 9 + "\n") * 199 + "x" * 10


def _form(title="Contractor survey", start=TODAY, end=TODAY + dt.timedelta(days=14)):
    data = {
        "title": title,
        "intro": "Anonymous questions.",
        "period_start": start.isoformat(),
        "period_end": end.isoformat(),
        "breakdown": "0",
    }
    rows = [
        ("choice", "Your sector", "Construction\nSupplies\nServices", False),
        ("likert", "Officials handled my matter fairly", "", False),
        ("yes_no", "Were you asked to pay for meals or give gifts?", "", True),
        ("free_text", "Anything else?", "", False),
        ("", "", "", False),
    ]
    for n, (kind, text, options, bribery) in enumerate(rows):
        data.update({f"item-{n}-kind": kind, f"item-{n}-text": text, f"item-{n}-options": options})
        if bribery:
            data[f"item-{n}-bribery"] = "1"
    return data


def test_committee_writes_opens_closes_and_publishes(app, staff, client, db_session):
    lead = staff["zhao.lei"]
    bad = lead.post(
        "/committee/surveys/new", data=dict(_form(), **{"item-1-bribery": "1", "period_end": "2000-01-01"}), headers=EN
    )
    assert bad.status_code == 400
    html = bad.get_data(as_text=True)
    assert "Only a yes-or-no question can ask about bribery." in html and "cannot end before it starts" in html
    resp = lead.post("/committee/surveys/new", data=dict(_form(), intro=TYPED_2000.replace("\n", "\r\n")))
    assert resp.status_code == 302
    survey_id = resp.headers["Location"].rsplit("/", 1)[1]
    survey = db_session.get(Survey, survey_id)
    assert survey.status == "draft" and survey.owner_unit == "stationed_1"
    assert survey.intro == TYPED_2000  # at the limit as the textarea counts it
    assert [(q.kind, q.bribery, q.breakdown) for q in survey.questions] == [
        ("choice", False, True),
        ("likert", False, False),
        ("yes_no", True, False),
        ("free_text", False, False),
    ]
    assert client.get(f"/surveys/{survey_id}").status_code == 404  # a draft is not public
    assert staff["li.na"].post(f"/committee/surveys/{survey_id}/open").status_code == 403
    page = lead.client.get(f"/committee/surveys/{survey_id}/edit").get_data(as_text=True)
    assert "Officials handled my matter fairly" in page

    assert lead.post(f"/committee/surveys/{survey_id}/open").status_code == 302
    db_session.expire_all()
    assert db_session.get(Survey, survey_id).status == "open"
    assert lead.client.get(f"/committee/surveys/{survey_id}/edit").status_code == 303  # no edits once open
    public = client.get(f"/surveys/{survey_id}", headers=EN)
    assert public.status_code == 200 and "Set-Cookie" not in public.headers
    assert 'id="survey-form"' in public.get_data(as_text=True)

    for n in range(7):
        assert answer(client, survey_id, {0: n % 2, 1: 4, 2: 0}).status_code == 201
    page = lead.client.get(f"/committee/surveys/{survey_id}", headers=EN).get_data(as_text=True)
    assert 'id="survey-count">7<' in page and "Results are shown once the survey takes no more answers" in page
    assert lead.post(f"/committee/surveys/{survey_id}/publish").status_code == 303  # still taking answers
    assert lead.post(f"/committee/surveys/{survey_id}/close").status_code == 302
    assert answer(client, survey_id, {1: 4}).status_code == 409
    page = lead.client.get(f"/committee/surveys/{survey_id}", headers=EN).get_data(as_text=True)
    assert "fewer than 5" in page and 'data-figure="7"' in page
    assert client.get(f"/surveys/{survey_id}/results").status_code == 404  # not published yet
    assert lead.post(f"/committee/surveys/{survey_id}/publish").status_code == 302
    results = client.get(f"/surveys/{survey_id}/results", headers=EN)
    assert results.status_code == 200 and "Set-Cookie" not in results.headers
    data = client.get(f"/api/v1/surveys/{survey_id}/results").get_json()
    likert = data["questions"][1]["answers"]
    assert {a["code"]: a["count"] for a in likert} == {"5": 0, "4": 7, "3": 0, "2": 0, "1": 0, "none": 0}
    sector = {a["code"]: a["count"] for a in data["questions"][0]["answers"]}
    assert sector == {"0": "<5", "1": "<5", "2": 0, "none": 0}  # 4 and 3: both fewer than 5
    actions = [e.action for e in db_session.scalars(select(AuditEntry).order_by(AuditEntry.seq))]
    for action in ("survey_created", "survey_opened", "survey_closed", "survey_published"):
        assert action in actions


def test_members_of_the_owning_unit_read_the_sealed_free_text(app, staff, client, db_session, committee):
    survey_id = make_survey(app)
    resp = answer(client, survey_id, {2: 1}, texts={4: "SECRET-TEXT 饭局"})
    assert resp.status_code == 201 and resp.get_json() == {"offer_report": True}
    assert b"SECRET-TEXT" not in b"".join(bytes(e) for e in db_session.scalars(select(SurveyText.envelope)))
    stored = json.loads(bytes(db_session.scalar(select(SurveyText.envelope))))
    assert stored["kind"] == "survey" and stored["header"] == {"survey": survey_id}
    body, _ = env.open_envelope(stored, committee[0])
    assert body == {"answers": [{"item": 4, "text": "SECRET-TEXT 饭局"}]}
    for name in ("zhao.lei", "li.na"):  # stationed_1: the owning unit
        texts = staff[name].api("get", f"/committee/api/surveys/{survey_id}/texts")
        assert texts.status_code == 200
        opened, _ = env.open_envelope(texts.get_json()["envelopes"][0], staff[name].keypair)
        assert opened["answers"][0]["text"] == "SECRET-TEXT 饭局"
    assert staff["zhang.wei"].api("get", f"/committee/api/surveys/{survey_id}/texts").status_code == 403
    actions = [e.action for e in db_session.scalars(select(AuditEntry))]
    assert actions.count("survey_texts") == 2 and "refused_survey_texts" in actions
    page = staff["li.na"].client.get(f"/committee/surveys/{survey_id}").get_data(as_text=True)
    assert "committee-survey.js" in page


def test_the_offline_cli_reads_the_sealed_free_text(app, config, client, committee, db_session, monkeypatch):
    """`whistle surveys texts` opens every response's free text with the committee key (JS and
    no-JS answers alike), records the reading before decrypting, counts what the browser
    sealed in another shape as skipped, and refuses a wrong passphrase or an unknown survey
    without recording anything."""
    from click.testing import CliRunner

    from whistle.cli import main
    from tests.conftest import KEY_PASSPHRASE

    survey_id = make_survey(app)
    assert answer(client, survey_id, {2: 1}, texts={4: "JS-TEXT 饭局"}).status_code == 201
    assert client.post(f"/surveys/{survey_id}", data={"q1": "5", "q4": "NOJS-TEXT 卡要"}, headers=EN).status_code == 200
    assert answer(client, survey_id, {1: 3}).status_code == 201  # no text: nothing to open
    # Anyone may answer, and the server cannot read what a browser sealed: odd shapes get in.
    recipients = [unb64u(r["public_key"]) for r in client.get(f"/api/v1/surveys/{survey_id}").get_json()["recipients"]]
    for odd in (
        {"answers": [{"item": [4], "text": "x"}]},
        {"answers": [{"item": 1, "text": "x"}]},
        {"answers": [{"item": 4, "text": 5}]},
        {"answers": "x"},
        ["x"],
    ):
        envelope = env.seal("survey", {"survey": survey_id}, odd, recipients).envelope
        assert answer(client, survey_id, {1: 2}, envelope=envelope).status_code == 201
    monkeypatch.setenv("WHISTLE_INSTANCE_DIR", str(config.instance_dir))
    monkeypatch.setenv("WHISTLE_DATABASE_URL", config.database_url)
    monkeypatch.delenv("WHISTLE_PASSPHRASE", raising=False)
    runner, key = CliRunner(), str(committee[1])
    listed = runner.invoke(main, ["surveys", "list"])
    assert listed.exit_code == 0 and survey_id in listed.output and "2026 contractor survey" in listed.output
    wrong = runner.invoke(main, ["surveys", "texts", survey_id[:10], "--key", key], input="wrong passphrase\n")
    assert wrong.exit_code == 1 and "wrong passphrase" in wrong.output and "JS-TEXT" not in wrong.output
    for unknown, message in (
        ("abcdef0", "no single survey matches"),
        ("ab", "at least 6 hex characters"),
        ("nosuchsurvey", "at least 6 hex characters"),
    ):
        refused = runner.invoke(main, ["surveys", "texts", unknown, "--key", key], input=KEY_PASSPHRASE + "\n")
        assert refused.exit_code == 1 and message in refused.output, refused.output
    assert "survey_texts" not in [e.action for e in db_session.scalars(select(AuditEntry))]
    result = runner.invoke(main, ["surveys", "texts", survey_id[:10], "--key", key], input=KEY_PASSPHRASE + "\n")
    assert result.exit_code == 0, result.output
    opened = json.loads(result.output[result.output.index("{") :])
    assert opened["survey"] == survey_id and opened["questions"] == {"4": "Anything else?"}
    assert opened["skipped"] == 5
    assert sorted(answers[0]["text"] for answers in opened["responses"]) == ["JS-TEXT 饭局", "NOJS-TEXT 卡要"]
    assert all(answers[0]["question"] == "Anything else?" for answers in opened["responses"])
    db_session.expire_all()
    entries = [e for e in db_session.scalars(select(AuditEntry)) if e.action == "survey_texts"]
    assert len(entries) == 1 and entries[0].actor == "committee-key"


# --- answering -----------------------------------------------------------------------------


def test_a_written_answer_counts_a_line_break_once(app, client, committee, db_session):
    assert len(TYPED_2000) == surveys.MAX_ANSWER_CHARS
    survey_id = make_survey(app)
    page = client.post(f"/surveys/{survey_id}", data={"q1": "4", "q4": TYPED_2000.replace("\n", "\r\n")}, headers=EN)
    assert page.status_code == 200, re.findall(r'class="error"[^>]*>([^<]*)', page.get_data(as_text=True))
    body, _ = env.open_envelope(json.loads(bytes(db_session.scalar(select(SurveyText.envelope)))), committee[0])
    assert body == {"answers": [{"item": 4, "text": TYPED_2000}]}  # sealed as typed


def test_bribery_yes_offers_a_report_with_and_without_javascript(app, client, committee, db_session):
    first_day = today("Asia/Shanghai")  # the committee's day now (TODAY is the day the tests were collected)
    survey_id = make_survey(app)
    assert answer(client, survey_id, {2: 0, 3: 0}).get_json() == {"offer_report": False}
    assert answer(client, survey_id, {3: 1}).get_json() == {"offer_report": True}
    page = client.post(f"/surveys/{survey_id}", data={"q1": "5", "q2": "1", "q4": "NOJS-TEXT"}, headers=EN)
    assert page.status_code == 200 and "Set-Cookie" not in page.headers
    html = page.get_data(as_text=True)
    assert "your answers were received" in html
    offer = re.search(r'<div id="offer-report"[^>]*>', html).group(0)
    assert "hidden" not in offer and "/report/contractor" in html
    html = client.post(f"/surveys/{survey_id}", data={"q2": "0"}, headers=EN).get_data(as_text=True)
    assert "hidden" in re.search(r'<div id="offer-report"[^>]*>', html).group(0)
    assert b"NOJS-TEXT" not in b"".join(bytes(e) for e in db_session.scalars(select(SurveyText.envelope)))
    # Nothing links a response to anything: no case, no text, no address, no time of day.
    columns = {c["name"] for c in inspect(db_session.get_bind()).get_columns("survey_responses")}
    assert columns == {"id", "survey_id", "answered_on"}
    columns = {c["name"] for c in inspect(db_session.get_bind()).get_columns("survey_texts")}
    assert columns == {"id", "survey_id", "envelope"}
    values = db_session.execute(select(SurveyAnswer.idx, SurveyAnswer.value)).all()
    assert all(isinstance(v, int) and 0 <= v <= 5 for _i, v in values)
    days = {first_day, today("Asia/Shanghai")}  # the test may run across the committee's midnight
    assert all(r.answered_on in days for r in db_session.scalars(select(SurveyResponse)))


def test_answers_are_checked(app, client, committee):
    survey_id = make_survey(app)
    # "²" and "٣" are digits to str.isdigit(); int() refuses the first, reads the second as 3.
    for answers in (
        {9: 1},
        {4: 1},
        {1: 6},
        {1: 0},
        {2: 2},
        {0: 3},
        {1: True},
        {"x": 1},
        {"²": 1},
        {"١": 3},
        {"": 1},
        {"0001": 3},
    ):
        resp = client.post(
            f"/api/v1/surveys/{survey_id}/responses",
            json={"answers": {str(k): v for k, v in answers.items()}, "pow": proof_of_work(client)},
        )
        assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_survey", answers
    resp = answer(client, survey_id, {})
    assert resp.status_code == 400 and "at least one question" in resp.get_json()["message"]
    info = client.get(f"/api/v1/surveys/{survey_id}").get_json()
    keys = [unb64u(r["public_key"]) for r in info["recipients"]]
    for kind, header, recipients in (
        ("survey", {"survey": "0" * 32}, keys),
        ("message", {"survey": survey_id}, keys),
        ("survey", {"survey": survey_id}, [bytes(range(32))]),
    ):
        envelope = env.seal(kind, header, {"answers": []}, recipients).envelope
        assert answer(client, survey_id, {1: 3}, envelope=envelope).status_code == 400, (kind, header)
    no_pow = client.post(f"/api/v1/surveys/{survey_id}/responses", json={"answers": {"1": 3}})
    assert no_pow.status_code == 400 and no_pow.get_json()["error"] == "proof_of_work"
    bad_form = client.post(f"/surveys/{survey_id}", data={"q1": "9"}, headers=EN)
    assert bad_form.status_code == 400 and 'id="survey-form"' in bad_form.get_data(as_text=True)
    for value in ("²", "٣", "3" * 5000):  # int() refuses more than 4300 digits
        bad_form = client.post(f"/surveys/{survey_id}", data={"q1": value}, headers=EN)
        assert bad_form.status_code == 400, value
        assert "The survey answers are incomplete or malformed" in bad_form.get_data(as_text=True)
    assert client.post(f"/surveys/{survey_id}", data={}, headers=EN).status_code == 400
    assert client.get("/surveys/nothing-here").status_code == 404
    assert client.get(f"/api/v1/surveys/{'f' * 32}").status_code == 404


@pytest.mark.parametrize(
    "start, end, status, shown",
    [
        (TODAY + dt.timedelta(days=2), TODAY + dt.timedelta(days=9), "open", "takes answers from"),
        (TODAY - dt.timedelta(days=9), TODAY - dt.timedelta(days=1), "open", "This survey is closed"),
        (TODAY - dt.timedelta(days=1), TODAY + dt.timedelta(days=9), "closed", "This survey is closed"),
    ],
)
def test_answers_are_taken_only_within_the_period_of_an_open_survey(app, client, committee, start, end, status, shown):
    survey_id = make_survey(app, start=start, end=end, status=status)
    page = client.get(f"/surveys/{survey_id}", headers=EN)
    assert page.status_code == 200 and shown in page.get_data(as_text=True)
    assert 'id="survey-form"' not in page.get_data(as_text=True)
    resp = answer(client, survey_id, {1: 4})
    assert resp.status_code == 409 and resp.get_json()["error"] == "survey_not_open"
    assert client.post(f"/surveys/{survey_id}", data={"q1": "4"}).status_code == 409
    assert client.get(f"/api/v1/surveys/{survey_id}").get_json()["accepting"] is False


def test_period_and_lifecycle_rules(app):
    with Session(services(app).engine, expire_on_commit=False) as s:
        survey = surveys.create(
            s,
            title="t",
            intro="",
            start=TODAY - dt.timedelta(days=20),
            end=TODAY - dt.timedelta(days=10),
            items=ITEMS,
            owner_unit="office_1",
            created_by="x",
            on=TODAY,
        )
        with pytest.raises(surveys.SurveyProblem):
            surveys.open_survey(survey, TODAY)  # its period is over
        survey.period_end = TODAY
        surveys.open_survey(survey, TODAY)
        assert surveys.accepting(survey, TODAY) and not surveys.results_ready(survey, TODAY)
        assert surveys.results_ready(survey, TODAY + dt.timedelta(days=1))  # period over: no more answers
        assert not surveys.accepting(survey, TODAY + dt.timedelta(days=1))
        with pytest.raises(surveys.SurveyProblem):
            surveys.publish(survey, TODAY)
        with pytest.raises(surveys.SurveyProblem):
            surveys.update(s, survey, title="x", intro="", start=TODAY, end=TODAY, items=ITEMS)
        with pytest.raises(surveys.SurveyProblem):
            surveys.delete_draft(s, survey)
        surveys.publish(survey, TODAY + dt.timedelta(days=1))
        assert survey.status == "closed" and survey.published
    problems = surveys.definition_problems("", "", TODAY, TODAY - dt.timedelta(days=1), [])
    assert set(problems) == {"title", "period", "items"}
    problems = surveys.definition_problems(
        "t",
        "",
        TODAY,
        TODAY + dt.timedelta(days=400),
        [
            surveys.ItemSpec("yes_no", "a", breakdown=True),
            surveys.ItemSpec("choice", "b", breakdown=True, options=["x", "y"]),
            surveys.ItemSpec("likert", "c", bribery=True),
            surveys.ItemSpec("choice", "d", options=["x"]),
            surveys.ItemSpec("free_text", "e", breakdown=True),
            surveys.ItemSpec("bogus", "f"),
        ],
    )
    assert set(problems) == {"period", "items", "item-2", "item-3", "item-4", "item-5"}


def test_survey_api_describes_the_questionnaire(app, client, committee):
    survey_id = make_survey(app)
    data = client.get(f"/api/v1/surveys/{survey_id}", headers=EN).get_json()
    assert data["accepting"] is True and [i["kind"] for i in data["items"]] == [s.kind for s in ITEMS]
    assert data["items"][1]["values"][0] == {"value": 5, "label": "Strongly agree"}
    assert [r["label"] for r in data["recipients"]] == ["committee"]  # nobody of stationed_1 is enrolled
    assert "Set-Cookie" not in client.get(f"/api/v1/surveys/{survey_id}").headers


def test_an_answer_read_the_survey_open_but_the_survey_closed_first_is_refused(app, staff, db_session):
    """The answer form saw the survey open; the committee closed it (and could publish its
    results) before the answer was stored. The answer is refused, read under the survey's
    lock: published results never change. Likewise an edit prepared on a draft that was
    opened meanwhile is refused: respondents never see wording change."""
    lead = staff["zhao.lei"]
    survey_id = lead.post("/committee/surveys/new", data=_form()).headers["Location"].rsplit("/", 1)[1]
    draft_edit = Session(services(app).engine, expire_on_commit=False)
    as_edited = draft_edit.get(Survey, survey_id)  # the edit form's view: a draft
    assert lead.post(f"/committee/surveys/{survey_id}/open").status_code == 302
    with pytest.raises(surveys.SurveyProblem):
        surveys.update(
            draft_edit,
            as_edited,
            title="Changed",
            intro="",
            start=TODAY,
            end=TODAY,
            items=[surveys.ItemSpec("yes_no", "Changed?")],
        )
    draft_edit.rollback()
    draft_edit.close()

    answering = Session(services(app).engine, expire_on_commit=False)
    as_seen = answering.get(Survey, survey_id)  # the answer form's view: open, taking answers
    assert surveys.accepting(as_seen, TODAY)
    assert lead.post(f"/committee/surveys/{survey_id}/close").status_code == 302
    with pytest.raises(surveys.SurveyNotOpen):
        surveys.store_response(answering, as_seen, {0: 1}, None, TODAY)
    answering.rollback()
    answering.close()
    db_session.expire_all()
    survey = db_session.get(Survey, survey_id)
    assert survey.status == "closed" and survey.questions[0].text == "Your sector"
    assert db_session.scalar(select(SurveyResponse).where(SurveyResponse.survey_id == survey_id)) is None


def test_published_results_in_the_csv_never_start_a_spreadsheet_formula(app, client, committee):
    """Members write the questions and options; the public opens the statistics CSV in a
    spreadsheet, where a cell starting with = + - @ (or a tab or carriage return) runs as a
    formula. Such a cell gets an apostrophe before it; the text itself is kept."""
    import csv
    import io

    from whistle.transparency import figures as public_stats

    items = [
        surveys.ItemSpec(
            "choice",
            '=HYPERLINK("http://evil.example","Click")',
            breakdown=False,
            options=["+1 (555) 0100", "-2", "@SUM(1+1)", "Construction"],
        ),
        surveys.ItemSpec("yes_no", "-Were you asked to pay?", bribery=True),
    ]
    survey_id = make_survey(app, items=items)
    for n in range(6):
        assert answer(client, survey_id, {0: n % 4, 1: 0}).status_code == 201
    with Session(services(app).engine) as s:
        survey = s.get(Survey, survey_id)
        survey.status, survey.published = "closed", True
        s.commit()
    public_stats.forget()
    resp = client.get("/transparency/statistics.csv", headers=EN)
    assert resp.status_code == 200
    rows = list(csv.reader(io.StringIO(resp.get_data(as_text=True).lstrip("\ufeff"))))
    mine = [row for row in rows if row[0] == f"survey/{survey_id}"]
    cells = {cell for row in mine for cell in row}
    assert {
        '\'=HYPERLINK("http://evil.example","Click")',
        "'+1 (555) 0100",
        "'-2",
        "'@SUM(1+1)",
        "Construction",
        "'-Were you asked to pay?",
    } <= cells
    assert not [cell for row in rows for cell in row if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]
