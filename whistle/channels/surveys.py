"""Integrity surveys (廉政回访): questionnaires, anonymous answers, suppressed results.

The committee writes a questionnaire for a period (``create``), opens it (``open_survey``)
and hands one link, ``/surveys/<id>``, to every contractor. A response is stored as a random
id, the day, and one small integer per answered closed item (``survey_answers``); nothing
else about it, and nothing that links it to a report, a visit or its own free text. Free-text
answers are sealed (envelope kind ``survey``) to the committee key and the members of the
survey's owning unit: in the browser, or without JavaScript in this request's memory
(``seal_texts``), and stored apart from the closed answers.

Results are counts per answer, and, when one closed item is marked ``breakdown`` (a sector
question, say), every other closed item cross-tabulated by it. Every figure passes through
whistle.transparency.suppression (k = the rules file's ``[surveys] min_cell``): no count from 1 to k-1 is
shown anywhere, and complementary cells are withheld where a total would give one away.
Results exist only once a survey no longer takes answers (closed, or its period over): a
running count that moves by one after a known contractor answered would tell that answer.

Item kinds and their stored values: ``likert`` 1-5 (strongly disagree .. strongly agree),
``yes_no`` 1 yes / 0 no (``bribery = true``: a yes offers to file a full report), ``choice``
the option's index, ``free_text`` sealed only.
"""

import datetime as dt
import json
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, select, update as sql_update
from sqlalchemy.orm import Session

from crypto import envelope as env
from whistle.cases import store as cases
from whistle.errors import WhistleError
from whistle.models import Member, Survey, SurveyAnswer, SurveyQuestion, SurveyResponse, SurveyText, new_id
from whistle.transparency.suppression import Figures, Protected
from whistle.cases.uploads import form_text

KINDS = {
    "likert": _l("Agreement, five steps"),
    "yes_no": _l("Yes or no"),
    "choice": _l("One of several options"),
    "free_text": _l("Free text (encrypted)"),
}
CLOSED_KINDS = ("likert", "yes_no", "choice")
LIKERT = {
    5: _l("Strongly agree"),
    4: _l("Agree"),
    3: _l("Neither agree nor disagree"),
    2: _l("Disagree"),
    1: _l("Strongly disagree"),
}
YES, NO = 1, 0
YES_NO = {YES: _l("Yes"), NO: _l("No")}
NO_ANSWER = _l("No answer")
STATUSES = {"draft": _l("Draft"), "open": _l("Open"), "closed": _l("Closed")}

MAX_TITLE = 200
MAX_INTRO = 2000
MAX_QUESTIONS = 30
MAX_QUESTION_TEXT = 500
MIN_OPTIONS, MAX_OPTIONS = 2, 12
MAX_OPTION_TEXT = 100
MAX_ANSWER_CHARS = 2000
MAX_PERIOD_DAYS = 366


class SurveyProblem(WhistleError):
    """A survey definition, an action or a response that is not acceptable (a 400)."""

    code = "invalid_survey"
    message = _l("The survey answers are incomplete or malformed. Please check the form and try again.")


class SurveyNotOpen(WhistleError):
    """The survey does not take answers (not open yet, period over, or closed)."""

    status = 409
    code = "survey_not_open"
    message = _l("This survey is not taking answers at the moment.")


@dataclass
class ItemSpec:
    """One item of a definition, as typed by the committee."""

    kind: str
    text: str
    bribery: bool = False
    breakdown: bool = False
    options: list = field(default_factory=list)


# --- definitions ---------------------------------------------------------------------------


