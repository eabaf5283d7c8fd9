"""Published statistics cannot be differenced: no combination of the figures published on any
days (windows moving by a day or a month, totals against breakdowns, the CSV against the
JSON) determines a count of 1 to k-1, and the page does not move from one day to the next
because of one decision.

The attacker here knows every figure of every publication and what each one counts, and
solves the whole system exactly (``Figures.computable``: a figure is determined when its unit
vector lies in the row space of the published sums).
"""

import datetime as dt
import itertools
import secrets

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete
from sqlalchemy.orm import Session

from whistle.models import Case, CaseEvent, PublishedMonth
from whistle.services import services
from whistle.transparency import figures as public_stats
from whistle.transparency.suppression import Fewer, Figures, Withheld, is_hidden

K = 5
EN = {"Accept-Language": "en"}


def add_case(s, *, channel, category, on, disposition=None, decided_on=None, ack=None, ack_due=None):
    """A case received ``on``; decided (``disposition``) on ``decided_on``; acknowledged on ``ack``."""
    case = Case(
        id=secrets.token_hex(16),
        locator=f"{secrets.randbelow(10**7):07d}",
        salt=bytes(16),
        kdf_opslimit=1,
        kdf_memlimit=8192,
        verifier=bytes(32),
        reporter_pk=bytes(32),
        channel=channel,
        department="housing",
        category=category,
        accused_rank="staff",
        money_band="none",
        frequency="once",
        evidence="none",
        status="received",
        received_on=on,
        item_count=0,
        disposition=disposition,
        ack_due=ack_due,
        feedback_due=None,
    )
    s.add(case)
    s.flush()
    events = (
        [("received", on)]
        + ([("disposition", decided_on)] if disposition else [])
        + ([("acknowledged", ack)] if ack else [])
    )
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
    with Session(services(app).engine) as s:
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
    with Session(services(app).engine) as s:
        for _ in range(2):
            add_case(s, channel="contractor", category="meals", on=first + dt.timedelta(days=3))
        for back in range(1, 12):  # five a month in the eleven months after it
            for _ in range(5):
                add_case(s, channel="contractor", category="meals", on=month_start(2026, 2, back=back))
        s.commit()
    february, march = publish(app, dt.date(2026, 2, 10)), publish(app, dt.date(2026, 3, 10))
    truth = {}
    with Session(services(app).engine) as s:
        for case in s.query(Case):
            atom = (case.received_on.isoformat()[:7], case.channel, case.category)
            truth[atom] = truth.get(atom, 0) + 1
    assert recoverable([february], truth) == {} and recoverable([march], truth) == {}
    assert recoverable([february, march], truth) == {}


def test_one_decision_does_not_move_the_page_the_next_day(app):
    today = dt.date(2026, 5, 14)
    last_month = month_start(2026, 5, back=1)
    with Session(services(app).engine) as s:
        found = [
            add_case(s, channel="general", category="bribery", on=last_month + dt.timedelta(days=n)) for n in range(16)
        ]
        for case in found[:8]:
            decide(s, case, "conclude", last_month + dt.timedelta(days=20))
        undecided = found[8].id
        s.commit()
    before = publish(app, today)
    with Session(services(app).engine) as s:
        decide(s, s.get(Case, undecided), "conclude", today + dt.timedelta(days=1))
        s.commit()
    after = publish(app, today + dt.timedelta(days=1))
    assert after == before


# --- differencing over generated histories ------------------------------------------------------

START, END = dt.date(2026, 1, 20), dt.date(2026, 4, 3)  # three months close on the way
SPAN = (END - START).days
KINDS = [("contractor", "meals"), ("contractor", "gifts"), ("general", "bribery"), ("general", "other")]
CODES = ["conclude", "talk_inquiry", "not_accepted"]

a_case = st.fixed_dictionaries(
    {
        "on": st.integers(0, SPAN - 1),
        "kind": st.sampled_from(KINDS),
        "decision": st.none()
        | st.tuples(
            st.integers(0, 40),
            st.sampled_from(CODES),
            st.none() | st.tuples(st.integers(1, 30), st.sampled_from(CODES)),
        ),
        "due": st.integers(0, 15),
        "ack": st.none() | st.integers(0, 25),
    }
)


def _month(day: dt.date) -> str:
    return day.isoformat()[:7]


