"""Server-rendered SVG charts: well-formed, escaped, CSP-clean, and drawn to scale."""

import xml.etree.ElementTree as ET

import pytest
from markupsafe import Markup, escape

from whistle.transparency import charts
from whistle.transparency.charts import GRADE_COLORS, bar_chart, line_chart, stacked_bar_chart

NS = "{http://www.w3.org/2000/svg}"
HOSTILE = ["<script>alert(1)</script>", "R&D", '" onload="alert(1)', "O'Brien <b>"]
GRADES = [("high", "High"), ("medium", "Medium"), ("low", "Low")]


def parse(svg):
    assert isinstance(svg, Markup)
    return ET.fromstring(str(svg))  # raises on anything that is not well-formed XML


def find(root, tag, cls=None):
    return [el for el in root.iter(NS + tag) if cls is None or el.get("class") == cls]


def shown(el):
    """The visible text of a <text>, without its <title> tooltip."""
    return (el.text or "") + "".join(child.tail or "" for child in el)


def texts(root):
    return [shown(el) for el in find(root, "text")]


def num(el, attr):
    return float(el.get(attr))


def sample_charts():
    return [
        bar_chart("Cases by disposition", [("Substantiated", 12), ("Unfounded", 3), ("Open", 0)]),
        stacked_bar_chart(
            "Cases by department",
            [
                ("Finance", {"high": 2, "medium": 5, "low": 1}),
                ("IT", {"low": 4}),
            ],
            GRADES,
        ),
        line_chart("Overdue cases", [("2026-11-01", 3), ("2026-11-08", 5), ("2026-11-15", 0)]),
    ]


def hostile_charts():
    return [
        bar_chart(HOSTILE[0], [(label, i + 1) for i, label in enumerate(HOSTILE)], description=HOSTILE[2]),
        stacked_bar_chart(
            HOSTILE[1], [(label, {"<k>": 1, "&": 2}) for label in HOSTILE], [("<k>", HOSTILE[0]), ("&", HOSTILE[2])]
        ),
        line_chart(HOSTILE[3], [(label, i) for i, label in enumerate(HOSTILE)]),
        bar_chart("t", [], empty_text=HOSTILE[0]),
    ]


def all_charts():
    return (
        sample_charts()
        + hostile_charts()
        + [
            bar_chart("Empty", []),
            stacked_bar_chart("Empty", [], GRADES),
            line_chart("Empty", []),
        ]
    )


@pytest.mark.parametrize("index", range(len(all_charts())))
def test_svg_root_is_an_accessible_responsive_image(index):
    root = parse(all_charts()[index])
    assert root.tag == NS + "svg"
    assert root.get("role") == "img"
    assert root.get("width") == "100%"
    assert root.get("height") is None
    x, y, w, h = map(float, root.get("viewBox").split())
    assert (x, y) == (0, 0) and w >= charts.MIN_WIDTH and h > 0
    title, desc = root[0], root[1]
    assert title.tag == NS + "title" and desc.tag == NS + "desc"
    assert root.get("aria-labelledby") == title.get("id")
    assert root.get("aria-describedby") == desc.get("id")
    assert title.text and desc.text
    assert "'Noto Sans CJK SC'" in root.get("font-family")


@pytest.mark.parametrize("index", range(len(all_charts())))
def test_nothing_the_csp_or_a_sanitiser_would_object_to(index):
    svg = all_charts()[index]
    root = parse(svg)
    for el in root.iter():
        assert el.tag.removeprefix(NS) not in {"script", "style", "foreignObject", "a", "image", "use", "iframe"}
        assert el.tag.startswith(NS)  # nothing smuggled in from another namespace
        for name, value in el.attrib.items():
            assert name != "style"
            assert not name.lower().startswith("on")
            assert "href" not in name
            assert "javascript:" not in value.lower()
    assert "<script" not in svg and "<style" not in svg and " style=" not in svg


def test_hostile_labels_are_escaped_and_shown_verbatim():
    bar, stacked, line, empty = (parse(c) for c in hostile_charts())
    assert bar[0].text == HOSTILE[0]
    assert bar[1].text == HOSTILE[2]
    assert set(HOSTILE) <= set(texts(bar))
    assert {f"{label}: {i + 1}" for i, label in enumerate(HOSTILE)} <= {t.text for t in find(bar, "title")}
    assert set(HOSTILE) <= set(texts(stacked))
    assert {HOSTILE[0], HOSTILE[2]} <= set(texts(stacked))  # the legend
    assert {s.get("data-series") for s in find(stacked, "rect", "segment")} == {"<k>", "&"}
    for i, label in enumerate(HOSTILE):
        assert f"{label}: {i}" in line[1].text
    assert HOSTILE[0] in texts(empty)


