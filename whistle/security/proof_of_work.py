"""Proof of work: a small computation the browser does before each submission.

Reports, follow-up messages and survey answers sent by JavaScript carry
``"pow": {"challenge": C, "nonce": N}``. The browser gets C from ``POST /api/v1/pow`` and
searches for a nonce (crypto/FORMAT.md §7)::

    C      = "1." || day || "." || bits || "." || b64u(16 random bytes) || "." || mac
    mac    = b64u(HMAC-SHA256(derive(instance_secret, "whistle/v1/pow"), everything before ".mac"))
    digest = BLAKE2b-256(UTF-8(C || ":" || N))        N: 1 to 16 decimal digits
    valid  <=> digest starts with `bits` zero bits

The day is the server's UTC day; a challenge is good on that day and the next, once: the
spent ones are remembered (by a hash of the challenge, nothing else) in memory or, with
``WHISTLE_RATELIMIT_STORAGE`` on Redis, in one Redis set per challenge day, until a UTC
midnight that follows from the challenge's day alone (``forget_at``): an expiry counted from
the moment of spending, or a key of its own, would keep each submission's time of day. ``bits`` is set when the challenge is issued
(``WHISTLE_POW_BITS``, default 18: a fraction of a second to a second or so in a browser)
and must be at least the current setting when it is spent.

The no-JavaScript forms cannot compute anything: they skip the proof and spend the stricter
``limit_submit_nojs`` budget instead (``nojs_limits``).

Nothing here is a new primitive: BLAKE2b is libsodium's ``crypto_generichash`` in the browser
and ``hashlib.blake2b`` here; the MAC is HMAC-SHA256 under a key derived like every other.
"""

import datetime as dt
import hashlib
import hmac
import math
import re
import secrets
import threading
import time

from flask_babel import lazy_gettext as _l

from crypto.encoding import b64u
from crypto.keys import derive
from whistle.errors import WhistleError
from whistle.extensions import limiter
from whistle.security.stores import redis_client, uses_redis
from whistle.services import services

VERSION = "1"
# A challenge of day D is good until the end of D + 1 (UTC); its spent mark is kept a day
# longer than that, a margin for clocks that differ between workers and Redis.
KEPT_DAYS = 3
_NONCE = re.compile(r"[0-9]{1,16}\Z")
_CHALLENGE = re.compile(r"1\.(\d{4}-\d{2}-\d{2})\.(\d{1,2})\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})\Z")


class ProofOfWorkRequired(WhistleError):
    """The submission's proof of work is missing, wrong, stale or already used."""

    code = "proof_of_work"
    message = _l("The automatic anti-abuse check did not pass. Nothing was stored; please try again.")


def utc_day() -> dt.date:
    """The server's UTC day (challenges are bound to it)."""
    return dt.datetime.now(dt.timezone.utc).date()


def _key(instance_secret: bytes) -> bytes:
    return derive(instance_secret, "whistle/v1/pow")


def _mac(instance_secret: bytes, text: str) -> str:
    return b64u(hmac.new(_key(instance_secret), text.encode("ascii"), hashlib.sha256).digest())


def issue(instance_secret: bytes, bits: int, day: dt.date | None = None) -> str:
    """A new signed challenge for ``bits`` of work, bound to ``day`` (default: today, UTC)."""
    day = day or utc_day()
    text = f"{VERSION}.{day.isoformat()}.{bits}.{b64u(secrets.token_bytes(16))}"
    return f"{text}.{_mac(instance_secret, text)}"


def leading_zero_bits(digest: bytes) -> int:
    """Number of leading zero bits of ``digest``."""
    count = 0
    for byte in digest:
        if byte == 0:
            count += 8
            continue
        return count + 8 - byte.bit_length()
    return count


def digest(challenge: str, nonce: str) -> bytes:
    """BLAKE2b-256 of ``challenge || ":" || nonce``."""
    return hashlib.blake2b(f"{challenge}:{nonce}".encode("ascii"), digest_size=32).digest()


def solve(challenge: str, bits: int | None = None) -> str:
    """Find a nonce for ``challenge`` (the CLI stand-in for static/js/pow.js; tests)."""
    bits = int(challenge.split(".")[2]) if bits is None else bits
    nonce = 0
    while leading_zero_bits(digest(challenge, str(nonce))) < bits:
        nonce += 1
    return str(nonce)


