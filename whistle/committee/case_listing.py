"""One member's case list: the order, the pages and the cursor between them.

Overdue cases first, then those due within days, then the rest (by the deadline each case
waits on now, as its badge shows: triage_view._next_due); within each tier by
grade, then by the day received and the id. The database never sorts a member's whole set:
each (tier, grade) segment is read in index order and a page stops after PAGE_SIZE + 1
rows, so the first page of 100,000 cases costs what the first page of 100 does
(docs/benchmarks.md, section 3; the indexes come with migrations 0005 and 0006).
"""

import base64
import binascii
import datetime as dt
import heapq
import re
from dataclasses import dataclass

from sqlalchemy import case as sql_case
from sqlalchemy import exists, func, literal_column, select, tuple_
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, aliased, selectinload
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal

from whistle.models import Case, CaseEvent, CaseGrant

GRADE_ORDER = {"high": 0, "medium": 1, "low": 2}

# The case list's order: tiers (overdue, due soon, the rest), within each the grades in
# GRADE_ORDER and then any other grade, then received_on and id. Each (tier, grade rank)
# pair is a segment, numbered in that order; a page is filled from consecutive segments.
OVERDUE, DUE_SOON, LATER = range(3)
RANKS = len(GRADE_ORDER) + 1  # the last rank holds grades outside GRADE_ORDER
SEGMENTS = 3 * RANKS
# Up to this many grants, sorting all of a member's cases is cheaper than walking the case
# indexes looking for theirs (about 4 microseconds a grant on SQLite).
FEW_GRANTS = 2000
# The list tells "more than" this many new cases: counting further costs more than it tells.
NEW_COUNT_CAP = 100
# Spelled exactly as the partial index ix_cases_open_grade_received's WHERE (whistle.models),
# and a literal rather than a parameter, so that both databases match the index to it.
OPEN = Case.status != literal_column("'closed'")


class _NoIndex(ColumnElement):
    """A column in a test no index should answer: ``column || ''`` on SQLite, which without
    statistics would otherwise read every received (or closed) case through the index on
    status; the column itself elsewhere, as PostgreSQL's statistics let it weigh the test
    rightly (written ``|| ''`` there, its guess fell to a few rows, and it sorted
    thousands of cases instead of walking an index in order)."""

    inherit_cache = True
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement)]

    def __init__(self, column):
        self.column = column
        self.type = column.type


@compiles(_NoIndex)
def _no_index(element, compiler, **kw):
    return compiler.process(element.column, **kw)


@compiles(_NoIndex, "sqlite")
def _no_index_sqlite(element, compiler, **kw):
    return f"({compiler.process(element.column, **kw)} || '')"


STATUS = _NoIndex(Case.status)
# Real-name cases are read from ix_cases_real_name_grade_received (its WHERE spelled likewise);
# closed, they may still wait on the notice of their result. The status test goes through
# STATUS: the index on status would have SQLite read every closed case.
REAL_NAME = Case.real_name == literal_column("true")
CLOSED_REAL_NAME = (STATUS == "closed") & REAL_NAME


@dataclass(frozen=True)
class Position:
    """Where a page of the case list ends: the last row's segment and sort key. Sent back as
    an opaque cursor; it names a place in the order, never grants anything."""

    segment: int
    received_on: dt.date
    case_id: str

    _SHAPE = re.compile(r"(\d{1,2})\.(\d{8})\.([0-9a-f]{32})")

    def encode(self) -> str:
        text = f"{self.segment}.{self.received_on:%Y%m%d}.{self.case_id}"
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, cursor: str) -> "Position | None":
        """The position a cursor names, or None for anything encode() would not produce."""
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,80}", cursor):
            return None
        try:
            text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        except (binascii.Error, UnicodeDecodeError):
            return None
        parts = cls._SHAPE.fullmatch(text)
        if parts is None or int(parts[1]) >= SEGMENTS:
            return None
        try:
            position = cls(int(parts[1]), dt.datetime.strptime(parts[2], "%Y%m%d").date(), parts[3])
        except ValueError:  # no such day
            return None
        return position if position.encode() == cursor else None  # one spelling per position


