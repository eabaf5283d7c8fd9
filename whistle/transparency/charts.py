"""Charts drawn on the server as SVG strings: no script, no stylesheet, nothing but escaped text.

Used by the committee dashboard (cases by department and risk grade, by disposition, overdue
cases over time) and the public transparency page. Pages run under a strict CSP
(``style-src 'self'``), so nothing here emits a ``style=`` attribute or a ``<style>`` element;
colours, fonts and sizes are SVG presentation attributes (``fill=``, ``font-size=``...), which
the CSP does not govern. Each chart is an ``<svg role="img">`` labelled by its own ``<title>``
and described by a ``<desc>`` that, unless the caller passes ``description``, lists the data,
so a screen reader gets the numbers the picture shows.

All text is sanitised (characters XML cannot carry are dropped, line breaks become spaces)
and escaped. Labels that do not fit are shortened with an ellipsis, and the full label is kept
in a ``<title>`` tooltip. Text width is estimated per character, wide (CJK) glyphs counting
as a full em. The charts scale to their container (``width="100%"`` plus a ``viewBox``).

Values are non-negative integers (counts); a negative value raises ``ValueError``, and a
value that is not an integer raises ``TypeError``. Suppressing small counts on public pages is
the caller's job.
"""

from __future__ import annotations

import math
import operator
import re
import secrets
import unicodedata
from collections.abc import Mapping, Sequence

from markupsafe import Markup, escape

__all__ = ["bar_chart", "stacked_bar_chart", "line_chart", "GRADE_COLORS", "PALETTE"]

SVG_NS = "http://www.w3.org/2000/svg"
FONT_FAMILY = "system-ui, 'Noto Sans CJK SC', sans-serif"

TEXT = "#1a202c"
MUTED = "#4a5568"
GRID = "#e2e8f0"
AXIS = "#a0aec0"
WHITE = "#ffffff"
DEFAULT_COLOR = "#2b6cb0"

# Red / amber / blue differ in hue and, for readers who cannot tell hues apart, in lightness.
# The amber is a shade darker than #d98b00 so that every colour reaches 3:1 against the
# white page (WCAG 1.4.11); segments are also separated by a white gap and carry their value.
GRADE_COLORS = {"high": "#a4161a", "medium": "#c27c00", "low": "#2b6cb0"}
# Default series colours, in order; more series than colours reuse them from the start.
PALETTE = ("#a4161a", "#c27c00", "#2b6cb0", "#009e73", "#cc79a7", "#6b46c1", "#4a5568")

PAD = 12
TITLE_SIZE = 15
LABEL_SIZE = 13
TICK_SIZE = 11
MIN_WIDTH = 240

_XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_LINE_BREAKS = re.compile("[\t\n\r\x85\u2028\u2029]+")
_HEX_COLOR = re.compile(r"#(?:[0-9a-fA-F]{3}){1,2}")
# Advance widths in ems, after DejaVu Sans, the widest of the usual system UI faces (Linux's
# fallback); Segoe UI, San Francisco and Noto Sans are narrower, so estimates err on the safe side.
_EM_WIDTHS = {
    **dict.fromkeys("ijl'", 0.28),
    **dict.fromkeys(' IJ,.·:;/\\|!f()[]tr-"', 0.4),
    **dict.fromkeys("szc?*_`", 0.55),
    **dict.fromkeys("KVXZBRCAUNHDGOQ&", 0.78),
    **dict.fromkeys("<>=+#^~w", 0.84),
    **dict.fromkeys("MmW%@…—", 1.0),
}
_BOLD = 1.1


# --- text -----------------------------------------------------------------------------------


def _clean(text: object) -> str:
    """One line of text XML can carry: invalid characters dropped, line breaks made spaces."""
    text = _XML_INVALID.sub("", str(text))
    return _LINE_BREAKS.sub(" ", text).strip()


_HAN = re.compile("[\u3400-\u9fff]")
_HALF_WIDTH = {"sep": "; ", "colon": ": ", "comma": ", ", "open": " (", "close": ")"}
_FULL_WIDTH = {"sep": "；", "colon": "：", "comma": "，", "open": "（", "close": "）"}


