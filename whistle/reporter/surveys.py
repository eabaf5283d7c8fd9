"""Public survey pages and their JSON API: one anonymous link per survey, no cookie.

``/surveys/<id>`` works without JavaScript (the free text is then sealed in this request's
memory, and the stricter no-JS rate limit applies instead of the proof of work); with it,
static/js/survey.js seals the free text in the browser, solves a proof of work and posts to
``/api/v1/surveys/<id>/responses``. Either way the thank-you page offers a full report when a
bribery question was answered yes; nothing is carried over to the report and nothing links
the two.
"""

import re

from flask import Blueprint, abort, jsonify, render_template, request

from crypto.encoding import b64u
from whistle import clock, db
from whistle.channels import surveys
from whistle.security import proof_of_work
from whistle.errors import InvalidSubmission
from whistle.extensions import submit_limits
from whistle.models import Survey
from whistle.cases.uploads import parse_json
from whistle.services import services

bp = Blueprint("surveys", __name__)

_SURVEY_ID = re.compile(r"[0-9a-f]{32}\Z")
API_BODY_BYTES = 256 * 1024  # closed answers and one sealed envelope of at most a few free texts


def _today():
    return clock.today(services().config.timezone)


def _survey(survey_id: str) -> Survey:
    """A survey the public may see (not a draft); 404 otherwise."""
    survey = db.session().get(Survey, survey_id) if _SURVEY_ID.match(survey_id or "") else None
    if survey is None or survey.status == "draft":
        abort(404)
    return survey


@bp.before_request
def _limit_body_size() -> None:
    if request.path.startswith("/api/") or request.method == "POST":
        request.max_content_length = API_BODY_BYTES
        if (request.content_length or 0) > API_BODY_BYTES:
            abort(413)


def _form_page(survey, status=200, **extra):
    return render_template(
        "surveys/form.html",
        survey=survey,
        questions=survey.questions,
        options_of=surveys.options_of,
        likert=surveys.LIKERT,
        yes_no=surveys.YES_NO,
        values=extra.pop("values", {}),
        max_chars=surveys.MAX_ANSWER_CHARS,
        **extra,
    ), status


@bp.get("/surveys/<survey_id>")
def survey_page(survey_id):
    """The questionnaire while it takes answers; otherwise what its state is (and its results,
    once published)."""
    survey = _survey(survey_id)
    if not surveys.accepting(survey, _today()):
        return render_template("surveys/not_open.html", survey=survey, phase=surveys.phase(survey, _today())), 200
    return _form_page(survey)


@bp.post("/surveys/<survey_id>")
@submit_limits
@proof_of_work.nojs_limits  # no proof of work without JavaScript: a stricter budget instead
def survey_submit(survey_id):
    """No-JS answers: free text sealed in memory, closed answers stored as small integers."""
    survey = _survey(survey_id)
    today = _today()
    if not surveys.accepting(survey, today):
        return render_template("surveys/not_open.html", survey=survey, phase=surveys.phase(survey, today)), 409
    try:
        answers, texts = surveys.form_answers(survey, request.form)
        with db.transaction() as session:
            survey = session.merge(survey)
            envelope = surveys.seal_texts(session, services().rules, survey, texts)
            surveys.store_response(session, survey, answers, envelope, today)
    except surveys.SurveyProblem as exc:
        return _form_page(survey, 400, values=request.form, error=str(exc.message))
    return render_template("surveys/thanks.html", survey=survey, offer_report=surveys.offers_report(survey, answers))


@bp.get("/surveys/<survey_id>/results")
def survey_results_page(survey_id):
    """Published results: counts per answer, small counts suppressed."""
    survey = _survey(survey_id)
    if not survey.published:
        abort(404)
    result = surveys.survey_results(db.session(), survey, services().rules.surveys.min_cell)
    return render_template("surveys/results.html", survey=survey, result=result, public=True)


# --- JSON --------------------------------------------------------------------------------------


def _question_json(q) -> dict:
    item = {"index": q.idx, "kind": q.kind, "text": q.text, "bribery": q.bribery}
    if q.kind == "likert":
        item["values"] = [{"value": v, "label": str(label)} for v, label in surveys.LIKERT.items()]
    elif q.kind == "yes_no":
        item["values"] = [{"value": v, "label": str(label)} for v, label in surveys.YES_NO.items()]
    elif q.kind == "choice":
        item["values"] = [{"value": n, "label": o} for n, o in enumerate(surveys.options_of(q))]
    return item


@bp.get("/api/v1/surveys/<survey_id>")
def survey_json(survey_id):
    """The questionnaire, whether it takes answers today, and the keys free text is sealed to."""
    survey = _survey(survey_id)
    open_now = surveys.accepting(survey, _today())
    data = {
        "id": survey.id,
        "title": survey.title,
        "intro": survey.intro,
        "period_start": survey.period_start.isoformat(),
        "period_end": survey.period_end.isoformat(),
        "accepting": open_now,
        "published": survey.published,
        "max_text_chars": surveys.MAX_ANSWER_CHARS,
        "items": [_question_json(q) for q in survey.questions],
    }
    if open_now:
        required, optional = surveys.recipients(db.session(), services().rules, survey)
        data["recipients"] = [
            {"kid": r.kid, "public_key": b64u(r.public_key), "label": r.role} for r in required + optional
        ]
    return jsonify(data)


@bp.post("/api/v1/surveys/<survey_id>/responses")
@submit_limits
def survey_response(survey_id):
    """Store answers given in the browser: closed answers in clear (small integers), free text
    sealed there; a proof of work is required. 201 says only whether to offer a report."""
    survey = _survey(survey_id)
    try:
        data = parse_json(request.get_data()) if request.is_json else None
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise InvalidSubmission(detail="expected a JSON object")
    today = _today()
    if not surveys.accepting(survey, today):
        raise surveys.SurveyNotOpen()
    answers = surveys.parse_answers(survey, data.get("answers", {}))
    envelope = data.get("envelope")
    with db.transaction() as session:
        survey = session.merge(survey)
        if envelope is not None:
            surveys.check_envelope(session, services().rules, survey, envelope)
        proof_of_work.require(data)
        surveys.store_response(session, survey, answers, envelope, today)
    return jsonify(offer_report=surveys.offers_report(survey, answers)), 201


@bp.get("/api/v1/surveys/<survey_id>/results")
def survey_results_json(survey_id):
    """Published results as JSON (the same figures as the page and the CSV)."""
    survey = _survey(survey_id)
    if not survey.published:
        abort(404)
    return jsonify(surveys.survey_results(db.session(), survey, services().rules.surveys.min_cell))
