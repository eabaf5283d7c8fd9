"""The translation catalogs are complete, consistent with the source, and in the right script.

Nothing here mocks anything: the catalogs are read from disk with Babel, and the source is
re-extracted with the same pybabel command that produced messages.pot.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "whistle" / "translations"
POT = TRANSLATIONS / "messages.pot"
LOCALES = ("zh_Hans", "zh_Hant", "en")

# Python %-format placeholders: %(name)d, %s, %.2f, ... but not the literal %%.
PLACEHOLDER = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(?:\d+|\*)?(?:\.(?:\d+|\*))?[hlL]?[diouxXeEfFgGcrsa%]")

# Common characters whose simplified and traditional forms differ, pairwise.
SIMPLIFIED_ONLY = "举报员审单个这们发时门问间关应请确证据话计议"
TRADITIONAL_ONLY = "舉報員審單個這們發時門問間關應請確證據話計議"
HAN = re.compile(r"[\u3400-\u9fff]")


def _read(path: Path, locale=None):
    with path.open("rb") as fh:
        return read_po(fh, locale=locale)


def _ids(catalog) -> set[str]:
    """The message ids of a catalog, without the header entry."""
    return {m.id for m in catalog if m.id}


def _placeholders(text: str) -> set[str]:
    return {p for p in PLACEHOLDER.findall(text) if p != "%%"}


def _po(locale: str) -> Path:
    return TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po"


@pytest.fixture(scope="module")
def extracted(tmp_path_factory) -> set[str]:
    """Message ids in the source right now, extracted exactly as messages.pot was."""
    out = tmp_path_factory.mktemp("i18n") / "fresh.pot"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "_l",
            "-k",
            "lazy_gettext",
            "--no-location",
            "--sort-output",
            "-o",
            str(out),
            ".",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    ids = _ids(_read(out))
    assert ids, "extraction found no messages"
    return ids


@pytest.mark.parametrize("locale", LOCALES)
def test_catalog_is_complete_and_placeholders_match(locale):
    catalog = _read(_po(locale), locale=locale)
    assert str(catalog.locale) == locale
    assert not catalog.fuzzy, "the header is marked fuzzy"
    if locale.startswith("zh_"):
        assert catalog.num_plurals == 1 and catalog.plural_expr == "0"
    messages = [m for m in catalog if m.id]
    assert messages
    problems = []
    for m in messages:
        ids, strings = _forms(m.id), _forms(m.string)
        if m.pluralizable and len(strings) != catalog.num_plurals:
            problems.append(f"plural forms: {m.id!r} has {len(strings)}, the language has {catalog.num_plurals}")
        if not all(form.strip() for form in strings) or not strings:
            problems.append(f"untranslated: {m.id!r}")
        if m.fuzzy:
            problems.append(f"fuzzy: {m.id!r}")
        wanted = set().union(*(_placeholders(i) for i in ids))
        if any(_placeholders(form) - wanted for form in strings) or (
            not m.pluralizable and _placeholders(strings[0]) != wanted
        ):
            problems.append(f"placeholders differ: {m.id!r} -> {m.string!r}")
        if wanted and "python-format" not in m.flags:
            problems.append(f"missing python-format flag: {m.id!r}")
    # Babel's own checks, the ones `pybabel compile` runs.
    for m, errors in catalog.check():
        problems.extend(f"{m.id!r}: {e}" for e in errors)
    assert not problems, "\n".join(problems)


def _forms(value) -> list:
    """The singular/plural forms of a msgid or msgstr (plural entries are tuples)."""
    return list(value) if isinstance(value, (tuple, list)) else [value or ""]


def test_english_catalog_is_the_msgids_except_chinese_terms():
    for m in _read(_po("en"), locale="en"):
        if not m.id:
            continue
        if m.pluralizable:  # English keeps both forms exactly
            assert list(m.string) == list(m.id), m.id
            continue
        if HAN.search(m.id) and not re.search(r"\(" + HAN.pattern + r"+\)", m.id):
            # A msgid that leads with a Chinese term gets an English rendering that keeps it.
            assert m.string != m.id
            assert all(ch in m.string for ch in HAN.findall(m.id)), m.string
        else:
            assert m.string == m.id, m.id


def test_template_matches_the_source(extracted):
    pot = _ids(_read(POT))
    assert extracted - pot == set(), "new strings in the source: re-run pybabel extract"
    assert pot - extracted == set(), "strings no longer in the source: re-run pybabel extract"


@pytest.mark.parametrize("locale", LOCALES)
def test_catalog_has_exactly_the_source_strings(locale, extracted):
    ids = _ids(_read(_po(locale), locale=locale))
    missing, stale = extracted - ids, ids - extracted
    assert not missing, f"{locale} lacks (run pybabel update and translate): {sorted(missing)}"
    assert not stale, f"{locale} has strings no longer in the source: {sorted(stale)}"


@pytest.mark.parametrize(
    "locale, forbidden",
    [
        pytest.param("zh_Hant", SIMPLIFIED_ONLY, id="zh_Hant-no-simplified"),
        pytest.param("zh_Hans", TRADITIONAL_ONLY, id="zh_Hans-no-traditional"),
    ],
)
def test_chinese_catalogs_use_their_own_script(locale, forbidden):
    wrong = []
    for m in _read(_po(locale), locale=locale):
        if m.id:
            hits = sorted({ch for form in _forms(m.string) for ch in form if ch in forbidden})
            if hits:
                wrong.append(f"{''.join(hits)} in {m.string!r}")
    assert not wrong, "\n".join(wrong)


def test_forbidden_lists_are_pairs_of_distinct_characters():
    assert len(SIMPLIFIED_ONLY) == len(TRADITIONAL_ONLY) == 22
    assert all(s != t for s, t in zip(SIMPLIFIED_ONLY, TRADITIONAL_ONLY))


# The committee's terms, simplified and traditional: where a zh_Hans message uses one, the
# zh_Hant message for the same id uses its pair (a character-by-character converter turns
# 回访问卷 into 回造訪卷, "return-visit-ing questionnaire", which no reader would recognise).
TERMS = {
    "回访问卷": "回訪問卷",
    "举报件": "舉報件",
    "办结": "辦結",
    "销毁": "銷毀",
    "任前公示": "任前公示",
    "纪委监委": "紀委監委",
}


def test_the_committees_terms_are_the_same_in_both_scripts():
    simplified = {m.id: m.string for m in _read(_po("zh_Hans"), locale="zh_Hans") if m.id}
    wrong = []
    for m in _read(_po("zh_Hant"), locale="zh_Hant"):
        source = simplified.get(m.id)
        if not m.id or not isinstance(source, str):
            continue
        for term, traditional in TERMS.items():
            if source.count(term) != m.string.count(traditional):
                wrong.append(f"{term}/{traditional}: {source!r} / {m.string!r}")
    assert not wrong, "\n".join(wrong)


# Half-width punctuation next to Chinese text (a placeholder stands for text, which in a
# Chinese page is Chinese): "举报: 按" or "%(channel)s: 按" should be "举报：按".
HALF_WIDTH = "[:,();?!]"
HALF_WIDTH_NEXT_TO_HAN = re.compile(rf"{HAN.pattern}\s?{HALF_WIDTH}|{HALF_WIDTH}\s?{HAN.pattern}")


def _han_adjacent_half_width(text: str) -> list[str]:
    text = PLACEHOLDER.sub("字", text)
    return [text[max(m.start() - 6, 0) : m.end() + 6] for m in HALF_WIDTH_NEXT_TO_HAN.finditer(text)]


def test_the_half_width_check_finds_what_it_should():
    assert _han_adjacent_half_width("承包商、供应商举报: 按问题类型")
    assert _han_adjacent_half_width("%(channel)s: 按问题类型")
    assert _han_adjacent_half_width("（含首尾两日)")
    assert not _han_adjacent_half_width("%(channel)s：按问题类型（20 MB）, 58 B: ok")


@pytest.mark.parametrize("locale", ["zh_Hans", "zh_Hant"])
def test_chinese_catalogs_use_full_width_punctuation(locale):
    wrong = [
        hit
        for m in _read(_po(locale), locale=locale)
        if m.id
        for form in _forms(m.string)
        for hit in _han_adjacent_half_width(form)
    ]
    assert not wrong, "\n".join(wrong)


PUBLIC_PAGES = ("/", "/report/contractor", "/followup", "/transparency", "/notices")


@pytest.mark.parametrize("locale", ["zh_Hans", "zh_Hant"])
def test_chinese_pages_use_full_width_punctuation(client, locale):
    """What templates put together (a label, a colon, a name) is checked on the page itself."""
    wrong = []
    for path in PUBLIC_PAGES:
        resp = client.get(f"{path}?lang={locale}")
        assert resp.status_code == 200, path
        html = resp.get_data(as_text=True)
        text = re.sub(r"<(script|style)\b.*?</\1>|<[^>]+>", " ", html, flags=re.S)
        wrong += [f"{path}: {hit}" for hit in _han_adjacent_half_width(re.sub(r"\s+", " ", text))]
    assert not wrong, "\n".join(wrong)
