"""Published statistics and small-count suppression: no published figure anywhere (page, CSV,
JSON API, charts, survey results) ever shows a count between 1 and k-1, and no such count can
be computed back from a total (complementary suppression)."""

import csv
import datetime as dt
import io
import itertools
import json
import random
import re
import secrets
from fractions import Fraction

import pytest
from sqlalchemy.orm import Session

from whistle.transparency import figures as public_stats
from whistle.transparency import published_months
from whistle.channels import surveys
from whistle.clock import today
from whistle.models import Case, CaseEvent
from whistle.transparency.suppression import Fewer, Figures, Withheld, is_hidden, suppress
from whistle.services import services

from tests.client_side import proof_of_work
from tests.test_surveys import make_survey

K = 5
TODAY = today("Asia/Shanghai")
EN = {"Accept-Language": "en"}


# --- the suppression rule ----------------------------------------------------------------------


def test_suppress():
    assert suppress(0, 5) == 0 and suppress(5, 5) == 5 and suppress(1234, 5) == 1234
    for n in range(1, 5):
        value = suppress(n, 5)
        assert isinstance(value, Fewer) and value == "<5" and value.k == 5
    assert suppress(2, 3) == "<3" and suppress(3, 3) == 3
    with pytest.raises(ValueError):
        suppress(-1, 5)
    with pytest.raises(TypeError):
        suppress(True, 5)
    with pytest.raises(ValueError):
        suppress(3, 1)
    assert json.dumps([suppress(2, 5), Withheld()]) == '["<5", "withheld"]'


def _row(values, k=K, group=False):
    figures = Figures(k)
    parts = [figures.add(("c", i), v) for i, v in enumerate(values)]
    figures.add("total", sum(values))
    figures.sums_to("total", parts, group=group)
    shown = figures.protect()
    return [shown[("c", i)] for i in range(len(values))], shown["total"]


def test_complementary_suppression_in_a_row():
    # One small cell next to a published total: the smallest other cell is withheld too.
    assert _row([3, 7, 10]) == (["<5", "withheld", 10], 20)
    # Two small cells protect each other.
    assert _row([3, 2, 10]) == (["<5", "<5", 10], 15)
    # A zero is no protection when a non-zero cell can be withheld instead.
    assert _row([3, 0, 12]) == (["<5", 0, "withheld"], 15)
    # The answers of a small group hide every cell, zeros included: "3 answers, 0 yes" would
    # tell all three respondents' answer...
    assert _row([3, 0, 0], group=True) == (["<5", "<5", "<5"], "<5")
    assert _row([2, 1, 0], group=True) == (["<5", "<5", "<5"], "<5")
    # ...while a report count of 0 in a month says only that nothing came in.
    assert _row([3, 0, 0]) == (["<5", 0, 0], "<5")
    assert _row([0, 0, 0], group=True) == ([0, 0, 0], 0)
    assert _row([6, 7, 0]) == ([6, 7, 0], 13)


def test_complementary_suppression_across_rows_and_columns():
    #           a    b    row total
    table = [[2, 9], [8, 9]]
    figures = Figures(K)
    for r, c in itertools.product(range(2), range(2)):
        figures.add((r, c), table[r][c])
    for r in range(2):
        figures.add(("row", r), sum(table[r]))
        figures.sums_to(("row", r), [(r, c) for c in range(2)])
    for c in range(2):
        figures.add(("col", c), sum(table[r][c] for r in range(2)))
        figures.sums_to(("col", c), [(r, c) for r in range(2)])
    figures.add("all", 28)
    figures.sums_to("all", [("row", 0), ("row", 1)])
    figures.sums_to("all", [("col", 0), ("col", 1)])
    shown = figures.protect()
    # (0,0) is small; its row and its column each need a second hidden figure, and so on.
    assert shown[(0, 0)] == "<5"
    _assert_protected(figures, shown)