def definition_problems(title: str, intro: str, start, end, items: list[ItemSpec]) -> dict:
    """Field name (title, intro, period, items, item-N) -> message, for every problem."""
    problems = {}
    if not title.strip():
        problems["title"] = _l("Give the survey a title.")
    elif len(title) > MAX_TITLE:
        problems["title"] = _l("At most %(n)d characters.", n=MAX_TITLE)
    if len(intro) > MAX_INTRO:
        problems["intro"] = _l("At most %(n)d characters.", n=MAX_INTRO)
    if not isinstance(start, dt.date) or not isinstance(end, dt.date):
        problems["period"] = _l("Give the first and the last day of the period.")
    elif end < start:
        problems["period"] = _l("The period cannot end before it starts.")
    elif (end - start).days >= MAX_PERIOD_DAYS:
        problems["period"] = _l("A period lasts at most a year.")
    if not items:
        problems["items"] = _l("Add at least one question.")
    elif len(items) > MAX_QUESTIONS:
        problems["items"] = _l("At most %(n)d questions.", n=MAX_QUESTIONS)
    breakdowns = 0
    for n, item in enumerate(items):
        where = f"item-{n}"
        if item.kind not in KINDS:
            problems[where] = _l("Choose the kind of question.")
        elif not item.text.strip() or len(item.text) > MAX_QUESTION_TEXT:
            problems[where] = _l("Write the question (at most %(n)d characters).", n=MAX_QUESTION_TEXT)
        elif item.bribery and item.kind != "yes_no":
            problems[where] = _l("Only a yes-or-no question can ask about bribery.")
        elif item.breakdown and item.kind not in ("yes_no", "choice"):
            problems[where] = _l("Results can be broken down only by a yes-or-no or an options question.")
        elif item.kind == "choice" and not (MIN_OPTIONS <= len(item.options) <= MAX_OPTIONS):
            problems[where] = _l("Give %(a)d to %(b)d options, one per line.", a=MIN_OPTIONS, b=MAX_OPTIONS)
        elif item.kind == "choice" and (
            any(not o or len(o) > MAX_OPTION_TEXT for o in item.options) or len(set(item.options)) != len(item.options)
        ):
            problems[where] = _l("Each option is different and at most %(n)d characters.", n=MAX_OPTION_TEXT)
        elif item.kind != "choice" and item.options:
            problems[where] = _l("Only an options question has options.")
        breakdowns += bool(item.breakdown)
    if breakdowns > 1 and "items" not in problems:
        problems["items"] = _l("Results can be broken down by one question only.")
    return problems


def _set_items(survey: Survey, items: list[ItemSpec]) -> None:
    survey.questions = [
        SurveyQuestion(
            idx=n,
            kind=item.kind,
            text=item.text.strip(),
            bribery=bool(item.bribery),
            breakdown=bool(item.breakdown),
            options=json.dumps([o.strip() for o in item.options], ensure_ascii=False),
        )
        for n, item in enumerate(items)
    ]


def create(
    db: Session,
    *,
    title: str,
    intro: str,
    start: dt.date,
    end: dt.date,
    items: list[ItemSpec],
    owner_unit: str,
    created_by: str,
    on: dt.date,
) -> Survey:
    """A new draft survey (the caller checked ``definition_problems`` first)."""
    survey = Survey(
        id=new_id(),
        title=title.strip(),
        intro=intro.strip(),
        owner_unit=owner_unit,
        period_start=start,
        period_end=end,
        status="draft",
        published=False,
        created_on=on,
        created_by=created_by,
    )
    _set_items(survey, items)
    db.add(survey)
    db.flush()
    return survey


def update(
    db: Session, survey: Survey, *, title: str, intro: str, start: dt.date, end: dt.date, items: list[ItemSpec]
) -> None:
    """Change a draft (an open survey's wording never changes under its respondents)."""
    survey = locked(db, survey)
    if survey.status != "draft":
        raise SurveyProblem(detail="only a draft can be changed")
    survey.title, survey.intro = title.strip(), intro.strip()
    survey.period_start, survey.period_end = start, end
    _set_items(survey, items)
    db.flush()


def options_of(question: SurveyQuestion) -> list[str]:
    """A choice item's options."""
    return json.loads(question.options or "[]")


