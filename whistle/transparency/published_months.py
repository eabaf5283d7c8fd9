"""Closed months of statistics, suppressed once and frozen: the unit of publication.

A figure that is counted again for every publication moves when the data under it moves: a
twelve-month total published one month and the next gives back the month that left the
window (57 - 55 = 2), and a count of decisions taken "so far" moves by one the day after a
decision. So a month is published only once it is over, its figures are counted and
suppressed (whistle.transparency.suppression) the first time it is published, and what was shown is stored
here as it was; every later publication shows those stored figures. Anything that happens
later (a decision changed, a case purged, the rules' k changed) never reaches a published
month. Every figure counts events of its own month:

- reports received in the month, by channel and kind of problem (with the channel and month
  totals);
- decisions taken in the month (the first decision on a case), by their code when the month
  was published;
- deadlines (acknowledgement, feedback) that fell in the month: kept, or missed;
- pre-appointment notices published in the month (when the notices table exists).

The months share no case, so no equation links the figures of two months: what one month's
suppression protects, no other month's figures can give back. A figure over several months
(``window_sum``) is computed from the published figures only, and shown only when every one
of them is shown: it is then their sum, which tells nothing new.
"""

import datetime as dt
import hashlib
import json

from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from whistle import catalog
from whistle.models import Case, CaseEvent, PublishedMonth
from whistle.transparency.suppression import Fewer, Figures, Withheld, is_hidden

ACK_EVENTS = ("acknowledged", "in_review", "closed")
FEEDBACK_EVENTS = ("feedback_sent", "closed")
DEADLINES = (("ack", "ack_due", ACK_EVENTS), ("feedback", "feedback_due", FEEDBACK_EVENTS))
NOTICE_DATE_COLUMNS = ("published_on", "opens_on", "created_on")  # first one the table has