def _rank(rows: list[list[Fraction]]) -> int:
    """The rank of a matrix, by Gaussian elimination in exact fractions."""
    rows, rank = [list(r) for r in rows], 0
    for col in range(len(rows[0]) if rows else 0):
        pivot = next((i for i in range(rank, len(rows)) if rows[i][col]), None)
        if pivot is None:
            continue
        rows[rank], rows[pivot] = rows[pivot], rows[rank]
        for i in range(len(rows)):
            if i != rank and rows[i][col]:
                factor = rows[i][col] / rows[rank][col]
                rows[i] = [a - factor * b for a, b in zip(rows[i], rows[rank])]
        rank += 1
    return rank


def _computable_small_figures(figures: Figures, shown) -> list:
    """The hidden small figures (shown as "fewer than k") that some combination of the
    published sums gives back exactly: those whose unit vector adds nothing to the rank of
    the sums written in the hidden figures alone. (Written apart from whistle's own check.)"""
    hidden = sorted((key for key in figures.values if shown.hidden(key)), key=repr)
    column = {key: i for i, key in enumerate(hidden)}
    matrix = []
    for total, parts in figures.equations:
        row = [Fraction(0)] * len(hidden)
        for key, sign in ((total, 1), *((p, -1) for p in parts)):
            if key in column:
                row[column[key]] += sign
        matrix.append(row)
    base = _rank(matrix)
    exposed = []
    for key in hidden:
        if isinstance(shown[key], Fewer):
            unit = [Fraction(int(i == column[key])) for i in range(len(hidden))]
            if _rank(matrix + [unit]) == base:
                exposed.append(key)
    return exposed


def _assert_protected(figures: Figures, shown) -> None:
    """No equation with a single hidden figure, no small figure computable from any
    combination of the sums; every shown count is 0 or at least k."""
    for total, parts in figures.equations:
        hidden = [key for key in (total, *parts) if shown.hidden(key)]
        assert len(hidden) != 1, (total, parts)
    assert _computable_small_figures(figures, shown) == []
    for key in figures.published:
        value = shown[key]
        assert is_hidden(value) or value == 0 or value >= figures.k, (key, value)
        if isinstance(value, Fewer):
            assert figures.values[key] < figures.k  # never a lie about a large count


def _table_figures(table: list[list[int]], k: int) -> Figures:
    """A table with its row, column and grand totals, as public_stats publishes one."""
    rows, cols = len(table), len(table[0])
    figures = Figures(k)
    for r, c in itertools.product(range(rows), range(cols)):
        figures.add((r, c), table[r][c])
    for r in range(rows):
        figures.add(("r", r), sum(table[r]))
        figures.sums_to(("r", r), [(r, c) for c in range(cols)])
    for c in range(cols):
        figures.add(("c", c), sum(table[r][c] for r in range(rows)))
        figures.sums_to(("c", c), [(r, c) for r in range(rows)])
    figures.add("all", sum(map(sum, table)))
    figures.sums_to("all", [("r", r) for r in range(rows)])
    figures.sums_to("all", [("c", c) for c in range(cols)])
    return figures


@pytest.mark.parametrize("seed", range(25))
def test_random_tables_are_protected(seed):
    rng = random.Random(seed)
    rows, cols = rng.randint(1, 6), rng.randint(1, 6)
    table = [[rng.choice([0, 0, 1, 2, 3, 4, 5, 6, 9, 15, 40]) for _ in range(cols)] for _ in range(rows)]
    figures = _table_figures(table, rng.choice([3, 5, 10]))
    _assert_protected(figures, figures.protect())


@pytest.mark.parametrize("seed", range(12))
def test_year_by_category_tables_are_protected_against_any_combination_of_sums(seed):
    """Twelve months by six categories, mostly counts near k: the shape of the published
    tables, where a small cell can come back from several sums combined though no single
    sum gives it."""
    rng = random.Random(1000 + seed)
    table = [[rng.choice([3, 4, 5, 5, 6, 7, 8, 9, 10, 11]) for _ in range(6)] for _ in range(12)]
    figures = _table_figures(table, K)
    _assert_protected(figures, figures.protect())