def test_raw_output_escapes_markup_and_quotes():
    svg = str(bar_chart('<script>"x"</script>', [("a\"b'c<d>&e", 1)]))
    assert "<script" not in svg
    assert "&lt;script&gt;" in svg
    assert 'a"b' not in svg and "a&#34;b&#39;c&lt;d&gt;&amp;e" in svg


def test_result_is_markup_that_templates_do_not_escape_again():
    chart = bar_chart("t", [("a", 1)])
    assert escape(chart) == chart
    assert Markup("<div>{}</div>").format(chart) == f"<div>{chart}</div>"


def test_characters_xml_cannot_carry_are_dropped():
    root = parse(bar_chart("a\x00b\x1b", [("line\nbreak\ud800\x07", 1)]))
    assert root[0].text == "ab"
    assert "line break" in texts(root)


def test_cjk_labels_are_present_verbatim():
    labels = ["财务部", "人力资源部", "監察委員会", "법무팀"]
    root = parse(bar_chart("按部门统计的案件", [(label, 3) for label in labels]))
    assert root[0].text == "按部门统计的案件"
    assert set(labels) <= set(texts(root))
    root = parse(
        stacked_bar_chart(
            "按部门", [(label, {"high": 1}) for label in labels], [("high", "高"), ("medium", "中"), ("low", "低")]
        )
    )
    assert set(labels) | {"高", "中", "低"} <= set(texts(root))
    root = parse(line_chart("逾期案件", [("十一月", 2), ("十二月", 4)]))
    assert {"十一月", "十二月"} <= set(texts(root))


def test_cjk_text_is_estimated_wider_than_latin():
    assert charts._text_width("财务部", 13) > charts._text_width("abc", 13) * 1.5
    assert charts._text_width("財務", 10) == 20
    assert charts._text_width("e\u0301", 10) == charts._text_width("e", 10)  # combining accent


def test_long_labels_are_shortened_with_the_full_label_as_tooltip():
    long = "Department of " + "very " * 30 + "long names"
    root = parse(bar_chart("t", [(long, 1), ("短", 2)], width=400))
    label = next(t for t in find(root, "text") if shown(t).startswith("Department"))
    assert shown(label).endswith("…") and len(shown(label)) < len(long)
    assert label.find(NS + "title").text == long
    assert "短" in texts(root)
    assert num(label, "x") - charts._text_width(shown(label), charts.LABEL_SIZE) >= 0


def test_bar_widths_are_proportional_to_values():
    values = [("a", 1), ("b", 250), ("c", 0), ("d", 1000), ("e", 37)]
    root = parse(bar_chart("t", values))
    bars = find(root, "rect", "bar")
    assert [int(b.get("data-value")) for b in bars] == [v for _, v in values]
    assert len({b.get("x") for b in bars}) == 1  # all start on the axis
    widths = {int(b.get("data-value")): num(b, "width") for b in bars}
    assert widths[0] == 0
    per_unit = widths[1000] / 1000
    for value, width in widths.items():
        assert width == pytest.approx(value * per_unit, abs=0.01)
    _, _, view_w, _ = map(float, root.get("viewBox").split())
    assert num(bars[0], "x") + widths[1000] <= view_w - charts.PAD
    assert {"0", "1", "250", "1,000", "37"} <= set(texts(root))  # value labels


def test_bar_height_sets_row_geometry():
    root = parse(bar_chart("t", [("a", 1), ("b", 2)], bar_height=40))
    bars = find(root, "rect", "bar")
    assert {num(b, "height") for b in bars} == {40}
    assert num(bars[1], "y") - num(bars[0], "y") >= 40


def test_large_values_scale_and_tick_at_round_numbers():
    root = parse(bar_chart("t", [("a", 10**12), ("b", 3 * 10**11), ("c", 1)]))
    bars = find(root, "rect", "bar")
    assert num(bars[1], "width") == pytest.approx(num(bars[0], "width") * 0.3, abs=0.01)
    assert num(bars[2], "width") >= 0
    assert "1,000,000,000,000" in texts(root)
    tick_labels = [t for t in texts(root) if t.endswith(",000,000,000") or t == "0"]
    assert "0" in tick_labels and len(tick_labels) >= 2


def test_nice_ticks():
    assert charts._nice_ticks(0) == [0, 1]
    assert charts._nice_ticks(1) == [0, 1]
    assert charts._nice_ticks(7) == [0, 2, 4, 6, 8]
    assert charts._nice_ticks(12) == [0, 5, 10, 15]
    assert charts._nice_ticks(100) == [0, 20, 40, 60, 80, 100]
    assert charts._nice_ticks(1280) == [0, 500, 1000, 1500]
    big = charts._nice_ticks(10**18 + 1)
    assert big[-1] >= 10**18 + 1 and len(big) <= 6
    step = big[1]
    assert str(step).rstrip("0") in {"1", "2", "5"}
    for target in range(1, 6):
        ticks = charts._nice_ticks(987_654, target)
        assert len(ticks) <= target + 1 and ticks[-1] >= 987_654