def month_code(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def month_bounds(month: str) -> tuple[dt.date, dt.date]:
    """(first day, first day of the next month) of ``"YYYY-MM"``."""
    start = dt.date(int(month[:4]), int(month[5:7]), 1)
    return start, dt.date(start.year + (start.month == 12), start.month % 12 + 1, 1)


class Month:
    """A published month: its figures as shown (a count, ``Fewer`` or ``Withheld``) by key,
    the channels with their categories and the disposition codes, in order."""

    def __init__(self, month: str, min_cell: int, doc: dict, sha256: str):
        self.month, self.min_cell, self.sha256 = month, min_cell, sha256
        self.channels: dict[str, list[str]] = {ch: list(cats) for ch, cats in doc["channels"]}
        self.dispositions: list[str] = list(doc["dispositions"])
        self.figures = {tuple(key): _shown(value) for key, value in doc["figures"]}

    def get(self, key: tuple):
        """The figure shown under ``key``; 0 for a channel, kind or code this month did not
        list (none was counted: every one seen is listed); None for a figure not published
        that month (notices before the table existed)."""
        if key in self.figures:
            return self.figures[key]
        return None if key[0] == "notices" else 0


def _shown(value):
    if isinstance(value, int):
        return value
    if value == "withheld":
        return Withheld()
    return Fewer(int(value[1:]))  # "<k"


def _json_value(value):
    return value if isinstance(value, int) else str(value)


def window_sum(values: list):
    """A figure over several months, from their published figures: their sum when every one is
    shown, else withheld (a sum with a hidden part, against one with the same parts shown,
    would give the hidden part back). None when no month published it."""
    values = [v for v in values if v is not None]
    if not values:
        return None
    if any(is_hidden(v) for v in values):
        return Withheld()
    return sum(values)


def months(db: Session, codes: list[str], k: int) -> list[Month]:
    """The published months ``codes`` (all complete), freezing those never published yet with
    ``k``; those published already keep the k they were published with."""
    stored = {row.month: row for row in db.scalars(select(PublishedMonth).where(PublishedMonth.month.in_(codes)))}
    for code in codes:
        if code not in stored:
            stored[code] = _freeze(db, code, k)
    return [Month(code, stored[code].min_cell, json.loads(stored[code].figures), stored[code].sha256) for code in codes]


def _freeze(db: Session, code: str, k: int) -> PublishedMonth:
    """Count, suppress and store ``code``; when another request stored it first, theirs."""
    body = json.dumps(_count(db, code, k), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    row = PublishedMonth(month=code, min_cell=k, figures=body, sha256=hashlib.sha256(body.encode()).hexdigest())
    db.add(row)
    try:
        db.commit()
    except IntegrityError:  # stored first by another request or instance: theirs is the one shown
        db.rollback()
        row = db.get(PublishedMonth, code, populate_existing=True)
    return row


def _count(db: Session, code: str, k: int) -> dict:
    """The month's figures, suppressed as one system (whistle.transparency.suppression)."""
    from whistle.committee.labels import DISPOSITIONS

    start, end = month_bounds(code)
    received = db.execute(
        select(Case.channel, Case.category).where(Case.received_on >= start, Case.received_on < end)
    ).all()
    channels = list(catalog.CHANNELS) + sorted({r.channel for r in received} - set(catalog.CHANNELS))
    categories = {ch: list(catalog.CATEGORIES.get(ch, {})) for ch in channels}
    by_cell: dict = {}
    for r in received:
        if r.category not in categories[r.channel]:
            categories[r.channel].append(r.category)
        by_cell[(r.channel, r.category)] = by_cell.get((r.channel, r.category), 0) + 1

    f = Figures(k)
    for ch in channels:
        for cat in categories[ch]:
            f.add(("rcc", ch, cat), by_cell.get((ch, cat), 0))
        f.add(("rc", ch), sum(by_cell.get((ch, cat), 0) for cat in categories[ch]))
        f.sums_to(("rc", ch), [("rcc", ch, cat) for cat in categories[ch]])
    f.add(("rm",), len(received))
    f.sums_to(("rm",), [("rc", ch) for ch in channels])

    decided = (
        db.execute(
            select(Case.disposition)
            .join(CaseEvent, CaseEvent.case_id == Case.id)
            .where(
                CaseEvent.event == "disposition",
                CaseEvent.happened_on >= start,
                CaseEvent.happened_on < end,
                Case.disposition.is_not(None),
            )
        )
        .scalars()
        .all()
    )
    dispositions = list(DISPOSITIONS) + sorted({d for d in decided if d is not None} - set(DISPOSITIONS))
    for c in dispositions:
        f.add(("disp", c), decided.count(c))
    f.add(("disp_total",), len(decided))
    f.sums_to(("disp_total",), [("disp", c) for c in dispositions])

    for group, field, events in DEADLINES:
        deadline = getattr(Case, field)
        first_done = (
            select(func.min(CaseEvent.happened_on))
            .where(CaseEvent.case_id == Case.id, CaseEvent.event.in_(events))
            .scalar_subquery()
        )
        rows = db.execute(select(deadline, first_done).where(deadline >= start, deadline < end)).all()
        on_time = sum(1 for due, done in rows if done is not None and done <= due)
        f.add((group, "due"), len(rows))
        f.add((group, "on_time"), on_time)
        f.add((group, "late"), len(rows) - on_time)
        f.sums_to((group, "due"), [(group, "on_time"), (group, "late")])

    notices = _notices(db, start, end)
    if notices is not None:
        f.add(("notices",), notices)

    shown = f.protect()
    return {
        "v": 1,
        "month": code,
        "min_cell": k,
        "channels": [[ch, categories[ch]] for ch in channels],
        "dispositions": dispositions,
        "figures": [[list(key), _json_value(shown[key])] for key in f.values],
    }


def _notices(db: Session, start: dt.date, end: dt.date) -> int | None:
    """Notices published in the month, or None when this database has no notices table."""
    try:
        inspector = inspect(db.get_bind())
        if "notices" not in inspector.get_table_names():
            return None
        columns = {c["name"] for c in inspector.get_columns("notices")}
    except Exception:  # noqa: BLE001 - a defensive probe: no table means no figures
        return None
    column = next((c for c in NOTICE_DATE_COLUMNS if c in columns), None)
    if column is None:
        return None
    return db.execute(
        text(f"SELECT COUNT(*) FROM notices WHERE {column} >= :a AND {column} < :b"),  # fixed names
        {"a": start, "b": end},
    ).scalar_one()
