"""Serves the browser's libsodium build, and the libraries that strip attachments' metadata,
from node_modules (installed from the lockfile).

The ESM build imports the bare name "libsodium-sumo"; browsers need a path, and an import
map would need an inline script, which the CSP forbids. So the import is rewritten once,
in memory, when the file is first served.
"""

from functools import lru_cache

from flask import Blueprint, Response, abort, current_app

from whistle.config import VENDOR_DIR

bp = Blueprint("vendor", __name__)

FILES = {
    "libsodium-wrappers.mjs": "libsodium-wrappers-sumo/dist/modules-sumo-esm/libsodium-wrappers.mjs",
    "libsodium-sumo.mjs": "libsodium-sumo/dist/modules-sumo-esm/libsodium-sumo.mjs",
    # stripping attachments' metadata before sealing (static/js/scrub.js): single-file ES
    # modules with no imports, and no eval (the CSP allows none)
    "pdf-lib.mjs": "@cantoo/pdf-lib/dist/pdf-lib.esm.min.js",
    "fflate.mjs": "fflate/esm/browser.js",
    # PDF attachments on a member's case page, drawn in a sandboxed frame with no network
    # (committee/pdf_viewer.py); handed to the frame as text, run with eval disabled
    "pdf.mjs": "pdfjs-dist/build/pdf.min.mjs",
    "pdf.worker.mjs": "pdfjs-dist/build/pdf.worker.min.mjs",
}


@lru_cache(maxsize=None)
def _load(name: str) -> bytes | None:
    path = VENDOR_DIR / FILES[name]
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    return (
        text.replace('from"libsodium-sumo"', 'from"./libsodium-sumo.mjs"')
        .replace("from 'libsodium-sumo'", "from './libsodium-sumo.mjs'")
        .replace('from "libsodium-sumo"', 'from "./libsodium-sumo.mjs"')
        .encode("utf-8")
    )


@bp.get("/static/vendor/<name>")
def vendor_file(name):
    """A vendored browser library; 404 if unknown or not installed (`npm ci`)."""
    if name not in FILES:
        abort(404)
    data = _load(name)
    if data is None:
        current_app.logger.error("node_modules is missing %s: run `make install`", name)
        abort(404)
    # Sent like every page (the security headers' no-store): a copy kept in the browser's
    # cache would tell whoever looks at that browser that it visited the service.
    return Response(data, mimetype="text/javascript")