def items_of(survey: Survey) -> list[ItemSpec]:
    """A survey's items as editable specs."""
    return [ItemSpec(q.kind, q.text, q.bribery, q.breakdown, options_of(q)) for q in survey.questions]


# --- lifecycle -----------------------------------------------------------------------------


def open_survey(survey: Survey, today: dt.date) -> None:
    """draft -> open; answers are taken from period_start to period_end."""
    if survey.status != "draft":
        raise SurveyProblem(detail="only a draft can be opened")
    if survey.period_end < today:
        raise SurveyProblem(_l("The period of this survey is over: change its dates first."), detail="period over")
    if not survey.questions:
        raise SurveyProblem(detail="no questions")
    survey.status = "open"


def close(survey: Survey) -> None:
    """open -> closed: no more answers."""
    if survey.status != "open":
        raise SurveyProblem(detail="only an open survey can be closed")
    survey.status = "closed"


def results_ready(survey: Survey, today: dt.date) -> bool:
    """Results exist only once answers can no longer change them: closed, or period over."""
    return survey.status == "closed" or (survey.status == "open" and today > survey.period_end)


def publish(survey: Survey, today: dt.date) -> None:
    """Show the (suppressed) results to the public; closes the survey for good."""
    if not results_ready(survey, today):
        raise SurveyProblem(
            _l("Results can be published once the survey is closed or its period is over."), detail="not finished"
        )
    survey.status = "closed"
    survey.published = True


def delete_draft(db: Session, survey: Survey) -> None:
    """Remove a draft that was never opened."""
    survey = locked(db, survey)
    if survey.status != "draft":
        raise SurveyProblem(detail="only a draft can be deleted")
    db.delete(survey)


def accepting(survey: Survey, today: dt.date) -> bool:
    """True while the survey takes answers: open, and today within its period."""
    return survey.status == "open" and survey.period_start <= today <= survey.period_end


def phase(survey: Survey, today: dt.date) -> str:
    """draft, scheduled (open, period not begun), open (taking answers), ended (open, period
    over), closed."""
    if survey.status == "open":
        if today < survey.period_start:
            return "scheduled"
        if today > survey.period_end:
            return "ended"
    return survey.status


PHASES = {
    "draft": _l("Draft"),
    "scheduled": _l("Opens on its first day"),
    "open": _l("Taking answers"),
    "ended": _l("Period over"),
    "closed": _l("Closed"),
}


def may_manage(rules, rule) -> bool:
    """Unit leads, and the members of the rules file's ``[surveys] unit``, manage surveys."""
    if rule is None:
        return False
    if rule.role == "unit_lead":
        return True
    return rule.role == "member" and rules.surveys.unit is not None and rule.unit == rules.surveys.unit


def may_read_texts(rule, survey: Survey) -> bool:
    """Members (with a key) of the survey's owning unit are among the free text's recipients."""
    from whistle.triage.routing import READER_ROLES

    return rule is not None and rule.role in READER_ROLES and rule.unit == survey.owner_unit


# --- answering -----------------------------------------------------------------------------


def recipients(db: Session, rules, survey: Survey) -> tuple[list, list]:
    """(required, optional) recipients of a response's sealed free text: the committee key(s),
    and the enrolled members of the owning unit who may read cases."""
    from whistle.triage.routing import KEY_HOLDER, READER_ROLES

    required = cases.committee_recipients(db)
    if not required:
        from whistle.errors import NotReady

        raise NotReady()
    readers = [m.username for m in rules.members if m.unit == survey.owner_unit and m.role in READER_ROLES]
    members = (
        db.scalars(select(Member).where(Member.username.in_(readers), KEY_HOLDER).order_by(Member.username)).all()
        if readers
        else []
    )
    return required, [cases.Recipient(cases.kid(m.public_key), m.public_key, m.username, "member") for m in members]