def _actions(history: list[dict]) -> dict:
    """day -> what happens that day: ("case", n), ("decide", n, code), ("ack", n)."""
    out: dict = {}
    for n, case in enumerate(history):
        on = START + dt.timedelta(days=case["on"])
        out.setdefault(on, []).append(("case", n))
        if case["decision"]:
            delta, code, change = case["decision"]
            out.setdefault(on + dt.timedelta(days=delta), []).append(("decide", n, code))
            if change:
                out.setdefault(on + dt.timedelta(days=delta + change[0]), []).append(("decide", n, change[1]))
        if case["ack"] is not None:
            out.setdefault(on + dt.timedelta(days=case["ack"]), []).append(("ack", n))
    return out


def _truth(history: list[dict]) -> dict:
    """The true count of every atom: reports received (month, channel, category); decisions
    ("disp", month, code) by their code on the 1st of the next month, when the month was first
    published; deadlines ("ack", month, "on_time" or "late")."""
    truth: dict = {}

    def count(atom):
        truth[atom] = truth.get(atom, 0) + 1

    for case in history:
        on = START + dt.timedelta(days=case["on"])
        count((_month(on), *case["kind"]))
        if case["decision"]:
            delta, code, change = case["decision"]
            decided = on + dt.timedelta(days=delta)
            frozen_on = (
                month_start(decided.year, decided.month + 1) if decided.month < 12 else dt.date(decided.year + 1, 1, 1)
            )
            if change and decided + dt.timedelta(days=change[0]) <= frozen_on:
                code = change[1]
            count(("disp", _month(decided), code))
        due = on + dt.timedelta(days=case["due"])
        kept = case["ack"] is not None and case["ack"] <= case["due"]
        count(("ack", _month(due), "on_time" if kept else "late"))
    return truth


def _tables(stats: dict) -> dict:
    """Every month-by-column table of a publication, by its CSV name."""
    out = {
        "reports_by_channel": stats["reports"]["by_channel"],
        "dispositions_by_month": stats["dispositions"]["by_month"],
    }
    out.update({f"reports_by_category/{ch}": t for ch, t in stats["reports"]["by_category"].items()})
    out.update({f"deadlines_by_month/{name}": d["by_month"] for name, d in stats["deadlines"].items()})
    return out


def _csv_tables(rows) -> dict:
    """The same tables read back from the CSV rows (values as text)."""
    out: dict = {}
    for table, row, _label, column, _clabel, value in rows:
        if "by_" in table:
            out.setdefault(table, {})[(row, column)] = public_stats.csv_cell(value)
    return out


def _flat(tables: dict) -> dict:
    out: dict = {}
    for name, t in tables.items():
        for row in t["rows"]:
            for col, value in zip(t["columns"], row["cells"]):
                out.setdefault(name, {})[(row["key"], col)] = public_stats.csv_cell(value)
            out[name][(row["key"], "total")] = public_stats.csv_cell(row["total"])
        for col, value in zip(t["columns"], t["totals"]):
            out.setdefault(name, {})[("total", col)] = public_stats.csv_cell(value)
        out.setdefault(name, {})[("total", "total")] = public_stats.csv_cell(t["total"])
    return out


def every_figure(stats: dict):
    """(atoms, value) of every figure in a publication's tables (the window's totals too)."""
    tables = _tables(stats)
    cats = {ch: t["columns"] for ch, t in stats["reports"]["by_category"].items()}
    codes = tables["dispositions_by_month"]["columns"]
    for name, t in tables.items():
        months = [r["key"] for r in t["rows"]]
        for (row, col), value in _flat({name: t})[name].items():
            ms = months if row == "total" else [row]
            if name == "reports_by_channel":
                atoms = {(m, ch, c) for m in ms for ch in (t["columns"] if col == "total" else [col]) for c in cats[ch]}
            elif name.startswith("reports_by_category/"):
                ch = name.split("/")[1]
                atoms = {(m, ch, c) for m in ms for c in (t["columns"] if col == "total" else [col])}
            elif name == "dispositions_by_month":
                atoms = {("disp", m, c) for m in ms for c in (codes if col == "total" else [col])}
            else:
                group = {"acknowledge": "ack", "feedback": "feedback"}[name.split("/")[1]]
                atoms = {(group, m, c) for m in ms for c in (["on_time", "late"] if col == "total" else [col])}
            yield frozenset(atoms), (int(value) if value.isdigit() else _hidden_text(value))


