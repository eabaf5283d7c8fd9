"""The statistics published on /transparency, as a page, CSV and JSON, all from one place.

Published, for the last 12 complete months: reports received per month by channel and by
category, decisions taken per month, deadlines that fell in each month kept or missed,
pre-appointment notices and the comments on them per month (when the notices table exists);
and the results of every survey the committee published. Each month is counted, suppressed
(whistle.transparency.suppression: counts of 1 to k-1 show as "fewer than k", complementary counts are
withheld; k: ``[surveys] min_cell``) and frozen the first time it is published
(whistle.transparency.published_months); a total over the window is the sum of the months' published
figures, withheld when one of them is hidden. So the figures move only when a month closes,
and no two publications can be subtracted to give back a small count (docs/statistics.md).

``build`` puts the figures together (codes only, cached for a few minutes per database and
day, so an anonymous visitor cannot make the server read them on every request); ``labelled``
adds labels in the request's language; ``csv_rows`` flattens the same data for the CSV.
"""

import datetime as dt
import threading
import time

from flask_babel import gettext as _
from sqlalchemy.orm import Session

from whistle import catalog
from whistle.channels import surveys
from whistle.transparency import charts, published_months
from whistle.transparency.published_months import month_code, window_sum
from whistle.transparency.suppression import is_hidden

WINDOW_MONTHS = 12
CACHE_SECONDS = 300

_cache: dict = {}
_cache_lock = threading.Lock()


def forget() -> None:
    """Drop cached statistics (tests; they expire within minutes anyway)."""
    with _cache_lock:
        _cache.clear()


def window(today: dt.date) -> tuple[dt.date, dt.date, list[str]]:
    """(first day, first day after, months): the last WINDOW_MONTHS complete months."""
    end = today.replace(day=1)
    year, month = end.year, end.month - WINDOW_MONTHS
    while month < 1:
        year, month = year - 1, month + 12
    start = dt.date(year, month, 1)
    months, cursor = [], start
    while cursor < end:
        months.append(month_code(cursor))
        cursor = dt.date(cursor.year + (cursor.month == 12), cursor.month % 12 + 1, 1)
    return start, end, months


def _ordered(first: list, more) -> list:
    """``first``, then every other item of ``more`` in the order first seen."""
    out = list(first)
    for item in more:
        if item not in out:
            out.append(item)
    return out


def _table(published: list, columns: list, cell, row_total: tuple) -> dict:
    """Months by ``columns``: the frozen figures, and totals over the window (``window_sum``)."""
    return {
        "columns": list(columns),
        "rows": [
            {"key": m.month, "cells": [m.get(cell(c)) for c in columns], "total": m.get(row_total)} for m in published
        ],
        "totals": [window_sum([m.get(cell(c)) for m in published]) for c in columns],
        "total": window_sum([m.get(row_total) for m in published]),
    }


def _compute(db: Session, today: dt.date, k: int) -> dict:
    """The window's published months (frozen the first time, whistle.transparency.published_months), put
    together; nothing here is counted from the cases again."""
    months = window(today)[2]
    published = published_months.months(db, months, k)
    channels = _ordered(list(catalog.CHANNELS), (ch for m in published for ch in m.channels))
    categories = {ch: _ordered([], (cat for m in published for cat in m.channels.get(ch, []))) for ch in channels}
    dispositions = _ordered([], (code for m in published for code in m.dispositions))
    by_month = _table(published, dispositions, lambda code: ("disp", code), ("disp_total",))
    notice_rows = [
        {"month": m.month, "notices": m.get(("notices",)), "comments": m.get(("rc", catalog_notice()))}
        for m in published
    ]
    return {
        "v": 2,
        "min_cell": k,
        "window": {"from": months[0], "to": months[-1]},
        "months": months,
        "published": [{"month": m.month, "min_cell": m.min_cell, "sha256": m.sha256} for m in published],
        "reports": {
            "by_channel": _table(published, channels, lambda ch: ("rc", ch), ("rm",)),
            "by_category": {
                ch: _table(published, categories[ch], lambda cat, ch=ch: ("rcc", ch, cat), ("rc", ch))
                for ch in channels
            },
        },
        "dispositions": {
            "rows": [{"code": code, "count": total} for code, total in zip(dispositions, by_month["totals"])],
            "total": by_month["total"],
            "by_month": by_month,
        },
        "deadlines": {
            name: _deadline(published, group) for name, group in (("acknowledge", "ack"), ("feedback", "feedback"))
        },
        "notices": None
        if all(r["notices"] is None for r in notice_rows)
        else {
            "rows": notice_rows,
            "total_notices": window_sum([r["notices"] for r in notice_rows]),
            "total_comments": window_sum([r["comments"] for r in notice_rows]),
        },
        "surveys": [surveys.survey_results(db, s, k) for s in surveys.published_surveys(db)],
    }


def catalog_notice() -> str:
    """The channel code of comments on pre-appointment notices."""
    return getattr(catalog, "NOTICE_CHANNEL", "notice")


def _deadline(published: list, group: str) -> dict:
    """Deadlines that fell in the window's months: kept or missed, per month and in all."""
    by_month = _table(published, ["on_time", "late"], lambda c: (group, c), (group, "due"))
    due, (on_time, late) = by_month["total"], by_month["totals"]
    share = None
    if not is_hidden(due) and not is_hidden(on_time) and due:
        share = round(100 * on_time / due, 1)
    return {"due": due, "on_time": on_time, "late": late, "share_on_time_percent": share, "by_month": by_month}


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
        "categories": {
            ch: {
                cat: str(catalog.CATEGORIES.get(ch, {}).get(cat, cat))
                for cat in stats["reports"]["by_category"][ch]["columns"]
            }
            for ch in channels
        },
        "dispositions": dict({code: str(label) for code, label in DISPOSITIONS.items()}, none=_("No decision yet")),
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
    out = {
        "by_channel": charts.stacked_bar_chart(
            _("Reports received per month, by channel"),
            rows,
            series,
            empty_text=_("No reports"),
            show_totals=not any_hidden,
        ),
        "by_channel_left_out": any_hidden,
    }
    kept, dropped = _shown([(names["dispositions"][r["code"]], r["count"]) for r in stats["dispositions"]["rows"]])
    out["dispositions"] = charts.bar_chart(_("Decisions on these reports"), kept, empty_text=_("No reports"))
    out["dispositions_left_out"] = dropped
    out["categories"] = {}
    for ch, table in stats["reports"]["by_category"].items():
        kept, dropped = _shown(
            [(names["categories"][ch][cat], total) for cat, total in zip(table["columns"], table["totals"])]
        )
        out["categories"][ch] = (
            charts.bar_chart(
                _("%(channel)s: reports by kind of problem", channel=names["channels"][ch]),
                kept,
                empty_text=_("No reports"),
            ),
            dropped,
        )
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
        yield (
            "dispositions",
            row["code"],
            names["dispositions"].get(row["code"], row["code"]),
            "count",
            "",
            row["count"],
        )
    yield "dispositions", "total", _("Total"), "count", "", stats["dispositions"]["total"]
    yield from table_rows("dispositions_by_month", stats["dispositions"]["by_month"], names["dispositions"])
    for name, figures in stats["deadlines"].items():
        for key in ("due", "on_time", "late", "share_on_time_percent"):
            value = figures[key]
            yield "deadlines", name, name, key, key, "" if value is None else value
        yield from table_rows(f"deadlines_by_month/{name}", figures["by_month"], {})
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