def allowed_values(question: SurveyQuestion) -> tuple:
    """The stored values a closed item accepts."""
    if question.kind == "likert":
        return tuple(LIKERT)
    if question.kind == "yes_no":
        return (YES, NO)
    if question.kind == "choice":
        return tuple(range(len(options_of(question))))
    return ()


def _small_number(text: str) -> int | None:
    """The value of up to three ASCII digits, else None: str.isdigit() also takes "²"
    (which int() refuses) and "٣" (which int() reads as 3)."""
    return int(text) if 0 < len(text) <= 3 and text.isascii() and text.isdigit() else None


def parse_answers(survey: Survey, raw) -> dict[int, int]:
    """Closed answers {item index: value} from the API (``{"0": 4, "2": 1}``, ints only);
    SurveyProblem for an unknown item, a free-text item or a value the item does not take."""
    if not isinstance(raw, dict):
        raise SurveyProblem(detail="answers must be an object")
    questions = {q.idx: q for q in survey.questions}
    answers = {}
    for key, value in raw.items():
        idx = _small_number(key) if isinstance(key, str) else None
        if idx not in questions:
            raise SurveyProblem(detail="answers: unknown item")
        question = questions[idx]
        if question.kind not in CLOSED_KINDS:
            raise SurveyProblem(detail="answers: free text is sealed, never sent in clear")
        if type(value) is not int or value not in allowed_values(question):
            raise SurveyProblem(detail="answers: value not allowed for the item")
        answers[question.idx] = value
    return answers


def form_answers(survey: Survey, form) -> tuple[dict[int, int], dict[int, str]]:
    """Closed answers and free-text answers from the no-JavaScript form (fields q<index>)."""
    closed, texts = {}, {}
    for question in survey.questions:
        value = form_text(form, f"q{question.idx}")
        if not value:
            continue
        if question.kind == "free_text":
            texts[question.idx] = value
            continue
        number = _small_number(value)
        if number is None or number not in allowed_values(question):
            raise SurveyProblem(detail="answers: value not allowed for the item")
        closed[question.idx] = number
    return closed, texts


def check_texts(survey: Survey, texts: dict[int, str]) -> None:
    """Free text only for free-text items, and not too long."""
    kinds = {q.idx: q.kind for q in survey.questions}
    for idx, text in texts.items():
        if kinds.get(idx) != "free_text":
            raise SurveyProblem(detail="texts: not a free-text item")
        if len(text) > MAX_ANSWER_CHARS:
            raise SurveyProblem(
                _l("Please shorten each written answer to at most %(n)d characters.", n=MAX_ANSWER_CHARS),
                detail="texts: too long",
            )


def seal_texts(db: Session, rules, survey: Survey, texts: dict[int, str]) -> dict | None:
    """The no-JavaScript path: seal the free-text answers in memory, exactly as survey.js
    does (kind "survey", header {"survey": id}); None when there is no text."""
    check_texts(survey, texts)
    if not texts:
        return None
    required, optional = recipients(db, rules, survey)
    body = {"answers": [{"item": idx, "text": text} for idx, text in sorted(texts.items())]}
    return env.seal("survey", {"survey": survey.id}, body, [r.public_key for r in required + optional]).envelope


def check_envelope(db: Session, rules, survey: Survey, envelope) -> dict:
    """A browser-sealed free-text envelope: kind survey, this survey's header, sealed to the
    committee key (and only to it and the owning unit's members)."""
    if not isinstance(envelope, dict) or envelope.get("header") != {"survey": survey.id}:
        raise SurveyProblem(detail="envelope: header must name this survey")
    required, optional = recipients(db, rules, survey)
    return cases.check_envelope(envelope, "survey", required, [r.kid for r in optional])


def offers_report(survey: Survey, answers: dict[int, int]) -> bool:
    """True if a bribery question was answered yes: the thank-you page offers a full report."""
    return any(q.bribery and answers.get(q.idx) == YES for q in survey.questions)


