"""The one reviewed place that touches client identity, plus the headers that protect it.

The client address is read only by ``client_key`` to feed the rate limiter, and only as an
HMAC under a key that exists in memory for one day. Nothing here logs or stores it.
"""
import datetime as dt
import hashlib
import hmac
import logging
import secrets
import threading

from flask import abort, request
from werkzeug.serving import WSGIRequestHandler

CSP = "; ".join([
    "default-src 'none'",
    "script-src 'self' 'wasm-unsafe-eval'",  # libsodium runs as WebAssembly; no eval, no inline
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
])

SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "no-referrer",  # never tell the next site where the reporter came from
    "Cache-Control": "no-store",  # nothing of a visit stays in the browser or a proxy cache
    "Pragma": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
}


class DailyKey:
    """A random HMAC key per UTC day, held only in this process's memory.

    Yesterday's key is dropped when the day changes, so yesterday's rate-limit keys can no
    longer be linked to an address by anyone, the operator included.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._day: dt.date | None = None
        self._key = b""

    def current(self) -> bytes:
        """Today's key, rotating it if the day changed."""
        today = dt.datetime.now(dt.timezone.utc).date()
        with self._lock:
            if self._day != today:
                self._day, self._key = today, secrets.token_bytes(32)
            return self._key


_daily = DailyKey()


def keyed(value: str) -> str:
    """HMAC of any identifying value under today's key (rate-limit keys, never stored)."""
    return hmac.new(_daily.current(), value.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def client_key() -> str:
    """Rate-limit key: HMAC of the client address under today's key (never the address)."""
    address = (request.remote_addr or "unknown").encode("utf-8")
    return hmac.new(_daily.current(), address, hashlib.sha256).hexdigest()[:32]


def add_security_headers(response):
    """after_request: strict headers on every response; no cookie on reporter pages."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def refuse_cross_site_posts() -> None:
    """before_request: a state-changing request from another site is refused (no cookies to
    carry a CSRF token on reporter pages, so the browser's own Sec-Fetch-Site/Origin tell)."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    site = request.headers.get("Sec-Fetch-Site")
    if site == "cross-site":
        abort(403)
    origin = request.headers.get("Origin")
    if origin and origin != "null" and origin != request.host_url.rstrip("/"):
        abort(403)


class QuietRequestHandler(WSGIRequestHandler):
    """Development-server handler that never writes a request line (they name the client)."""

    def log(self, type, message, *args):  # noqa: A002 - werkzeug's signature
        """Drop every per-request message: access lines and bad-request errors alike."""


def quiet_request_logs() -> None:
    """Keep werkzeug's own logger to errors (its access lines carry the client address)."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
