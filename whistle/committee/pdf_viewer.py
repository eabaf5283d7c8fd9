"""The frame a member's case page shows a PDF attachment in (static/js/pdf-frame.js).

The page embeds it as <iframe sandbox="allow-scripts"> (no allow-same-origin): the frame
runs in an opaque origin, so it can read nothing of the member's session or page. Its own
strict CSP gives it no network at all (connect-src 'none'): pdf.js, its worker and the PDF
bytes are handed in by the parent with postMessage, so a PDF made to call home reaches
nothing. The shell holds no secret, so it needs no login.
"""

import base64
import hashlib
from functools import lru_cache

from flask import Response, request

from whistle.committee.auth import bp
from whistle.config import PACKAGE_DIR
from whistle.security.privacy import CSP

STATIC_DIR = PACKAGE_DIR / "static"

# The shell's script and style are inline, allowed by their hashes: a file fetched from this
# site would be a cross-origin load for the opaque-origin frame, which the site's
# Cross-Origin-Resource-Policy refuses (and should go on refusing).
FRAME_JS = STATIC_DIR / "js" / "pdf-frame.js"
FRAME_CSS = STATIC_DIR / "css" / "pdf-frame.css"

# The case page may frame the viewer and nothing else (the site's CSP allows no frame).
CASE_PAGE_FRAME_SRC = "frame-src 'self'"

_SHELL = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="referrer" content="no-referrer">
<title>PDF</title><style>{css}</style></head>
<body class="pdf-frame"><div id="pages"></div><script>{js}</script></body></html>
"""


def _digest(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


@lru_cache(maxsize=1)
def _page() -> tuple[str, str]:
    """The shell and its CSP (read once: the files ship with the package)."""
    js, css = FRAME_JS.read_text(encoding="utf-8"), FRAME_CSS.read_text(encoding="utf-8")
    csp = "; ".join(
        [
            "default-src 'none'",
            f"script-src {_digest(js)} blob:",  # the shell's script; pdf.js from a blob the parent handed in
            "connect-src 'none'",
            "img-src blob: data:",
            f"style-src {_digest(css)}",
            "font-src 'none'",
            "form-action 'none'",
            "frame-ancestors 'self'",  # only the case page may frame it
            "base-uri 'none'",
        ]
    )
    return _SHELL.format(css=css, js=js), csp


@bp.after_request
def _case_page_may_frame_the_viewer(response):
    """The case page's CSP is the site's plus frame-src 'self' (the app's own headers are set
    after this, only where a response has none)."""
    if request.endpoint == "committee.case_page" and "Content-Security-Policy" not in response.headers:
        response.headers["Content-Security-Policy"] = f"{CSP}; {CASE_PAGE_FRAME_SRC}"
    return response


@bp.get("/pdf-viewer")
def pdf_viewer():
    """The empty shell; it renders what the parent posts to it."""
    html, csp = _page()
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = csp
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response