def _marks(*texts: str) -> dict:
    """The punctuation a description is joined with: full-width when its labels are Chinese
    (a screen reader reads "举报：3；" where "举报: 3; " would be wrong on a Chinese page)."""
    return _FULL_WIDTH if any(_HAN.search(text) for text in texts) else _HALF_WIDTH


def _esc(text: str) -> str:
    return str(escape(text))


def _char_em(ch: str) -> float:
    """Estimated advance of one character, in ems, for a proportional sans-serif face."""
    if ch in _EM_WIDTHS:
        return _EM_WIDTHS[ch]
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
        return 0.0
    if unicodedata.east_asian_width(ch) in ("W", "F"):
        return 1.0  # CJK ideographs, kana, hangul, fullwidth forms, most emoji
    return 0.66  # digits, most Latin letters, other scripts


def _text_width(text: str, size: float, bold: bool = False) -> float:
    return sum(_char_em(ch) for ch in text) * size * (_BOLD if bold else 1)


def _fit(text: str, max_width: float, size: float, bold: bool = False) -> str:
    """``text``, shortened with an ellipsis if it is estimated wider than ``max_width``."""
    if _text_width(text, size, bold) <= max_width:
        return text
    budget = max_width - _text_width("…", size, bold)
    kept, used = [], 0.0
    for ch in text:
        used += _char_em(ch) * size * (_BOLD if bold else 1)
        if used > budget:
            break
        kept.append(ch)
    return "".join(kept).rstrip() + "…"


def _fmt(value: int) -> str:
    return f"{value:,}"


# --- values ---------------------------------------------------------------------------------


def _count(value: object, what: str) -> int:
    """A non-negative integer, or ``TypeError`` / ``ValueError`` naming ``what``."""
    if isinstance(value, bool):
        raise TypeError(f"{what}: expected an integer count, got {value!r}")
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{what}: expected an integer count, got {value!r}") from None
    if number < 0:
        raise ValueError(f"{what}: counts cannot be negative, got {number}")
    return number


def _color(value: str) -> str:
    if not isinstance(value, str) or not _HEX_COLOR.fullmatch(value):
        raise ValueError(f"colours must be '#rgb' or '#rrggbb', got {value!r}")
    return value.lower()


def _check_width(width: int) -> None:
    if _count(width, "width") < MIN_WIDTH:
        raise ValueError(f"width must be at least {MIN_WIDTH}, got {width}")