def test_a_small_cell_is_not_given_back_by_three_sums_combined():
    # Hiding only what single sums need left (2, 1) = 4 computable: column 1's hidden part,
    # minus months 0 and 11's hidden parts, plus column 2's (each hiding only columns 1, 2).
    table = [
        [9, 7, 4, 7, 8, 12],
        [9, 10, 11, 8, 4, 9],
        [9, 4, 7, 3, 13, 5],
        [5, 5, 6, 3, 9, 7],
        [6, 7, 7, 8, 5, 5],
        [8, 8, 7, 6, 5, 10],
        [11, 11, 5, 9, 10, 10],
        [10, 8, 9, 9, 9, 9],
        [5, 6, 8, 3, 11, 7],
        [9, 10, 8, 3, 8, 5],
        [5, 8, 6, 9, 4, 8],
        [11, 5, 4, 7, 10, 6],
    ]
    figures = _table_figures(table, K)
    shown = figures.protect()
    assert shown[(2, 1)] == "<5"
    _assert_protected(figures, shown)


def test_unpublished_figures_are_protected_but_cheap_to_hide():
    figures = Figures(K)
    figures.add("all", 30)
    figures.add("due", 27)
    figures.add("not_due", 3, published=False)
    figures.sums_to("all", ["due", "not_due"])
    shown = figures.protect()
    assert shown.hidden("not_due") and shown["due"] == "withheld" and shown["all"] == 30
    figures = Figures(K)
    figures.add("all", 30)
    figures.add("due", 3)
    figures.add("not_due", 27, published=False)
    figures.sums_to("all", ["due", "not_due"])
    shown = figures.protect()
    assert shown["due"] == "<5" and shown.hidden("not_due") and shown["all"] == 30  # hides the unshown one


# --- published statistics ------------------------------------------------------------------------


def _month_start(back: int) -> dt.date:
    day = TODAY.replace(day=1)
    for _ in range(back):
        day = (day - dt.timedelta(days=1)).replace(day=1)
    return day


def _case(s, *, channel, category, on, disposition=None, ack=None, ack_due=None):
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
        status="acknowledged" if ack else "received",
        received_on=on,
        item_count=0,
        disposition=disposition,
        ack_due=ack_due,
        feedback_due=None,
    )
    s.add(case)
    s.flush()
    events = [("received", on)] + [("disposition", on)] * bool(disposition) + [("acknowledged", ack)] * bool(ack)
    for seq, (event, day) in enumerate(events, 1):
        s.add(CaseEvent(id=secrets.token_hex(16), case_id=case.id, seq=seq, event=event, happened_on=day))
    return case


@pytest.fixture
def seeded(app):
    """Cases over the window with many counts of 1..k-1, plus some outside it."""
    m1, m2, m3 = _month_start(1), _month_start(2), _month_start(3)
    with Session(services(app).engine) as s:
        for _ in range(7):  # m1: contractor 7 (meals), general 3: one small cell in the row
            _case(
                s,
                channel="contractor",
                category="meals",
                on=m1,
                disposition="conclude",
                ack=m1 + dt.timedelta(days=1),
                ack_due=m1 + dt.timedelta(days=3),
            )
        for _ in range(3):
            _case(s, channel="general", category="bribery", on=m1 + dt.timedelta(days=2), ack_due=m1)
        for n in range(12):  # m2: 12 contractor (gifts 8, obstruction 4)
            _case(
                s,
                channel="contractor",
                category="gifts" if n < 8 else "obstruction",
                on=m2,
                disposition="talk_inquiry" if n < 2 else None,
                ack=m2 + dt.timedelta(days=9) if n < 6 else None,
                ack_due=m2 + dt.timedelta(days=5),
            )
        _case(s, channel="general", category="other", on=m3)  # m3: a single report
        _case(s, channel="contractor", category="meals", on=TODAY)  # this month: not published yet
        _case(s, channel="contractor", category="meals", on=_month_start(14))  # before the window
        s.commit()
    public_stats.forget()
    return m1, m2, m3


