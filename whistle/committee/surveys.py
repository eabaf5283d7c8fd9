"""The committee's survey pages: write a questionnaire, open and close it, see its results
(suppressed like every published figure), publish them, and read the sealed free text.

Who manages surveys (create, change a draft, open, close, publish, delete a draft): every
unit lead, and the members of the rules file's ``[surveys] unit`` (the example names the case
supervision and management office). Every logged-in member may see the list and the results,
which carry no count below k. The free-text answers are sealed to the committee key and to
the members of the survey's owning unit (its creator's unit): only they can read them, in
their browser, and each reading is audited.
"""

import datetime as dt

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from whistle import db
from whistle.custody import audit
from whistle.channels import surveys
from whistle.committee.access import current_member, login_required, rule_of
from whistle.committee.api import bp as api_bp
from whistle.committee.auth import bp
from whistle.clock import committee_today
from whistle.models import Survey
from whistle.transparency.suppression import suppress
from whistle.cases.uploads import form_text
from whistle.services import services

FORM_ROWS = 12  # blank question rows on the form (it works without JavaScript)


def _may_manage() -> bool:
    return surveys.may_manage(services().rules, rule_of(current_member().username))


def _manager_required():
    if not _may_manage():
        abort(403)


def _get(survey_id: str) -> Survey:
    survey = db.session().get(Survey, survey_id) if len(survey_id) == 32 else None
    if survey is None:
        abort(404)
    return survey


def _date(text: str):
    try:
        return dt.date.fromisoformat((text or "").strip())
    except ValueError:
        return None


def _read_form(form) -> tuple[dict, list, dict]:
    """(fields, items, problems) from the survey form (rows item-N-*, radio 'breakdown')."""
    fields = {
        "title": (form.get("title") or "").strip(),
        "intro": form_text(form, "intro"),
        "period_start": _date(form.get("period_start")),
        "period_end": _date(form.get("period_end")),
    }
    items, problems = [], {}
    breakdown = form.get("breakdown", "")
    n = 0
    while f"item-{n}-text" in form or f"item-{n}-kind" in form:
        kind = (form.get(f"item-{n}-kind") or "").strip()
        text = (form.get(f"item-{n}-text") or "").strip()
        options = [line.strip() for line in (form.get(f"item-{n}-options") or "").splitlines() if line.strip()]
        if kind or text:
            if not kind:
                problems[f"item-{len(items)}"] = _("Choose the kind of question.")
            items.append(
                surveys.ItemSpec(kind, text, bool(form.get(f"item-{n}-bribery")), breakdown == str(n), options)
            )
        n += 1
    problems = dict(
        surveys.definition_problems(
            fields["title"], fields["intro"], fields["period_start"], fields["period_end"], items
        ),
        **problems,
    )
    return fields, items, {key: str(message) for key, message in problems.items()}


def _form_rows(items: list) -> list:
    """The items, then blank rows, for the form."""
    return list(items) + [surveys.ItemSpec("", "") for _ in range(max(FORM_ROWS - len(items), 3))]


def _edit_page(survey, fields, items, problems, status=200):
    return render_template(
        "committee/survey_edit.html",
        survey=survey,
        fields=fields,
        rows=_form_rows(items),
        problems=problems,
        kinds=surveys.KINDS,
    ), status


@bp.get("/surveys")
@login_required
def survey_list():
    """Every survey, newest period first; managers also get the "new survey" link."""
    rows = db.session().scalars(select(Survey).order_by(Survey.period_end.desc(), Survey.id)).all()
    today = committee_today()
    return render_template(
        "committee/surveys.html",
        rows=[(s, surveys.phase(s, today)) for s in rows],
        phases=surveys.PHASES,
        may_manage=_may_manage(),
    )


@bp.route("/surveys/new", methods=["GET", "POST"])
@login_required
def survey_new():
    """Write a new questionnaire (saved as a draft)."""
    _manager_required()
    if request.method == "GET":
        today = committee_today()
        fields = {"title": "", "intro": "", "period_start": today, "period_end": today + dt.timedelta(days=30)}
        return _edit_page(None, fields, [], {})
    fields, items, problems = _read_form(request.form)
    if problems:
        return _edit_page(None, fields, items, problems, 400)
    member = current_member()
    with db.transaction() as s:
        survey = surveys.create(
            s,
            title=fields["title"],
            intro=fields["intro"],
            start=fields["period_start"],
            end=fields["period_end"],
            items=items,
            owner_unit=rule_of(member.username).unit,
            created_by=member.username,
            on=committee_today(),
        )
        audit.record(s, "survey_created", actor=member.username, on=committee_today(), survey=survey.id)
    return redirect(url_for("committee.survey_page", survey_id=survey.id))


