"""Language choice: an explicit ?lang= on links, else Accept-Language. Never a cookie."""

from babel.numbers import format_decimal
from flask import current_app, g, request, url_for
from flask_babel import Babel, get_locale, ngettext
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RoutingException

LANGUAGES = {"zh_Hans": "简体中文", "zh_Hant": "繁體中文", "en": "English"}
DEFAULT = "zh_Hans"
# Chinese as a language tag names it: zh, or Mandarin and Cantonese by their own codes.
_CHINESE = ("zh", "cmn", "yue")
# Regions where Chinese is written in traditional characters, when no script is named.
_TRADITIONAL_REGIONS = ("tw", "hk", "mo")


def _from_tag(tag: str) -> str | None:
    subtags = tag.strip().lower().replace("_", "-").split("-")
    if subtags[0].startswith("en"):
        return "en"
    if subtags[0] not in _CHINESE:
        return None
    # A script subtag says it (zh-Hans-HK is simplified, cmn-Hant-TW traditional); else the
    # region does, and Cantonese without either is written in traditional characters.
    if "hant" in subtags or "hans" in subtags:
        return "zh_Hant" if "hant" in subtags else "zh_Hans"
    if any(region in subtags[1:] for region in _TRADITIONAL_REGIONS) or subtags == ["yue"]:
        return "zh_Hant"
    return "zh_Hans"


def select_locale() -> str:
    """The language of this request."""
    explicit = request.args.get("lang")
    if explicit in LANGUAGES:
        g.explicit_lang = explicit
        return explicit
    for tag, quality in request.accept_languages:
        if quality <= 0:
            continue  # q=0: the reader does not want this language
        chosen = _from_tag(tag)
        if chosen:
            return chosen
    return DEFAULT


def keep_language(endpoint: str, values: dict) -> None:
    """url_for adds the explicitly chosen language to every link, so it sticks without a cookie."""
    lang = g.get("explicit_lang")
    if lang and "lang" not in values and endpoint != "static":
        values["lang"] = lang


def _fetchable_page() -> tuple[str, dict]:
    """(endpoint, arguments) of a page a link can fetch again: this page after a GET; after
    a POST, the page at the same address if it answers GET (a report form), else the
    follow-up form for follow-up pages (their answers are POST-only), else the start page."""
    if request.method in ("GET", "HEAD") and request.endpoint:
        return request.endpoint, dict(request.view_args or {})
    try:
        return current_app.create_url_adapter(request).match(method="GET")
    except (HTTPException, RoutingException):
        pass
    if (request.endpoint or "").startswith("reporter.followup"):
        return "reporter.followup_form", {}
    return "reporter.index", {}


def language_url(lang: str) -> str:
    """The link that shows this page (or the nearest page a link can fetch) in ``lang``.
    A POST-only address would answer 405."""
    endpoint, args = _fetchable_page()
    return url_for(endpoint, **dict(args, lang=lang))


SIZE_UNITS = ("KB", "MB", "GB", "TB")  # steps of 1024; written the same in every language


def file_size(size) -> str:
    """A file size for people, one style on every page and in every language: "58 bytes" /
    "58 字节" below 1 KB, else "20 MB" with at most one decimal (static/js/filesize.js
    writes the same in the browser, where sizes come out of decrypted metadata)."""
    size = int(size)
    if size < 1024:
        return ngettext("%(num)s byte", "%(num)s bytes", size)
    value, unit = float(size), ""
    for unit in SIZE_UNITS:
        value /= 1024
        if value < 1024:
            break
    number = format_decimal(round(value, 1), format="#,##0.#", locale=get_locale())
    return f"{number} {unit}"


def init_app(app) -> Babel:
    """Install Flask-Babel with whistle's translations."""
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(app.root_path + "/translations")
    babel = Babel(app, locale_selector=select_locale)
    app.url_defaults(keep_language)
    app.jinja_env.globals["language_url"] = language_url
    app.jinja_env.filters["filesize"] = file_size  # in place of Jinja's own, which is English only
    return babel
