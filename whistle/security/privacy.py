"""The one reviewed place that touches client identity, plus the headers that protect it.

The client address is read only by ``client_key`` to feed the rate limiter, and only as an
HMAC under a key that lives for one day in this process's memory: a random one, or, when
the rate-limit storage is Redis, one every worker derives from the same one-way chain of
day keys (``RatchetKey``), never kept beside the counters. Nothing here logs or stores the
address.
"""

import datetime as dt
import hashlib
import hmac
import ipaddress
import logging
import os
import secrets
import threading
import time

from flask import abort, current_app, request
from werkzeug.serving import WSGIRequestHandler

from whistle.security.stores import uses_redis
from whistle.services import services

CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self' 'wasm-unsafe-eval'",  # libsodium runs as WebAssembly; no eval, no inline
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)

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


class RatchetKey:
    """Today's HMAC key for workers that share their counters (Redis), the same in every
    worker and on every host, yet never in Redis, the database or a backup.

    A chain of day values: the one of day D + 1 is a one-way hash of the one of day D, and
    the day's HMAC key is derived from it. ``path`` holds one link (its day and value). At
    start, and at each UTC midnight, a worker hashes the link forward to today and writes
    today's in its place (stamped with the day's midnight: no request's time is in the
    file's times); it keeps only today's in memory. Every worker, and every host given a
    copy of the file (of any day: a copy catches up), computes the same key without asking
    anyone; someone who seizes the file, the memory or both learns today's key and the days
    to come, never an earlier day's, so an older Redis snapshot stays unlinkable. A counter
    lives no longer than its window (a day at most), so what Redis holds now is today's.
    """

    def __init__(self, path) -> None:
        from pathlib import Path

        self._path = Path(path)
        self._lock = threading.Lock()
        self._day: dt.date | None = None
        self._written: dt.date | None = None  # the day of the link the file holds
        self._link = b""
        self._key = b""
        self._move_on(write=True)

    def _read(self) -> tuple[dt.date, bytes]:
        try:
            day, value = self._path.read_text("ascii").split()
            link = bytes.fromhex(value)
            if len(link) != 32:
                raise ValueError(len(link))
            return dt.date.fromisoformat(day), link
        except FileNotFoundError:
            self._write(_utc_day(), secrets.token_bytes(32), exclusive=True)
            return self._read()
        except (ValueError, UnicodeDecodeError) as exc:
            raise RuntimeError(f"the rate-limit key file {self._path} is malformed") from exc

    def _write(self, day: dt.date, link: bytes, exclusive: bool = False) -> None:
        """Put ``day``'s link in place of the file's, atomically (a worker reading at the
        same time sees the old link or the new, both of the one chain). ``exclusive``: create
        it only if no worker has yet."""
        tmp = self._path.with_name(f".{self._path.name}.{secrets.token_hex(8)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, f"{day.isoformat()} {link.hex()}\n".encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        midnight = dt.datetime.combine(day, dt.time(), dt.timezone.utc).timestamp()
        os.utime(tmp, (midnight, midnight))
        try:
            if exclusive:
                try:
                    os.link(tmp, self._path)
                except FileExistsError:
                    pass
            else:
                os.replace(tmp, self._path)
        finally:
            tmp.unlink(missing_ok=True)

    def _move_on(self, write: bool) -> None:
        """Hash the chain forward to today (and write today's link when ``write``)."""
        today = _utc_day()
        with self._lock:
            if self._day is None:
                day, link = self._read()
                self._written = day
            else:
                day, link = self._day, self._link
            while day < today:
                day, link = day + dt.timedelta(days=1), next_link(link)
            # (Memory may have moved on before the timer came: the file follows then.)
            if write and self._written < day:
                self._write(day, link)
                self._written = day
            # (A file of a later day, from a clock ahead, is used as it is.)
            self._day, self._link, self._key = day, link, ratelimit_key(link)
        if write:
            # Next midnight UTC; a daemon thread, so it never keeps a process alive.
            tomorrow = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(), dt.timezone.utc)
            timer = threading.Timer(tomorrow.timestamp() - time.time() + 1, self._move_on, kwargs={"write": True})
            timer.daemon = True
            timer.start()

    def current(self) -> bytes:
        """Today's key (moved on in memory, should the midnight timer be late)."""
        if self._day != _utc_day():
            self._move_on(write=False)
        return self._key


def next_link(link: bytes) -> bytes:
    """The chain's value of the next day: one way, so no earlier day follows from it."""
    return hashlib.blake2b(link, digest_size=32, person=b"whistle-rl-next").digest()


def ratelimit_key(link: bytes) -> bytes:
    """A day's HMAC key, from its link of the chain."""
    return hashlib.blake2b(link, digest_size=32, person=b"whistle-rl-hmac").digest()


def daily_key_for(storage_url: str, key_file):
    """The daily key matching the rate-limit storage: one chain shared through ``key_file``
    by every worker (Redis) or a random one in this process."""
    if uses_redis(storage_url):
        return RatchetKey(key_file)
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