def locked(db: Session, survey: Survey) -> Survey:
    """The survey with its row's write lock taken and its columns read again after it: what
    a step that depends on its status must look at. An answer and a close (or an edit and
    an opening) at the same moment then come one after the other: no answer lands in a
    closed survey, whose results may already be published, and no open survey is edited."""
    db.execute(sql_update(Survey).where(Survey.id == survey.id).values(status=Survey.status))
    db.refresh(survey)
    return survey


def store_response(db: Session, survey: Survey, answers: dict[int, int], envelope: dict | None, today: dt.date) -> None:
    """Store one response (closed answers; sealed free text apart from them)."""
    survey = locked(db, survey)
    if not accepting(survey, today):
        raise SurveyNotOpen()
    if not answers and envelope is None:
        raise SurveyProblem(_l("Please answer at least one question."), detail="empty response")
    if answers:
        response = SurveyResponse(id=new_id(), survey_id=survey.id, answered_on=today)
        db.add(response)
        db.flush()
        db.add_all(
            SurveyAnswer(response_id=response.id, idx=idx, survey_id=survey.id, value=value)
            for idx, value in sorted(answers.items())
        )
    if envelope is not None:
        db.add(
            SurveyText(
                id=new_id(), survey_id=survey.id, envelope=json.dumps(envelope, separators=(",", ":")).encode("ascii")
            )
        )
    db.flush()


def response_count(db: Session, survey: Survey) -> int:
    """Responses with closed answers (responses with free text only are counted apart)."""
    return db.scalar(select(func.count()).select_from(SurveyResponse).where(SurveyResponse.survey_id == survey.id)) or 0


def text_envelopes(db: Session, survey: Survey) -> list[dict]:
    """The sealed free-text envelopes of a survey (in random-id order: no arrival order)."""
    rows = db.scalars(
        select(SurveyText.envelope).where(SurveyText.survey_id == survey.id).order_by(SurveyText.id)
    ).all()
    return [json.loads(bytes(row)) for row in rows]


def delete_texts(db: Session, survey_id: str) -> int:
    """Forget a survey's sealed free text (whistle.custody.retention, after its period); how many."""
    return db.execute(delete(SurveyText).where(SurveyText.survey_id == survey_id)).rowcount


# --- results -------------------------------------------------------------------------------


def _value_labels(question: SurveyQuestion) -> list[tuple[str, str]]:
    """(code, label) of each answer of a closed item, in display order, then "no answer"."""
    if question.kind == "likert":
        pairs = [(str(v), str(label)) for v, label in LIKERT.items()]
    elif question.kind == "yes_no":
        pairs = [(str(v), str(label)) for v, label in YES_NO.items()]
    else:
        pairs = [(str(n), option) for n, option in enumerate(options_of(question))]
    return pairs + [("none", str(NO_ANSWER))]


def _tallies(db: Session, survey: Survey):
    """(number of responses, {(item, code): count}, {(breakdown code, item, code): count})."""
    rows = db.execute(
        select(SurveyAnswer.response_id, SurveyAnswer.idx, SurveyAnswer.value).where(
            SurveyAnswer.survey_id == survey.id
        )
    ).all()
    by_response: dict[str, dict[int, int]] = {}
    for response_id, idx, value in rows:
        by_response.setdefault(response_id, {})[idx] = value
    total = response_count(db, survey)
    closed = [q for q in survey.questions if q.kind in CLOSED_KINDS]
    split = next((q for q in closed if q.breakdown), None)
    single: dict = {}
    cross: dict = {}
    responses = list(by_response.values()) + [{}] * (total - len(by_response))
    for answers in responses:
        row = str(answers[split.idx]) if split is not None and split.idx in answers else "none"
        for q in closed:
            code = str(answers[q.idx]) if q.idx in answers else "none"
            single[(q.idx, code)] = single.get((q.idx, code), 0) + 1
            if split is not None and q.idx != split.idx:
                cross[(row, q.idx, code)] = cross.get((row, q.idx, code), 0) + 1
    return total, single, cross