def _csv(client):
    resp = client.get("/transparency/statistics.csv", headers=EN)
    assert resp.status_code == 200 and resp.mimetype == "text/csv" and "Set-Cookie" not in resp.headers
    return list(csv.DictReader(io.StringIO(resp.get_data(as_text=True).lstrip("\ufeff"))))


def _no_small_count(value: str) -> bool:
    return value in ("", "withheld", f"<{K}") or not value.isdigit() or int(value) == 0 or int(value) >= K


def _json_counts(node, path=""):
    """Every number in the statistics JSON that is a count."""
    skip = {"v", "min_cell", "share_on_time_percent", "index"}
    if isinstance(node, dict):
        for key, value in node.items():
            if key not in skip:
                yield from _json_counts(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _json_counts(value, f"{path}[{i}]")
    elif isinstance(node, int) and not isinstance(node, bool):
        yield path, node


def _assert_nothing_small(client):
    rows = _csv(client)
    for row in rows:
        if row["column"] != "share_on_time_percent":
            assert _no_small_count(row["value"]), row
    data = client.get("/transparency/statistics.json", headers=EN).get_json()
    for path, value in _json_counts(data):
        assert value == 0 or value >= K, (path, value)
    html = client.get("/transparency", headers=EN).get_data(as_text=True)
    for value in re.findall(r'data-figure="([^"]*)"', html) + re.findall(r'data-value="([^"]*)"', html):
        assert _no_small_count(value), value
    for value in re.findall(r'data-total="([^"]*)"', html):
        assert _no_small_count(value), value
    return rows, data, html


def test_no_published_figure_shows_a_count_below_k(app, client, committee, seeded):
    m1, m2, m3 = (_m.isoformat()[:7] for _m in seeded)
    rows, data, html = _assert_nothing_small(client)
    assert data["min_cell"] == K and data["months"][-1] == m1 and len(data["months"]) == 12
    by_channel = {
        r["key"]: dict(zip(data["reports"]["by_channel"]["columns"], r["cells"]))
        for r in data["reports"]["by_channel"]["rows"]
    }
    # m1: general 3 is fewer than 5, and contractor 7 is withheld so that 10 - 7 cannot tell it;
    # m1's total 10 is withheld too, or the grand total 23 minus 10 and m2's 12 would give m3's
    # single report. A month without reports shows 0: nothing to protect.
    # Each month is suppressed on its own. m1: general 3 is fewer than 5, and contractor 7 is
    # withheld so that 10 - 7 cannot tell it; m2's obstruction 4 hides gifts 8 the same way. A
    # month without reports shows 0: nothing to protect.
    assert by_channel[m1] == {"contractor": "withheld", "general": "<5", "notice": 0}
    assert by_channel[m2] == {"contractor": 12, "general": 0, "notice": 0}
    assert by_channel[m3] == {"contractor": 0, "general": "<5", "notice": 0}
    totals = {r["key"]: r["total"] for r in data["reports"]["by_channel"]["rows"]}
    assert totals[m1] == 10 and totals[m2] == 12 and totals[m3] == "<5"
    assert all(totals[m] == 0 for m in data["months"] if m not in (m1, m2, m3))
    # A total over the window is the sum of the months' published figures, or withheld when
    # one of them is hidden: 22 plus m3's hidden figure would give m3's back.
    assert data["reports"]["by_channel"]["totals"] == ["withheld", "withheld", 0]
    assert data["reports"]["by_channel"]["total"] == "withheld"
    gifts = {r["key"]: r["cells"][1] for r in data["reports"]["by_category"]["contractor"]["rows"]}
    assert gifts[m2] == "withheld" and gifts[m1] == 0
    assert "fewer than 5" in html and "withheld" in html
    assert 'id="table-by-channel"' in html and "<svg" in html
    ack = {r["key"]: r for r in data["deadlines"]["acknowledge"]["by_month"]["rows"]}
    # m1: 7 acknowledged on time, 3 never (due that month); m2: 12 due, none on time.
    assert ack[m1]["total"] == 10 and ack[m1]["cells"] == ["withheld", "<5"]
    assert ack[m2]["total"] == 12 and ack[m2]["cells"] == [0, 12]
    assert data["deadlines"]["acknowledge"]["due"] == 22
    assert data["deadlines"]["acknowledge"]["share_on_time_percent"] is None
    # Decisions are counted in the month they were taken.
    dispositions = {r["code"]: r["count"] for r in data["dispositions"]["rows"]}
    assert dispositions["talk_inquiry"] == "withheld" and dispositions["conclude"] == 7
    assert data["dispositions"]["total"] == "withheld"
    assert data["labels"]["channels"]["contractor"] == "Contractor complaint"
    assert any(
        r["table"] == "reports_by_channel" and r["row"] == m1 and r["column"] == "general" and r["value"] == "<5"
        for r in rows
    )


def test_published_survey_results_carry_no_small_count(app, client, committee):
    survey_id = make_survey(app)
    answers = [{0: 0, 1: 5, 2: 0}] * 6 + [{0: 1, 1: 4, 2: 1}] * 2 + [{0: 2, 1: 1}] * 9
    for one in answers:
        resp = client.post(
            f"/api/v1/surveys/{survey_id}/responses",
            json={"answers": {str(k): v for k, v in one.items()}, "pow": proof_of_work(client)},
        )
        assert resp.status_code == 201
    with Session(services(app).engine) as s:
        from whistle.models import Survey

        survey = s.get(Survey, survey_id)
        surveys.close(survey)
        surveys.publish(survey, TODAY)
        s.commit()
    public_stats.forget()
    rows, data, html = _assert_nothing_small(client)
    assert [r["id"] for r in data["surveys"]] == [survey_id]
    result = client.get(f"/api/v1/surveys/{survey_id}/results", headers=EN).get_json()
    assert result == json.loads(json.dumps(data["surveys"][0]))
    for path, value in _json_counts(result):
        assert value == 0 or value >= K, (path, value)
    page = client.get(f"/surveys/{survey_id}/results", headers=EN).get_data(as_text=True)
    for value in re.findall(r'data-figure="([^"]*)"', page) + re.findall(r'data-value="([^"]*)"', page):
        assert _no_small_count(value), value
    sector = {a["code"]: a["count"] for a in result["questions"][0]["answers"]}
    # Sector 1 has 2 respondents: fewer than 5; sector 0's 6 is withheld, or 17 - 9 - 0 would tell.
    assert sector == {"0": "withheld", "1": "<5", "2": 9, "none": 0}
    assert result["responses"] == 17
    cross = {t["index"]: t for t in result["breakdown"]["tables"]}
    for table in cross.values():
        for row in table["rows"]:
            for cell in row["cells"] + [row["total"]]:
                assert cell in (0, "<5", "withheld") or cell >= K
    # How sector 1's two respondents answered shows nowhere, not even as a 0.
    for table in cross.values():
        row = next(r for r in table["rows"] if r["code"] == "1")
        assert set(row["cells"]) == {"<5"} and row["total"] == "<5"
    # The two who agreed ("4") were from sector 1: no sector shows a number for that column.
    likert = cross[1]
    assert {r["code"]: r["cells"][1] for r in likert["rows"]} == {"0": "<5", "1": "<5", "2": "<5", "none": "<5"}
    survey_rows = [r for r in rows if r["table"].startswith(f"survey/{survey_id}")]
    assert survey_rows and all(_no_small_count(r["value"]) for r in survey_rows)


def test_the_window_is_the_last_complete_months():
    start, end, months = public_stats.window(dt.date(2026, 3, 15))
    assert (start, end) == (dt.date(2025, 3, 1), dt.date(2026, 3, 1))
    assert months[0] == "2025-03" and months[-1] == "2026-02" and len(months) == 12
    start, end, months = public_stats.window(dt.date(2026, 1, 1))
    assert months[-1] == "2025-12" and months[0] == "2025-01"


def test_statistics_without_data_and_without_a_notices_table(app, client, monkeypatch):
    monkeypatch.setattr(published_months, "NOTICE_DATE_COLUMNS", ("no_such_column",))
    public_stats.forget()
    data = client.get("/transparency/statistics.json").get_json()
    assert data["reports"]["by_channel"]["total"] == 0 and data["surveys"] == []
    assert data["notices"] is None
    # The months are frozen without notices: a notices table found later does not change them.
    monkeypatch.undo()
    public_stats.forget()
    assert client.get("/transparency/statistics.json").get_json() == data
    page = client.get("/transparency", headers=EN)
    assert page.status_code == 200 and "Set-Cookie" not in page.headers


def test_notices_are_counted_when_the_table_exists(app, client):
    from sqlalchemy import inspect

    engine = services(app).engine
    if "notices" not in inspect(engine).get_table_names():
        pytest.skip("no notices table in this schema")
    from whistle import models

    month = _month_start(2)
    with Session(engine) as s:
        for n in range(6):
            s.add(
                models.Notice(
                    id=secrets.token_hex(16),
                    candidate_name="x",
                    current_post="a",
                    proposed_post="b",
                    department="housing",
                    opens_on=month,
                    closes_on=month + dt.timedelta(days=5),
                    published_on=month,
                    published_by="he.ping",
                )
            )
        s.commit()
    public_stats.forget()
    data = client.get("/transparency/statistics.json").get_json()
    rows = {r["month"]: r for r in data["notices"]["rows"]}
    assert rows[month.isoformat()[:7]]["notices"] == 6 and data["notices"]["total_notices"] == 6


def test_deadline_figures_stand_still_within_a_month(app):
    """The deadline figures are taken as they stood when the window closed: one that moved
    the day a report's deadline passed (or the day it was acknowledged) would tell the day
    the report came in, and by the deadline's length its grade."""
    this_month = _month_start(0)
    last_month = _month_start(1)
    with Session(services(app).engine) as s:
        for n in range(6):  # received last month, due on the 10th of this month
            _case(
                s,
                channel="contractor",
                category="meals",
                on=last_month + dt.timedelta(days=20),
                ack_due=this_month + dt.timedelta(days=9),
                ack=this_month + dt.timedelta(days=3) if n < 2 else None,
            )
        for _ in range(5):  # due and acknowledged last month: counted either way
            _case(
                s,
                channel="contractor",
                category="gifts",
                on=last_month,
                ack_due=last_month + dt.timedelta(days=3),
                ack=last_month + dt.timedelta(days=1),
            )
        s.commit()
        early = public_stats._compute(s, this_month + dt.timedelta(days=1), K)
        late = public_stats._compute(s, this_month + dt.timedelta(days=25), K)
    assert early["deadlines"] == late["deadlines"]
    assert early["deadlines"]["acknowledge"]["due"] == 5 and early["deadlines"]["acknowledge"]["on_time"] == 5


def test_a_small_figure_given_back_by_sums_whose_other_figures_are_all_hidden():
    # x = S1 - S2 though every figure of x's own sum is hidden (T = x + y): the figures to
    # withhold next are found through the hidden ones (it was an AssertionError, a 500).
    figures = Figures(3)
    for key, value in (("x", 2), ("y", 10), ("z", 50), ("T", 12), ("S1", 62), ("S2", 60)):
        figures.add(key, value)
    figures.sums_to("T", ["x", "y"])
    figures.sums_to("S1", ["T", "z"])
    figures.sums_to("S2", ["y", "z"])
    shown = figures.protect()
    assert shown["x"] == "<3"
    _assert_protected(figures, shown)