def _open_due(test):
    """Open cases whose next deadline passes ``test`` (a condition on a date column), the
    deadline being triage_view._next_due's: the acknowledgement while the case is received,
    then the feedback until the outcome is told (cases.outcome_told: a reply after the
    decision, or after the last closing without one), then none."""
    # STATUS: a test no index answers, so that the date indexes find the few cases due
    # within days (without statistics, SQLite would rather read every received case).
    awaiting_ack = (STATUS == "received") & Case.ack_due.is_not(None)
    sent, decided, closing = aliased(CaseEvent), aliased(CaseEvent), aliased(CaseEvent)
    decided_at = (
        select(func.min(decided.seq))
        .where(decided.case_id == Case.id, decided.event == "disposition")
        .correlate(Case)
        .scalar_subquery()
    )
    closed_at = (
        select(func.max(closing.seq))
        .where(closing.case_id == Case.id, closing.event == "closed")
        .correlate(Case)
        .scalar_subquery()
    )
    fed_back = _probe(
        select(sent.id).where(
            sent.case_id == Case.id, sent.event == "feedback_sent", sent.seq > func.coalesce(decided_at, closed_at)
        )
    )
    # The date tests first: the database evaluates these conditions in the order written,
    # and most cases fail them, so the probe into the events runs for the few that pass.
    return OPEN & (
        (test(Case.ack_due) & awaiting_ack)
        | (test(Case.feedback_due) & Case.feedback_due.is_not(None) & ~awaiting_ack & ~fed_back)
    )


def open_due_between(first: dt.date, last: dt.date):
    """Open cases whose next deadline falls from ``first`` to ``last`` (the reminders'
    "due within days", whistle.committee.notify)."""
    return _open_due(lambda due: due.between(first, last))


def _probe(query):
    """True if ``query`` (correlated to the case) finds a row: as a scalar subquery with LIMIT
    1, which the database runs per case it reaches. Written as EXISTS, PostgreSQL hashes it
    instead, reading every matching event of every case first (130 ms of a 100,000-case list,
    whatever the page)."""
    return query.limit(1).scalar_subquery().is_not(None)


def _result_notice_due(closed_from: dt.date | None, closed_before: dt.date):
    """Closed real-name cases still waiting on the notice of their result (no reply since
    they were last closed) and last closed in [closed_from, closed_before): the notice falls
    due n working days after closing, so a range of closing days is a range of due days."""
    closing, last, replied = aliased(CaseEvent), aliased(CaseEvent), aliased(CaseEvent)
    closed_at = (
        select(func.max(closing.seq))
        .where(closing.case_id == Case.id, closing.event == "closed")
        .correlate(Case)
        .scalar_subquery()
    )  # the case's own, from inside the probe below
    closed_on = (
        select(last.happened_on)
        .where(last.case_id == Case.id, last.event == "closed")
        .order_by(last.seq.desc())
        .limit(1)
        .scalar_subquery()
    )
    notice_sent = _probe(
        select(replied.id).where(replied.case_id == Case.id, replied.event == "feedback_sent", replied.seq > closed_at)
    )
    within = closed_on.is_not(None) & (closed_on < closed_before)
    if closed_from is not None:
        within = within & (closed_on >= closed_from)
    return CLOSED_REAL_NAME & within & ~notice_sent  # the probes in the order of their cost


@dataclass(frozen=True)
class Tiers:
    """The three tiers, which split every case by its next deadline (triage_view._next_due):
    past it, due by ``soon``, and the rest (no deadline, or due later). Each tier is also
    given as the parts the database reads apart, each from its own index: open cases by
    ack_due / feedback_due or ix_cases_open_grade_received, closed real-name ones (their
    notice of the result) by ix_cases_real_name_grade_received."""

    overdue_parts: tuple
    due_soon_parts: tuple
    later: object

    @classmethod
    def on(cls, today: dt.date, soon: dt.date, notice_from: dt.date, notice_later: dt.date) -> "Tiers":
        """The tiers on ``today``. A real-name case closed before ``notice_from`` has its
        notice of the result overdue; closed before ``notice_later``, due by ``soon``
        (triage_view.first_closing_day of today and of the day after ``soon``).

        "Due soon" is written on ack_due and feedback_due apart, so the two date indexes
        find the few open cases due within days."""
        overdue = (_open_due(lambda due: due < today), _result_notice_due(None, notice_from))
        due_soon = (_open_due(lambda due: due.between(today, soon)), _result_notice_due(notice_from, notice_later))
        later = ~_open_due(lambda due: due <= soon) & ~_result_notice_due(None, notice_later)
        return cls(overdue, due_soon, later)

    def conditions(self) -> list:
        """WHERE clauses of the three tiers, in order."""
        return [
            self.overdue_parts[0] | self.overdue_parts[1],
            self.due_soon_parts[0] | self.due_soon_parts[1],
            self.later,
        ]

    def parts(self, tier: int) -> tuple:
        """The conditions a tier is read as, each in index order."""
        return (self.overdue_parts, self.due_soon_parts, (self.later,))[tier]