def test_all_zero_values_draw_empty_bars_not_an_error():
    root = parse(bar_chart("t", [("a", 0), ("b", 0)]))
    assert [num(b, "width") for b in find(root, "rect", "bar")] == [0, 0]
    root = parse(line_chart("t", [("x", 0), ("y", 0)]))
    assert len(find(root, "circle", "point")) == 2


def test_stacked_segments_sum_to_row_width():
    rows = [
        ("Finance", {"high": 3, "medium": 7, "low": 11}),
        ("Procurement", {"high": 9, "low": 1}),
        ("IT", {"medium": 1}),
        ("Legal", {}),
    ]
    root = parse(stacked_bar_chart("t", rows, GRADES))
    groups = find(root, "g", "row")
    assert [int(g.get("data-total")) for g in groups] == [21, 10, 1]  # Legal has no segments
    per_unit = None
    for group in groups:
        segments = find(group, "rect", "segment")
        total = int(group.get("data-total"))
        assert sum(int(s.get("data-value")) for s in segments) == total
        widths = [num(s, "width") for s in segments]
        per_unit = per_unit or sum(widths) / total
        assert sum(widths) == pytest.approx(total * per_unit, abs=0.01)
        for left, right in zip(segments, segments[1:]):  # contiguous, no gaps or overlaps
            assert num(left, "x") + num(left, "width") == pytest.approx(num(right, "x"), abs=0.005)
        for s in segments:
            assert num(s, "width") == pytest.approx(int(s.get("data-value")) * per_unit, abs=0.02)
    first = find(groups[0], "rect", "segment")
    assert [s.get("data-series") for s in first] == ["high", "medium", "low"]
    assert [s.get("fill") for s in first] == [GRADE_COLORS[k] for k in ("high", "medium", "low")]
    assert {"21", "10", "1", "0"} <= set(texts(root))  # row totals, Legal's included


def test_stacked_chart_has_legend_tooltips_and_readable_values():
    root = parse(
        stacked_bar_chart(
            "t", [("Finance", {"high": 30, "medium": 30, "low": 30}), ("IT", {"high": 1, "low": 89})], GRADES
        )
    )
    assert {"High", "Medium", "Low"} <= set(texts(root))
    tooltips = {s.find(NS + "title").text for s in find(root, "rect", "segment")}
    assert "Finance · Medium: 30" in tooltips and "IT · High: 1" in tooltips
    inside = {(shown(t), t.get("fill")) for t in find(root, "text") if shown(t) == "30"}
    # White on the dark red and blue, dark text on the amber.
    assert inside == {("30", "#ffffff"), ("30", charts.TEXT)}
    assert "89" in texts(root)


def test_stacked_chart_colours():
    series = [("a", "A"), ("b", "B")]
    root = parse(stacked_bar_chart("t", [("r", {"a": 1, "b": 1})], series, colors={"b": "#123456"}))
    assert [s.get("fill") for s in find(root, "rect", "segment")] == [charts.PALETTE[0], "#123456"]
    with pytest.raises(ValueError):
        stacked_bar_chart("t", [("r", {"a": 1})], series, colors={"a": 'red" onload="x'})
    with pytest.raises(ValueError):
        bar_chart("t", [("a", 1)], color="url(javascript:alert(1))")


def test_default_colours_have_contrast_against_the_page():
    for color in list(GRADE_COLORS.values()) + list(charts.PALETTE):
        assert charts._contrast(color, "#ffffff") >= 3


def test_stacked_chart_rejects_unknown_or_duplicate_series():
    with pytest.raises(ValueError, match="unknown series"):
        stacked_bar_chart("t", [("r", {"critical": 1})], GRADES)
    with pytest.raises(ValueError, match="unique"):
        stacked_bar_chart("t", [("r", {"high": 1})], GRADES + [("high", "Again")])


