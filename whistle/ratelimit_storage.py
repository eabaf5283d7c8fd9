"""Rate-limit counters in Redis whose expiry says nothing of when a client came.

The limits library's fixed window starts a counter at a client's first request and lets it
expire one window later, so the key's expiry in Redis records that request's time of day
(and the key names a client through an HMAC whose daily key is in Redis too). Here a counter
expires at the end of the window on the clock instead: a one-hour limit at the top of the
hour, a one-day limit at midnight UTC, whenever the first request came. Windows are then
aligned fixed windows, the usual meaning of "60 per hour".

Flask-Limiter picks the storage by the URI's scheme: ``create_app`` hands it
``whistle+redis://`` for a ``redis://`` setting (``aligned_uri``).
"""
import time

from limits.storage import RedisStorage

SCHEME = "whistle+redis"

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
    """The storage URI to give Flask-Limiter: Redis through this module, memory as it is."""
    return SCHEME + uri[len("redis"):] if uri.startswith("redis://") else uri


class AlignedRedisStorage(RedisStorage):
    """RedisStorage whose counters expire at the end of their window on the clock."""

    STORAGE_SCHEME = [SCHEME]

    def __init__(self, uri: str, **options):
        super().__init__("redis" + uri[len(SCHEME):], **options)

    def initialize_storage(self, uri: str) -> None:
        super().initialize_storage(uri)
        self.lua_incr_expire_at = self.get_connection().register_script(_INCR_EXPIRE_AT)

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        return int(self.lua_incr_expire_at([self.prefixed_key(key)], [window_end(expiry), amount]))
