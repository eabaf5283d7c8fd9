"""The statistics published on /transparency, as a page, CSV and JSON, all from one place.

Published: reports received per month by channel and by category (the last 12 complete
months: a month still running would change day by day, and a count that moves by one the
day after someone reported tells what they reported), the dispositions of those reports, the
share acknowledged and fed back within their deadlines (as they stood when the window closed,
for the same reason), pre-appointment notices and the
comments on them per month (when the notices table exists), and the results of every survey
the committee published. Every figure goes through whistle.transparency.suppression: counts of 1 to k-1
show as "fewer than k", complementary counts are withheld (k: ``[surveys] min_cell``).

``build`` computes the figures (codes only, cached for a few minutes per database and day, so
an anonymous visitor cannot make the server count every case on every request); ``labelled``
adds labels in the request's language; ``csv_rows`` flattens the same data for the CSV.
"""
import datetime as dt
import threading
import time

from flask_babel import gettext as _
from sqlalchemy import func, inspect, select, text
from sqlalchemy.orm import Session

from whistle import catalog
from whistle.transparency import charts
from whistle.channels import surveys
from whistle.models import Case, CaseEvent
from whistle.transparency.suppression import Figures, Protected, is_hidden

WINDOW_MONTHS = 12
CACHE_SECONDS = 300
ACK_EVENTS = ("acknowledged", "in_review", "closed")
FEEDBACK_EVENTS = ("feedback_sent", "closed")
NOTICE_DATE_COLUMNS = ("published_on", "opens_on", "created_on")  # first one the table has

_cache: dict = {}
_cache_lock = threading.Lock()


def forget() -> None:
    """Drop cached statistics (tests; they expire within minutes anyway)."""
    with _cache_lock:
        _cache.clear()


