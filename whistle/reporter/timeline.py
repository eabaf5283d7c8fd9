"""The reporter's timeline as steps: received, acknowledged, decision, feedback, closed.

Each step says only what happened, with its day; a deadline is shown on a step that is still
open, never on one already taken. A reply from the committee before its decision is a
message in the conversation, not the feedback: the feedback is the first reply after the
decision (cases.outcome_told; after the closing, for a case closed without a decision). The decision
is told in the reporter's words, except one whose telling could warn the person reported
while it is carried out (WITHHELD): the reporter learns that a decision was made, not which.
"""

import datetime as dt

from flask_babel import lazy_gettext as _l

from whistle.cases import store as cases

# Decisions in words a reporter understands (the committee's own terms are in
# committee/labels.py); a code missing here is shown as withheld.
DECISIONS = {
    "talk_inquiry": _l("The person reported will be asked to explain, in a talk or in writing."),
    "hold_pending": _l("The report is kept on file: there is not enough to act on now, and it can be taken up again."),
    "conclude": _l("The matter was looked into and concluded."),
    "not_accepted": _l(
        "The report was not accepted: it is outside what the committee handles, or gives too little to act on."
    ),
    "duplicate": _l("The report is handled together with an earlier report about the same matter."),
}
# A verification or an investigation under way is not told outside the committee: the
# reporter may be close to the person reported, and a word passed on would warn them.
WITHHELD = ("preliminary_verification", "transfer_investigation")

STEP_LABELS = {
    "received": _l("Report received"),
    "acknowledged": _l("Acknowledged by the committee"),
    "decision": _l("Decision on how the report is handled"),
    "feedback": _l("Feedback on the outcome"),
    "closed": _l("Case closed"),
}
# What an open step's deadline says ("{day}" is the due day).
DUE_TEXTS = {
    "acknowledged": _l("The committee should acknowledge your report by %(day)s.", day="{day}"),
    "feedback": _l("You should receive feedback by %(day)s.", day="{day}"),
    "closed": _l("As you gave your name, the committee should tell you the result by %(day)s.", day="{day}"),
}
ACKNOWLEDGING = ("acknowledged", "in_review", "closed", "purged")


def _first(events, names):
    return next((e for e in events if e.event in names), None)


def _decision_text(case) -> str:
    if case.disposition in WITHHELD or case.disposition not in DECISIONS:
        return str(_l("The committee does not show this decision to reporters while it is carried out."))
    return str(DECISIONS[case.disposition])


def steps(case, today: dt.date, rules, calendar) -> list[dict]:
    """The five steps of ``case``: key, label, done, on (a date or None), detail (text or
    None), due (a date, only on a step not taken) with due_text and overdue, and
    ``current`` on the first step not taken."""
    events = sorted(case.events, key=lambda e: e.seq)
    closed_at = max((e for e in events if e.event == "closed"), key=lambda e: e.seq, default=None)
    is_closed = case.status in ("closed", "purged")
    acknowledged = _first(events, ACKNOWLEDGING)
    decided = _first(events, ("disposition",))
    feedback = cases.outcome_told(case)
    rows = [
        ("received", True, case.received_on, None, None),
        ("acknowledged", acknowledged is not None, acknowledged and acknowledged.happened_on, None, case.ack_due),
        (
            "decision",
            decided is not None,
            decided and decided.happened_on,
            _decision_text(case) if decided else None,
            None,
        ),
        ("feedback", feedback is not None, feedback and feedback.happened_on, None, case.feedback_due),
        ("closed", is_closed, closed_at.happened_on if is_closed and closed_at else None, None, None),
    ]
    out = []
    for key, done, on, detail, due in rows:
        step = {
            "key": key,
            "label": str(STEP_LABELS[key]),
            "done": bool(done),
            "on": on if done else None,
            "detail": detail,
            "due": None,
            "due_text": None,
            "overdue": False,
            "current": False,
        }
        if due and not done:
            _set_due(step, due, today)
        out.append(step)
    current = next((s for s in out if not s["done"]), None)
    if current:
        current["current"] = True
    _result_notice(out[-1], case, today, rules, calendar)
    return out


def _result_notice(closed: dict, case, today: dt.date, rules, calendar) -> None:
    """A real-name case that was closed owes the reporter the result: its due day sits on the
    closed step until the committee replies after closing."""
    due = cases.real_name_due(rules, calendar, case) if closed["done"] else None
    if due and due["result_notice"] and not cases.result_notice_sent(case):
        _set_due(closed, due["result_notice"], today)


def _set_due(step: dict, due: dt.date, today: dt.date) -> None:
    step["due"] = due
    step["due_text"] = str(DUE_TEXTS[step["key"]]).replace("{day}", due.isoformat())
    step["overdue"] = today > due


def as_json(step: dict) -> dict:
    """A step for the follow-up API (dates as ISO text)."""
    return {key: (value.isoformat() if isinstance(value, dt.date) else value) for key, value in step.items()}
