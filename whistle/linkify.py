"""Member-written public text (a survey's introduction) as HTML: every character escaped,
line breaks kept, and web addresses (http, https, including .onion hosts) made into links
that send no referrer, open no window handle, and carry no endorsement.

bleach does the linking on the escaped text, so no markup the member typed survives, and
only text this module's address pattern matched becomes a link.
"""

import re

from bleach.linkifier import Linker
from markupsafe import Markup, escape

REL = "noopener noreferrer nofollow"

# An address starts with http:// or https:// after a non-ASCII-word character (so Chinese
# text right before it does not count as part of it), has a dotted ASCII host and maybe a
# port, and runs over ASCII characters allowed in a URL; anything else (a space, a quote,
# 。，）) ends it, and it never ends on punctuation that ends the sentence. The pattern runs
# on the escaped text: "&" appears only as "&amp;", and "&lt;", "&#34;" (< and ") end it.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_CHAR = r"(?:&amp;|[A-Za-z0-9\-._~:/?\#@!$*+,;=%()\[\]])"
URL = re.compile(
    rf"\bhttps?://{_LABEL}(?:\.{_LABEL})+(?::[0-9]{{1,5}})?(?:[/?\#]{_CHAR}*)?"
    r"(?:(?<=&amp;)|(?<![.,;:!?)\]]))",
    re.ASCII | re.IGNORECASE,
)


def _only_web_links(attrs: dict, new: bool = False) -> dict | None:
    href = attrs.get((None, "href"), "")
    if not re.match(r"https?://", href, re.ASCII | re.IGNORECASE):
        return None  # stays text
    for key in list(attrs):
        if key not in ((None, "href"), "_text"):
            del attrs[key]
    attrs[(None, "rel")] = REL
    return attrs


_linker = Linker(callbacks=[_only_web_links], url_re=URL, parse_email=False)


def linkify_text(text: str | None) -> Markup:
    """``text`` escaped, its line breaks as <br>, its web addresses as links."""
    if not text:
        return Markup("")
    lines = str(text).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return Markup("<br>\n").join(Markup(_linker.linkify(str(escape(line)))) for line in lines)


def init_app(app) -> None:
    app.add_template_filter(linkify_text, "linkify_text")