def _granted(member_id: str):
    """The member holds the case: one index probe into case_grants per case."""
    return exists().where(CaseGrant.case_id == Case.id, CaseGrant.member_id == member_id)


def segment_query(member_id: str, tier, grade: str, after: Position | None, limit: int):
    """One grade of the overdue or the later tier in (received_on, id) order: with the grade
    fixed, the database walks an index already in that order and stops after ``limit``
    granted rows."""
    query = (
        select(Case)
        .where(tier, Case.risk_grade == grade, _granted(member_id))
        .order_by(Case.received_on, Case.id)
        .limit(limit)
        .options(selectinload(Case.events))
    )
    if after is not None:
        query = query.where(tuple_(Case.received_on, Case.id) > (after.received_on, after.case_id))
    return query


def segment_number(tiers: list):
    """The segment of each row as an SQL expression (tier, then grade rank)."""
    tier = sql_case((tiers[OVERDUE], OVERDUE), (tiers[DUE_SOON], DUE_SOON), else_=LATER)
    rank = sql_case(*((Case.risk_grade == g, n) for g, n in GRADE_ORDER.items()), else_=RANKS - 1)
    return tier * RANKS + rank


def _in_list_order(query, tiers: list, after: Position | None, limit: int):
    """``query`` (of cases) sorted in the list's order by (segment, received_on, id) after
    ``after``, with each row's segment; for row sets small enough to sort whole."""
    segment = segment_number(tiers)
    query = (
        query.add_columns(segment.label("segment"))
        .order_by(segment, Case.received_on, Case.id)
        .limit(limit)
        .options(selectinload(Case.events))
    )
    if after is not None:
        query = query.where(
            tuple_(segment, Case.received_on, Case.id) > (after.segment, after.received_on, after.case_id)
        )
    return query


def due_soon_query(member_id: str, tiers: list, part, after: Position | None, limit: int):
    """One part of the due-soon tier, every grade at once: the open cases due within a few
    days, found by deadline from the ack_due and feedback_due indexes, or the closed
    real-name ones whose notice of the result is, from their own index; sorted. Per grade in
    received order, a planner would walk the open cases' index instead and filter almost
    all out."""
    return _in_list_order(select(Case).where(part, _granted(member_id)), tiers, after, limit)


def few_grants(member_id: str):
    """The member's grants, no more than FEW_GRANTS + 1, as a subquery read first and from
    ix_case_grants_member_case: a LIMIT keeps it from being merged into a join the planner
    might start from cases, and ordering by the index's own order makes the index the way to
    read it (not a scan of everyone's grants), whatever the planner guesses of this member."""
    return (
        select(CaseGrant.case_id)
        .where(CaseGrant.member_id == member_id)
        .order_by(CaseGrant.member_id, CaseGrant.case_id)
        .limit(FEW_GRANTS + 1)
        .subquery()
    )


def sorted_query(member_id: str, tiers: list, after: Position | None, limit: int):
    """The cases of a member holding at most FEW_GRANTS, all sorted: an index walk would
    have to pick their few cases out of everyone's."""
    grants = few_grants(member_id)
    return _in_list_order(select(Case).join(grants, grants.c.case_id == Case.id), tiers, after, limit)