def test_line_chart_draws_polyline_markers_and_ticks():
    points = [("2026-11-01", 3), ("2026-11-08", 8), ("2026-11-15", 0), ("2026-11-22", 5)]
    root = parse(line_chart("Overdue", points))
    (line,) = find(root, "polyline", "line")
    coords = [tuple(map(float, pair.split(","))) for pair in line.get("points").split()]
    assert len(coords) == 4
    xs, ys = zip(*coords)
    assert list(xs) == sorted(xs) and len(set(xs)) == 4
    gaps = {round(b - a, 1) for a, b in zip(xs, xs[1:])}
    assert len(gaps) == 1  # evenly spaced
    zero_y, top_y = ys[2], ys[1]
    for (_, value), y in zip(points, ys):  # y is linear in the value, 0 at the bottom
        assert y == pytest.approx(zero_y - value * (zero_y - top_y) / 8, abs=0.02)
    markers = find(root, "circle", "point")
    assert [(num(m, "cx"), num(m, "cy")) for m in markers] == coords
    assert [m.find(NS + "title").text for m in markers] == [f"{d}: {v}" for d, v in points]
    labels = texts(root)
    assert {"2026-11-01", "2026-11-22"} <= set(labels)
    assert {"0", "2", "4", "6", "8"} <= set(labels)  # y ticks


def test_line_chart_thins_crowded_x_labels_but_keeps_the_latest():
    points = [(f"2026-{m:02}-{d:02}", d) for m in range(1, 13) for d in range(1, 29)]
    root = parse(line_chart("t", points, width=640))
    dates = [t for t in texts(root) if t.startswith("2026-")]
    assert 3 <= len(dates) < 20
    assert dates[0] == points[-1][0]
    xs = sorted(num(t, "x") for t in find(root, "text") if shown(t).startswith("2026-"))
    width = charts._text_width("2026-01-01", charts.TICK_SIZE)
    assert all(b - a >= width for a, b in zip(xs, xs[1:]))
    assert len(find(root, "circle", "point")) == len(points)


def test_line_chart_with_one_point():
    root = parse(line_chart("t", [("2026-11-01", 4)]))
    (marker,) = find(root, "circle", "point")
    assert marker.find(NS + "title").text == "2026-11-01: 4"


def test_ids_are_unique_across_charts():
    first, second = parse(sample_charts()[0]), parse(sample_charts()[0])
    ids = [el.get("id") for root in (first, second) for el in root.iter() if el.get("id")]
    assert len(ids) == len(set(ids)) == 6
    assert first.get("aria-labelledby") != second.get("aria-labelledby")


def test_empty_data_says_so():
    for chart in (bar_chart("Nothing", []), stacked_bar_chart("Nothing", [], GRADES), line_chart("Nothing", [])):
        root = parse(chart)
        assert "—" in texts(root)
        assert root[1].text == "—"
        assert not find(root, "rect", "bar") and not find(root, "polyline")
    root = parse(line_chart("Nothing", [], empty_text="No data yet", description="Nothing yet"))
    assert "No data yet" in texts(root) and root[1].text == "Nothing yet"
    root = parse(stacked_bar_chart("Nothing", [("r", {})], [], empty_text="无数据"))
    assert "无数据" in texts(root)


def test_generated_description_lists_the_data_and_can_be_replaced():
    root = parse(bar_chart("t", [("a", 1200), ("b", 3)]))
    assert root[1].text == "a: 1,200; b: 3"
    root = parse(stacked_bar_chart("t", [("Finance", {"high": 1, "low": 2})], GRADES))
    assert root[1].text == "Finance: 3 (High 1, Medium 0, Low 2)"
    root = parse(line_chart("t", [("2026-11-01", 2)], description="Two overdue"))
    assert root[1].text == "Two overdue"


def test_show_title_false_leaves_only_the_accessible_name():
    root = parse(bar_chart("Hidden heading", [("a", 1)], show_title=False))
    assert root[0].text == "Hidden heading"
    assert "Hidden heading" not in texts(root)


@pytest.mark.parametrize(
    "make",
    [
        lambda v: bar_chart("t", [("a", 1), ("b", v)]),
        lambda v: stacked_bar_chart("t", [("a", {"high": 1, "low": v})], GRADES),
        lambda v: line_chart("t", [("a", 1), ("b", v)]),
    ],
)
def test_negative_values_are_rejected(make):
    with pytest.raises(ValueError, match="negative"):
        make(-1)
    with pytest.raises(TypeError):
        make(1.5)
    with pytest.raises(TypeError):
        make(True)
    with pytest.raises(TypeError):
        make("3")


def test_unreasonable_sizes_are_rejected():
    with pytest.raises(ValueError):
        bar_chart("t", [("a", 1)], width=100)
    with pytest.raises(ValueError):
        bar_chart("t", [("a", 1)], bar_height=2)
    with pytest.raises(ValueError):
        line_chart("t", [("a", 1)], height=50)


def test_narrow_chart_with_huge_values_stays_valid():
    root = parse(bar_chart("t", [("a" * 80, 10**30), ("b", 1)], width=240))
    for bar in find(root, "rect", "bar"):
        assert num(bar, "width") >= 0
    root = parse(line_chart("t", [("x" * 80, 10**30), ("y", 0)], width=240, height=160))
    assert len(find(root, "circle", "point")) == 2