def _month(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def window(today: dt.date) -> tuple[dt.date, dt.date, list[str]]:
    """(first day, first day after, months): the last WINDOW_MONTHS complete months."""
    end = today.replace(day=1)
    year, month = end.year, end.month - WINDOW_MONTHS
    while month < 1:
        year, month = year - 1, month + 12
    start = dt.date(year, month, 1)
    months, cursor = [], start
    while cursor < end:
        months.append(_month(cursor))
        cursor = dt.date(cursor.year + (cursor.month == 12), cursor.month % 12 + 1, 1)
    return start, end, months


def _table(shown: Protected, rows, columns, cell, row_total, column_total, grand) -> dict:
    return {"columns": list(columns),
            "rows": [{"key": r, "cells": [shown[cell(r, c)] for c in columns], "total": shown[row_total(r)]}
                     for r in rows],
            "totals": [shown[column_total(c)] for c in columns], "total": shown[grand]}


def _notice_months(db: Session, start: dt.date, end: dt.date) -> dict | None:
    """Notices per month, or None when this database has no notices table (yet)."""
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
    counts: dict[str, int] = {}
    rows = db.execute(text(f"SELECT {column} FROM notices WHERE {column} >= :a AND {column} < :b"),  # noqa: S608 - fixed names
                      {"a": start, "b": end}).scalars()
    for value in rows:
        month = str(value)[:7]
        counts[month] = counts.get(month, 0) + 1
    return counts


def _compute(db: Session, today: dt.date, k: int) -> dict:
    start, end, months = window(today)
    found = db.execute(select(Case.id, Case.channel, Case.category, Case.received_on, Case.disposition,
                              Case.ack_due, Case.feedback_due)
                       .where(Case.received_on >= start, Case.received_on < end)).all()
    firsts: dict[tuple[str, str], dt.date] = {}
    if found:
        events = db.execute(select(CaseEvent.case_id, CaseEvent.event, func.min(CaseEvent.happened_on))
                            .join(Case, Case.id == CaseEvent.case_id)
                            .where(Case.received_on >= start, Case.received_on < end,
                                   CaseEvent.event.in_(ACK_EVENTS + FEEDBACK_EVENTS))
                            .group_by(CaseEvent.case_id, CaseEvent.event)).all()
        for case_id, event, day in events:
            for group, names in (("ack", ACK_EVENTS), ("feedback", FEEDBACK_EVENTS)):
                if event in names and ((case_id, group) not in firsts or day < firsts[(case_id, group)]):
                    firsts[(case_id, group)] = day

    channels = list(catalog.CHANNELS) + sorted({r.channel for r in found} - set(catalog.CHANNELS))
    categories = {ch: list(catalog.CATEGORIES.get(ch, {})) for ch in channels}
    for r in found:
        if r.category not in categories[r.channel]:
            categories[r.channel].append(r.category)

    by_cell: dict = {}
    for r in found:
        key = (_month(r.received_on), r.channel, r.category)
        by_cell[key] = by_cell.get(key, 0) + 1

    f = Figures(k)
    grand = f.add(("rt",), len(found))
    for m in months:
        for ch in channels:
            for cat in categories[ch]:
                f.add(("rcc", m, ch, cat), by_cell.get((m, ch, cat), 0))
            f.add(("rc", m, ch), sum(by_cell.get((m, ch, cat), 0) for cat in categories[ch]))
            f.sums_to(("rc", m, ch), [("rcc", m, ch, cat) for cat in categories[ch]])
        f.add(("rm", m), sum(f.values[("rc", m, ch)] for ch in channels))
        f.sums_to(("rm", m), [("rc", m, ch) for ch in channels])
    for ch in channels:
        for cat in categories[ch]:
            f.add(("rcat", ch, cat), sum(f.values[("rcc", m, ch, cat)] for m in months))
            f.sums_to(("rcat", ch, cat), [("rcc", m, ch, cat) for m in months])
        f.add(("rch", ch), sum(f.values[("rc", m, ch)] for m in months))
        f.sums_to(("rch", ch), [("rc", m, ch) for m in months])
        f.sums_to(("rch", ch), [("rcat", ch, cat) for cat in categories[ch]])
    f.sums_to(grand, [("rm", m) for m in months])
    f.sums_to(grand, [("rch", ch) for ch in channels])

    dispositions = list(_disposition_codes()) + sorted({r.disposition for r in found if r.disposition}
                                                       - set(_disposition_codes()))
    for code in dispositions:
        f.add(("disp", code), sum(1 for r in found if r.disposition == code))
    f.add(("disp", "none"), sum(1 for r in found if not r.disposition))
    f.sums_to(grand, [("disp", code) for code in dispositions + ["none"]])

    # Deadlines as they stood when the window closed (the first day of this month), not today:
    # counted as of today, "due" would grow by one on the day a report's deadline passed, and
    # the deadline tells the day it was received (and its grade, by the deadline's length).
    for group, due_field in (("ack", "ack_due"), ("feedback", "feedback_due")):
        due = on_time = 0
        for r in found:
            deadline = getattr(r, due_field)
            done = firsts.get((r.id, group))
            if done is not None and done >= end:
                done = None  # done after the window closed: not yet, as the figures stand
            if deadline is None or (done is None and deadline >= end):
                continue  # no deadline, or not due yet and not done
            due += 1
            on_time += done is not None and done <= deadline
        f.add((group, "due"), due)
        f.add((group, "on_time"), on_time)
        f.add((group, "late"), due - on_time)
        f.sums_to((group, "due"), [(group, "on_time"), (group, "late")])

    notice_counts = _notice_months(db, start, end)
    if notice_counts is not None:
        for m in months:
            f.add(("notices", m), notice_counts.get(m, 0))
        f.add(("notices_total",), sum(notice_counts.get(m, 0) for m in months))
        f.sums_to(("notices_total",), [("notices", m) for m in months])

    shown = f.protect()
    stats = {
        "v": 1, "min_cell": k, "window": {"from": months[0], "to": months[-1]}, "months": months,
        "reports": {
            "by_channel": _table(shown, months, channels, lambda m, ch: ("rc", m, ch), lambda m: ("rm", m),
                                 lambda ch: ("rch", ch), grand),
            "by_category": {ch: _table(shown, months, categories[ch], lambda m, cat, ch=ch: ("rcc", m, ch, cat),
                                       lambda m, ch=ch: ("rc", m, ch), lambda cat, ch=ch: ("rcat", ch, cat),
                                       ("rch", ch)) for ch in channels},
        },
        "dispositions": {"rows": [{"code": code, "count": shown[("disp", code)]} for code in dispositions + ["none"]],
                         "total": shown[grand]},
        "deadlines": {name: _deadline(shown, group) for name, group in (("acknowledge", "ack"), ("feedback", "feedback"))},
        "notices": None if notice_counts is None else {
            "rows": [{"month": m, "notices": shown[("notices", m)],
                      "comments": shown[("rc", m, catalog_notice())] if ("rc", m, catalog_notice()) in shown else 0}
                     for m in months],
            "total_notices": shown[("notices_total",)],
            "total_comments": shown[("rch", catalog_notice())] if ("rch", catalog_notice()) in shown else 0,
        },
        "surveys": [surveys.survey_results(db, s, k) for s in surveys.published_surveys(db)],
    }
    return stats


def catalog_notice() -> str:
    """The channel code of comments on pre-appointment notices."""
    return getattr(catalog, "NOTICE_CHANNEL", "notice")


def _disposition_codes():
    from whistle.committee.labels import DISPOSITIONS

    return DISPOSITIONS


def _deadline(shown: Protected, group: str) -> dict:
    due, on_time, late = shown[(group, "due")], shown[(group, "on_time")], shown[(group, "late")]
    share = None
    if not is_hidden(due) and not is_hidden(on_time) and due:
        share = round(100 * on_time / due, 1)
    return {"due": due, "on_time": on_time, "late": late, "share_on_time_percent": share}


def build(db: Session, today: dt.date, k: int) -> dict:
    """The published statistics (cached per database, day and k for CACHE_SECONDS)."""
    key = (str(db.get_bind().url), today, k)
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
    stats = _compute(db, today, k)
    with _cache_lock:
        if len(_cache) > 64:
            _cache.clear()
        _cache[key] = (time.monotonic() + CACHE_SECONDS, stats)
    return stats


# --- labels, charts, CSV -------------------------------------------------------------------


def labels(stats: dict) -> dict:
    """Labels of every code in ``stats``, in the request's language."""
    from whistle.committee.labels import DISPOSITIONS

    channels = stats["reports"]["by_channel"]["columns"]
    return {
        "channels": {ch: str(catalog.CHANNELS.get(ch, ch)) for ch in channels},
        "categories": {ch: {cat: str(catalog.CATEGORIES.get(ch, {}).get(cat, cat))
                            for cat in stats["reports"]["by_category"][ch]["columns"]} for ch in channels},
        "dispositions": dict({code: str(label) for code, label in DISPOSITIONS.items()},
                             none=_("No decision yet")),
    }


def labelled(stats: dict) -> dict:
    """``stats`` plus its labels (the JSON document)."""
    return dict(stats, labels=labels(stats))


def _shown(pairs) -> tuple[list, list]:
    """(pairs whose value is a number, labels of those left out)."""
    kept = [(label, value) for label, value in pairs if not is_hidden(value)]
    dropped = [label for label, value in pairs if is_hidden(value)]
    return kept, dropped


def page_charts(stats: dict) -> dict:
    """SVG charts of the published figures; suppressed ones are left out (listed in
    ``*_left_out`` for the page's note; the tables show them as text)."""
    names = labels(stats)
    by_channel = stats["reports"]["by_channel"]
    series = [(ch, names["channels"][ch]) for ch in by_channel["columns"]]
    rows, any_hidden = [], False
    for row in by_channel["rows"]:
        values = {}
        for ch, value in zip(by_channel["columns"], row["cells"]):
            if is_hidden(value):
                any_hidden = True
            else:
                values[ch] = value
        rows.append((row["key"], values))
    out = {"by_channel": charts.stacked_bar_chart(_("Reports received per month, by channel"), rows, series,
                                                  empty_text=_("No reports"), show_totals=not any_hidden),
           "by_channel_left_out": any_hidden}
    kept, dropped = _shown([(names["dispositions"][r["code"]], r["count"]) for r in stats["dispositions"]["rows"]])
    out["dispositions"] = charts.bar_chart(_("Decisions on these reports"), kept, empty_text=_("No reports"))
    out["dispositions_left_out"] = dropped
    out["categories"] = {}
    for ch, table in stats["reports"]["by_category"].items():
        kept, dropped = _shown([(names["categories"][ch][cat], total)
                                for cat, total in zip(table["columns"], table["totals"])])
        out["categories"][ch] = (charts.bar_chart(_("%(channel)s: reports by kind of problem",
                                                    channel=names["channels"][ch]), kept,
                                                  empty_text=_("No reports")), dropped)
    return out


def result_charts(result: dict) -> dict:
    """A bar chart per closed question of a survey's results (suppressed answers left out)."""
    out = {}
    for q in result["questions"]:
        kept, _dropped = _shown([(a["label"], a["count"]) for a in q["answers"]])
        out[q["index"]] = charts.bar_chart(q["text"], kept, show_title=False, empty_text=_("No figures to show"))
    return out


CSV_HEADER = ("table", "row", "row_label", "column", "column_label", "value")
# A cell a spreadsheet would read as a formula (CSV injection): survey questions and answer
# options are written by members and downloaded by the public, who open the file in Excel
# or LibreOffice, where "=HYPERLINK(...)" or "@cmd" would run.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value) -> str:
    """A CSV cell that a spreadsheet shows as the text it is: numbers as they are, a text
    that would start a formula with an apostrophe before it (spreadsheets hide it)."""
    if isinstance(value, int):
        return str(value)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_rows(stats: dict):
    """(table, row, row label, column, column label, value) for every published figure."""
    names = labels(stats)
    by_channel = stats["reports"]["by_channel"]

    def table_rows(name, table, column_names):
        for row in table["rows"]:
            for col, value in zip(table["columns"], row["cells"]):
                yield name, row["key"], row["key"], col, column_names.get(col, col), value
            yield name, row["key"], row["key"], "total", _("Total"), row["total"]
        for col, value in zip(table["columns"], table["totals"]):
            yield name, "total", _("Total"), col, column_names.get(col, col), value
        yield name, "total", _("Total"), "total", _("Total"), table["total"]

    yield from table_rows("reports_by_channel", by_channel, names["channels"])
    for ch, table in stats["reports"]["by_category"].items():
        yield from table_rows(f"reports_by_category/{ch}", table, names["categories"][ch])
    for row in stats["dispositions"]["rows"]:
        yield "dispositions", row["code"], names["dispositions"].get(row["code"], row["code"]), "count", "", row["count"]
    yield "dispositions", "total", _("Total"), "count", "", stats["dispositions"]["total"]
    for name, figures in stats["deadlines"].items():
        for key in ("due", "on_time", "late", "share_on_time_percent"):
            value = figures[key]
            yield "deadlines", name, name, key, key, "" if value is None else value
    if stats["notices"] is not None:
        for row in stats["notices"]["rows"]:
            yield "notices", row["month"], row["month"], "notices", "", row["notices"]
            yield "notices", row["month"], row["month"], "comments", "", row["comments"]
        yield "notices", "total", _("Total"), "notices", "", stats["notices"]["total_notices"]
        yield "notices", "total", _("Total"), "comments", "", stats["notices"]["total_comments"]
    for result in stats["surveys"]:
        yield from survey_csv_rows(result)


def survey_csv_rows(result: dict):
    """The CSV rows of one survey's results."""
    name = f"survey/{result['id']}"
    yield name, "responses", _("Responses"), "count", "", result["responses"]
    for q in result["questions"]:
        for a in q["answers"]:
            yield name, f"q{q['index']}", q["text"], a["code"], a["label"], a["count"]
    if result["breakdown"]:
        for t in result["breakdown"]["tables"]:
            table = f"{name}/breakdown/q{t['index']}"
            for row in t["rows"]:
                for col, value in zip(t["columns"], row["cells"]):
                    yield table, row["code"], row["label"], col["code"], col["label"], value
                yield table, row["code"], row["label"], "total", _("Total"), row["total"]
            for col, value in zip(t["columns"], t["totals"]):
                yield table, "total", _("Total"), col["code"], col["label"], value