def _luminance(color: str) -> float:
    hexes = color[1:]
    if len(hexes) == 3:
        hexes = "".join(c * 2 for c in hexes)
    channels = [int(hexes[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(a: str, b: str) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _text_on(fill: str) -> str:
    """White or dark text, whichever reads better on ``fill``."""
    return WHITE if _contrast(WHITE, fill) >= _contrast(TEXT, fill) else TEXT


def _nice_ticks(max_value: int, target: int = 5) -> list[int]:
    """Ticks from 0 at a round step (1, 2 or 5 times a power of ten), the last >= max_value."""
    if max_value <= 0:
        return [0, 1]
    target = max(1, target)
    power = 1
    while True:
        for multiple in (1, 2, 5):
            step = multiple * power
            if step * target >= max_value:
                top = -(-max_value // step) * step
                return list(range(0, top + 1, step))
        power *= 10


def _fitting_ticks(max_value: int, length: float, min_gap: float, label_width) -> list[int]:
    """The densest nice ticks (at most six) whose labels keep ``min_gap`` apart on ``length``."""
    for target in range(5, 0, -1):
        ticks = _nice_ticks(max_value, target)
        widest = max(label_width(_fmt(t)) for t in ticks)
        if length / (len(ticks) - 1) >= widest + min_gap:
            return ticks
    return ticks


# --- SVG ------------------------------------------------------------------------------------


def _num(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _tag(tag: str, attrs: Mapping[str, object], inner: str = "") -> str:
    """An element; attribute values are escaped, ``inner`` must already be markup."""
    parts = [f"<{tag}"]
    for name, value in attrs.items():
        if value is None:
            continue
        if isinstance(value, float):
            value = _num(value)
        parts.append(f' {name}="{_esc(str(value))}"')
    if inner:
        return "".join(parts) + f">{inner}</{tag}>"
    return "".join(parts) + "/>"


def _title(text: str) -> str:
    return f"<title>{_esc(text)}</title>"


def _text(
    x: float,
    y: float,
    text: str,
    *,
    size: int = LABEL_SIZE,
    fill: str = TEXT,
    anchor: str = "start",
    tooltip: str | None = None,
    **attrs: object,
) -> str:
    """A line of text centred vertically on ``y``; ``tooltip`` adds a ``<title>``."""
    inner = (_title(tooltip) if tooltip else "") + _esc(text)
    return _tag(
        "text",
        {"x": float(x), "y": float(y), "dy": "0.35em", "font-size": size, "fill": fill, "text-anchor": anchor, **attrs},
        inner,
    )


def _label(x: float, y: float, text: str, max_width: float, **kw) -> str:
    """``_text`` shortened to ``max_width``; the full text, if cut, becomes a tooltip."""
    shown = _fit(text, max_width, kw.get("size", LABEL_SIZE), kw.get("font-weight") == "bold")
    return _text(x, y, shown, tooltip=text if shown != text else None, **kw)


def _svg(kind: str, width: float, height: float, title: str, desc: str, body: list[str]) -> Markup:
    uid = f"chart-{secrets.token_hex(6)}"
    head = f'<title id="{uid}-title">{_esc(title)}</title><desc id="{uid}-desc">{_esc(desc)}</desc>'
    attrs = {
        "xmlns": SVG_NS,
        "id": uid,
        "class": f"chart chart-{kind}",
        "role": "img",
        "aria-labelledby": f"{uid}-title",
        "aria-describedby": f"{uid}-desc",
        "viewBox": f"0 0 {_num(width)} {_num(height)}",
        "width": "100%",
        "font-family": FONT_FAMILY,
    }
    return Markup(_tag("svg", attrs, head + "".join(body)))


def _heading(title: str, width: float, show_title: bool) -> tuple[list[str], float]:
    """The visible title, if wanted, and the y where the content below it starts."""
    if not show_title:
        return [], PAD
    text = _label(PAD, PAD + TITLE_SIZE / 2, title, width - 2 * PAD, size=TITLE_SIZE, **{"font-weight": "bold"})
    return [text], PAD + TITLE_SIZE + 12


def _empty(kind: str, title: str, width: int, empty_text: str, description: str | None, show_title: bool) -> Markup:
    body, top = _heading(title, width, show_title)
    height = top + 72
    empty_text = _clean(empty_text)
    body.append(
        _tag(
            "rect",
            {"x": PAD, "y": top, "width": width - 2 * PAD, "height": 60, "fill": "none", "stroke": GRID, "rx": 4},
        )
    )
    body.append(
        _label(
            width / 2, top + 30, empty_text, width - 4 * PAD, fill=MUTED, anchor="middle", **{"class": "chart-empty"}
        )
    )
    desc = _clean(description) if description is not None else empty_text
    return _svg(kind, width, height, title, desc, body)


def _horizontal_frame(
    width: int, labels: list[str], value_labels: list[str], max_value: int, top: float, rows: int, pitch: float
) -> tuple[list[str], dict]:
    """Gridlines and tick labels shared by the horizontal bar charts, and their geometry."""
    label_w = min(max((_text_width(l, LABEL_SIZE) for l in labels), default=0), (width - 2 * PAD) * 0.38)
    value_w = min(max(_text_width(v, LABEL_SIZE) for v in value_labels), (width - 2 * PAD) * 0.3)
    x0 = PAD + label_w + 8
    # Room on the right for the value printed after the longest bar.
    x1 = width - PAD - value_w - 6
    ticks = _fitting_ticks(max_value, x1 - x0, 10, lambda t: _text_width(t, TICK_SIZE))
    # The last tick label is centred on x1; keep it inside the picture.
    x1 = max(min(x1, width - PAD - _text_width(_fmt(ticks[-1]), TICK_SIZE) / 2), x0 + 40)
    scale = (x1 - x0) / ticks[-1]
    bottom = top + rows * pitch
    body = []
    for tick in ticks:
        x = round(x0 + tick * scale, 2)
        body.append(
            _tag(
                "line",
                {
                    "x1": x,
                    "y1": top - 4,
                    "x2": x,
                    "y2": bottom,
                    "stroke": AXIS if tick == 0 else GRID,
                    "stroke-width": 1,
                },
            )
        )
        body.append(_text(x, bottom + 12, _fmt(tick), size=TICK_SIZE, fill=MUTED, anchor="middle"))
    geometry = {"label_w": label_w, "x0": x0, "scale": scale, "height": bottom + 24 + PAD}
    return body, geometry


def _pitch(bar_height: int) -> tuple[float, float]:
    bar_height = _count(bar_height, "bar_height")
    if bar_height < 8:
        raise ValueError(f"bar_height must be at least 8, got {bar_height}")
    return bar_height, bar_height + max(6, round(bar_height * 0.35))


# --- charts ---------------------------------------------------------------------------------


def bar_chart(
    title: str,
    bars: Sequence[tuple[str, int]],
    *,
    width: int = 640,
    bar_height: int = 28,
    description: str | None = None,
    empty_text: str = "—",
    color: str = DEFAULT_COLOR,
    show_title: bool = True,
) -> Markup:
    """Horizontal bars, one per ``(label, value)``, each followed by its value.

    Bars scale to the largest value (rounded up to a nice tick), with gridlines and tick
    labels below. ``description`` replaces the generated ``<desc>`` ("label: value; ...").
    With no bars, the chart shows ``empty_text``. ``show_title=False`` leaves the title to the
    page (it is still the chart's accessible name).
    """
    _check_width(width)
    color = _color(color)
    bar_h, pitch = _pitch(bar_height)
    title = _clean(title)
    rows = [(_clean(label), _count(value, f"value for {label!r}")) for label, value in bars]
    if not rows:
        return _empty("bar", title, width, empty_text, description, show_title)

    body, top = _heading(title, width, show_title)
    top += 4
    labels = [label for label, _ in rows]
    values = [_fmt(value) for _, value in rows]
    frame, geo = _horizontal_frame(width, labels, values, max(v for _, v in rows), top, len(rows), pitch)
    body += frame
    x0, scale = geo["x0"], geo["scale"]
    p = _marks(title, *labels)
    for i, (label, value) in enumerate(rows):
        y = top + i * pitch + (pitch - bar_h) / 2
        mid = y + bar_h / 2
        bar_w = round(value * scale, 2)
        body.append(_label(x0 - 8, mid, label, geo["label_w"], anchor="end"))
        body.append(
            _tag(
                "rect",
                {
                    "class": "bar",
                    "x": round(x0, 2),
                    "y": y,
                    "width": bar_w,
                    "height": bar_h,
                    "fill": color,
                    "data-value": value,
                },
                _title(f"{label}{p['colon']}{_fmt(value)}"),
            )
        )
        body.append(_text(x0 + bar_w + 6, mid, _fmt(value)))
    desc = (
        _clean(description)
        if description is not None
        else p["sep"].join(f"{label}{p['colon']}{_fmt(value)}" for label, value in rows)
    )
    return _svg("bar", width, geo["height"], title, desc, body)


def stacked_bar_chart(
    title: str,
    rows: Sequence[tuple[str, Mapping[str, int]]],
    series: Sequence[tuple[str, str]],
    *,
    colors: Mapping[str, str] | None = None,
    width: int = 640,
    bar_height: int = 28,
    description: str | None = None,
    empty_text: str = "—",
    show_title: bool = True,
    show_totals: bool = True,
) -> Markup:
    """Horizontal bars split into segments, one per series, with a legend and row totals.

    ``rows`` are ``(label, {series key: value})``; a missing key counts as 0, a key not in
    ``series`` raises ``ValueError``. ``series`` are ``(key, legend label)`` in stacking order.
    ``colors`` maps series keys to ``#rrggbb``; the rest take ``GRADE_COLORS`` (for the keys
    high / medium / low) or ``PALETTE`` in order. Colour is never the only cue: the legend
    follows the stacking order, segments are separated by a white gap, each has a tooltip,
    and its value is printed inside when it fits. ``show_totals=False`` prints no row total
    (for public figures whose bars leave a suppressed count out, so the sum of the segments
    shown is not the total). Other arguments as for ``bar_chart``.
    """
    _check_width(width)
    bar_h, pitch = _pitch(bar_height)
    title = _clean(title)
    keys = [str(key) for key, _ in series]
    if len(set(keys)) != len(keys):
        raise ValueError("series keys must be unique")
    names = {str(key): _clean(name) for key, name in series}
    colors = dict(colors or {})
    fills = {}
    for i, key in enumerate(keys):
        fills[key] = _color(colors.get(key) or GRADE_COLORS.get(key) or PALETTE[i % len(PALETTE)])

    data = []
    for label, values in rows:
        label = _clean(label)
        unknown = set(map(str, values)) - set(keys)
        if unknown:
            raise ValueError(f"row {label!r} has values for unknown series {sorted(unknown)!r}")
        values = {str(k): v for k, v in values.items()}
        data.append((label, {k: _count(values.get(k, 0), f"{label!r} / {k!r}") for k in keys}))
    if not data or not keys:
        return _empty("stacked", title, width, empty_text, description, show_title)

    body, top = _heading(title, width, show_title)
    # Legend: swatch and name per series, wrapping onto more lines when needed.
    x, line = PAD, 0
    for key in keys:
        name = _fit(names[key], width - 2 * PAD - 18, LABEL_SIZE)
        item_w = 18 + _text_width(name, LABEL_SIZE)
        if x > PAD and x + item_w > width - PAD:
            x, line = PAD, line + 1
        y = top + line * 20 + 8
        body.append(_tag("rect", {"x": x, "y": y - 6, "width": 12, "height": 12, "fill": fills[key], "rx": 2}))
        body.append(_text(x + 18, y, name, tooltip=names[key] if name != names[key] else None))
        x += item_w + 18
    top += (line + 1) * 20 + 8

    totals = [sum(values.values()) for _, values in data]
    frame, geo = _horizontal_frame(
        width, [label for label, _ in data], [_fmt(t) for t in totals], max(totals), top, len(data), pitch
    )
    body += frame
    x0, scale = geo["x0"], geo["scale"]
    p = _marks(title, *(label for label, _ in data), *names.values())
    for i, ((label, values), total) in enumerate(zip(data, totals)):
        y = top + i * pitch + (pitch - bar_h) / 2
        mid = y + bar_h / 2
        body.append(_label(x0 - 8, mid, label, geo["label_w"], anchor="end"))
        # Segment edges are rounded, widths are differences of edges, so they add up exactly.
        running, left = 0, round(x0, 2)
        segments = []
        for key in keys:
            value = values[key]
            if not value:
                continue
            running += value
            right = round(x0 + running * scale, 2)
            seg_w = round(right - left, 2)
            inner = _title(f"{label} · {names[key]}{p['colon']}{_fmt(value)}")
            segments.append(
                _tag(
                    "rect",
                    {
                        "class": "segment",
                        "x": left,
                        "y": y,
                        "width": seg_w,
                        "height": bar_h,
                        "fill": fills[key],
                        "stroke": WHITE,
                        "stroke-width": 1,
                        "data-series": key,
                        "data-value": value,
                    },
                    inner,
                )
            )
            shown = _fmt(value)
            if _text_width(shown, TICK_SIZE) + 8 <= seg_w:
                segments.append(
                    _text(
                        left + seg_w / 2,
                        mid,
                        shown,
                        size=TICK_SIZE,
                        fill=_text_on(fills[key]),
                        anchor="middle",
                        **{"pointer-events": "none"},
                    )
                )
            left = right
        if not show_totals:  # the bars leave something out (a suppressed count): no total
            body.append(_tag("g", {"class": "row"}, "".join(segments)) if segments else "")
            continue
        body.append(_tag("g", {"class": "row", "data-total": total}, "".join(segments)) if segments else "")
        body.append(_text(round(x0 + total * scale, 2) + 6, mid, _fmt(total), **{"font-weight": "bold"}))
    if description is not None:
        desc = _clean(description)
    elif not show_totals:
        desc = p["sep"].join(
            f"{label}{p['colon']}" + p["comma"].join(f"{names[k]} {_fmt(values[k])}" for k in keys)
            for label, values in data
        )
    else:
        desc = p["sep"].join(
            f"{label}{p['colon']}{_fmt(total)}{p['open']}"
            + p["comma"].join(f"{names[k]} {_fmt(values[k])}" for k in keys)
            + p["close"]
            for (label, values), total in zip(data, totals)
        )
    return _svg("stacked", width, geo["height"], title, desc, body)


def line_chart(
    title: str,
    points: Sequence[tuple[str, int]],
    *,
    width: int = 640,
    height: int = 300,
    description: str | None = None,
    empty_text: str = "—",
    color: str = DEFAULT_COLOR,
    show_title: bool = True,
) -> Markup:
    """A line through ``(x label, value)`` points in order, with markers and axis ticks.

    X labels are strings shown as given (e.g. ``"2026-11-01"``); when they would crowd, only
    every n-th is shown, counting back from the latest. The y axis starts at 0 and ends at a
    nice round tick. Each marker has a "label: value" tooltip. Other arguments as for
    ``bar_chart``.
    """
    _check_width(width)
    if _count(height, "height") < 160:
        raise ValueError(f"height must be at least 160, got {height}")
    color = _color(color)
    title = _clean(title)
    data = [(_clean(label), _count(value, f"value for {label!r}")) for label, value in points]
    if not data:
        return _empty("line", title, width, empty_text, description, show_title)

    body, top = _heading(title, width, show_title)
    top += 8
    bottom = height - PAD - 22
    max_value = max(v for _, v in data)
    ticks = _fitting_ticks(max_value, bottom - top, 4, lambda t: TICK_SIZE)
    tick_w = max(_text_width(_fmt(t), TICK_SIZE) for t in ticks)
    x_labels = [_fit(label, width / 3, TICK_SIZE) for label, _ in data]
    x_label_w = max(_text_width(label, TICK_SIZE) for label in x_labels)
    x0 = PAD + max(tick_w + 8, x_label_w / 2)
    x1 = max(width - PAD - x_label_w / 2, x0 + 40)  # absurdly long tick labels may overflow
    y_scale = (bottom - top) / ticks[-1]

    for tick in ticks:
        y = round(bottom - tick * y_scale, 2)
        body.append(
            _tag(
                "line",
                {
                    "x1": round(x0, 2),
                    "y1": y,
                    "x2": round(x1, 2),
                    "y2": y,
                    "stroke": AXIS if tick == 0 else GRID,
                    "stroke-width": 1,
                },
            )
        )
        body.append(_text(x0 - 8, y, _fmt(tick), size=TICK_SIZE, fill=MUTED, anchor="end"))

    n = len(data)
    spacing = (x1 - x0) / (n - 1) if n > 1 else x1 - x0
    xs = [round(x0 + i * spacing, 2) if n > 1 else round((x0 + x1) / 2, 2) for i in range(n)]
    ys = [round(bottom - value * y_scale, 2) for _, value in data]
    every = max(1, math.ceil((x_label_w + 10) / spacing)) if n > 1 else 1
    for i in range(n - 1, -1, -every):
        full = data[i][0]
        body.append(
            _tag("line", {"x1": xs[i], "y1": bottom, "x2": xs[i], "y2": bottom + 4, "stroke": AXIS, "stroke-width": 1})
        )
        body.append(
            _text(
                xs[i],
                bottom + 14,
                x_labels[i],
                size=TICK_SIZE,
                fill=MUTED,
                anchor="middle",
                tooltip=full if x_labels[i] != full else None,
            )
        )

    coords = " ".join(f"{_num(x)},{_num(y)}" for x, y in zip(xs, ys))
    if n > 1:
        area = f"{_num(xs[0])},{_num(bottom)} {coords} {_num(xs[-1])},{_num(bottom)}"
        body.append(_tag("polygon", {"points": area, "fill": color, "fill-opacity": 0.08}))
    body.append(
        _tag(
            "polyline",
            {
                "class": "line",
                "points": coords,
                "fill": "none",
                "stroke": color,
                "stroke-width": 2,
                "stroke-linejoin": "round",
                "stroke-linecap": "round",
            },
        )
    )
    radius = min(3.5, max(1.5, spacing / 4))
    for x, y, (label, value) in zip(xs, ys, data):
        body.append(
            _tag(
                "circle",
                {
                    "class": "point",
                    "cx": x,
                    "cy": y,
                    "r": radius,
                    "fill": color,
                    "stroke": WHITE,
                    "stroke-width": 1.5,
                    "data-value": value,
                },
                _title(f"{label}: {_fmt(value)}"),
            )
        )
    desc = (
        _clean(description)
        if description is not None
        else "; ".join(f"{label}: {_fmt(value)}" for label, value in data)
    )
    return _svg("line", width, height, title, desc, body)