def _hidden_text(value: str):
    return Withheld() if value == "withheld" else Fewer(int(value[1:]))


def _reset(app):
    with Session(services(app).engine) as s:
        for table in (PublishedMonth, CaseEvent, Case):
            s.execute(delete(table))
        s.commit()


def _simulate(app, history: list[dict]) -> list[tuple[dt.date, dict]]:
    """Live through the history day by day, publishing every day."""
    actions, ids, seqs, out = _actions(history), {}, {}, []
    engine = services(app).engine
    for n in range(SPAN):
        day = START + dt.timedelta(days=n)
        with Session(engine) as s:
            for action in actions.get(day, []):
                case = history[action[1]]
                if action[0] == "case":
                    ch, cat = case["kind"]
                    row = add_case(s, channel=ch, category=cat, on=day, ack_due=day + dt.timedelta(days=case["due"]))
                    ids[action[1]], seqs[action[1]] = row.id, 1
                    continue
                if action[1] not in ids:
                    continue
                row = s.get(Case, ids[action[1]])
                if action[0] == "decide":
                    if row.disposition is None:
                        seqs[action[1]] += 1
                        s.add(
                            CaseEvent(
                                id=secrets.token_hex(16),
                                case_id=row.id,
                                seq=seqs[action[1]],
                                event="disposition",
                                happened_on=day,
                            )
                        )
                    row.disposition = action[2]
                else:
                    seqs[action[1]] += 1
                    s.add(
                        CaseEvent(
                            id=secrets.token_hex(16),
                            case_id=row.id,
                            seq=seqs[action[1]],
                            event="acknowledged",
                            happened_on=day,
                        )
                    )
            s.commit()
        out.append((day, publish(app, day)))
    return out


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(history=st.lists(a_case, max_size=45))
def test_no_combination_of_daily_publications_gives_back_a_small_count(app, history):
    _reset(app)
    published = _simulate(app, history)
    for (before, old), (day, new) in itertools.pairwise(published):
        if day.day != 1:  # the page moves only when a month closes
            assert new == old, day
    seen: dict = {}
    for day, stats in published:  # a month shows the same figures in every publication
        for name, cells in _flat(_tables(stats)).items():
            for (row, col), value in cells.items():
                if row != "total":
                    assert seen.setdefault((name, row, col), value) == value, (day, name, row, col)
    for _day, stats in published:  # the summaries are the per-month tables' totals
        disp = stats["dispositions"]
        assert [r["count"] for r in disp["rows"]] == disp["by_month"]["totals"]
        assert disp["total"] == disp["by_month"]["total"]
        for d in stats["deadlines"].values():
            assert [d["due"], d["on_time"], d["late"]] == [d["by_month"]["total"], *d["by_month"]["totals"]]
    distinct = []
    for _day, stats in published:
        if stats not in distinct:
            distinct.append(stats)
    with app.test_request_context(headers=EN):  # the CSV carries the JSON's figures
        for stats in distinct:
            assert _csv_tables(public_stats.csv_rows(stats)) == _flat(_tables(stats))
    assert recoverable(distinct, _truth(history), figures_of=every_figure) == {}


def test_a_month_frozen_by_another_instance_at_the_same_time_is_shown_as_they_stored_it(app):
    """Two instances publishing the same new month at once: the second keeps the first's."""
    from sqlalchemy import event

    from whistle.transparency import published_months

    engine = services(app).engine
    theirs = PublishedMonth(
        month="2026-01",
        min_cell=K,
        sha256="0" * 64,
        figures=(
            '{"channels":[["general",["bribery"]]],"dispositions":[],"figures":[[["rm"],7]],"min_cell":5,'
            '"month":"2026-01","v":1}'
        ),
    )
    stored = []
    with Session(engine) as s:

        def store_theirs_first(session, _context, _instances):
            if theirs in stored:
                return
            stored.append(theirs)
            with Session(engine) as other:
                other.add(theirs)
                other.commit()

        event.listen(s, "before_flush", store_theirs_first)
        [month] = published_months.months(s, ["2026-01"], K)
    assert month.sha256 == "0" * 64 and month.get(("rm",)) == 7
    with Session(engine) as s:
        assert s.query(PublishedMonth).count() == 1
