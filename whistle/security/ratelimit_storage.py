"""Rate-limit counters, in Redis or in memory, whose expiry says nothing of when a client came.

The limits library's fixed window starts a counter at a client's first request and lets it
expire one window later, so the key's expiry in Redis records that request's time of day
(and the key names a client through an HMAC under the day's key); its memory storage keeps
the same instant in the process. Here a counter
expires at the end of the window on the clock instead: a one-hour limit at the top of the
hour, a one-day limit at midnight UTC, whenever the first request came. Windows are then
aligned fixed windows, the usual meaning of "60 per hour".

Flask-Limiter picks the storage by the URI's scheme: ``create_app`` hands it
``whistle+redis://``, ``whistle+rediss://`` or ``whistle+memory://`` for a ``redis://``,
``rediss://`` (Redis over TLS) or ``memory://`` setting (``aligned_uri``).
"""

import time

from limits.storage import MemoryStorage, RedisStorage

from whistle.security.stores import REDIS_SCHEMES

SCHEME = "whistle+redis"
TLS_SCHEME = "whistle+rediss"
MEMORY_SCHEME = "whistle+memory"

# INCRBY, and on the first increment EXPIREAT the window's end (ARGV[1]).
_INCR_EXPIRE_AT = """
local current = redis.call("incrby", KEYS[1], ARGV[2])
if tonumber(current) == tonumber(ARGV[2]) then
    redis.call("expireat", KEYS[1], ARGV[1])
end
return current
"""


def window_end(seconds: int, now: float | None = None) -> int:
    """The end (Unix time) of the clock-aligned window of ``seconds`` that holds ``now``."""
    now = time.time() if now is None else now
    return (int(now) // seconds + 1) * seconds


def aligned_uri(uri: str) -> str:
    """The storage URI to give Flask-Limiter: every setting (config.py allows memory://,
    redis:// and rediss://) through one of this module's storages."""
    for plain in REDIS_SCHEMES + ("memory://",):
        if uri.startswith(plain):
            return "whistle+" + uri
    raise ValueError(f"no clock-aligned rate-limit storage for {uri.split('://', 1)[0]}://")


class AlignedRedisStorage(RedisStorage):
    """RedisStorage whose counters expire at the end of their window on the clock."""

    STORAGE_SCHEME = [SCHEME, TLS_SCHEME]

    def __init__(self, uri: str, **options):
        super().__init__(uri[len("whistle+") :], **options)

    def initialize_storage(self, uri: str) -> None:
        super().initialize_storage(uri)
        self.lua_incr_expire_at = self.get_connection().register_script(_INCR_EXPIRE_AT)

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        return int(self.lua_incr_expire_at([self.prefixed_key(key)], [window_end(expiry), amount]))


class AlignedMemoryStorage(MemoryStorage):
    """MemoryStorage (one process) whose counters expire at the end of their window on the
    clock."""

    STORAGE_SCHEME = [MEMORY_SCHEME]

    def __init__(self, uri: str = MEMORY_SCHEME + "://", **options):
        super().__init__(uri[len("whistle+") :], **options)

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        # The library sets the first request's instant plus a window; replaced at once by the
        # window's end. At every increment, not only when the count read back is the first:
        # another thread's may have come between, and then no thread would read it back.
        # A counter still held is of the current window (an expired one is dropped first).
        count = super().incr(key, expiry, amount)
        self.expirations[key] = window_end(expiry)
        return count
