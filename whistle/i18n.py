"""Language choice: an explicit ?lang= on links, else Accept-Language. Never a cookie."""
from flask import g, request
from flask_babel import Babel

LANGUAGES = {"zh_Hans": "简体中文", "zh_Hant": "繁體中文", "en": "English"}
DEFAULT = "zh_Hans"
# Region tags browsers send, mapped to the script they are written in.
_TRADITIONAL = ("zh-tw", "zh-hk", "zh-mo", "zh-hant")


def _from_tag(tag: str) -> str | None:
    tag = tag.strip().lower().replace("_", "-")
    if tag.startswith("en"):
        return "en"
    if tag.startswith(_TRADITIONAL):
        return "zh_Hant"
    if tag == "zh" or tag.startswith("zh-"):
        return "zh_Hans"
    return None


def select_locale() -> str:
    """The language of this request."""
    explicit = request.args.get("lang")
    if explicit in LANGUAGES:
        g.explicit_lang = explicit
        return explicit
    for tag, _quality in request.accept_languages:
        chosen = _from_tag(tag)
        if chosen:
            return chosen
    return DEFAULT


def keep_language(endpoint: str, values: dict) -> None:
    """url_for adds the explicitly chosen language to every link, so it sticks without a cookie."""
    lang = g.get("explicit_lang")
    if lang and "lang" not in values and endpoint != "static":
        values["lang"] = lang


def init_app(app) -> Babel:
    """Install Flask-Babel with whistle's translations."""
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(app.root_path + "/translations")
    babel = Babel(app, locale_selector=select_locale)
    app.url_defaults(keep_language)
    return babel