def add_figures(figures: Figures, db: Session, survey: Survey) -> None:
    """Register a survey's counts and their sums with ``figures`` (keys start with its id)."""
    total, single, cross = _tallies(db, survey)
    sid = survey.id
    grand = figures.add((sid, "responses"), total)
    closed = [q for q in survey.questions if q.kind in CLOSED_KINDS]
    split = next((q for q in closed if q.breakdown), None)
    for q in closed:
        parts = [figures.add((sid, q.idx, code), single.get((q.idx, code), 0)) for code, _ in _value_labels(q)]
        figures.sums_to(grand, parts, group=True)
    if split is None:
        return
    rows = [code for code, _ in _value_labels(split)]
    for q in closed:
        if q.idx == split.idx:
            continue
        columns = [code for code, _ in _value_labels(q)]
        for row in rows:
            cells = [figures.add((sid, "x", row, q.idx, col), cross.get((row, q.idx, col), 0)) for col in columns]
            figures.sums_to((sid, split.idx, row), cells, group=True)
        for col in columns:
            cells = [(sid, "x", row, q.idx, col) for row in rows]
            figures.sums_to((sid, q.idx, col), cells, group=True)


def results(survey: Survey, shown: Protected) -> dict:
    """A survey's results as plain values (figures are ints or the suppression markers),
    with labels in the current language: for the pages, the JSON and the CSV."""
    sid = survey.id
    closed = [q for q in survey.questions if q.kind in CLOSED_KINDS]
    split = next((q for q in closed if q.breakdown), None)
    questions = []
    for q in closed:
        questions.append(
            {
                "index": q.idx,
                "kind": q.kind,
                "text": q.text,
                "bribery": q.bribery,
                "breakdown": q.breakdown,
                "answers": [
                    {"code": code, "label": label, "count": shown[(sid, q.idx, code)]}
                    for code, label in _value_labels(q)
                ],
            }
        )
    breakdown = None
    if split is not None:
        rows = _value_labels(split)
        tables = []
        for q in closed:
            if q.idx == split.idx:
                continue
            columns = _value_labels(q)
            tables.append(
                {
                    "index": q.idx,
                    "text": q.text,
                    "columns": [{"code": code, "label": label} for code, label in columns],
                    "rows": [
                        {
                            "code": row,
                            "label": label,
                            "total": shown[(sid, split.idx, row)],
                            "cells": [shown[(sid, "x", row, q.idx, col)] for col, _ in columns],
                        }
                        for row, label in rows
                    ],
                    "totals": [shown[(sid, q.idx, col)] for col, _ in columns],
                }
            )
        breakdown = {"index": split.idx, "text": split.text, "tables": tables}
    return {
        "id": sid,
        "title": survey.title,
        "intro": survey.intro,
        "period_start": survey.period_start.isoformat(),
        "period_end": survey.period_end.isoformat(),
        "min_cell": shown.k,
        "responses": shown[(sid, "responses")],
        "questions": questions,
        "free_text_items": [{"index": q.idx, "text": q.text} for q in survey.questions if q.kind == "free_text"],
        "breakdown": breakdown,
    }


def survey_results(db: Session, survey: Survey, k: int) -> dict:
    """``results`` of one survey, protected on its own (surveys share no figures)."""
    figures = Figures(k)
    add_figures(figures, db, survey)
    return results(survey, figures.protect())


def published_surveys(db: Session) -> list[Survey]:
    """Surveys whose results the committee published, newest period first."""
    return db.scalars(
        select(Survey).where(Survey.published.is_(True)).order_by(Survey.period_end.desc(), Survey.id)
    ).all()