class CaseListing:
    """One member's case list on one day: pages in the order above, and the new-case count."""

    def __init__(self, session: Session, member_id: str, today: dt.date, soon: dt.date):
        self.session = session
        self.member_id = member_id
        from whistle.committee.triage_view import first_closing_day

        self.tier_parts = Tiers.on(
            today, soon, first_closing_day(today), first_closing_day(soon + dt.timedelta(days=1))
        )
        self.tiers = self.tier_parts.conditions()
        self._holds_few = None
        self._other_grades = None

    def page(self, after: Position | None, size: int) -> tuple[list[Case], Position | None]:
        """Up to ``size`` cases after ``after`` (from the top when None), and the position
        the next page starts after if any case follows."""
        if self.holds_few():
            rows = self._rows_of(sorted_query(self.member_id, self.tiers, after, size + 1))
        else:
            rows = self._by_segments(after, size + 1)
        if len(rows) <= size:
            return [case for _segment, case in rows], None
        segment, last = rows[size - 1]
        return [case for _segment, case in rows[:size]], Position(segment, last.received_on, last.id)

    def holds_few(self) -> bool:
        """At most FEW_GRANTS grants (counted no further)."""
        if self._holds_few is None:
            counted = select(func.count()).select_from(few_grants(self.member_id))
            self._holds_few = self.session.scalar(counted) <= FEW_GRANTS
        return self._holds_few

    def new_count(self) -> int:
        """Granted cases waiting for acknowledgement, counted up to NEW_COUNT_CAP + 1: from
        the member's grants when they are few (as in sorted_query), else from the status
        index, probing the grants."""
        if self.holds_few():
            grants = few_grants(self.member_id)
            waiting = select(Case.id).join(grants, grants.c.case_id == Case.id)
        else:
            waiting = select(Case.id).where(_granted(self.member_id))
        waiting = waiting.where(Case.status == "received").limit(NEW_COUNT_CAP + 1).subquery()
        return self.session.scalar(select(func.count()).select_from(waiting))

    def _rows_of(self, query) -> list[tuple[int, Case]]:
        """(segment, case) pairs of a query made by _in_list_order."""
        return [(segment, case) for case, segment in self.session.execute(query)]

    def _by_segments(self, after: Position | None, wanted: int) -> list[tuple[int, Case]]:
        """Rows from consecutive segments until ``wanted``: the due-soon tier in one query,
        the other tiers one grade at a time."""
        found, segment = [], after.segment if after else 0
        while segment < SEGMENTS and len(found) < wanted:
            tier, rank = divmod(segment, RANKS)
            if tier == DUE_SOON:
                resume = after if after is not None and after.segment // RANKS == DUE_SOON else None
                limit = wanted - len(found)
                runs = [
                    self._rows_of(due_soon_query(self.member_id, self.tiers, part, resume, limit))
                    for part in self.tier_parts.parts(DUE_SOON)
                ]
                found += list(heapq.merge(*runs, key=lambda row: (row[0], row[1].received_on, row[1].id)))[:limit]
                segment = (DUE_SOON + 1) * RANKS
            else:
                resume = after if after is not None and after.segment == segment else None
                found += [(segment, case) for case in self._grade_run(tier, rank, resume, wanted - len(found))]
                segment += 1
        return found

    def _grade_run(self, tier: int, rank: int, after: Position | None, limit: int) -> list[Case]:
        grades = list(GRADE_ORDER)[rank : rank + 1] or self.other_grades()
        runs = [
            self.session.scalars(segment_query(self.member_id, part, grade, after, limit)).all()
            for grade in grades
            for part in self.tier_parts.parts(tier)
        ]
        if len(runs) == 1:
            return runs[0]
        # Several unknown grades share the last rank, or a tier is read in parts (open and
        # closed real-name cases): merge their runs, each already sorted.
        return list(heapq.merge(*runs, key=lambda case: (case.received_on, case.id)))[:limit]

    def other_grades(self) -> list[str]:
        """Grades outside GRADE_ORDER that some case has (normally none): stepping from one
        distinct value of the grade index to the next costs one seek per value, where a
        NOT IN would read the whole index."""
        if self._other_grades is None:
            self._other_grades, value = [], None
            while True:
                step = select(Case.risk_grade).order_by(Case.risk_grade).limit(1)
                value = self.session.scalar(step if value is None else step.where(Case.risk_grade > value))
                if value is None:
                    break
                if value not in GRADE_ORDER:
                    self._other_grades.append(value)
        return self._other_grades
