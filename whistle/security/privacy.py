"""The one reviewed place that touches client identity, plus the headers that protect it.

The client address is read only by ``client_key`` to feed the rate limiter, and only as an
HMAC under a key that lives for one day: in this process's memory, or, when the rate-limit
storage is Redis, in Redis (with the counters it keys) so that every worker uses the same
key. Nothing here logs or stores the address.
"""
import datetime as dt
import hashlib
import hmac
import ipaddress
import logging
import secrets
import threading
import time

from flask import abort, current_app, request
from werkzeug.serving import WSGIRequestHandler

from whistle.security.stores import redis_client, uses_redis
from whistle.services import services

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


def _utc_day() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


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
        today = _utc_day()
        with self._lock:
            if self._day != today:
                self._day, self._key = today, secrets.token_bytes(32)
            return self._key


class RedisDailyKey:
    """Today's HMAC key kept in Redis, so all workers share it (per-worker keys would give
    each client one budget per worker). The first worker of the day sets it (SET NX); it
    expires an hour after its day ends (a margin for clocks that differ), an instant that
    depends on the day alone: a TTL counted from the first request of the day would keep
    that request's time. Each worker caches it and re-reads it now and then, so a restarted
    or flushed Redis is followed within minutes.
    """

    KEPT_AFTER_DAY = dt.timedelta(hours=1)
    RECHECK_SECONDS = 300

    def __init__(self, url: str, prefix: str = "whistle:") -> None:
        self._redis = redis_client(url)
        self._prefix = prefix
        self._lock = threading.Lock()
        self._day: dt.date | None = None
        self._checked = 0.0
        self._key = b""

    def name(self, day: dt.date) -> str:
        """The Redis key holding ``day``'s HMAC key."""
        return f"{self._prefix}ratelimit-key:{day.isoformat()}"

    def _fetch(self, day: dt.date) -> bytes:
        name = self.name(day)
        end = dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc) + dt.timedelta(days=1)
        self._redis.set(name, secrets.token_bytes(32), nx=True, exat=int((end + self.KEPT_AFTER_DAY).timestamp()))
        value = self._redis.get(name)
        if value is None or len(value) != 32:
            raise RuntimeError("the rate-limit key in Redis is missing or malformed")
        return value

    def current(self) -> bytes:
        """Today's key, shared by every worker using this Redis."""
        today = _utc_day()
        with self._lock:
            if self._day != today or time.monotonic() - self._checked > self.RECHECK_SECONDS:
                self._key, self._day, self._checked = self._fetch(today), today, time.monotonic()
            return self._key


def daily_key_for(storage_url: str, prefix: str = "whistle:"):
    """The daily key matching the rate-limit storage: Redis-shared or in-process."""
    if uses_redis(storage_url):
        return RedisDailyKey(storage_url, prefix)
    return DailyKey()


_fallback = DailyKey()  # outside an app (never for requests: create_app installs the app's)


def _daily_key() -> bytes:
    holder = services().daily_key if current_app else _fallback
    return holder.current()


def keyed(value: str) -> str:
    """HMAC of any identifying value under today's key (rate-limit keys, never stored)."""
    return hmac.new(_daily_key(), value.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


# tor names each onion-service circuit by an address in this network
# (HiddenServiceExportCircuitID, deploy/tor/torrc): there one address is one circuit.
TOR_CIRCUITS = ipaddress.ip_network("fc00:dead:beef:4dad::/64")
# What one IPv6 subscriber or server is handed at least: any address in it is theirs to use.
IPV6_CLIENT_PREFIX = 64


def client_of(address: str) -> str:
    """What one client is for the rate limits: an IPv4 address (also when written as an
    IPv4-mapped IPv6 one), a tor circuit, or else the /64 network of an IPv6 address, since
    a host can send each request from another address of its /64."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 4:
        return str(ip)
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    if ip in TOR_CIRCUITS:
        return str(ip)
    return str(ipaddress.ip_network((ip.packed, IPV6_CLIENT_PREFIX), strict=False))


def client_key() -> str:
    """Rate-limit key: HMAC of the client (client_of the address) under today's key, never
    the address."""
    return keyed(client_of(request.remote_addr or "unknown"))


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