@bp.route("/surveys/<survey_id>/edit", methods=["GET", "POST"])
@login_required
def survey_edit(survey_id):
    """Change a draft."""
    _manager_required()
    survey = _get(survey_id)
    if survey.status != "draft":
        flash(_("Only a draft can be changed."), "error")
        return redirect(url_for("committee.survey_page", survey_id=survey.id)), 303
    if request.method == "GET":
        fields = {
            "title": survey.title,
            "intro": survey.intro,
            "period_start": survey.period_start,
            "period_end": survey.period_end,
        }
        return _edit_page(survey, fields, surveys.items_of(survey), {})
    fields, items, problems = _read_form(request.form)
    if problems:
        return _edit_page(survey, fields, items, problems, 400)
    with db.transaction() as s:
        survey = s.merge(survey)
        surveys.update(
            s,
            survey,
            title=fields["title"],
            intro=fields["intro"],
            start=fields["period_start"],
            end=fields["period_end"],
            items=items,
        )
        audit.record(s, "survey_changed", actor=current_member().username, on=committee_today(), survey=survey.id)
    return redirect(url_for("committee.survey_page", survey_id=survey.id))


@bp.get("/surveys/<survey_id>")
@login_required
def survey_page(survey_id):
    """The questionnaire, its state, the public link, the results once it takes no more
    answers, and (owning unit) the sealed free text."""
    survey = _get(survey_id)
    today = committee_today()
    k = services().rules.surveys.min_cell
    ready = surveys.results_ready(survey, today)
    result = surveys.survey_results(db.session(), survey, k) if ready else None
    member_rule = rule_of(current_member().username)
    return render_template(
        "committee/survey.html",
        survey=survey,
        phase=surveys.phase(survey, today),
        phases=surveys.PHASES,
        result=result,
        running=suppress(surveys.response_count(db.session(), survey), k),
        may_manage=_may_manage(),
        may_read=surveys.may_read_texts(member_rule, survey) and current_member().public_key is not None,
        has_texts=any(q.kind == "free_text" for q in survey.questions),
        kinds=surveys.KINDS,
        options_of=surveys.options_of,
        public_url=url_for("surveys.survey_page", survey_id=survey.id, _external=True),
    )


def _action(survey_id: str, name: str, change) -> object:
    _manager_required()
    survey = _get(survey_id)
    try:
        with db.transaction() as s:
            survey = surveys.locked(s, s.merge(survey))
            change(s, survey)
            audit.record(s, "survey_" + name, actor=current_member().username, on=committee_today(), survey=survey.id)
    except surveys.SurveyProblem as exc:
        flash(str(exc.message), "error")
        return redirect(url_for("committee.survey_page", survey_id=survey_id)), 303
    return redirect(url_for("committee.survey_page", survey_id=survey_id))


@bp.post("/surveys/<survey_id>/open")
@login_required
def survey_open(survey_id):
    """Start taking answers (from the period's first day to its last)."""
    return _action(survey_id, "opened", lambda s, survey: surveys.open_survey(survey, committee_today()))


@bp.post("/surveys/<survey_id>/close")
@login_required
def survey_close(survey_id):
    """Stop taking answers."""
    return _action(survey_id, "closed", lambda s, survey: surveys.close(survey))


@bp.post("/surveys/<survey_id>/publish")
@login_required
def survey_publish(survey_id):
    """Publish the (suppressed) results on /transparency and the survey's public page."""
    return _action(survey_id, "published", lambda s, survey: surveys.publish(survey, committee_today()))


@bp.post("/surveys/<survey_id>/delete")
@login_required
def survey_delete(survey_id):
    """Delete a draft."""
    _manager_required()
    survey = _get(survey_id)
    try:
        with db.transaction() as s:
            surveys.delete_draft(s, s.merge(survey))
            audit.record(s, "survey_deleted", actor=current_member().username, on=committee_today(), survey=survey_id)
    except surveys.SurveyProblem as exc:
        flash(str(exc.message), "error")
        return redirect(url_for("committee.survey_page", survey_id=survey_id)), 303
    return redirect(url_for("committee.survey_list"))


@api_bp.get("/surveys/<survey_id>/texts")
@login_required
def survey_texts(survey_id):
    """The sealed free-text answers, for a member of the owning unit to open in the browser
    (audited; the server cannot read them)."""
    survey = _get(survey_id)
    member = current_member()
    if not surveys.may_read_texts(rule_of(member.username), survey):
        with db.transaction() as s:
            audit.record(s, "refused_survey_texts", actor=member.username, on=committee_today(), survey=survey.id)
        abort(403)
    with db.transaction() as s:
        audit.record(s, "survey_texts", actor=member.username, on=committee_today(), survey=survey.id)
    return jsonify(
        survey=survey.id,
        envelopes=surveys.text_envelopes(db.session(), survey),
        questions={str(q.idx): q.text for q in survey.questions if q.kind == "free_text"},
    )
