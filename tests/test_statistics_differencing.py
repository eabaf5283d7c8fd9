"""Published statistics cannot be differenced: no combination of the figures published on any
days (windows moving by a day or a month, totals against breakdowns, the CSV against the
JSON) determines a count of 1 to k-1, and the page does not move from one day to the next
because of one decision.

The attacker here knows every figure of every publication and what each one counts, and
solves the whole system exactly (``Figures.computable``: a figure is determined when its unit
vector lies in the row space of the published sums).
"""
import datetime as dt
import secrets

import pytest
from sqlalchemy import delete
from sqlalchemy.orm import Session

from whistle import public_stats
from whistle.models import Case, CaseEvent
from whistle.statistics import Figures, is_hidden

K = 5
EN = {"Accept-Language": "en"}


def add_case(s, *, channel, category, on, disposition=None, decided_on=None, ack=None, ack_due=None):
    """A case received ``on``; decided (``disposition``) on ``decided_on``; acknowledged on ``ack``."""
    case = Case(id=secrets.token_hex(16), locator=f"{secrets.randbelow(10**7):07d}", salt=bytes(16), kdf_opslimit=1,
                kdf_memlimit=8192, verifier=bytes(32), reporter_pk=bytes(32), channel=channel, department="housing",
                category=category, accused_rank="staff", money_band="none", frequency="once", evidence="none",
                status="received", received_on=on, item_count=0, disposition=disposition, ack_due=ack_due,
                feedback_due=None)
    s.add(case)
    s.flush()
    events = [("received", on)] + ([("disposition", decided_on)] if disposition else []) + \
        ([("acknowledged", ack)] if ack else [])
    for seq, (event, day) in enumerate(events, 1):
        s.add(CaseEvent(id=secrets.token_hex(16), case_id=case.id, seq=seq, event=event, happened_on=day))
    return case


def decide(s, case, code, on):
    """A decision taken ``on``: the case's code, and its event (as the workspace records it)."""
    first = case.disposition is None
    case.disposition = code
    if first:
        seq = 1 + max(e.seq for e in s.query(CaseEvent).filter_by(case_id=case.id))
        s.add(CaseEvent(id=secrets.token_hex(16), case_id=case.id, seq=seq, event="disposition", happened_on=on))


def month_start(year, month, back=0) -> dt.date:
    month -= back
    while month < 1:
        year, month = year - 1, month + 12
    return dt.date(year, month, 1)


def publish(app, day: dt.date) -> dict:
    """What /transparency/statistics.json would carry on ``day``."""
    public_stats.forget()
    with Session(app.extensions["whistle.engine"]) as s:
        stats = public_stats.build(s, day, K)
        s.commit()
    return stats


# --- the attacker -------------------------------------------------------------------------------


def report_figures(stats: dict):
    """(atoms, value) of every report figure a publication shows or hides: an atom is
    (month, channel, category), a count of reports received; a figure is the sum of its atoms."""
    months = stats["months"]
    by_channel = stats["reports"]["by_channel"]
    cats = {ch: table["columns"] for ch, table in stats["reports"]["by_category"].items()}

    def atoms(ms, chs, cat=None):
        return frozenset((m, ch, c) for m in ms for ch in chs for c in cats[ch] if cat is None or c == cat)

    for row in by_channel["rows"]:
        for ch, value in zip(by_channel["columns"], row["cells"]):
            yield atoms([row["key"]], [ch]), value
        yield atoms([row["key"]], by_channel["columns"]), row["total"]
    for ch, value in zip(by_channel["columns"], by_channel["totals"]):
        yield atoms(months, [ch]), value
    yield atoms(months, by_channel["columns"]), by_channel["total"]
    for ch, table in stats["reports"]["by_category"].items():
        for row in table["rows"]:
            for cat, value in zip(table["columns"], row["cells"]):
                yield atoms([row["key"]], [ch], cat), value
            yield atoms([row["key"]], [ch]), row["total"]
        for cat, value in zip(table["columns"], table["totals"]):
            yield atoms(months, [ch], cat), value
        yield atoms(months, [ch]), table["total"]


def recoverable(publications: list[dict], truth: dict, figures_of=report_figures) -> dict:
    """Every count of 1..k-1 that the publications hide and an attacker holding them all
    can compute exactly, as {atoms: true value}. ``truth``: atom -> its true count (missing: 0).
    Also checks that every shown figure is the truth (the model of what is counted is right)."""
    system = Figures(K)
    known, sums = set(), {}
    for stats in publications:
        for atoms, value in figures_of(stats):
            true = sum(truth.get(a, 0) for a in atoms)
            if not is_hidden(value):
                assert value == true, (sorted(atoms), value, true)
                known.add(atoms)
            sums[atoms] = true
    every_atom = {a for atoms in sums for a in atoms}
    for atom in every_atom:
        system.add(frozenset([atom]), truth.get(atom, 0))
    for atoms, true in sums.items():
        if len(atoms) > 1:
            system.add(atoms, true)
            system.sums_to(atoms, [frozenset([a]) for a in sorted(atoms)])
    hidden = set(system.values) - known
    return {key: system.values[key] for key in system.computable(hidden) if 0 < system.values[key] < K}


# --- the two leaks of the issue -----------------------------------------------------------------


def test_consecutive_monthly_publications_do_not_give_back_a_hidden_cell(app):
    """57 - 55 = 2: a category's twelve-month total, published one month and the next, gave
    back the small count of the month that left the window."""
    first = month_start(2026, 2, back=12)  # the oldest month of February's publication
    with Session(app.extensions["whistle.engine"]) as s:
        for _ in range(2):
            add_case(s, channel="contractor", category="meals", on=first + dt.timedelta(days=3))
        for back in range(1, 12):  # five a month in the eleven months after it
            for _ in range(5):
                add_case(s, channel="contractor", category="meals", on=month_start(2026, 2, back=back))
        s.commit()
    february, march = publish(app, dt.date(2026, 2, 10)), publish(app, dt.date(2026, 3, 10))
    truth = {}
    with Session(app.extensions["whistle.engine"]) as s:
        for case in s.query(Case):
            atom = (case.received_on.isoformat()[:7], case.channel, case.category)
            truth[atom] = truth.get(atom, 0) + 1
    assert recoverable([february], truth) == {} and recoverable([march], truth) == {}
    assert recoverable([february, march], truth) == {}


def test_one_decision_does_not_move_the_page_the_next_day(app):
    today = dt.date(2026, 5, 14)
    last_month = month_start(2026, 5, back=1)
    with Session(app.extensions["whistle.engine"]) as s:
        found = [add_case(s, channel="general", category="bribery", on=last_month + dt.timedelta(days=n))
                 for n in range(16)]
        for case in found[:8]:
            decide(s, case, "conclude", last_month + dt.timedelta(days=20))
        undecided = found[8].id
        s.commit()
    before = publish(app, today)
    with Session(app.extensions["whistle.engine"]) as s:
        decide(s, s.get(Case, undecided), "conclude", today + dt.timedelta(days=1))
        s.commit()
    after = publish(app, today + dt.timedelta(days=1))
    assert after == before