def check(instance_secret: bytes, proof, *, min_bits: int, today: dt.date | None = None) -> str:
    """Verify signature, freshness and work of ``proof`` ({challenge, nonce}); return the
    challenge. Raises ProofOfWorkRequired. (Single use is ``spend``'s job.)"""
    if not isinstance(proof, dict):
        raise ProofOfWorkRequired(detail="pow: missing")
    challenge, nonce = proof.get("challenge"), proof.get("nonce")
    if not isinstance(challenge, str) or not isinstance(nonce, str) or not _NONCE.match(nonce):
        raise ProofOfWorkRequired(detail="pow: challenge and nonce must be strings")
    match = _CHALLENGE.match(challenge)
    if match is None:
        raise ProofOfWorkRequired(detail="pow: malformed challenge")
    signed, mac = challenge.rsplit(".", 1)
    if not hmac.compare_digest(mac.encode("ascii"), _mac(instance_secret, signed).encode("ascii")):
        raise ProofOfWorkRequired(detail="pow: not issued here")
    today = today or utc_day()
    if match.group(1) not in (today.isoformat(), (today - dt.timedelta(days=1)).isoformat()):
        raise ProofOfWorkRequired(detail="pow: expired")
    bits = int(match.group(2))
    if bits < min_bits:
        raise ProofOfWorkRequired(detail="pow: too little work asked")
    if leading_zero_bits(digest(challenge, nonce)) < bits:
        raise ProofOfWorkRequired(detail="pow: wrong nonce")
    return challenge


# --- spent challenges ---------------------------------------------------------------------


class MemorySpent:
    """Spent challenges of one process (the embedded default)."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}  # name -> forget_at (shared by a whole day's challenges)
        self._next_forget = math.inf  # the soonest forget_at held
        self._lock = threading.Lock()

    def add(self, name: str, forget_at: int) -> bool:
        """Remember ``name`` until ``forget_at`` (Unix time); False if it was already there
        (spent before)."""
        now = time.time()
        with self._lock:
            # Swept when something held has expired (a TOTP step is a login's time: not kept
            # past its codes), not at every add: a day's challenges expire together.
            if now >= self._next_forget or len(self._seen) > 50_000:
                self._seen = {k: v for k, v in self._seen.items() if v > now}
                self._next_forget = min(self._seen.values(), default=math.inf)
            expires = self._seen.get(name)
            if expires is not None and expires > now:
                return False
            self._seen[name] = forget_at
            self._next_forget = min(self._next_forget, forget_at)
            return True


class RedisSpent:
    """Spent challenges shared by every worker through Redis: one set per expiry instant
    (for proofs of work, per challenge day), SADD's answer telling a first use from a
    replay, EXPIREAT a UTC midnight. A key of its own per challenge would keep, in its idle
    time (OBJECT IDLETIME, and RDB files under an LRU policy), the second it was spent;
    the shared set keeps at most the latest. ``kind`` names what is spent (the TOTP steps
    of logins use one too)."""

    def __init__(self, url: str, prefix: str = "whistle:", kind: str = "pow-spent") -> None:
        self._redis = redis_client(url)
        self._prefix = prefix
        self._kind = kind

    def add(self, name: str, forget_at: int) -> bool:
        """Remember ``name`` until ``forget_at`` (Unix time); False if it was already there
        (spent before)."""
        key = f"{self._prefix}{self._kind}:{forget_at}"
        added, _ = self._redis.pipeline().sadd(key, name).expireat(key, forget_at).execute()
        return bool(added)


def spent_store_for(url: str, prefix: str = "whistle:", kind: str = "pow-spent"):
    """The store matching the rate-limit storage setting (memory:// or redis://)."""
    return RedisSpent(url, prefix, kind) if uses_redis(url) else MemorySpent()


def forget_at(challenge: str) -> int:
    """When the spent mark of ``challenge`` (checked: its day is well formed) may go, as Unix
    time: UTC midnight ``KEPT_DAYS`` after its day, the same for every challenge of that day."""
    day = dt.date.fromisoformat(challenge.split(".")[1]) + dt.timedelta(days=KEPT_DAYS)
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp())


def spend(challenge: str) -> None:
    """Mark ``challenge`` used; ProofOfWorkRequired if it was used before."""
    name = hashlib.sha256(challenge.encode("ascii")).hexdigest()[:32]
    if not services().pow_spent.add(name, forget_at(challenge)):
        raise ProofOfWorkRequired(detail="pow: already used")


def require(data: dict) -> None:
    """The view helper: the submission's ``pow`` must be valid for this site, fresh and
    unused; it is spent here. Raises ProofOfWorkRequired (a 400)."""
    cfg = services().config
    challenge = check(services().secret, data.get("pow"), min_bits=cfg.pow_bits)
    spend(challenge)


def new_challenge() -> dict:
    """What ``POST /api/v1/pow`` answers."""
    cfg = services().config
    return {"challenge": issue(services().secret, cfg.pow_bits), "bits": cfg.pow_bits, "algorithm": "blake2b-256"}


def _setting(name: str):
    return lambda: getattr(services().config, name)


def nojs_limits(view):
    """The no-JavaScript submission forms (no proof of work possible) share this stricter
    budget per client, on top of their usual limits."""
    return limiter.shared_limit(_setting("limit_submit_nojs"), scope="submit-nojs")(view)


def pow_limits(view):
    """Challenges are cheap to issue; this only keeps a flood of requests in check."""
    return limiter.shared_limit(_setting("limit_pow"), scope="pow")(view)
